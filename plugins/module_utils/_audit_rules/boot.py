# -*- coding: utf-8 -*-
# Copyright: whotouched.server_audit contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to whotouched.server_audit: it may change in any release. Do not import it from
# other collections or from code outside this collection.
"""The kernel command line, read as the kernel reads it, for the parameters audit needs from
the first process on (``audit=1``, ``audit_backlog_limit=N``)."""

from __future__ import annotations

from typing import Dict, Iterable, List, Optional


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
            continue
        else:
            word.append(char)
            continue
    if word:
        words.append("".join(word))
    return words[:words.index("--")] if "--" in words else words


def kernel_parameter(command_line: str, name: str) -> Optional[str]:
    """The value the kernel takes for ``name``: that of its last word (None when it is not
    there; "" for the name alone)."""
    value = None
    for word in command_line_words(command_line):
        word_name, equals, word_value = word.partition("=")
        if word_name == name:
            value = word_value if equals else ""
    return value


def lacking_parameters(command_line: str, wanted: Dict[str, str]) -> List[str]:
    """``name=value`` of each wanted parameter the kernel would not take from this line."""
    return ["%s=%s" % (name, value) for name, value in wanted.items()
            if kernel_parameter(command_line, name) != str(value)]


def command_lines_lacking(command_lines: Iterable[str], wanted: Dict[str, str]) -> List[str]:
    """The command lines (one per boot entry) on which the kernel would lack a wanted
    parameter, or take another value for it from a later word."""
    return [line for line in command_lines if lacking_parameters(line, wanted)]
