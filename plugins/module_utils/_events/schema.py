# -*- coding: utf-8 -*-
# Copyright: whotouched.server_audit contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to whotouched.server_audit: it may change in any release. Do not import it from
# other collections or from code outside this collection.
"""The event: one per action (a command, a file written, a logon), whatever wrote its records.

``records`` builds events from Linux audit records, ``evtsys`` from Windows Security events;
``risk.classify`` adds a :class:`Classification`; the ``audit_report`` module, the report's
table, the alert processor, its alerts, its store and its wall screen read them.  Every event
has every key of :class:`Event` (None where the records do not say); a Windows event also has
those of :class:`WindowsEvent`.  An event is plain data (a dict of JSON types): it goes to the
store and to webhooks as it is.

Type checkers read the classes below as TypedDicts.  At run time they are plain classes whose
annotations name the keys (:func:`schema_keys`): ``typing`` is not imported, so the processor
and the report take no memory for it.
"""

from __future__ import annotations

import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import List, Optional, TypedDict
else:
    TypedDict = object


class PathEntry(TypedDict):
    """A file the action named (a PATH record)."""

    # As the process wrote it (relative when it was).
    name: str
    # Absolute: ``name`` joined to the working directory.
    path: str
    # The kernel's ``NORMAL``, ``CREATE``, ``DELETE``, ``PARENT``...
    nametype: Optional[str]


class LossReport(TypedDict):
    """What one report of a sender's loss reporter says (``loss``)."""

    # Records the sender's kernel lost since the previous report.
    lost: int
    # The kernel's count since its boot (or its last reset).
    lost_total: int
    # The previous report's time (epoch seconds); None when the record does not say.
    since: Optional[float]
    # auditd was not writing its log (a full disk).
    logging_suspended: bool
    # auditd wrote no log from then (epoch seconds) until this report, which says it writes
    # again: every event of that time is lost, the reports of it too.  None otherwise.
    unlogged_since: Optional[float]
    # auditd's queue to its plugins overflowed since the previous report.
    plugin_overflow: bool
    # The kernel's count went back to 0 (reset, or past 2**32): ``lost`` is a least figure.
    lost_total_reset: bool
    # Which boot of the sender counted: the first 8 characters of its boot id; None when the
    # reporter does not say.
    boot: Optional[str]
    # How many times the reporter saw the kernel's count go back to 0 in that boot; None when
    # it does not say.
    era: Optional[int]


class Event(TypedDict):
    """An action on a Linux or Windows host."""

    # When it happened, by the sender's clock: ISO 8601 UTC with milliseconds (format_time).
    time: Optional[str]
    epoch: Optional[float]
    # The audit record serial (Linux); None for Windows.
    serial: Optional[int]
    # The name the sender claims (may be forged).
    host: Optional[str]
    # The address it really sent from (the log server's FROMHOST-IP).
    address: Optional[str]
    node: Optional[str]
    # ``exec``, ``file``, ``user``, ``syscall``, ``fragment``, ``windows``; ``loss`` for a
    # report of the sender's loss reporter that says something was lost, ``health`` for one
    # that says nothing was (see ``loss``).
    kind: str
    record_types: List[str]
    # Who logged in (the audit user, kept through sudo and su); ``unset`` for none.
    login_user: Optional[str]
    auid: Optional[int]
    # Whose rights the action used (the effective user).
    user: Optional[str]
    uid: Optional[int]
    euid: Optional[int]
    session: Optional[int]
    # In one form: ``pts/1`` where records write ``pts1`` or ``/dev/pts/1``.
    tty: Optional[str]
    cwd: Optional[str]
    exe: Optional[str]
    comm: Optional[str]
    # The command line, decoded; empty when none was recorded.  For a TTY or USER_TTY record,
    # the keystrokes typed, as one text (control characters included).
    argv: List[str]
    # The first audit key; ``keys`` holds them all.
    key: Optional[str]
    keys: List[str]
    syscall: Optional[str]
    success: Optional[bool]
    exit: Optional[int]
    pid: Optional[int]
    ppid: Optional[int]
    paths: List[PathEntry]
    # The first path that is not a parent directory.
    path: Optional[str]
    # ``execute``, ``read`` or ``write`` (an open, by its flags; ``open`` for openat2, whose
    # flags the record does not hold), ``create``, ``delete``, ``rename``, ``chmod``, ``chown``...
    operation: Optional[str]
    # The account a user-space record names (``acct=``, a Windows subject).
    account: Optional[str]
    remote_address: Optional[str]
    # False when records are missing that the sender writes (it went quiet in the middle of an
    # event, a limit was reached).
    complete: bool
    # What the sender's loss reporter said (kinds ``loss`` and ``health``), else None.
    loss: Optional[LossReport]


class WindowsEvent(Event):
    """A Windows Security event forwarded by evtsys: an :class:`Event` and what Windows says."""

    event_id: int
    source: str
    priority: str
    target_account: Optional[str]
    group: Optional[str]
    source_address: Optional[str]
    workstation: Optional[str]
    ticket_encryption: Optional[str]
    message: str
    # evtsys cut the message at its buffer: the fields after the cut are missing (and
    # ``complete`` is false).
    truncated: bool


class Classification(TypedDict):
    """What ``risk.classify`` adds to an event."""

    # ``info``, ``low``, ``medium``, ``high`` or ``critical``.
    level: str
    reasons: List[str]
    # The ids of the risk rules that fired, highest level first.
    rules: List[str]


def schema_keys(schema):
    """The keys of one of the schemas above: its annotations and those of its bases."""
    keys = set()
    for klass in schema.__mro__:
        keys.update(vars(klass).get("__annotations__", {}))
    return frozenset(keys)


EVENT_KEYS = schema_keys(Event)
WINDOWS_EVENT_KEYS = schema_keys(WindowsEvent)
CLASSIFICATION_KEYS = schema_keys(Classification)

LATEST_EPOCH = 253402300799
"""The last second an event's time can be (9999-12-31T23:59:59Z); a stamp past it is forged."""

# The last whole second formatted: events come in bursts within one second.
_LAST_SECOND = (None, "")


def format_second(seconds):
    """``2023-11-14T22:13:20``: the whole second ``seconds`` (epoch) in UTC."""
    global _LAST_SECOND  # pylint: disable=global-statement
    last, text = _LAST_SECOND
    if seconds != last:
        text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
        _LAST_SECOND = (seconds, text)
    return text


def format_time(epoch):
    """An event's ``time``: ISO 8601 UTC with milliseconds, ``2023-11-14T22:13:20.123Z``."""
    seconds = int(epoch)
    return "%s.%03dZ" % (format_second(seconds), int(round((epoch - seconds) * 1000)) % 1000)


HELD_TEXT = 4096
"""The longest text of an event held in memory or sent in an alert (:func:`held_event`)."""
HELD_ITEMS = 64
"""The most items of a list of an event held in memory or sent in an alert."""


def held_event(event):
    """``event`` as the alert processor holds it in memory and sends it in alerts: each text
    at most :data:`HELD_TEXT` characters and each list at most :data:`HELD_ITEMS` items (what
    is cut ends with ``...``).  One event may hold megabytes that its sender wrote (a command
    line); the store and the files keep it whole.  ``event`` itself when nothing is cut."""
    if _within(event):
        return event
    held = _held(event)
    return event if held is None else held


def _within(values):
    """Whether the dict ``values`` is within the bounds (the usual case, checked fast)."""
    for value in values.values():
        kind = value.__class__
        if kind is str:
            if len(value) > HELD_TEXT:
                return False
        elif kind is list:
            if len(value) > HELD_ITEMS:
                return False
            for item in value:
                if item.__class__ is str:
                    if len(item) > HELD_TEXT:
                        return False
                elif item.__class__ is dict and not _within(item):
                    return False
        elif kind is dict and not _within(value):
            return False
    return True


def _held(value):
    """The value cut to the bounds, or None when it is within them."""
    if isinstance(value, str):
        return value[:HELD_TEXT - 3] + "..." if len(value) > HELD_TEXT else None
    if isinstance(value, dict):
        items = value.items()
    elif isinstance(value, list):
        items = enumerate(value)
    else:
        return None
    cut = {}
    for name, item in items:
        held = _held(item)
        if held is not None:
            cut[name] = held
    if isinstance(value, dict):
        return dict(value, **cut) if cut else None
    if not cut and len(value) <= HELD_ITEMS:
        return None
    whole = [cut.get(index, item) for index, item in enumerate(value[:HELD_ITEMS])]
    if len(value) > HELD_ITEMS:
        whole[-1] = "..."
    return whole
