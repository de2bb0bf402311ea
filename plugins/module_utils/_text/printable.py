# -*- coding: utf-8 -*-
# Copyright: whotouched.server_audit contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to whotouched.server_audit: it may change in any release. Do not import it from
# other collections or from code outside this collection.
"""One definition of text that is safe to show: every character shows as itself or as an
escape.

A character that does not show is written as ``\\xNN``, ``\\uNNNN`` or ``\\UNNNNNNNN``: what
Python's Unicode database calls non-printable (categories Cc, Cf, Cs, Co, Cn, Zl, Zp and Zs but
the space).  That covers the C0 and C1 controls and ESC (terminal sequences), the line and
paragraph separators U+2028 and U+2029 (new lines in editors, browsers and JSON readers),
zero-width characters (U+200B, U+2060, U+FEFF), the bidirectional marks and overrides
(U+200F, U+061C, U+202E, U+2066 ...) that make text read in another order, and the tag
characters (U+E0000 block) that hide text inside other text.  ``str.isprintable`` decides, in
C, for the whole text at once; only text that holds such a character is rewritten.
"""

from __future__ import annotations


def _escape(character):
    code = ord(character)
    if code < 0x100:
        return "\\x%02x" % code
    if code < 0x10000:
        return "\\u%04x" % code
    return "\\U%08x" % code


def sanitize(text):
    """``text`` (any value; None is ``""``) as text whose every character shows."""
    if text is None:
        return ""
    text = str(text)
    if text.isprintable():
        return text
    return "".join(character if character.isprintable() else _escape(character)
                   for character in text)
