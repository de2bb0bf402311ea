"""The alert processor: its configuration, its line reader, and the omprog protocol."""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import time

import pytest

from ansible_collections.whotouched.server_audit.plugins.module_utils._processor.processor import (
    LineReader,
    Processor,
    lowest_level,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._processor.settings import (
    ProcessorConfigError,
    read_config,
)
from tests.support.collection_path import ROOT, collections_base
from tests.support.audit_records import exec_records, stored
from tests.support.event_store import processor_config as config_with, stored_events

ENTRY = ROOT / "roles" / "rsyslog_server" / "files" / "whotouched-alert-processor.py"


def test_defaults_are_filled():
    config = read_config({})
    assert (config["store"]["backend"], config["store"]["path"]) == (
        "sqlite", "/var/lib/whotouched/events.db")
    assert config["journal"] == "/var/lib/whotouched/processor.journal"
    assert config["wait_seconds"] == 5.0 and config["dedup_window"] == 300.0
    assert config["webhooks"] == [] and config["smtp"] is None and config["sms"] is None
    assert config["wall"]["address"] == "127.0.0.1" and config["wall"]["enabled"] is False


@pytest.mark.parametrize("mapping, says", [
    ([], "must be a JSON object"),
    ({"webhook": []}, "unknown setting webhook"),
    ({"store": {"path": "events.db"}}, "store.path must be an absolute path"),
    ({"store": {"keep": 0}}, "store.keep must be a whole number of at least 1"),
    ({"store": {"size": 1}}, "store: unknown setting size"),
    ({"store": {"backend": "mysql"}}, "store.backend must be one of sqlite, jsonl"),
    ({"store": {"max_age_days": -1}}, "store.max_age_days must be a number of at least 0"),
    ({"store": {"backend": "jsonl", "max_bytes": 4096}}, r"store.max_bytes \(jsonl\)"),
    ({"journal": "processor.journal"}, "journal must be an absolute path"),
    ({"journal": "/var/lib/whotouched/events.db"}, "journal must be another file"),
    ({"rebuild_files": ["../audit.log"]}, "rebuild_files must be a list of file names"),
    ({"rate_limit": 0}, "rate_limit"),
    ({"dedup_window": "5m"}, "dedup_window must be a number"),
    ({"webhooks": [{"url": "ftp://x"}]}, r"webhooks\[0\].url must be an http"),
    ({"webhooks": [{"url": "http://"}]}, r"webhooks\[0\].url must name a host"),
    ({"webhooks": [{"url": "https://:8443/hook"}]}, r"webhooks\[0\].url must name a host"),
    ({"webhooks": [{"url": "http://hooks:99999/"}]}, r"webhooks\[0\].url must name a port"),
    ({"webhooks": [{"url": "http://hooks:0/"}]}, r"webhooks\[0\].url must name a port"),
    ({"webhooks": [{"url": "http://[::1/"}]}, r"webhooks\[0\].url must name a port"),
    ({"webhooks": [{"url": "https://u:pw@hooks/x"}]},
     r"webhooks\[0\].url must not hold credentials \(they would not be sent\), "
     r"got https://hooks/x$"),
    ({"webhooks": [{"url": "http://hooks/", "timeout": float("nan")}]},
     r"webhooks\[0\].timeout must be a number of at least 0.1 and at most 3600, got nan"),
    ({"webhooks": [{"url": "http://hooks/", "timeout": 1e12}]}, r"webhooks\[0\].timeout"),
    ({"smtp": {"host": "mail", "from": "a@b", "to": ["a@b"], "timeout": float("inf")}},
     "smtp.timeout must be a number of at least 0.1 and at most 3600"),
    ({"store": {"max_age_days": float("nan")}}, "store.max_age_days must be a number"),
    ({"sms": {"gateway_url": "https://sms.example:x/"}}, "sms.gateway_url must name a port"),
    ({"webhooks": [{}]}, r"webhooks\[0\].url is required"),
    ({"webhooks": [{"url": "http://127.0.0.1/", "min_level": "urgent"}]},
     r"webhooks\[0\].min_level must be one of info, low, medium, high, critical"),
    ({"smtp": {"host": "mail", "from": "a@b", "to": []}}, "smtp.to must be a non-empty list"),
    ({"smtp": {"host": "mail", "from": "nobody", "to": ["a@b"]}}, "smtp.from"),
    ({"smtp": {"from": "a@b", "to": ["a@b"]}}, "smtp.host is required"),
    ({"sms": {"min_level": "high"}}, "exactly one of gateway_url and command"),
    ({"sms": {"command": ["send-sms", "{text}"]}}, r"sms.command\[0\] must be an absolute"),
    ({"sms": {"command": "/bin/send {text}"}}, "sms.command must be a list of strings"),
    ({"sms": {"command": ["/bin/send", "{body}"]}}, r"sms.command\[1\]: unknown placeholder"),
    ({"sms": {"gateway_url": "https://sms.example/", "gateway_params": {"m": "{msg}"}}},
     "sms.gateway_params.m: unknown placeholder"),
    ({"wall": {"port": 0}}, "wall.port"),
    ({"wall": {"token": "two words"}}, "wall.token"),
    ({"wall": {"token": "caf\u00e9"}}, "wall.token"),
])
def test_bad_settings_are_named(mapping, says):
    with pytest.raises(ProcessorConfigError, match=says):
        read_config(mapping)


def test_line_reader_gives_whole_lines_and_empties_oversized_ones():
    read_fd, write_fd = os.pipe()
    reader = LineReader(read_fd, max_line=10)
    try:
        os.write(write_fd, b"one\ntw")
        assert reader.read() == ["one"]
        os.write(write_fd, b"o\n" + b"x" * 30)
        assert reader.read() == ["two"]
        os.write(write_fd, b"x" * 30 + b"\nthree\xff\nfour")
        # the long line still counts as one line (it must be confirmed), its text is dropped
        assert reader.read() == ["", "three\ufffd"]
        os.close(write_fd)
        write_fd = None
        assert reader.read() == ["four"] and reader.eof
    finally:
        os.close(read_fd)
        if write_fd is not None:
            os.close(write_fd)


class Recorder(object):
    """A sink worker stand-in that keeps what it is offered (no network in unit tests)."""

    def __init__(self, min_level):
        self.min_level = min_level
        self.offered = []

    def offer(self, alert):
        self.offered.append(alert)
        return True

    def close(self, _seconds):
        pass


def test_lowest_level_of_the_sinks():
    assert lowest_level([Recorder("critical"), Recorder("medium")]) == "medium"
    assert lowest_level([]) == "critical"


def test_processor_stores_every_event_and_alerts_once_per_window(tmp_path):
    now = [1000.0]
    recorder = Recorder("high")
    processor = Processor(config_with(tmp_path, dedup_window=60, rate_limit=10),
                          workers=[recorder], clock=lambda: now[0])
    lines = stored(exec_records(["ls", "-l"], serial=1)) + \
        stored(exec_records(["auditctl", "-D"], serial=2)) + \
        stored(exec_records(["auditctl", "-D"], serial=3)) + ["garbage", ""]
    for line in lines:
        assert processor.handle_line(line)
    # alerts follow the batch's commit to the store
    assert recorder.offered == []
    processor.commit()
    assert [alert["kind"] for alert in recorder.offered] == ["event"]
    now[0] += 61
    processor.tick()
    assert [(alert["kind"], alert["count"]) for alert in recorder.offered] == [
        ("event", 1), ("repeat", 1)]
    processor.close()
    events = stored_events(tmp_path / "events.db")
    assert [(event["argv"], event["level"]) for event in events] == [
        (["ls", "-l"], "info"), (["auditctl", "-D"], "critical"),
        (["auditctl", "-D"], "critical")]
    assert events[1]["rules"] == ["audit-rules-deleted"]
    assert processor.assembler.counts["malformed"] == 1


def test_a_lone_event_is_given_out_within_twice_wait_seconds_and_a_newer_one_waits(tmp_path):
    now = [0.0]
    processor = Processor(config_with(tmp_path, wait_seconds=5), workers=[],
                          clock=lambda: now[0])
    # a whole event: this sender's kernel writes PROCTITLE records
    for line in stored(exec_records(["true"], serial=6)):
        processor.handle_line(line)
    # events' records without their PROCTITLE: nothing completes them, and they lack it
    for line in stored(exec_records(["auditctl", "-e", "0"], serial=7))[:-1]:
        processor.handle_line(line)
    for moment in (0.0, 4.9, 5.0, 9.9):
        now[0] = moment
        processor.tick()
        assert processor.assembler.pending == 1, moment
    now[0] = 10.0
    processor.tick()
    assert processor.assembler.pending == 0 and processor.counts["released"] == 1
    # opened just after a release: it waits its whole time too
    for line in stored(exec_records(["id"], serial=8))[:-1]:
        processor.handle_line(line)
    now[0] = 15.0
    processor.tick()
    assert processor.assembler.pending == 1
    now[0] = 20.0
    processor.tick()
    assert processor.assembler.pending == 0 and processor.counts["released"] == 2
    processor.commit()
    events = stored_events(tmp_path / "events.db")
    assert [(event["argv"], event["level"], event["complete"]) for event in events] == [
        (["true"], "info", True), (["auditctl", "-e", "0"], "critical", False),
        (["id"], "info", False)]
    processor.close()


def _start(tmp_path, mapping, *options):
    config = tmp_path / "processor.json"
    config.write_text(json.dumps(mapping))
    env = dict(os.environ, PYTHONPATH=str(collections_base()))
    return subprocess.Popen([sys.executable, str(ENTRY)] + list(options) + [str(config)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env)


def _reply(process, seconds=10.0):
    ready = select.select([process.stdout], [], [], seconds)[0]
    assert ready, "no reply from the processor in %s s" % seconds
    return process.stdout.readline()


def test_omprog_protocol_ok_when_ready_then_ok_per_line(tmp_path):
    store = tmp_path / "events.db"
    process = _start(tmp_path, {"store": {"path": str(store)},
                                "journal": str(tmp_path / "processor.journal"),
                                "wait_seconds": 1})
    try:
        assert _reply(process) == b"OK\n"
        lines = stored(exec_records(["auditctl", "-D"], serial=1)) + ["not a record"] + \
            stored(exec_records(["useradd", "eve"], serial=2))[:-1]
        for line in lines:
            process.stdin.write(line.encode("utf-8") + b"\n")
            process.stdin.flush()
            assert _reply(process) == b"OK\n", line
        # the second event has no PROCTITLE: it comes out by time, with no further line
        deadline = time.monotonic() + 20
        while len(stored_events(store)) < 2:
            assert time.monotonic() < deadline, stored_events(store)
            time.sleep(0.1)
        process.stdin.close()
        assert process.wait(20) == 0
        assert process.stdout.read() == b""
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    events = stored_events(store)
    assert [(event["argv"], event["level"]) for event in events] == [
        (["auditctl", "-D"], "critical"), (["useradd", "eve"], "medium")]
    log = process.stderr.read().decode()
    assert "ready:" in log and "stopped (end of input):" in log


@pytest.mark.parametrize("options", [(), ("--check",)])
@pytest.mark.parametrize("mapping, says", [
    ({"webhooks": [{"url": "gopher://x"}]},
     b"webhooks[0].url must be an http:// or https:// URL"),
    ({"rules": [{"id": "mine", "level": "loud", "reason": "x", "match": {"key": "k"}}]},
     b"rule mine: level must be one of"),
])
def test_a_bad_configuration_stops_before_ok_with_the_reason(tmp_path, options, mapping, says):
    process = _start(tmp_path, mapping, *options)
    out, err = process.communicate(timeout=20)
    assert process.returncode == 2 and out == b""
    assert says in err


def test_check_accepts_a_good_configuration_and_starts_nothing(tmp_path):
    process = _start(tmp_path, {"store": {"path": str(tmp_path / "events.db")},
                                "journal": str(tmp_path / "processor.journal"),
                                "rules": [{"id": "mine", "level": "high", "reason": "x",
                                           "match": {"key": "k"}}]}, "--check")
    out, err = process.communicate(timeout=20)
    assert (process.returncode, out, err) == (0, b"", b"")
    assert os.listdir(tmp_path) == ["processor.json"]


HEALTH = ("type=USER msg=audit(%s:%d): pid=726 uid=0 auid=4294967295 ses=4294967295 "
          "msg='op=whotouched-audit-health lost=%d lost_total=%d since=%s backlog=0 "
          "backlog_limit=8192 backlog_wait_time=60000 logging_suspended=no plugin_overflow=no res=success'")


def test_a_senders_loss_is_stored_alerted_and_shown_and_its_heartbeat_only_stored(tmp_path):
    from ansible_collections.whotouched.server_audit.plugins.module_utils._processor.wall_screen import (
        WallState,
    )
    recorder = Recorder("info")  # a sink of every level: the heartbeat is no alert either
    wall = WallState(now=lambda: 1700000000.0)
    processor = Processor(config_with(tmp_path), workers=[recorder], wall_state=wall, clock=lambda: 1000.0)
    for line in stored([HEALTH % ("1699999700.000", 1, 0, 40, "1699999400.000"),
                        HEALTH % ("1700000000.123", 2, 12, 52, "1699999700.000")]):
        processor.handle_line(line)
    processor.close()
    (alert,) = recorder.offered
    assert alert["event"]["kind"] == "loss" and alert["event"]["loss"]["lost"] == 12
    assert [event["kind"] for event in stored_events(tmp_path / "events.db")] == ["health", "loss"]
    shown = wall.snapshot()
    assert [row["what"] for row in shown["events"]] == [
        "lost 12 audit events between 2023-11-14 22:08:20 and 2023-11-14 22:13:20 (kernel backlog full or rate limit)"]
    # a loss has no login session: it goes with its sender's events
    assert [(row["kind"], row["level"]) for row in shown["sessions"]] == [("host", "high")]


def test_an_acknowledgment_on_the_wall_screen_is_written_to_the_processors_log(tmp_path):
    from ansible_collections.whotouched.server_audit.plugins.module_utils._processor.processor import (
        _start_wall,
    )
    logged = []
    config = config_with(tmp_path, wall={"enabled": True, "port": 1})
    config["wall"]["port"] = 0  # a free one
    state, server = _start_wall(config, log=logged.append)
    processor = Processor(config, workers=[], wall_state=state)
    try:
        for line in stored(exec_records(["auditctl", "-D"], login_name="mallory")):
            processor.handle_line(line)
        processor.close()
        item = state.acknowledge(state.snapshot()["open"][0]["id"], "Erin", "127.0.0.1")
    finally:
        server.shutdown()
    assert logged == ["wall screen: %s acknowledged by Erin from 127.0.0.1 at %s "
                      "(audit-rules-deleted on web01, mallory)" % (item["id"], item["ack"]["at"])]
