# -*- coding: utf-8 -*-
# Copyright: whotouched.server_audit contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to whotouched.server_audit: it may change in any release. Do not import it from
# other collections or from code outside this collection.
"""The actions of a filter rule: ``stop``, ``action(...)`` objects, legacy actions (``~``,
``@host``, ``@@host:port``, ``/file``, ``-/file``, ``:omusrmsg:*`` ...), ``{ ... }`` blocks and
``&`` lines; and forwarding written as an omfwd action that does not lose logs while the
server is away."""

from __future__ import annotations

import hashlib
import ipaddress
import re
from dataclasses import fields
from typing import List, Optional, Sequence, Tuple

from ansible_collections.whotouched.server_audit.plugins.module_utils._rsyslog.model import (
    Action,
    DEFAULT_FORWARD_PORT,
    DEFAULT_MAX_DISK_SPACE,
    Filter,
    FilterRule,
    FilterSyntaxError,
    STOP,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._rsyslog.scanning import (
    WORD,
    matching_close,
    next_code,
    normalized_text,
    object_params,
    skip_space_and_comments,
)

# omfwd and the legacy ``@`` action both default to this template.
_DEFAULT_FORWARD_TEMPLATE = "rsyslog_traditionalforwardformat"


_BOOLEAN_PARAMS = ("queue.saveonshutdown", "action.execonlywhenpreviousissuspended")
_CASELESS_VALUE_PARAMS = ("queue.type", "protocol", "target", "type")


def _normalize_param(name: str, value: str) -> Tuple[str, str]:
    key = name.lower()
    value = value.strip()
    if key in _BOOLEAN_PARAMS:
        value = {"yes": "on", "1": "on", "no": "off", "0": "off"}.get(value.lower(), value.lower())
    elif key == "target":
        value = canonical_target(value)
    elif key in _CASELESS_VALUE_PARAMS:
        value = value.lower()
    elif key == "port":
        value = str(int(value)) if value.isdigit() else value
    return key, value


def make_action(kind: str, display: Sequence[Tuple[str, str]], legacy: bool = False,
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
        params = {"text": normalized_text(raw)}
    return Action(kind, tuple(sorted(params.items())), tuple(display), raw, legacy)


def _action_from_object(body: str, raw: str) -> Action:
    display = object_params(body)
    module = dict(_normalize_param(k, v) for k, v in display).get("type")
    if module == "omfwd":
        return make_action("forward", display)
    if module == "omfile" and any(name.lower() == "file" for name, _value in display):
        return make_action("file", display)
    return make_action("other", display, raw=raw)


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
        return make_action("forward", display, legacy=True)
    match = _LEGACY_FILE.match(text)
    if match:
        display = [("type", "omfile"), ("file", match.group(1))]
        if match.group(2):
            display.append(("template", match.group(2)))
        return make_action("file", display, legacy=True)
    return make_action("other", (), raw=text, legacy=True)


class Unmodeled(Exception):
    """An action list holds statements (set, call, if, else ...) this module does not model."""


def parse_actions(text: str) -> List[Action]:
    """Actions of a filter: ``stop``, ``~``, ``action()``, legacy actions, ``{}`` and ``&``."""
    actions: List[Action] = []
    pos = 0
    while (pos := next_code(text, pos)) is not None:
        if text[pos] == "&":
            pos += 1
            continue
        if text[pos] == "{":
            end = matching_close(text, pos)
            actions.extend(parse_actions(text[pos + 1:end - 1]))
            pos = end
            continue
        word = WORD.match(text, pos)
        name = word.group(0).lower() if word else ""
        if name == "stop":
            actions.append(STOP)
            pos = word.end()
            continue
        if name == "action":
            open_at = skip_space_and_comments(text, word.end())
            if open_at >= len(text) or text[open_at] != "(":
                raise FilterSyntaxError("'action' must be followed by '('")
            end = matching_close(text, open_at)
            actions.append(_action_from_object(text[open_at + 1:end - 1], text[pos:end]))
            pos = end
            continue
        if name in ("if", "else", "set", "unset", "reset", "call", "call_indirect", "foreach",
                    "continue", "reload_lookup_table") or text[pos] in "}()":
            raise Unmodeled(name or text[pos])
        end = text.find("\n", pos)
        end = len(text) if end < 0 else end
        actions.append(_legacy_action(text[pos:end]))
        pos = end
    return actions


def queue_file_name(rule_filter: Filter, target: str, port: int, protocol: str = "tcp") -> str:
    """A stable, unique spool name for one forwarding rule (queues must not share files).

    ``fwd_<host>_<port>_<digest>``: the digest covers the filter's meaning and, unless the
    forward is over tcp to a host name or an IPv4 address (whose readable part says it
    whole, and whose names stay those of earlier releases), the target and the protocol too.
    So two forwards that differ in filter, target, port or protocol never share a name.
    """
    meaning = (type(rule_filter).__name__,) + tuple(
        getattr(rule_filter, f.name) for f in fields(rule_filter) if f.compare)
    if protocol != "tcp" or not re.match(r"^[a-z0-9.]+$", target):
        meaning += (target, protocol)
    digest = hashlib.sha256(repr(meaning).encode("utf-8")).hexdigest()[:8]
    host = re.sub(r"[^A-Za-z0-9]+", "_", target).strip("_")
    return "fwd_%s_%s_%s" % (host, port, digest)


_HOST_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")


def canonical_target(value: str) -> str:
    """A forwarding target as one spelling per host: an IP address in its standard form
    (``[2001:DB8::1]`` is ``2001:db8::1``), a host name in lower case; other text as given."""
    text = value.strip()
    address = text[1:-1] if text.startswith("[") and text.endswith("]") else text
    try:
        return str(ipaddress.ip_address(address))
    except ValueError:
        return text.lower()


def forward_target(value: object) -> str:
    """The canonical target of a forward (:func:`canonical_target`); raises
    :class:`FilterSyntaxError` naming it when it is neither an IP address nor a host name."""
    target = canonical_target(str(value))
    try:
        ipaddress.ip_address(target)
        return target
    except ValueError:
        pass
    labels = target.split(".")
    if len(target) > 253 or not all(_HOST_LABEL.match(label) for label in labels):
        raise FilterSyntaxError(
            "target %r is neither an IP address nor a host name (letters, digits and hyphens, "
            "in labels separated by dots)" % (value,))
    return target


def reliable_forward(rule_filter: Filter, target: str, port: int = DEFAULT_FORWARD_PORT,
                     protocol: str = "tcp", template: Optional[str] = None,
                     queue_file: Optional[str] = None,
                     max_disk_space: str = DEFAULT_MAX_DISK_SPACE,
                     queue_size: Optional[int] = None) -> Action:
    """An omfwd action that spools to disk while the server is away and never gives up."""
    target = forward_target(target)
    display = [("type", "omfwd"), ("target", target), ("port", str(port)),
               ("protocol", protocol)]
    if template:
        display.append(("template", template))
    display += [("queue.type", "LinkedList"),
                ("queue.filename", queue_file or queue_file_name(rule_filter, target, port,
                                                                 protocol)),
                ("queue.saveOnShutdown", "on"),
                ("queue.maxDiskSpace", str(max_disk_space))]
    if queue_size:
        display.append(("queue.size", str(queue_size)))
    display.append(("action.resumeRetryCount", "-1"))
    return make_action("forward", display)


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


def make_reliable(rule: FilterRule) -> FilterRule:
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
                forward_target(values["target"])
            except FilterSyntaxError as err:
                raise FilterSyntaxError("forward to %s: %s" % (values["target"], err))
            action = reliable_forward(rule.filter, values["target"], port,
                                      values.get("protocol", "udp"), values.get("template"))
        actions.append(action)
    return FilterRule(rule.filter, tuple(actions))


def as_written(rule: FilterRule) -> FilterRule:
    """The reliable form of a rule when it has one, else the rule as given (state=absent
    must still find a rule that could never be written, to remove it)."""
    try:
        return make_reliable(rule)
    except FilterSyntaxError:
        return rule
