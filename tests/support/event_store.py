"""The alert processor's configuration for tests, and what its event store holds."""

from __future__ import annotations

from ansible_collections.whotouched.server_audit.plugins.module_utils._processor.settings import (
    read_config,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._store.base import (
    StoreUnavailable,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._store.sqlite import (
    SqliteStore,
)


def processor_config(directory, **settings):
    """The processor's settings with its store and journal in ``directory``; ``settings``
    override (``store`` merged into the store's)."""
    mapping = {"store": dict({"path": str(directory / "events.db")}, **settings.pop("store", {})),
               "journal": str(directory / "processor.journal")}
    mapping.update(settings)
    return read_config(mapping)


def stored_events(path):
    """The events of the SQLite store at ``path`` in the order they were stored (none when
    there is no store yet)."""
    if not path.exists():
        return []
    try:
        store = SqliteStore(str(path), readonly=True)
    except StoreUnavailable as exc:
        if "no such table" in str(exc):
            return []  # the processor has made the file and not yet its tables
        raise
    try:
        return [event for _arrived, event in store.dump()]
    finally:
        store.close()
