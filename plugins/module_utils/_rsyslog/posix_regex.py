# -*- coding: utf-8 -*-
# Copyright: whotouched.server_audit contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to whotouched.server_audit: it may change in any release. Do not import it from
# other collections or from code outside this collection.
"""Whether rsyslog can compile a POSIX regular expression, asked of the C library's own
``regcomp``, as rsyslog does.

``rsyslogd -N1`` does not compile the expressions of ``regex`` and ``ereregex`` property
filters: a pattern ``regcomp`` refuses (``a{2,1}``, ``[[:nosuch:]]``, ``(?=x)``, ``*x`` as
ERE) passes the check and fails at run time, and the filter never matches.  So the pattern is
compiled here by the same function, reached through ``ctypes`` (standard library), with the
flags rsyslog uses (``re_match()`` patterns too, which rsyslogd compiles itself, so that the
message names the filter even without validation).  Where no C library can be loaded, a scanner reports what every
POSIX ``regcomp`` refuses (an unclosed bracket or group, a lone final backslash).
"""

from __future__ import annotations

import ctypes
import ctypes.util
from typing import List, Optional

# <regex.h>, the same values in glibc and musl.
REG_EXTENDED = 1
REG_NOSUB = 8
# Room for any C library's regex_t (glibc's is 64 bytes on 64-bit machines).
_REGEX_T_SIZE = 1024

_LIBC = []  # the loaded C library (or None), once


def _libc():
    if not _LIBC:
        try:
            name = ctypes.util.find_library("c")
            library = ctypes.CDLL(name) if name else None
            if library is not None and not hasattr(library, "regcomp"):
                library = None
        except (OSError, AttributeError):
            library = None
        _LIBC.append(library)
    return _LIBC[0]


def regcomp_problem(pattern: str, extended: bool) -> Optional[str]:
    """What the C library's ``regcomp`` says of ``pattern`` (ERE when ``extended``), None when
    it compiles; raises ``OSError`` when there is no C library to ask."""
    libc = _libc()
    if libc is None:
        raise OSError("no C library with regcomp")
    if "\x00" in pattern:
        return "it holds a NUL byte, where the C library's pattern ends"
    compiled = ctypes.create_string_buffer(_REGEX_T_SIZE)
    flags = (REG_EXTENDED if extended else 0) | REG_NOSUB
    code = libc.regcomp(compiled, pattern.encode("utf-8"), flags)
    if code == 0:
        libc.regfree(compiled)
        return None
    message = ctypes.create_string_buffer(256)
    libc.regerror(code, compiled, message, len(message))
    return "regcomp says: %s" % message.value.decode("utf-8", "replace")


def regex_problem(pattern: str, extended: bool) -> Optional[str]:
    """Why rsyslog cannot compile the POSIX regex ``pattern`` (ERE when ``extended``), or None."""
    try:
        return regcomp_problem(pattern, extended)
    except OSError:
        return scanned_regex_problem(pattern, extended)


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


def scanned_regex_problem(pattern: str, extended: bool) -> Optional[str]:
    """Why no POSIX ``regcomp`` can compile ``pattern``, or None (without a C library).

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
