# -*- coding: utf-8 -*-
# Copyright: whotouched.server_audit contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to whotouched.server_audit: it may change in any release. Do not import it from
# other collections or from code outside this collection.
"""The one place that names the store backends: the processor, the rebuild and
``audit_report`` open a store from its settings (``_processor.settings``) here, and know
nothing else of the backend.

Standard library only: this runs on the log server.
"""

from __future__ import annotations

from ansible_collections.whotouched.server_audit.plugins.module_utils._store.base import (
    StoreUnavailable,
)

BACKENDS = ("sqlite", "jsonl", "clickhouse")
"""The backends ``store.backend`` may name; the first is the default."""


def open_store(settings, readonly=False):
    """The store ``settings`` (the processor's ``store`` section) describe, opened; for a
    reader with ``readonly``.

    Raises ``EventStoreError`` for a setting the backend cannot use and
    ``StoreUnavailable`` for a store that cannot be opened (or that answers no questions,
    when ``readonly``).
    """
    backend = settings["backend"]
    if backend == "sqlite":
        from ansible_collections.whotouched.server_audit.plugins.module_utils._store.sqlite import (
            SqliteStore,
        )
        return SqliteStore(settings["path"], settings["max_age_days"], settings["max_bytes"],
                           readonly=readonly)
    if backend == "jsonl":
        if readonly:
            raise StoreUnavailable("the jsonl store at %s answers no questions: read the stored "
                                   "files" % settings["path"])
        from ansible_collections.whotouched.server_audit.plugins.module_utils._store.jsonl import (
            JsonLinesStore,
        )
        # max_bytes bounds the whole store: the file and the ones it rotated to
        per_file = max(4096, settings["max_bytes"] // (settings["keep"] + 1))
        return JsonLinesStore(settings["path"], per_file, settings["keep"],
                              settings["fsync_seconds"])
    if backend == "clickhouse":
        from ansible_collections.whotouched.server_audit.plugins.module_utils._store.clickhouse import (
            ClickHouseStore,
            read_credentials,
        )
        return ClickHouseStore(settings["url"], settings["database"], settings["cluster"],
                               read_credentials(settings["credentials_file"]),
                               settings["ca_file"], settings["timeout"], settings["writer"],
                               settings["max_age_days"], readonly=readonly)
    raise StoreUnavailable("unknown store backend %r (known: %s)" % (backend, ", ".join(BACKENDS)))


def store_name(settings):
    """What the processor's log calls the store ``settings`` describe."""
    if settings["backend"] == "clickhouse":
        return "%s (ClickHouse database %s)" % (settings["url"], settings["database"])
    return settings["path"]
