# -*- coding: utf-8 -*-
# Copyright: whotouched.server_audit contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to whotouched.server_audit: it may change in any release. Do not import it from
# other collections or from code outside this collection.
"""The kernel command line, read as the kernel reads it, for the parameters audit needs from
the first process on (``audit=1``, ``audit_backlog_limit=N``)."""

from __future__ import annotations

import re
from typing import Iterable, List, Optional

# kstrtouint with base 0: an optional +, then hexadecimal after 0x, octal after 0, else decimal
_UNSIGNED = re.compile(r"\+?(?:0[xX](?P<hex>[0-9a-fA-F]+)|0(?P<octal>[0-7]*)|(?P<decimal>[1-9][0-9]*))\n?")
_U32_MAX = 2 ** 32 - 1


def command_line_words(command_line: str) -> List[str]:
    """The words of a kernel command line: split at blanks, where double quotes keep blanks
    in a word (the kernel's ``next_arg``), up to ``--`` (what follows is init's)."""
    words = []
    word = []
    quoted = False
    for char in command_line:
        if char == '"':
            quoted = not quoted
        elif char.isspace() and not quoted:
            if word:
                words.append("".join(word))
                word = []
        else:
            word.append(char)
    if word:
        words.append("".join(word))
    return words[:words.index("--")] if "--" in words else words


def _values(command_line: str, name: str) -> List[str]:
    """The values given to ``name``, in order; the kernel reads - in a name as _."""
    name = name.replace("-", "_")
    values = []
    for word in command_line_words(command_line):
        word_name, equals, value = word.partition("=")
        if equals and word_name.replace("-", "_") == name:
            values.append(value)
    return values


def _unsigned(text: str) -> Optional[int]:
    """The number kstrtouint(text, 0) reads, None where it refuses the text."""
    match = _UNSIGNED.fullmatch(text)
    if match is None:
        return None
    if match.group("hex") is not None:
        number = int(match.group("hex"), 16)
    elif match.group("octal") is not None:
        number = int(match.group("octal") or "0", 8)
    else:
        number = int(match.group("decimal"))
    return number if number <= _U32_MAX else None


def audit_enabled(command_line: str) -> Optional[bool]:
    """Whether the kernel audits from boot (kernel/audit.c, audit_enable): an ``audit=0`` or
    ``audit=off`` anywhere turns auditing off until the next boot, whatever follows; any other
    value turns it on.  None: no ``audit=`` (auditing starts with auditd)."""
    values = _values(command_line, "audit")
    if not values:
        return None
    return not any(value == "0" or value.lower() == "off" for value in values)


def backlog_limit(command_line: str) -> Optional[int]:
    """The kernel's backlog limit at boot (audit_backlog_limit_set): the last value it can
    read; the others are ignored.  None: none given (the kernel's own, 64)."""
    limit = None
    for value in _values(command_line, "audit_backlog_limit"):
        number = _unsigned(value)
        if number is not None:
            limit = number
    return limit


def audit_parameters_lacking(command_line: str, limit: int) -> List[str]:
    """``audit=1`` and ``audit_backlog_limit=<limit>``, each where the kernel would not take it
    from this command line."""
    lacking = []
    if not audit_enabled(command_line):
        lacking.append("audit=1")
    if backlog_limit(command_line) != int(limit):
        lacking.append("audit_backlog_limit=%d" % int(limit))
    return lacking


def command_lines_lacking(command_lines: Iterable[str], limit: int) -> List[str]:
    """The command lines (one per boot entry) on which the kernel would not audit from boot
    with that backlog limit."""
    return [line for line in command_lines if audit_parameters_lacking(line, limit)]
