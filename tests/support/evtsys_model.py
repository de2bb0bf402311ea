"""A model of Eventlog to Syslog (evtsys) 4.5.1, to check what windows_evtsys_policy renders.

This is a model, not evtsys: no Windows host runs here.  It was written from the C source of
the Eventlog-to-Syslog project (tag Release_4.5.1, the files named below) and from
Microsoft's Query Schema, function by function, and it answers what that source does with a
given ``evtsys.cfg`` and set of registry values:

* ``read_cfg`` follows ``check.c`` CheckSyslogIgnoreFile and CheckXPath (the cfg reader) and
  ``winevent.c`` CreateQueryString (the query list handed to EvtSubscribe);
* ``read_registry`` follows ``registry.c`` RegistryRead over RegistryApplicationDataList,
  ``check.c`` CheckSyslogLogHost and ``loop.c`` MainLoop (the tag);
* ``forwards``, ``collapse_message``, ``syslog_text`` and ``utf8_payload`` follow
  ``winevent.c`` ProcessEvent, ``support.c`` CollapseExpandMessageW and ``syslog.c``
  SyslogSendW (which events leave, and the exact bytes that are sent, cut where the buffers
  end);
* ``cfg_path`` and ``registry_key`` say where a process of a given word size finds the
  relative ``evtsys.cfg`` and ``Software\\ECN\\EvtSys\\3.0`` (a service starts in System32;
  Windows redirects a 32-bit process to SysWOW64 and WOW6432Node).

What the model cannot know (how EvtSubscribe parses a query beyond the schema's rules, what a
failed UTF-8 conversion leaves in the buffer) is named where it matters.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from xml.etree import ElementTree

SERVICE_NAME = "EvtSys"
"""service.c hard-codes the service name in CreateService, OpenService and the dispatcher."""

CONFIG_FILE = "evtsys.cfg"  # main.h, opened relative to the working directory
QUERY_SZ = 1024  # main.h
SOURCE_SZ = 128  # main.h
CFG_LINE_BUFFER = QUERY_SZ + SOURCE_SZ + 8  # check.c: char line[QUERY_SZ + SOURCE_SZ + 8]
QUERY_LIST_CHARS = 524288 // 2  # winevent.c mallocs QUERY_LIST_SZ bytes for WCHARs
SYSLOG_DEF_SZ = 1024  # syslog.h; the "LP" build is made with 4096
LP_SYSLOG_SZ = 4096
SELECT_EXPRESSIONS_MAX = 32  # Microsoft's Query Schema: an XPath is limited to 32 expressions
SERVICE_WORKING_DIRECTORY = "%SystemRoot%\\System32"


class EvtsysStops(Exception):
    """What the source does makes the service stop (an error return) or end (the C runtime's
    invalid-parameter handler, reached by strcpy_s, swprintf_s or wcscat_s past their size)."""


# ------------------------------------------------------------------ the cfg file


@dataclass
class Cfg:
    """What evtsys took from its cfg: XPath queries in file order, and pre-Vista ignore lines."""

    queries: list = field(default_factory=list)  # [(source, query)]
    ignore_lines: list = field(default_factory=list)  # [(source, id)]

    def query_list(self):
        """The QueryList handed to EvtSubscribe (winevent.c CreateQueryString).

        evtsys keeps its queries in a list it prepends to (check.c AddXPath), so the Ids run
        from the last line of the file to the first.
        """
        parts = ["<QueryList>"]
        for index, (source, query) in enumerate(reversed(self.queries)):
            element = '<Query Id="%d" Path="%s">%s</Query>' % (index, source, query)
            if len(element) > QUERY_SZ - 1:  # swprintf_s into WCHAR query[QUERY_SZ]
                raise EvtsysStops("swprintf_s: <Query> of %d characters for %s exceeds %d: the "
                                  "service ends" % (len(element), source, QUERY_SZ - 1))
            parts.append(element)
        parts.append("</QueryList>")
        text = "".join(parts)
        if len(text) >= QUERY_LIST_CHARS:
            raise EvtsysStops("the query list of %d characters overruns its buffer" % len(text))
        return text


def _text_mode(data):
    """The bytes as fgets reads them from a file opened with "r" on Windows: CR LF becomes LF,
    and a Ctrl-Z ends the file."""
    data = data.split(b"\x1a", 1)[0]
    return data.replace(b"\r\n", b"\n").decode("latin-1")


def _fgets(text, size=CFG_LINE_BUFFER):
    """The pieces successive fgets(line, size, file) calls return: at most size - 1
    characters each, ending after a newline when one comes first."""
    position = 0
    while position < len(text):
        end = text.find("\n", position, position + size - 1)
        end = position + size - 1 if end < 0 else end + 1
        yield text[position:end]
        position = end


def _strtok(text, delimiters):
    """strtok_s: the first token of ``text`` and the rest after its delimiter, or (None, "")."""
    start = 0
    while start < len(text) and text[start] in delimiters:
        start += 1
    if start == len(text):
        return None, ""
    end = start
    while end < len(text) and text[end] not in delimiters:
        end += 1
    return text[start:end], text[end + 1:]


def _strcpy_s(value, size, what):
    """strcpy_s into ``size`` bytes: handed NULL or too much, the C runtime ends the service."""
    if value is None:
        raise EvtsysStops("%s is missing: strcpy_s(NULL) ends the service" % what)
    if len(value.encode("latin-1")) >= size:
        raise EvtsysStops("%s has %d bytes: strcpy_s into %d bytes ends the service"
                          % (what, len(value), size))
    return value


def read_cfg(data, include_only=False):
    """What evtsys 4.5.1 takes from ``evtsys.cfg`` (``data``, the file's bytes) on Vista and later.

    Raises EvtsysStops where check.c CheckSyslogIgnoreFile returns an error (the service does
    not start) or where strcpy_s in CheckXPath is handed too much or nothing (it ends).
    """
    cfg = Cfg()
    counter = 0  # check.c uses one "i" for the ignore list and for the blank-line scan
    for number, line in enumerate(_fgets(_text_mode(data)), 1):
        if line[:1] == "'" or not line:
            continue
        first = next((index for index, char in enumerate(line) if char != " "), None)
        counter = len(line) if first is None else first
        if first is None:  # only spaces, not even a newline: the file's last line
            continue
        if line[:5].lower() == "xpath":
            _word, rest = _strtok(line, ":")
            source, rest = _strtok(rest, ":")
            source = _strcpy_s(source, SOURCE_SZ, "line %d: the event log name" % number)
            query, _rest = _strtok(rest, "\r\n")
            query = _strcpy_s(query, QUERY_SZ, "line %d: the query" % number)
            cfg.queries.append((source, query))
        else:
            source, rest = _strtok(line, ":")
            event_id, _rest = _strtok(rest, ":")
            if source is None or event_id is None:
                raise EvtsysStops("line %d: %r is neither a comment, an XPath line nor "
                                  "source:id: \"File format incorrect\", the service does not "
                                  "start" % (number, line))
            cfg.ignore_lines.append((source, event_id))
            counter += 1
    if include_only and counter == 0:
        raise EvtsysStops("IncludeOnly is set and no event is listed to include: the service "
                          "does not start")
    return cfg


def select_expressions(xpath):
    """The comparisons of an XPath select, as this model counts the schema's "expressions"."""
    text = re.sub(r"'[^']*'|\"[^\"]*\"", "''", xpath)
    return len(re.findall(r"!=|<=|>=|=|<|>", text))


def subscribe(cfg):
    """The query list as EvtSubscribe would take it, checked against Microsoft's Query Schema:
    well-formed XML, a QueryList of Query elements holding Select or Suppress elements whose
    Path is the query's, each XPath within 32 expressions.  Returns [(path, xpath)]."""
    text = cfg.query_list()
    if not cfg.queries:
        raise EvtsysStops("no XPath line: nothing to subscribe to")
    try:
        root = ElementTree.fromstring(text)
    except ElementTree.ParseError as exc:
        raise EvtsysStops("EvtSubscribe: the query list is not XML (%s): the service stops" % exc)
    selects = []
    for query in root:
        if query.tag != "Query" or not len(query):
            raise EvtsysStops("EvtSubscribe: %s is not a Query with selectors" % query.tag)
        for select in query:
            if select.tag not in ("Select", "Suppress") or list(select):
                raise EvtsysStops("EvtSubscribe: unexpected <%s> in a Query" % select.tag)
            if select.get("Path") != query.get("Path"):
                raise EvtsysStops("EvtSubscribe: a Select of %s names %s"
                                  % (query.get("Path"), select.get("Path")))
            xpath = select.text or ""
            if select_expressions(xpath) > SELECT_EXPRESSIONS_MAX:
                raise EvtsysStops("EvtSubscribe: an XPath of %d expressions (at most %d)"
                                  % (select_expressions(xpath), SELECT_EXPRESSIONS_MAX))
            selects.append((select.get("Path"), xpath))
    return selects


# ------------------------------------------------------------------ the registry

REG_SZ, REG_DWORD = "REG_SZ", "REG_DWORD"
WIN_REGEDIT_TYPES = {"string": REG_SZ, "dword": REG_DWORD}

# registry.c RegistryApplicationDataList: name, type, the size of the variable read into,
# required, and the value evtsys has when the registry holds none (syslog.c, main.c).
VALUES = {
    "Facility": (REG_DWORD, 4, True, 3),
    "LogHost": (REG_SZ, (64 + 1) * 6, True, ""),
    "Port": (REG_DWORD, 4, True, 514),
    "StatusInterval": (REG_DWORD, 4, False, 0),
    "QueryDhcp": (REG_DWORD, 4, False, 0),
    "LogLevel": (REG_DWORD, 4, False, 0),
    "IncludeOnly": (REG_DWORD, 4, False, 0),
    "Tag": (REG_SZ, 64 + 1, False, ""),
    "MaxMessageSize": (REG_DWORD, 4, False, SYSLOG_DEF_SZ),
    "UseIPAddress": (REG_DWORD, 4, False, 0),
    "EnableTcp": (REG_DWORD, 4, False, 0),
}


def install_values(log_host, port=514):
    """The values ``evtsys -i -h HOST -p PORT`` writes (main.c, registry.c RegistryInstall):
    every value of the list, the defaults except the host and port (Tag as 65 zero bytes)."""
    values = {name: (kind, default) for name, (kind, _size, _required, default) in VALUES.items()}
    values["LogHost"] = (REG_SZ, log_host)
    values["Port"] = (REG_DWORD, port)
    return values


def apply_win_regedit(values, items):
    """The registry after win_regedit set each of ``items`` ({name, type, data}): values the
    items do not name stay as they were."""
    result = dict(values)
    for item in items:
        result[item["name"]] = (WIN_REGEDIT_TYPES[item["type"]], item["data"])
    return result


@dataclass
class Settings:
    """What evtsys runs with after reading the registry."""

    log_hosts: list
    port: int
    facility: int
    log_level: int
    tag: str | None  # None: no tag (loop.c sets SyslogIncludeTag when strlen(SyslogTag) > 0)
    tcp: bool
    include_only: bool
    query_dhcp: bool
    use_ip_address: bool
    status_interval: int
    unread: list  # value names evtsys never reads


def _is_ipv4(text):
    parts = text.split(".")
    return len(parts) == 4 and all(part.isdigit() and int(part) < 256 for part in parts)


def read_registry(values):
    """What evtsys reads from ``values`` ({name: (type, data)}) of ``Software\\ECN\\EvtSys\\3.0``.

    RegQueryValueEx copies whatever is stored into the variable: a value of another type is
    read as raw bytes (refused here as an error the source does not detect), one larger than
    the variable fails with ERROR_MORE_DATA and the service does not start.
    """
    read = {}
    for name, (kind, size, required, default) in VALUES.items():
        if name not in values:
            if required:
                raise EvtsysStops("Cannot query registry key: %s is missing" % name)
            read[name] = default
            continue
        stored_kind, data = values[name]
        if stored_kind != kind:
            raise EvtsysStops("%s is a %s, read as the raw bytes of a %s" % (name, stored_kind, kind))
        if kind == REG_DWORD:
            if isinstance(data, bool) or not isinstance(data, int) or not 0 <= data < 2 ** 32:
                raise EvtsysStops("%s = %r is no DWORD" % (name, data))
        else:
            encoded = data.encode("ascii", "strict") if data.isascii() else None
            if encoded is None:
                raise EvtsysStops("%s = %r: the ANSI form of non-ASCII text is not modelled" % (name, data))
            if len(encoded) + 1 > size:
                raise EvtsysStops("Cannot query registry key: %s needs %d bytes, evtsys reads %d"
                                  % (name, len(encoded) + 1, size))
        read[name] = data
    hosts = [host for host in read["LogHost"].split(";") if host][:6]  # CheckSyslogLogHost
    if not hosts:
        raise EvtsysStops("LogHost names no host")
    for host in hosts:
        # support.c ConvertLogHostToIp: inet_addr, else gethostbyname (IPv4 names only)
        if not _is_ipv4(host) and (":" in host or not re.fullmatch(r"[A-Za-z0-9.-]+", host)):
            raise EvtsysStops("Invalid log host: %r" % host)
    if not 0 < read["Port"] < 65536:
        raise EvtsysStops("Port %d is not a port" % read["Port"])
    return Settings(
        log_hosts=hosts, port=read["Port"], facility=read["Facility"], log_level=read["LogLevel"],
        tag=read["Tag"] or None, tcp=bool(read["EnableTcp"]), include_only=bool(read["IncludeOnly"]),
        query_dhcp=bool(read["QueryDhcp"]), use_ip_address=bool(read["UseIPAddress"]),
        status_interval=read["StatusInterval"], unread=sorted(set(values) - set(VALUES)))


# ------------------------------------------------------------------ sending

AUDIT_LEVEL = 0  # winevent.h WINEVENT_AUDIT_LEVEL: Security audit events carry level 0
ERROR_LEVEL = 2


def forwards(settings, level, audit_failure=False):
    """Whether ProcessEvent sends an event of ``level``: audit failures are taken as level 2."""
    winlevel = ERROR_LEVEL if audit_failure else level
    return settings.log_level == 0 or (settings.log_level >= winlevel and winlevel > 0)


_SEVERITY = {1: 2, 2: 3, 3: 4, 4: 5, 0: 5, 5: 7}  # ProcessEvent: Windows level -> syslog severity


def collapse_message(message, size=SYSLOG_DEF_SZ):
    """The message text after support.c CollapseExpandMessageW: CR, LF and TAB become blanks,
    runs of blanks one blank, and the result at most size - 1 UTF-16 units (its buffer is
    WCHAR[SYSLOG_DEF_SZ]).  (Its expansion of "%%n" error numbers is not modelled.)"""
    collapsed = []
    skipping = False
    for char in message:
        if char in "\r\t\n":
            char = " "
        if char == " ":
            if skipping:
                continue
            skipping = True
        else:
            skipping = False
        collapsed.append(char)
    return _cut_utf16("".join(collapsed), size - 1)


def _cut_utf16(text, units):
    return text.encode("utf-16-le")[:2 * units].decode("utf-16-le", "ignore")


def syslog_text(settings, timestamp, computer, source, event_id, text, level=AUDIT_LEVEL,
                audit_failure=False, size=SYSLOG_DEF_SZ):
    """The UTF-16 text SyslogSendW converts for one event (winevent.c ProcessEvent, syslog.c).

    ``text`` is the message after collapse_message; ``size`` is SYSLOG_DEF_SZ of the build
    (1024, or 4096 for "LP").  Every step cuts at size - 1 UTF-16 units (_snwprintf_s and
    wcsncat_s with _TRUNCATE).
    """
    limit = size - 1
    if settings.tag:
        message = "%s %s %s: %s: %d: " % (timestamp, computer, settings.tag, source, event_id)
    else:
        message = "%s %s %s: %d: " % (timestamp, computer, source, event_id)
    if audit_failure:
        message = _cut_utf16(message + "AUDIT_FAILURE ", limit)
        level = ERROR_LEVEL
    elif level == AUDIT_LEVEL:
        message = _cut_utf16(message + "AUDIT_SUCCESS ", limit)
    message = _cut_utf16(message + text, limit)
    pri = settings.facility * 8 + _SEVERITY.get(level, 5)
    return _cut_utf16("<%d>%s" % (pri, message), limit)


def utf8_payload(text, size=SYSLOG_DEF_SZ):
    """The bytes WideCharToMultiByte leaves for ``text`` in a buffer of ``size`` bytes, or None
    when the UTF-8 form with its NUL does not fit: the conversion then fails, and what the
    buffer holds and what is sent is not known from the source."""
    payload = text.encode("utf-8")
    return payload if len(payload) + 1 <= size else None


def syslog_payload(settings, timestamp, computer, source, event_id, text, level=AUDIT_LEVEL,
                   audit_failure=False, size=SYSLOG_DEF_SZ):
    """The bytes SyslogSendW sends for one event, or None when its UTF-8 conversion fails."""
    return utf8_payload(syslog_text(settings, timestamp, computer, source, event_id, text,
                                    level, audit_failure, size), size)


# ------------------------------------------------------------------ where things are read

def cfg_path(process_bits, windows_bits=64):
    """The cfg file a service process of ``process_bits`` opens: the relative ``evtsys.cfg`` in
    its working directory, System32, which Windows shows a 32-bit process as SysWOW64."""
    if process_bits == 32 and windows_bits == 64:
        return "%SystemRoot%\\SysWOW64\\" + CONFIG_FILE
    return SERVICE_WORKING_DIRECTORY + "\\" + CONFIG_FILE


def registry_key(process_bits, windows_bits=64):
    """Where RegistryRead's ``Software\\ECN\\EvtSys\\3.0`` lies for a process of ``process_bits``."""
    if process_bits == 32 and windows_bits == 64:
        return "HKLM:\\SOFTWARE\\WOW6432Node\\ECN\\EvtSys\\3.0"
    return "HKLM:\\SOFTWARE\\ECN\\EvtSys\\3.0"
