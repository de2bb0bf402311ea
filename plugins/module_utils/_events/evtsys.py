# -*- coding: utf-8 -*-
# Copyright: whotouched.server_audit contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to whotouched.server_audit: it may change in any release. Do not import it from
# other collections or from code outside this collection.
"""Windows Security events, as evtsys forwards them and the log server stores them
(``evtsysformat``), turned into events (see ``schema``).  ``windows_events`` reads each
message, in any display language it knows, and says whether evtsys cut it.

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
from ansible_collections.whotouched.server_audit.plugins.module_utils._events.windows_events import (
    read_security_event,
)

_MONTHS = {name: number for number, name in enumerate(
    ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1)}


_EVTSYS_BODY = re.compile(
    r"(?P<computer>\S+) (?:(?P<tag>\S+): )??(?P<source>[^\s:]+): (?P<id>\d{1,5}): ?(?P<text>.*)$")


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
    event_id = int(match.group("id"))
    # Labels in any display language the reader knows; truncated: evtsys cut the message.
    fields = read_security_event(event_id, pri, rest[match.end("computer") + 1:], text)
    account, target, source = fields["account"], fields["target_account"], fields["source_address"]
    command = fields["command"]
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
        "event_id": event_id,
        "source": match.group("source"),
        "priority": pri,
        "account": account,
        "target_account": target,
        "group": fields["group"],
        "source_address": source,
        "workstation": fields["workstation"],
        "login_user": account or target,
        "auid": None,
        "user": target or account,
        "uid": None,
        "euid": None,
        "session": None,
        "tty": None,
        "cwd": None,
        "exe": fields["exe"],
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
        "remote_address": source,
        "ticket_encryption": fields["ticket_encryption"],
        "message": text,
        "truncated": fields["truncated"],
        "complete": not fields["truncated"],
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
