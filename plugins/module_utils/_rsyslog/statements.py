# -*- coding: utf-8 -*-
# Copyright: whotouched.server_audit contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to whotouched.server_audit: it may change in any release. Do not import it from
# other collections or from code outside this collection.
"""What rsyslog's configuration files load, and the network ports their inputs listen on.

The rsyslog roles read the other files of the configuration with this before they write
their drop-ins: rsyslog refuses a second load of a module, and two inputs do not share a
port (rsyslogd binds the second TCP listener in vain, logging "Address already in use", and
gives a UDP port's datagrams to one socket only: the senders' messages then reach one
input's ruleset and never the other's, and nothing says so).

The files come as ``grep -H -n`` prints their lines, comments left out, so that one command
on the host brings them all.
"""

from __future__ import annotations

import re
import socket
from typing import Dict, List, Optional, Tuple

from ansible_collections.whotouched.server_audit.plugins.module_utils._rsyslog.model import (
    FilterSyntaxError,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._rsyslog.scanning import (
    matching_close,
    object_params,
)

PROTOCOLS = {"imudp": "udp", "imptcp": "tcp", "imtcp": "tcp", "imrelp": "tcp", "imgssapi": "tcp"}
# Modules that take a port's number only (getaddrinfo with AI_NUMERICSERV)
_NUMERIC_PORTS = ("imudp", "imrelp")
_LEGACY_RUN = {"udpserverrun": "imudp", "inputtcpserverrun": "imtcp",
               "inputptcpserverrun": "imptcp", "inputrelpserverrun": "imrelp",
               "inputgssserverrun": "imgssapi"}
_LEGACY_RUN_LINE = re.compile(r"^[ \t]*\$(%s)\b[ \t]*([^ \t\n]*)" % "|".join(_LEGACY_RUN),
                              re.IGNORECASE | re.MULTILINE)
_LEGACY_LOAD_LINE = re.compile(r"^[ \t]*\$ModLoad[ \t]+([^ \t\n]+)", re.IGNORECASE | re.MULTILINE)
# Lines rsyslog reads whole, as one token: legacy directives, and selector or property
# filters with their legacy actions.  Their text ("/etc/rsyslog.d/*.conf", "o'brien.log")
# opens no comment and no string.
_WHOLE_LINE = re.compile(r"^[ \t]*(\$|:|[*a-z0-9]+(,[*a-z0-9]+)*\.[*!=a-z]).*$",
                         re.IGNORECASE | re.MULTILINE)
_OBJECT = re.compile(r"\b(input|module)[ \t\n]*\(", re.IGNORECASE)
_QUOTED = re.compile(r'"((?:[^"\\]|\\.)*)"')
_NUMBERED_LINE = re.compile(r"^(/[^\n]*?):([0-9]+):(.*)$")


def _code_only(text: str) -> str:
    """``text`` with its strings, comments and whole-line statements blanked (line ends
    kept): where to look for ``input()`` and ``module()``."""
    code = list(_WHOLE_LINE.sub(lambda match: " " * len(match.group(0)), text))
    index = 0
    while index < len(code):
        char = code[index]
        if char in "\"`":
            end = index + 1
            while end < len(code) and code[end] != char:
                end += 2 if code[end] == "\\" else 1
            stop = min(end + 1, len(code))
        elif char == "#":
            stop = text.find("\n", index)
            stop = len(code) if stop < 0 else stop
        elif char == "/" and text.startswith("/*", index):
            stop = text.find("*/", index + 2)
            stop = len(code) if stop < 0 else stop + 2
        else:
            index += 1
            continue
        for blank in range(index, stop):
            if code[blank] != "\n":
                code[blank] = " "
        index = stop
    return "".join(code)


def _objects(text: str, code: str, kind: str):
    """``(offset, parameters)`` of each ``kind(...)`` statement rsyslog can read."""
    for match in _OBJECT.finditer(code):
        if match.group(1).lower() != kind:
            continue
        try:
            body = text[match.end():matching_close(text, match.end() - 1) - 1]
            params = {name.lower(): value.strip() for name, value in object_params(body)}
        except FilterSyntaxError:
            continue  # rsyslogd's own check refuses it
        if params.get("config.enabled", "on").lower() not in ("off", "no", "0"):
            yield match.start(), params


def port_number(port: str, module: str) -> Optional[int]:
    """The number of ``port`` as ``module`` reads it: a number, or for imtcp, imptcp and
    imgssapi a service name (of this machine's services list); None when it listens nowhere."""
    if port.isdigit():
        return int(port) if 0 < int(port) < 65536 else None
    if module in _NUMERIC_PORTS or not port:
        return None
    try:
        return socket.getservbyname(port, PROTOCOLS[module])
    except (OSError, UnicodeError):
        return None


def _line(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


def listeners(text: str) -> List[Dict[str, object]]:
    """Each network port an input of the configuration ``text`` listens on, in the order of
    the text: ``line``, ``module``, ``protocol`` (udp or tcp) and ``port``."""
    code = _code_only(text)
    found: List[Tuple[int, str, str]] = []
    for offset, params in _objects(text, code, "input"):
        module = params.get("type", "").lower()
        if module not in PROTOCOLS or "port" not in params:
            continue  # imudp needs a port; imptcp may listen on a socket path instead
        value = params["port"]
        ports = _QUOTED.findall(value) if value.startswith("[") else [value]
        # imudp takes an empty port for syslog's
        found.extend((offset, module, port or ("514" if module == "imudp" else "")) for port in ports)
    for match in _LEGACY_RUN_LINE.finditer(text):
        module = _LEGACY_RUN[match.group(1).lower()]
        found.append((match.start(), module, match.group(2) or ("514" if module == "imudp" else "")))
    listening = []
    for offset, module, port in sorted(found, key=lambda each: each[0]):
        number = port_number(port, module)
        if number is not None:
            listening.append({"line": _line(text, offset), "module": module,
                              "protocol": PROTOCOLS[module], "port": number})
    return listening


def module_loads(text: str) -> List[Dict[str, object]]:
    """Each module the configuration ``text`` loads (``module(load=...)``, ``$ModLoad``), in
    the order of the text: ``line`` and ``module`` (its name, without a path or ``.so``)."""
    code = _code_only(text)
    found = [(offset, params.get("load", "")) for offset, params in _objects(text, code, "module")]
    found += [(match.start(), match.group(1)) for match in _LEGACY_LOAD_LINE.finditer(text)]
    return [{"line": _line(text, offset), "module": re.sub(r"\.so$", "", name.rsplit("/", 1)[-1]).lower()}
            for offset, name in sorted(found, key=lambda each: each[0]) if name]


def numbered_files(lines: List[str]) -> List[Tuple[str, str, List[int]]]:
    """``(file, text, line numbers)`` of the files whose lines ``grep -H -n`` printed
    (``FILE:NUMBER:TEXT``, FILE absolute), in the order first seen: the text is the lines
    printed, and line N of the text is line ``numbers[N - 1]`` of the file.  Other lines are
    no file's."""
    files: Dict[str, Tuple[List[str], List[int]]] = {}
    for line in lines:
        match = _NUMBERED_LINE.match(line)
        if match:
            texts, numbers = files.setdefault(match.group(1), ([], []))
            texts.append(match.group(3))
            numbers.append(int(match.group(2)))
    return [(path, "\n".join(texts) + "\n", numbers) for path, (texts, numbers) in files.items()]
