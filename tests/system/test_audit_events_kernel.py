"""The event library against audit records produced for real.

Rules are loaded into the running kernel and a private auditd writes them to a log of the
test's own; a scripted session runs as a user with a login uid (commands with blanks, quotes,
non-ASCII text, very long argument lists, sudo, a watched file).  The kernel is then put back
as it was.  The events rebuilt from the raw log are checked, compared event by event with what
``ausearch -i`` makes of the same log, and checked again from the log server's stored form: the
same records go through the real audit syslog plugin (audisp-syslog), a client rsyslogd that
forwards over TCP, and a server rsyslogd writing the rsyslog_server role's own runcmdformat
template.

Run under the kernel lock (``flock /run/whotouched-kernel.lock``): there is one audit rule
table and one audit daemon per kernel.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

from ansible_collections.whotouched.server_audit.plugins.module_utils._events.assembler import (
    iter_events,
    iter_lines,
)
from tests.support.ausearch import (
    ausearch_version,
    compare_file,
    load_allowed_differences,
    unexplained_in_any_log,
)
from tests.support.playbook import run_module
from tests.support.ports import free_port
from tests.support.process import run

ROOT = Path(__file__).resolve().parents[2]
AUDITCTL = shutil.which("auditctl") or "/sbin/auditctl"
AUDITD = shutil.which("auditd") or "/sbin/auditd"
AUDISP_SYSLOG = shutil.which("audisp-syslog") or "/sbin/audisp-syslog"
RSYSLOGD = shutil.which("rsyslogd") or "/usr/sbin/rsyslogd"
USER = "wtaudit"
UID = 4242
KEY = "wt-exec"

pytestmark = [
    pytest.mark.needs_root,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root (loads rules into the kernel)"),
    pytest.mark.skipif(not os.path.exists(AUDITCTL) or not os.path.exists(AUDITD),
                       reason="auditctl/auditd are not installed (apt-get install auditd)"),
]


def wait_for(condition, seconds, what):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError("waited %d s for %s" % (seconds, what))


def ensure_sudo():
    if shutil.which("sudo"):
        return
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    outcome = run("apt-get", "install", "-y", "-qq", "sudo", env=env)
    if outcome.returncode != 0 or not shutil.which("sudo"):
        pytest.skip("sudo is not installed and apt-get could not install it: "
                    + outcome.stderr[-300:])


SESSION = r"""
set -e
cd "$WORK/dir with space"
/usr/bin/printf '%s|' 'two words' 'say "hi"' "it's" '' 'größe ✓' >/dev/null
/usr/bin/true $(seq 1 3000)
/usr/bin/true "$LONG"
echo changed >> "$WORK/watched"
sudo -n /usr/bin/id -u >/dev/null
"""

LONG = "x" * 9000 + "ü" * 3000


@pytest.fixture(scope="module")
def session_log():
    """Record the scripted session with a private auditd; the kernel is restored afterwards."""
    status = run(AUDITCTL, "-s")
    if status.returncode != 0:
        pytest.skip("the kernel refuses audit requests here: " + status.stderr.strip())
    values = dict(line.split(" ", 1) for line in status.stdout.splitlines() if " " in line)
    if values.get("enabled") == "2":
        pytest.skip("the kernel's audit rules are locked (enabled 2) until reboot")
    if values.get("pid", "0") != "0":
        pytest.skip("an audit daemon (pid %s) is already running" % values["pid"])
    ensure_sudo()
    # Not under pytest's temp dir: the session's user must be able to reach its files.
    work = Path(tempfile.mkdtemp(prefix="whotouched-session-"))
    os.chmod(work, 0o755)
    (work / "dir with space").mkdir(mode=0o755)
    os.chmod(work / "dir with space", 0o755)
    watched = work / "watched"
    watched.write_text("")
    os.chmod(watched, 0o666)
    created_user = False
    if run("id", USER).returncode != 0:
        assert run("useradd", "-u", str(UID), "-M", "-s", "/bin/sh", USER).returncode == 0
        created_user = True
    sudoers = Path("/etc/sudoers.d/whotouched-test")
    # Without a pty of its own (Debian's default use_pty), sudo runs the command as its own
    # child, so the command's ppid is sudo's pid.
    sudoers.write_text("Defaults:%s !use_pty\n%s ALL=(root) NOPASSWD: /usr/bin/id\n" % (USER, USER))
    os.chmod(sudoers, 0o440)
    conf = work / "auditd.conf"
    # auditd makes its log's directory 0700: a directory of its own, not the session's.
    (work / "log").mkdir()
    log = work / "log" / "audit.log"
    (work / "plugins.d").mkdir()
    conf.write_text("log_file = %s\nlog_format = ENRICHED\nlog_group = root\nwrite_logs = yes\n"
                    "flush = INCREMENTAL_ASYNC\nfreq = 50\nmax_log_file = 100\n"
                    "max_log_file_action = IGNORE\nnum_logs = 1\nname_format = NONE\n"
                    "space_left = 2\nspace_left_action = IGNORE\nadmin_space_left = 1\n"
                    "admin_space_left_action = IGNORE\ndisk_full_action = IGNORE\n"
                    "disk_error_action = IGNORE\nplugin_dir = %s\n"
                    % (log, work / "plugins.d"))
    os.chmod(conf, 0o600)
    saved_rules = [line for line in run(AUDITCTL, "-l").stdout.splitlines()
                   if line and line != "No rules"]
    daemon = None
    try:
        daemon = subprocess.Popen([AUDITD, "-n", "-c", str(work)], stdout=subprocess.DEVNULL,
                                  stderr=subprocess.PIPE)
        wait_for(lambda: log.exists() and "DAEMON_START" in log.read_text(errors="replace"),
                 30, "auditd to start")
        for rule in (["-a", "always,exit", "-F", "arch=b64", "-S", "execve", "-F",
                      "auid=%d" % UID, "-k", KEY],
                     ["-w", str(watched), "-p", "wa", "-k", "wt-watch"]):
            loaded = run(AUDITCTL, *rule)
            assert loaded.returncode == 0, loaded.stderr
        script = work / "session.sh"
        script.write_text(SESSION)
        os.chmod(script, 0o644)
        env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "WORK": str(work), "LONG": LONG,
               "LANG": "C.UTF-8"}
        outcome = run("sh", "-c", "echo %d > /proc/self/loginuid && exec setpriv --reuid=%d "
                      "--regid=%d --clear-groups sh %s" % (UID, UID, UID, script), env=env)
        assert outcome.returncode == 0, outcome.stderr
        run(AUDITCTL, "-D")
        marker = run(AUDITCTL, "-m", "whotouched session recorded")
        assert marker.returncode == 0, marker.stderr
        wait_for(lambda: "whotouched session recorded" in log.read_text(errors="replace"),
                 30, "auditd to write the session")
        for number in range(3):
            HANDED_OVER.append(single_record_seen(log, "whotouched single record %d" % number))
    finally:
        if daemon is not None:
            daemon.send_signal(signal.SIGTERM)
            try:
                daemon.wait(30)
            except subprocess.TimeoutExpired:
                daemon.kill()
                daemon.wait(10)
        run(AUDITCTL, "-D")
        for rule in saved_rules:
            run(AUDITCTL, *rule.split())
        run(AUDITCTL, "-e", values.get("enabled", "0"))
        sudoers.unlink()
        if created_user:
            run("userdel", USER)
    assert run(AUDITCTL, "-s").stdout.split("\n", 1)[0] == "enabled %s" % values.get(
        "enabled", "0")
    try:
        yield log
    finally:
        shutil.rmtree(work)


# What a reader of the log saw of single records, written while nothing else was (freq = 50)
HANDED_OVER: list = []


def single_record_seen(log, text):
    """How many records followed ``text`` in ``log`` when a reader first saw it (None: not
    seen within 5 s)."""
    marked = run(AUDITCTL, "-m", text)
    assert marked.returncode == 0, marked.stderr
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        lines = log.read_text(errors="replace").splitlines()
        seen = [index for index, line in enumerate(lines) if text in line]
        if seen:
            return len(lines) - 1 - seen[0]
        time.sleep(0.05)
    return None


def read_events(path):
    with open(path, "rb") as stream:
        return [event for event in iter_events(iter_lines(stream))
                if event.get("auid") == UID or event.get("key") == "wt-watch"]


def by_program(events):
    found = {}
    for event in events:
        if event["kind"] == "exec":
            found.setdefault(os.path.basename(event["exe"] or ""), []).append(event)
    return found


def check_session(events):
    programs = by_program(events)
    printf = programs["printf"][0]
    assert printf["argv"] == ["/usr/bin/printf", "%s|", "two words", 'say "hi"', "it's", "",
                              "größe ✓"]
    assert printf["cwd"].endswith("/dir with space")
    assert (printf["login_user"], printf["user"], printf["key"], printf["success"]) == (
        USER, USER, KEY, True)
    assert printf["tty"] is None and printf["session"] is not None
    many = [event for event in programs["true"] if len(event["argv"]) > 1000][0]
    assert many["argv"] == ["/usr/bin/true"] + [str(number) for number in range(1, 3001)]
    long = [event for event in programs["true"] if len(event["argv"]) == 2][0]
    assert long["argv"] == ["/usr/bin/true", LONG]
    sudo = programs["sudo"][0]
    assert sudo["argv"] == ["sudo", "-n", "/usr/bin/id", "-u"]
    child = programs["id"][0]
    assert (child["argv"], child["login_user"], child["user"], child["euid"]) == (
        ["/usr/bin/id", "-u"], USER, "root", 0)
    assert child["ppid"] == sudo["pid"] and sudo["ppid"] == printf["ppid"]
    watch = [event for event in events if event["key"] == "wt-watch"][0]
    assert (watch["kind"], watch["operation"], watch["login_user"]) == ("file", "write", USER)
    assert watch["path"].endswith("/watched")
    assert all(event["complete"] for event in events)
    return programs


def test_auditd_hands_each_record_to_readers_at_once_whatever_its_sync_frequency(session_log):
    # freq = 50 only spaces the syncs to disk: on a quiet kernel (no rules) a single record is
    # in the log at once, not after the records that would fill a buffer (a quiet host's last
    # command reaches rsyslog_client without waiting); records of others on this host (logins,
    # containers' network changes) may come between, never the 49 a buffer would wait for
    assert len(HANDED_OVER) == 3 and None not in HANDED_OVER, HANDED_OVER
    assert all(following < 49 for following in HANDED_OVER), HANDED_OVER


def test_events_rebuilt_from_the_raw_log(session_log):
    check_session(read_events(session_log))


def test_the_raw_log_reads_as_ausearch_reads_it(session_log, capsys):
    version = ausearch_version()
    if version is None:
        pytest.skip("ausearch is not installed (package auditd)")
    comparison = compare_file(session_log, "this kernel's session (auditd %s)" % version)
    with capsys.disabled():
        print("\n  " + comparison.line())
    assert comparison.ausearch_events >= 10, comparison.line()
    assert unexplained_in_any_log(comparison, load_allowed_differences()) == []


def role_template(name):
    """The rsyslog_server role's own template statement (literal text in its j2 file)."""
    text = (ROOT / "roles" / "rsyslog_server" / "templates" / "server.conf.j2").read_text()
    match = re.search(r'template\(name="%s".*?\)\n' % name, text, re.S)
    assert match, name
    return match.group(0)


@pytest.fixture(scope="module")
def stored_log(session_log, tmp_path_factory):
    """The session's records as the log server stores them, through real rsyslogd daemons."""
    if not os.path.exists(RSYSLOGD) or not os.path.exists(AUDISP_SYSLOG):
        pytest.skip("rsyslogd or audisp-syslog is not installed (apt-get install rsyslog auditd)")
    if not shutil.which("unshare"):
        pytest.skip("unshare (util-linux) is not installed")
    work = tmp_path_factory.mktemp("rsyslog")
    port = free_port()
    stored = work / "stored" / "audit.log"
    for name in ("client", "server", "stored"):
        (work / name).mkdir()
    (work / "server.conf").write_text(
        'global(workDirectory="%s")\nmodule(load="imtcp")\n%s'
        'ruleset(name="store") {\n  action(type="omfile" file="%s" template="runcmdformat")\n}\n'
        'input(type="imtcp" address="127.0.0.1" port="%d" ruleset="store")\n'
        % (work / "server", role_template("runcmdformat"), stored, port))
    raw_lines = [line for line in session_log.read_text(errors="replace").splitlines() if line]
    with through_the_syslog_plugin(work, port, session_log):
        sizes = []

        def settled():
            # Done when every record is there, or nothing more arrived for a few seconds
            # (the comparison of events below then names what is missing).
            sizes.append(len(stored.read_bytes().splitlines()) if stored.exists() else 0)
            return sizes[-1] >= len(raw_lines) or (
                len(sizes) > 25 and sizes[-1] > 0 and sizes[-1] == sizes[-26])
        wait_for(settled, 120, "the server rsyslogd to store %d records" % len(raw_lines))
    return stored


@contextmanager
def through_the_syslog_plugin(work, port, session_log):
    """``session_log``'s records given to the real audit syslog plugin, whose syslog(3) calls
    reach a client rsyslogd (its socket ``work``/log) that forwards them over TCP to
    ``port``, where the server rsyslogd of ``work``/server.conf listens; both daemons run
    until the block ends."""
    socket_path = work / "log"
    (work / "client.conf").write_text(
        'global(workDirectory="%s")\nmodule(load="imuxsock" SysSock.Use="off")\n'
        'input(type="imuxsock" Socket="%s" RateLimit.Interval="0")\n'
        'action(type="omfwd" target="127.0.0.1" port="%d" protocol="tcp" '
        'action.resumeRetryCount="-1" queue.type="LinkedList" queue.size="100000")\n'
        % (work / "client", socket_path, port))
    daemons = []
    try:
        for name in ("server", "client"):
            daemons.append(subprocess.Popen(
                [RSYSLOGD, "-n", "-f", str(work / ("%s.conf" % name)), "-i",
                 str(work / ("%s.pid" % name))], stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL))
        wait_for(socket_path.exists, 30, "the client rsyslogd's socket")
        # The plugin reads records on stdin and calls syslog(3), which writes to /dev/log: in
        # a mount namespace of its own, /dev/log is the client's socket.
        with open(session_log, "rb") as records:
            plugin = run("unshare", "--mount", "sh", "-c",
                         "mount -t tmpfs tmpfs /dev && ln -s %s /dev/log && exec %s LOG_INFO "
                         "LOG_LOCAL6" % (socket_path, AUDISP_SYSLOG), stdin=records)
        assert plugin.returncode == 0, plugin.stderr
        yield
    finally:
        for daemon in daemons:
            daemon.terminate()
            daemon.wait(30)


def comparable(event):
    return (event["serial"], event["kind"], tuple(event["argv"]), event["login_user"],
            event["user"], event["cwd"], event["exe"], event["key"], event["success"],
            event["path"], event["operation"], event["pid"], event["ppid"], event["session"])


def test_events_rebuilt_from_the_servers_stored_form(session_log, stored_log):
    from_raw = read_events(session_log)
    from_stored = read_events(stored_log)
    check_session(from_stored)
    assert sorted(map(comparable, from_stored)) == sorted(map(comparable, from_raw))
    hostname = socket.gethostname().split(".")[0]
    assert {(event["host"], event["address"]) for event in from_stored} == {
        (hostname, "127.0.0.1")}
    first = [line for line in stored_log.read_text(errors="replace").splitlines()
             if " type=" in line][0]
    assert re.match(r"^[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d %s 127\.0\.0\.1 type=" % re.escape(
        hostname), first), first


def test_audit_report_module_reads_the_stored_form(stored_log):
    result = run_module("audit_report", {"path": str(stored_log.parent), "user": USER,
                                         "search": "/usr/bin/id"})
    assert not result.get("failed"), result
    argv = [event["argv"] for event in result["events"]]
    assert ["sudo", "-n", "/usr/bin/id", "-u"] in argv and ["/usr/bin/id", "-u"] in argv
    sudo = [event for event in result["events"] if event["argv"][0] == "sudo"][0]
    assert (sudo["level"], sudo["rules"]) == ("low", ["sudo-used"])
    assert result["counts"]["malformed"] == 0
    assert any("sudo -n /usr/bin/id -u" in line for line in result["table"])
