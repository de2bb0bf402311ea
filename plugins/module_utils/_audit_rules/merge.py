# -*- coding: utf-8 -*-
# Copyright: whotouched.server_audit contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to whotouched.server_audit: it may change in any release. Do not import it from
# other collections or from code outside this collection.
"""A rules file merged with wanted rules by meaning: where new lines go, what ``absent`` and
``exclusive`` remove, and the warnings a file deserves (a rule twice, a ``never`` rule that
comes too late)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

from ansible_collections.whotouched.server_audit.plugins.module_utils._audit_rules.checks import (
    duplicate_rules,
    filter_list_of,
    may_overlap,
    shadowed_never_rules,
    unique_rules,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._audit_rules.formatting import (
    format_rule,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._audit_rules.model import (
    DEFAULT_CONTEXT,
    AuditRule,
    RuleContext,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._audit_rules.rules_file import (
    RuleLine,
    cyclic_gc_paused,
    parse_rules_text,
    render_lines,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._text.printable import (
    sanitize,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils.managed_file import (
    MAX_LINE_WARNINGS,
    FileValidationError,
    MergeResult,
)


EXCLUSIVE_HEADER = ("## Managed by whotouched.server_audit.audit_rules (exclusive): "
                    "other lines are removed")


def _is_control(rule: Optional[AuditRule], *options: str) -> bool:
    return rule is not None and rule.kind == "control" and (not options or rule.option in options)


def _control_rank(rule: AuditRule) -> int:
    # -D flushes, so it goes first; -e locks (2) or enables, so it goes last.
    if _is_control(rule, "-D"):
        return 0
    if _is_control(rule, "-e"):
        return 3
    if rule.kind == "control":
        return 1
    return 2


@dataclass
class _Anchors:
    """Where new lines go in a file, worked out once per merge (merges stay linear)."""

    first_rule: int
    after_controls: int
    after_last_rule: int
    end: int
    rule_indexes: List[int]
    # The first -e 2 that rules follow: auditctl -R locks the kernel there and refuses them.
    lock: Optional[int]

    @classmethod
    def of(cls, lines: Sequence[RuleLine]) -> "_Anchors":
        rule_indexes = [index for index, line in enumerate(lines) if line.rule is not None]
        first_rule = rule_indexes[0] if rule_indexes else len(lines)
        after_controls = first_rule
        for index in rule_indexes:
            if lines[index].rule.kind != "control" or _is_control(lines[index].rule, "-e"):
                break
            after_controls = index + 1
        after_last_rule = len(lines)
        for index in reversed(rule_indexes):
            if not _is_control(lines[index].rule, "-e"):
                after_last_rule = index + 1
                break
            after_last_rule = index
        lock = next((index for index in rule_indexes if lines[index].rule.kind == "control"
                     and _locks(lines[index].rule)), None)
        if lock is not None and lock >= after_last_rule:
            lock = None
        return cls(first_rule, after_controls, after_last_rule, len(lines), rule_indexes, lock)


def _locks(rule: Optional[AuditRule]) -> bool:
    return _is_control(rule, "-e") and rule.value == "2"


def _insert_position(lines: Sequence[RuleLine], anchors: _Anchors, rule: AuditRule) -> int:
    if _is_control(rule, "-e"):
        return anchors.end
    if _is_control(rule, "-D"):
        return anchors.first_rule
    if rule.kind == "control":
        # After the leading block of control options, before the first rule.
        return anchors.after_controls
    # After the last rule, but before a final -e (which must stay last), and before a -e 2 that
    # rules follow (auditctl -R would refuse a rule after it).
    position = anchors.after_last_rule if anchors.lock is None else anchors.lock
    if rule.kind == "syscall" and rule.action == "never":
        # First match wins: put a new never rule before the first always rule it overlaps.
        for index in anchors.rule_indexes:
            other = lines[index].rule
            if index < position and other.kind != "control" and not other.delete \
                    and filter_list_of(other) == rule.filter_list \
                    and (other.kind == "watch" or other.action == "always") \
                    and may_overlap(other, rule):
                return index
    return position


def _new_line_rank(line: RuleLine) -> Tuple[int, int]:
    rule = line.rule
    return _control_rank(rule), 0 if rule.kind == "syscall" and rule.action == "never" else 1


def _merge_present(lines: List[RuleLine], wanted: Sequence[AuditRule], added: List[AuditRule],
                   removed: List[AuditRule]) -> List[RuleLine]:
    held = set(line.rule for line in lines if line.rule is not None)
    setting_lines: Dict[str, List[int]] = {}
    for index, line in enumerate(lines):
        if line.rule is not None and line.rule.kind == "control" and line.rule.setting:
            setting_lines.setdefault(line.rule.setting, []).append(index)
    anchors = _Anchors.of(lines)
    replaced: Dict[int, Optional[RuleLine]] = {}
    inserted: Dict[int, List[RuleLine]] = {}
    for rule in wanted:
        if rule in held:
            continue
        held.add(rule)
        added.append(rule)
        new_line = RuleLine(format_rule(rule), rule=rule)
        same_setting = setting_lines.get(rule.setting or "")
        if same_setting:
            # One value per setting: the new value takes the old line's place.
            for position, index in enumerate(same_setting):
                removed.append(lines[index].rule)
                replaced[index] = new_line if position == 0 else None
            continue
        inserted.setdefault(_insert_position(lines, anchors, rule), []).append(new_line)
    result: List[RuleLine] = []
    done = 0
    for index in sorted(set(inserted) | set(replaced)):
        result.extend(lines[done:index])
        # Several new lines at one place: -D, other control options, never rules (first
        # match wins, so before the new always rules they may overlap), other rules, -e.
        result.extend(sorted(inserted.get(index, ()), key=_new_line_rank))
        done = index
        if index in replaced:
            if replaced[index] is not None:
                result.append(replaced[index])
            done = index + 1
    result.extend(lines[done:])
    return result


def _line_warnings(lines: Sequence[RuleLine]) -> List[str]:
    """The lines auditctl refuses or reads otherwise than they look, the first
    :data:`MAX_LINE_WARNINGS` named, the rest counted."""
    problems = []
    more = 0
    for number, line in enumerate(lines, start=1):
        if not (line.error or line.note):
            continue
        if len(problems) == MAX_LINE_WARNINGS:
            more += 1
        elif line.error:
            problems.append("line %d is not a valid rule and is left as it is: %s"
                            % (number, line.error))
        else:
            problems.append('line %d "%s": %s'
                            % (number, sanitize(line.text.strip(" ")), line.note))
    if more:
        problems.append("%d more lines are not valid rules or do not read as they look (only "
                        "the first %d are named)" % (more, MAX_LINE_WARNINGS))
    return problems


def _spellings(lines: Sequence[RuleLine], spelled: Dict[AuditRule, str]) -> List[str]:
    """The normalized text of each line's rule, worked out once per distinct rule (``spelled``
    holds those known): a long file repeats them.  A line written as normalized lends its text."""
    result = []
    for line in lines:
        rule = line.rule
        if rule is None:
            continue
        text = spelled.get(rule)
        if text is None:
            text = format_rule(rule)
            if text == line.text:
                text = line.text
            spelled[rule] = text
        result.append(text)
    return result


def _not_a_rules_file(lines: Sequence[RuleLine]) -> Optional[str]:
    """Why the file is no audit rules file (a link to /etc/shadow, say), or None.

    It is not when no line of it is a rule and a line does not even begin with an option;
    the message names no line's text, so that such a file's content is never shown.
    """
    if any(line.is_rule for line in lines):
        return None
    for number, line in enumerate(lines, start=1):
        if line.error and not line.text.lstrip(" ").startswith("-"):
            return ("it is not an audit rules file: no line of it is a rule, and line %d does "
                    "not begin with an option (-a, -w, -e ...)" % number)
    return None


def _lock_warning(lines: Sequence[RuleLine]) -> Optional[str]:
    """A -e 2 that rules follow: auditctl -R locks the kernel there and refuses them."""
    lock = None
    after = 0
    for number, line in enumerate(lines, start=1):
        if line.rule is None:
            continue
        if lock is None and line.rule.kind == "control" and _locks(line.rule):
            lock = number
        elif lock is not None and not _is_control(line.rule, "-e"):
            after += 1
    if not after:
        return None
    return ("line %d locks the kernel's rules (-e 2) before the %d rules after it: auditctl -R "
            "refuses each of them until a reboot (augenrules moves -e to the end of "
            "audit.rules); move -e 2 to the end of the file (new rules are written before it)"
            % (lock, after))


@cyclic_gc_paused()
def merge_rules(existing_text: Optional[str], wanted: Sequence[AuditRule], state: str = "present",
                exclusive: bool = False, context: RuleContext = DEFAULT_CONTEXT,
                cache: Optional[Dict[str, tuple]] = None) -> MergeResult:
    """Compute the new rules file text.

    ``present`` keeps every line and adds the wanted rules not already there by meaning:
    control options replace an older value of the same setting in place (``-b 320``
    becomes ``-b 8192``), ``-D`` and other new control options go at the top, ``-e``
    last, a new ``never`` rule goes just before the first ``always`` rule of its list it
    may overlap (first match wins), any other new rule after the last rule (and before a
    ``-e 2`` that rules follow).  ``absent`` removes every line that means one of the wanted
    rules.  ``exclusive`` makes the file exactly the wanted rules under one header comment.
    The result's ``returns`` hold the file's ``rules`` after the merge and its ``duplicates``.
    Raises :class:`FileValidationError` for a file that is no rules file at all, naming no
    line's text.  ``cache`` is :func:`parse_rules_text`'s.
    """
    lines = parse_rules_text(existing_text, context, cache)
    problem = _not_a_rules_file(lines)
    if problem:
        raise FileValidationError(problem)
    wanted = unique_rules(wanted)
    warnings = _line_warnings(lines)
    added: List[AuditRule] = []
    removed: List[AuditRule] = []

    if exclusive:
        before = [line.rule for line in lines if line.rule is not None]
        # a rule the file holds keeps its spelling (a line auditctl reads as written)
        written = {}
        for line in lines:
            if line.rule is not None and line.note is None:
                written.setdefault(line.rule, line.text)
        ordered = sorted(wanted, key=_control_rank)
        lines = [RuleLine(EXCLUSIVE_HEADER)]
        lines += [RuleLine(written.get(rule) or format_rule(rule), rule=rule) for rule in ordered]
        remaining = Counter(before)
        for rule in ordered:
            if remaining[rule] > 0:
                remaining[rule] -= 1
            else:
                added.append(rule)
        for rule in before:
            if remaining[rule] > 0:
                remaining[rule] -= 1
                removed.append(rule)
        warnings = []
    elif state == "present":
        lines = _merge_present(lines, wanted, added, removed)
    elif state == "absent":
        unwanted = set(wanted)
        removed = [line.rule for line in lines if line.rule is not None and line.rule in unwanted]
        lines = [line for line in lines if line.rule is None or line.rule not in unwanted]
    else:
        raise ValueError("state must be present or absent, not %r" % state)

    after = [line.rule for line in lines if line.rule is not None]
    # One spelling per meaning, worked out once per distinct rule (a long file repeats them).
    spelled: Dict[AuditRule, str] = {}

    def spelling(rule: AuditRule) -> str:
        text = spelled.get(rule)
        if text is None:
            text = spelled[rule] = format_rule(rule)
        return text

    lock = _lock_warning(lines)
    if lock:
        warnings.append(lock)
    duplicates = duplicate_rules(after)
    for rule in duplicates:
        warnings.append('"%s" is in the file more than once; the kernel refuses the second '
                        'copy with "Rule exists"' % sanitize(spelling(rule)))
    for never, always in shadowed_never_rules(after):
        warnings.append('never rule "%s" comes after always rule "%s", which may match the same '
                        "events: the kernel uses the first rule that matches, so it does not "
                        "suppress those" % (sanitize(spelling(never)), sanitize(spelling(always))))
    text = render_lines(lines)
    if existing_text is not None and not exclusive and not added and not removed:
        # Nothing to add or remove: the file stays byte for byte as it is.
        text = existing_text
    return MergeResult(
        before=existing_text,
        text=text,
        added=[spelling(rule) for rule in added],
        removed=[spelling(rule) for rule in removed],
        warnings=warnings,
        returns={"rules": _spellings(lines, spelled),
                 "duplicates": [spelling(rule) for rule in duplicates]},
    )
