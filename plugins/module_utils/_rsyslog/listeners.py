# -*- coding: utf-8 -*-
# Copyright: whotouched.server_audit contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to whotouched.server_audit: it may change in any release. Do not import it from
# other collections or from code outside this collection.
"""The network ports a configuration's inputs listen on.

Two inputs on one port do not share it.  rsyslogd binds the second TCP listener in vain (it
logs "Address already in use" and goes on without it) and gives a UDP port's datagrams to
one socket only: the senders' messages then reach one input's ruleset and never the
other's, and nothing says so.  The log server's role reads the other files' inputs with
this, to refuse to listen where another input does.
"""

from __future__ import annotations

import re
import socket
from typing import Dict, List, Optional, Tuple

from ansible_collections.whotouched.server_audit.plugins.module_utils._rsyslog.model import (
    FilterSyntaxError,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._rsyslog.scanning import (
    code_positions,
    matching_close,
    object_params,
)

PROTOCOLS = {"imudp": "udp", "imptcp": "tcp", "imtcp": "tcp", "imrelp": "tcp"}
# imudp listens on syslog's port when none is given; the others need one (imptcp may take
# a socket path instead).
_DEFAULT_PORT = {"imudp": "514"}
_LEGACY = {"udpserverrun": "imudp", "inputtcpserverrun": "imtcp",
           "inputptcpserverrun": "imptcp", "inputrelpserverrun": "imrelp"}
_LEGACY_RUN = re.compile(r"^[ \t]*\$(%s)\b[ \t]*([^ \t\n]*)" % "|".join(_LEGACY),
                         re.IGNORECASE | re.MULTILINE)
_INPUT = re.compile(r"\binput[ \t\n]*\(", re.IGNORECASE)
_QUOTED = re.compile(r'"((?:[^"\\]|\\.)*)"')


def _code_only(text: str) -> str:
    """``text`` with its strings and comments blanked (line ends kept): where to look for
    statements.  An unterminated string blanks the rest."""
    code = [" " if char != "\n" else char for char in text]
    try:
        for index, char in code_positions(text, 0):
            code[index] = char
    except FilterSyntaxError:
        pass
    return "".join(code)


def _ports(value: Optional[str], module: str) -> List[str]:
    if value is None:
        return [_DEFAULT_PORT[module]] if module in _DEFAULT_PORT else []
    value = value.strip()
    return _QUOTED.findall(value) if value.startswith("[") else [value]


def port_number(port: str, protocol: str) -> Optional[int]:
    """The number of ``port``, given as a number or a service name (None when unknown)."""
    if port.isdigit():
        return int(port) if int(port) < 65536 else None
    try:
        return socket.getservbyname(port, protocol)
    except (OSError, UnicodeError):
        return None


def listeners(text: str) -> List[Dict[str, object]]:
    """Each network port an input of the configuration ``text`` listens on: ``line``,
    ``module``, ``protocol`` (udp or tcp) and ``port`` (a number; the text when it names no
    known service), in the order of the text.  Statements rsyslog cannot read are passed
    over: rsyslogd's own check refuses them."""
    code = _code_only(text)
    found: List[Tuple[int, str, str]] = []
    for match in _INPUT.finditer(code):
        try:
            body = text[match.end():matching_close(text, match.end() - 1) - 1]
            params = {name.lower(): value for name, value in object_params(body)}
        except FilterSyntaxError:
            continue
        module = params.get("type", "").strip().lower()
        if module in PROTOCOLS and not (module == "imptcp" and "path" in params):
            found.extend((match.start(), module, port) for port in _ports(params.get("port"), module))
    for match in _LEGACY_RUN.finditer(code):
        module = _LEGACY[match.group(1).lower()]
        port = text[match.start(2):match.end(2)]
        found.extend((match.start(), module, each) for each in _ports(port or None, module))
    return [{"line": text.count("\n", 0, start) + 1, "module": module,
             "protocol": PROTOCOLS[module],
             "port": port_number(port, PROTOCOLS[module]) or port}
            for start, module, port in sorted(found, key=lambda each: each[0])]


_NUMBERED_LINE = re.compile(r"^(/[^\n]*?):([0-9]+):(.*)$")


def numbered_texts(lines: List[str]) -> Dict[str, str]:
    """The texts of files given as ``grep -H -n`` prints their lines (``FILE:NUMBER:TEXT``,
    FILE absolute), each line at its number, the lines grep left out blank; other lines are
    no file's."""
    files: Dict[str, Dict[int, str]] = {}
    for line in lines:
        match = _NUMBERED_LINE.match(line)
        if match and int(match.group(2)) <= 1000000:
            files.setdefault(match.group(1), {})[int(match.group(2))] = match.group(3)
    return {path: "\n".join(numbered.get(number, "") for number in range(1, max(numbered) + 1)) + "\n"
            for path, numbered in files.items()}
