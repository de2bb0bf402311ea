# -*- coding: utf-8 -*-
# Copyright: whotouched.server_audit contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to whotouched.server_audit: it may change in any release. Do not import it from
# other collections or from code outside this collection.
"""The processor's input journal: every line rsyslog hands over, written before it is
confirmed, so that a processor killed at any moment loses nothing.

rsyslog forgets a line once the processor confirms it, but the line's event may still be
waiting for its last record, or be in a batch not yet committed to the store.  The store
commits each batch with a *resume point*: the journal offset of the first line a restarted
processor must read again (that of the oldest event still waiting).  Offsets are absolute:
they go on growing when :meth:`InputJournal.compact` starts a new file without what the store
no longer needs, and the file's first line says which offset its first entry has.

A line is written with one ``write`` on a file opened for appending: after the processor's
death it is in the file whole; a line cut by the machine's crash is dropped when the journal
is opened again.  Lines hold no line feed (the reader splits on it).

Standard library only: this runs on the log server inside the processor.
"""

from __future__ import annotations

import os
import re
import stat

_HEADER = re.compile(rb"whotouched-input-journal base=(\d+)\n\Z")
_READ_SIZE = 1 << 20


class JournalError(EnvironmentError):
    """The journal cannot be used; the message names it and the cause."""


class InputJournal(object):
    """The journal at ``path``: :meth:`append` lines, :meth:`replay` them from an offset,
    :meth:`compact` it once the store no longer needs its beginning."""

    def __init__(self, path, mode=0o640, compact_bytes=4 << 20):
        self.path = path
        self.mode = mode
        self.compact_bytes = compact_bytes
        self._fd = None
        try:
            self._open()
        except OSError as exc:
            self.close()
            raise JournalError("journal %s cannot be opened: %s" % (path, exc.strerror or exc))

    def _open(self):
        directory = os.path.dirname(self.path)
        if not os.path.isdir(directory):
            os.makedirs(directory, 0o750)
        flags = os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW | os.O_NONBLOCK
        self._fd = os.open(self.path, flags, self.mode)
        if not _is_regular(self._fd):
            raise OSError(0, "not a regular file (a FIFO or a device): move it away")
        os.set_blocking(self._fd, True)
        size = os.fstat(self._fd).st_size
        if size == 0:
            self._write_header(self._fd, 0)
            size = os.fstat(self._fd).st_size
        header = os.pread(self._fd, 64, 0).split(b"\n", 1)[0] + b"\n"
        match = _HEADER.match(header)
        if match is None:
            raise OSError(0, "not a whotouched input journal (its first line is not the "
                             "header): move it away")
        self.base = int(match.group(1))
        self._start = len(header)
        # a last line without its line feed was cut by a crash: it was never confirmed
        tail = os.pread(self._fd, min(size - self._start, _READ_SIZE),
                        max(self._start, size - _READ_SIZE))
        if size > self._start and not tail.endswith(b"\n"):
            cut = tail.rfind(b"\n")
            size = (size - len(tail) + cut + 1) if cut >= 0 else max(
                self._start, size - len(tail))
            os.ftruncate(self._fd, size)
        os.lseek(self._fd, 0, os.SEEK_END)
        self.end = self.base + size - self._start

    @staticmethod
    def _write_header(fd, base):
        _write_all(fd, b"whotouched-input-journal base=%d\n" % base)

    def append(self, line):
        """Write ``line``; its offset, for :meth:`replay`."""
        offset = self.end
        data = line.encode("utf-8") + b"\n"
        try:
            _write_all(self._fd, data)
        except OSError as exc:
            raise JournalError("journal %s cannot be written: %s"
                               % (self.path, exc.strerror or exc))
        self.end += len(data)
        return offset

    def replay(self, offset):
        """``(offset, line)`` for every line from ``offset`` on (from the first kept one when
        ``offset`` was compacted away, none when it is past the end)."""
        at = min(max(offset, self.base), self.end)
        position = self._start + at - self.base
        end = self._start + self.end - self.base
        buffer = b""
        while position < end:
            chunk = os.pread(self._fd, min(_READ_SIZE, end - position), position)
            if not chunk:
                break
            position += len(chunk)
            buffer += chunk
            start = 0
            while True:
                newline = buffer.find(b"\n", start)
                if newline < 0:
                    break
                yield at + start, buffer[start:newline].decode("utf-8", "replace")
                start = newline + 1
            at += start
            buffer = buffer[start:]

    def last_line(self):
        """The last line written (None when there is none)."""
        lines = list(self.replay(max(self.base, self.end - 65538)))
        return lines[-1][1] if lines else None

    def compacts(self, keep_from):
        """Whether :meth:`compact` would forget lines, given ``keep_from``."""
        return min(max(keep_from, self.base), self.end) - self.base >= self.compact_bytes

    def compact(self, keep_from):
        """Start a new file holding the lines from ``keep_from`` on, once what comes before it
        is more than ``compact_bytes``: call only after the store committed ``keep_from``
        (and made it survive a crash of the machine)."""
        if not self.compacts(keep_from):
            return False
        keep_from = min(max(keep_from, self.base), self.end)
        temporary = self.path + ".new"
        try:
            fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC,
                         self.mode)
            try:
                self._write_header(fd, keep_from)
                position = self._start + keep_from - self.base
                while True:
                    chunk = os.pread(self._fd, _READ_SIZE, position)
                    if not chunk:
                        break
                    _write_all(fd, chunk)
                    position += len(chunk)
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(temporary, self.path)
        except OSError as exc:
            raise JournalError("journal %s cannot be compacted: %s"
                               % (self.path, exc.strerror or exc))
        os.close(self._fd)
        self._fd = None
        try:
            self._open()
        except OSError as exc:
            raise JournalError("journal %s cannot be opened: %s"
                               % (self.path, exc.strerror or exc))
        return True

    def close(self):
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def _is_regular(fd):
    return stat.S_ISREG(os.fstat(fd).st_mode)


def _write_all(fd, data):
    while data:
        data = data[os.write(fd, data):]
