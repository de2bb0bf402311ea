# -*- coding: utf-8 -*-
# Copyright: whotouched.server_audit contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to whotouched.server_audit: it may change in any release. Do not import it from
# other collections or from code outside this collection.
"""What Eventlog to Syslog (evtsys.exe 4.5) is told: its ``evtsys.cfg`` and registry values.

evtsys reads its settings from ``HKLM\\SOFTWARE\\ECN\\EvtSys\\3.0`` and, on Windows Vista
and later, forwards the events selected by the ``XPath:<channel>:<select>`` lines of
``evtsys.cfg``.  It opens that file by the relative name ``evtsys.cfg`` (``loop.c`` MainLoop)
and never changes directory, so a 64-bit evtsys running as a service reads
``%SystemRoot%\\System32\\evtsys.cfg`` wherever ``evtsys.exe`` lies.  The
Security events that each audit subcategory writes are known by event ID, so the forwarded
set follows the audit policy: choose a subcategory and its events travel to the log server,
nothing else from Security.

The limits below are evtsys 4.5.1's (``check.c`` CheckXPath, ``winevent.c``
CreateQueryString) and the Windows event log's (Microsoft's Query Schema); a setting beyond
them is refused here, before anything is written.

Pure functions: the role renders through the ``evtsys_cfg`` and ``evtsys_registry_values``
filters, which call these.
"""

from __future__ import annotations

import re
from xml.etree import ElementTree

from ansible_collections.whotouched.server_audit.plugins.module_utils._windows.audit_policy import (
    AuditPolicyError,
    resolve_subcategory,
)

# check.c CheckXPath copies the channel into SOURCE_SZ (128) and the query into QUERY_SZ
# (1024) bytes with strcpy_s, and winevent.c CreateQueryString formats each line as
# <Query Id="N" Path="channel">query</Query> into QUERY_SZ wide characters with swprintf_s:
# past either limit the C runtime ends the service.
CHANNEL_MAX_BYTES = 127
QUERY_ELEMENT_MAX_CHARS = 1023
# Ids count the XPath lines; a cfg stays under 100 of them, so an Id has at most 2 digits.
XPATH_LINES_MAX = 100
# Microsoft's Query Schema: "Each XPath that you specify is limited to 32 expressions."
SELECT_EXPRESSIONS_MAX = 32

# Security event IDs per subcategory, from Microsoft's "Audit <subcategory>" pages, by
# English name (the GUIDs live in audit_policy alone).
# "Other Account Logon Events" is documented as writing no events.
_SECURITY_EVENT_IDS_BY_NAME = {
    "Credential Validation": (4774, 4775, 4776, 4777),
    "Kerberos Authentication Service": (4768, 4771, 4772),
    "Kerberos Service Ticket Operations": (4769, 4770, 4773),
    "Other Account Logon Events": (),
    "User Account Management": (
        4720, 4722, 4723, 4724, 4725, 4726, 4738, 4740, 4765, 4766, 4767, 4780, 4781,
        4794, 4798, 5376, 5377),
    "Computer Account Management": (4741, 4742, 4743),
    "Security Group Management": (
        4727, 4728, 4729, 4730, 4731, 4732, 4733, 4734, 4735, 4737, 4754, 4755, 4756,
        4757, 4758, 4764, 4799),
    "Distribution Group Management": (
        4744, 4745, 4746, 4747, 4748, 4749, 4750, 4751, 4752, 4753, 4759, 4760, 4761,
        4762, 4763),
    "Application Group Management": (
        4783, 4784, 4785, 4786, 4787, 4788, 4789, 4790, 4791, 4792),
    "Other Account Management Events": (4782, 4793),
    # Beyond the seed's list, the subcategories users most often add:
    "Logon": (4624, 4625, 4648, 4675),
    "Logoff": (4634, 4647),
    "Account Lockout": (4625,),
    "Special Logon": (4964, 4672),
    "Process Creation": (4688, 4696),
    "Audit Policy Change": (
        4715, 4719, 4817, 4902, 4904, 4905, 4906, 4907, 4908, 4912),
}

SECURITY_EVENT_IDS = {resolve_subcategory(name).guid: event_ids
                      for name, event_ids in _SECURITY_EVENT_IDS_BY_NAME.items()}
"""Security event IDs by subcategory GUID."""

FACILITIES = {
    "kern": 0, "user": 1, "mail": 2, "daemon": 3, "auth": 4, "syslog": 5, "lpr": 6,
    "news": 7, "uucp": 8, "cron": 9, "authpriv": 10, "ftp": 11, "ntp": 12, "security": 13,
    "local0": 16, "local1": 17, "local2": 18, "local3": 19, "local4": 20, "local5": 21,
    "local6": 22, "local7": 23,
}

CFG_HEADER = """\
'Managed by Ansible (whotouched.server_audit.windows_evtsys_policy); local edits are replaced.
'Comments start with an apostrophe and stand alone on their line.
'XPath:<event log>:<select expressions> names what evtsys forwards from that log.
"""


class EvtsysConfigError(ValueError):
    """Settings evtsys cannot use; nothing should be written."""


def _ranges(numbers):
    """Sorted runs of consecutive integers: [4720, 4722, 4723] -> [(4720, 4720), (4722, 4723)]."""
    runs = []
    for number in sorted(set(numbers)):
        if runs and number == runs[-1][1] + 1:
            runs[-1] = (runs[-1][0], number)
        else:
            runs.append((number, number))
    return runs


def _event_id_clauses(event_ids):
    """``(clause, expressions)`` per run of ``event_ids``: a range counts two comparisons.

    ``<`` and ``>`` are escaped because the expression sits inside XML.
    """
    clauses = []
    for low, high in _ranges(event_ids):
        if low == high:
            clauses.append(("EventID=%d" % low, 1))
        else:
            clauses.append(("(EventID&gt;=%d and EventID&lt;=%d)" % (low, high), 2))
    return clauses


def _event_id_select(clauses):
    return "*[System[%s]]" % " or ".join(clause for clause, _count in clauses)


def event_id_filter(event_ids):
    """An event-log XPath predicate matching ``event_ids``, written as few clauses as possible."""
    return _event_id_select(_event_id_clauses(event_ids))


def select_expressions(expression):
    """How many expressions (comparisons) an XPath select holds, as the 32-expression limit counts.

    Comparisons inside quoted strings do not count; ``&lt;``/``&gt;`` are the XML forms of
    ``<`` and ``>``.
    """
    text = expression.replace("&lt;", "<").replace("&gt;", ">")
    text = re.sub(r"'[^']*'|\"[^\"]*\"", "''", text)
    return len(re.findall(r"!=|<=|>=|=|<|>", text))


def _select(channel, expression):
    return '<Select Path="%s">%s</Select>' % (channel, expression)


def _query_chars_max(channel):
    """The longest query CreateQueryString can wrap for ``channel`` (see QUERY_ELEMENT_MAX_CHARS)."""
    wrapper = '<Query Id="%d" Path="%s"></Query>' % (XPATH_LINES_MAX - 1, channel)
    return QUERY_ELEMENT_MAX_CHARS - len(wrapper)


def _event_id_selects(channel, event_ids):
    """``<Select>`` elements for ``event_ids``, each within the expression and length limits."""
    budget = _query_chars_max(channel)
    selects, chunk, expressions = [], [], 0
    for clause, count in _event_id_clauses(event_ids):
        if chunk and (expressions + count > SELECT_EXPRESSIONS_MAX or len(
                _select(channel, _event_id_select(chunk + [(clause, count)]))) > budget):
            selects.append(_select(channel, _event_id_select(chunk)))
            chunk, expressions = [], 0
        chunk.append((clause, count))
        expressions += count
    if chunk:
        selects.append(_select(channel, _event_id_select(chunk)))
    return selects


def _check_channel(channel):
    """The channel name as an XPath line can carry it: strtok splits the line at ``:``."""
    if not isinstance(channel, str) or not channel.strip():
        raise EvtsysConfigError("event log name %r is empty" % (channel,))
    channel = channel.strip()
    if not re.fullmatch(r"[\x21-\x7e]+(?: [\x21-\x7e]+)*", channel) or re.search(r'[:"<>&]', channel):
        raise EvtsysConfigError("event log name %r cannot be written on an evtsys XPath line: only "
                                "printable ASCII without : \" < > & is read back as written" % channel)
    if len(channel) > CHANNEL_MAX_BYTES:
        raise EvtsysConfigError("event log name %r is longer than the %d bytes evtsys copies "
                                "(check.c CheckXPath); a longer one ends the service"
                                % (channel, CHANNEL_MAX_BYTES))
    return channel


def _extra_select(query):
    """The ``<Select>`` of one extra query, checked against evtsys's and the event log's limits."""
    channel = _check_channel(query.get("channel"))
    expression = query.get("select")
    if not isinstance(expression, str) or not expression.strip() or "\n" in expression or "\r" in expression:
        raise EvtsysConfigError("the select expression for %s must be one non-empty line" % channel)
    expression = expression.strip()
    if not re.fullmatch(r"[\x20-\x7e]+", expression):
        raise EvtsysConfigError("the select expression for %s holds a character other than "
                                "printable ASCII, which evtsys reads in the ANSI code page: %r"
                                % (channel, expression))
    select = _select(channel, expression)
    try:
        ElementTree.fromstring(select)
    except ElementTree.ParseError as exc:
        raise EvtsysConfigError("the select expression for %s is not valid inside <Select> (write "
                                "< as &lt; and & as &amp;): %s" % (channel, exc))
    expressions = select_expressions(expression)
    if expressions > SELECT_EXPRESSIONS_MAX:
        raise EvtsysConfigError("the select expression for %s has %d comparisons; the event log "
                                "takes at most %d in one XPath"
                                % (channel, expressions, SELECT_EXPRESSIONS_MAX))
    if len(select) > _query_chars_max(channel):
        raise EvtsysConfigError("the select expression for %s makes a query of %d characters; "
                                "evtsys 4.5 ends the service past %d (winevent.c CreateQueryString)"
                                % (channel, len(select), _query_chars_max(channel)))
    return channel, select


def security_event_ids(subcategories):
    """Event IDs to forward for the chosen subcategories, and the names with no known IDs.

    ``subcategories`` are entries ``{"name": English name or GUID, "success", "failure"}``;
    one with neither flag set audits nothing, so it forwards nothing.
    """
    event_ids = set()
    unmapped = []
    for entry in subcategories:
        try:
            sub = resolve_subcategory(entry.get("name"))
        except AuditPolicyError as exc:
            raise EvtsysConfigError(str(exc))
        if not (entry.get("success") or entry.get("failure")):
            continue
        known = SECURITY_EVENT_IDS.get(sub.guid)
        if known is None:
            unmapped.append(sub.name)
        else:
            event_ids.update(known)
    return sorted(event_ids), unmapped


def render_evtsys_cfg(subcategories, extra_event_ids=(), extra_queries=()):
    """The full text of ``evtsys.cfg`` (CRLF line ends, as Windows tools expect).

    The Security events of every chosen subcategory plus ``extra_event_ids`` are written on
    as many ``XPath:Security:`` lines as the limits need (each line one ``<Select>`` of at
    most 32 comparisons and within the length evtsys copies); each ``extra_queries`` item
    ``{"channel", "select"}`` gets a line of its own.
    """
    event_ids, unmapped = security_event_ids(subcategories)
    for event_id in extra_event_ids:
        if isinstance(event_id, bool) or not isinstance(event_id, int) or not 0 < event_id < 65536:
            raise EvtsysConfigError("event ID %r is not a number between 1 and 65535" % (event_id,))
    event_ids = sorted(set(event_ids) | set(extra_event_ids))

    xpath_lines = []
    if event_ids:
        xpath_lines.extend(("Security", select) for select in _event_id_selects("Security", event_ids))
    xpath_lines.extend(_extra_select(query) for query in extra_queries)

    lines = CFG_HEADER.splitlines()
    if unmapped:
        lines.append("'No known Security event IDs (add them with extra event IDs): %s"
                     % ", ".join(unmapped))
    if not xpath_lines:
        raise EvtsysConfigError("nothing to forward: no chosen subcategory has known event IDs "
                                "and no extra event IDs or queries were given")
    if len(xpath_lines) > XPATH_LINES_MAX:
        raise EvtsysConfigError("the queries need %d XPath lines, more than the %d this collection "
                                "writes" % (len(xpath_lines), XPATH_LINES_MAX))
    lines.extend("XPath:%s:%s" % line for line in xpath_lines)
    return "\r\n".join(lines) + "\r\n"


_TAG = re.compile(r"[A-Za-z0-9._/-]{0,64}")
# evtsys reads LogHost into (64 + 1) * 6 bytes (syslog.c SyslogLogHosts); a longer value
# fails RegQueryValueEx and the service does not start.
LOG_HOSTS_MAX_BYTES = 389


def _check_log_hosts(log_hosts):
    if isinstance(log_hosts, str):
        log_hosts = [log_hosts]
    hosts = [str(host).strip() for host in log_hosts if str(host).strip()]
    if not hosts:
        raise EvtsysConfigError("at least one log host is needed")
    for host in hosts:
        if any(char in host for char in "; \t\r\n"):
            raise EvtsysConfigError("log host %r contains a separator or blank" % host)
        if ":" in host:
            raise EvtsysConfigError("log host %r is not an IPv4 address or host name: evtsys "
                                    "resolves log hosts with inet_addr and gethostbyname, IPv4 "
                                    "only (support.c ConvertLogHostToIp)" % host)
        if not re.fullmatch(r"[\x21-\x7e]+", host):
            raise EvtsysConfigError("log host %r holds a character other than printable ASCII" % host)
    if len(hosts) > 6:
        raise EvtsysConfigError("evtsys forwards to at most 6 log hosts, got %d" % len(hosts))
    if len(";".join(hosts)) > LOG_HOSTS_MAX_BYTES:
        raise EvtsysConfigError("the log hosts take %d characters; evtsys reads at most %d"
                                % (len(";".join(hosts)), LOG_HOSTS_MAX_BYTES))
    return hosts


def evtsys_registry_values(log_hosts, port=514, facility="daemon", tag="", log_level=0,
                           status_interval=0, tcp=False):
    """The values under ``HKLM\\SOFTWARE\\ECN\\EvtSys\\3.0``, as win_regedit items.

    Returns ``[{"name", "type", "data"}]`` sorted by name: every value evtsys 4.5 reads
    (``registry.c`` RegistryApplicationDataList) but the unused ``MaxMessageSize``, so that
    nothing set earlier or by hand stays in force.  Several log hosts go into ``LogHost``
    separated by semicolons; the facility is stored as its number; an empty tag is written
    as an empty ``Tag`` (evtsys keeps using a ``Tag`` value that is left in place).

    ``log_level`` and ``tcp`` take only their defaults: a LogLevel other than 0 drops every
    audit success (``winevent.c`` ProcessEvent forwards when ``LogLevel == 0 || (LogLevel >=
    level && level > 0)``, and audit successes have level 0), and evtsys's TCP sends
    messages without a line end or octet count (``wsock.c`` WSockSend).
    """
    hosts = _check_log_hosts(log_hosts)
    if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
        raise EvtsysConfigError("port %r is not between 1 and 65535" % (port,))
    if facility not in FACILITIES:
        raise EvtsysConfigError("unknown syslog facility %r (one of %s)"
                                % (facility, ", ".join(sorted(FACILITIES))))
    if log_level != 0 or isinstance(log_level, bool):
        raise EvtsysConfigError(
            "log level %r would drop every Security audit success: evtsys forwards an event only "
            "when LogLevel is 0 or the event's level lies between 1 and LogLevel, and audit "
            "successes have level 0 (winevent.c ProcessEvent); choose levels with an XPath query "
            "instead, such as *[System[(Level=1 or Level=2)]]" % (log_level,))
    if tcp:
        raise EvtsysConfigError(
            "evtsys cannot send over TCP to rsyslog: it writes each message without a line end or "
            "octet count (wsock.c WSockSend), so rsyslog's TCP inputs run messages together, and a "
            "log host that refuses the connection at start keeps the service from starting "
            "(syslog.c SyslogOpen); use UDP")
    if not isinstance(tag, str) or not _TAG.fullmatch(tag):
        raise EvtsysConfigError("tag %r must be at most 64 letters, digits or . _ / -" % (tag,))
    if isinstance(status_interval, bool) or not isinstance(status_interval, int) or not (
            0 <= status_interval <= 65535):
        raise EvtsysConfigError("status interval %r is not 0 to 65535 minutes" % (status_interval,))
    values = [
        {"name": "LogHost", "type": "string", "data": ";".join(hosts)},
        {"name": "Port", "type": "dword", "data": port},
        {"name": "Facility", "type": "dword", "data": FACILITIES[facility]},
        {"name": "LogLevel", "type": "dword", "data": 0},
        {"name": "StatusInterval", "type": "dword", "data": status_interval},
        {"name": "EnableTcp", "type": "dword", "data": 0},
        {"name": "Tag", "type": "string", "data": tag},
        # IncludeOnly with an XPath-only cfg stops the service (check.c CheckSyslogIgnoreFile);
        # QueryDhcp would let a DHCP server choose the log host; UseIPAddress puts the FQDN or
        # address where the log server expects the computer name.
        {"name": "IncludeOnly", "type": "dword", "data": 0},
        {"name": "QueryDhcp", "type": "dword", "data": 0},
        {"name": "UseIPAddress", "type": "dword", "data": 0},
    ]
    return sorted(values, key=lambda value: value["name"])
