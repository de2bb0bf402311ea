# -*- coding: utf-8 -*-
# Copyright: whotouched.server_audit contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to whotouched.server_audit: it may change in any release. Do not import it from
# other collections or from code outside this collection.
"""Checks of audit rules: legal, but probably not what their author meant (no ``-F arch=``,
names this host does not know, a ``never`` rule the kernel never reaches, a rule twice) or
refused on this target (an unknown syscall, two values for one setting)."""

from __future__ import annotations

import itertools
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

from ansible_collections.whotouched.server_audit.plugins.module_utils._audit_rules.grammar import (
    GID_FIELDS,
    LINE_BYTES,
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
    required_directory,
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


# What a character that does not show would do in a line of a rules file.
_UNSHOWN_CHARACTERS = {
    "\x00": "a NUL byte, which ends the line for auditctl",
    "\n": "a newline, which would make it two lines",
    "\t": "a tab, which auditctl does not read as a blank (words are separated by spaces)",
    "\r": "a carriage return, which auditctl reads as part of a word",
}


def _unshown_character(text: str) -> Optional[Tuple[str, str]]:
    """``(word, reason)`` for the first character of ``text`` that does not show, or None."""
    if text.isprintable():
        return None
    character = next(character for character in text if not character.isprintable())
    word = next(word for word in text.split(" ") if character in word)
    reason = _UNSHOWN_CHARACTERS.get(character) or (
        "U+%04X, a character that does not show (a control, a line separator, a zero-width "
        "or bidirectional mark)" % ord(character))
    return word, "it holds %s" % reason


def check_rule(text: str, context: RuleContext = DEFAULT_CONTEXT,
               present: bool = True) -> Tuple[AuditRule, List[str]]:
    """Parse and validate a rule to write into a file (``present``) or to take out of one;
    returns the rule and its warnings.

    Raises :class:`RuleSyntaxError` for a character that does not show (a NUL, a tab, a line
    end ...) and, for a rule to write, for a line longer than auditctl reads and for a syscall
    unknown for the rule's arch (a rule to take out may name one: it was written with a typo).
    """
    unshown = _unshown_character(text)
    if unshown:
        raise RuleSyntaxError(text, *unshown)
    rule = parse_rule(text, context)
    if not present:
        return rule, []
    unknown = unknown_syscalls(rule, context)
    if unknown:
        raise RuleSyntaxError(joined_words(text), unknown[0],
                              "syscall %s is unknown for arch %s"
                              % (unknown[0], rule.arch or context.native_arch))
    size = len(format_rule(rule).encode("utf-8"))
    if size > LINE_BYTES:
        raise RuleSyntaxError(joined_words(text), joined_words(text)[:40] + "...",
                              "it is %d bytes long written out, and auditctl reads at most %d "
                              "bytes of a line" % (size, LINE_BYTES))
    return rule, rule_warnings(rule, context)


def checked_rules(texts: Iterable[str], context: RuleContext = DEFAULT_CONTEXT,
                  present: bool = True) -> Tuple[List[Tuple[str, AuditRule, List[str]]], List[str]]:
    """Every rule of a rule set to write (``present``) or take out, parsed and checked against
    the target (see :func:`check_rule`): ``(text, rule,
    warnings)`` for each valid one, and the problems - each rule ``auditctl`` would refuse, and
    control options given twice with different values.  Without the target's syscall tables
    (on the controller) syscall names are checked for shape only."""
    checked, problems = [], []
    for text in texts:
        try:
            rule, warnings = check_rule(text, context, present)
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


def refused_here(text: str, rule: AuditRule, context: RuleContext, directory_exists,
                 resolve) -> bool:
    """Whether auditctl refuses ``rule`` (written ``text``) on this host, as far as can be
    told without loading it: the directory its watch needs is missing (``directory_exists``),
    or a user or group name it names has no number here (``resolve(field, name)``)."""
    try:
        directory = required_directory(text, context)
    except RuleSyntaxError:
        directory = None
    if directory and not directory_exists(directory):
        return True
    return rule.kind == "syscall" and any(
        names_an_id(name, value) and resolve(name, value) is None
        for name, _operator, value in rule.fields)


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


def _overlap_shape(rule: AuditRule) -> Tuple:
    """What :func:`may_overlap` sees of a rule (its kind, list, syscalls, path and ``=`` tests),
    so that rules of one shape overlap the same rules: copies of a rule that differ only in
    keys, comparisons or other tests, a watch's permissions."""
    fields = rule.fields
    for item in fields:
        if item[1] != "=":
            fields = tuple(item for item in fields if item[1] == "=")
            break
    return (rule.kind, rule.filter_list, rule.syscalls, rule.path, fields)


def shadowed_never_rules(rules: Sequence[AuditRule]) -> List[Tuple[AuditRule, AuditRule]]:
    """(never rule, earlier always rule) pairs where the never rule comes too late.

    The kernel stops at the first rule of a list that matches, so a ``never`` rule after
    an ``always`` rule that matches some of the same events does not suppress those.  Each
    shape of rule (see :func:`_overlap_shape`) is compared once with each shape before it, so a
    long file's copies of the same rules cost no more than one copy.
    """
    pairs = []
    # per filter list: the shape of each earlier always rule or watch -> its first rule, in order
    earlier: Dict[str, Dict[Tuple, AuditRule]] = {}
    # never shape -> (the first earlier rule it overlaps, or None; how many shapes were tried)
    verdicts: Dict[Tuple, Tuple[Optional[AuditRule], int]] = {}
    checked = set()
    for rule in rules:
        if rule.kind == "control" or rule.delete:
            continue
        if rule.kind == "watch" or rule.action == "always":
            earlier.setdefault(filter_list_of(rule), {}).setdefault(_overlap_shape(rule), rule)
            continue
        if rule.action != "never" or rule.prepend or rule in checked:
            continue
        # A never rule written again is a duplicate: its first copy says it all.
        checked.add(rule)
        shape = _overlap_shape(rule)
        candidates = earlier.get(rule.filter_list, {})
        found, tried = verdicts.get(shape, (None, 0))
        if found is None:
            # A rule overlaps what its shape overlaps: the first rule of each shape stands for it.
            for first in itertools.islice(candidates.values(), tried, None):
                if may_overlap(first, rule):
                    found = first
                    break
            verdicts[shape] = (found, len(candidates))
        if found is not None:
            pairs.append((rule, found))
    return pairs


def duplicate_rules(rules: Sequence[AuditRule]) -> List[AuditRule]:
    """Rules present more than once (the kernel refuses the second with "Rule exists")."""
    seen = set()
    duplicates: Dict[AuditRule, None] = {}  # in the order found
    for rule in rules:
        if rule.kind == "control":
            continue
        if rule in seen:
            duplicates[rule] = None
        seen.add(rule)
    return list(duplicates)


def conflicting_settings(rules: Sequence[AuditRule]) -> List[str]:
    """Control options given twice with different values (``-b 320`` and ``-b 8192``)."""
    values: Dict[str, List[AuditRule]] = {}
    for rule in unique_rules(rules):
        if rule.setting:
            values.setdefault(rule.setting, []).append(rule)
    return ["%s is given twice with different values: %s"
            % (setting, ", ".join(format_rule(rule) for rule in same))
            for setting, same in values.items() if len(same) > 1]
