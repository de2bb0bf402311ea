"""Audit records written the way the kernel and auditd write them, for tests.

``exec_records`` gives the records of one execve (SYSCALL, EXECVE, CWD, PATH, PROCTITLE) with
the kernel's encoding rules: a value holding a blank, a quote, a control or a non-ASCII byte is
hex-encoded, any other is quoted.  ``log_format="ENRICHED"`` appends the names after 0x1d as
auditd 3 and later do.  ``through_default_filters`` keeps the records that the
rsyslog_client role's default noise filters let through to the log server.
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from ansible_collections.whotouched.server_audit.plugins.module_utils._events.windows_events import (
    FACILITY_NAMES,
    SEVERITY_NAMES,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._rsyslog.seed_filters import (
    compact_noise_filters,
)

ARCH_X86_64 = "c000003e"


def encode(text: str | bytes) -> str:
    raw = text.encode("utf-8") if isinstance(text, str) else text
    if any(byte == 0x22 or byte < 0x21 or byte > 0x7E for byte in raw):
        return raw.hex().upper()
    return '"%s"' % raw.decode("ascii")


def exec_records(argv, serial=42, epoch="1700000000.123", exe=None, cwd="/root", auid=1000,
                 uid=0, euid=None, login_name="alice", user_name="root", tty="pts0", ses=3,
                 key="exec", success="yes", pid=4242, ppid=4200, log_format="ENRICHED",
                 node=None):
    exe = exe or ("/usr/bin/" + argv[0].rsplit("/", 1)[-1])
    euid = uid if euid is None else euid
    stamp = "msg=audit(%s:%d):" % (epoch, serial)
    prefix = ("node=%s " % node) if node else ""
    key_text = encode(key) if key else "(null)"
    syscall = ("type=SYSCALL %s arch=%s syscall=59 success=%s exit=0 a0=55d0 a1=55d1 a2=55d2 "
               "a3=8 items=2 ppid=%d pid=%d auid=%d uid=%d gid=0 euid=%d suid=0 fsuid=0 egid=0 "
               "sgid=0 fsgid=0 tty=%s ses=%d comm=%s exe=%s subj=unconfined key=%s"
               % (stamp, ARCH_X86_64, success, ppid, pid, auid, uid, euid, tty, ses,
                  encode(argv[0].rsplit("/", 1)[-1][:15]), encode(exe), key_text))
    if log_format == "ENRICHED":
        syscall += ('\x1dARCH=x86_64 SYSCALL=execve AUID="%s" UID="%s" GID="root" EUID="%s" '
                    'SUID="root" FSUID="root" EGID="root" SGID="root" FSGID="root"'
                    % (login_name, user_name, user_name))
    execve = "type=EXECVE %s argc=%d %s" % (
        stamp, len(argv), " ".join("a%d=%s" % (index, encode(arg)) for index, arg in
                                   enumerate(argv)))
    title = "\x00".join(argv).encode("utf-8")[:128]
    lines = [
        syscall,
        execve,
        "type=CWD %s cwd=%s" % (stamp, encode(cwd)),
        "type=PATH %s item=0 name=%s inode=1 dev=08:01 mode=0100755 ouid=0 ogid=0 rdev=00:00 "
        "nametype=NORMAL cap_fp=0 cap_fi=0 cap_fe=0 cap_fver=0 cap_frootid=0" % (
            stamp, encode(exe)),
        "type=PROCTITLE %s proctitle=%s" % (stamp, encode(title)),
    ]
    return [prefix + line for line in lines]


def file_records(path, syscall=257, nametype="NORMAL", serial=43, epoch="1700000001.000",
                 exe="/usr/bin/vim.basic", key="watch", auid=1000, login_name="alice",
                 cwd="/root", node=None, argv=None, pid=77, ppid=1):
    """The records of one write to ``path``; ``argv`` is the writer's command line (its
    PROCTITLE and comm), ``vim PATH`` unless given."""
    argv = argv or ["vim", path]
    stamp = "msg=audit(%s:%d):" % (epoch, serial)
    prefix = ("node=%s " % node) if node else ""
    directory = path.rsplit("/", 1)[0] or "/"
    lines = [
        "type=SYSCALL %s arch=%s syscall=%d success=yes exit=3 a0=ffffff9c a1=55 a2=241 a3=1b6 "
        "items=2 ppid=%d pid=%d auid=%d uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 "
        "fsgid=0 tty=pts0 ses=3 comm=%s exe=%s subj=unconfined key=%s\x1dARCH=x86_64 "
        "SYSCALL=%s AUID=\"%s\" UID=\"root\" GID=\"root\" EUID=\"root\" SUID=\"root\" "
        "FSUID=\"root\" EGID=\"root\" SGID=\"root\" FSGID=\"root\""
        % (stamp, ARCH_X86_64, syscall, ppid, pid, auid,
           encode(argv[0].rsplit("/", 1)[-1][:15]), encode(exe),
           encode(key) if key else "(null)",
           {257: "openat", 82: "rename", 87: "unlink", 90: "chmod"}.get(syscall, "openat"),
           login_name),
        "type=CWD %s cwd=%s" % (stamp, encode(cwd)),
        "type=PATH %s item=0 name=%s inode=2 dev=08:01 mode=040755 ouid=0 ogid=0 rdev=00:00 "
        "nametype=PARENT cap_fp=0 cap_fi=0 cap_fe=0 cap_fver=0 cap_frootid=0\x1dOUID=\"root\" "
        "OGID=\"root\"" % (stamp, encode(directory + "/")),
        "type=PATH %s item=1 name=%s inode=3 dev=08:01 mode=0100644 ouid=0 ogid=0 rdev=00:00 "
        "nametype=%s cap_fp=0 cap_fi=0 cap_fe=0 cap_fver=0 cap_frootid=0\x1dOUID=\"root\" "
        "OGID=\"root\"" % (stamp, encode(path), nametype),
        "type=PROCTITLE %s proctitle=%s" % (
            stamp, encode("\x00".join(argv).encode("utf-8")[:128])),
    ]
    return [prefix + line for line in lines]


def user_record(record_type, pid, serial, epoch="1700000000.500", auid=1000, ses=3,
                login_name="alice", acct="alice", exe="/usr/bin/sudo", addr="?", terminal="pts/0",
                res="success", op="PAM:session_open"):
    """One user-space record (PAM, sshd, shadow-utils) as auditd 3 writes it, ENRICHED."""
    return ("type=%s msg=audit(%s:%d): pid=%d uid=0 auid=%d ses=%d subj=unconfined "
            "msg='op=%s acct=\"%s\" exe=\"%s\" hostname=%s addr=%s terminal=%s res=%s'"
            "\x1dUID=\"root\" AUID=\"%s\""
            % (record_type, epoch, serial, pid, auid, ses, op, acct, exe,
               addr if addr != "?" else "?", addr, terminal, res, login_name))


def split_stamp_records(epoch="1661850000.646", serial=4486):
    """Two events of one time and serial: systemd's SERVICE_START takes the stamp of the
    sendto that carried it, whose SYSCALL record comes after."""
    stamp = "msg=audit(%s:%d):" % (epoch, serial)
    return [
        "type=SERVICE_START %s pid=1 uid=0 auid=4294967295 ses=4294967295 msg='unit=apt-daily "
        "comm=\"systemd\" exe=\"/usr/lib/systemd/systemd\" hostname=? addr=? terminal=? "
        "res=success'" % stamp,
        "type=SYSCALL %s arch=c000003e syscall=44 success=yes exit=120 a0=2e a1=7fff6 a2=78 "
        "a3=0 items=0 ppid=0 pid=1 auid=4294967295 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 "
        "sgid=0 fsgid=0 tty=(none) ses=4294967295 comm=\"systemd\" "
        "exe=\"/usr/lib/systemd/systemd\" key=(null)" % stamp,
        "type=SOCKADDR %s saddr=100000000000000000000000" % stamp,
        "type=EOE %s " % stamp]


def login_records(pid, serial, epoch="1700000000.100", auid=1000, ses=3, login_name="alice"):
    """The kernel's records of a login uid being set (pam_loginuid): a new session."""
    stamp = "msg=audit(%s:%d):" % (epoch, serial)
    return ["type=LOGIN %s pid=%d uid=0 subj=unconfined old-auid=4294967295 auid=%d tty=(none) "
            "old-ses=4294967295 ses=%d res=1\x1dUID=\"root\" OLD-AUID=\"unset\" AUID=\"%s\""
            % (stamp, pid, auid, ses, login_name), "type=EOE %s " % stamp]


def stored(lines, host="web01", address="192.0.2.10", stamp="Nov 14 22:13:20"):
    """Lines in the log server's runcmdformat, 0x1d escaped as rsyslog does (#035)."""
    return ["%s %s %s %s" % (stamp, host, address, line.replace("\x1d", "#035"))
            for line in lines]


def evtsys(event_id, text, success=True, address="192.0.2.20", computer="DC01",
           stamp="Nov 14 22:13:20", pri="daemon.notice<29>"):
    """A Windows event as the log server stores it (evtsysformat)."""
    return "%s %s %s %s Security-Auditing: %d: %s %s" % (
        stamp, address, pri, computer, event_id,
        "AUDIT_SUCCESS" if success else "AUDIT_FAILURE", text)


def stored_evtsys(payload, address="192.0.2.20"):
    """An evtsys datagram (bytes) as the log server stores it (evtsysformat), as bytes.

    rsyslog reads the RFC 3164 header: the priority, the 15-character time stamp, the host
    and the tag up to its colon; ``%msg%`` keeps the rest with its leading blank.  The host
    the stored line names is the one the datagram gives (FROMHOST, when its address has that
    name)."""
    match = re.match(rb"<(\d{1,3})>(.{15}) (\S+) (\S+:)(.*)\Z", payload, re.S)
    assert match, payload
    pri = int(match.group(1))
    pri_text = "%s.%s<%d>" % (FACILITY_NAMES[pri >> 3], SEVERITY_NAMES[pri & 7], pri)
    return b"%s %s %s %s %s%s" % (match.group(2), address.encode(), pri_text.encode(),
                                  match.group(3), match.group(4), match.group(5))


def dropped(filters, message):
    """Whether rsyslog drops ``message`` by one of ``filters`` (``rsyslog_filter`` mappings):
    ``contains`` as a substring test, ``ereregex`` as a POSIX extended regex searched anywhere
    (the seed's patterns use only alternation and groups, where Python's ``re`` agrees)."""
    for rule in filters:
        if rule["operator"] == "contains" and rule["value"] in message:
            return True
        if rule["operator"] == "ereregex" and re.search(rule["value"], message):
            return True
    return False


# The rsyslog_client role's default rsyslog_client_noise_filters: the compact seed list,
# less the programs of its rsyslog_client_noise_keep_programs.
_CLIENT_DEFAULTS = yaml.safe_load((Path(__file__).resolve().parents[2] / "roles" / "rsyslog_client"
                                   / "defaults" / "main.yml").read_text(encoding="utf-8"))
assert "compact=true" in _CLIENT_DEFAULTS["rsyslog_client_noise_filters"]
DEFAULT_CLIENT_FILTERS = compact_noise_filters(
    keep=_CLIENT_DEFAULTS["rsyslog_client_noise_keep_programs"])


def through_default_filters(lines):
    """The records of ``lines`` that reach the log server through the client's default
    noise filters: no PATH record, no record naming a routine program (ls, grep, sh...)."""
    return [line for line in lines if not dropped(DEFAULT_CLIENT_FILTERS, line)]
