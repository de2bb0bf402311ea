"""The first bytes of a Windows PE file, for tests of what reads them.

Enough for a header check (MZ, the PE offset, the signature, IMAGE_FILE_HEADER.Machine) and
no copy of any real program.
"""

from __future__ import annotations

import struct


def pe_header(machine, offset=0x80):
    """A PE header for ``machine`` (0x8664 x64, 0x014C x86, ...) at ``offset``."""
    header = bytearray(b"MZ" + b"\0" * 0x3E)
    struct.pack_into("<I", header, 0x3C, offset)
    header += b"\0" * (offset - len(header)) + b"PE\0\0" + struct.pack("<H", machine)
    return bytes(header)
