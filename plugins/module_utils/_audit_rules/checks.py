# -*- coding: utf-8 -*-
# Copyright: whotouched.server_audit contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to whotouched.server_audit: it may change in any release. Do not import it from
# other collections or from code outside this collection.
"""Checks of audit rules: legal, but probably not what their author meant (no ``-F arch=``,
names this host does not know, a ``never`` rule the kernel never reaches, a rule twice) or
refused on this target (an unknown syscall, two values for one setting)."""

from __future__ import annotations

from typing import Dict, Iterable, List, Sequence, Tuple

from ansible_collections.whotouched.server_audit.plugins.module_utils._audit_rules.grammar import (
    GID_FIELDS,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._audit_rules.formatting import (
    format_rule,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._audit_rules.model import (
    DEFAULT_CONTEXT,
    AuditRule,
    RuleContext,
    RuleSyntaxError,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._audit_rules.parser import (
    joined_words,
    names_an_id,
    parse_rule,
)


def rule_warnings(rule: AuditRule, context: RuleContext = DEFAULT_CONTEXT) -> List[str]:
    """Things that are legal but probably not what the author meant."""
    warnings = []
    if rule.kind == "syscall" and rule.filter_list == "exit" and rule.syscalls \
            and rule.arch is None and not rule.delete:
        warnings.append(
            '"%s" names syscalls without -F arch=: they are looked up in the %s table only, '
            "so calls made through the other word size (32-bit programs on a 64-bit kernel) "
            "are not audited; add one rule per arch" % (format_rule(rule), context.native_arch))
    return warnings


def unknown_syscalls(rule: AuditRule, context: RuleContext = DEFAULT_CONTEXT) -> List[str]:
    """Syscall names the target's table for the rule's arch does not know."""
    if rule.kind != "syscall" or rule.filter_list != "exit" or not context.syscall_tables:
        return []
    arch = rule.arch or context.native_arch
    table = context.syscall_tables.get(arch)
    if not table:
        return []
    return [name for name in rule.syscalls if not name.isdigit() and name not in table]


def check_rule(text: str, context: RuleContext = DEFAULT_CONTEXT) -> Tuple[AuditRule, List[str]]:
    """Parse and validate a rule against the target; returns the rule and its warnings.

    Raises :class:`RuleSyntaxError` for an unknown syscall (for the rule's arch) too.
    """
    rule = parse_rule(text, context)
    unknown = unknown_syscalls(rule, context)
    if unknown:
        raise RuleSyntaxError(joined_words(text), unknown[0],
                              "syscall %s is unknown for arch %s"
                              % (unknown[0], rule.arch or context.native_arch))
    return rule, rule_warnings(rule, context)


def checked_rules(texts: Iterable[str], context: RuleContext = DEFAULT_CONTEXT
                  ) -> Tuple[List[Tuple[str, AuditRule, List[str]]], List[str]]:
    """Every rule of a rule set parsed and checked against the target: ``(text, rule,
    warnings)`` for each valid one, and the problems - each rule ``auditctl`` would refuse, and
    control options given twice with different values.  Without the target's syscall tables
    (on the controller) syscall names are checked for shape only."""
    checked, problems = [], []
    for text in texts:
        try:
            rule, warnings = check_rule(text, context)
        except RuleSyntaxError as error:
            problems.append(str(error))
            continue
        checked.append((text, rule, warnings))
    problems += conflicting_settings([rule for _text, rule, _warnings in checked])
    return checked, problems


def unresolved_names(rule: AuditRule, resolve) -> List[str]:
    """Warnings for the user and group names of ``rule`` that ``resolve(field, name)``
    finds no number for (None): auditctl refuses such a rule on this host."""
    if rule.kind != "syscall":
        return []
    return ['"%s": no %s named %s on this host (at "%s%s%s"), so auditctl refuses this rule '
            "here" % (format_rule(rule), "group" if name in GID_FIELDS else "user", value,
                      name, operator, value)
            for name, operator, value in rule.fields
            if names_an_id(name, value) and resolve(name, value) is None]


def unique_rules(rules: Iterable[AuditRule]) -> List[AuditRule]:
    seen = set()
    result = []
    for rule in rules:
        if rule not in seen:
            seen.add(rule)
            result.append(rule)
    return result


def may_overlap(earlier: AuditRule, later: AuditRule) -> bool:
    """Could one event match both rules?  Errs on the side of yes."""
    def as_fields(rule):
        if rule.kind == "watch":
            return [("path", "=", rule.path)]
        return list(rule.fields)

    if earlier.kind == "syscall" and later.kind == "syscall" and earlier.syscalls \
            and later.syscalls and (earlier.arch or "") == (later.arch or "") \
            and not set(earlier.syscalls) & set(later.syscalls):
        return False
    first, second = as_fields(earlier), as_fields(later)
    for name, operator, value in first:
        for other_name, other_operator, other_value in second:
            if operator != "=" or other_operator != "=":
                continue
            if name == other_name == "dir" or {name, other_name} == {"path", "dir"}:
                if not (value + "/").startswith(other_value.rstrip("/") + "/") and \
                        not (other_value + "/").startswith(value.rstrip("/") + "/"):
                    return False
            elif name == other_name and value != other_value:
                return False
    return True


def filter_list_of(rule: AuditRule) -> str:
    return "exit" if rule.kind == "watch" else rule.filter_list


def shadowed_never_rules(rules: Sequence[AuditRule]) -> List[Tuple[AuditRule, AuditRule]]:
    """(never rule, earlier always rule) pairs where the never rule comes too late.

    The kernel stops at the first rule of a list that matches, so a ``never`` rule after
    an ``always`` rule that matches some of the same events does not suppress those.
    """
    pairs = []
    for index, rule in enumerate(rules):
        if rule.kind != "syscall" or rule.action != "never" or rule.delete or rule.prepend:
            continue
        for earlier in rules[:index]:
            if earlier.kind == "control" or earlier.delete or filter_list_of(earlier) != rule.filter_list:
                continue
            if (earlier.kind == "watch" or earlier.action == "always") and \
                    may_overlap(earlier, rule):
                pairs.append((rule, earlier))
                break
    return pairs


def duplicate_rules(rules: Sequence[AuditRule]) -> List[AuditRule]:
    """Rules present more than once (the kernel refuses the second with "Rule exists")."""
    seen = set()
    duplicates = []
    for rule in rules:
        if rule.kind == "control":
            continue
        if rule in seen and rule not in duplicates:
            duplicates.append(rule)
        seen.add(rule)
    return duplicates


def conflicting_settings(rules: Sequence[AuditRule]) -> List[str]:
    """Control options given twice with different values (``-b 320`` and ``-b 8192``)."""
    values: Dict[str, List[AuditRule]] = {}
    for rule in unique_rules(rules):
        if rule.setting:
            values.setdefault(rule.setting, []).append(rule)
    return ["%s is given twice with different values: %s"
            % (setting, ", ".join(format_rule(rule) for rule in same))
            for setting, same in values.items() if len(same) > 1]
