"""The ClickHouse event store on its own, on Debian's clickhouse-server 18.16 (a real server
process) and on a current release (chdb): what goes in comes back whole and inert, commits
carry the resume point, retention drops whole days, the answers equal the SQLite store's, the
schema is created once; on the real server, a password from a file, HTTPS with a CA, and a
server that goes away and comes back with nothing lost."""

from __future__ import annotations

import fnmatch
import json
import os
import random
import re

import pytest

from ansible_collections.whotouched.server_audit.plugins.module_utils._events.report import (
    EventFilter,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._processor.processor import (
    RETRY_SECONDS,
    Processor,
    main,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._processor.rebuild import (
    rebuild,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._processor.settings import (
    ProcessorConfigError,
    read_store_settings,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._store import clickhouse
from ansible_collections.whotouched.server_audit.plugins.module_utils._store.backends import (
    open_store,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._store.base import (
    EventStoreError,
    Ruleset,
    StoreUnavailable,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._store.clickhouse import (
    ClickHouseHttp,
    ClickHouseStore,
    create_schema,
    quote,
    schema_statements,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._store.sqlite import (
    SqliteStore,
)
from tests.support.audit_records import exec_records, stored
from tests.support.clickhouse import WRITER_PASSWORD, ClickHouseServer, new_database
from tests.support.event_store import processor_config
from tests.support.ports import free_port
from tests.support.playbook import run_module
from tests.unit.plugins.module_utils._store.test_sqlite import (
    HOSTILE,
    RULES,
    check_stored_whole_and_inert,
    events_of,
    hostile_events,
)

DAY = 86400.0
NOW = 1700000000.0


def store_on(settings, **options):
    return ClickHouseStore(settings["url"], settings["database"], settings["cluster"],
                           **options)


def filled(settings, events, arrived=NOW, resume=None, **options):
    store = store_on(settings, **options)
    for index, event in enumerate(events):
        store.add(event, arrived + index, RULES.fingerprint)
    store.commit(len(events) if resume is None else resume)
    return store


def test_events_come_back_whole_with_hostile_text_inert(clickhouse):
    events = hostile_events()
    store = filled(new_database(clickhouse), events)
    check_stored_whole_and_inert(store, events)
    store.close()
    with pytest.raises(StoreUnavailable, match="closed"):
        store.dump()


def test_a_commit_carries_the_resume_point_of_its_writer_and_a_rollback_forgets_the_batch(
        clickhouse):
    settings = new_database(clickhouse)
    store = filled(settings, events_of(["id"]), writer="logs-a")
    assert store.resume_point() == 1
    store.add(events_of(["whoami"])[0], NOW, RULES.fingerprint)
    store.rollback()
    store.commit({"offset": 7})
    store.commit(None)  # a rebuild's commit keeps the resume point
    assert [event["argv"] for _arrived, event in store.dump()] == [["id"]]
    # another log server writing into the same tables resumes from its own point
    other = filled(settings, events_of(["uptime"], host="db01"), resume={"offset": 3},
                   writer="logs-b")
    assert store_on(settings, writer="logs-a").resume_point() == {"offset": 7}
    assert store_on(settings, writer="logs-b").resume_point() == {"offset": 3}
    assert store_on(settings, writer="logs-c").resume_point() is None
    assert len(other.dump()) == 2


def test_known_names_the_events_already_stored(clickhouse):
    events = events_of(["id"], ["whoami"], ["uptime"])
    store = filled(new_database(clickhouse), events[:2])
    assert store.known(events) == {0, 1}
    elsewhere = events_of(["id"])[0]
    elsewhere["address"] = "192.0.2.99"
    assert store.known([elsewhere]) == set()  # another sender's
    assert store.known([]) == set()


def test_retention_drops_the_days_of_arrival_that_ended_max_age_days_ago(clickhouse):
    settings = new_database(clickhouse)
    store = store_on(settings, max_age_days=30)
    old, older, recent = events_of(["a"], ["b"], ["c"])
    for event, arrived in ((older, NOW - 40 * DAY), (old, NOW - 31 * DAY),
                           (recent, NOW - 29.9 * DAY)):
        store.add(event, arrived, RULES.fingerprint)
    store.commit(1)
    assert store.prune(NOW) == 1  # the oldest day first, one day a step
    assert store.prune(NOW) == 1
    assert store.prune(NOW) == 0
    assert [event["argv"] for _arrived, event in store.dump()] == [["c"]]
    assert store.counts["pruned"] == 2
    assert store_on(settings, max_age_days=0).prune(NOW + 1000 * DAY) == 0


def test_the_answers_equal_the_sqlite_stores(clickhouse, tmp_path):
    """The same events with the same arrivals in both stores: the same answers, including
    those of the wall screen and for rules other than the ones that classified them."""
    events = (events_of(["deploy.sh", "--now"], ["auditctl", "-D"], ["id"], HOSTILE)
              + events_of(["cat", "/etc/shadow"], ["id"], host="db01"))
    sqlite = SqliteStore(str(tmp_path / "events.db"))
    store = store_on(new_database(clickhouse), writer="logs-a")
    for target in (sqlite, store):
        for index, event in enumerate(events):
            target.add(event, NOW + 90 * index, RULES.fingerprint)
        target.commit(1)
    site = Ruleset.load([{"id": "site-deploy", "level": "high", "reason": "deploy by hand",
                          "match": {"program": ["deploy.sh"]}}])
    for rules in (RULES, site):
        for question in ({}, {"min_level": "high"}, {"host": "db0?"}, {"min_level": "medium",
                                                                       "host": "w*"}):
            for limit in (0, 2):
                assert store.find(EventFilter(**question), rules, limit) == \
                    sqlite.find(EventFilter(**question), rules, limit), (question, limit)
    levels = {event["argv"][0]: event["level"] for event in store.find(EventFilter(), site, 0)[0]}
    assert levels["deploy.sh"] == "high"
    for since in (NOW - 1, NOW + 200):
        mine, theirs = (target.wall_history(since, 60, 3, 3, 10) for target in (store, sqlite))
        for history in (mine, theirs):
            history["activity"].sort(key=repr)
        assert mine == theirs
    sqlite.close()


PATTERN_ALPHABET = "ab*?[]!-.\\^$()|+{}\u00e9\u4e2d\n"


def test_name_patterns_match_as_fnmatch_does(clickhouse):
    """Random fnmatch patterns and names through the engine's match(): exactly fnmatch's
    answer where the translation says it is exact, at least its matches everywhere."""
    chooser = random.Random(20)
    cases = []
    for _round in range(300):
        pattern = "".join(chooser.choice(PATTERN_ALPHABET)
                          for _place in range(chooser.randint(1, 6)))
        names = ["".join(chooser.choice(PATTERN_ALPHABET.replace("*", "").replace("?", ""))
                         for _place in range(chooser.randint(1, 6))) for _name in range(3)]
        # and names that fnmatch matches, so that matches are not rare
        names.append(re.sub(r"[*?]|\[[^]]*\]", "a", pattern))
        regex, exact = clickhouse_regex(pattern)
        cases.extend((pattern, name, regex, exact) for name in names)
    http = ClickHouseHttp(clickhouse.url, "default")
    answers = []
    for start in range(0, len(cases), 200):
        chunk = cases[start:start + 200]
        answers += http.all("SELECT %s" % ", ".join(
            "match(%s, %s)" % (quote(name), quote(regex)) for _p, name, regex, _e in chunk))[0]
    assert len(answers) == len(cases)
    matched = 0
    for (pattern, name, _regex, exact), answer in zip(cases, answers):
        expected = fnmatch.fnmatchcase(name, pattern)
        matched += expected
        if exact:
            assert (answer == "1") == expected, (pattern, name)
        elif expected:
            assert answer == "1", (pattern, name)
    assert matched > 100


def clickhouse_regex(pattern):
    return clickhouse._pattern_regex(pattern)  # pylint: disable=protected-access


def test_the_schema_is_created_once_and_a_store_without_it_names_the_file(clickhouse):
    settings = read_store_settings({"backend": "clickhouse", "url": clickhouse.url,
                                    "database": "fresh_%d" % random.randrange(10 ** 9)})
    with pytest.raises(StoreUnavailable, match="no table .*events.*clickhouse-schema-1.sql"):
        open_store(settings)
    assert create_schema(settings) == ["events", "writers"]
    assert create_schema(settings) == []
    open_store(settings).close()


def test_the_cluster_form_declares_the_one_server_forms_columns():
    def columns(statement):
        body = statement[statement.index("(") + 1:statement.rindex(") ENGINE")]
        return [line.split()[0] for line in body.splitlines() if line.strip()]

    single = schema_statements("", "db")
    cluster = schema_statements("c1", "db")
    assert [columns(statement) for statement in single if "TABLE" in statement] == [
        list(clickhouse.EVENT_COLUMNS), list(clickhouse.WRITER_COLUMNS)]
    assert [columns(statement) for statement in cluster if "_local ON" in statement] == [
        list(clickhouse.EVENT_COLUMNS), list(clickhouse.WRITER_COLUMNS)]
    assert all(" ON CLUSTER c1" in statement for statement in cluster)
    assert not any("TTL" in statement for statement in single + cluster)


def test_the_cluster_forms_statements_parse_on_both_generations(clickhouse):
    """Sent as they are, each is refused for want of a cluster (no ZooKeeper, no distributed
    DDL here), never for its syntax (ClickHouse's code 62), as a broken one is."""
    http = ClickHouseHttp(clickhouse.url, "default")
    for statement in schema_statements("whotouched_test", "syntax_only") + ["CREATE TABLE ("]:
        with pytest.raises(StoreUnavailable) as refused:
            http.execute(statement)
        assert ("Code: 62" in str(refused.value)) == (statement == "CREATE TABLE ("), (
            statement, str(refused.value))


def test_the_same_queries_answer_through_distributed_tables(clickhouse_server):
    """The cluster form's distributed tables over local tables, on the real 18.16 server (a
    one-shard cluster of itself; replication needs ZooKeeper, which the test has not)."""
    database = "cluster_%d" % random.randrange(10 ** 9)
    http = ClickHouseHttp(clickhouse_server.url, "default")
    for statement in schema_statements("whotouched_test", database):
        statement = re.sub(r" ON CLUSTER whotouched_test", "", statement)
        statement = re.sub(r"ReplicatedMergeTree\([^)]*'\{replica\}'\)", "MergeTree", statement)
        statement = re.sub(r"ReplicatedReplacingMergeTree\([^)]*'\{replica\}', (\w+)\)",
                           r"ReplacingMergeTree(\1)", statement)
        http.execute(statement)
    settings = {"url": clickhouse_server.url, "database": database, "cluster": "whotouched_test"}
    events = events_of(["id"], HOSTILE, ["auditctl", "-D"])
    store = filled(settings, events, resume={"offset": 9})
    assert [event for _arrived, event in store.dump()] == events
    assert store.resume_point() == {"offset": 9} and store.known(events) == {0, 1, 2}
    assert store.find(EventFilter(min_level="high"), RULES, 0)[1]["matched"] == 1
    assert http.all("SELECT count() FROM %s.events_local" % database) == [["3"]]


@pytest.mark.parametrize("settings, says", [
    ({"url": "ftp://x"}, "store.url must be an http"),
    ({"url": "http://x", "database": "a;b"}, "store.database must be a ClickHouse name"),
    ({"url": "http://x", "cluster": "c d"}, "store.cluster must be a ClickHouse name"),
    ({"url": "http://x", "credentials_file": "relative"}, "store.credentials_file must be an "
                                                          "absolute path"),
    ({"url": "http://x", "ca_file": "/nonexistent/ca.pem"}, "store.ca_file"),
    ({"url": "http://x", "timeout": 0}, "store.timeout must be a number"),
    ({"url": "http://x", "writer": "a b"}, "store.writer must be printable"),
])
def test_bad_settings_are_named(settings, says):
    with pytest.raises(ProcessorConfigError, match=re.escape(says)):
        read_store_settings(dict({"backend": "clickhouse"}, **settings))


def test_a_credentials_file_must_be_a_regular_file_with_a_user(tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(str(fifo))
    with pytest.raises(EventStoreError, match="fifo.*FIFO"):
        clickhouse.read_credentials(str(fifo))  # refused at once, not waited on
    (tmp_path / "empty").write_text("")
    with pytest.raises(EventStoreError, match="user name"):
        clickhouse.read_credentials(str(tmp_path / "empty"))
    (tmp_path / "good").write_text("writer\npass:word\n")
    assert clickhouse.read_credentials(str(tmp_path / "good")) == ("writer", "pass:word")
    assert clickhouse.read_credentials("") is None


def test_an_unreachable_server_is_named():
    port = free_port()  # nothing listens there
    with pytest.raises(StoreUnavailable, match="ClickHouse 127.0.0.1:%d .*cannot be reached"
                       % port):
        ClickHouseStore("http://127.0.0.1:%d/" % port, timeout=2)


# ---------------------------------------------------------------- the real server alone


def test_a_password_from_a_file_and_https_with_a_ca(clickhouse_server, tmp_path):
    credentials = tmp_path / "credentials"
    credentials.write_text("writer\n%s\n" % WRITER_PASSWORD)
    settings = new_database(clickhouse_server)
    over_tls = read_store_settings(dict(settings, url=clickhouse_server.https_url,
                                        credentials_file=str(credentials),
                                        ca_file=clickhouse_server.ca_file))
    store = open_store(over_tls)
    store.add(events_of(["id"])[0], NOW, RULES.fingerprint)
    store.commit(1)
    assert [event["argv"] for _arrived, event in open_store(over_tls).dump()] == [["id"]]
    (tmp_path / "wrong").write_text("writer\nnot the password\n")
    with pytest.raises(StoreUnavailable, match="refused a request .*(assword|uthentication)"):
        open_store(dict(over_tls, credentials_file=str(tmp_path / "wrong")))
    # a server whose certificate the system's CAs did not sign is refused
    with pytest.raises(StoreUnavailable, match="CERTIFICATE_VERIFY_FAILED"):
        open_store(dict(over_tls, ca_file=None))


def test_while_clickhouse_is_away_lines_are_refused_and_none_is_lost(tmp_path):
    """The processor on a real server that stops and starts again (same ports, same data):
    refused lines while it is away, then every event once."""
    server = ClickHouseServer(tmp_path / "server")
    try:
        store = new_database(server)
        now = [1000.0]
        log = []
        processor = Processor(processor_config(tmp_path, store=store), workers=[],
                              clock=lambda: now[0], log=log.append)
        first = stored(exec_records(["id"], serial=1, epoch="1700000001.000"))
        second = stored(exec_records(["whoami"], serial=2, epoch="1700000002.000"))
        for line in first:
            assert processor.handle_line(line)
        server.stop()
        processor.tick()  # the commit fails: lines are refused from now on
        assert processor.trouble and "cannot be reached" in processor.trouble
        assert not processor.handle_line(second[0])
        server.start()
        now[0] += RETRY_SECONDS
        for line in second:  # rsyslog offers them again
            assert processor.handle_line(line)
        processor.close()
        reader = open_store(store, readonly=True)
        assert [event["argv"] for _arrived, event in reader.dump()] == [["id"], ["whoami"]]
        assert any("work again" in message for message in log)
    finally:
        server.stop()


def test_the_processor_creates_the_schema_once_when_asked(clickhouse_server, tmp_path, capfd):
    """``--create-schema`` (what the rsyslog_server role runs), with the password from a
    file; a store that is not ClickHouse's has nothing to create."""

    credentials = tmp_path / "credentials"
    credentials.write_text("writer\n%s\n" % WRITER_PASSWORD)
    config = tmp_path / "processor.json"
    store = {"backend": "clickhouse", "url": clickhouse_server.url,
             "database": "made_%d" % random.randrange(10 ** 9),
             "credentials_file": str(credentials)}
    config.write_text(json.dumps({"store": store, "journal": str(tmp_path / "journal")}))
    answers = []
    for _run in range(2):
        assert main(["--create-schema", str(config)]) == 0
        answers.append(json.loads(capfd.readouterr().out))
    assert answers == [{"created": ["events", "writers"]}, {"created": []}]
    config.write_text(json.dumps({"store": dict(store, url="http://127.0.0.1:%d/"
                                                % free_port())}))
    assert main(["--create-schema", str(config)]) == 2
    assert "cannot be reached" in capfd.readouterr().err
    config.write_text(json.dumps({"store": {"path": str(tmp_path / "events.db")}}))
    assert main(["--create-schema", str(config)]) == 2
    assert "sqlite store has no schema" in capfd.readouterr().err


def test_numbers_beyond_the_columns_neither_stop_the_processor_nor_hide_other_events(
        clickhouse, tmp_path):
    """A compromised client's serial, session and ids past 64 bits: stored and found whole,
    and the events around them too."""
    huge = 10 ** 25
    lines = (stored(exec_records(["id"], serial=1, epoch="1700000001.000"))
             + stored(exec_records(["sh", "-c", "x"], serial=99999999999999999999,
                                   epoch="1700000002.000", ses=huge, auid=huge))
             + stored(exec_records(["whoami"], serial=3, epoch="1700000003.000")))
    store = new_database(clickhouse)
    processor = Processor(processor_config(tmp_path, store=store), workers=[],
                          log=lambda _message: None)
    for line in lines:
        assert processor.handle_line(line)
    processor.close()
    assert processor.trouble is None
    reader = open_store(store, readonly=True)
    found = reader.find(EventFilter(), RULES, 0)[0]
    assert [event["argv"][0] for event in found] == ["id", "sh", "whoami"]
    assert (found[1]["serial"], found[1]["session"]) == (99999999999999999999, huge)
    assert reader.find(EventFilter(session=huge), RULES, 0)[0] == [found[1]]


def test_a_rebuild_from_the_stored_files_stores_each_event_once(clickhouse, tmp_path):
    """--rebuild into ClickHouse, twice, beside what the processor stored: nothing twice,
    and the processor's resume point left as it was."""
    lines = []
    for serial, argv in enumerate((["id"], ["uptime"], ["auditctl", "-D"]), 1):
        lines += stored(exec_records(argv, serial=serial, epoch="1700000%03d.250" % serial))
    (tmp_path / "audit.log").write_text("\n".join(lines) + "\n")
    settings = new_database(clickhouse)
    running = filled(settings, events_of(["id"]), resume={"offset": 42})
    counts = [rebuild(open_store(settings), [str(tmp_path / "audit.log")], RULES,
                      now=lambda: 1700000100.0)  # within retention (of arrival days)
              for _run in range(2)]
    assert [(count["stored"], count["already_stored"]) for count in counts] == [(2, 1), (0, 3)]
    assert [event["argv"][0] for _arrived, event in running.dump()] == [
        "id", "uptime", "auditctl"]
    assert running.resume_point() == {"offset": 42}


def test_audit_report_run_by_ansible_asks_clickhouse(clickhouse_server, tmp_path):
    """The module as Ansible ships it (the store's code among its module_utils), with the
    password from the credentials file the processor's configuration names."""
    credentials = tmp_path / "credentials"
    credentials.write_text("writer\n%s\n" % WRITER_PASSWORD)
    store = dict(new_database(clickhouse_server), credentials_file=str(credentials))
    filled(store, events_of(["id"], HOSTILE, ["auditctl", "-D"]))
    config = tmp_path / "alert-processor.json"
    config.write_text(json.dumps({"store": store}))
    result = run_module("audit_report", {"store_config": str(config), "source": "store",
                                         "min_level": "high"})
    assert not result.get("failed"), result
    assert result["source"] == "store"
    assert [event["argv"] for event in result["events"]] == [["auditctl", "-D"]]
