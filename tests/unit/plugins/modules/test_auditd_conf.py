"""auditd_conf's main() in this process: the result JSON and the file, for each outcome."""

from __future__ import annotations

import pytest

from ansible_collections.whotouched.server_audit.plugins.modules import auditd_conf
from tests.support.module_main import run_main

AUDITD_CONF = b"# auditd's own comment\nlocal_events = yes\nnum_logs = 5\nflush = INCREMENTAL_ASYNC\n"


def _run(path, check=False, **args):
    return run_main(auditd_conf, dict({"path": str(path)}, **args), check=check, diff=True)


def test_keys_are_set_in_one_call_and_a_rerun_changes_nothing(tmp_path):
    conf = tmp_path / "auditd.conf"
    conf.write_bytes(AUDITD_CONF)
    settings = {"num_logs": 4, "flush": "incremental_async", "freq": 1}
    status, result = _run(conf, settings=settings)
    assert (status, result["changed"]) == (0, True)
    assert conf.read_bytes() == AUDITD_CONF.replace(b"num_logs = 5", b"num_logs = 4") + b"freq = 1\n"
    assert result["added"] == ["num_logs = 4", "freq = 1"] and result["removed"] == ["num_logs = 5"]
    assert result["diff"]["before"] == AUDITD_CONF.decode()
    assert result["settings"] == {"num_logs": "4", "flush": "INCREMENTAL_ASYNC", "freq": "1"}
    again_status, again = _run(conf, settings=settings)
    assert (again_status, again["changed"], again["added"]) == (0, False, [])


def test_check_mode_predicts_the_change_and_writes_nothing(tmp_path):
    conf = tmp_path / "syslog.conf"
    conf.write_bytes(b"active = yes\nargs = LOG_INFO\n")
    status, result = _run(conf, check=True, syntax="plugin",
                          settings={"active": False, "args": "LOG_INFO LOG_LOCAL6"})
    assert (status, result["changed"]) == (0, True)
    assert result["diff"]["after"] == "active = no\nargs = LOG_INFO LOG_LOCAL6\n"
    assert conf.read_bytes() == b"active = yes\nargs = LOG_INFO\n"


def test_absent_removes_the_keys_lines(tmp_path):
    conf = tmp_path / "audispd.conf"
    conf.write_bytes(b"q_depth = 250\nname_format = HOSTNAME\n")
    status, result = _run(conf, syntax="audispd", state="absent", settings={"q_depth": None})
    assert (status, result["removed"]) == (0, ["q_depth = 250"])
    assert conf.read_bytes() == b"name_format = HOSTNAME\n"


@pytest.mark.parametrize("args, message", [
    ({"settings": {"num_logs": 1000, "flush": "often"}},
     "auditd.conf: num_logs = 1000 must be a whole number from 0 to 999; auditd.conf: flush = often"),
    ({"settings": {"numlogs": 4}}, "auditd.conf has no key numlogs"),
    ({"settings": {"q_depth": 10}, "state": "absent", "syntax": "plugin"}, "a plugin's file has no key q_depth"),
    ({"settings": {"num_logs": 4}, "mode": "banana"}, "was not changed: mode banana is neither octal"),
    ({"settings": {"num_logs": 4}, "state": "absent", "exclusive": True},
     "exclusive=true only makes sense with state=present"),
])
def test_a_refusal_names_what_is_wrong_and_leaves_the_file(tmp_path, args, message):
    conf = tmp_path / "auditd.conf"
    conf.write_bytes(AUDITD_CONF)
    status, result = _run(conf, **args)
    assert status == 1 and result["failed"] is True
    assert message in result["msg"]
    assert conf.read_bytes() == AUDITD_CONF
    assert sorted(path.name for path in tmp_path.iterdir()) == ["auditd.conf"]
