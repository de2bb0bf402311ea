# -*- coding: utf-8 -*-
# Copyright: whotouched.server_audit contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to whotouched.server_audit: it may change in any release. Do not import it from
# other collections or from code outside this collection.
"""Merge settings into an auditd ``key = value`` file by key, keeping every other line."""

from __future__ import annotations

import re
from typing import Dict, List, Optional, Sequence, Tuple

from ansible_collections.whotouched.server_audit.plugins.module_utils._auditd_conf.keywords import (
    canonical_key,
    combination_problems,
    same_value,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._text.printable import (
    sanitize,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils.managed_file import (
    MAX_LINE_WARNINGS,
    FileValidationError,
    MergeResult,
)

# auditd splits a line at spaces (only): KEY, "=", the value (and an exec action's program);
# a tab or a carriage return is part of a word.
_OTHER_BLANKS = re.compile(r"[^\S ]")

EXCLUSIVE_HEADER = ("# Managed by whotouched.server_audit.auditd_conf (exclusive): "
                    "other lines are removed")


def _words(line: str) -> List[str]:
    return [word for word in line.split(" ") if word]


def _comment_or_blank(line: str) -> bool:
    words = _words(line)
    return not words or words[0].startswith("#")


def parse_setting_line(line: str) -> Optional[Tuple[str, str]]:
    """``(key, value)`` of a setting line as auditd reads it (the key in lower case), or None
    for a comment, a blank line or a line that is no setting (``key=value``, a tab)."""
    words = _words(line)
    if len(words) not in (3, 4) or words[1] != "=" or words[0].startswith("#") or \
            _OTHER_BLANKS.search(line):
        return None
    return canonical_key(words[0]), " ".join(words[2:])


def _effective(text: Optional[str]) -> Dict[str, str]:
    """The settings of ``text`` as auditd keeps them (the last line of a key)."""
    settings = {}
    for line in (text or "").split("\n"):
        setting = parse_setting_line(line)
        if setting is not None:
            settings[setting[0]] = setting[1]
    return settings


def _line(key: str, value: str) -> str:
    return "%s = %s" % (key, value)


def _not_settings(lines: Sequence[str]) -> List[int]:
    """The numbers of the lines that are neither a setting, a comment nor blank."""
    return [number for number, line in enumerate(lines, start=1)
            if not _comment_or_blank(line) and parse_setting_line(line) is None]


def _line_warnings(lines: Sequence[str], numbers: Sequence[int]) -> List[str]:
    """The first :data:`MAX_LINE_WARNINGS` lines that are no setting, shown safe, the rest
    counted."""
    warnings = ['line %d "%s" of the file is not "key = value": auditd refuses the file'
                % (number, sanitize(lines[number - 1].strip(" "))) for number in numbers[:MAX_LINE_WARNINGS]]
    if len(numbers) > MAX_LINE_WARNINGS:
        warnings.append("%d more lines are not \"key = value\" (only the first %d are named)"
                        % (len(numbers) - MAX_LINE_WARNINGS, MAX_LINE_WARNINGS))
    return warnings


def merge_settings(existing_text: Optional[str], settings: Sequence[Tuple[str, str]],
                   state: str = "present", exclusive: bool = False,
                   syntax: str = "auditd") -> MergeResult:
    """The new text of the file for ``settings`` (checked ``(key, value)`` pairs).

    ``present`` gives every line that sets a key its value (auditd keeps the last line of a
    key, so each one is set) and appends the keys the file lacks; ``absent`` removes the lines
    that set the keys; ``exclusive`` makes the file exactly the settings under one header
    comment.  Unchanged, the text is the file's own, byte for byte.  The result's ``returns``
    hold ``settings``: the given keys as the file now sets them.  Raises
    :class:`FileValidationError` for a file that is no such file at all (a link to
    /etc/shadow, say), naming no line's text.
    """
    lines = existing_text.split("\n") if existing_text else []
    if lines and lines[-1] == "":
        lines.pop()
    strangers = _not_settings(lines)
    # (a file with Windows line ends is one, which auditd refuses: its lines are named)
    if strangers and not any(parse_setting_line(line.rstrip("\r")) for line in lines):
        raise FileValidationError("it is not an auditd configuration file: no line of it is "
                                  "a \"key = value\" setting, and line %d is neither a "
                                  "setting nor a comment" % strangers[0])
    settings = [(canonical_key(key), value) for key, value in settings]
    wanted = dict(settings)
    added: List[str] = []
    removed: List[str] = []
    warnings = _line_warnings(lines, strangers)

    if exclusive:
        kept = {}  # key -> the line that already sets it as wanted, kept as it is written
        for line in lines:
            setting = parse_setting_line(line)
            if setting is None:
                continue
            key, value = setting
            if key in wanted and same_value(syntax, key, value, wanted[key]) and key not in kept:
                kept[key] = line
            else:
                removed.append(_line(key, value))
        new_lines = [EXCLUSIVE_HEADER] + [kept.get(key) or _line(key, value)
                                          for key, value in settings]
        added = [_line(key, value) for key, value in settings if key not in kept]
        warnings = []
        lines = new_lines
    elif state == "present":
        found = set()
        for index, line in enumerate(lines):
            setting = parse_setting_line(line)
            if setting is None or setting[0] not in wanted:
                continue
            key, value = setting
            found.add(key)
            if not same_value(syntax, key, value, wanted[key]):
                removed.append(_line(key, value))
                added.append(_line(key, wanted[key]))
                lines[index] = _line(key, wanted[key])
        for key, value in settings:
            if key not in found:
                added.append(_line(key, value))
                lines.append(_line(key, value))
    elif state == "absent":
        kept_lines = []
        for line in lines:
            setting = parse_setting_line(line)
            if setting is not None and setting[0] in wanted:
                removed.append(_line(*setting))
            else:
                kept_lines.append(line)
        lines = kept_lines
    else:
        raise ValueError("state must be present or absent, not %r" % state)

    text = "\n".join(lines) + "\n" if lines else ""
    if existing_text is not None and not exclusive and not added and not removed:
        # Nothing to set or remove: the file stays byte for byte as it is.
        text = existing_text
    # settings auditd refuses together: never made by this change, named where they were
    effective = _effective(text)
    before = combination_problems(_effective(existing_text), syntax)
    after = combination_problems(effective, syntax)
    made = [problem for problem in after if problem not in before]
    if made:
        raise FileValidationError("; ".join(made))
    warnings += ["%s (so in the file already)" % problem for problem in after]
    now = {key: value for key, value in effective.items() if key in wanted}
    return MergeResult(before=existing_text, text=text, added=added, removed=removed,
                       warnings=warnings, returns={"settings": now})
