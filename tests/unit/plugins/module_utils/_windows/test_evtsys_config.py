"""evtsys.cfg and the EvtSys registry values, for the role's defaults and for custom lists."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from ansible_collections.whotouched.server_audit.plugins.module_utils._windows import evtsys_config as ec
from ansible_collections.whotouched.server_audit.plugins.module_utils._windows import audit_policy as wap

ROLE_DEFAULTS = Path(__file__).resolve().parents[5] / "roles" / "windows_evtsys_policy" / "defaults" / "main.yml"


def role_defaults():
    return yaml.safe_load(ROLE_DEFAULTS.read_text(encoding="utf-8"))


def xpath_lines(cfg):
    return [line for line in cfg.split("\r\n") if line.startswith("XPath:")]


def selected_event_ids(line):
    """Evaluate the event-ID predicate of one Security XPath line over every event ID.

    Parses the <Select> elements as XML (so escaping must be right) and interprets the
    clauses, rather than comparing against the string the renderer produced.
    """
    channel, query = line[len("XPath:"):].split(":", 1)
    root = ET.fromstring("<Query>%s</Query>" % query)
    ids = set()
    for select in root:
        assert select.tag == "Select" and select.get("Path") == channel
        inner = re.fullmatch(r"\*\[System\[(.*)\]\]", select.text).group(1)
        for clause in inner.split(" or "):
            single = re.fullmatch(r"EventID=(\d+)", clause)
            ranged = re.fullmatch(r"\(EventID>=(\d+) and EventID<=(\d+)\)", clause)
            assert single or ranged, clause
            low, high = (int(single.group(1)),) * 2 if single else map(int, ranged.groups())
            ids.update(range(low, high + 1))
    return ids


def default_cfg(defaults):
    """evtsys.cfg as the role renders it from its defaults (tasks/present.yml)."""
    return ec.render_evtsys_cfg(defaults["windows_evtsys_policy_subcategories"],
                                defaults["windows_evtsys_policy_alert_event_ids"]
                                + defaults["windows_evtsys_policy_extra_event_ids"],
                                defaults["windows_evtsys_policy_extra_queries"])


def test_defaults_forward_the_default_subcategories_events_and_the_alert_events():
    defaults = role_defaults()
    cfg = default_cfg(defaults)
    assert cfg.endswith("\r\n") and "\n" not in cfg.replace("\r\n", "")
    assert all(line.startswith("'") or line.startswith("XPath:") for line in cfg.split("\r\n")[:-1])
    lines = xpath_lines(cfg)
    assert len(lines) == 1 and lines[0].startswith("XPath:Security:")
    expected = set(defaults["windows_evtsys_policy_alert_event_ids"])
    for entry in defaults["windows_evtsys_policy_subcategories"]:
        expected.update(ec.SECURITY_EVENT_IDS[wap.resolve_subcategory(entry["name"]).guid])
    assert selected_event_ids(lines[0]) == expected
    # the account events the seed is about, the audit policy changes, a cleared log, failed logons
    assert {4720, 4726, 4728, 4732, 4740, 4768, 4769, 4776, 4781, 4799, 5376} <= expected
    assert {4719, 4907, 1102, 4625} <= expected
    # nothing of successful logons (one per logon: they would drown the rest), logoffs or processes
    assert not {4624, 4634, 4688} & expected
    # ranges keep the query short: a <Select> holds at most 32 expressions (Microsoft's
    # QueryType schema), and each EventID comparison is one
    assert lines[0].count("EventID") <= 32


def shipped_windows_rule_event_ids():
    """(rule id, its event IDs) of every shipped risk rule that matches Windows events."""
    from ansible_collections.whotouched.server_audit.plugins.module_utils._events.risk_rules import (
        SHIPPED_RISK_RULES,
    )
    return [(rule["id"], set(rule["match"]["event_id"]))
            for rule in SHIPPED_RISK_RULES if "event_id" in rule["match"]]


@pytest.mark.parametrize("rule_id, event_ids", shipped_windows_rule_event_ids())
def test_defaults_forward_every_event_a_shipped_risk_rule_rates(rule_id, event_ids):
    forwarded = selected_event_ids(xpath_lines(default_cfg(role_defaults()))[0])
    assert event_ids <= forwarded, (rule_id, sorted(event_ids - forwarded))


def test_the_shipped_rules_on_windows_events_are_all_checked():
    assert {rule_id for rule_id, _ids in shipped_windows_rule_event_ids()} >= {
        "windows-audit-log-cleared", "windows-audit-policy-changed", "windows-logon-failed"}


def test_custom_list_with_extras_and_other_logs():
    cfg = ec.render_evtsys_cfg(
        [{"name": "Logon", "success": True, "failure": True},
         {"name": "{0CCE922B-69AE-11D9-BED3-505054503030}", "success": True},
         {"name": "Security Group Management", "success": False, "failure": False},
         {"name": "File System", "failure": True}],
        extra_event_ids=[1102, 4625],
        extra_queries=[{"channel": "System", "select": "*[System[Level<=2]]".replace("<", "&lt;")},
                       {"channel": "System", "select": "*[System[Provider[@Name='Service Control Manager']]]"},
                       {"channel": "Microsoft-Windows-Sysmon/Operational", "select": "*"}])
    lines = xpath_lines(cfg)
    assert [line.split(":", 2)[1] for line in lines] == [
        "Security", "System", "Microsoft-Windows-Sysmon/Operational"]
    assert selected_event_ids(lines[0]) == {4624, 4625, 4648, 4675, 4688, 4696, 1102}
    system = ET.fromstring("<Query>%s</Query>" % lines[1].split(":", 2)[2])
    assert [select.text for select in system] == [
        "*[System[Level<=2]]", "*[System[Provider[@Name='Service Control Manager']]]"]
    # a chosen subcategory without known IDs is named, not silently dropped
    assert "'No known Security event IDs (add them with extra event IDs): File System" in cfg


@pytest.mark.parametrize("subcategories, kwargs, message", [
    ([{"name": "Credential Validaton", "success": True}], {}, "unknown audit subcategory"),
    ([{"name": "Other Account Logon Events", "success": True}], {}, "nothing to forward"),
    ([{"name": "Logon", "success": True}], {"extra_event_ids": [0]}, "event ID 0"),
    ([{"name": "Logon", "success": True}], {"extra_event_ids": ["4624"]}, "event ID '4624'"),
    ([{"name": "Logon", "success": True}], {"extra_queries": [{"channel": "A:B", "select": "*"}]}, "event log name"),
    ([{"name": "Logon", "success": True}], {"extra_queries": [{"channel": "System", "select": "*\n*"}]}, "one non-empty line"),
])
def test_bad_cfg_input_is_refused(subcategories, kwargs, message):
    with pytest.raises(ec.EvtsysConfigError, match=message):
        ec.render_evtsys_cfg(subcategories, **kwargs)


@given(st.lists(st.integers(1, 65535), min_size=1, max_size=200))
def test_event_id_filter_selects_exactly_its_ids(ids):
    line = 'XPath:Security:<Select Path="Security">%s</Select>' % ec.event_id_filter(ids)
    assert selected_event_ids(line) == set(ids)


def test_registry_values_for_the_defaults():
    defaults = role_defaults()
    values = ec.evtsys_registry_values(
        ["logs.example.net"], port=defaults["windows_evtsys_policy_log_port"],
        facility=defaults["windows_evtsys_policy_facility"], tag=defaults["windows_evtsys_policy_tag"],
        log_level=defaults["windows_evtsys_policy_log_level"],
        status_interval=defaults["windows_evtsys_policy_status_interval"],
        tcp=defaults["windows_evtsys_policy_tcp"])
    assert values == [
        {"name": "EnableTcp", "type": "dword", "data": 0},
        {"name": "Facility", "type": "dword", "data": ec.FACILITIES[defaults["windows_evtsys_policy_facility"]]},
        {"name": "LogHost", "type": "string", "data": "logs.example.net"},
        {"name": "LogLevel", "type": "dword", "data": 0},
        {"name": "Port", "type": "dword", "data": 514},
        {"name": "StatusInterval", "type": "dword", "data": 0},
    ]


def test_registry_values_custom():
    values = {v["name"]: v for v in ec.evtsys_registry_values(
        ["10.0.0.5", "logs2.example.net"], port=1514, facility="local4", tag="winsec",
        log_level=2, status_interval=15, tcp=True)}
    assert values["LogHost"]["data"] == "10.0.0.5;logs2.example.net"
    assert values["Facility"]["data"] == 20
    assert values["Port"]["data"] == 1514
    assert values["Tag"] == {"name": "Tag", "type": "string", "data": "winsec"}
    assert values["EnableTcp"]["data"] == 1 and values["StatusInterval"]["data"] == 15
    assert ec.evtsys_registry_values("one.example.net")[2]["data"] == "one.example.net"


@pytest.mark.parametrize("hosts, kwargs, message", [
    ([], {}, "at least one log host"),
    (["a;b"], {}, "separator"),
    (["h%d" % i for i in range(7)], {}, "at most 6"),
    (["h"], {"port": 0}, "port 0"),
    (["h"], {"port": True}, "port True"),
    (["h"], {"facility": "local9"}, "unknown syslog facility"),
    (["h"], {"log_level": 5}, "log level 5"),
    (["h"], {"tag": "two words"}, "tag"),
])
def test_bad_registry_input_is_refused(hosts, kwargs, message):
    with pytest.raises(ec.EvtsysConfigError, match=message):
        ec.evtsys_registry_values(hosts, **kwargs)


def test_event_table_keys_are_known_subcategories():
    assert set(ec.SECURITY_EVENT_IDS) <= set(wap.BY_GUID)
