"""rsyslog_filter's main() in this process: the result JSON and the file, for each outcome.

Validation by rsyslogd is off here (``validate: false``); the system tests run it for real.
"""

from __future__ import annotations

import pytest

from ansible_collections.whotouched.server_audit.plugins.modules import rsyslog_filter
from tests.support.module_main import run_main

STOP_PATH = ':msg, contains, "type=PATH" stop'
OWNED = b"# owned by someone else\r\n:msg, contains, \"keep\" stop\n"


def _run(path, check=False, **args):
    return run_main(rsyslog_filter, dict({"path": str(path), "validate": False}, **args),
                    check=check, diff=True)


def test_a_new_rule_is_appended_and_reported(tmp_path):
    drop_in = tmp_path / "10-audit.conf"
    drop_in.write_bytes(OWNED)
    status, result = _run(drop_in, filters=[STOP_PATH, "*.* @@127.0.0.1:6514"])
    assert status == 0 and result["changed"] is True
    assert result["filters"][0] == STOP_PATH
    assert result["filters"][1].startswith('*.* action(type="omfwd" target="127.0.0.1" '
                                           'port="6514" protocol="tcp"')
    assert result["added"] == result["filters"] and result["removed"] == []
    assert result["diff"]["before"] == OWNED.decode()
    assert drop_in.read_bytes().decode() == result["diff"]["after"]
    assert drop_in.read_bytes().startswith(OWNED)
    again_status, again = _run(drop_in, filters=[STOP_PATH, "*.* @@127.0.0.1:6514"])
    assert (again_status, again["changed"], again["added"]) == (0, False, [])


def test_absent_removes_every_spelling_of_the_rule(tmp_path):
    drop_in = tmp_path / "10-audit.conf"
    drop_in.write_bytes(OWNED)
    status, result = _run(drop_in, filters=['if $msg contains "keep" then stop'],
                          state="absent")
    assert (status, result["changed"]) == (0, True)
    assert result["removed"] == [':msg, contains, "keep" stop']
    assert drop_in.read_bytes() == b"# owned by someone else\r\n"


def test_check_mode_reports_the_change_and_writes_nothing(tmp_path):
    drop_in = tmp_path / "10-audit.conf"
    status, result = _run(drop_in, check=True, filters=[STOP_PATH])
    assert (status, result["changed"]) == (0, True)
    assert result["diff"]["after"] == STOP_PATH + "\n"
    assert not drop_in.exists()


@pytest.mark.parametrize("make, args, message", [
    (lambda path: path.mkdir(), {"filters": [STOP_PATH]},
     "{path} is a directory, not an rsyslog configuration file"),
    (lambda path: path.write_bytes(OWNED), {"filters": [STOP_PATH], "state": "absent",
                                            "exclusive": True},
     "exclusive=true only makes sense with state=present"),
    (lambda path: path.write_bytes(OWNED), {"filters": ["*.* @@127.0.0.1:70000"]},
     "filters[1]: forward to 127.0.0.1: port 70000 is out of range (1-65535)"),
    (lambda path: path.write_bytes(OWNED), {"filters": [STOP_PATH], "backup": True,
                                            "mode": "banana"},
     "{path} was not changed: mode banana is neither octal"),
])
def test_a_refusal_names_what_is_wrong_and_leaves_the_target(tmp_path, make, args, message):
    drop_in = tmp_path / "10-audit.conf"
    make(drop_in)
    before = drop_in.read_bytes() if drop_in.is_file() else None
    status, result = _run(drop_in, **args)
    assert status == 1 and result["failed"] is True
    assert message.format(path=drop_in) in result["msg"]
    assert (drop_in.read_bytes() if drop_in.is_file() else None) == before
    assert sorted(path.name for path in tmp_path.iterdir()) == ["10-audit.conf"]
