# -*- coding: utf-8 -*-
# Copyright: whotouched.server_audit contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to whotouched.server_audit: it may change in any release. Do not import it from
# other collections or from code outside this collection.
"""Opening a file named in an option, which may be a link, a FIFO or a device.

Shared by the modules (the merge modules' target, ``audit_report``'s files) and the alert
processor (its configuration, the ClickHouse credentials).
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
