# -*- coding: utf-8 -*-
# Copyright: whotouched.server_audit contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to whotouched.server_audit: it may change in any release. Do not import it from
# other collections or from code outside this collection.
"""Windows Security events, as evtsys forwards them and the log server stores them
(``evtsysformat``), turned into events (see ``schema``).

Standard library only: this runs on the log server inside the ``audit_report`` module and
the alert processor.
"""

from __future__ import annotations

import re
import time

from ansible_collections.whotouched.server_audit.plugins.module_utils._events.schema import (
    WindowsEvent,
    format_time,
)

_MONTHS = {name: number for number, name in enumerate(
    ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1)}


_EVTSYS_BODY = re.compile(
    r"(?P<computer>\S+) (?:(?P<tag>\S+): )??(?P<source>[^\s:]+): (?P<id>\d{1,5}): ?(?P<text>.*)$")
_WINDOWS_SECTIONS = (
    "Subject", "New Logon", "Account For Which Logon Failed", "New Account", "Target Account",
    "Member", "Account Information", "Group", "Network Information", "Service Information",
    "Logon Information", "Additional Information", "Process Information",
    "Detailed Authentication Information", "Attributes", "Account Whose Credentials Were Used",
    "Target Server", "Failure Information", "Creator Subject", "Target Subject",
    "Changed Attributes", "Target Account Information",
)
_WINDOWS_LABELS = (
    "Security ID", "Account Name", "Account Domain", "Logon ID", "Logon Type",
    "Source Network Address", "Source Port", "Client Address", "Client Port",
    "Workstation Name", "Source Workstation", "Logon Account", "Service Name", "Service ID",
    "Group Name", "Group Domain", "Ticket Encryption Type", "Ticket Options", "Failure Code",
    "Result Code", "Status", "Sub Status", "Failure Reason", "Process Name",
    "New Process Name", "Process Command Line", "Authentication Package", "Error Code",
    "Supplied Realm Name", "User ID", "Pre-Authentication Type", "Old Account Name",
    "New Account Name", "Caller Computer Name", "Domain Name",
)
_WINDOWS_TOKEN = re.compile(r"(?:^|(?<= ))(%s):(?: |$)" % "|".join(
    re.escape(name) for name in sorted(_WINDOWS_SECTIONS + _WINDOWS_LABELS, key=len,
                                       reverse=True)))
_WINDOWS_SECTION_SET = frozenset(_WINDOWS_SECTIONS)
_TARGET_SECTIONS = ("New Logon", "Account For Which Logon Failed", "New Account",
                    "Target Account", "Member", "Account Whose Credentials Were Used",
                    "Target Subject", "Target Account Information")


def _windows_fields(text):
    """``(section, label, value)`` triples of an evtsys message (whitespace already collapsed)."""
    triples = []
    section = None
    matches = list(_WINDOWS_TOKEN.finditer(text))
    for index, match in enumerate(matches):
        name = match.group(1)
        end = matches[index + 1].start() if index + 1 < len(matches) else len(text)
        value = text[match.end():end].strip()
        if name in _WINDOWS_SECTION_SET and not value:
            section = name
        elif name in _WINDOWS_SECTION_SET and name == "Group" and value:
            section = name
        else:
            triples.append((section, name, value))
    return triples


def _meaningful(value):
    return value if value and value not in ("-", "NULL SID", "N/A") else None


def parse_evtsys(stored_time, address, pri, rest, now=None) -> WindowsEvent | None:
    """An event from an ``evtsysformat`` line's parts, or None when it is not evtsys' shape."""
    match = _EVTSYS_BODY.match(rest)
    if match is None:
        return None
    text = match.group("text")
    success = None
    if text.startswith("AUDIT_SUCCESS "):
        success, text = True, text[14:]
    elif text.startswith("AUDIT_FAILURE "):
        success, text = False, text[14:]
    fields = _windows_fields(text)

    def first(labels, sections=None):
        for section, label, value in fields:
            if label in labels and (sections is None or section in sections):
                found = _meaningful(value)
                if found:
                    return found
        return None

    account = first(("Account Name",), ("Subject", "Creator Subject", None)) or first(
        ("Logon Account",)) or first(("Account Name",), ("Account Information",))
    target = first(("Account Name", "New Account Name"), _TARGET_SECTIONS)
    if target is None and first(("Account Name",), ("Subject",)):
        target = first(("Account Name",), ("Account Information",))
    group = first(("Group Name",))
    source = first(("Source Network Address", "Client Address"))
    if source and source.startswith("::ffff:"):
        source = source[7:]
    command = first(("Process Command Line",))
    exe = first(("New Process Name", "Process Name"))
    epoch = syslog_epoch(stored_time, now)
    return {
        "time": format_time(epoch) if epoch is not None else None,
        "epoch": epoch,
        "serial": None,
        "host": match.group("computer"),
        "address": address,
        "node": None,
        "kind": "windows",
        "record_types": ["WINDOWS"],
        "event_id": int(match.group("id")),
        "source": match.group("source"),
        "priority": pri,
        "account": account,
        "target_account": target,
        "group": group,
        "source_address": _meaningful(source),
        "workstation": first(("Workstation Name", "Source Workstation")),
        "login_user": account or target,
        "auid": None,
        "user": target or account,
        "uid": None,
        "euid": None,
        "session": None,
        "tty": None,
        "cwd": None,
        "exe": exe,
        "comm": None,
        "argv": command.split(" ") if command else [],
        "key": None,
        "keys": [],
        "syscall": None,
        "success": success,
        "exit": None,
        "pid": None,
        "ppid": None,
        "paths": [],
        "path": None,
        "operation": None,
        "remote_address": _meaningful(source),
        "ticket_encryption": first(("Ticket Encryption Type",)),
        "message": text,
        "complete": True,
        "loss": None,
    }


def syslog_epoch(stamp, now=None):
    """Epoch seconds of an RFC 3164 ``Mmm dd hh:mm:ss`` (local time) in the most recent year.

    The stored form has no year: the year is the one that puts the time no more than a day
    after ``now``.
    """
    try:
        month = _MONTHS[stamp[:3]]
        day = int(stamp[4:6])
        hours, minutes, seconds = (int(part) for part in stamp[7:15].split(":"))
    except (KeyError, ValueError):
        return None
    now = time.time() if now is None else now
    year = time.localtime(now).tm_year
    for candidate in (year, year - 1):
        try:
            epoch = time.mktime((candidate, month, day, hours, minutes, seconds, 0, 0, -1))
        except (OverflowError, ValueError):
            return None
        if epoch <= now + 86400:
            return float(epoch)
    return float(epoch)
