# -*- coding: utf-8 -*-
# Copyright: whotouched.server_audit contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to whotouched.server_audit: it may change in any release. Do not import it from
# other collections or from code outside this collection.
"""Filters as RainerScript expressions, for combining them with other conditions (the
rsyslog roles scope noise filters to audit events)."""

from __future__ import annotations

from ansible_collections.whotouched.server_audit.plugins.module_utils._rsyslog.model import (
    Filter,
    FilterRule,
    FilterSyntaxError,
    PropertyFilter,
    SelectorFilter,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._rsyslog.parser import (
    expression_filter,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._rsyslog.scanning import (
    escape_script,
)

# How each property-filter operator reads as a RainerScript expression (``{p}`` property,
# ``{v}`` quoted value).  ``regex`` (POSIX basic) has none: re_match() is extended only.
_SCRIPT_FORMS = {
    "contains": "$%(p)s contains %(v)s",
    "contains_i": "$%(p)s contains_i %(v)s",
    "startswith": "$%(p)s startswith %(v)s",
    "startswith_i": "$%(p)s startswith_i %(v)s",
    "isequal": "$%(p)s == %(v)s",
    "ereregex": "re_match($%(p)s, %(v)s)",
    "isempty": '$%(p)s == ""',
}


def script_string(value: str) -> str:
    """``value`` as a double-quoted RainerScript string literal (for expressions)."""
    return '"%s"' % escape_script(value)


def script_condition(rule_filter: Filter) -> str:
    """The filter as a RainerScript expression, for combining with other conditions.

    Raises :class:`FilterSyntaxError` for a ``regex`` (POSIX basic) property filter,
    which RainerScript cannot express (write it as ``ereregex``).
    """
    if isinstance(rule_filter, PropertyFilter):
        form = _SCRIPT_FORMS.get(rule_filter.operator)
        if form is None:
            raise FilterSyntaxError(
                "a %s filter has no RainerScript form (rewrite it as ereregex): %r"
                % (rule_filter.operator, rule_filter.value))
        condition = form % {"p": rule_filter.property, "v": script_string(rule_filter.value)}
        return "not (%s)" % condition if rule_filter.negated else condition
    if isinstance(rule_filter, SelectorFilter):
        return "prifilt(%s)" % script_string(rule_filter.selector)
    return "(%s)" % rule_filter.expression


def scoped_filter_rule(rule: FilterRule, scope: str) -> FilterRule:
    """``rule`` restricted to the messages matching the RainerScript expression ``scope``."""
    expression = "(%s) and %s" % (scope, script_condition(rule.filter))
    return FilterRule(expression_filter(expression), rule.actions)
