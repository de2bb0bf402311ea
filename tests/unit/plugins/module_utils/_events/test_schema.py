"""The event schema: what the producers make is exactly the schema, and the consumers read
nothing else."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ansible_collections.whotouched.server_audit.plugins.module_utils._events.assembler import (
    iter_events,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._events.risk import (
    classify,
    compile_risk_rules,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._events.risk_rules import (
    SHIPPED_RISK_RULES,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._events.schema import (
    CLASSIFICATION_KEYS,
    EVENT_KEYS,
    WINDOWS_EVENT_KEYS,
    PathEntry,
    schema_keys,
)
from tests.support.audit_records import evtsys, exec_records, file_records, stored
from tests.support.corpus import corpus_dir

ROOT = Path(__file__).resolve().parents[5]
FIXTURE = Path(__file__).parent / "fixtures" / "audit" / "usermod_sudo.log"
CONSUMERS = ["_events/report.py", "_events/risk.py", "_events/sessions.py",
             "_processor/alert_policy.py", "_processor/wall_screen.py"]


def _events(lines):
    return list(iter_events(lines, fragments=True))


def test_a_recorded_linux_log_gives_events_with_exactly_the_schemas_keys():
    events = _events(FIXTURE.read_text(encoding="utf-8").split("\n"))
    assert {event["kind"] for event in events} >= {"exec", "file"}
    for event in events:
        assert set(event) == EVENT_KEYS, event["record_types"]
        for entry in event["paths"]:
            assert set(entry) == schema_keys(PathEntry)


def test_the_corpus_logs_give_events_with_exactly_the_schemas_keys():
    logs = sorted(corpus_dir().glob("audit-logs/*/*.log"))
    if not logs:
        pytest.skip("no audit logs in %s/audit-logs (set WHOTOUCHED_CORPUS)" % corpus_dir())
    kinds = set()
    for log in logs:
        for event in _events(log.read_text(encoding="utf-8", errors="replace").split("\n")):
            assert set(event) == EVENT_KEYS, (log.name, event["record_types"])
            kinds.add(event["kind"])
    assert kinds >= {"exec", "file", "user", "syscall"}


def test_stored_and_windows_lines_give_the_schemas_keys_and_classify_adds_its_own():
    rules = compile_risk_rules(SHIPPED_RISK_RULES)
    linux = _events(stored(exec_records(["id"]) + file_records("/etc/shadow")))
    windows = _events([evtsys(4625, "An account failed to log on. Subject: Account Name: -")])
    assert [event["kind"] for event in linux + windows] == ["exec", "file", "windows"]
    assert [set(event) for event in linux] == [EVENT_KEYS, EVENT_KEYS]
    assert set(windows[0]) == WINDOWS_EVENT_KEYS > EVENT_KEYS
    for event in linux + windows:
        keys = set(event)
        assert set(classify(event, rules)) == keys | CLASSIFICATION_KEYS


@pytest.mark.parametrize("consumer", CONSUMERS)
def test_consumers_read_only_keys_of_the_schema(consumer):
    source = (ROOT / "plugins" / "module_utils" / consumer).read_text(encoding="utf-8")
    read = set(re.findall(r"\bevent(?:\.get\(|\[)\"(\w+)\"", source))
    assert read, "no event keys read in %s: the pattern no longer finds them" % consumer
    assert read - WINDOWS_EVENT_KEYS - CLASSIFICATION_KEYS == set()


def test_an_alert_carries_only_keys_of_the_schema():
    from ansible_collections.whotouched.server_audit.plugins.module_utils._processor import (
        alert_policy,
    )
    carried = set(alert_policy._EVENT_FIELDS)  # pylint: disable=protected-access
    assert carried and carried - WINDOWS_EVENT_KEYS - CLASSIFICATION_KEYS == set()


def test_the_schema_costs_no_import_of_typing_at_run_time():
    """The processor and the report import the schema; typing would add to their memory."""
    import subprocess
    import sys
    probe = ("import sys; sys.path.insert(0, sys.argv[1]); "
             "import ansible_collections.whotouched.server_audit.plugins.module_utils._events.assembler, "
             "ansible_collections.whotouched.server_audit.plugins.module_utils._events.risk; "
             "print('typing' in sys.modules)")
    from tests.support.collection_path import collections_base
    result = subprocess.run([sys.executable, "-I", "-S", "-c", probe, str(collections_base())],
                            capture_output=True, text=True, check=False)
    assert (result.returncode, result.stdout.strip()) == (0, "False"), result.stderr


@pytest.mark.parametrize("stamp", ["1700000000.123:1", "1700000000.999:2", "1700000000.000:3",
                                   "1700000000.5:4", "1700000000.:5", "1700000000.-12:6",
                                   "1700000000.1234:7", "1700000000.\u0661\u0662\u0663:8",
                                   "0.001:9"])
def test_an_events_time_is_format_time_of_its_epoch(stamp):
    from ansible_collections.whotouched.server_audit.plugins.module_utils._events.records import (
        build_event,
    )
    from ansible_collections.whotouched.server_audit.plugins.module_utils._events.schema import (
        format_time,
    )
    event = build_event(stamp, [("USER_CMD", "pid=1 uid=0 auid=0 ses=1 msg='cmd=6964'")])
    assert event["time"] == format_time(event["epoch"])
