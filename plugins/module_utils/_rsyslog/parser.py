# -*- coding: utf-8 -*-
# Copyright: whotouched.server_audit contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to whotouched.server_audit: it may change in any release. Do not import it from
# other collections or from code outside this collection.
"""rsyslog filter rules: parse, normalize, compare, serialize and merge by meaning.

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

Equality is by meaning: whitespace, keyword case, ``~`` vs ``stop``, ``-/file`` vs
``/file`` vs ``action(type="omfile" file=...)``, ``@host`` vs ``action(type="omfwd"
target="host" port="514" protocol="udp")`` (defaults dropped), ``:msg, contains, "x"`` vs
``if $msg contains "x"`` and legacy ``$ActionQueue...`` directives vs the ``queue.*``
parameters of the action they apply to.

Everything here is pure (no AnsibleModule, no file system) and runs on Python 3.8+.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field, fields
from typing import Dict, List, Optional, Sequence, Tuple, Union

# Operators the property-filter line syntax accepts (rsyslog's lexer reads ``!?[a-z]+``,
# so the case-insensitive ``contains_i``/``startswith_i`` exist only in RainerScript).
LINE_OPERATORS = ("contains", "isequal", "startswith", "regex", "ereregex", "isempty")
SCRIPT_OPERATORS = ("contains_i", "startswith_i")
OPERATORS = LINE_OPERATORS + SCRIPT_OPERATORS

FORWARD_PROTOCOLS = ("udp", "tcp")
DEFAULT_FORWARD_PORT = 514
DEFAULT_MAX_DISK_SPACE = "1g"
# omfwd and the legacy ``@`` action both default to this template.
_DEFAULT_FORWARD_TEMPLATE = "rsyslog_traditionalforwardformat"

MAPPING_KEYS = ("property", "operator", "value", "negate", "action", "target", "port",
                "protocol", "template", "queue_file_name", "queue_max_disk_space",
                "queue_size", "file")


class FilterSyntaxError(ValueError):
    """A filter given by the user (string or mapping) is not a rule this module can write."""


# --------------------------------------------------------------------------- model


@dataclass(frozen=True)
class PropertyFilter:
    """``:property, [!]operator, "value"``; ``value`` is the unescaped string rsyslog compares."""

    property: str
    operator: str
    value: str
    negated: bool = False


@dataclass(frozen=True)
class SelectorFilter:
    """A facility.priority selector such as ``*.info;mail.none``."""

    selector: str
    raw: str = field(default="", compare=False)


@dataclass(frozen=True)
class ExpressionFilter:
    """A RainerScript ``if`` expression this module does not model further."""

    expression: str
    raw: str = field(default="", compare=False)


Filter = Union[PropertyFilter, SelectorFilter, ExpressionFilter]


@dataclass(frozen=True)
class Action:
    """One action.  ``kind`` is stop, forward, file or other; ``params`` is normalized.

    ``display`` holds the parameters as they are written, ``raw`` the source text of an
    ``other`` action, ``legacy`` whether it came from a legacy ``@``/``@@`` form.
    """

    kind: str
    params: Tuple[Tuple[str, str], ...] = ()
    display: Tuple[Tuple[str, str], ...] = field(default=(), compare=False)
    raw: str = field(default="", compare=False)
    legacy: bool = field(default=False, compare=False)

    def destination(self) -> Tuple[str, ...]:
        """What the action writes to, without its tuning: the identity of the action."""
        values = dict(self.params)
        if self.kind == "forward":
            return ("forward", values.get("target", ""), values.get("port", "514"),
                    values.get("protocol", "udp"))
        if self.kind == "file":
            return ("file", values.get("file", ""))
        if self.kind == "stop":
            return ("stop",)
        return ("other",) + tuple(value for _name, value in self.params)


STOP = Action("stop")


@dataclass(frozen=True)
class Rule:
    """A filter and the actions it triggers."""

    filter: Filter
    actions: Tuple[Action, ...]

    def identity(self) -> tuple:
        """Same filter, same destinations: the 'same rule' even when tuning differs."""
        return (self.filter, tuple(action.destination() for action in self.actions))


@dataclass
class Chunk:
    """Whole lines of a file; ``rule`` is set when they hold exactly one modeled rule."""

    text: str
    rule: Optional[Rule] = None
    error: str = ""


# ------------------------------------------------------------------- text scanning

_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _skip_string(text: str, pos: int) -> int:
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


def _skip_space_and_comments(text: str, pos: int) -> int:
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


def _skip_inert(text: str, pos: int) -> int:
    """Index past the string or comment starting at ``pos``; ``pos`` when there is none."""
    if text[pos] in "\"'`":
        return _skip_string(text, pos)
    if text[pos] == "#" or text.startswith("/*", pos):
        return _skip_space_and_comments(text, pos)
    return pos


def _matching_close(text: str, pos: int) -> int:
    """Index just after the bracket matching the one at ``pos`` (quotes and comments aware)."""
    pairs = {"(": ")", "{": "}", "[": "]"}
    stack = [pairs[text[pos]]]
    pos += 1
    while pos < len(text):
        char = text[pos]
        after = _skip_inert(text, pos)
        if after != pos:
            pos = after
            continue
        if char in pairs:
            stack.append(pairs[char])
        elif char in ")}]":
            if char != stack.pop():
                raise FilterSyntaxError("unbalanced %r in %r" % (char, text.strip()[:60]))
            if not stack:
                return pos + 1
        pos += 1
    raise FilterSyntaxError("missing %r in %r" % (stack[-1], text.strip()[:60]))


def _script_tokens(text: str) -> List[str]:
    """RainerScript tokens with comments dropped; words outside strings lowercased."""
    tokens = []
    pos = 0
    while True:
        pos = _skip_space_and_comments(text, pos)
        if pos >= len(text):
            return tokens
        char = text[pos]
        if char in "\"'`":
            end = _skip_string(text, pos)
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


def _canonical_string(literal: str) -> str:
    """A quoted RainerScript string written one canonical way (double quotes)."""
    if literal.startswith("`"):
        return literal  # backticks run a command: their text is their meaning
    return '"%s"' % _escape_script(_unescape_script(literal[1:-1]))


_SCRIPT_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "a": "\a", "f": "\f",
                   "v": "\v"}


def _unescape_script(body: str) -> str:
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


def _escape_script(value: str, in_expression: bool = True) -> str:
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


def _normalized_text(text: str) -> str:
    return " ".join(_script_tokens(text))


# ------------------------------------------------------------------ action parsing


def _parse_object_params(body: str) -> List[Tuple[str, str]]:
    """``name="value" ...`` inside ``action( )``; arrays are kept as their canonical text."""
    params = []
    pos = 0
    while True:
        pos = _skip_space_and_comments(body, pos)
        if pos >= len(body):
            return params
        match = re.compile(r"([A-Za-z][A-Za-z0-9_.]*)\s*=\s*").match(body, pos)
        if not match:
            raise FilterSyntaxError("cannot read action parameter at %r" % body[pos:pos + 30])
        name = match.group(1)
        pos = match.end()
        if pos < len(body) and body[pos] in "\"`":
            end = _skip_string(body, pos)
            value = _unescape_script(body[pos + 1:end - 1])
        elif pos < len(body) and body[pos] == "[":
            end = _matching_close(body, pos)
            value = _normalized_text(body[pos:end])
        else:
            raise FilterSyntaxError("parameter %s needs a quoted value" % name)
        params.append((name, value))
        pos = end
        pos = _skip_space_and_comments(body, pos)
        if pos < len(body) and body[pos] == ",":
            pos += 1


_BOOLEAN_PARAMS = ("queue.saveonshutdown", "action.execonlywhenpreviousissuspended")
_CASELESS_VALUE_PARAMS = ("queue.type", "protocol", "target", "type")


def _normalize_param(name: str, value: str) -> Tuple[str, str]:
    key = name.lower()
    value = value.strip()
    if key in _BOOLEAN_PARAMS:
        value = {"yes": "on", "1": "on", "no": "off", "0": "off"}.get(value.lower(), value.lower())
    elif key in _CASELESS_VALUE_PARAMS:
        value = value.lower()
    elif key == "port":
        value = str(int(value)) if value.isdigit() else value
    return key, value


def _make_action(kind: str, display: Sequence[Tuple[str, str]], legacy: bool = False,
                 raw: str = "") -> Action:
    """Build an action, dropping parameters that only restate rsyslog's defaults."""
    params = dict(_normalize_param(k, v) for k, v in display)
    params.pop("type", None)
    if kind == "forward":
        if params.get("port") == str(DEFAULT_FORWARD_PORT):
            del params["port"]
        if params.get("protocol") == "udp":
            del params["protocol"]
        if params.get("template", "").lower() == _DEFAULT_FORWARD_TEMPLATE:
            del params["template"]
    if kind == "other":
        params = {"text": _normalized_text(raw)}
    return Action(kind, tuple(sorted(params.items())), tuple(display), raw, legacy)


def _action_from_object(body: str, raw: str) -> Action:
    display = _parse_object_params(body)
    module = dict(_normalize_param(k, v) for k, v in display).get("type")
    if module == "omfwd":
        return _make_action("forward", display)
    if module == "omfile" and any(name.lower() == "file" for name, _value in display):
        return _make_action("file", display)
    return _make_action("other", display, raw=raw)


# The port is read as whatever follows the colon, so that a bad one is reported (by
# forward_port) rather than the whole forward being kept as an unread action.
_LEGACY_FORWARD = re.compile(
    r"^(@@?)(\([^)]*\))?(\[[^\]]+\]|[^:;\s\[@]+)(?::([^;\s]*))?(?:;(\S+))?$")
_LEGACY_FILE = re.compile(r"^-?(/[^;\s]+)(?:;(\S+))?$")


def _legacy_action(text: str) -> Action:
    """``~``, ``@host``, ``@@host:port;tpl``, ``-/file;tpl``, anything else as 'other'."""
    text = text.strip()
    if text == "~":
        return STOP
    match = _LEGACY_FORWARD.match(text)
    if match:
        marker, options, host, port, template = match.groups()
        display = [("type", "omfwd"), ("target", host.strip("[]")),
                   ("port", port or str(DEFAULT_FORWARD_PORT)),
                   ("protocol", "tcp" if marker == "@@" else "udp")]
        if template:
            display.append(("template", template))
        if options:
            # compression/octet-framing options have no exact omfwd twin here: keep them
            display.append(("legacy.options", options))
        return _make_action("forward", display, legacy=True)
    match = _LEGACY_FILE.match(text)
    if match:
        display = [("type", "omfile"), ("file", match.group(1))]
        if match.group(2):
            display.append(("template", match.group(2)))
        return _make_action("file", display, legacy=True)
    return _make_action("other", (), raw=text, legacy=True)


class _Unmodeled(Exception):
    """An action list holds statements (set, call, if, else ...) this module does not model."""


def _parse_actions(text: str) -> List[Action]:
    """Actions of a filter: ``stop``, ``~``, ``action()``, legacy actions, ``{}`` and ``&``."""
    actions: List[Action] = []
    pos = 0
    while True:
        pos = _skip_space_and_comments(text, pos)
        if pos >= len(text):
            return actions
        if text[pos] == "&":
            pos += 1
            continue
        if text[pos] == "{":
            end = _matching_close(text, pos)
            actions.extend(_parse_actions(text[pos + 1:end - 1]))
            pos = end
            continue
        word = _WORD.match(text, pos)
        name = word.group(0).lower() if word else ""
        if name == "stop":
            actions.append(STOP)
            pos = word.end()
            continue
        if name == "action":
            open_at = _skip_space_and_comments(text, word.end())
            if open_at >= len(text) or text[open_at] != "(":
                raise FilterSyntaxError("'action' must be followed by '('")
            end = _matching_close(text, open_at)
            actions.append(_action_from_object(text[open_at + 1:end - 1], text[pos:end]))
            pos = end
            continue
        if name in ("if", "else", "set", "unset", "reset", "call", "call_indirect", "foreach",
                    "continue", "reload_lookup_table") or text[pos] in "}()":
            raise _Unmodeled(name or text[pos])
        end = text.find("\n", pos)
        end = len(text) if end < 0 else end
        actions.append(_legacy_action(text[pos:end]))
        pos = end


# -------------------------------------------------------------------- rule parsing

_PROPERTY_FILTER = re.compile(
    r'^\s*:(\$?[A-Za-z][A-Za-z\-]*)\s*,\s*(!?)([A-Za-z_]+)\s*,\s*"((?:\\.|[^"\\])*)"',
    re.DOTALL)
_SELECTOR = re.compile(r"^\s*([*A-Za-z][*A-Za-z]*[0-7]*[.,][,!=;.*A-Za-z0-7]+)")
_IF = re.compile(r"^\s*if\b", re.IGNORECASE)
_SIMPLE_CONDITION = re.compile(
    r'^(not )?(\( )?\$([a-z][a-z\-]*) (contains|contains_i|startswith|startswith_i) '
    r'("(?:\\.|[^"\\])*")( \))?$')


def _unescape_line_value(body: str) -> str:
    """Property-filter values: rsyslog keeps the character after any backslash."""
    return re.sub(r"\\(.)", r"\1", body, flags=re.DOTALL)


def _escape_line_value(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


def _split_condition(text: str) -> Tuple[str, str]:
    """Split ``if EXPR then BODY`` at the ``then`` that is outside strings and brackets."""
    pos = _IF.match(text).end()
    depth = 0
    while pos < len(text):
        char = text[pos]
        after = _skip_inert(text, pos)
        if after != pos:
            pos = after
            continue
        if char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
        elif depth == 0:
            word = _WORD.match(text, pos)
            if word and (pos == 0 or not (text[pos - 1].isalnum() or text[pos - 1] in "_$")):
                if word.group(0).lower() == "then":
                    return text[_IF.match(text).end():pos], text[word.end():]
                pos = word.end()
                continue
        pos += 1
    raise FilterSyntaxError("'if' without 'then'")


def _expression_filter(expression: str) -> Filter:
    """A property filter when the condition is one plain comparison, else the expression."""
    normalized = _normalized_text(expression)
    match = _SIMPLE_CONDITION.match(normalized)
    if match:
        negated, opened, prop, operator, literal, closed = match.groups()
        # 'not' is only read as negating the whole comparison when it is parenthesized
        if bool(opened) == bool(closed) and (opened or not negated):
            value = _unescape_script(literal[1:-1])
            return PropertyFilter(prop, operator, value, bool(negated))
    return ExpressionFilter(normalized, expression.strip())


def parse_rule(statement: str) -> Rule:
    """Parse one rule statement (continuations already joined) into a :class:`Rule`.

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
                                     _unescape_line_value(body), bool(bang))
        rest = statement[match.end():]
    elif _IF.match(statement):
        expression, rest = _split_condition(statement)
        if not expression.strip():
            raise FilterSyntaxError("'if' without a condition")
        flt = _expression_filter(expression)
    elif _SELECTOR.match(statement) and not re.match(r"^\s*\w+\s*\(", statement):
        match = _SELECTOR.match(statement)
        flt = SelectorFilter(match.group(1).lower(), match.group(1))
        rest = statement[match.end():]
    else:
        raise FilterSyntaxError(
            "not a filter rule: %r (expected ':property, operator, \"value\" action', "
            "a selector line or 'if ... then ...')" % statement.strip()[:80])
    try:
        actions = _parse_actions(rest)
    except _Unmodeled:
        actions = [_make_action("other", (), raw=rest.strip())]
    if not actions:
        raise FilterSyntaxError("filter without an action: %r" % statement.strip()[:80])
    return Rule(flt, tuple(actions))


# ------------------------------------------------------------------- file chunking

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
        pos = _skip_space_and_comments(joined, pos)
        if pos >= len(joined):
            break
        char = joined[pos]
        if char in "\"'`":
            try:
                pos = _skip_string(joined, pos)
            except FilterSyntaxError:
                return False
            if saw_then:
                body_started = True
            continue
        if char in "([{":
            try:
                end = _matching_close(joined, pos)
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
        word = _WORD.match(joined, pos)
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
    """Split a configuration text into chunks of whole lines; rules carry a :class:`Rule`.

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
                rule = parse_rule(_join_continuations(statement))
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


def _apply_legacy_params(rule: Rule, params: Sequence[Tuple[str, str]]) -> Rule:
    """Legacy ``$Action...`` settings tune the first legacy action that follows them."""
    actions = list(rule.actions)
    for position, action in enumerate(actions):
        if action.legacy and action.kind in ("forward", "file"):
            display = tuple(action.display) + tuple(params)
            actions[position] = _make_action(action.kind, display, legacy=True)
            return Rule(rule.filter, tuple(actions))
    return rule


# ------------------------------------------------------------- desired rules (input)


def queue_file_name(rule_filter: Filter, target: str, port: int) -> str:
    """A stable, unique spool name for one forwarding rule (queues must not share files)."""
    meaning = (type(rule_filter).__name__,) + tuple(
        getattr(rule_filter, f.name) for f in fields(rule_filter) if f.compare)
    digest = hashlib.sha256(repr(meaning).encode("utf-8")).hexdigest()[:8]
    host = re.sub(r"[^A-Za-z0-9]+", "_", target).strip("_")
    return "fwd_%s_%s_%s" % (host, port, digest)


def reliable_forward(rule_filter: Filter, target: str, port: int = DEFAULT_FORWARD_PORT,
                     protocol: str = "tcp", template: Optional[str] = None,
                     queue_file: Optional[str] = None,
                     max_disk_space: str = DEFAULT_MAX_DISK_SPACE,
                     queue_size: Optional[int] = None) -> Action:
    """An omfwd action that spools to disk while the server is away and never gives up."""
    display = [("type", "omfwd"), ("target", target), ("port", str(port)),
               ("protocol", protocol)]
    if template:
        display.append(("template", template))
    display += [("queue.type", "LinkedList"),
                ("queue.filename", queue_file or queue_file_name(rule_filter, target, port)),
                ("queue.saveOnShutdown", "on"),
                ("queue.maxDiskSpace", str(max_disk_space))]
    if queue_size:
        display.append(("queue.size", str(queue_size)))
    display.append(("action.resumeRetryCount", "-1"))
    return _make_action("forward", display)


def forward_port(value: object) -> int:
    """A forwarding port given as a number or its digits; raises :class:`FilterSyntaxError`
    naming the port when it is not a whole number from 1 to 65535."""
    text = str(value).strip()
    if isinstance(value, bool) or not re.match(r"^[0-9]+$", text):
        raise FilterSyntaxError("port %r is not a number" % (value,))
    port = int(text)
    if not 0 < port < 65536:
        raise FilterSyntaxError("port %d is out of range (1-65535)" % port)
    return port


def make_reliable(rule: Rule) -> Rule:
    """Rewrite legacy ``@``/``@@`` forwards of a desired rule as reliable omfwd actions."""
    actions = []
    for action in rule.actions:
        if action.kind == "forward" and action.legacy:
            values = dict(action.params)
            if "legacy.options" in values:
                raise FilterSyntaxError(
                    "legacy forwarding options %s have no omfwd equivalent here; write an "
                    "action(type=\"omfwd\" ...) instead" % values["legacy.options"])
            try:
                port = forward_port(values.get("port", DEFAULT_FORWARD_PORT))
            except FilterSyntaxError as err:
                raise FilterSyntaxError("forward to %s: %s" % (values["target"], err))
            action = reliable_forward(rule.filter, values["target"], port,
                                      values.get("protocol", "udp"), values.get("template"))
        actions.append(action)
    return Rule(rule.filter, tuple(actions))


def _as_written(rule: Rule) -> Rule:
    """The reliable form of a rule when it has one, else the rule as given (state=absent
    must still find a rule that could never be written, to remove it)."""
    try:
        return make_reliable(rule)
    except FilterSyntaxError:
        return rule


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


def regex_problem(pattern: str, extended: bool) -> Optional[str]:
    """Why rsyslog cannot compile the POSIX regex ``pattern``, or None.

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


def writable_rule(rule: Rule) -> Rule:
    """The rule as state=present writes it: legacy forwards made reliable.

    Raises :class:`FilterSyntaxError` for what rsyslog would not honour although
    ``rsyslogd -N1`` accepts it: a forward port that is not 1-65535, a legacy ``@``
    forward this module cannot read, a ``regex``/``ereregex`` that cannot compile.
    """
    flt = rule.filter
    if isinstance(flt, PropertyFilter) and flt.operator in ("regex", "ereregex"):
        problem = regex_problem(flt.value, flt.operator == "ereregex")
        if problem:
            raise FilterSyntaxError("filter %s: the %s cannot be compiled: %s"
                                    % (_serialize_filter(flt)[0], flt.operator, problem))
    for action in rule.actions:
        if action.kind == "other" and action.raw.startswith("@"):
            raise FilterSyntaxError(
                "cannot read the legacy forward %r (expected @host, @@host:port or "
                "@@[address]:port, optionally followed by ;template)" % action.raw)
    return make_reliable(rule)


def _rule_from_mapping(spec: Dict) -> Rule:
    unknown = sorted(set(spec) - set(MAPPING_KEYS))
    if unknown:
        raise FilterSyntaxError("unknown key(s) %s in filter %r; allowed: %s"
                                % (", ".join(unknown), spec, ", ".join(MAPPING_KEYS)))
    operator = str(spec.get("operator") or "").strip().lower()
    negated = bool(spec.get("negate"))
    if operator.startswith("!"):
        negated, operator = not negated, operator[1:]
    if operator not in OPERATORS:
        raise FilterSyntaxError("operator %r is not one of %s (prefix '!' or set negate to "
                                "negate)" % (spec.get("operator"), ", ".join(OPERATORS)))
    prop = str(spec.get("property") or "msg").strip().lstrip(":$").lower()
    if not re.match(r"^[a-z][a-z\-]*$", prop):
        raise FilterSyntaxError("property %r is not an rsyslog property name" % prop)
    value = spec.get("value")
    if value is None:
        if operator != "isempty":
            raise FilterSyntaxError("operator %s needs a value" % operator)
        value = ""
    value = str(value)
    if "\n" in value:
        raise FilterSyntaxError("a filter value cannot contain a newline")
    if operator in LINE_OPERATORS and value.endswith("\\"):
        raise FilterSyntaxError("a property-filter value cannot end with a backslash")
    flt = PropertyFilter(prop, operator, value, negated)
    kind = spec.get("action")
    if kind == "stop":
        action = STOP
    elif kind == "forward":
        if not spec.get("target"):
            raise FilterSyntaxError("action forward needs a target")
        protocol = str(spec.get("protocol") or "tcp").lower()
        if protocol not in FORWARD_PROTOCOLS:
            raise FilterSyntaxError("protocol %r is not udp or tcp" % spec.get("protocol"))
        port = forward_port(spec.get("port") or DEFAULT_FORWARD_PORT)
        action = reliable_forward(flt, str(spec["target"]), port, protocol,
                                  spec.get("template"), spec.get("queue_file_name"),
                                  spec.get("queue_max_disk_space") or DEFAULT_MAX_DISK_SPACE,
                                  spec.get("queue_size"))
    elif kind == "file":
        path = str(spec.get("file") or "")
        if not path.startswith("/"):
            raise FilterSyntaxError("action file needs an absolute 'file' path")
        display = [("type", "omfile"), ("file", path)]
        if spec.get("template"):
            display.append(("template", spec["template"]))
        action = _make_action("file", display)
    else:
        raise FilterSyntaxError("action %r is not stop, forward or file" % (kind,))
    return Rule(flt, (action,))


def rule_from_spec(spec: Union[str, Dict]) -> Rule:
    """The rule a user asked for, as given (legacy forwards not yet made reliable)."""
    if isinstance(spec, dict):
        return _rule_from_mapping(spec)
    if not isinstance(spec, str) or not spec.strip():
        raise FilterSyntaxError("a filter must be a non-empty string or a mapping, got %r"
                                % (spec,))
    text = spec if spec.endswith("\n") else spec + "\n"
    chunks = [c for c in parse_config(text) if c.text.strip() and not c.text.strip()
              .startswith("#")]
    if len(chunks) != 1:
        raise FilterSyntaxError("expected exactly one rule, got %d statements in %r"
                                % (len(chunks), spec))
    if chunks[0].rule is None:
        raise FilterSyntaxError(chunks[0].error or "not a filter rule: %r" % spec.strip())
    return chunks[0].rule


# ------------------------------------------------------------------ serialization

_ACTION_FIRST_LINE = ("type", "target", "port", "protocol", "template", "file")


def _serialize_action(action: Action) -> str:
    if action.kind == "stop":
        return "stop"
    if action.kind == "other":
        return action.raw
    display = list(action.display)
    head = [(k, v) for k, v in display if k.lower() in _ACTION_FIRST_LINE]
    tail = [(k, v) for k, v in display if k.lower() not in _ACTION_FIRST_LINE]
    head.sort(key=lambda item: _ACTION_FIRST_LINE.index(item[0].lower()))
    text = "action(" + " ".join('%s="%s"' % (k, _escape_script(v, False)) for k, v in head)
    if tail:
        text += "\n       " + "\n       ".join('%s="%s"' % (k, _escape_script(v, False))
                                               for k, v in tail)
    return text + ")"


def _serialize_filter(rule_filter: Filter) -> Tuple[str, bool]:
    """The filter text and whether it is an ``if`` statement."""
    if isinstance(rule_filter, PropertyFilter):
        if rule_filter.operator in LINE_OPERATORS:
            return (':%s, %s%s, "%s"' % (rule_filter.property,
                                         "!" if rule_filter.negated else "",
                                         rule_filter.operator,
                                         _escape_line_value(rule_filter.value)), False)
        condition = '$%s %s "%s"' % (rule_filter.property, rule_filter.operator,
                                     _escape_script(rule_filter.value))
        if rule_filter.negated:
            condition = "not (%s)" % condition
        return "if %s then" % condition, True
    if isinstance(rule_filter, SelectorFilter):
        return rule_filter.raw or rule_filter.selector, False
    return "if %s then" % (rule_filter.raw or rule_filter.expression), True


def serialize_rule(rule: Rule) -> str:
    """The rule as rsyslog configuration text, ending with a newline.

    Discards are written ``stop`` (the legacy ``~`` is deprecated since rsyslog v7).
    """
    head, is_if = _serialize_filter(rule.filter)
    actions = [_serialize_action(action) for action in rule.actions]
    if is_if and len(actions) > 1:
        body = "\n".join("    " + a.replace("\n", "\n    ") for a in actions)
        return "%s {\n%s\n}\n" % (head, body)
    if is_if:
        return "%s %s\n" % (head, actions[0])
    return "%s %s\n" % (head, "\n& ".join(actions))


# ------------------------------------------------------------------------ merging


@dataclass
class MergeResult:
    """The merged text and what changed (rules as written)."""

    text: str
    added: List[str]
    removed: List[str]

    @property
    def changed(self) -> bool:
        return bool(self.added or self.removed)


def merge_rules(text: Optional[str], desired: Sequence[Rule], state: str = "present",
                exclusive: bool = False) -> MergeResult:
    """Merge ``desired`` rules into configuration ``text`` by meaning.

    present: a rule equal in meaning is left alone; a rule with the same filter and
    destinations but other tuning is replaced in place; a missing rule is inserted before
    the next desired rule already in the file (so list order is kept), else appended.
    ``exclusive`` also removes every other rule.  Raises :class:`FilterSyntaxError` for a
    desired rule :func:`writable_rule` refuses.  absent: rules equal in meaning to a
    desired rule (as given or in its reliable form) are removed; they are not checked, so
    that a rule rsyslog cannot honour can still be taken out.  Chunks that hold no
    modeled rule are never touched.
    """
    chunks = parse_config(text or "")
    removed: List[str] = []
    added: List[str] = []

    if state == "absent":
        kept = []
        for chunk in chunks:
            if chunk.rule is not None and any(chunk.rule == rule or chunk.rule ==
                                              _as_written(rule) for rule in desired):
                removed.append(chunk.text.strip())
            else:
                kept.append(chunk)
        return MergeResult("".join(c.text for c in kept), added, removed)

    wanted = [writable_rule(rule) for rule in desired]
    placed: List[Optional[int]] = [None] * len(wanted)  # chunk index holding each rule
    claimed = set()
    for position, rule in enumerate(wanted):
        for index, chunk in enumerate(chunks):
            if index not in claimed and chunk.rule == rule:
                placed[position] = index
                claimed.add(index)
                break
    for position, rule in enumerate(wanted):
        if placed[position] is not None:
            continue
        for index, chunk in enumerate(chunks):
            if (index not in claimed and chunk.rule is not None
                    and chunk.rule.identity() == rule.identity()):
                removed.append(chunk.text.strip())
                chunks[index] = Chunk(serialize_rule(rule), rule)
                added.append(serialize_rule(rule).strip())
                placed[position] = index
                claimed.add(index)
                break
    if exclusive:
        for index, chunk in enumerate(chunks):
            if chunk.rule is not None and index not in claimed:
                removed.append(chunk.text.strip())
                chunks[index] = Chunk("")
    inserts: Dict[int, List[Chunk]] = {}
    for position in range(len(wanted)):
        if placed[position] is not None:
            continue
        anchor = next((placed[later] for later in range(position + 1, len(wanted))
                       if placed[later] is not None), len(chunks))
        new = Chunk(serialize_rule(wanted[position]), wanted[position])
        inserts.setdefault(anchor, []).append(new)
        added.append(new.text.strip())
    written = [index for index, chunk in enumerate(chunks) if chunk.text]
    if len(chunks) in inserts and written and not chunks[written[-1]].text.endswith("\n"):
        last = chunks[written[-1]]
        chunks[written[-1]] = Chunk(last.text + "\n", last.rule)
    merged: List[Chunk] = []
    for index in range(len(chunks) + 1):
        merged.extend(inserts.get(index, []))
        if index < len(chunks):
            merged.append(chunks[index])
    return MergeResult("".join(c.text for c in merged), added, removed)


def normalized_filters(desired: Sequence[Rule]) -> List[str]:
    """The desired rules as this module writes them (one string each, no final newline)."""
    return [serialize_rule(_as_written(rule)).rstrip("\n") for rule in desired]


# ------------------------------------------------------------------------ scoping

# How each property-filter operator reads as a RainerScript expression (``{p}`` property,
# ``{v}`` quoted value).  ``regex`` (POSIX basic) has none: re_match() is extended only.
_SCRIPT_FORMS = {
    "contains": "$%(p)s contains %(v)s",
    "contains_i": "$%(p)s contains_i %(v)s",
    "startswith": "$%(p)s startswith %(v)s",
    "startswith_i": "$%(p)s startswith_i %(v)s",
    "isequal": "$%(p)s == %(v)s",
    "ereregex": "re_match($%(p)s, %(v)s)",
    "isempty": '$%(p)s == ""',
}


def script_string(value: str) -> str:
    """``value`` as a double-quoted RainerScript string literal (for expressions)."""
    return '"%s"' % _escape_script(value)


def script_condition(rule_filter: Filter) -> str:
    """The filter as a RainerScript expression, for combining with other conditions.

    Raises :class:`FilterSyntaxError` for a ``regex`` (POSIX basic) property filter,
    which RainerScript cannot express (write it as ``ereregex``).
    """
    if isinstance(rule_filter, PropertyFilter):
        form = _SCRIPT_FORMS.get(rule_filter.operator)
        if form is None:
            raise FilterSyntaxError(
                "a %s filter has no RainerScript form (rewrite it as ereregex): %r"
                % (rule_filter.operator, rule_filter.value))
        condition = form % {"p": rule_filter.property, "v": script_string(rule_filter.value)}
        return "not (%s)" % condition if rule_filter.negated else condition
    if isinstance(rule_filter, SelectorFilter):
        return "prifilt(%s)" % script_string(rule_filter.selector)
    return "(%s)" % rule_filter.expression


def scoped_rule(rule: Rule, scope: str) -> Rule:
    """``rule`` restricted to the messages matching the RainerScript expression ``scope``."""
    expression = "(%s) and %s" % (scope, script_condition(rule.filter))
    return Rule(_expression_filter(expression), rule.actions)
