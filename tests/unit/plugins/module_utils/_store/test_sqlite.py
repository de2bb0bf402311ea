"""The SQLite event store on its own: what goes in comes back whole and inert, commits carry
the resume point, retention removes exactly what it should, and a store that cannot be used
says why without hanging."""

from __future__ import annotations

import os
import random
import sqlite3
import threading

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ansible_collections.whotouched.server_audit.plugins.module_utils._events.assembler import (
    iter_events,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._events.report import (
    EventFilter,
    format_table,
    searchable_text,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._events.risk import (
    classify,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._processor.rebuild import (
    rebuild,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._store import sqlite as backend
from ansible_collections.whotouched.server_audit.plugins.module_utils._store.base import (
    EventStore,
    EventStoreError,
    Ruleset,
    StoreUnavailable,
    event_identity,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._store.sqlite import (
    SqliteStore,
)
from tests.support.audit_records import evtsys, exec_records, stored

RULES = Ruleset.load()
HOSTILE = ["sh", "-c", "\x1b]0;owned\x07\x1b[2J<script>alert(1)</script>'; DROP TABLE events;--",
           "\u202etxt.exe", "caf\u00e9\x00nul"]


def events_of(*commands, host="web01"):
    return stamped_events([(host, "1700000%03d.250" % serial, serial)
                           for serial in range(1, len(commands) + 1)], commands)


def filled(path, events, arrived=1700000000.0, step=1.0, **options):
    store = SqliteStore(str(path), **options)
    for index, event in enumerate(events):
        store.add(event, arrived + index * step, RULES.fingerprint)
    store.commit(len(events))
    return store


def hostile_events():
    """Events whose text is hostile: escape sequences, markup, SQL, a NUL (a Windows one too)."""
    windows = classify(next(iter_events([evtsys(4720, "A user account was created. Subject: "
                                                      "Account Name: dave New Account: "
                                                      "Account Name: x\x1b[31m")])), RULES.rules)
    return events_of(["ls", "-l"], HOSTILE, ["auditctl", "-D"]) + [windows]


def check_stored_whole_and_inert(store, events):
    """``store`` holds ``events`` whole; searched, the hostile one comes back inert."""
    assert isinstance(store, EventStore) and store.answers_questions
    assert [event for _arrived, event in store.dump()] == events
    assert store.counts["stored"] == len(events)
    found, counts = store.find(EventFilter(search="drop table"), RULES, 10)
    assert [event["argv"] for event in found] == [HOSTILE] and counts["matched"] == 1
    table = "\n".join(format_table(found))
    assert "\x1b" not in table and "\x00" not in table and "\\x1b]0;owned" in table
    # the table's text is stored as data: the statement in it did nothing
    assert len(store.dump()) == len(events)


def test_events_come_back_whole_with_hostile_text_inert(tmp_path):
    events = hostile_events()
    store = filled(tmp_path / "events.db", events)
    check_stored_whole_and_inert(store, events)
    store.close()


def test_a_serial_and_session_past_64_bits_are_stored_and_come_back_whole(tmp_path):
    # forged by a client: the kernel writes 32-bit sessions and serials
    lines = stored(exec_records(["id"], serial=2 ** 66, ses=2 ** 65 + 5))
    forged = [classify(event, RULES.rules) for event in iter_events(lines)]
    assert (forged[0]["serial"], forged[0]["session"]) == (2 ** 66, 2 ** 65 + 5)
    store = filled(tmp_path / "events.db", forged + events_of(["whoami"]))
    assert [event for _arrived, event in store.dump()][0] == forged[0]
    found, _counts = store.find(EventFilter(search="whoami"), RULES, 10)
    assert [event["argv"] for event in found] == [["whoami"]]
    assert store.find(EventFilter(session=2 ** 65 + 5), RULES, 10)[0] == []
    store.close()


def test_a_commit_carries_the_resume_point_and_a_rollback_forgets_the_batch(tmp_path):
    store = filled(tmp_path / "events.db", events_of(["id"]))
    assert store.resume_point() == 1
    store.add(events_of(["whoami"])[0], 1.0, RULES.fingerprint)
    store.rollback()
    store.commit({"offset": 7})
    store.close()
    again = SqliteStore(str(tmp_path / "events.db"))
    assert again.resume_point() == {"offset": 7}
    assert [event["argv"] for _arrived, event in again.dump()] == [["id"]]
    again.close()


def test_known_names_the_events_already_stored(tmp_path):
    first, second = events_of(["id"], ["w"])
    store = filled(tmp_path / "events.db", [first])
    copy = dict(first, level="critical")  # the same event, whatever its classification
    assert store.known([second, copy, first]) == {1, 2}
    assert event_identity(copy) == event_identity(first) != event_identity(second)
    store.close()


def test_known_asks_by_time_for_many_events_at_once(tmp_path):
    """More events than one query takes parameters, events of one time from another sender,
    events without a time: known() answers as asking for each event alone would."""
    timed = events_of(*[["cmd%d" % number] for number in range(1, 1001)])
    elsewhere = events_of(["id"], ["w"], host="db02")  # the times of timed[0] and timed[1]
    untimed = [dict(event, epoch=None) for event in events_of(["a"], ["b"], ["c"])]
    store = filled(tmp_path / "events.db", timed[::3] + elsewhere[:1] + untimed[:2])
    asked = timed + elsewhere + untimed
    found = store.known(asked)
    with sqlite3.connect(str(tmp_path / "events.db")) as db:
        alone = {index for index, event in enumerate(asked) if db.execute(
            "SELECT 1 FROM events WHERE epoch IS ? AND ident = ?",
            (event["epoch"], event_identity(event))).fetchone()}
    assert found == alone
    assert found == set(range(0, 1000, 3)) | {1000, 1002, 1003}
    # once added, every one is found
    for index, event in enumerate(asked):
        if index not in found:
            store.add(event, 1.0, RULES.fingerprint)
    store.commit(None)
    assert store.known(asked) == set(range(len(asked)))
    store.close()


def _steps_of_known(store, events):
    """How many steps of SQLite's machine known() takes (its work, whatever the clock)."""
    return _steps(store, lambda: store.known(events))


def _steps(store, call):
    """How many steps of SQLite's machine ``call`` takes (its work, whatever the clock)."""
    steps = [0]

    def count():
        steps[0] += 1
        return 0

    store._db.set_progress_handler(count, 1)
    try:
        call()
    finally:
        store._db.set_progress_handler(None, 0)
    return steps[0]


def test_known_does_not_read_every_stored_event_of_a_flooded_time(tmp_path):
    """A sender that gives thousands of events one time (its clock, or on purpose), or the
    same event many times (a Windows event has no serial to tell copies apart), must not make
    each later batch read them all: the work stays that of the events asked."""
    def one_time(count, first):
        return stamped_events([("web01", "1700000000.250", serial)
                               for serial in range(first, first + count)],
                              [["id"]] * count)

    asked = one_time(100, 10 ** 6)
    copy = dict(asked[0], epoch=None)
    steps = {}
    for flood in (1000, 20000):
        store = filled(tmp_path / ("events-%d.db" % flood),
                       one_time(flood, 1) + [asked[0]] * (flood // 10) + [copy] * (flood // 10))
        assert store.known(asked + [copy]) == {0, 100}
        steps[flood] = _steps_of_known(store, asked + [copy])
        store.close()
    assert steps[20000] < 2 * steps[1000], steps


def test_known_looks_up_no_event_newer_than_every_stored_one(tmp_path):
    """A live batch is mostly newer than all that is stored: those events are not looked up
    one by one; one of the newest stored time (another sender's) still is."""
    events = events_of(*[["cmd%d" % number] for number in range(1, 1001)])
    store = filled(tmp_path / "events.db", events[:500:2])  # the newest stored: events[498]
    same_time = stamped_events([("db02", "1700000499.250", 7)])[0]
    assert same_time["epoch"] == events[498]["epoch"]
    assert store.known(events + [same_time]) == set(range(0, 500, 2))
    older, newer = _steps_of_known(store, events[:500]), _steps_of_known(store, events[500:])
    assert newer * 10 < older, (newer, older)
    store.close()


def test_an_event_known_was_asked_about_is_stored_under_its_own_identity(tmp_path):
    events = events_of(["id"], ["w"], ["ls"])
    store = SqliteStore(str(tmp_path / "events.db"))
    assert store.known(events) == set()
    store.add(events[0], 1.0, RULES.fingerprint)
    store.add(dict(events[1]), 2.0, RULES.fingerprint)  # a copy: not the object asked about
    store.add(events[2], 3.0, RULES.fingerprint)
    store.commit(None)
    with sqlite3.connect(str(tmp_path / "events.db")) as db:
        stored = [row[0] for row in db.execute("SELECT ident FROM events ORDER BY id")]
    assert stored == [event_identity(event) for event in events]
    assert store.known(events) == {0, 1, 2}
    store.close()


def test_known_finds_events_without_a_time_many_at_once(tmp_path):
    """More events without a time than one query takes, and a time SQLite keeps as NULL."""
    untimed = [dict(event, epoch=None) for event in events_of(*[["c%d" % number]
                                                                for number in range(1000)])]
    not_a_number = dict(events_of(["nan"])[0], epoch=float("nan"))
    store = filled(tmp_path / "events.db", untimed[::2] + [not_a_number])
    assert store.known(untimed + [not_a_number]) == set(range(0, 1000, 2)) | {1000}
    store.close()


def test_stored_events_are_read_a_chunk_at_a_time_in_the_order_stored(tmp_path):
    events = events_of(["id"], ["w"], ["ls"], ["who"], ["date"])
    store = filled(tmp_path / "events.db", events)
    for chunk in (1, 2, 5, 6):
        assert list(store.stored_events(chunk)) == store.dump()
    assert [event["argv"] for _arrived, event in store.stored_events(2)] == [
        ["id"], ["w"], ["ls"], ["who"], ["date"]]
    store.close()


def test_a_store_written_before_the_heartbeat_index_counts_them_alike(tmp_path):
    heartbeat = ("type=USER msg=audit(1700000100.000:9): pid=726 uid=0 auid=4294967295 "
                 "ses=4294967295 msg='op=whotouched-audit-health lost=0 lost_total=0 "
                 "since=1699999700.000 backlog=0 backlog_limit=8192 backlog_wait_time=60000 "
                 "logging_suspended=no plugin_overflow=no res=success'")
    events = events_of(["id"]) + [classify(event, RULES.rules) for event in iter_events(
        stored([heartbeat], host="web01"))]
    assert events[-1]["kind"] == "health"
    filled(tmp_path / "events.db", events).close()
    questions = [EventFilter(host="web01"), EventFilter(host="db01"),
                 EventFilter(host="web0?", since=1700000000)]
    with_index = [counts_of(tmp_path / "events.db", question) for question in questions]
    raw = sqlite3.connect(str(tmp_path / "events.db"))
    raw.execute("DROP INDEX events_health")
    raw.close()
    assert [counts_of(tmp_path / "events.db", question) for question in questions] == \
        with_index == [1, 0, 1]


def counts_of(path, question):
    store = SqliteStore(str(path), readonly=True)
    try:
        return store.find(question, RULES, 0)[1]["health_reports"]
    finally:
        store.close()


def test_retention_by_age_removes_exactly_what_arrived_before_the_limit(tmp_path):
    day = 86400.0
    now = 1800000000.0
    events = events_of(*[["id", str(number)] for number in range(6)])
    store = SqliteStore(str(tmp_path / "events.db"), max_age_days=2, max_bytes=0)
    ages = [5 * day, 3 * day, 2 * day + 1, 2 * day, day, 0.0]
    for event, age in zip(events, ages):
        store.add(event, now - age, RULES.fingerprint)
    store.commit(0)
    assert store.prune(now) == 3
    assert store.prune(now) == 0
    assert [arrived for arrived, _event in store.dump()] == [now - 2 * day, now - day, now]
    assert store.find(EventFilter(search="id"), RULES, 0)[1]["matched"] == 3
    store.close()


def test_retention_by_size_removes_the_oldest_arrivals_until_it_fits(tmp_path):
    events = events_of(*[["printf", "%s", "x" * 3000 + str(number)] for number in range(400)])
    store = SqliteStore(str(tmp_path / "events.db"), max_age_days=0, max_bytes=600 << 10)
    for index, event in enumerate(events):
        store.add(event, 1000.0 + index, RULES.fingerprint)
    store.commit(0)
    assert store.used_bytes() > 600 << 10
    while store.prune(0.0):
        pass
    assert store.used_bytes() <= 600 << 10
    kept = [arrived for arrived, _event in store.dump()]
    assert kept == [1000.0 + index for index in range(400 - len(kept), 400)] and kept
    store.close()


@pytest.mark.parametrize("arguments, says", [
    ({"path": "events.db"}, "absolute"),
    ({"max_age_days": -1}, "max_age_days"),
    ({"max_bytes": "10G"}, "max_bytes"),
])
def test_bad_settings_are_named(tmp_path, arguments, says):
    arguments = dict({"path": str(tmp_path / "events.db")}, **arguments)
    with pytest.raises(EventStoreError, match=says):
        SqliteStore(**arguments)


@pytest.mark.parametrize("make, says", [
    (os.mkfifo, "not a regular file"),
    (lambda path: path.mkdir(), "not a regular file"),
    (lambda path: path.write_bytes(b"\x89PNG\r\n" + b"\x00" * 4096), "not a database.*move it away"),
])
def test_what_is_not_a_store_is_refused_with_the_reason_and_left_as_it_was(
        tmp_path, make, says):
    path = tmp_path / "events.db"
    make(path)
    before = path.read_bytes() if path.is_file() else None
    with pytest.raises(StoreUnavailable, match=says):
        SqliteStore(str(path))
    assert (path.read_bytes() if path.is_file() else None) == before


def test_a_reader_needs_a_store(tmp_path):
    with pytest.raises(StoreUnavailable, match="there is no event store at"):
        SqliteStore(str(tmp_path / "none.db"), readonly=True)


def test_a_locked_store_is_named_when_the_wait_is_over(tmp_path):
    filled(tmp_path / "events.db", events_of(["id"])).close()
    store = SqliteStore(str(tmp_path / "events.db"), busy_seconds=0.2)
    holder = sqlite3.connect(str(tmp_path / "events.db"), isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        store.add(events_of(["w"])[0], 1.0, RULES.fingerprint)
        with pytest.raises(StoreUnavailable, match="locked.*tried again"):
            store.commit(2)
        store.rollback()
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    store.add(events_of(["w"])[0], 1.0, RULES.fingerprint)
    store.commit(2)
    assert [event["argv"] for _arrived, event in store.dump()] == [["id"], ["w"]]
    store.close()


def test_another_versions_store_is_refused(tmp_path):
    filled(tmp_path / "events.db", []).close()
    with sqlite3.connect(str(tmp_path / "events.db")) as raw:
        raw.execute("UPDATE store_info SET value = '0' WHERE name = 'schema'")
    with pytest.raises(StoreUnavailable, match="written by another version"):
        SqliteStore(str(tmp_path / "events.db"))


def test_a_search_gives_the_same_events_with_and_without_the_text_index(tmp_path, monkeypatch):
    events = events_of(["cat", "/etc/Shadow"], ["ls", "/ETC"], ["grep", "-r", "shad", "/srv"])
    indexed = filled(tmp_path / "indexed.db", events)
    monkeypatch.setattr(backend, "_FTS", "CREATE VIRTUAL TABLE %s USING no_such_module")
    scanned = filled(tmp_path / "scanned.db", events)
    assert indexed.full_text and not scanned.full_text
    for needle in ("shad", "SHADOW", "/etc", "sh", "e", "no such thing"):
        answers = [store.find(EventFilter(search=needle), RULES, 0)[0]
                   for store in (indexed, scanned)]
        assert answers[0] == answers[1], needle
    indexed.close()
    scanned.close()


def test_a_search_with_other_filters_is_answered_over_more_days_than_one_select_may_join(
        tmp_path):
    # one text index per day of arrival; SQLite joins at most 500 SELECTs in one compound,
    # and a store that keeps many days (or a rebuild of a sender that dates its events on
    # many) has more
    events = events_of(*[["cat", "/etc/day%d" % day] for day in range(520)])
    events += events_of(["cat", "/etc/shadow"], host="db01")
    store = filled(tmp_path / "events.db", events, step=86400.0)
    assert len(store._text_indexes()) == 521  # pylint: disable=protected-access
    for question, expected in (
            (EventFilter(search="/etc/", host="db01"), ["db01"]),
            (EventFilter(search="/etc/day1", min_level="info"), ["web01"] * 111),
            (EventFilter(search="/etc/day0"), ["web01"])):
        found, counts = store.find(question, RULES, 0)
        assert [event["host"] for event in found] == expected
        assert counts["matched"] == len(expected)
    store.close()


def test_a_rebuild_stores_no_event_that_retention_would_remove_at_once(tmp_path):
    # a sender that dates its events on many days long past made a table a day, and a
    # rebuild that took minutes before the first prune removed them all
    now = 1700000000.0
    lines = []
    for day in range(1, 301):
        lines += stored(exec_records(["id"], serial=day, epoch="%.3f" % (now - day * 86400.0)))
    (tmp_path / "audit.log").write_text("\n".join(lines) + "\n")
    store = SqliteStore(str(tmp_path / "events.db"), max_age_days=90)
    counts = rebuild(store, [str(tmp_path / "audit.log")], RULES, now=lambda: now)
    assert (counts["events"], counts["stored"], counts["past_retention"]) == (300, 90, 210)
    assert len(store._text_indexes()) == 90  # pylint: disable=protected-access
    assert store.prune(now) == 0
    store.close()


@pytest.mark.parametrize("needle, expected", [
    ("abc", ['"abc"']),
    ("abcd", ['"abc"', '"bcd"']),
    ('a"bcd', ['"a""b"', '"bcd"', '"""bc"']),
])
def test_a_short_search_asks_the_index_for_every_trigram(needle, expected):
    assert sorted(backend._fts_query(needle).split(" AND ")) == sorted(expected)


def test_a_long_search_asks_the_index_for_a_few_trigrams_from_first_to_last():
    needle = "/var/run/docker/containerd/daemon/io.containerd.runtime.v2.task/moby/850ea526"
    asked = [term.strip('"') for term in backend._fts_query(needle).split(" AND ")]
    assert 2 <= len(asked) <= backend._FTS_TRIGRAMS
    assert needle[:3] in asked and needle[-3:] in asked
    assert all(trigram in needle for trigram in asked)


@pytest.mark.parametrize("needle, instead, asked_instead", [
    ("/tmp/build.0/4733f986a142/rc.tmp", "tmp", ".tm"),
    ("/etc/cron.daily/etc", "etc", "y/e"),
    ("aaaa", "aaa", "aaa"),  # no trigram occurs once: the spread ones
])
def test_a_search_asks_for_trigrams_that_occur_once_in_it(needle, instead, asked_instead):
    """The last three characters of "/tmp/x.tmp" narrow nothing that "/tm" has not: a text
    holding "/tmp/" alone has them; the nearest that occurs once narrows further."""
    asked = [term.strip('"') for term in backend._fts_query(needle).split(" AND ")]
    assert asked_instead in asked and (instead not in asked or instead == asked_instead)
    assert all(trigram in needle for trigram in asked) and len(asked) <= backend._FTS_TRIGRAMS


def test_a_text_holding_the_asked_trigrams_but_not_the_search_is_not_found(tmp_path, monkeypatch):
    needle = "/srv/backup/nightly-dump.sql"
    asked = [term.strip('"') for term in backend._fts_query(needle).split(" AND ")]
    decoy = "_".join(asked)  # every trigram the index is asked for, never the whole path
    assert needle not in decoy
    events = events_of(["cat", decoy], ["cat", needle], ["cat", needle.upper()])
    indexed = filled(tmp_path / "indexed.db", events)
    monkeypatch.setattr(backend, "_FTS", "CREATE VIRTUAL TABLE %s USING no_such_module")
    scanned = filled(tmp_path / "scanned.db", events)
    answers = [store.find(EventFilter(search=needle), RULES, 0) for store in (indexed, scanned)]
    assert [event["argv"][1] for event in answers[0][0]] == [needle, needle.upper()]
    assert answers[0] == answers[1]
    indexed.close()
    scanned.close()


def test_a_nul_in_a_text_hides_nothing_after_it_from_the_text_index(tmp_path, monkeypatch):
    """The trigram tokenizer stops at a NUL: a sender's argument holding one (``a1=780079``)
    hid the program, the paths and the later arguments from every search through the index."""
    events = events_of(["sh", "x\x00y", "hidden-arg"], ["ls", "x y"], ["id"])
    indexed = filled(tmp_path / "indexed.db", events)
    monkeypatch.setattr(backend, "_FTS", "CREATE VIRTUAL TABLE %s USING no_such_module")
    scanned = filled(tmp_path / "scanned.db", events)
    for needle, found in (("hidden-arg", [["sh", "x\x00y", "hidden-arg"]]),
                          ("x\x00y hid", [["sh", "x\x00y", "hidden-arg"]]),
                          ("x y", [["ls", "x y"]])):
        answers = [[event["argv"]
                    for event in store.find(EventFilter(search=needle), RULES, 0, 10)[0]]
                   for store in (indexed, scanned)]
        assert answers == [found, found], needle
    indexed.close()
    scanned.close()


def test_a_store_syncs_its_log_to_the_disk_and_names_what_it_cannot(tmp_path):
    store = filled(tmp_path / "events.db", events_of(["id"]))
    store.sync()  # the log holds the commit
    os.remove(str(tmp_path / "events.db-wal"))
    store.sync()  # no log (a checkpoint removed it): nothing to sync
    os.mkfifo(str(tmp_path / "events.db-wal"))
    with pytest.raises(StoreUnavailable, match="log cannot be synced"):
        store.sync()
    os.remove(str(tmp_path / "events.db-wal"))
    store.close()


def asked_of(store, needle):
    return sorted(term.strip('"') for term in
                  store._search_query(needle, store._text_indexes()).split(" AND "))


def test_a_search_asks_the_index_for_its_rarest_trigrams_not_its_common_ones(
        tmp_path, monkeypatch):
    """"/et" is in most texts: reading its entries costs, and narrows nothing that ".da"
    and "ly/" do not (common from 5 texts here, from 2,000 in a day of a log server); "ily"
    is in "daily" too, and "ail" overlaps ".da"."""
    monkeypatch.setattr(backend, "_FTS_COMMON", 5)
    events = events_of(*([["cat", "/etc/passwd"]] * 6 + [["ls", "/etc/cron.d/"]] * 6
                         + [["run-parts", "/etc/cron.daily/"]] * 2 + [["echo", "daily"]]))
    store = filled(tmp_path / "events.db", events)
    counts = backend._trigram_counts(store._db, ["events_text_%d" % (1700000000 // 86400)],
                                     "/etc/cron.daily/")
    assert counts["/et"] == counts["etc"] == 5 and counts[".da"] == 2  # counted to common
    asked = asked_of(store, "/etc/cron.daily/")
    assert asked == [".da", "ly/"], asked
    found, counts = store.find(EventFilter(search="/etc/cron.daily/"), RULES, 0)
    assert [event["argv"][0] for event in found] == ["run-parts"] * 2
    store.close()


def test_a_common_trigram_is_asked_too_where_it_narrows_the_candidates(tmp_path, monkeypatch):
    """Of "/etc/systemd/system/", the trigrams of "systemd/" and "em/" are rarer than "/et",
    and "/lib/systemd/system/" holds them too: "/et" (or another of "/etc/"), common, halves
    the candidates there, so it is asked as well; nothing the search holds is left out."""
    monkeypatch.setattr(backend, "_FTS_COMMON", 10)
    events = events_of(*([["ls", "/lib/systemd/system/a.service"]] * 6
                         + [["vi", "/etc/systemd/system/b.service"]] * 2
                         + [["cat", "/etc/hosts"]] * 12))
    store = filled(tmp_path / "events.db", events)
    asked = asked_of(store, "/etc/systemd/system/")
    assert set(asked) & {"/et", "etc", "tc/", "c/s"} and set(asked) & {"emd", "md/", "d/s"}
    assert len(asked) <= backend._FTS_TRIGRAMS
    assert all(trigram in "/etc/systemd/system/" for trigram in asked)
    found, _counts = store.find(EventFilter(search="/etc/systemd/system/"), RULES, 0)
    assert [event["argv"][0] for event in found] == ["vi"] * 2
    store.close()


def test_a_search_whose_every_trigram_is_common_asks_for_the_spread_ones(tmp_path, monkeypatch):
    monkeypatch.setattr(backend, "_FTS_COMMON", 2)
    store = filled(tmp_path / "events.db", events_of(*[["cat", "/etc/passwd"]] * 3))
    assert asked_of(store, "/etc/passwd") == sorted(
        term.strip('"') for term in backend._fts_query("/etc/passwd").split(" AND "))
    store.close()


@pytest.mark.parametrize("needle, counts, expected", [
    ("abcdefg", {"abc": 3, "bcd": 1, "cde": 2, "def": 9, "efg": 1}, [1, 4, 2, 0, 3]),
    # "abc" occurs twice: after every trigram that occurs once, however rare it is
    ("abcxabc", {"abc": 0, "bcx": 5, "cxa": 7, "xab": 6}, [1, 3, 2, 0, 4]),
])
def test_trigrams_are_ranked_rarest_first_and_those_occurring_twice_last(
        needle, counts, expected):
    assert backend._by_rarity(needle, counts) == expected


@pytest.mark.parametrize("needle", ["abi", "\u0130st", "stanbul", "\u0130stanbul",
                                    "i\u0307stanbul", "\u212aelvin", "kelvin", "\u03b4\u03bf\u03c2"])
def test_letters_that_lower_unlike_sqlite_folds_them_are_found_through_the_index(
        tmp_path, monkeypatch, needle):
    # a dotted capital I lowers to two characters; SQLite's folding leaves it as it is
    texts = ["ab\u0130x", "\u0130stanbul", "i\u0307stanbul", "\u212aelvin", "\u039f\u0394\u039f\u03a3"]
    events = events_of(*(["echo", text] for text in texts))
    indexed = filled(tmp_path / "indexed.db", events)
    monkeypatch.setattr(backend, "_FTS", "CREATE VIRTUAL TABLE %s USING no_such_module")
    scanned = filled(tmp_path / "scanned.db", events)
    answers = [[event["argv"][1] for event in store.find(EventFilter(search=needle), RULES, 0)[0]]
               for store in (indexed, scanned)]
    assert answers[0] == answers[1] and answers[0], needle
    indexed.close()
    scanned.close()


def stamped_events(stamps, commands=None):
    """One event per (host, epoch, serial), stored in the order given, running the command
    of the same place in ``commands`` (``echo needle`` without)."""
    lines, addresses = [], {}
    for index, (host, epoch, serial) in enumerate(stamps):
        address = addresses.setdefault(host, "192.0.2.%d" % (10 + len(addresses)))
        argv = commands[index] if commands else ("echo", "needle")
        lines += stored(exec_records(list(argv), serial=serial, epoch=epoch), host=host,
                        address=address)
    return [classify(event, RULES.rules) for event in iter_events(lines)]


def test_a_search_with_a_limit_orders_its_events_as_every_question_does(tmp_path):
    # arrivals out of time order; equal times, and equal times and serials on two hosts
    stamps = [("web01", "1700000005.000", 1), ("web01", "1700000001.000", 2),
              ("web02", "1700000005.000", 8), ("web01", "1700000003.000", 7),
              ("web01", "1700000005.000", 3), ("web02", "1700000005.000", 3),
              ("web02", "1700000001.000", 9)]
    store = filled(tmp_path / "events.db", stamped_events(stamps))
    for limit in range(1, len(stamps) + 1):
        searched, counts = store.find(EventFilter(search="needle"), RULES, limit)
        # a question without a search is ordered by SQLite's ORDER BY
        assert searched == store.find(EventFilter(), RULES, limit)[0], limit
        assert counts["matched"] == len(stamps)
    newest = store.find(EventFilter(search="needle"), RULES, 3)[0]
    assert [(event["host"], event["serial"]) for event in newest] == [
        ("web01", 3), ("web02", 3), ("web02", 8)]
    store.close()


def test_a_search_with_a_limit_of_more_than_a_query_of_ids_reads_every_body(tmp_path):
    stamps = [("web%02d" % (number % 7), "17000%05d.000" % (number * 37 % 1000), number)
              for number in range(1, 1001)]
    store = filled(tmp_path / "events.db", stamped_events(stamps))
    searched, counts = store.find(EventFilter(search="needle"), RULES, 950)
    assert len(searched) == 950 and counts == dict(counts, matched=1000, truncated=True)
    assert searched == store.find(EventFilter(), RULES, 950)[0]
    store.close()


def _out_of_order_store(path, full_text=True, set_back_newest=False):
    """1,500 events arriving over five days (the clock set back a day now and then: those
    events the newest with ``set_back_newest``), their times shuffled against their arrival
    (late events, and events of the future), ten of a time with serials in no order of
    arrival, some without a time; two of three ``needle``, those without a time and a few
    others ``lost``; on two hosts."""
    order = list(range(1500))
    random.Random(7).shuffle(order)
    if set_back_newest:
        order = [1500 + position if position % 17 == 0 else moment
                 for position, moment in enumerate(order)]
    stamps = [("web%02d" % (position % 2), "%d.250" % (1700000000 + 60 * (moment // 10)),
               position + 1 if position % 2 else 10000 - position)
              for position, moment in enumerate(order)]
    timeless = set(range(5, len(stamps), 41))
    commands = [["echo", "needle" if position % 3 else "hay",
                 "lost" if position in timeless or position % 97 == 0 else "x"]
                for position in range(len(stamps))]
    events = stamped_events(stamps, commands)
    for position in timeless:
        events[position] = dict(events[position], epoch=None)
    with pytest.MonkeyPatch.context() as patch:
        if not full_text:
            patch.setattr(backend, "_FTS", "CREATE VIRTUAL TABLE %s USING no_such_module")
        store = SqliteStore(str(path))
        for index, event in enumerate(events):
            store.add(event, 1700000000.0 + index * 300 - (index % 17 == 0) * 86400,
                      RULES.fingerprint)
        store.commit(len(stamps))
    assert store.full_text == full_text and len(store._text_indexes() if full_text else "x")
    return store


@pytest.mark.parametrize("set_back_newest", [False, True], ids=["shuffled", "set back newest"])
@pytest.mark.parametrize("full_text", [True, False], ids=["text index", "no text index"])
def test_counting_stops_past_count_limit_and_the_newest_events_stay_the_newest(
        tmp_path, full_text, set_back_newest):
    """Counted to a limit, a question gives the events it gives counted in full: the newest by
    time, however late they arrived."""
    store = _out_of_order_store(tmp_path / "events.db", full_text, set_back_newest)
    questions = [EventFilter(search="needle"), EventFilter(search="lost"),
                 EventFilter(search="NEEDLE", host="web01"),
                 EventFilter(search="needle", since=1700004000),
                 EventFilter(search="needle", until=1700006000),
                 EventFilter(search="ee", since=1700002000, until=1700007000),
                 EventFilter(search="ee"),
                 EventFilter(), EventFilter(host="web00")]
    for question in questions:
        everything, exact = store.find(question, RULES, 0)
        assert exact["count_stopped"] is False and len(everything) > 40
        for limit in (1, 7, 30, 60):
            for count_limit in (1, 40, 50, 100, 600, 2000, 0) + tuple(range(18, 28)):
                events, counts = store.find(question, RULES, limit, count_limit)
                counting = max(count_limit, limit) if count_limit else 0
                stopped = bool(counting) and len(everything) > counting
                case = (vars(question), limit, count_limit)
                assert events == everything[-limit:], case
                assert counts == {"matched": counting if stopped else len(everything),
                                  "count_stopped": stopped,
                                  "truncated": len(everything) > limit,
                                  "health_reports": 0}, case
    store.close()


def test_a_search_counted_to_a_limit_walks_past_candidates_that_do_not_hold_it(tmp_path):
    """Texts that hold every trigram of the search but not the search itself are candidates
    the text index gives and the check refuses: many of them, in one day of arrival."""
    order = list(range(600))
    random.Random(11).shuffle(order)
    events = stamped_events([("web01", "%d.250" % (1700000000 + moment), position + 1)
                             for position, moment in enumerate(order)],
                            [["echo", "abcde" if position % 6 == 0 else "abcd bcde"]
                             for position in range(600)])
    store = filled(tmp_path / "events.db", events)
    question = EventFilter(search="abcde")
    everything = store.find(question, RULES, 0)[0]
    assert len(everything) == 100
    for limit in (1, 5, 40):
        for count_limit in (1, 10, 60, 200):
            events, counts = store.find(question, RULES, limit, count_limit)
            assert events == everything[-limit:], (limit, count_limit)
            assert counts["matched"] == min(100, max(limit, count_limit)), (limit, count_limit)
    store.close()


def days_of_needles(tmp_path, late=None, days=10, each=60, untimed_first=False):
    """A store of ``days`` days of arrival, ``each`` events a day holding "needle", their
    times those of their arrival; ``late``: one more event, the first stored, at that time;
    ``untimed_first``: one with a time no comparison orders (NaN) before it."""
    arrivals = [1700000000 + day * 86400 + number for day in range(days) for number in range(each)]
    stamps = [("web01", "%d.250" % arrived, index + 1) for index, arrived in enumerate(arrivals)]
    if late:
        arrivals.insert(0, 1700000000)
        stamps.insert(0, ("db02", "%d.250" % late, 1))
    if untimed_first:
        arrivals.insert(0, 1700000000)
        stamps.insert(0, ("db03", "1700000000.250", 1))
    events = stamped_events(stamps)
    if untimed_first:
        events[0] = dict(events[0], epoch=float("nan"))
    store = SqliteStore(str(tmp_path / "events.db"), max_age_days=3, max_bytes=0)
    for event, arrived in zip(events, arrivals):
        store.add(event, float(arrived), RULES.fingerprint)
    store.commit(None)
    return store, events


@pytest.mark.parametrize("late, untimed_first", [
    (None, False), (1700000000 + 20 * 86400, False), (1700000000 + 9 * 86400 + 57, False),
    (1700000000 + 20 * 86400, True)],
    ids=["none", "after every other", "among the last day's", "after an event of no time"])
def test_a_search_counted_to_a_limit_finds_an_event_stored_long_ago_with_a_later_time(
        tmp_path, late, untimed_first):
    """A sender's clock ahead: stored on the first day, its time among the newest.  The
    summary of arrival days says where such an event may be; with none, the time index is
    not read for it."""
    store, events = days_of_needles(tmp_path, late, untimed_first=untimed_first)
    question = EventFilter(search="needle")
    found, counts = store.find(question, RULES, 5, 20)
    timed = [event for event in events if event["epoch"] == event["epoch"]]
    assert found == store.find(question, RULES, 5)[0] == sorted(
        timed, key=lambda event: (event["epoch"], event["serial"]))[-5:]
    assert counts["count_stopped"]
    assert store._stored_late(300, 1700000000 + 9 * 86400) == (late is not None)
    store.close()


def test_the_summary_of_arrival_days_is_trusted_only_where_it_holds_every_stored_event(
        tmp_path):
    store, _events = days_of_needles(tmp_path)
    assert not store._stored_late(300, 1700000000 + 9 * 86400)
    assert store._stored_late(600, 1700000000 + 9 * 86400)  # the last day's own
    store.close()
    # a writer from before the summary stored more: it is started again from the next batch
    with sqlite3.connect(str(tmp_path / "events.db")) as raw:
        raw.execute("UPDATE store_info SET value = CAST(value AS INTEGER) + 1 "
                    "WHERE name = 'next_id'")
    store = SqliteStore(str(tmp_path / "events.db"), max_age_days=3, max_bytes=0)
    assert store._stored_late(300, 1700000000 + 9 * 86400)
    store.add(events_of(["id"])[0], 1700000000.0 + 9 * 86400, RULES.fingerprint)
    store.commit(None)
    assert store._stored_late(300, 1700000000 + 9 * 86400)  # events before it began
    # a store from before the summary: a reader trusts none; its writer makes it once
    with sqlite3.connect(str(tmp_path / "events.db")) as raw:
        raw.execute("DROP TABLE arrival_days")
        raw.execute("DELETE FROM store_info WHERE name IN ('days_from', 'days_to')")
    reader = SqliteStore(str(tmp_path / "events.db"), readonly=True)
    assert reader._stored_late(300, 1700000000 + 9 * 86400)
    assert len(reader.find(EventFilter(search="needle"), RULES, 5, 20)[0]) == 5
    reader.close()
    store.close()
    store = SqliteStore(str(tmp_path / "events.db"), max_age_days=3, max_bytes=0)
    assert not store._stored_late(300, 1700000000 + 9 * 86400)
    assert store._stored_late(600, 1700000000 + 9 * 86400)
    while store.prune(1700000000.0 + 12 * 86400):
        pass
    # the days emptied go from it
    assert [row[0] for row in store._db.execute("SELECT day FROM arrival_days")] == [
        (1700000000 + 9 * 86400) // 86400]
    store.close()


@pytest.mark.parametrize("times", [{}, {"since": 1700001000},
                                   {"since": 1700001000, "until": 1700005800}],
                         ids=["any time", "since", "since and until"])
def test_a_search_counted_to_a_limit_checks_about_that_many_events(tmp_path, times):
    """Where most events hold the text, counting them all is what a search costs; counting
    stops past count_limit (in the last days of arrival), and the newest are then looked for
    by time among few events: with a time asked too."""
    events = stamped_events([("web01", "%d.250" % (1700000000 + number), number)
                             for number in range(1, 6001)])
    store = SqliteStore(str(tmp_path / "events.db"))
    for index, event in enumerate(events):  # 30 days
        store.add(event, 1700000000.0 + index * 435, RULES.fingerprint)
    store.commit(len(events))
    question = EventFilter(search="needle", **times)
    # choosing the trigrams to ask for costs the same either way (a bounded count of each)
    choosing = _steps(store, lambda: store._search_query("needle", store._text_indexes()))
    exact = _steps(store, lambda: store.find(question, RULES, 10)) - choosing
    counted = _steps(store, lambda: store.find(question, RULES, 10, 100)) - choosing
    assert store.find(question, RULES, 10, 100)[0] == store.find(question, RULES, 10)[0]
    assert counted * 10 < exact, (counted, exact)
    store.close()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(needle=st.text(alphabet='aBiI/."-\u00e9\u0130\u0307\u03a3\u03c2\u212a',
                      min_size=1, max_size=24),
       texts=st.lists(st.text(alphabet='Abi/."-\u00e9\u0130\u0307\u03c3\u212ak ', min_size=0,
                              max_size=40), min_size=1, max_size=6),
       limit=st.integers(min_value=0, max_value=4),
       count_limit=st.integers(min_value=0, max_value=3),
       times=st.lists(st.sampled_from([None, 1, 2, 3]), min_size=6, max_size=6),
       common=st.sampled_from([1, 2, 3, 2000]),
       step=st.sampled_from([1.0, 86400.0]))
def test_any_search_finds_the_same_events_through_the_text_index_as_by_scanning(
        tmp_path_factory, needle, texts, limit, count_limit, times, common, step):
    """Counted to a limit or not, with times in any order against the arrivals (equal, none),
    arriving on one day or each on a day of its own, whichever of the search's trigrams are
    common (and so which ones the index is asked for)."""
    directory = tmp_path_factory.mktemp("search")
    events = stamped_events([("web01", "17000000%02d.250" % (times[index] or 0), index + 1)
                             for index in range(len(texts))],
                            [["echo", text] for text in texts])
    events = [dict(event, epoch=None) if times[index] is None else event
              for index, event in enumerate(events)]
    indexed = filled(directory / "indexed.db", events, step=step)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(backend, "_FTS", "CREATE VIRTUAL TABLE %s USING no_such_module")
        scanned = filled(directory / "scanned.db", events, step=step)
    assert indexed.full_text and not scanned.full_text
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(backend, "_FTS_COMMON", common)
        answers = [store.find(EventFilter(search=needle), RULES, limit, count_limit)
                   for store in (indexed, scanned)]
    assert answers[0] == answers[1]
    assert answers[0][0] == scanned.find(EventFilter(search=needle), RULES, limit)[0]
    holding = sum(needle.lower() in searchable_text(event).lower() for event in events)
    counting = max(limit, count_limit) if limit and count_limit else 0
    assert answers[0][1]["matched"] == (min(holding, counting) if counting else holding)
    indexed.close()
    scanned.close()


def test_events_classified_by_other_rules_are_classified_again(tmp_path):
    events = events_of(["deploy.sh", "--now"], ["auditctl", "-D"], ["id"])
    store = filled(tmp_path / "events.db", events)
    site = Ruleset.load([{"id": "site-deploy", "level": "high", "reason": "deploy by hand",
                          "match": {"program": ["deploy.sh"]}}])
    assert site.fingerprint != RULES.fingerprint
    found, counts = store.find(EventFilter(min_level="high"), site, 0)
    assert [(event["argv"][0], event["level"], event["rules"]) for event in found] == [
        ("deploy.sh", "high", ["site-deploy"]),
        ("auditctl", "critical", ["audit-rules-deleted"])]
    assert counts["matched"] == 2
    everything, _counts = store.find(EventFilter(), site, 0)
    assert [event["level"] for event in everything] == ["high", "critical", "info"]
    # the question's own rules are trusted as stored
    assert [event["level"] for event in store.find(EventFilter(), RULES, 0)[0]] == [
        "info", "critical", "info"]
    store.close()


def test_a_reader_sees_what_a_writer_commits_meanwhile(tmp_path):
    writer = filled(tmp_path / "events.db", events_of(["id"]))
    reader = SqliteStore(str(tmp_path / "events.db"), readonly=True)
    seen = []

    def ask():
        seen.append(reader.find(EventFilter(), RULES, 0)[1]["matched"])

    asker = threading.Thread(target=ask)
    writer.add(events_of(["w"], host="db01")[0], 2.0, RULES.fingerprint)
    asker.start()
    asker.join(10)
    writer.commit(2)
    ask()
    assert seen == [1, 2]
    reader.close()
    writer.close()


@pytest.mark.parametrize("pattern, hosts", [
    ("h\U0010ffff*", {"h\U0010ffffz"}),  # no character after the last one of the prefix
    ("h\ud7ff*", {"h\ud7ffz"}),  # the next encoded character is U+E000, past the surrogates
    ("h\ue000*", {"h\ue000z"}),
    ("h*", {"h\U0010ffffz", "h\ud7ffz", "h\ue000z"}),
])
def test_a_name_pattern_whose_prefix_ends_in_the_last_characters_is_answered(
        tmp_path, pattern, hosts):
    events = stamped_events([(host, "1700000%03d.250" % serial, serial) for serial, host in
                             enumerate(("h\U0010ffffz", "h\ud7ffz", "h\ue000z", "i"), 1)])
    store = filled(tmp_path / "events.db", events)
    found, counts = store.find(EventFilter(host=pattern), RULES, 0)
    assert {event["host"] for event in found} == hosts and counts["matched"] == len(hosts)
    store.close()
