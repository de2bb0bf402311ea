# -*- coding: utf-8 -*-
# Copyright: whotouched.server_audit contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to whotouched.server_audit: it may change in any release. Do not import it from
# other collections or from code outside this collection.
"""What a store of events is to the alert processor: the interface every backend implements.

The processor appends each classified event (see ``_events.schema``), syncs at each tick and
closes at the end of input; that is all it asks.  A backend is one module of this package
with one class deriving from :class:`EventStore` (``jsonl.JsonLinesStore`` today), whose
constructor takes its own settings and raises :class:`EventStoreError` naming a bad one.

Standard library only: this runs on the log server under rsyslog's ``omprog``.
"""

from __future__ import annotations

import abc

from ansible_collections.whotouched.server_audit.plugins.module_utils._events.schema import (
    Event,
)


class EventStoreError(ValueError):
    """A store setting that cannot be used; the message names it."""


class EventStore(abc.ABC):
    """Where the processor keeps classified events.  ``counts`` says what it did (at least
    ``stored``)."""

    counts: dict

    @abc.abstractmethod
    def append(self, event: Event) -> None:
        """Keep ``event``; it reaches the operating system before this returns."""

    @abc.abstractmethod
    def sync(self) -> None:
        """Make what was appended durable (the processor calls it at least twice a second)."""

    @abc.abstractmethod
    def close(self) -> None:
        """Sync and release the store; further appends are an error."""
