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
    forward_target,
    make_action,
    make_reliable,
    reliable_forward,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._rsyslog.model import (
    DEFAULT_FORWARD_PORT,
    DEFAULT_MAX_DISK_SPACE,
    FORWARD_PROTOCOLS,
    ExpressionFilter,
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
from ansible_collections.whotouched.server_audit.plugins.module_utils._rsyslog.posix_regex import (
    regex_problem,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._rsyslog.scanning import (
    unescape_script,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._rsyslog.serializer import (
    serialize_filter,
)

MAPPING_KEYS = ("property", "operator", "value", "negate", "action", "target", "port",
                "protocol", "template", "queue_file_name", "queue_max_disk_space",
                "queue_size", "file")


# re_match() and re_extract() calls with a literal pattern, in a normalized expression.
_REGEX_CALL = re.compile(r'\b(re_match|re_extract) \( [^"]*?, ("(?:\\.|[^"\\])*")')
# Operators that every message passes with an empty value (a filter on an unset variable?).
_EMPTY_MATCHES_ALL = ("contains", "contains_i", "startswith", "startswith_i", "regex",
                      "ereregex")


def _filter_problem(flt) -> Optional[str]:
    """What rsyslog would not do as the filter says, although ``rsyslogd -N1`` accepts it."""
    if isinstance(flt, PropertyFilter):
        if "\x00" in flt.value:
            return "its value holds a NUL byte, where rsyslog's string ends"
        if flt.value == "" and flt.operator in _EMPTY_MATCHES_ALL:
            return ("its value is empty, so it matches %s message (an unset variable?); the "
                    "selector *.* says every message" % ("no" if flt.negated else "every"))
        if flt.operator in ("regex", "ereregex"):
            problem = regex_problem(flt.value, flt.operator == "ereregex")
            if problem:
                return "the %s cannot be compiled: %s" % (flt.operator, problem)
    elif isinstance(flt, ExpressionFilter):
        for function, literal in _REGEX_CALL.findall(flt.expression):
            problem = regex_problem(unescape_script(literal[1:-1]), True)
            if problem:
                return "the pattern %s of %s() cannot be compiled: %s" % (
                    literal, function, problem)
    return None


def writable_filter_rule(rule: FilterRule) -> FilterRule:
    """The rule as state=present writes it: legacy forwards made reliable.

    Raises :class:`FilterSyntaxError` for what rsyslog would not honour although
    ``rsyslogd -N1`` accepts it: a regular expression its C library cannot compile, an empty
    value that every message matches, a forward port that is not 1-65535 or a target that is
    no host, a legacy ``@`` forward this module cannot read.
    """
    problem = _filter_problem(rule.filter)
    if problem:
        raise FilterSyntaxError("filter %s: %s" % (serialize_filter(rule.filter)[0], problem))
    for action in rule.actions:
        if action.kind == "other" and action.raw.startswith("@"):
            raise FilterSyntaxError(
                "cannot read the legacy forward %r (expected @host, @@host:port or "
                "@@[address]:port, optionally followed by ;template)" % action.raw)
        if action.kind == "forward" and not action.legacy:
            values = dict(action.params)
            try:
                forward_port(values.get("port", DEFAULT_FORWARD_PORT))
                forward_target(values.get("target", ""))
            except FilterSyntaxError as err:
                raise FilterSyntaxError("forward to %s: %s" % (values.get("target"), err))
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
        # port 0 is a port given, and refused: only a missing port means the default
        port = forward_port(DEFAULT_FORWARD_PORT if spec.get("port") is None else spec["port"])
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


def checked_filter_rules(specs: Sequence[Union[str, Dict]], state: str = "present",
                         drop_only: bool = False) -> Tuple[List[FilterRule], List[str]]:
    """The rules asked for, and one problem per filter rsyslog would refuse or not honour,
    named by its place (``filters[2]: ...``); with ``present``, as they would be written.
    With ``drop_only``, a filter that does anything but drop (``stop``) is a problem too."""
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
            continue
        kinds = sorted({action.kind for action in rule.actions} - {"stop"})
        if drop_only and kinds:
            problems.append("filters[%d]: may only drop (stop), and also has a %s action"
                            % (number, " and a ".join(kinds)))
    return rules, problems
