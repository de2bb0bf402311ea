"""The audit_report options checked before anything is read: time window, limits, rules file."""

from __future__ import annotations

import json
import os
import sys

import pytest

from ansible_collections.whotouched.server_audit.plugins.module_utils._events.report import (
    ReportError,
    check_limits,
    log_files,
    read_rules_file,
    time_window,
)

NOW = 1700000000.0  # 2023-11-14 22:13:20 UTC
RULE = {"id": "listing", "level": "high", "reason": "ls seen", "match": {"program": ["ls"]}}


@pytest.mark.parametrize("since, until, expected", [
    ("2d", "1h", (NOW - 172800, NOW - 3600)),
    ("1h", None, (NOW - 3600, None)),
    (None, "now", (None, NOW)),
    ("now", "now", (NOW, NOW)),
    ("1699999000", "1699999000", (1699999000.0, 1699999000.0)),
    (None, None, (None, None)),
])
def test_time_windows_that_can_match(since, until, expected):
    assert time_window(since, until, now=NOW) == expected


@pytest.mark.parametrize("since, until, message", [
    ("1h", "2d", "since 1h (2023-11-14 21:13:20 UTC) is after until 2d "
                 "(2023-11-12 22:13:20 UTC): no event can match"),
    ("now", "90s", "since now (2023-11-14 22:13:20 UTC) is after until 90s "
                   "(2023-11-14 22:11:50 UTC)"),
    ("1700000001", "1700000000", "since 1700000001 (2023-11-14 22:13:21 UTC) is after until "
                                 "1700000000 (2023-11-14 22:13:20 UTC)"),
    ("yesterday-ish", None, "since: cannot read 'yesterday-ish' as a time"),
    (None, "soon", "until: cannot read 'soon' as a time"),
])
def test_time_windows_refused(since, until, message):
    with pytest.raises(ReportError) as raised:
        time_window(since, until, now=NOW)
    assert message in str(raised.value)


@pytest.mark.parametrize("limit, wait_seconds", [(0, 0.0), (1, 5.0), (1000, 0.5), (None, None)])
def test_limits_accepted(limit, wait_seconds):
    check_limits(limit, wait_seconds)


@pytest.mark.parametrize("limit, wait_seconds, message", [
    (-1, 5.0, "limit must be 0 (all events) or a positive number of events, got -1"),
    (10, -3.0, "wait_seconds must be a number of seconds of 0 or more, got -3.0"),
    (10, float("nan"), "wait_seconds must be a number of seconds of 0 or more, got nan"),
    (10, float("inf"), "wait_seconds must be a number of seconds of 0 or more, got inf"),
])
def test_limits_refused(limit, wait_seconds, message):
    with pytest.raises(ReportError) as raised:
        check_limits(limit, wait_seconds)
    assert str(raised.value) == message


@pytest.mark.parametrize("content, expected", [
    (json.dumps([RULE]), [RULE]),
    ("- id: listing\n  level: high\n  reason: ls seen\n  match: {program: [ls]}\n", [RULE]),
    ("", []),
    ("\n  \n", []),
    ("[]", []),
    ("# only a comment\n", []),
])
def test_rules_files_read(tmp_path, content, expected):
    path = tmp_path / "rules.yml"
    path.write_text(content, encoding="utf-8")
    assert read_rules_file(str(path)) == expected


@pytest.mark.parametrize("make, message", [
    (lambda tmp: tmp, "rules_file {path} is a directory, not a risk rules file"),
    (lambda tmp: tmp / "missing.json", "rules_file {path} does not exist"),
    (lambda tmp: tmp / "missing" / "rules.json", "rules_file {path} does not exist"),
    (lambda tmp: _write(tmp, b"\x1f\x8b\x08\x00binary"),
     "rules_file {path} is not UTF-8 text (byte 1), not a risk rules file"),
    (lambda tmp: _write(tmp, b'{"id": "a"}'), "rules_file {path} must hold a list of rules, "
                                              "it holds a dict"),
    (lambda tmp: _write(tmp, b"just words"), "rules_file {path} must hold a list of rules, "
                                             "it holds a str"),
    (lambda tmp: _write(tmp, b"- id: a\n  match: [unclosed\n"),
     "rules_file {path} is neither JSON nor YAML: "),
])
def test_rules_files_refused(tmp_path, make, message):
    path = make(tmp_path)
    with pytest.raises(ReportError) as raised:
        read_rules_file(str(path))
    assert str(raised.value).startswith(message.format(path=path))


def _write(tmp_path, data):
    path = tmp_path / "rules.json"
    path.write_bytes(data)
    return path


def test_a_rules_file_that_cannot_be_opened_says_why(tmp_path):
    path = _write(tmp_path, b"[]") / "rules.json"
    with pytest.raises(ReportError) as raised:
        read_rules_file(str(path))
    assert str(raised.value) == "rules_file %s cannot be read: Not a directory" % path


def test_yaml_rules_need_pyyaml(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "yaml", None)  # as on a log server without PyYAML
    path = _write(tmp_path, b"- id: listing\n")
    with pytest.raises(ReportError, match="is not JSON, and PyYAML is not installed"):
        read_rules_file(str(path))
    path.write_text(json.dumps([RULE]))
    assert read_rules_file(str(path)) == [RULE]


def test_a_log_path_that_is_missing_or_not_a_file_is_named(tmp_path):
    with pytest.raises(ReportError, match="^path %s does not exist$" % (tmp_path / "gone")):
        log_files(str(tmp_path / "gone"))
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(ReportError, match="^path %s is neither a file nor a directory$" % fifo):
        log_files(str(fifo))


@pytest.mark.parametrize("names", [
    # logrotate's numbers: the highest is the oldest
    ["audit.log.3.gz", "audit.log.2.gz", "audit.log.1", "audit.log"],
    # dateext, as the rsyslog_server role rotates: the earliest date is the oldest
    ["audit.log-20261130.gz", "audit.log-20261203.gz", "audit.log-20261204", "audit.log"],
])
def test_rotations_are_read_oldest_first(tmp_path, names):
    for name in reversed(names):
        (tmp_path / name).write_text("")
    (tmp_path / "notes.txt").write_text("")
    assert log_files(str(tmp_path)) == [str(tmp_path / name) for name in names]
