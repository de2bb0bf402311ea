# -*- coding: utf-8 -*-
# Copyright: whotouched.server_audit contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to whotouched.server_audit: it may change in any release. Do not import it from
# other collections or from code outside this collection.
"""The JSON-lines store: every classified event appended to a file with size-based rotation.

One JSON object per line, ASCII only (control characters and non-ASCII text are escaped by
the encoder), so ``tail`` and ``grep`` on the store never show raw log content.  When a line
would take the file past ``max_bytes``, the file is renamed ``events.jsonl.1`` (older ones
move up, the ``keep``-th is removed) and a new one begins: a rename is atomic, so a reader
sees whole files.  Lines are written whole with one ``write`` on a file opened for appending.

Durability: a committed batch reaches the operating system at once, with the processor's
resume point in ``events.jsonl.resume`` (replaced atomically after the lines); ``fsync``
happens at most every ``fsync_seconds`` (``0``: at every commit), at each rotation and at
:meth:`close`, so a crash of the processor loses nothing and a crash of the machine at most
that many seconds.  The store answers no questions: ``audit_report`` reads the stored files
and the wall screen starts empty.

Standard library only: this runs on the log server under rsyslog's ``omprog``.
"""

from __future__ import annotations

import errno
import json
import os
import stat
import time
from collections import deque

from ansible_collections.whotouched.server_audit.plugins.module_utils._store.base import (
    EventStore,
    EventStoreError,
    StoreUnavailable,
    copy_key,
)

# How many identities of the newest events are remembered to tell a replayed event apart.
_REMEMBERED = 100000


class JsonLinesStore(EventStore):
    """Append-only JSON-lines store of events in ``path`` with ``keep`` rotated files."""

    def __init__(self, path, max_bytes=100 << 20, keep=5, fsync_seconds=1.0, mode=0o640,
                 clock=time.monotonic):
        if not path or not os.path.isabs(path):
            raise EventStoreError("store path must be an absolute file path, got %r" % (path,))
        self.path = path
        self.max_bytes = _whole(max_bytes, 4096, "max_bytes")
        self.keep = _whole(keep, 1, "keep")
        self.fsync_seconds, self.mode, self.clock = fsync_seconds, mode, clock
        self.counts = {"stored": 0, "rotations": 0}
        self._fd = None
        self._size = 0
        self._dirty = False
        self._synced = clock()
        self._batch = []
        try:
            self._open()
            self._identities = deque(_tail_identities(self.path), maxlen=_REMEMBERED)
        except OSError as exc:
            raise StoreUnavailable("store %s cannot be opened: %s" % (path, exc.strerror or exc))
        self._known = set(self._identities)

    def _open(self):
        directory = os.path.dirname(self.path)
        if not os.path.isdir(directory):
            os.makedirs(directory, 0o750)
        # The store is written as root: a link could point it at any file, a FIFO would
        # block the writer, a device would swallow the events.
        try:
            handle = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC
                             | os.O_NOFOLLOW | os.O_NONBLOCK, self.mode)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise EventStoreError("store path %s is a symbolic link; give the file itself"
                                      % self.path)
            if exc.errno == errno.ENXIO:
                raise EventStoreError("store path %s is a FIFO, not a file" % self.path)
            raise
        status = os.fstat(handle)
        if not stat.S_ISREG(status.st_mode):
            os.close(handle)
            raise EventStoreError("store path %s is not a regular file" % self.path)
        os.set_blocking(handle, True)
        self._fd = handle
        self._size = status.st_size

    def add(self, event, arrived, fingerprint=""):
        """Keep ``event`` for the next :meth:`commit` (the JSON lines keep no arrival time and
        no rules' fingerprint)."""
        self._batch.append(event)

    def rollback(self):
        self._batch = []

    def commit(self, resume_point):
        """Append the batch, then record ``resume_point`` beside the file."""
        batch, self._batch = self._batch, []
        try:
            for event in batch:
                self.append(event)
            if self.fsync_seconds <= 0:
                self.sync()
            if resume_point is None:
                return
            temporary = self.path + ".resume.tmp"
            with open(temporary, "w", encoding="ascii") as handle:
                json.dump(resume_point, handle)
            os.replace(temporary, self.path + ".resume")
        except OSError as exc:
            raise StoreUnavailable("store %s cannot be written: %s"
                                   % (self.path, exc.strerror or exc))

    def resume_point(self):
        try:
            with open(self.path + ".resume", "r", encoding="ascii") as handle:
                return json.load(handle)
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise StoreUnavailable("store %s: its resume point cannot be read: %s"
                                   % (self.path, exc))

    def known(self, events):
        return {index for index, event in enumerate(events)
                if copy_key(event) in self._known}

    def prune(self, now):
        """Nothing to do: the files are rotated by size as they are written."""
        return 0

    def append(self, event):
        """Write ``event`` as one line now (rotating first when it would not fit)."""
        line = (json.dumps(event, sort_keys=True, ensure_ascii=True, separators=(",", ":"),
                           default=str) + "\n").encode("ascii")
        if self._size and self._size + len(line) > self.max_bytes:
            self.rotate()
        written = 0
        while written < len(line):
            written += os.write(self._fd, line[written:])
        self._size += len(line)
        self._dirty = True
        self.counts["stored"] += 1
        identity = copy_key(event)
        if len(self._identities) == self._identities.maxlen:
            self._known.discard(self._identities[0])
        self._identities.append(identity)
        self._known.add(identity)
        if self.fsync_seconds > 0 and self.clock() - self._synced >= self.fsync_seconds:
            self.sync()

    def sync(self):
        """Force what was written to disk."""
        if self._fd is not None and self._dirty:
            os.fsync(self._fd)
            self._dirty = False
        self._synced = self.clock()

    def rotate(self):
        """Close the file, shift ``path.N`` to ``path.N+1`` (dropping the ``keep``-th), move
        the file to ``path.1`` and start a new one."""
        self.sync()
        os.close(self._fd)
        self._fd = None
        oldest = "%s.%d" % (self.path, self.keep)
        if os.path.exists(oldest):
            os.unlink(oldest)
        for number in range(self.keep - 1, 0, -1):
            older = "%s.%d" % (self.path, number)
            if os.path.exists(older):
                os.rename(older, "%s.%d" % (self.path, number + 1))
        os.rename(self.path, self.path + ".1")
        self.counts["rotations"] += 1
        self._open()
        _sync_directory(os.path.dirname(self.path))

    def files(self):
        """The store's files, newest first."""
        names = [self.path] + ["%s.%d" % (self.path, number)
                               for number in range(1, self.keep + 1)]
        return [name for name in names if os.path.exists(name)]

    def close(self):
        """Sync and close (an uncommitted batch is forgotten); further appends are an
        error."""
        self._batch = []
        if self._fd is not None:
            self.sync()
            os.close(self._fd)
            self._fd = None


def _whole(value, minimum, name):
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise EventStoreError("store %s must be a whole number of at least %d, got %r"
                              % (name, minimum, value))
    return value


def _sync_directory(directory):
    try:
        handle = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(handle)
    except OSError:
        pass
    finally:
        os.close(handle)


def _tail_identities(path, tail_bytes=8 << 20):
    """What tells the events in the last ``tail_bytes`` of ``path`` from others (their
    ``copy_key``), oldest first."""
    try:
        with open(path, "rb") as handle:
            start = max(0, os.fstat(handle.fileno()).st_size - tail_bytes)
            handle.seek(start)
            lines = handle.read().split(b"\n")
    except FileNotFoundError:
        return []
    identities = []
    for line in lines[1:] if start else lines:  # from the middle, the first line is cut
        try:
            identities.append(copy_key(json.loads(line)))
        except ValueError:
            continue  # the empty end, or a damaged line
    return identities


def read_store(path):
    """The events of one store file, as dicts, in order (for tests and tools)."""
    with open(path, "r", encoding="ascii") as handle:
        return [json.loads(line) for line in handle if line.strip()]
