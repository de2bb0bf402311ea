# -*- coding: utf-8 -*-
# Copyright: whotouched.server_audit contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to whotouched.server_audit: it may change in any release. Do not import it from
# other collections or from code outside this collection.
"""Filter rules written as rsyslog configuration text, one way for each meaning: ``stop``
for discards, omfwd actions in RainerScript, ``if`` statements for what the property-filter
line cannot say."""

from __future__ import annotations

from typing import Tuple

from ansible_collections.whotouched.server_audit.plugins.module_utils._rsyslog.model import (
    Action,
    Filter,
    FilterRule,
    LINE_OPERATORS,
    PropertyFilter,
    SelectorFilter,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._rsyslog.scanning import (
    escape_line_value,
    escape_script,
)


_ACTION_FIRST_LINE = ("type", "target", "port", "protocol", "template", "file")


def _serialize_action(action: Action) -> str:
    if action.kind == "stop":
        return "stop"
    if action.kind == "other":
        return action.raw
    display = list(action.display)
    head = [(k, v) for k, v in display if k.lower() in _ACTION_FIRST_LINE]
    tail = [(k, v) for k, v in display if k.lower() not in _ACTION_FIRST_LINE]
    head.sort(key=lambda item: _ACTION_FIRST_LINE.index(item[0].lower()))
    text = "action(" + " ".join('%s="%s"' % (k, escape_script(v, False)) for k, v in head)
    if tail:
        text += "\n       " + "\n       ".join('%s="%s"' % (k, escape_script(v, False))
                                               for k, v in tail)
    return text + ")"


def serialize_filter(rule_filter: Filter) -> Tuple[str, bool]:
    """The filter text and whether it is an ``if`` statement."""
    if isinstance(rule_filter, PropertyFilter):
        if rule_filter.operator in LINE_OPERATORS:
            return (':%s, %s%s, "%s"' % (rule_filter.property,
                                         "!" if rule_filter.negated else "",
                                         rule_filter.operator,
                                         escape_line_value(rule_filter.value)), False)
        condition = '$%s %s "%s"' % (rule_filter.property, rule_filter.operator,
                                     escape_script(rule_filter.value))
        if rule_filter.negated:
            condition = "not (%s)" % condition
        return "if %s then" % condition, True
    if isinstance(rule_filter, SelectorFilter):
        return rule_filter.raw or rule_filter.selector, False
    return "if %s then" % (rule_filter.raw or rule_filter.expression), True


def serialize_filter_rule(rule: FilterRule) -> str:
    """The rule as rsyslog configuration text, ending with a newline.

    Discards are written ``stop`` (the legacy ``~`` is deprecated since rsyslog v7).
    """
    head, is_if = serialize_filter(rule.filter)
    actions = [_serialize_action(action) for action in rule.actions]
    if is_if and len(actions) > 1:
        body = "\n".join("    " + a.replace("\n", "\n    ") for a in actions)
        return "%s {\n%s\n}\n" % (head, body)
    if is_if:
        return "%s %s\n" % (head, actions[0])
    return "%s %s\n" % (head, "\n& ".join(actions))
