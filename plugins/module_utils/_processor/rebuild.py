# -*- coding: utf-8 -*-
# Copyright: whotouched.server_audit contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to whotouched.server_audit: it may change in any release. Do not import it from
# other collections or from code outside this collection.
"""The event store filled from the stored files: after an upgrade, or when the store was lost.

Every per-sender file the processor is fed from (``rebuild_files``: the audit and Windows
files and their rotations, compressed or not) is read as ``audit_report`` reads it, each event
classified by the processor's rules and stored unless the store holds it already (the same
identity): running it twice, or beside the running processor, stores nothing twice.  An event
is given the time it happened as its arrival (the file's time when it has none), never a time
to come, so retention treats it by its age; one that retention would remove at once is not
stored (counted as ``past_retention``).

Run it as the user the processor runs as (``--user``), so that the store's files stay that
user's: ``whotouched-alert-processor.py --user USER --rebuild LOG_DIR CONFIG.json``.

Standard library only: this runs on the log server.
"""

from __future__ import annotations

import json
import os
import re
import stat
import time

from ansible_collections.whotouched.server_audit.plugins.module_utils._events.assembler import (
    EventAssembler,
    iter_events,
    iter_lines,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._events.loss import (
    LossReports,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._events.report import (
    ReportError,
    log_files,
    open_log,
    stored_sender,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._events.risk import (
    classify,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._processor.alert_sinks import (
    log_to_stderr,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._store.backends import (
    open_store,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._store.base import (
    Ruleset,
    StoreUnavailable,
)

BATCH_EVENTS = 5000


def rebuild_files(log_dir, names):
    """The files under ``log_dir`` named one of ``names`` or a rotation of one, each
    rotation oldest first (as ``audit_report`` orders them)."""
    pattern = re.compile(r"^(?:%s)(?:[.-]\d+)?(?:\.gz)?$" % "|".join(map(re.escape, names)))
    return [path for path in log_files(log_dir) if pattern.match(os.path.basename(path))]


def rebuild(store, paths, ruleset, wait_seconds=5.0, now=time.time):
    """Add to ``store`` the events of ``paths`` it does not hold; the counts of what was
    read and stored."""
    counts = {"files": 0, "unreadable": 0, "events": 0, "stored": 0, "already_stored": 0,
              "past_retention": 0}
    loss_reports = LossReports()  # a sender's files come oldest first
    for path in paths:
        try:
            # a FIFO or a device named like a log would hang or never end the read
            if not stat.S_ISREG(os.stat(path).st_mode):
                raise OSError("not a regular file")
            written = os.path.getmtime(path)
            stream = open_log(path)
        except OSError:
            counts["unreadable"] += 1
            continue
        counts["files"] += 1
        assembler = EventAssembler(wait_seconds=wait_seconds, sender_address=stored_sender(path),
                                   loss_reports=loss_reports)
        batch = []
        try:
            for event in iter_events(iter_lines(stream, assembler.counts), assembler):
                batch.append(classify(event, ruleset.rules))
                if len(batch) >= BATCH_EVENTS:
                    _store(store, batch, ruleset, written, now(), counts)
                    batch = []
        except (OSError, EOFError):
            counts["unreadable"] += 1
        finally:
            stream.close()
        _store(store, batch, ruleset, written, now(), counts)
    return counts


def _store(store, batch, ruleset, written, now, counts):
    """Store the events of ``batch`` the store lacks, but those that retention would remove
    at once (a sender may date its events on thousands of days long past)."""
    max_age_days = getattr(store, "max_age_days", 0)
    oldest = now - max_age_days * 86400.0 if max_age_days else None
    known = store.known(batch)
    for index, event in enumerate(batch):
        if index in known:
            continue
        arrived = min(event.get("epoch") or written, now)
        if oldest is not None and arrived < oldest:
            counts["past_retention"] += 1
            continue
        store.add(event, arrived, ruleset.fingerprint)
        counts["stored"] += 1
    store.commit(None)  # the running processor's resume point stays as it is
    counts["events"] += len(batch)
    counts["already_stored"] += len(known)


def rebuild_command(config, log_dir, log=log_to_stderr):
    """``--rebuild LOG_DIR``: the exit status (0: every file read, 1: some could not be,
    2: the store could not be written)."""
    try:
        paths = rebuild_files(log_dir, config["rebuild_files"])
        store = open_store(config["store"])
    except (ReportError, StoreUnavailable, ValueError) as exc:
        log("cannot rebuild: %s" % exc)
        return 2
    try:
        counts = rebuild(store, paths, Ruleset.load(config["rules"], config["shipped_rules"]),
                         config["wait_seconds"])
    except StoreUnavailable as exc:
        log("rebuild stopped: %s" % exc)
        return 2
    finally:
        store.close()
    log("rebuilt from %s: %s" % (log_dir, json.dumps(counts, sort_keys=True)))
    return 1 if counts["unreadable"] else 0
