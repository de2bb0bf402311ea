"""Who did what, told as sessions, from a real login's records.

On the test guest (a kernel of its own), mallory logs in over SSH with a terminal and types a
session; auditd's log is rotated in the middle of it; a web-server-like service runs shell
commands for two requests, outside any login session (tests/support/login_sessions.py).  The
audit_report module, run through ansible-playbook on auditd's two files, must tell the login
as one session (where from: the address sshd saw) with its commands as a tree, sudo's PAM
records, the write of the watched file and the refused reads folded into their lines, and
the service's commands as one story of their own.
"""

from __future__ import annotations

import pytest

from ansible_collections.whotouched.server_audit.plugins.module_utils._events.report import (
    classified_events,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._events.risk import (
    load_risk_rules,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._events.sessions import (
    group_sessions,
    row_text,
    session_rows,
)
from tests.support.login_sessions import CRON_FILE, HOSTILE_ARGUMENTS, USER
from tests.support.playbook import run_module

pytestmark = [pytest.mark.needs_root]

MOTD = ("sh -c /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
        " run-parts --lsbsysinit /etc/update-motd.d > /run/motd.dynamic.new")
# mallory's session, line by line: (depth, level, text with what is folded into it).  sshd's
# PAM session runs Debian's message of the day as root first; then the login shell, whose
# /etc/profile runs `id -u`, and what she typed.  sudo runs her commands from a terminal of
# its own (Debian's use_pty): they stand under the sudo that ran them.
EXPECTED_LOGIN_TREE = [
    (0, "info", MOTD + " (as root)"),
    (1, "info", MOTD[6:-24]),
    (2, "info", "execve /usr/local/sbin/run-parts, /usr/local/bin/run-parts, /usr/sbin/run-parts"
                " x3 [failed]"),
    (2, "info", "run-parts --lsbsysinit /etc/update-motd.d"),
    (3, "info", "/bin/sh /etc/update-motd.d/10-uname"),
    (4, "info", "uname -snrvm"),
    (0, "info", "-bash"),
    (1, "info", "id -u"),
    (1, "info", "id"),
    (1, "low", "sudo cat /etc/shadow (as root)"),
    (2, "info", "cat /etc/shadow"),
    # three refused reads: one line, and their refused calls one line under it
    (1, "medium", "cat /etc/shadow x3"),
    (2, "medium", "openat /etc/shadow x3 [failed]"),
    (1, "low", "sudo tee %s (as root)" % CRON_FILE),
    (2, "high", "tee %s -> %s (create, wt-cron, high)" % (CRON_FILE, CRON_FILE)),
    (1, "medium", "sudo su - (as root)"),
    (2, "info", "su -"),
    (3, "info", "-bash"),
    (4, "info", "id -u"),
    (4, "info", "mesg n"),
    (4, "info", "bash"),
    (5, "info", "uname -a"),
    # the two ends of `curl ... | sh`, started together by the shell: either may come first
    (1, "info", "curl -fsS http://127.0.0.1:9/install.sh"),
    (1, "info", "sh"),
    (1, "info", "/bin/echo " + " ".join(HOSTILE_ARGUMENTS)),
]
EXPECTED_SERVICE_TREE = [
    (0, "high", "/usr/bin/python3 /usr/local/lib/wt-webshell.py"),
    (1, "high", "sh -c id; uname -a"),
    (2, "info", "execve /usr/local/sbin/sh, /usr/local/bin/sh, /usr/sbin/sh x3 [failed]"),
    (2, "high", "id"),
    (2, "high", "uname -a"),
    (1, "high", "sh -c cat /etc/hostname"),
    (2, "info", "execve /usr/local/sbin/sh, /usr/local/bin/sh, /usr/sbin/sh x3 [failed]"),
    (2, "info", "cat /etc/hostname"),
]


def tree(view):
    lines = [(row["depth"], row["level"], row_text(row)) for row in session_rows(view)]
    pipeline = [index for index, line in enumerate(lines) if line[2].startswith(("curl ", "sh"))
                and line[0] == 1]
    if len(pipeline) == 2 and pipeline[1] == pipeline[0] + 1:
        lines[pipeline[0]:pipeline[1] + 1] = sorted(lines[pipeline[0]:pipeline[1] + 1])
    return lines


@pytest.fixture(scope="module")
def report(recorded_sessions):
    result = run_module("audit_report", {"path": str(recorded_sessions.logs), "view": "sessions"})
    assert not result.get("failed"), result.get("msg")
    return result


def typed(sessions, recorded, kind, **expected):
    """The one session of ``kind`` these tests typed (the guest may hold older ones)."""
    found = [view for view in sessions if view["kind"] == kind
             and view["start_epoch"] >= recorded.started
             and all(view[name] == value for name, value in expected.items())]
    assert len(found) == 1, [(view["kind"], view["session"], view["users"]) for view in sessions]
    return found[0]


def the_login(sessions, recorded):
    return typed(sessions, recorded, "login", login_user=USER)


def test_the_login_is_one_session_from_where_sshd_saw_it(report, recorded_sessions):
    session = the_login(report["sessions"], recorded_sessions)
    assert (session["remote_address"], session["service"], session["open"]) == (
        recorded_sessions.client_address, "sshd", False)
    assert session["terminal"].startswith("pts/") and session["end"]
    assert session["users"] == ["root", USER] and session["level"] == "high"
    assert session["rules"] == ["cron-written", "sudo-used", "identity-files-written",
                                "root-shell-via-sudo"]
    # sshd's records: before the kernel gave the login its session (USER_ACCT, CRED_ACQ),
    # the login itself, its end
    types = [event["record_types"][0] for event in session["login"]]
    assert types[:3] == ["USER_ACCT", "CRED_ACQ", "LOGIN"] and "USER_LOGIN" in types
    assert types[-2:] == ["USER_END", "CRED_DISP"]
    assert {event["remote_address"] for event in session["login"]} - {None} == {
        recorded_sessions.client_address}
    # every event of the session is in its JSON once: sshd's, the commands, what is folded
    held = len(session["login"]) + len(list(tree_events(session["tree"])))
    assert session["counts"] == {"events": held, "commands": 25, "files": 1, "failed": 6,
                                 "matched": held}


def test_the_login_tree_line_by_line(report, recorded_sessions):
    session = the_login(report["sessions"], recorded_sessions)
    assert tree(session) == sorted_pipeline(EXPECTED_LOGIN_TREE)
    # The table for people says the same, each line within 100 columns, and never carries
    # the terminal escape or the bidi override typed into the command line.
    table = report["table"]
    start = table.index("== [HIGH] %s on this host, session %d" % (USER, session["session"]))
    block = table[start:table.index("", start)]
    assert all(len(line) <= 100 for line in table)
    assert block[1].startswith("   from %s via sshd on pts/" % session["remote_address"])
    assert block[1].endswith("(closed)")
    assert block[2].startswith("   25 commands, 1 file written, 6 failed; why: scheduled jobs")
    lines = [line[12:] for line in block[3:]]
    assert lines[14] == "high         tee %s -> %s (create, wt-cron, high)" % (CRON_FILE, CRON_FILE)
    assert lines[11] == "medium     cat /etc/shadow x3"
    assert lines[-1].startswith('info       /bin/echo <script>document.title="pwned"</script>')
    assert lines[-1].endswith("...")
    assert not any("\x1b" in line or "\u202e" in line for line in table)


def tree_events(nodes):
    for node in nodes:
        yield node["event"]
        for name in ("pam", "files", "calls"):
            yield from node[name]
        yield from tree_events(node["repeated"] + node["children"])


def sorted_pipeline(lines):
    index = next(number for number, line in enumerate(lines) if line[2].startswith("curl "))
    return lines[:index] + sorted(lines[index:index + 2]) + lines[index + 2:]


def test_what_is_folded_is_kept_in_the_json(report, recorded_sessions):
    session = the_login(report["sessions"], recorded_sessions)
    shell = session["tree"][1]
    sudo = shell["children"][2]
    assert sudo["event"]["argv"] == ["sudo", "cat", "/etc/shadow"]
    # sudo's PAM records, one line in the table, all of them in the JSON
    assert [event["record_types"][0] for event in sudo["pam"]] == [
        "USER_ACCT", "USER_CMD", "CRED_REFR", "USER_START", "USER_END", "CRED_DISP"]
    assert {event["pid"] for event in sudo["pam"]} == {sudo["event"]["pid"]}
    refused = shell["children"][3]
    assert [node["event"]["argv"] for node in [refused] + refused["repeated"]] == [
        ["cat", "/etc/shadow"]] * 3
    assert [(call["syscall"], call["exit"], call["key"], call["success"])
            for node in [refused] + refused["repeated"] for call in node["calls"]] == [
        ("openat", -13, "wt-denied", False)] * 3
    tee = shell["children"][4]["children"][0]
    assert [(event["path"], event["operation"], event["key"], event["level"])
            for event in tee["files"]] == [(CRON_FILE, "create", "wt-cron", "high")]


def test_a_session_across_a_rotation_is_one_session(report, recorded_sessions):
    """auditd rotated its log between two commands: each file alone holds half the session."""
    rules = load_risk_rules()
    whole = the_login(report["sessions"], recorded_sessions)
    halves = []
    for name in ("audit.log.1", "audit.log"):
        sessions, _counts = group_sessions(classified_events(
            [str(recorded_sessions.logs / name)], rules))
        # the kernel numbers sessions again at each boot: the guest's older ones may share it
        found = [view for view in sessions if view["session"] == whole["session"]
                 and view["start_epoch"] >= recorded_sessions.started]
        assert len(found) == 1, [(view["session"], view["start_epoch"]) for view in found]
        halves.append({line[2] for line in tree(found[0])})
    assert "id" in halves[0] and "id" not in halves[1]
    assert "uname -a" in halves[1] and "uname -a" not in halves[0]
    assert {line[2] for line in tree(whole)} == halves[0] | halves[1]


def test_a_services_shell_without_a_login_is_one_story(report, recorded_sessions):
    service = typed(report["sessions"], recorded_sessions, "processes", users=["www-data"])
    assert (service["session"], service["login_user"], service["program"], service["level"]) == (
        None, None, "python3.11", "high")
    assert service["reasons"] == ["web server or database account running a shell or interpreter"]
    assert service["root_pid"] == service["tree"][0]["event"]["pid"]
    assert service["tree"][0]["event"]["ppid"] == 1
    assert tree(service) == EXPECTED_SERVICE_TREE
    # python's tries along the PATH for sh are its failed calls
    assert service["counts"] == {"events": 12, "commands": 6, "files": 0, "failed": 6,
                                 "matched": 12}
    assert len(list(tree_events(service["tree"]))) == 12


def test_filters_select_whole_sessions(recorded_sessions):
    """The command that matches brings its whole session, and only sessions that hold one.
    (The test's own cleanup, as root, removes the cron file too: the user filter leaves it out.)"""
    result = run_module("audit_report", {"path": str(recorded_sessions.logs), "view": "sessions",
                                         "search": "wt-update", "user": USER,
                                         "since": "%f" % recorded_sessions.started})
    session = the_login(result["sessions"], recorded_sessions)
    assert [(view["kind"], view["login_user"]) for view in result["sessions"]] == [
        ("login", USER)]
    # sudo's execution and its USER_CMD, tee's execution and its write
    assert session["counts"]["matched"] == 4
    assert tree(session) == sorted_pipeline(EXPECTED_LOGIN_TREE)
