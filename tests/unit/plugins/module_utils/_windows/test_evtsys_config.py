"""evtsys.cfg and the EvtSys registry values, for the role's defaults and for custom lists."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from ansible_collections.whotouched.server_audit.plugins.module_utils._windows import evtsys_config as ec
from ansible_collections.whotouched.server_audit.plugins.module_utils._windows import audit_policy as wap
from tests.support import evtsys_model

ROLE_DEFAULTS = Path(__file__).resolve().parents[5] / "roles" / "windows_evtsys_policy" / "defaults" / "main.yml"


def role_defaults():
    return yaml.safe_load(ROLE_DEFAULTS.read_text(encoding="utf-8"))


def xpath_lines(cfg):
    return [line for line in cfg.split("\r\n") if line.startswith("XPath:")]


def ids_of_xpath(xpath):
    """Evaluate one event-ID predicate over every event ID, rather than comparing against
    the string the renderer produced."""
    inner = re.fullmatch(r"\*\[System\[(.*)\]\]", xpath).group(1)
    ids = set()
    for clause in inner.split(" or "):
        single = re.fullmatch(r"EventID=(\d+)", clause)
        ranged = re.fullmatch(r"\(EventID>=(\d+) and EventID<=(\d+)\)", clause)
        assert single or ranged, clause
        low, high = (int(single.group(1)),) * 2 if single else map(int, ranged.groups())
        ids.update(range(low, high + 1))
    return ids


def subscribed(cfg):
    """[(event log, XPath)] as the model of evtsys reads ``cfg`` and subscribes, in the order of
    the file (evtsys's query list runs the other way: check.c AddXPath prepends)."""
    return list(reversed(evtsys_model.subscribe(evtsys_model.read_cfg(cfg.encode("ascii")))))


def forwarded_security_ids(cfg):
    """The Security event IDs the model of evtsys subscribes to for ``cfg``."""
    ids = set()
    for path, xpath in subscribed(cfg):
        if path == "Security":
            ids |= ids_of_xpath(xpath)
    return ids


def selected_event_ids(line):
    """The event IDs one Security XPath line selects (its <Select> parsed as XML)."""
    channel, query = line[len("XPath:"):].split(":", 1)
    ids = set()
    for select in ET.fromstring("<Query>%s</Query>" % query):
        assert select.tag == "Select" and select.get("Path") == channel
        ids |= ids_of_xpath(select.text)
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
    assert all(line.startswith("XPath:Security:") for line in lines)
    expected = set(defaults["windows_evtsys_policy_alert_event_ids"])
    for entry in defaults["windows_evtsys_policy_subcategories"]:
        expected.update(ec.SECURITY_EVENT_IDS[wap.resolve_subcategory(entry["name"]).guid])
    assert forwarded_security_ids(cfg) == expected
    # the account events the seed is about, the audit policy changes, a cleared log, failed logons
    assert {4720, 4726, 4728, 4732, 4740, 4768, 4769, 4776, 4781, 4799, 5376} <= expected
    assert {4719, 4907, 1102, 4625} <= expected
    # nothing of successful logons (one per logon: they would drown the rest), logoffs or processes
    assert not {4624, 4634, 4688} & expected


def shipped_windows_rule_event_ids():
    """(rule id, its event IDs) of every shipped risk rule that matches Windows events."""
    from ansible_collections.whotouched.server_audit.plugins.module_utils._events.risk_rules import (
        SHIPPED_RISK_RULES,
    )
    return [(rule["id"], set(rule["match"]["event_id"]))
            for rule in SHIPPED_RISK_RULES if "event_id" in rule["match"]]


@pytest.mark.parametrize("rule_id, event_ids", shipped_windows_rule_event_ids())
def test_defaults_forward_every_event_a_shipped_risk_rule_rates(rule_id, event_ids):
    forwarded = forwarded_security_ids(default_cfg(role_defaults()))
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
    assert subscribed(cfg)[1:] == [
        ("System", "*[System[Level<=2]]"),
        ("System", "*[System[Provider[@Name='Service Control Manager']]]"),
        ("Microsoft-Windows-Sysmon/Operational", "*")]
    assert forwarded_security_ids(cfg) == {4624, 4625, 4648, 4675, 4688, 4696, 1102}
    # a chosen subcategory without known IDs is named, not silently dropped
    assert "'No known Security event IDs (add them with extra event IDs): File System" in cfg


@pytest.mark.parametrize("subcategories, kwargs, message", [
    ([{"name": "Credential Validaton", "success": True}], {}, "unknown audit subcategory"),
    ([{"name": "Other Account Logon Events", "success": True}], {}, "nothing to forward"),
    ([{"name": "Logon", "success": True}], {"extra_event_ids": [0]}, "event ID 0"),
    ([{"name": "Logon", "success": True}], {"extra_event_ids": ["4624"]}, "event ID '4624'"),
    ([{"name": "Logon", "success": True}], {"extra_queries": [{"channel": "A:B", "select": "*"}]}, "event log name"),
    ([{"name": "Logon", "success": True}], {"extra_queries": [{"channel": "System", "select": "*\n*"}]}, "one non-empty line"),
    ([{"name": "Logon", "success": True}], {"extra_queries": [{"channel": "S" * 128, "select": "*"}]},
     "longer than the 127 bytes"),
    ([{"name": "Logon", "success": True}], {"extra_queries": [{"channel": "System", "select": "*[System[Level<=2]]"}]},
     "not valid inside <Select>"),
    ([{"name": "Logon", "success": True}], {"extra_queries": [{"channel": "System", "select": "*[System[Level=1]]é"}]},
     "printable ASCII"),
    ([{"name": "Logon", "success": True}], {"extra_queries": [{"channel": "System", "select": "*[System[%s]]" % " or ".join(
        "EventID=%d" % number for number in range(1, 34))}]}, "33 comparisons"),
    ([{"name": "Logon", "success": True}], {"extra_queries": [{"channel": "System", "select": "*[System[%s]]" % " or ".join(
        "Provider[@Name='%s']" % ("p" * 60) for _number in range(14))}]}, "evtsys 4.5 ends the service past"),
])
def test_bad_cfg_input_is_refused(subcategories, kwargs, message):
    with pytest.raises(ec.EvtsysConfigError, match=message):
        ec.render_evtsys_cfg(subcategories, **kwargs)


@given(st.lists(st.integers(1, 65535), min_size=1, max_size=200))
def test_event_id_filter_selects_exactly_its_ids(ids):
    line = 'XPath:Security:<Select Path="Security">%s</Select>' % ec.event_id_filter(ids)
    assert selected_event_ids(line) == set(ids)


SUBCATEGORY_NAMES = sorted(ec._SECURITY_EVENT_IDS_BY_NAME)
SAFE_CHANNELS = ["System", "Application", "Microsoft-Windows-Sysmon/Operational",
                 "Microsoft-Windows-PowerShell/Operational", "Setup"]


@given(subcategories=st.lists(st.sampled_from(SUBCATEGORY_NAMES), max_size=8),
       extra_ids=st.lists(st.integers(1, 65535), max_size=300),
       extra_queries=st.lists(st.tuples(st.sampled_from(SAFE_CHANNELS),
                                        st.lists(st.integers(1, 65535), min_size=1, max_size=16)),
                              max_size=5))
@settings(max_examples=150, deadline=None)
def test_the_model_of_evtsys_reads_every_cfg_the_renderer_accepts(subcategories, extra_ids, extra_queries):
    """Whatever the renderer writes, evtsys (as its source reads a cfg) takes every line without
    stopping, each <Select> within 32 expressions, and subscribes to exactly what was asked."""
    chosen = [{"name": name, "success": True, "failure": True} for name in subcategories]
    queries = [{"channel": channel, "select": ec.event_id_filter(ids)} for channel, ids in extra_queries]
    try:
        cfg = ec.render_evtsys_cfg(chosen, extra_ids, queries)
    except ec.EvtsysConfigError as exc:
        assert "nothing to forward" in str(exc)
        return
    selects = subscribed(cfg)
    expected = set(extra_ids)
    for name in subcategories:
        expected.update(ec._SECURITY_EVENT_IDS_BY_NAME[name])
    assert forwarded_security_ids(cfg) == expected
    assert [(path, ids_of_xpath(xpath)) for path, xpath in selects if path != "Security"] == [
        (channel, set(ids)) for channel, ids in extra_queries]


def test_extra_event_ids_and_queries_stay_within_evtsys_and_the_event_log():
    """12 scattered extra event IDs or 3 extra queries on one log used to make a line of more
    than 32 comparisons or 1,041 characters: the event log refuses the first, evtsys ends its
    service on the second (strcpy_s into 1024 bytes)."""
    defaults = role_defaults()
    scattered = list(range(5000, 5024, 2))
    queries = [{"channel": "System", "select": "*[System[Provider[@Name='%s'] and (Level=1 or "
                "Level=2 or Level=3)]]" % name} for name in
               ("Service Control Manager", "Microsoft-Windows-Kernel-General",
                "Microsoft-Windows-Eventlog")]
    cfg = ec.render_evtsys_cfg(defaults["windows_evtsys_policy_subcategories"],
                               defaults["windows_evtsys_policy_alert_event_ids"] + scattered, queries)
    assert forwarded_security_ids(cfg) >= set(scattered)
    assert [path for path, _xpath in subscribed(cfg)].count("System") == 3


@pytest.mark.parametrize("cfg, reason", [
    ("'a comment\r\n\r\nXPath:Security:<Select Path=\"Security\">*</Select>\r\n", "File format incorrect"),
    ("XPath:Security:<Select Path=\"Security\">%s</Select>\r\n" % ("*" * 1000), "strcpy_s into 1024"),
    ("XPath:Security:<Select Path=\"Security\">*[System[%s]]</Select>\r\n" % " or ".join(
        "EventID=%d" % number for number in range(1, 34)), "33 expressions"),
    ("XPath:Security:<Select Path=\"Security\">%s</Select>\r\n" % ("*" * 970), "swprintf_s"),
    ("XPath:Security\r\n", "strcpy_s(NULL)"),
    ("XPath:%s:*\r\n" % ("S" * 128), "has 128 bytes: strcpy_s into 128 bytes"),
])
def test_the_model_of_evtsys_stops_where_its_source_does(cfg, reason):
    """The model refuses what evtsys's source cannot take, so that its approval means something."""
    with pytest.raises(evtsys_model.EvtsysStops, match=re.escape(reason)):
        evtsys_model.subscribe(evtsys_model.read_cfg(cfg.encode("ascii")))


def default_registry(host="logs.example.net"):
    """The registry values as the role renders them from its defaults (tasks/present.yml)."""
    defaults = role_defaults()
    return ec.evtsys_registry_values(
        [host], port=defaults["windows_evtsys_policy_log_port"],
        facility=defaults["windows_evtsys_policy_facility"], tag=defaults["windows_evtsys_policy_tag"],
        status_interval=defaults["windows_evtsys_policy_status_interval"])


def test_registry_values_for_the_defaults():
    values = default_registry()
    assert values == [
        {"name": "EnableTcp", "type": "dword", "data": 0},
        {"name": "Facility", "type": "dword", "data": ec.FACILITIES[role_defaults()["windows_evtsys_policy_facility"]]},
        {"name": "IncludeOnly", "type": "dword", "data": 0},
        {"name": "LogHost", "type": "string", "data": "logs.example.net"},
        {"name": "LogLevel", "type": "dword", "data": 0},
        {"name": "Port", "type": "dword", "data": 514},
        {"name": "QueryDhcp", "type": "dword", "data": 0},
        {"name": "StatusInterval", "type": "dword", "data": 0},
        {"name": "Tag", "type": "string", "data": ""},
        {"name": "UseIPAddress", "type": "dword", "data": 0},
    ]


def test_the_model_of_evtsys_reads_every_registry_value_the_role_writes():
    """Over what ``evtsys -i`` installs, the role's values are each read, with the right type,
    and evtsys then forwards every Security audit, success and failure, over UDP."""
    installed = evtsys_model.install_values("logs.example.net", 514)
    items = ec.evtsys_registry_values(["10.0.0.5", "logs2.example.net"], port=1514,
                                      facility="local4", tag="winsec", status_interval=15)
    written = evtsys_model.apply_win_regedit(installed, items)
    settings = evtsys_model.read_registry(written)
    assert settings.unread == []
    assert {item["name"] for item in items} == set(evtsys_model.VALUES) - {"MaxMessageSize"}
    assert (settings.log_hosts, settings.port, settings.facility, settings.tag) == (
        ["10.0.0.5", "logs2.example.net"], 1514, 20, "winsec")
    assert (settings.tcp, settings.include_only, settings.query_dhcp, settings.use_ip_address) == (
        False, False, False, False)
    assert evtsys_model.forwards(settings, evtsys_model.AUDIT_LEVEL)
    assert evtsys_model.forwards(settings, evtsys_model.AUDIT_LEVEL, audit_failure=True)


def test_every_audit_success_is_forwarded_and_a_log_level_is_refused():
    """evtsys forwards an event only when LogLevel is 0 or 1 <= level <= LogLevel: with any
    other LogLevel the level-0 audit successes are dropped, so no other level is written."""
    written = evtsys_model.apply_win_regedit(evtsys_model.install_values("logs.example.net"),
                                             default_registry())
    assert evtsys_model.forwards(evtsys_model.read_registry(written), evtsys_model.AUDIT_LEVEL)
    for level in (1, 2, 3, 4):
        dropping = dict(written, LogLevel=(evtsys_model.REG_DWORD, level))
        assert not evtsys_model.forwards(evtsys_model.read_registry(dropping), evtsys_model.AUDIT_LEVEL)
        with pytest.raises(ec.EvtsysConfigError, match="would drop every Security audit success"):
            ec.evtsys_registry_values(["logs.example.net"], log_level=level)


def test_tcp_is_refused_with_the_reason():
    with pytest.raises(ec.EvtsysConfigError, match="without a line end or octet count"):
        ec.evtsys_registry_values(["logs.example.net"], tcp=True)


def test_an_emptied_tag_stops_evtsys_sending_the_old_one():
    """The role writes each value over what is there: an empty tag must overwrite an old Tag,
    or evtsys keeps sending it."""
    first = evtsys_model.apply_win_regedit(
        evtsys_model.install_values("logs.example.net"),
        ec.evtsys_registry_values(["logs.example.net"], tag="winsec"))
    assert evtsys_model.read_registry(first).tag == "winsec"
    second = evtsys_model.apply_win_regedit(first, ec.evtsys_registry_values(["logs.example.net"], tag=""))
    assert evtsys_model.read_registry(second).tag is None


def test_registry_values_custom():
    values = {v["name"]: v for v in ec.evtsys_registry_values(
        ["10.0.0.5", "logs2.example.net"], port=1514, facility="local4", tag="winsec",
        status_interval=15)}
    assert values["LogHost"]["data"] == "10.0.0.5;logs2.example.net"
    assert values["Facility"]["data"] == 20
    assert values["Port"]["data"] == 1514
    assert values["Tag"] == {"name": "Tag", "type": "string", "data": "winsec"}
    assert values["EnableTcp"]["data"] == 0 and values["StatusInterval"]["data"] == 15
    assert values["LogLevel"]["data"] == 0
    assert {v["name"]: v["data"] for v in ec.evtsys_registry_values("one.example.net")}["LogHost"] == "one.example.net"


@pytest.mark.parametrize("hosts, kwargs, message", [
    ([], {}, "at least one log host"),
    (["a;b"], {}, "separator"),
    (["h%d" % i for i in range(7)], {}, "at most 6"),
    (["h"], {"port": 0}, "port 0"),
    (["h"], {"port": True}, "port True"),
    (["h"], {"facility": "local9"}, "unknown syslog facility"),
    (["h"], {"log_level": 5}, "log level 5"),
    (["h"], {"tag": "two words"}, "tag"),
    (["h"], {"tag": "x" * 65}, "tag"),
    (["h"], {"tag": "a:b"}, "tag"),
    (["h"], {"status_interval": -1}, "status interval -1"),
    (["h"], {"status_interval": True}, "status interval True"),
    (["2001:db8::5"], {}, "IPv4 only"),
    (["h%d.%s" % (index, "x" * 62) for index in range(6)], {}, "evtsys reads at most 389"),
])
def test_bad_registry_input_is_refused(hosts, kwargs, message):
    with pytest.raises(ec.EvtsysConfigError, match=message):
        ec.evtsys_registry_values(hosts, **kwargs)


def test_event_table_keys_are_known_subcategories():
    assert set(ec.SECURITY_EVENT_IDS) <= set(wap.BY_GUID)
