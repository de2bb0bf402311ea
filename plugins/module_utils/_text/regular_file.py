# -*- coding: utf-8 -*-
# Copyright: whotouched.server_audit contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to whotouched.server_audit: it may change in any release. Do not import it from
# other collections or from code outside this collection.
"""Opening and reading a file named in an option, which may be a link, a FIFO or a device.

Shared by the modules (the merge modules' target, ``audit_report``'s files and rules file) and
the alert processor (its configuration, the ClickHouse credentials).
"""

from __future__ import annotations

import os
import stat

_FILE_KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"),
               (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
               (stat.S_ISSOCK, "a socket"))


class NotARegularFile(ValueError):
    """A file that is a FIFO, a device, a socket or a directory: reading it could block or never
    end, so it is not read."""


class FileTooLarge(ValueError):
    """A file larger than what it should be can hold: it is not read (or no further than the
    limit and one byte, when its size said nothing)."""


def open_regular(path, what):
    """A binary stream of the regular file at ``path`` (``what`` it should be, for the message).

    It is opened without blocking and checked once open, so that neither a FIFO (whose open
    and read wait for a writer) nor a device (``/dev/zero`` never ends) is ever read, even when
    a link points to it or it took the file's place a moment ago; raises
    :class:`NotARegularFile` naming what it is, or ``OSError``.
    """
    handle = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY
                     | getattr(os, "O_CLOEXEC", 0))
    try:
        mode = os.fstat(handle).st_mode
        if not stat.S_ISREG(mode):
            kind = next((name for test, name in _FILE_KINDS if test(mode)), "not a regular file")
            raise NotARegularFile("%s is %s, not %s" % (path, kind, what))
        return os.fdopen(handle, "rb")
    except BaseException:
        os.close(handle)
        raise


def read_regular(path, what, max_bytes):
    """The bytes of the regular file at ``path`` (``what`` it should be), at most ``max_bytes``.

    A file whose size is over the limit is refused before a byte is read; one that says less
    but holds more (it grew, or it is a file of /proc) is read no further than the limit and one
    byte.  Raises :class:`FileTooLarge` or, from :func:`open_regular`, :class:`NotARegularFile`
    or ``OSError``.
    """
    with open_regular(path, what) as handle:
        size = os.fstat(handle.fileno()).st_size
        if size > max_bytes:
            raise FileTooLarge(_too_large(path, what, "%d bytes" % size, max_bytes))
        data = handle.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise FileTooLarge(_too_large(path, what, "more than %d bytes" % max_bytes, max_bytes))
    return data


def _too_large(path, what, size, max_bytes):
    mebibytes, rest = divmod(max_bytes, 1024 * 1024)
    limit = "%d MiB" % mebibytes if mebibytes and not rest else "%d bytes" % max_bytes
    return "%s is too large for %s: %s, over the %s limit" % (path, what, size, limit)
