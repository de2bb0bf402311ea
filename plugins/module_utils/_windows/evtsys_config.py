# -*- coding: utf-8 -*-
# Copyright: whotouched.server_audit contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to whotouched.server_audit: it may change in any release. Do not import it from
# other collections or from code outside this collection.
"""What Eventlog to Syslog (evtsys.exe 4.5) is told: its ``evtsys.cfg`` and registry values.

evtsys reads its settings from ``HKLM\\SOFTWARE\\ECN\\EvtSys\\3.0`` and, on Windows Vista
and later, forwards the events selected by the ``XPath:<channel>:<select>`` lines of
``evtsys.cfg`` (the file beside ``evtsys.exe``).  The Security events that each audit
subcategory writes are known by event ID, so the forwarded set follows the audit policy:
choose a subcategory and its events travel to the log server, nothing else from Security.

Pure functions: the role renders through the ``evtsys_cfg`` and ``evtsys_registry_values``
filters, which call these.
"""

from __future__ import annotations

from ansible_collections.whotouched.server_audit.plugins.module_utils._windows.audit_policy import (
    AuditPolicyError,
    resolve_subcategory,
)

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


def event_id_filter(event_ids):
    """An event-log XPath predicate matching ``event_ids``, written as few clauses as possible.

    Ranges keep long lists short: the event log refuses queries with too many clauses.
    ``<`` and ``>`` are escaped because the expression sits inside XML.
    """
    clauses = []
    for low, high in _ranges(event_ids):
        if low == high:
            clauses.append("EventID=%d" % low)
        else:
            clauses.append("(EventID&gt;=%d and EventID&lt;=%d)" % (low, high))
    return "*[System[%s]]" % " or ".join(clauses)


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


def _check_channel(channel):
    if not isinstance(channel, str) or not channel.strip() or ":" in channel or "\n" in channel:
        raise EvtsysConfigError("event log name %r cannot be written on an evtsys XPath line"
                                % (channel,))
    return channel.strip()


def render_evtsys_cfg(subcategories, extra_event_ids=(), extra_queries=()):
    """The full text of ``evtsys.cfg`` (CRLF line ends, as Windows tools expect).

    One ``XPath:Security:`` line carries the events of every chosen subcategory plus
    ``extra_event_ids``; each ``extra_queries`` item ``{"channel", "select"}`` adds a
    ``<Select>`` to its log's line, so several queries on one log share a line.
    """
    event_ids, unmapped = security_event_ids(subcategories)
    for event_id in extra_event_ids:
        if isinstance(event_id, bool) or not isinstance(event_id, int) or not 0 < event_id < 65536:
            raise EvtsysConfigError("event ID %r is not a number between 1 and 65535" % (event_id,))
    event_ids = sorted(set(event_ids) | set(extra_event_ids))

    selects = {}
    order = []

    def add(channel, expression):
        if channel not in selects:
            selects[channel] = []
            order.append(channel)
        selects[channel].append('<Select Path="%s">%s</Select>' % (channel, expression))

    if event_ids:
        add("Security", event_id_filter(event_ids))
    for query in extra_queries:
        channel = _check_channel(query.get("channel"))
        expression = query.get("select")
        if not isinstance(expression, str) or not expression.strip() or "\n" in expression:
            raise EvtsysConfigError("the select expression for %s must be one non-empty line"
                                    % channel)
        add(channel, expression.strip())

    lines = CFG_HEADER.splitlines()
    if unmapped:
        lines.append("'No known Security event IDs (add them with extra event IDs): %s"
                     % ", ".join(unmapped))
    if not order:
        raise EvtsysConfigError("nothing to forward: no chosen subcategory has known event IDs "
                                "and no extra event IDs or queries were given")
    for channel in order:
        lines.append("XPath:%s:%s" % (channel, "".join(selects[channel])))
    return "\r\n".join(lines) + "\r\n"


def evtsys_registry_values(log_hosts, port=514, facility="daemon", tag="", log_level=0,
                           status_interval=0, tcp=False):
    """The values under ``HKLM\\SOFTWARE\\ECN\\EvtSys\\3.0``, as win_regedit items.

    Returns ``[{"name", "type", "data"}]`` sorted by name.  evtsys 4.5 takes several log
    hosts in ``LogHost`` separated by semicolons; the facility is stored as its number.
    """
    if isinstance(log_hosts, str):
        log_hosts = [log_hosts]
    hosts = [str(host).strip() for host in log_hosts if str(host).strip()]
    if not hosts:
        raise EvtsysConfigError("at least one log host is needed")
    for host in hosts:
        if any(char in host for char in "; \t\r\n"):
            raise EvtsysConfigError("log host %r contains a separator or blank" % host)
    if len(hosts) > 6:
        raise EvtsysConfigError("evtsys forwards to at most 6 log hosts, got %d" % len(hosts))
    if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
        raise EvtsysConfigError("port %r is not between 1 and 65535" % (port,))
    if facility not in FACILITIES:
        raise EvtsysConfigError("unknown syslog facility %r (one of %s)"
                                % (facility, ", ".join(sorted(FACILITIES))))
    if log_level not in (0, 1, 2, 3, 4):
        raise EvtsysConfigError("log level %r is not 0 (all) to 4 (information)" % (log_level,))
    if len(tag) > 64 or any(char in tag for char in " \t\r\n"):
        raise EvtsysConfigError("tag %r must be at most 64 characters without blanks" % tag)
    values = [
        {"name": "LogHost", "type": "string", "data": ";".join(hosts)},
        {"name": "Port", "type": "dword", "data": port},
        {"name": "Facility", "type": "dword", "data": FACILITIES[facility]},
        {"name": "LogLevel", "type": "dword", "data": log_level},
        {"name": "StatusInterval", "type": "dword", "data": int(status_interval)},
        {"name": "EnableTcp", "type": "dword", "data": 1 if tcp else 0},
    ]
    if tag:
        values.append({"name": "Tag", "type": "string", "data": tag})
    return sorted(values, key=lambda value: value["name"])
