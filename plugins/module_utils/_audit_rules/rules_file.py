# -*- coding: utf-8 -*-
# Copyright: whotouched.server_audit contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to whotouched.server_audit: it may change in any release. Do not import it from
# other collections or from code outside this collection.
"""A rules file read as ``auditctl -R`` reads it: the one definition of a line that reading,
merging and writing share.

auditctl reads a file with ``fgets`` into a buffer of 6144 bytes and ends a line at the
newline (``\\n``) and nowhere else: a carriage return, a form feed, NEL, U+2028 or U+2029 is
a character of the line like any other (``str.splitlines`` would end the line there, and a
comment could come back from a rewrite as an active ``-e 2``).  A line of more than 6143 bytes
is read in pieces, each a line of its own.  A NUL byte ends what auditctl sees of a line.  A
line of spaces alone is blank, a line whose first word begins with ``#`` is a comment, and
words are separated by spaces only (see ``parser.rule_words``).  augenrules concatenates the
files of ``rules.d`` line by line the same way before auditctl reads the result.

Lines are kept as text so that every line the merge does not touch is written back byte for
byte (a CRLF file keeps its carriage returns).
"""

from __future__ import annotations

import gc
from contextlib import contextmanager
from typing import Dict, Iterable, Iterator, List, Optional, Sequence

from ansible_collections.whotouched.server_audit.plugins.module_utils._audit_rules.checks import (
    unknown_syscalls,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._audit_rules.grammar import (
    LINE_BYTES,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._audit_rules.model import (
    DEFAULT_CONTEXT,
    AuditRule,
    RuleContext,
    RuleSyntaxError,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._audit_rules.parser import (
    parse_rule,
    rule_words,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._text.printable import (
    sanitize,
)


@contextmanager
def cyclic_gc_paused() -> Iterator[None]:
    """Python's cycle collector off while a long file's lines and rules are made, and as it was
    afterwards: they hold no cycles, and a million of them would be scanned again and again."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


class RuleLine:
    """One line of a rules file: its text (without the newline), and its rule when it is one.

    ``error`` says why a line that is neither blank nor a comment is no rule auditctl takes;
    ``note`` what auditctl makes of a line that its text does not show (a carriage return at
    its end, a NUL byte in it, a syscall this host does not know).
    """

    # A long file has a million of them.
    __slots__ = ("text", "rule", "error", "note")

    def __init__(self, text: str, rule: Optional[AuditRule] = None, error: Optional[str] = None,
                 note: Optional[str] = None):
        self.text = text
        self.rule = rule
        self.error = error
        self.note = note

    @property
    def is_rule(self) -> bool:
        return self.rule is not None

    def __repr__(self) -> str:
        return "RuleLine(%r, rule=%r, error=%r, note=%r)" % (self.text, self.rule, self.error,
                                                             self.note)


def file_lines(text: Optional[str]) -> List[str]:
    """The lines of a rules file's text, each without its newline: split at ``\\n`` only."""
    if not text:
        return []
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    return lines


def handle_lines(handle: Iterable[str]) -> Iterator[str]:
    """:func:`file_lines` of a file opened with ``newline="\\n"``, read as they come."""
    for piece in handle:
        yield piece[:-1] if piece.endswith("\n") else piece


def render_lines(lines: Sequence[RuleLine]) -> str:
    """Join lines into file text ending with a newline (augenrules concatenates files)."""
    if not lines:
        return ""
    return "\n".join(line.text for line in lines) + "\n"


def is_comment_or_blank(content: str) -> bool:
    """Whether auditctl skips the line: spaces alone, or a first word beginning with ``#``."""
    return content.lstrip(" ")[:1] in ("", "#")


def _pieces(content: str) -> List[str]:
    """What auditctl reads of a line longer than :data:`LINE_BYTES` bytes: one line per piece."""
    data = content.encode("utf-8")
    return [data[start:start + LINE_BYTES].decode("utf-8", "replace")
            for start in range(0, len(data), LINE_BYTES)]


def _overlong(content: str, size: int) -> Optional[str]:
    """What auditctl makes of a line over :data:`LINE_BYTES` bytes, or None when it skips every
    piece of it (a long comment)."""
    pieces = _pieces(content)
    read = [piece for piece in pieces if not is_comment_or_blank(piece.partition("\x00")[0])]
    if not read:
        return None
    what = "the rest as further lines"
    hidden = [piece for piece in read if piece is not pieces[0]]
    if hidden:
        what += ', the first of which it reads as "%s"' % sanitize(" ".join(rule_words(hidden[0])))
    return ("the line is %d bytes long: auditctl reads its first %d bytes as one line and %s"
            % (size, LINE_BYTES, what))


def read_line(content: str, context: RuleContext = DEFAULT_CONTEXT) -> RuleLine:
    """One line of a rules file (without its newline) read as auditctl reads it."""
    size = len(content.encode("utf-8")) if len(content) * 4 > LINE_BYTES else len(content)
    if size > LINE_BYTES:
        return RuleLine(content, error=_overlong(content, size))
    seen, _nul, hidden = content.partition("\x00")
    if seen[:1] != "-" and is_comment_or_blank(seen):
        return RuleLine(content)
    notes = []
    if _nul:
        notes.append('it holds a NUL byte: auditctl reads it only up to there (it ignores "%s")'
                     % sanitize(hidden))
    elif seen.endswith("\r"):
        notes.append("it ends with a carriage return (a CRLF line end), which auditctl reads "
                     "as part of its last word")
    try:
        rule = parse_rule(seen, context)
    except RuleSyntaxError as error:
        return RuleLine(content, error="; ".join([str(error)] + notes))
    if rule.kind == "syscall" and context.syscall_tables:
        for name in unknown_syscalls(rule, context):
            notes.append("syscall %s is unknown for arch %s here: auditctl refuses the line"
                         % (sanitize(name), rule.arch or context.native_arch))
    return RuleLine(content, rule=rule, note="; ".join(notes) if notes else None)


@cyclic_gc_paused()
def parse_rules_text(text: Optional[str], context: RuleContext = DEFAULT_CONTEXT,
                     cache: Optional[Dict[str, RuleLine]] = None) -> List[RuleLine]:
    """The lines of a rules file; comments, blanks and bad lines keep their text.

    ``cache`` maps line texts already read (with the same ``context``) to their
    :class:`RuleLine`, so that a file read again, or a line repeated, is parsed once (its lines
    are not changed: they are shared).
    """
    return list(read_lines(file_lines(text), context, cache))


def read_lines(contents: Iterable[str], context: RuleContext = DEFAULT_CONTEXT,
               cache: Optional[Dict[str, RuleLine]] = None) -> Iterator[RuleLine]:
    """:func:`parse_rules_text` for lines given one by one (without their newline)."""
    cache = {} if cache is None else cache
    for content in contents:
        line = cache.get(content)
        if line is None:
            line = cache[content] = read_line(content, context)
        yield line
