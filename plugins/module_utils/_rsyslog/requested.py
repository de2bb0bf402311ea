# -*- coding: utf-8 -*-
# Copyright: whotouched.server_audit contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to whotouched.server_audit: it may change in any release. Do not import it from
# other collections or from code outside this collection.
"""The filter rules a user asks for (strings in rsyslog's syntax, or mappings), checked for
what rsyslog would not honour although ``rsyslogd -N1`` accepts it, and made writable."""

from __future__ import annotations

import re
from typing import Dict, List, Optional, Sequence, Tuple, Union

from ansible_collections.whotouched.server_audit.plugins.module_utils._rsyslog.actions import (
    forward_port,
    make_action,
    make_reliable,
    reliable_forward,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._rsyslog.model import (
    DEFAULT_FORWARD_PORT,
    DEFAULT_MAX_DISK_SPACE,
    FORWARD_PROTOCOLS,
    FilterRule,
    FilterSyntaxError,
    LINE_OPERATORS,
    OPERATORS,
    PropertyFilter,
    STOP,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._rsyslog.parser import (
    parse_config,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._rsyslog.serializer import (
    serialize_filter,
)

MAPPING_KEYS = ("property", "operator", "value", "negate", "action", "target", "port",
                "protocol", "template", "queue_file_name", "queue_max_disk_space",
                "queue_size", "file")


def _bracket_end(pattern: str, pos: int) -> Optional[int]:
    """Index just after the POSIX bracket expression opening at ``pos``; None if unclosed.

    A ``]`` right after ``[`` or ``[^`` is a member, a backslash is an ordinary member, and
    ``[:class:]``, ``[.coll.]`` and ``[=equiv=]`` run to their own closing ``:]``, ``.]``
    or ``=]``.
    """
    pos += 1
    if pattern.startswith("^", pos):
        pos += 1
    if pattern.startswith("]", pos):
        pos += 1
    while pos < len(pattern):
        if pattern[pos] == "[" and pattern[pos + 1:pos + 2] in (":", ".", "="):
            close = pattern.find(pattern[pos + 1] + "]", pos + 2)
            if close < 0:
                return None
            pos = close + 2
            continue
        if pattern[pos] == "]":
            return pos + 1
        pos += 1
    return None


def regex_problem(pattern: str, extended: bool) -> Optional[str]:
    """Why rsyslog cannot compile the POSIX regex ``pattern``, or None.

    ``extended`` selects ERE (``ereregex``) over BRE (``regex``).  Only what every POSIX
    ``regcomp`` refuses is reported: an unclosed bracket expression, an unclosed group
    (``(`` in ERE, ``\\(`` in BRE), a BRE ``\\)`` closing no group, a final lone
    backslash.  Python's ``re`` is not used: it reads bracket expressions, ``\\(`` and
    escapes inside brackets differently.  An ERE ``)`` closing no group is left alone
    (glibc reads it as an ordinary character).
    """
    opened: List[int] = []
    pos = 0
    while pos < len(pattern):
        char = pattern[pos]
        if char == "\\":
            if pos + 1 >= len(pattern):
                return "it ends with a lone backslash"
            if not extended and pattern[pos + 1] == "(":
                opened.append(pos)
            elif not extended and pattern[pos + 1] == ")":
                if not opened:
                    return "'\\)' at offset %d closes no group" % pos
                opened.pop()
            pos += 2
            continue
        if char == "[":
            end = _bracket_end(pattern, pos)
            if end is None:
                return "the bracket expression '[' at offset %d is not closed" % pos
            pos = end
            continue
        if extended and char == "(":
            opened.append(pos)
        elif extended and char == ")" and opened:
            opened.pop()
        pos += 1
    if opened:
        return "the group '%s' at offset %d is not closed" % (
            "(" if extended else "\\(", opened[-1])
    return None


def writable_filter_rule(rule: FilterRule) -> FilterRule:
    """The rule as state=present writes it: legacy forwards made reliable.

    Raises :class:`FilterSyntaxError` for what rsyslog would not honour although
    ``rsyslogd -N1`` accepts it: a forward port that is not 1-65535, a legacy ``@``
    forward this module cannot read, a ``regex``/``ereregex`` that cannot compile.
    """
    flt = rule.filter
    if isinstance(flt, PropertyFilter) and flt.operator in ("regex", "ereregex"):
        problem = regex_problem(flt.value, flt.operator == "ereregex")
        if problem:
            raise FilterSyntaxError("filter %s: the %s cannot be compiled: %s"
                                    % (serialize_filter(flt)[0], flt.operator, problem))
    for action in rule.actions:
        if action.kind == "other" and action.raw.startswith("@"):
            raise FilterSyntaxError(
                "cannot read the legacy forward %r (expected @host, @@host:port or "
                "@@[address]:port, optionally followed by ;template)" % action.raw)
    return make_reliable(rule)


def _rule_from_mapping(spec: Dict) -> FilterRule:
    unknown = sorted(set(spec) - set(MAPPING_KEYS))
    if unknown:
        raise FilterSyntaxError("unknown key(s) %s in filter %r; allowed: %s"
                                % (", ".join(unknown), spec, ", ".join(MAPPING_KEYS)))
    operator = str(spec.get("operator") or "").strip().lower()
    negated = bool(spec.get("negate"))
    if operator.startswith("!"):
        negated, operator = not negated, operator[1:]
    if operator not in OPERATORS:
        raise FilterSyntaxError("operator %r is not one of %s (prefix '!' or set negate to "
                                "negate)" % (spec.get("operator"), ", ".join(OPERATORS)))
    prop = str(spec.get("property") or "msg").strip().lstrip(":$").lower()
    if not re.match(r"^[a-z][a-z\-]*$", prop):
        raise FilterSyntaxError("property %r is not an rsyslog property name" % prop)
    value = spec.get("value")
    if value is None:
        if operator != "isempty":
            raise FilterSyntaxError("operator %s needs a value" % operator)
        value = ""
    value = str(value)
    if "\n" in value:
        raise FilterSyntaxError("a filter value cannot contain a newline")
    if operator in LINE_OPERATORS and value.endswith("\\"):
        raise FilterSyntaxError("a property-filter value cannot end with a backslash")
    flt = PropertyFilter(prop, operator, value, negated)
    kind = spec.get("action")
    if kind == "stop":
        action = STOP
    elif kind == "forward":
        if not spec.get("target"):
            raise FilterSyntaxError("action forward needs a target")
        protocol = str(spec.get("protocol") or "tcp").lower()
        if protocol not in FORWARD_PROTOCOLS:
            raise FilterSyntaxError("protocol %r is not udp or tcp" % spec.get("protocol"))
        port = forward_port(spec.get("port") or DEFAULT_FORWARD_PORT)
        action = reliable_forward(flt, str(spec["target"]), port, protocol,
                                  spec.get("template"), spec.get("queue_file_name"),
                                  spec.get("queue_max_disk_space") or DEFAULT_MAX_DISK_SPACE,
                                  spec.get("queue_size"))
    elif kind == "file":
        path = str(spec.get("file") or "")
        if not path.startswith("/"):
            raise FilterSyntaxError("action file needs an absolute 'file' path")
        display = [("type", "omfile"), ("file", path)]
        if spec.get("template"):
            display.append(("template", spec["template"]))
        action = make_action("file", display)
    else:
        raise FilterSyntaxError("action %r is not stop, forward or file" % (kind,))
    return FilterRule(flt, (action,))


def filter_rule_from_spec(spec: Union[str, Dict]) -> FilterRule:
    """The rule a user asked for, as given (legacy forwards not yet made reliable)."""
    if isinstance(spec, dict):
        return _rule_from_mapping(spec)
    if not isinstance(spec, str) or not spec.strip():
        raise FilterSyntaxError("a filter must be a non-empty string or a mapping, got %r"
                                % (spec,))
    text = spec if spec.endswith("\n") else spec + "\n"
    chunks = [c for c in parse_config(text) if c.text.strip() and not c.text.strip()
              .startswith("#")]
    if len(chunks) != 1:
        raise FilterSyntaxError("expected exactly one rule, got %d statements in %r"
                                % (len(chunks), spec))
    if chunks[0].rule is None:
        raise FilterSyntaxError(chunks[0].error or "not a filter rule: %r" % spec.strip())
    return chunks[0].rule


def checked_filter_rules(specs: Sequence[Union[str, Dict]], state: str = "present"
                         ) -> Tuple[List[FilterRule], List[str]]:
    """The rules asked for, and one problem per filter rsyslog would refuse or not honour,
    named by its place (``filters[2]: ...``); with ``present``, as they would be written."""
    rules: List[FilterRule] = []
    problems: List[str] = []
    for number, spec in enumerate(specs, start=1):
        try:
            rule = filter_rule_from_spec(spec)
            if state == "present":
                writable_filter_rule(rule)
            rules.append(rule)
        except FilterSyntaxError as err:
            problems.append("filters[%d]: %s" % (number, err))
    return rules, problems
