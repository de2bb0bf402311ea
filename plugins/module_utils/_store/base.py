# -*- coding: utf-8 -*-
# Copyright: whotouched.server_audit contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to whotouched.server_audit: it may change in any release. Do not import it from
# other collections or from code outside this collection.
"""What a store of events is to the alert processor, the wall screen and ``audit_report``: the
interface every backend implements.

The processor adds each classified event (see ``_events.schema``) with the log server's time
of its arrival, and commits a batch together with its *resume point* (where in its input
journal a restarted processor must begin again) before it tells the wall screen and the
sinks; after a restart it asks :meth:`EventStore.known` which replayed events the store already
holds, so nothing is stored twice.  Retention (:meth:`EventStore.prune`) removes what arrived
before a limit or what goes over a size.  A store that answers questions
(:attr:`EventStore.answers_questions`) gives the report its events (:meth:`EventStore.find`)
and the wall screen its history (:meth:`EventStore.wall_history`).

A backend is one module of this package with one class deriving from :class:`EventStore`
(``sqlite.SqliteStore``, ``jsonl.JsonLinesStore``), named in ``backends``.  Its constructor
raises :class:`EventStoreError` naming a setting it cannot use, and any method raises
:class:`StoreUnavailable` when the store cannot be read or written now (locked, corrupt,
unreachable), with a message naming the store and what to do.

Standard library only: this runs on the log server.
"""

from __future__ import annotations

import abc
import hashlib
import json

from ansible_collections.whotouched.server_audit.plugins.module_utils._events.risk import (
    load_risk_rules,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._events.risk_rules import (
    SHIPPED_RISK_RULES,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._events.schema import (
    CLASSIFICATION_KEYS,
    EVENT_KEYS,
    WINDOWS_EVENT_KEYS,
    Event,
)


class EventStoreError(ValueError):
    """A store setting that cannot be used; the message names it."""


class StoreUnavailable(EnvironmentError):
    """The store cannot be read or written now; the message names it and the cause."""


class EventStore(abc.ABC):
    """Where classified events are kept.  ``counts`` says what it did (at least ``stored``)."""

    counts: dict
    # Whether find() and wall_history() answer; a store that only keeps events does not.
    answers_questions = False

    @abc.abstractmethod
    def add(self, event: Event, arrived: float, fingerprint: str) -> None:
        """Keep ``event`` (arrived at epoch ``arrived``, classified by the rules of
        ``fingerprint``, see :class:`Ruleset`) in the batch :meth:`commit` makes durable."""

    @abc.abstractmethod
    def commit(self, resume_point) -> None:
        """Make the batch durable together with ``resume_point`` (a JSON value; None keeps
        the one stored), atomically: after a crash, :meth:`resume_point` gives back the one
        committed with the events."""

    def sync(self) -> None:
        """Make what was committed survive the machine's crash too (a power cut), before
        the processor's journal forgets the lines it came from; a store whose commit does
        that already (or whose server does) has nothing to do."""

    @abc.abstractmethod
    def rollback(self) -> None:
        """Forget the batch (after a failed commit)."""

    @abc.abstractmethod
    def resume_point(self):
        """The resume point of the last commit (None before the first)."""

    @abc.abstractmethod
    def known(self, events) -> set:
        """The indexes in ``events`` of the events the store already holds (same
        :func:`event_identity`)."""

    @abc.abstractmethod
    def prune(self, now: float) -> int:
        """One bounded step of retention; how many events it removed (0: nothing is due)."""

    @abc.abstractmethod
    def close(self) -> None:
        """Release the store (an uncommitted batch is forgotten); further use is an error."""

    def find(self, event_filter, rules, limit, count_limit=0):
        """``(events, counts)``: the events ``event_filter`` (``_events.report.EventFilter``)
        keeps, classified by ``rules`` (a :class:`Ruleset`), at most ``limit`` (0: all), the
        newest, oldest first; ``counts`` (see :func:`counted`) has ``matched``,
        ``count_stopped``, ``truncated`` and ``health_reports``.  Matches are counted up to
        ``count_limit`` or ``limit``, the larger (0 for either: all)."""
        raise StoreUnavailable("the %s store answers no questions" % type(self).__name__)

    def wall_history(self, since, slice_seconds, recent, open_rank, open_limit):
        """What the wall screen showed before a restart: ``{"recent": [(arrived, event)],
        "open": [(arrived, event)], "activity": [(slice, summary, count)], "seen": int}``.

        ``recent``: the last ``recent`` events; ``open``: at most ``open_limit`` events of
        level rank ``open_rank`` or more that arrived at or after ``since``; ``activity``: the
        events that arrived at or after ``since``, counted per slice of ``slice_seconds``
        (``int(arrived // slice_seconds)``) and per :data:`SUMMARY_KEYS`; ``seen``: how many
        events were ever stored.  Events of kind ``health`` are left out of all of them.
        """
        raise StoreUnavailable("the %s store answers no questions" % type(self).__name__)


SUMMARY_KEYS = ("host", "address", "login_user", "user", "account", "target_account", "level",
                "kind")
"""What the wall screen counts an event by: the keys of an activity summary."""


class Ruleset(object):
    """Compiled risk rules with the fingerprint of the specifications they came from: a store
    trusts the levels it holds only for events classified by the same fingerprint."""

    def __init__(self, rules, fingerprint):
        self.rules = rules
        self.fingerprint = fingerprint

    @classmethod
    def load(cls, specs=(), shipped=True):
        """The rules ``load_risk_rules(specs, shipped)`` compiles, with their fingerprint."""
        used = (list(SHIPPED_RISK_RULES) if shipped else []) + list(specs)
        text = json.dumps(used, sort_keys=True, separators=(",", ":"), default=str)
        return cls(load_risk_rules(specs, shipped), hashlib.sha256(text.encode("utf-8")).hexdigest())


def counting_limit(limit, count_limit):
    """How far a question's matches are counted: ``count_limit`` or ``limit``, the larger;
    0 (all) when either is 0."""
    return max(count_limit, limit) if count_limit and limit else 0


def counted(matched, shown, counting, health_reports):
    """The counts of a store's answer that found ``matched`` events (counting stopped one
    past ``counting``, unless it is 0) and gives ``shown`` of them."""
    stopped = bool(counting) and matched > counting
    return {"matched": counting if stopped else matched, "count_stopped": stopped,
            "truncated": matched > shown, "health_reports": health_reports}


def literal_prefix(pattern):
    """The beginning of an fnmatch ``pattern`` that every match starts with (the whole
    pattern when it has no wildcard: a name)."""
    for index, character in enumerate(pattern):
        if character in "*?[":
            return pattern[:index]
    return pattern


def event_identity(event: Event) -> int:
    """A 63-bit number naming ``event`` among all events, the same each time it is built from
    the same records: a Linux event by its sender, node, time and serial (as the assembler
    tells duplicates apart), any other by its sender, time and content."""
    if event.get("serial") is not None:
        parts = (event.get("address"), event.get("node"), event.get("epoch"), event["serial"])
    else:
        parts = (event.get("address"), event.get("host"), event.get("time"), event.get("kind"),
                 event.get("event_id"), event.get("message"), event.get("loss"))
    digest = hashlib.blake2b(repr(parts).encode("utf-8", "backslashreplace"), digest_size=8)
    return int.from_bytes(digest.digest(), "big") >> 1


def copy_key(event: Event):
    """What a copy of ``event`` shares with it and no other event does: its identity and its
    first record type.  One serial can name two events of a sender (a user-space record
    written during a system call, then that call's SYSCALL; a record that came too late for
    its event), which the assembler gives out apart (the identity does not tell them apart:
    the stores keep it as it was)."""
    return event_identity(event), first_record_type(event)


def first_record_type(event: Event):
    """The type of ``event``'s first record, or None."""
    types = event.get("record_types")
    return types[0] if types else None


def restore_keys(event):
    """``event`` as read back from a store that leaves out the keys whose value is None: every
    key of the schema (and of a Windows event) again, None where it was left out."""
    keys = WINDOWS_EVENT_KEYS if event.get("kind") == "windows" else EVENT_KEYS
    for key in keys:
        if key not in event:
            event[key] = None
    for key in CLASSIFICATION_KEYS:
        event.setdefault(key, None)
    return event
