# -*- coding: utf-8 -*-
# Copyright: whotouched.server_audit contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to whotouched.server_audit: it may change in any release. Do not import it from
# other collections or from code outside this collection.
"""Scanning rsyslog configuration text: strings, comments, brackets and RainerScript tokens,
and the escapes of RainerScript strings and property-filter values."""

from __future__ import annotations

import re
from typing import Iterator, List, Optional, Tuple

from ansible_collections.whotouched.server_audit.plugins.module_utils._rsyslog.model import (
    FilterSyntaxError,
)

WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def skip_string(text: str, pos: int) -> int:
    """Index just after the quoted string starting at ``pos`` (backslash escapes honoured)."""
    quote = text[pos]
    pos += 1
    while pos < len(text):
        char = text[pos]
        if char == "\\":
            pos += 2
            continue
        if char == quote:
            return pos + 1
        pos += 1
    raise FilterSyntaxError("unterminated string starting %r" % text[:40])


def skip_space_and_comments(text: str, pos: int) -> int:
    while pos < len(text):
        if text[pos].isspace():
            pos += 1
        elif text[pos] == "#":
            end = text.find("\n", pos)
            pos = len(text) if end < 0 else end + 1
        elif text.startswith("/*", pos):
            end = text.find("*/", pos + 2)
            if end < 0:
                raise FilterSyntaxError("unterminated /* comment")
            pos = end + 2
        else:
            break
    return pos


def next_code(text: str, pos: int) -> Optional[int]:
    """Index of the next character of ``text`` from ``pos`` that is neither blank nor in a
    comment; None at the end."""
    pos = skip_space_and_comments(text, pos)
    return pos if pos < len(text) else None


def _skip_inert(text: str, pos: int) -> int:
    """Index past the string or comment starting at ``pos``; ``pos`` when there is none."""
    if text[pos] in "\"'`":
        return skip_string(text, pos)
    if text[pos] == "#" or text.startswith("/*", pos):
        return skip_space_and_comments(text, pos)
    return pos


# Where a string or a comment begins: what code_positions passes over whole.
_INERT_START = re.compile(r"[\"'`#]|/\*")


def code_positions(text: str, pos: int) -> Iterator[Tuple[int, str]]:
    """``(index, character)`` of ``text`` from ``pos`` on, strings and comments passed over
    whole: the characters that are code."""
    while True:
        inert = _INERT_START.search(text, pos)
        stop = len(text) if inert is None else inert.start()
        for index in range(pos, stop):
            yield index, text[index]
        if inert is None:
            return
        pos = _skip_inert(text, stop)


def matching_close(text: str, pos: int) -> int:
    """Index just after the bracket matching the one at ``pos`` (quotes and comments aware)."""
    pairs = {"(": ")", "{": "}", "[": "]"}
    stack = [pairs[text[pos]]]
    for index, char in code_positions(text, pos + 1):
        if char in pairs:
            stack.append(pairs[char])
        elif char in ")}]":
            if char != stack.pop():
                raise FilterSyntaxError("unbalanced %r in %r" % (char, text.strip()[:60]))
            if not stack:
                return index + 1
    raise FilterSyntaxError("missing %r in %r" % (stack[-1], text.strip()[:60]))


def _script_tokens(text: str) -> List[str]:
    """RainerScript tokens with comments dropped; words outside strings lowercased."""
    tokens = []
    pos = 0
    while (pos := next_code(text, pos)) is not None:
        char = text[pos]
        if char in "\"'`":
            end = skip_string(text, pos)
            tokens.append(_canonical_string(text[pos:end]))
            pos = end
            continue
        match = re.compile(r"\$[$!./]?[@A-Za-z0-9_\-.!\[\]]*|[A-Za-z0-9_]+").match(text, pos)
        if match:
            word = match.group(0)
            # event variables ($!name, $.name, $/name) are case-sensitive; properties are not
            tokens.append(word if word[:2] in ("$!", "$.", "$/") else word.lower())
            pos = match.end()
        else:
            tokens.append(char)
            pos += 1
    return tokens


def _canonical_string(literal: str) -> str:
    """A quoted RainerScript string written one canonical way (double quotes)."""
    if literal.startswith("`"):
        return literal  # backticks run a command: their text is their meaning
    return '"%s"' % escape_script(unescape_script(literal[1:-1]))


_SCRIPT_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "a": "\a", "f": "\f",
                   "v": "\v"}


def unescape_script(body: str) -> str:
    """Decode a RainerScript string body: ``\\n``, ``\\xHH``, octal, others literal."""
    out = []
    pos = 0
    while pos < len(body):
        char = body[pos]
        if char != "\\" or pos + 1 >= len(body):
            out.append(char)
            pos += 1
            continue
        nxt = body[pos + 1]
        if nxt in _SCRIPT_ESCAPES:
            out.append(_SCRIPT_ESCAPES[nxt])
            pos += 2
        elif nxt in "xX" and re.match(r"[0-9a-fA-F]{2}", body[pos + 2:pos + 4]):
            out.append(chr(int(body[pos + 2:pos + 4], 16)))
            pos += 4
        elif re.match(r"[0-7]{3}", body[pos + 1:pos + 4]):
            out.append(chr(int(body[pos + 1:pos + 4], 8)))
            pos += 4
        else:
            out.append(nxt)
            pos += 2
    return "".join(out)


def escape_script(value: str, in_expression: bool = True) -> str:
    """Encode a string for a double-quoted RainerScript expression or object parameter.

    Expressions need ``$`` escaped; object parameters do not accept ``\\$``.
    """
    out = []
    for char in value:
        if char in "\\\"'" or (in_expression and char == "$"):
            out.append("\\" + char)
        elif char == "\n":
            out.append("\\n")
        elif char == "\t":
            out.append("\\t")
        elif ord(char) < 32:
            out.append("\\%03o" % ord(char))
        else:
            out.append(char)
    return "".join(out)


def normalized_text(text: str) -> str:
    return " ".join(_script_tokens(text))


def unescape_line_value(body: str) -> str:
    """Property-filter values: rsyslog keeps the character after any backslash."""
    return re.sub(r"\\(.)", r"\1", body, flags=re.DOTALL)


def escape_line_value(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


def object_params(body: str) -> List[Tuple[str, str]]:
    """``name="value" ...`` inside ``action( )``, ``input( )`` and the like; arrays are kept as
    their canonical text."""
    params = []
    pos = 0
    while (pos := next_code(body, pos)) is not None:
        match = re.compile(r"([A-Za-z][A-Za-z0-9_.]*)\s*=\s*").match(body, pos)
        if not match:
            raise FilterSyntaxError("cannot read parameter at %r" % body[pos:pos + 30])
        name = match.group(1)
        pos = match.end()
        if pos < len(body) and body[pos] in "\"`":
            end = skip_string(body, pos)
            value = unescape_script(body[pos + 1:end - 1])
        elif pos < len(body) and body[pos] == "[":
            end = matching_close(body, pos)
            value = normalized_text(body[pos:end])
        else:
            raise FilterSyntaxError("parameter %s needs a quoted value" % name)
        params.append((name, value))
        pos = skip_space_and_comments(body, end)
        if pos < len(body) and body[pos] == ",":
            pos += 1
    return params
