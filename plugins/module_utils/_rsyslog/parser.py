# -*- coding: utf-8 -*-
# Copyright: whotouched.server_audit contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to whotouched.server_audit: it may change in any release. Do not import it from
# other collections or from code outside this collection.
"""Reading rsyslog filter rules, and configuration files as chunks of whole lines.

Three syntaxes are understood, as rsyslog v8 reads them:

* property-based filters: ``:msg, !contains, "value" ACTIONS``
* selector (facility.priority) lines: ``auth,authpriv.* /var/log/auth.log``
* RainerScript statements: ``if $msg contains 'x' then stop``

An action list may hold ``stop`` (or the deprecated legacy discard ``~``), legacy actions
(``@host``, ``@@host:port``, ``/file``, ``-/file``, ``:omusrmsg:*`` ...), ``action(...)``
objects, ``{ ... }`` blocks and ``&`` continuation lines.  Everything else in a file
(comments, ``$`` directives, ``module()``, ``template()``, ``ruleset()`` ...) is kept
byte-for-byte: a file is split into chunks of whole lines and only the chunks holding a
rule the caller asked about are ever removed or replaced.
"""

from __future__ import annotations

import re
from typing import List, Optional, Sequence, Tuple

from ansible_collections.whotouched.server_audit.plugins.module_utils._rsyslog.actions import (
    Unmodeled,
    make_action,
    parse_actions,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._rsyslog.model import (
    Chunk,
    ExpressionFilter,
    Filter,
    FilterRule,
    FilterSyntaxError,
    LINE_OPERATORS,
    PropertyFilter,
    SelectorFilter,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._rsyslog.scanning import (
    WORD,
    code_positions,
    matching_close,
    normalized_text,
    skip_space_and_comments,
    skip_string,
    unescape_line_value,
    unescape_script,
)

_PROPERTY_FILTER = re.compile(
    r'^\s*:(\$?[A-Za-z][A-Za-z\-]*)\s*,\s*(!?)([A-Za-z_]+)\s*,\s*"((?:\\.|[^"\\])*)"',
    re.DOTALL)
_SELECTOR = re.compile(r"^\s*([*A-Za-z][*A-Za-z]*[0-7]*[.,][,!=;.*A-Za-z0-7]+)")
_IF = re.compile(r"^\s*if\b", re.IGNORECASE)
_SIMPLE_CONDITION = re.compile(
    r'^(not )?(\( )?\$([a-z][a-z\-]*) (contains|contains_i|startswith|startswith_i) '
    r'("(?:\\.|[^"\\])*")( \))?$')
# re_match($property, "ERE") is the property filter :property, ereregex, "ERE".
_REGEX_CONDITION = re.compile(
    r'^(not )?(\( )?re_match \( \$([a-z][a-z\-]*) , ("(?:\\.|[^"\\])*") \)( \))?$')


def _split_condition(text: str) -> Tuple[str, str]:
    """Split ``if EXPR then BODY`` at the ``then`` that is outside strings and brackets."""
    start = _IF.match(text).end()
    depth = 0
    word_end = start
    for pos, char in code_positions(text, start):
        if pos < word_end:
            continue
        if char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
        elif depth == 0:
            word = WORD.match(text, pos)
            if word and (pos == 0 or not (text[pos - 1].isalnum() or text[pos - 1] in "_$")):
                if word.group(0).lower() == "then":
                    return text[start:pos], text[word.end():]
                word_end = word.end()
    raise FilterSyntaxError("'if' without 'then'")


def expression_filter(expression: str) -> Filter:
    """A property filter when the condition is one plain comparison or ``re_match()`` of a
    property, else the expression."""
    normalized = normalized_text(expression)
    match = _SIMPLE_CONDITION.match(normalized)
    if match:
        negated, opened, prop, operator, literal, closed = match.groups()
        # 'not' is only read as negating the whole comparison when it is parenthesized
        if bool(opened) == bool(closed) and (opened or not negated):
            value = unescape_script(literal[1:-1])
            return PropertyFilter(prop, operator, value, bool(negated))
    match = _REGEX_CONDITION.match(normalized)
    if match:
        negated, opened, prop, literal, closed = match.groups()
        if bool(opened) == bool(closed):  # "not" before a call negates the call
            return PropertyFilter(prop, "ereregex", unescape_script(literal[1:-1]), bool(negated))
    return ExpressionFilter(normalized, expression.strip())


def parse_filter_rule(statement: str) -> FilterRule:
    """Parse one rule statement (continuations already joined) into a :class:`FilterRule`.

    Raises :class:`FilterSyntaxError` when the text is not a filter with actions.
    """
    if _PROPERTY_FILTER.match(statement):
        match = _PROPERTY_FILTER.match(statement)
        prop, bang, operator, body = match.groups()
        operator = operator.lower()
        if operator not in LINE_OPERATORS:
            raise FilterSyntaxError(
                "unknown compare operation %r in a property filter (use one of %s; "
                "contains_i and startswith_i exist only in 'if' statements)"
                % (operator, ", ".join(LINE_OPERATORS)))
        flt: Filter = PropertyFilter(prop.lower().lstrip("$"), operator,
                                     unescape_line_value(body), bool(bang))
        rest = statement[match.end():]
    elif _IF.match(statement):
        expression, rest = _split_condition(statement)
        if not expression.strip():
            raise FilterSyntaxError("'if' without a condition")
        flt = expression_filter(expression)
    elif _SELECTOR.match(statement) and not re.match(r"^\s*\w+\s*\(", statement):
        match = _SELECTOR.match(statement)
        flt = SelectorFilter(match.group(1).lower(), match.group(1))
        rest = statement[match.end():]
    else:
        raise FilterSyntaxError(
            "not a filter rule: %r (expected ':property, operator, \"value\" action', "
            "a selector line or 'if ... then ...')" % statement.strip()[:80])
    try:
        actions = parse_actions(rest)
    except Unmodeled:
        actions = [make_action("other", (), raw=rest.strip())]
    if not actions:
        raise FilterSyntaxError("filter without an action: %r" % statement.strip()[:80])
    return FilterRule(flt, tuple(actions))


_LEGACY_ACTION_PARAM = re.compile(r"^\s*\$(Action(Queue|Resume|ExecOnly)\w*)\s+(.*?)\s*(#.*)?$",
                                  re.IGNORECASE)


def _legacy_param_name(directive: str) -> str:
    lowered = directive.lower()
    if lowered.startswith("actionqueue"):
        return "queue." + lowered[len("actionqueue"):]
    return "action." + lowered[len("action"):]


def _join_continuations(text: str) -> str:
    """rsyslog joins a line ending in a backslash with the next one."""
    return re.sub(r"\\\r?\n", " ", text)


def _statement_complete(text: str) -> bool:
    """Whether ``text`` (whole lines) ends a statement; raises on broken syntax."""
    if re.search(r"\\\r?\n?$", text):
        return False
    joined = _join_continuations(text)
    pos = 0
    saw_then = not _IF.match(joined)
    body_started = False
    expect_block = bool(re.match(r"^\s*ruleset\s*\(", joined, re.IGNORECASE))
    depth_closed_once = False
    while True:
        pos = skip_space_and_comments(joined, pos)
        if pos >= len(joined):
            break
        char = joined[pos]
        if char in "\"'`":
            try:
                pos = skip_string(joined, pos)
            except FilterSyntaxError:
                return False
            if saw_then:
                body_started = True
            continue
        if char in "([{":
            try:
                end = matching_close(joined, pos)
            except FilterSyntaxError as err:
                if "missing" in str(err):
                    return False
                raise
            if char == "{":
                depth_closed_once = True
            pos = end
            if saw_then:
                body_started = True
            continue
        word = WORD.match(joined, pos)
        if word:
            if word.group(0).lower() == "then":
                saw_then = True
            elif saw_then:
                body_started = True
            pos = word.end()
            continue
        if saw_then:
            body_started = True
        pos += 1
    if expect_block and not depth_closed_once:
        return False
    return saw_then and (body_started or not _IF.match(joined))


def _is_rule_start(stripped: str) -> bool:
    return bool(stripped.startswith(":") or _IF.match(stripped)
                or (_SELECTOR.match(stripped) and not re.match(r"^\w+\s*\(", stripped)))


def parse_config(text: str) -> List[Chunk]:
    """Split a configuration text into chunks of whole lines; rules carry a :class:`FilterRule`.

    ``"".join(chunk.text for chunk in parse_config(text)) == text`` always holds.
    Statements that cannot be read stay as plain chunks (with ``error`` set).
    """
    # rsyslog ends lines at '\n' only (str.splitlines would also split at U+2028 ...)
    lines = re.findall(r"[^\n]*\n|[^\n]+$", text)
    chunks: List[Chunk] = []
    pending: List[str] = []  # $Action... lines waiting for the legacy action they tune
    pending_params: List[Tuple[str, str]] = []
    index = 0

    def flush_pending() -> None:
        if pending:
            chunks.append(Chunk("".join(pending)))
            del pending[:]
            del pending_params[:]

    while index < len(lines):
        line = lines[index]
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            (pending.append(line) if pending else chunks.append(Chunk(line)))
            index += 1
            continue
        directive = _LEGACY_ACTION_PARAM.match(line)
        if directive:
            pending.append(line)
            pending_params.append((_legacy_param_name(directive.group(1)), directive.group(3)))
            index += 1
            continue
        if stripped.startswith("$"):
            flush_pending()
            chunks.append(Chunk(line))
            index += 1
            continue
        end = index + 1
        error = ""
        try:
            while not _statement_complete("".join(lines[index:end])) and end < len(lines):
                end += 1
        except FilterSyntaxError as err:
            error = str(err)
        if not error and _is_rule_start(stripped) and not _IF.match(stripped):
            end = _absorb_following(lines, end, "&")
        elif not error and _IF.match(stripped):
            end = _absorb_following(lines, end, "else")
        statement = "".join(lines[index:end])
        rule = None
        if not error and _is_rule_start(stripped):
            try:
                rule = parse_filter_rule(_join_continuations(statement))
            except FilterSyntaxError as err:
                error = str(err)
        if rule is not None and pending_params:
            rule = _apply_legacy_params(rule, pending_params)
        if rule is not None and pending:
            statement = "".join(pending) + statement
            del pending[:]
            del pending_params[:]
        else:
            flush_pending()
        chunks.append(Chunk(statement, rule, error))
        index = end
    flush_pending()
    return chunks


def _absorb_following(lines: Sequence[str], end: int, keyword: str) -> int:
    """Extend a statement over following ``&`` action lines or an ``else`` branch."""
    while True:
        probe = end
        while probe < len(lines) and not lines[probe].strip():
            probe += 1
        follows = probe < len(lines) and lines[probe].lstrip()
        if not follows or not (follows.startswith(keyword) if keyword == "&"
                               else re.match(r"else\b", follows, re.IGNORECASE)):
            return end
        start = probe
        end = probe + 1
        try:
            while not _statement_complete_tail(lines[start:end], keyword) and end < len(lines):
                end += 1
        except FilterSyntaxError:
            return end


def _statement_complete_tail(lines: Sequence[str], keyword: str) -> bool:
    """Completeness of an ``&`` or ``else`` continuation, read as a statement of its own."""
    text = "".join(lines).lstrip()[len(keyword):]
    return bool(text.strip()) and _statement_complete(text)


def _apply_legacy_params(rule: FilterRule, params: Sequence[Tuple[str, str]]) -> FilterRule:
    """Legacy ``$Action...`` settings tune the first legacy action that follows them."""
    actions = list(rule.actions)
    for position, action in enumerate(actions):
        if action.legacy and action.kind in ("forward", "file"):
            display = tuple(action.display) + tuple(params)
            actions[position] = make_action(action.kind, display, legacy=True)
            return FilterRule(rule.filter, tuple(actions))
    return rule


# How a statement rsyslog reads begins: a directive, a property filter, an action line, a
# block or comment, or a word (a selector such as kern.*, or a RainerScript keyword) followed
# by a blank or "(".
# How a statement begins: a legacy directive, a property filter, an action or a block; a
# RainerScript object or keyword; or a selector (facility.priority).  Any word followed by a
# blank would let a configuration of another program (sshd_config's "Port 22", a .netrc's
# "machine host password ...") pass for one.
_STATEMENT_START = re.compile(
    r"""[$:&~{}()#*/"'-]"""
    r"|(?i:module|input|action|template|ruleset|global|main_queue|parser|lookup_table|timezone"
    r"|include|dyn_stats|percentile_stats|ratelimit|if|else|set|unset|reset|call|call_indirect"
    r"|foreach|stop|continue|license)(?![A-Za-z0-9_])"
    r"|[A-Za-z_][A-Za-z0-9_,;!=*-]*\.[A-Za-z0-9_.,;!=*-]*(?:\s|$)")


def configuration_problem(chunks: Sequence[Chunk]) -> Optional[str]:
    """Why the file is no rsyslog configuration (a link to /etc/shadow, say), or None.

    It is not when none of its statements is a filter rule and one does not even begin as an
    rsyslog statement does; the message names no text of it (rsyslogd's own message would
    quote it), so that such a file's content is never shown.
    """
    if any(chunk.rule is not None for chunk in chunks):
        return None
    number = 1
    for chunk in chunks:
        stripped = chunk.text.lstrip()
        if stripped and not _STATEMENT_START.match(stripped):
            line = number + chunk.text[:len(chunk.text) - len(stripped)].count("\n")
            return ("it is not an rsyslog configuration file: none of its statements is a "
                    "filter rule, and line %d does not begin one rsyslog reads" % line)
        number += chunk.text.count("\n")
    return None
