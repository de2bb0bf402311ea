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
    RuleSyntaxError,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._audit_rules.parser import (
    parse_rule,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils.managed_file import (
    MergeResult,
)


@dataclass
class RuleLine:
    """One line of a rules file: its text, and its rule when it is one."""

    text: str
    rule: Optional[AuditRule] = None
    error: Optional[str] = None

    @property
    def is_rule(self) -> bool:
        return self.rule is not None


def parse_rules_text(text: Optional[str], context: RuleContext = DEFAULT_CONTEXT) -> List[RuleLine]:
    """Split a rules file into lines; comments, blanks and bad lines keep their text."""
    lines = []
    for line in (text or "").splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            lines.append(RuleLine(line))
            continue
        try:
            lines.append(RuleLine(line, rule=parse_rule(stripped, context)))
        except RuleSyntaxError as error:
            lines.append(RuleLine(line, error=str(error)))
    return lines


def render_lines(lines: Sequence[RuleLine]) -> str:
    """Join lines into file text ending with a newline (augenrules concatenates files)."""
    if not lines:
        return ""
    return "\n".join(line.text for line in lines) + "\n"


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

    @classmethod
    def of(cls, lines: Sequence[RuleLine]) -> "_Anchors":
        rule_indexes = [index for index, line in enumerate(lines) if line.is_rule]
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
        return cls(first_rule, after_controls, after_last_rule, len(lines), rule_indexes)


def _insert_position(lines: Sequence[RuleLine], anchors: _Anchors, rule: AuditRule) -> int:
    if _is_control(rule, "-e"):
        return anchors.end
    if _is_control(rule, "-D"):
        return anchors.first_rule
    if rule.kind == "control":
        # After the leading block of control options, before the first rule.
        return anchors.after_controls
    if rule.kind == "syscall" and rule.action == "never":
        # First match wins: put a new never rule before the first always rule it overlaps.
        for index in anchors.rule_indexes:
            other = lines[index].rule
            if other.kind != "control" and not other.delete and filter_list_of(other) == rule.filter_list \
                    and (other.kind == "watch" or other.action == "always") \
                    and may_overlap(other, rule):
                return index
    # After the last rule, but before a final -e (which must stay last).
    return anchors.after_last_rule


def _new_line_rank(line: RuleLine) -> Tuple[int, int]:
    rule = line.rule
    return _control_rank(rule), 0 if rule.kind == "syscall" and rule.action == "never" else 1


def _merge_present(lines: List[RuleLine], wanted: Sequence[AuditRule], added: List[AuditRule],
                   removed: List[AuditRule]) -> List[RuleLine]:
    held = set(line.rule for line in lines if line.is_rule)
    setting_lines: Dict[str, List[int]] = {}
    for index, line in enumerate(lines):
        if line.is_rule and line.rule.setting:
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
    for index in range(len(lines) + 1):
        # Several new lines at one place: -D, other control options, never rules (first
        # match wins, so before the new always rules they may overlap), other rules, -e.
        result.extend(sorted(inserted.get(index, ()), key=_new_line_rank))
        if index < len(lines):
            line = replaced.get(index, lines[index])
            if line is not None:
                result.append(line)
    return result


def merge_rules(existing_text: Optional[str], wanted: Sequence[AuditRule], state: str = "present",
                exclusive: bool = False, context: RuleContext = DEFAULT_CONTEXT) -> MergeResult:
    """Compute the new rules file text.

    ``present`` keeps every line and adds the wanted rules not already there by meaning:
    control options replace an older value of the same setting in place (``-b 320``
    becomes ``-b 8192``), ``-D`` and other new control options go at the top, ``-e``
    last, a new ``never`` rule goes just before the first ``always`` rule of its list it
    may overlap (first match wins), any other new rule after the last rule.
    ``absent`` removes every line that means one of the wanted rules.  ``exclusive``
    makes the file exactly the wanted rules under one header comment.  The result's
    ``returns`` hold the file's ``rules`` after the merge and its ``duplicates``.
    """
    lines = parse_rules_text(existing_text, context)
    before = [line.rule for line in lines if line.is_rule]
    wanted = unique_rules(wanted)
    warnings = ['line "%s" is not a valid rule and is left as it is: %s'
                % (line.text.strip(), line.error) for line in lines if line.error]
    added: List[AuditRule] = []
    removed: List[AuditRule] = []

    if exclusive:
        ordered = sorted(wanted, key=_control_rank)
        lines = [RuleLine(EXCLUSIVE_HEADER)]
        lines += [RuleLine(format_rule(rule), rule=rule) for rule in ordered]
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
        removed = [line.rule for line in lines if line.is_rule and line.rule in unwanted]
        lines = [line for line in lines if not (line.is_rule and line.rule in unwanted)]
    else:
        raise ValueError("state must be present or absent, not %r" % state)

    after = [line.rule for line in lines if line.is_rule]
    for rule in duplicate_rules(after):
        warnings.append('"%s" is in the file more than once; the kernel refuses the second '
                        'copy with "Rule exists"' % format_rule(rule))
    for never, always in shadowed_never_rules(after):
        warnings.append('never rule "%s" comes after always rule "%s", which may match the same '
                        "events: the kernel uses the first rule that matches, so it does not "
                        "suppress those" % (format_rule(never), format_rule(always)))
    text = render_lines(lines)
    if existing_text is not None and not exclusive and not added and not removed:
        # Nothing to add or remove: the file stays byte for byte as it is.
        text = existing_text
    return MergeResult(
        before=existing_text,
        text=text,
        added=[format_rule(rule) for rule in added],
        removed=[format_rule(rule) for rule in removed],
        warnings=warnings,
        returns={"rules": [format_rule(rule) for rule in after],
                 "duplicates": [format_rule(rule) for rule in duplicate_rules(after)]},
    )
