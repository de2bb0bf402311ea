"""Records other systems write, read as ausearch -i reads them.

Each case is a record of the shape that another project's test data holds (RHEL 5's PAM,
RHEL 7's kernels, Ubuntu 17.10's keys, records written out of order, laurel's odd accounts),
written here with values of our own, and what the event says of it: what ausearch shows.
The logs themselves are compared with ausearch in ``test_ausearch_differential.py``.
"""

from __future__ import annotations

import pytest

from ansible_collections.whotouched.server_audit.plugins.module_utils._events.assembler import (
    EventAssembler,
    iter_events,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._events.report import (
    EventFilter,
    build_report,
    format_table,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._events.syscalls import (
    syscall_name,
)
from tests.support.audit_records import exec_records, split_stamp_records, stored

RHEL5_PAM = ("type=USER_START msg=audit(1170030000.100:310): user pid=4100 uid=0 auid=0 "
             "subj=system_u:system_r:crond_t:s0 msg='PAM: session open acct=root : "
             "exe=\"/usr/sbin/crond\" (hostname=?, addr=?, terminal=cron res=success)'")

CASES = {
    # D1: old PAM records end "res=success)"
    "old PAM message in brackets": (
        [RHEL5_PAM],
        {"success": True, "account": "root", "exe": "/usr/sbin/crond", "tty": "cron",
         "remote_address": None, "kind": "user"}),
    # D2: a field of the message does not stand for the record's own
    "message naming another uid": (
        ["type=USER_ACCT msg=audit(1500000000.100:70): pid=2948 uid=0 auid=1000 ses=14 "
         "msg='pam_tally2 uid=1004 reset=0 exe=\"/sbin/pam_tally2\" hostname=? addr=? "
         "terminal=pts/1 res=success'"],
        {"uid": 0, "user": "0", "auid": 1000, "login_user": "1000", "session": 14,
         "exe": "/sbin/pam_tally2", "tty": "pts/1", "success": True}),
    # D3: a SECCOMP record alone is a whole event
    "seccomp kill alone": (
        ["type=SECCOMP msg=audit(1433780000.186:1200): auid=20003 uid=22 gid=22 ses=21 "
         "pid=1117 comm=\"sshd\" exe=\"/usr/sbin/sshd\" sig=31 arch=40000003 syscall=132 "
         "compat=0 ip=0xb7670aac code=0x0"],
        {"auid": 20003, "uid": 22, "session": 21, "exe": "/usr/sbin/sshd",
         "syscall": "getpgid", "record_types": ["SECCOMP"], "complete": True}),
    # D3: and so is a NETFILTER_CFG record alone (no task: nobody to name)
    "netfilter table alone": (
        ["type=NETFILTER_CFG msg=audit(1481070000.827:17): table=filter family=2 entries=0"],
        {"kind": "syscall", "record_types": ["NETFILTER_CFG"], "complete": True}),
    # D4: a single quote inside a quoted account name
    "account holding quotes": (
        ["type=USER_AUTH msg=audit(1670330000.860:1610): pid=5500 uid=0 auid=4294967295 "
         "ses=4294967295 msg='op=PAM:authentication grantors=? "
         "acct=\"system-property('xsl:vendor')/>\" exe=\"/usr/bin/python3.8\" hostname=? "
         "addr=? terminal=? res=success'\x1dUID=\"root\" AUID=\"unset\""],
        {"account": "system-property('xsl:vendor')/>", "success": True,
         "exe": "/usr/bin/python3.8", "login_user": "unset", "user": "root", "tty": None}),
    # D6: auditd 2.x wrote no colon after the stamp
    "daemon record without a colon": (
        ["type=DAEMON_CONFIG msg=audit(1490230000.477:34) config changed, auid=0 pid=1512 "
         "subj=system_u:system_r:unconfined_service_t:s0 res=success"],
        {"auid": 0, "pid": 1512, "success": True, "record_types": ["DAEMON_CONFIG"]}),
    # D7: a PROCTITLE record written before its SYSCALL
    "process title before its system call": (
        ["type=PROCTITLE msg=audit(1678280000.683:225): proctitle=636174002F6574632F686F737473",
         "type=PATH msg=audit(1678280000.683:225): item=0 name=\"/etc/hosts\" inode=15 "
         "dev=fd:00 mode=0100644 ouid=0 ogid=0 rdev=00:00 nametype=NORMAL",
         "type=SYSCALL msg=audit(1678280000.683:225): arch=c000003e syscall=257 success=yes "
         "exit=3 a0=ffffff9c a1=7ffd0 a2=0 a3=0 items=1 ppid=816 pid=818 auid=502 uid=502 "
         "gid=502 euid=502 suid=502 fsuid=502 egid=502 sgid=502 fsgid=502 tty=pts3 ses=4 "
         "comm=\"cat\" exe=\"/usr/bin/cat\" key=(null)",
         "type=EOE msg=audit(1678280000.683:225): "],
        {"argv": ["cat", "/etc/hosts"], "exe": "/usr/bin/cat", "auid": 502,
         "path": "/etc/hosts", "operation": "read", "syscall": "openat", "complete": True,
         "record_types": ["PROCTITLE", "PATH", "SYSCALL"]}),
    # D8: a hex key with a stray closing quote (two keys joined by 0x01)
    "hex key with a stray quote": (
        ["type=SYSCALL msg=audit(1515610000.392:1060): arch=c000003e syscall=59 success=yes "
         "exit=0 a0=1 a1=2 a2=3 a3=1 items=2 ppid=2785 pid=2788 auid=4294967295 uid=0 gid=0 "
         "euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=(none) ses=4294967295 "
         "comm=\"grep\" exe=\"/bin/grep\" key=617564697401746F6F6C73\""],
        {"keys": ["audit", "tools"], "key": "audit", "syscall": "execve"}),
    # D9: RHEL 7's kernels write objtype= in PATH records
    "objtype in path records": (
        ["type=SYSCALL msg=audit(1492800000.050:2029): arch=c000003e syscall=133 success=yes "
         "exit=0 a0=1 a1=1180 a2=0 a3=2 items=2 ppid=1 pid=326 auid=4294967295 uid=0 gid=0 "
         "euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=(none) ses=4294967295 "
         "comm=\"systemd-logind\" exe=\"/usr/lib/systemd/systemd-logind\" "
         "subj=system_u:system_r:systemd_logind_t:s0 key=\"specialfiles\"",
         "type=CWD msg=audit(1492800000.050:2029):  cwd=\"/\"",
         "type=PATH msg=audit(1492800000.050:2029): item=0 name=\"/run/systemd/sessions/\" "
         "inode=11378 dev=00:13 mode=040755 ouid=0 ogid=0 rdev=00:00 "
         "obj=system_u:object_r:systemd_logind_sessions_t:s0 objtype=PARENT",
         "type=PATH msg=audit(1492800000.050:2029): item=1 name=\"/run/systemd/sessions/4.ref\" "
         "inode=98040 dev=00:13 mode=010600 ouid=0 ogid=0 rdev=00:00 "
         "obj=system_u:object_r:systemd_logind_sessions_t:s0 objtype=CREATE",
         "type=EOE msg=audit(1492800000.050:2029): "],
        {"path": "/run/systemd/sessions/4.ref", "operation": "create", "syscall": "mknod",
         "kind": "file", "paths": [
             {"name": "/run/systemd/sessions/", "path": "/run/systemd/sessions/",
              "nametype": "PARENT"},
             {"name": "/run/systemd/sessions/4.ref", "path": "/run/systemd/sessions/4.ref",
              "nametype": "CREATE"}]}),
    # D10: open(2) with O_RDONLY|O_NONBLOCK|O_DIRECTORY reads
    "read-only open": (
        ["type=SYSCALL msg=audit(1170020000.977:290): arch=c000003e syscall=2 success=no "
         "exit=-13 a0=5555665d91b0 a1=10800 a2=5555665d91b8 a3=0 items=1 ppid=2013 pid=1301 "
         "auid=4294967295 uid=890 gid=890 euid=890 suid=890 fsuid=890 egid=890 sgid=890 "
         "fsgid=890 tty=(none) comm=\"pickup\" exe=\"/usr/libexec/postfix/pickup\" key=(null)",
         "type=CWD msg=audit(1170020000.977:290):  cwd=\"/var/spool/postfix\"",
         "type=PATH msg=audit(1170020000.977:290): item=0 name=\"maildrop\" inode=149 "
         "dev=03:07 mode=040730 ouid=890 ogid=891 rdev=00:00"],
        {"operation": "read", "syscall": "open", "path": "/var/spool/postfix/maildrop",
         "success": False}),
    # syscall names on RAW records: x86_64's 101, aarch64's 64, ppc64's 327
    "system call names of other architectures": (
        ["type=SYSCALL msg=audit(1739210000.007:2214): arch=c00000b7 syscall=64 success=yes "
         "exit=1 a0=7 a1=1 a2=1 a3=1 items=0 ppid=519 pid=7205 auid=0 uid=0 gid=0 euid=0 "
         "suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=(none) ses=325 comm=\"cron\" "
         "exe=\"/usr/sbin/cron\" key=(null)"],
        {"syscall": "write"}),
    # TTY: the keystrokes typed, decoded (pam_tty_audit)
    "keystrokes of the kernel": (
        ["type=TTY msg=audit(1491920000.550:1065): tty pid=2793 uid=1000 auid=1000 ses=7 "
         "major=136 minor=0 comm=\"bash\" data=6C73202D6C0D7375646F20737502"],
        {"argv": ["ls -l\rsudo su\x02"], "auid": 1000, "session": 7, "kind": "user",
         "complete": True}),
    "keystrokes of a shell": (
        ["type=USER_TTY msg=audit(1491920000.974:1066): pid=2820 uid=0 auid=1000 ses=7 "
         "data=7375202D20626F62"],
        {"argv": ["su - bob"], "auid": 1000, "uid": 0}),
    # one form of terminal
    "terminal of the kernel": (
        exec_records(["id"], tty="pts1"), {"tty": "pts/1"}),
    "terminal of PAM": (
        ["type=USER_LOGIN msg=audit(1492810000.778:1265): pid=11396 uid=0 auid=1001 ses=36 "
         "msg='op=login id=1001 exe=\"/usr/sbin/sshd\" hostname=192.0.2.7 addr=192.0.2.7 "
         "terminal=/dev/pts/1 res=success'"],
        {"tty": "pts/1", "remote_address": "192.0.2.7", "success": True}),
    "no terminal, quoted": (
        exec_records(["java"], tty='"(none)"'), {"tty": None}),
    "serial console": (
        exec_records(["login"], tty="ttyS0"), {"tty": "ttyS0"}),
}


@pytest.mark.parametrize("name", list(CASES))
def test_records_of_other_systems(name):
    lines, expected = CASES[name]
    assembler = EventAssembler()
    found = list(iter_events(lines, assembler))
    assert len(found) == 1, (found, assembler.counts)
    event = found[0]
    assert {key: event[key] for key in expected} == expected
    assert (assembler.counts["malformed"], assembler.counts["fragments"]) == (0, 0)


def test_old_pam_successes_are_no_failures_in_the_table():
    assembler = EventAssembler()
    line = format_table(list(iter_events([RHEL5_PAM], assembler)))[1]
    assert "[failed]" not in line and "USER_START /usr/sbin/crond" in line


# D5: records that stand alone, outside any system call, written by a kernel that also writes
# PROCTITLE records (its first event has one): each is whole without PROCTITLE or EOE.
STANDALONE_KERNEL_RECORDS = [
    "type=CONFIG_CHANGE msg=audit(1700000010.000:50): auid=1000 ses=3 op=\"add_rule\" "
    "key=(null) list=4 res=1",
    "type=ANOM_ABEND msg=audit(1700000011.000:51): auid=4294967295 uid=48 gid=48 "
    "ses=4294967295 pid=3124 comm=\"httpd\" reason=\"memory violation\" sig=11",
    "type=TTY msg=audit(1700000012.000:52): tty pid=2793 uid=1000 auid=1000 ses=7 major=136 "
    "minor=0 comm=\"bash\" data=6964",
    "type=MAC_POLICY_LOAD msg=audit(1700000013.000:53): policy loaded auid=4294967295 "
    "ses=4294967295\x1dAUID=\"unset\"",
    "type=BPF msg=audit(1700000014.000:54): prog-id=75 op=LOAD",
    "type=LOGIN msg=audit(1700000015.000:55): pid=900 uid=0 old-auid=4294967295 auid=1000 "
    "tty=(none) old-ses=4294967295 ses=8 res=1",
]


def test_records_outside_a_system_call_are_whole_without_an_end():
    assembler = EventAssembler()
    found = list(iter_events(exec_records(["id"], serial=1) + STANDALONE_KERNEL_RECORDS,
                             assembler))
    assert [event["record_types"] for event in found] == [
        ["SYSCALL", "EXECVE", "CWD", "PATH", "PROCTITLE"]] + [
        [line.split()[0][5:]] for line in STANDALONE_KERNEL_RECORDS]
    assert all(event["complete"] for event in found)
    assert (assembler.counts["incomplete"], assembler.counts["events"]) == (0, 7)


def test_a_user_record_written_during_a_system_call_is_no_copy_of_it():
    lines = split_stamp_records()
    assembler = EventAssembler()
    found = list(iter_events(lines + lines, assembler))
    assert [(event["record_types"], event["syscall"]) for event in found] == [
        (["SERVICE_START"], None), (["SYSCALL", "SOCKADDR"], "sendto")]
    assert assembler.counts["duplicates"] == 2  # the second copy of each


@pytest.mark.parametrize("arch, number, name", [
    ("c000003e", 101, "ptrace"), ("c000003e", 59, "execve"), ("40000003", 132, "getpgid"),
    ("c00000b7", 64, "write"), ("80000015", 327, "bind"), ("c0000015", 327, "bind"),
    ("40000028", 11, "execve"), ("80000016", 11, "execve"), ("c000003e", 99999, None),
    ("deadbeef", 1, None),
])
def test_system_call_names_of_each_architecture(arch, number, name):
    assert syscall_name(arch, number) == name


def _report_users(tmp_path, name, lines):
    log = tmp_path / name
    log.write_text("\n".join(lines) + "\n", encoding="utf-8")
    events, _counts = build_report([str(log)], [], EventFilter(), local_names={1000: "cloudsdk",
                                                                               0: "root"})
    return [(event["login_user"], event["user"]) for event in events]


def test_uids_are_named_from_this_machines_users_only_in_its_own_log(tmp_path):
    # D11: a sender's uid 1000 is not the log server's user of uid 1000
    raw = exec_records(["id"], log_format="RAW")
    assert _report_users(tmp_path, "local.log", raw) == [("cloudsdk", "root")]
    assert _report_users(tmp_path, "stored.log", stored(raw)) == [("1000", "0")]
    assert _report_users(tmp_path, "node.log", exec_records(["id"], log_format="RAW",
                                                            node="web01")) == [("1000", "0")]
