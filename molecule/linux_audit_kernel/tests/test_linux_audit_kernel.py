"""The linux_audit role in the real kernel: rules loaded, commands and writes recorded."""

import re
import sys
import time
import uuid
from pathlib import Path

import pytest

from verify_support import as_logged_in_user, audit_major_version, rules_missing_from_kernel

RULES_FILE = "/etc/audit/rules.d/50-whotouched.rules"
AUDIT_LOG = "/var/log/audit/audit.log"
ALICE_UID = 1001


def records_of_event(host, pattern, timeout=15):
    """All audit.log records of the first event with a record matching ``pattern``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        log = host.file(AUDIT_LOG).content_string if host.file(AUDIT_LOG).exists else ""
        match = re.search(pattern, log)
        if match:
            line = log[log.rfind("\n", 0, match.start()) + 1:]
            serial = re.search(r"msg=audit\(([0-9.]+:[0-9]+)\)", line).group(1)
            return [record for record in log.splitlines() if f"msg=audit({serial})" in record]
        time.sleep(0.5)
    pytest.fail(f"no audit record matching {pattern!r} in {AUDIT_LOG} after {timeout} s")


def test_auditd_runs(host):
    assert host.run("auditctl -s").stdout.split("pid ")[1].split()[0] != "0"


def test_kernel_holds_every_rule_of_the_file(host):
    listing = host.run("auditctl -l")
    assert listing.rc == 0
    # auditctl exits 0 with "No rules": assert on content.
    assert "-S execve" in listing.stdout or "execve" in listing.stdout, listing.stdout
    missing = rules_missing_from_kernel(host.file(RULES_FILE).content_string, listing.stdout)
    assert missing == []


def test_command_of_a_login_user_is_recorded_with_arguments_key_and_auid(host):
    marker = f"marker-{uuid.uuid4().hex}"
    # /bin/echo: a path on merged-/usr systems and on older ones alike.
    assert host.run(as_logged_in_user(f"/bin/echo {marker}", uid=ALICE_UID)).rc == 0
    records = records_of_event(host, rf'type=EXECVE .*a1="{marker}"')
    execve = next(r for r in records if r.startswith("type=EXECVE"))
    assert 'a0="/bin/echo"' in execve
    syscall = next(r for r in records if r.startswith("type=SYSCALL"))
    assert f" auid={ALICE_UID} " in syscall
    assert f" uid={ALICE_UID} " in syscall
    assert 'key="exec"' in syscall


def test_write_to_a_watched_file_is_recorded_with_its_key(host):
    # chmod to the same mode is an attribute change ("a") without altering the file.
    assert host.run("chmod 0644 /etc/passwd").rc == 0
    records = records_of_event(host, r'type=SYSCALL .*comm="chmod".*key="passwd"')
    assert any('name="/etc/passwd"' in r for r in records if r.startswith("type=PATH"))


# Listens on /dev/log (the container has no syslog daemon), runs a command, and prints the
# first syslog datagram that holds the command's marker.
SYSLOG_LISTENER = """
import socket, subprocess, sys, time
marker, command = sys.argv[1], sys.argv[2]
listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
listener.bind("/dev/log")
try:
    listener.settimeout(1)
    subprocess.run(["sh", "-c", command], check=True)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            datagram = listener.recv(65536).decode(errors="replace")
        except socket.timeout:
            continue
        if marker in datagram and "type=EXECVE" in datagram:
            print("datagram:", datagram.replace("\\n", " "))
            sys.exit(0)
    sys.exit("no syslog datagram with " + marker)
finally:
    listener.close()
    import os
    os.unlink("/dev/log")
"""


def test_syslog_plugin_hands_events_to_syslog_with_the_facility(host):
    # audit 2.x: audispd's builtin syslog output; 3.x and later: the audisp-syslog plugin.
    plugin_process = "audispd" if audit_major_version(host) < 3 else "audisp-syslog"
    assert host.run(f"pgrep -x {plugin_process}").rc == 0
    assert not host.file("/dev/log").exists, "a syslog socket is already there"
    marker = f"marker-{uuid.uuid4().hex}"
    command = as_logged_in_user(f"/bin/echo {marker}", uid=ALICE_UID)
    result = host.run("python3 -c %s %s %s", SYSLOG_LISTENER, marker, command)
    assert result.rc == 0, result.stderr
    datagram = result.stdout.rsplit("datagram: ", 1)[1]
    # LOG_LOCAL6 (22) * 8 + LOG_INFO (6): the facility the rsyslog_client role selects on.
    assert datagram.startswith("<182>"), datagram
    assert f'"{marker}"' in datagram


def test_a_changed_daemon_setting_reaches_the_running_auditd(host):
    # side_effect.yml switched log_format (RAW <-> ENRICHED) after noting the log's size.
    before = int(host.file("/run/audit-log-before-reload").content_string)
    log_format = host.file("/run/audit-log-format-after").content_string.strip()
    audit_2 = audit_major_version(host) < 3
    if audit_2:
        # audit 2.x restarts: the new daemon's start record names the format it read.
        reloaded = re.compile(rb"type=DAEMON_START .* format=%s " % log_format.lower().encode())
    else:
        # audit 3.x and later reconfigure on SIGHUP.
        reloaded = re.compile(rb"op=reconfigure state=changed")
    deadline = time.monotonic() + 15
    while not reloaded.search(host.file(AUDIT_LOG).content[before:]):
        assert time.monotonic() < deadline, f"auditd did not log {reloaded.pattern!r} after the change"
        time.sleep(0.5)
    if audit_2:
        return  # audit 2.x writes its enriched names without a separator of their own
    marker = f"marker-{uuid.uuid4().hex}"
    assert host.run(as_logged_in_user(f"/bin/echo {marker}", uid=ALICE_UID)).rc == 0
    records = records_of_event(host, rf'type=EXECVE .*a1="{marker}"')
    syscall = next(r for r in records if r.startswith("type=SYSCALL"))
    # ENRICHED appends the names (AUID="alice") after a 0x1d separator; RAW does not.
    assert ("\x1d" in syscall) == (log_format == "ENRICHED"), syscall


# Asks the kernel to unload a module that does not exist, under a process name of its own.
# Without CAP_SYS_MODULE the call fails: nothing is unloaded, and the attempt is recorded.
DELETE_MODULE = """
import ctypes, platform, sys
libc = ctypes.CDLL(None, use_errno=True)
libc.prctl(15, sys.argv[1].encode())  # PR_SET_NAME: the comm= of the records
number = {"x86_64": 176, "aarch64": 106}[platform.machine()]
sys.exit(0 if libc.syscall(number, b"whotouched_no_such_module", 0) == -1 else 1)
"""


def test_a_module_unload_attempt_is_recorded_with_the_modules_key(host):
    name = f"wt-{uuid.uuid4().hex[:8]}"
    result = host.run("python3 -c %s %s", DELETE_MODULE, name)
    assert result.rc == 0, result.stderr
    records = records_of_event(host, rf'type=SYSCALL .*comm="{name}".*key="modules"')
    syscall = next(r for r in records if r.startswith("type=SYSCALL"))
    assert " success=no " in syscall


@pytest.mark.parametrize("directory, key", [
    ("/etc/profile.d", "shell-profile"),
    ("/etc/ld.so.conf.d", "ld-conf"),
    ("/etc/cron.daily", "crontab"),
    # Units live under /usr/lib (merged /usr) or /lib (Ubuntu 20.04): the role watches both.
    (("/usr/lib/systemd/system", "/lib/systemd/system"), "systemd-unit"),
])
def test_a_file_created_in_a_persistence_directory_is_recorded_with_its_key(host, directory, key):
    if isinstance(directory, tuple):
        directory = next(path for path in directory if host.file(path).is_directory)
    assert host.file(directory).is_directory
    probe = f"{directory}/whotouched-probe-{uuid.uuid4().hex[:8]}"
    assert host.run(f"touch {probe} && rm -f {probe}").rc == 0
    records = records_of_event(host, rf'type=PATH .*name="{re.escape(probe)}"')
    syscall = next(r for r in records if r.startswith("type=SYSCALL"))
    assert f'key="{key}"' in syscall, syscall


def test_the_loss_reporter_writes_its_record_through_the_kernel(host):
    # No systemd in this container: the reporter runs once by hand, as its unit would run it.
    state = "/run/whotouched-audit-health-molecule.json"
    host.run_expect([0], "rm -f %s && python3 /usr/local/sbin/whotouched-audit-health --once --state %s"
                    % (state, state))
    lost = int(host.run_expect([0], "auditctl -s").stdout.split("lost ")[1].split()[0])
    records = records_of_event(host, r"op=whotouched-audit-health lost=\d+ lost_total=%d " % lost)
    (record,) = [line for line in records if "op=whotouched-audit-health" in line]
    assert record.startswith("type=USER "), record
    assert re.search(r" since=[0-9]+\.[0-9]{3} backlog=\d+ backlog_limit=8192 ", record), record


# The log as it stands at the end, whole lines only (auditd may be writing its last one).
SNAPSHOT = "/run/whotouched-audit-snapshot.log"


def test_the_log_reads_as_this_hosts_ausearch_reads_it(host, tmp_path, capsys):
    """Every record this audit version and the real kernel wrote here (both log formats, see
    side_effect.yml), read by the host's own ausearch -i and by the event library, compared
    event by event (tests/support/ausearch.py)."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
    from tests.support.collection_path import make_collection_importable
    make_collection_importable()
    from tests.support.ausearch import (
        compare_file, load_allowed_differences, unexplained_in_any_log, users_of_passwd)

    host.run_expect([0], "cp %s %s && if [ -n \"$(tail -c1 %s)\" ]; then sed -i '$d' %s; fi"
                    % (AUDIT_LOG, SNAPSHOT, SNAPSHOT, SNAPSHOT))
    version = host.run_expect([0], "ausearch -v").stdout.split()[-1]
    shown = host.run_expect([0, 1], "TZ=UTC LC_ALL=C ausearch -i --escape shell -if %s", SNAPSHOT)
    log = tmp_path / "audit.log"
    log.write_bytes(host.file(SNAPSHOT).content)
    comparison = compare_file(
        log, "audit.log of audit %s" % version,
        ausearch_text=shown.stdout_bytes.decode("utf-8", "backslashreplace"),
        users=users_of_passwd(host.file("/etc/passwd").content_string))
    with capsys.disabled():
        print("\n  " + comparison.line())
    assert comparison.ausearch_events >= 10, comparison.line()
    assert unexplained_in_any_log(comparison, load_allowed_differences()) == []
