"""Text a compromised client sends reaches a person only with every character showing (A6):
the report's table, the wall screen's data and the alerts (mail, SMS, command placeholders).

The characters are those that make text lie without a terminal escape: line and paragraph
separators, zero-width characters, bidirectional marks and overrides, the byte-order mark,
the word joiner and tag characters.
"""

from __future__ import annotations

import json

import pytest

from ansible_collections.whotouched.server_audit.plugins.module_utils._events.assembler import (
    iter_events,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._events.report import (
    format_table,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._events.risk import (
    classify,
    compile_risk_rules,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._events.risk_rules import (
    SHIPPED_RISK_RULES,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._processor.alert_policy import (
    alert_text,
    mail_message,
    make_alert,
    placeholder_values,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._processor.wall_screen import (
    WallState,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._text.printable import (
    sanitize,
)
from tests.support.audit_records import exec_records, stored

RULES = compile_risk_rules(SHIPPED_RISK_RULES)
UNSHOWN = {
    "\u2028": "\\u2028", "\u2029": "\\u2029", "\u200b": "\\u200b", "\u200f": "\\u200f",
    "\u061c": "\\u061c", "\ufeff": "\\ufeff", "\u2060": "\\u2060", "\U000e0041": "\\U000e0041",
    "\u202e": "\\u202e", "\x1b": "\\x1b", "\x9b": "\\x9b", "\x85": "\\x85", "\u00a0": "\\xa0",
}


@pytest.mark.parametrize("character, escape", sorted(UNSHOWN.items()))
def test_sanitize_writes_each_character_that_does_not_show_as_an_escape(character, escape):
    assert sanitize("a%sb" % character) == "a%sb" % escape
    assert sanitize("caf\u00e9 \u4e2d\u6587 \U0001f600") == "caf\u00e9 \u4e2d\u6587 \U0001f600"


def _hostile_event(character):
    """A command whose arguments, as the sender's kernel logged them, hold ``character`` (the
    kernel hex-encodes them; a compromised client can send anything it likes)."""
    argv = ["rm", "-rf", "/var/log/audit%sx" % character, "ok%s-e 2" % character]
    events = list(iter_events(stored(exec_records(argv, login_name="al%sice" % character),
                                     host="web%s01" % character)))
    assert len(events) == 1 and events[0]["argv"] == argv
    return classify(events[0], RULES)


def _all_printable(texts):
    return all(str(text).isprintable() for text in texts)


def _strings(data):
    if isinstance(data, dict):
        for value in data.values():
            yield from _strings(value)
    elif isinstance(data, list):
        for value in data:
            yield from _strings(value)
    elif isinstance(data, str):
        yield data


@pytest.mark.parametrize("character", sorted(UNSHOWN))
def test_the_report_table_shows_every_character(character):
    event = _hostile_event(character)
    table = format_table([event], width=400)
    assert _all_printable(table), table
    assert "/var/log/audit%sx" % UNSHOWN[character] in table[1]


@pytest.mark.parametrize("character", sorted(UNSHOWN))
def test_the_wall_screen_data_shows_every_character(character):
    state = WallState()
    state.add(_hostile_event(character))
    snapshot = state.snapshot()
    assert _all_printable(_strings(snapshot))
    assert snapshot["events"][0]["what"].startswith("rm -rf /var/log/audit" + UNSHOWN[character])
    assert snapshot["open"], "the command wipes logs: an open high-risk item"


@pytest.mark.parametrize("character", sorted(UNSHOWN))
def test_alerts_show_every_character(character):
    event = _hostile_event(character)
    alert = make_alert("alert", event, event["level"], 1)
    alert["text"] = alert_text(alert)
    mail = mail_message(alert, "alerts@example.org", ["soc@example.org"])
    assert _all_printable([mail["Subject"]]) and _all_printable(mail.get_content().splitlines())
    assert _all_printable(placeholder_values(alert, 160).values())
    assert UNSHOWN[character] in alert["text"]
    # the webhook's body is JSON data, ASCII only: a receiver decodes it, escapes and all
    assert json.loads(json.dumps(alert, ensure_ascii=True))["event"]["argv"] == event["argv"]
