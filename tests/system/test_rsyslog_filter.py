"""rsyslog_filter against the real rsyslogd: validation, and what a running rsyslogd drops.

Each test works in its own temporary directory with a private main configuration; the
host's /etc/rsyslog.conf is never read or written.  The behavioural test starts its own
rsyslogd (UDP input and a TCP "log server" input on free loopback ports), sends audit
records as the audit syslog plugin emits them, and reads what was kept and forwarded.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from ansible_collections.whotouched.server_audit.plugins.module_utils._rsyslog.seed_filters import (
    seed_filters,
)
from tests.support.corpus import corpus_file
from tests.support.playbook import assert_missing_directory_handled, run_module
from tests.support.ports import free_port

RSYSLOGD = shutil.which("rsyslogd") or ("/usr/sbin/rsyslogd"
                                        if os.path.exists("/usr/sbin/rsyslogd") else None)

pytestmark = [
    pytest.mark.needs_root,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root (runs rsyslogd)"),
    pytest.mark.skipif(RSYSLOGD is None, reason="rsyslogd is not installed (apt-get install "
                                                "rsyslog)"),
]


def _main_config(work: Path, body: str = "") -> Path:
    """A private main configuration that includes work/rsyslog.d/*.conf like Debian's."""
    (work / "rsyslog.d").mkdir(exist_ok=True)
    (work / "spool").mkdir(exist_ok=True)
    main = work / "rsyslog.conf"
    main.write_text(
        'global(workDirectory="%s")\n%s'
        "$IncludeConfig %s/rsyslog.d/*.conf\n"
        '*.* action(type="omfile" file="%s/kept.log")\n' % (work / "spool", body, work, work),
        encoding="utf-8")
    return main


def _run(work: Path, filters, **extra):
    args = {"path": str(work / "rsyslog.d" / "10-audit-filter.conf"),
            "main_config": str(work / "rsyslog.conf"), "filters": filters}
    args.update(extra)
    return run_module("rsyslog_filter", args)


# ------------------------------------------------------------------------ validation

def test_a_discard_only_drop_in_loads_in_the_full_config(tmp_path):
    _main_config(tmp_path)
    result = _run(tmp_path, [':msg, contains, "type=PATH" stop'])
    assert not result.get("failed"), result
    assert result["changed"] is True
    drop_in = tmp_path / "rsyslog.d" / "10-audit-filter.conf"
    assert drop_in.read_text() == ':msg, contains, "type=PATH" stop\n'
    # the naive check the module avoids: the fragment alone has "no active actions"
    alone = subprocess.run([RSYSLOGD, "-N1", "-f", str(drop_in)], capture_output=True,
                           text=True, check=False)
    assert alone.returncode != 0 and "no active actions" in alone.stderr
    again = _run(tmp_path, [':msg, contains, "type=PATH" ~'])
    assert again["changed"] is False and not again.get("failed")


@pytest.mark.parametrize("broken, says", [
    ('*.* action(type="omfwd" target="127.0.0.1" nosuchparameter="1")', "nosuchparameter"),
    ('if $msg contains then stop', "syntax error"),
    (':msg, contains, "x" action(type="omnosuchmodule")', "omnosuchmodule"),
])
def test_validation_refuses_a_broken_rule_and_leaves_the_file_as_it_was(tmp_path, broken, says):
    _main_config(tmp_path)
    drop_in = tmp_path / "rsyslog.d" / "10-audit-filter.conf"
    original = b"# owned by someone else\r\n:msg, contains, \"keep\" stop\n"
    drop_in.write_bytes(original)
    stat_before = drop_in.stat()
    result = _run(tmp_path, [broken])
    assert result.get("failed") is True
    assert "rsyslogd refused" in result["msg"] and says in result["msg"]
    assert says in result["validator_output"]
    assert str(drop_in) in result["msg"]
    assert drop_in.read_bytes() == original
    assert drop_in.stat().st_ino == stat_before.st_ino
    assert sorted(p.name for p in drop_in.parent.iterdir()) == ["10-audit-filter.conf"]


@pytest.mark.parametrize("main", ["debian12-rsyslog.conf", "rhel-rsyslog.conf"])
def test_filters_written_into_the_main_configuration_itself_are_validated_as_it(tmp_path, main):
    """path and main_config the same file (the seed's way): the candidate is checked in the
    main configuration's place, not beside the file it replaces (each module loaded twice)."""
    corpus = corpus_file(main)
    config = tmp_path / "rsyslog.conf"
    original = corpus.read_bytes()
    config.write_bytes(original)
    args = {"path": str(config), "main_config": str(config)}
    result = run_module("rsyslog_filter", dict(args, filters=[':msg, contains, "noise" stop']))
    assert not result.get("failed") and result["changed"] is True, result
    assert config.read_bytes() == original + b':msg, contains, "noise" stop\n'
    refused = run_module("rsyslog_filter", dict(args, filters=[
        '*.* action(type="omfwd" target="127.0.0.1" nosuchparameter="1")']), diff=True)
    assert refused.get("failed") is True and "nosuchparameter" in refused["msg"], refused
    assert "diff" not in refused  # nothing was changed
    assert config.read_bytes() == original + b':msg, contains, "noise" stop\n'


UNHONOURED = ["*.* @@127.0.0.1:notaport", ':msg, regex, "[unclosed" stop',
              ':msg, ereregex, "(unclosed" stop', ':msg, ereregex, "a{2,1}" stop',
              ':msg, ereregex, "[[:nosuch:]]" stop', ':msg, ereregex, "(?=abc)" stop',
              ':msg, ereregex, "*abc" stop', ':msg, regex, "a\\{2,1\\}" stop']


def test_rsyslogd_accepts_what_it_cannot_honour(tmp_path):
    """Why the module checks ports and regexes itself: rsyslogd -N1 lets these through."""
    main = _main_config(tmp_path)
    (tmp_path / "rsyslog.d" / "10-audit-filter.conf").write_text("\n".join(UNHONOURED) + "\n")
    checked = subprocess.run([RSYSLOGD, "-N1", "-f", str(main)], capture_output=True,
                             text=True, check=False)
    assert checked.returncode == 0, checked.stderr


def test_forwards_that_once_shared_a_queue_file_pass_rsyslogd(tmp_path):
    """One filter to one host over tcp and udp, and an IPv6 address written two ways: their
    queue file names collided ("file name prefix ... already used")."""
    _main_config(tmp_path)
    forward = {"operator": "contains", "value": "type=EXECVE", "action": "forward",
               "target": "127.0.0.1"}
    result = _run(tmp_path, [dict(forward, protocol="tcp"), dict(forward, protocol="udp"),
                             dict(forward, target="[::1]"), dict(forward, target="::1")])
    assert not result.get("failed"), result.get("msg")
    assert len(result["added"]) == 3


@pytest.mark.parametrize("args, says", [
    ({"filters": [UNHONOURED[0]]}, "filters[1]: forward to 127.0.0.1: port 'notaport' is not a "
                                   "number"),
    ({"filters": ["*.* @@127.0.0.1:70000"]}, "port 70000 is out of range (1-65535)"),
    ({"filters": [':msg, contains, "ok" stop', UNHONOURED[1]]},
     "filters[2]: filter :msg, regex, \"[unclosed\": the regex cannot be compiled"),
    ({"filters": [UNHONOURED[2]], "check_mode": True}, "regcomp says: Unmatched ( or \\("),
    ({"filters": [':msg, contains, "keep" stop'], "state": "absent", "exclusive": True},
     "exclusive=true only makes sense with state=present"),
    ({"filters": [':msg, contains, "x" stop'], "main_config": "{work}/rsyslog.d"},
     "main_config: {work}/rsyslog.d is a directory, not an rsyslog configuration file"),
])
def test_input_rsyslog_cannot_use_fails_and_leaves_the_file_alone(tmp_path, args, says):
    _main_config(tmp_path)
    drop_in = tmp_path / "rsyslog.d" / "10-audit-filter.conf"
    original = b"# owned by someone else\r\n:msg, contains, \"keep\" stop\n"
    drop_in.write_bytes(original)
    args = {key: value.format(work=tmp_path) if isinstance(value, str) else value
            for key, value in args.items()}
    check = args.pop("check_mode", False)
    result = run_module("rsyslog_filter", dict({
        "path": str(drop_in), "main_config": str(tmp_path / "rsyslog.conf")}, **args),
        check=check)
    assert result.get("failed") is True and result.get("changed") is False, result
    assert says.format(work=tmp_path) in result["msg"]
    assert drop_in.read_bytes() == original
    assert sorted(p.name for p in drop_in.parent.iterdir()) == ["10-audit-filter.conf"]


@pytest.mark.parametrize("make, says", [
    (lambda path: path.mkdir(), "{path} is a directory, not an rsyslog configuration file"),
    (lambda path: path.write_bytes(b"# caf\xe9\n"), "{path} is not UTF-8 text"),
])
def test_a_target_that_is_no_text_file_is_named(tmp_path, make, says):
    _main_config(tmp_path)
    drop_in = tmp_path / "rsyslog.d" / "10-audit-filter.conf"
    make(drop_in)
    before = drop_in.read_bytes() if drop_in.is_file() else None
    result = _run(tmp_path, [':msg, contains, "x" stop'])
    assert result.get("failed") is True and says.format(path=drop_in) in result["msg"], result
    assert "Errno" not in result["msg"] and "codec" not in result["msg"]
    assert (drop_in.read_bytes() if drop_in.is_file() else None) == before


def test_a_rule_written_before_these_checks_can_still_be_removed(tmp_path):
    _main_config(tmp_path)
    drop_in = tmp_path / "rsyslog.d" / "10-audit-filter.conf"
    drop_in.write_text("# keep\n" + "\n".join(UNHONOURED) + "\n")
    result = _run(tmp_path, UNHONOURED, state="absent")
    assert result["changed"] is True and not result.get("failed"), result
    assert drop_in.read_text() == "# keep\n"


def test_check_mode_validates_and_writes_nothing(tmp_path):
    _main_config(tmp_path)
    drop_in = tmp_path / "rsyslog.d" / "10-audit-filter.conf"
    result = run_module("rsyslog_filter", {
        "path": str(drop_in), "main_config": str(tmp_path / "rsyslog.conf"),
        "filters": ['if $msg contains then stop']}, check=True)
    assert result.get("failed") is True and "syntax error" in result["msg"]
    result = run_module("rsyslog_filter", {
        "path": str(drop_in), "main_config": str(tmp_path / "rsyslog.conf"),
        "filters": [':msg, contains, "x" stop']}, check=True, diff=True)
    assert result["changed"] is True and not drop_in.exists()
    assert result["diff"]["after"] == ':msg, contains, "x" stop\n'


def test_a_rule_breaking_another_file_is_reported_with_rsyslogds_words(tmp_path):
    """A candidate can be fine alone and still clash with the rest of the configuration."""
    _main_config(tmp_path)
    (tmp_path / "rsyslog.d" / "05-other.conf").write_text(
        'template(name="dup" type="string" string="%msg%\\n")\n', encoding="utf-8")
    result = _run(tmp_path, ['*.* action(type="omfile" file="/dev/null" template="nosuch")'])
    assert result.get("failed") is True and "nosuch" in result["msg"]


# ------------------------------------------------------------------------- behaviour

def _audit(kind: str, serial: int, body: str) -> str:
    """A record as the audit syslog plugin (audisp-syslog) writes it."""
    return "type=%s msg=audit(1764237600.%03d:%d): %s" % (kind, serial % 1000, serial, body)


def _syscall(serial, comm, exe, key="exec"):
    return _audit("SYSCALL", serial,
                  'arch=c000003e syscall=59 success=yes exit=0 a0=55d1c2a0 a1=55d1c2b0 '
                  'a2=55d1c2c0 a3=8 items=2 ppid=1042 pid=%d auid=1000 uid=0 gid=0 euid=0 '
                  'suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=pts0 ses=3 comm="%s" exe="%s" '
                  'subj=unconfined key="%s"' % (serial, comm, exe, key))


def _execve(serial, *argv):
    args = " ".join('a%d="%s"' % (i, arg) for i, arg in enumerate(argv))
    return _audit("EXECVE", serial, "argc=%d %s" % (len(argv), args))


NOISE = [
    _syscall(101, "ls", "/usr/bin/ls"),
    _execve(101, "ls", "-l", "/tmp"),
    _audit("PATH", 101, 'item=0 name="/usr/bin/ls" inode=1835 dev=08:01 mode=0100755 '
                        'ouid=0 ogid=0 rdev=00:00 nametype=NORMAL'),
    _syscall(102, "sleep", "/usr/bin/sleep"),
    _execve(102, "sleep", "5"),
    _execve(103, "grep", "-r", "needle", "/etc"),
    _syscall(104, "sadc", "/usr/lib64/sa/sadc"),
    _syscall(105, "path_id", "/lib/udev/path_id"),
    _execve(106, "tailf", "/var/log/messages"),
]
FORWARDED = [
    _syscall(201, "passwd", "/usr/bin/passwd"),
    _execve(202, "useradd", "-m", "mallory"),
    _execve(203, "vim", "/etc/sudoers"),
]
LOCAL_ONLY = [
    _audit("USER_LOGIN", 301, 'pid=900 uid=0 auid=1000 ses=4 msg=\'op=login id=1000 '
                              'exe="/usr/sbin/sshd" hostname=? addr=127.0.0.1 res=success\''),
    _syscall(302, "vim", "/usr/bin/vim", key="etc-watch"),
]


def _send(port: int, messages):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
        for message in messages:
            line = "<13>Nov 27 09:00:00 client audisp-syslog: %s" % message
            sender.sendto(line.encode("utf-8"), ("127.0.0.1", port))
            time.sleep(0.005)


def _wait_for(path: Path, marker: str, timeout: float = 20.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and marker in path.read_text(errors="replace"):
            return path.read_text(errors="replace")
        time.sleep(0.1)
    raise AssertionError("%s never showed %r; it holds:\n%s" % (
        path, marker, path.read_text(errors="replace") if path.exists() else "(nothing)"))


@pytest.fixture
def rsyslog_with_seed_filters(tmp_path):
    udp_port, tcp_port = free_port(), free_port()
    main = _main_config(tmp_path, body=(
        'module(load="imudp")\nmodule(load="imtcp")\n'
        'input(type="imudp" address="127.0.0.1" port="%d")\n'
        '# the "log server": what arrives over TCP goes to its own file\n'
        'ruleset(name="server") {\n'
        '  action(type="omfile" file="%s/forwarded.log")\n'
        '  stop\n'
        '}\n'
        'input(type="imtcp" address="127.0.0.1" port="%d" ruleset="server")\n'
        % (udp_port, tmp_path, tcp_port)))
    result = _run(tmp_path, seed_filters("127.0.0.1", port=tcp_port, protocol="tcp"))
    assert not result.get("failed"), result
    pidfile = tmp_path / "rsyslogd.pid"
    daemon = subprocess.Popen([RSYSLOGD, "-n", "-f", str(main), "-i", str(pidfile)],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", tcp_port), timeout=1).close()
                break
            except OSError:
                if daemon.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError("rsyslogd did not start: %s" % daemon.communicate()[0])
                time.sleep(0.1)
        yield tmp_path, udp_port
    finally:
        daemon.send_signal(signal.SIGTERM)
        try:
            daemon.wait(timeout=15)
        except subprocess.TimeoutExpired:
            daemon.kill()
            daemon.wait()


def test_seed_filters_drop_the_noise_and_forward_exec_records(rsyslog_with_seed_filters):
    work, udp_port = rsyslog_with_seed_filters
    marker = _execve(999, "marker-end")
    _send(udp_port, NOISE + FORWARDED + LOCAL_ONLY + [marker])
    kept = _wait_for(work / "kept.log", "marker-end")
    forwarded = _wait_for(work / "forwarded.log", "marker-end")
    for message in NOISE:
        assert message not in kept, "noise kept: " + message
        assert message not in forwarded, "noise forwarded: " + message
    for message in FORWARDED:
        assert message in kept and message in forwarded, message
    for message in LOCAL_ONLY:
        assert message in kept, message
        assert message not in forwarded, message
    drop_in = (work / "rsyslog.d" / "10-audit-filter.conf").read_text()
    assert "~" not in drop_in and 'module(load="omfwd")' not in drop_in
    assert list((work / "spool").iterdir()) == [] or all(
        p.name.startswith("fwd_127_0_0_1_") for p in (work / "spool").iterdir())


def test_backup_and_file_attributes(tmp_path):
    _main_config(tmp_path)
    drop_in = tmp_path / "rsyslog.d" / "10-audit-filter.conf"
    drop_in.write_text("# before\n", encoding="utf-8")
    drop_in.chmod(0o600)
    result = _run(tmp_path, [':msg, contains, "x" stop'], backup=True, mode="0640")
    assert result["changed"] is True and not result.get("failed")
    assert Path(result["backup_file"]).read_text() == "# before\n"
    assert drop_in.stat().st_mode & 0o777 == 0o640
    assert drop_in.read_text() == '# before\n:msg, contains, "x" stop\n'
    again = _run(tmp_path, [':msg, contains, "x" stop'], mode="0640")
    assert again["changed"] is False
    drop_in.chmod(0o600)
    predicted = run_module("rsyslog_filter", {
        "path": str(drop_in), "main_config": str(tmp_path / "rsyslog.conf"),
        "filters": [':msg, contains, "x" stop'], "mode": "0640"}, check=True)
    assert predicted["changed"] is True and drop_in.stat().st_mode & 0o777 == 0o600


def test_a_missing_directory_fails_the_real_run_and_is_warned_about_in_check_mode(tmp_path):
    path = tmp_path / "missing" / "50-filter.conf"
    args = {"path": str(path), "validate": False, "filters": [":programname, isequal, \"x\" stop"]}
    assert_missing_directory_handled("rsyslog_filter", args, path.parent)


def test_a_symbolic_link_is_followed_and_a_bad_mode_changes_nothing(tmp_path):
    target = tmp_path / "shared.conf"
    target.write_text("# shared\n")
    link = tmp_path / "50-filter.conf"
    link.symlink_to(target.name)
    args = {"path": str(link), "validate": False, "filters": [":programname, isequal, \"x\" stop"]}
    refused = run_module("rsyslog_filter", dict(args, mode="banana"))
    assert refused["failed"] is True and "mode banana is neither octal" in refused["msg"]
    assert target.read_text() == "# shared\n"
    done = run_module("rsyslog_filter", args)
    assert done["changed"] is True and link.is_symlink()
    assert ':programname, isequal, "x" stop' in target.read_text()
