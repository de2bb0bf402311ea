# -*- coding: utf-8 -*-
# Copyright: whotouched.server_audit contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to whotouched.server_audit: it may change in any release. Do not import it from
# other collections or from code outside this collection.
"""Which evtsys.exe a file is: its CPU from the PE header, and the upstream build by SHA-256.

Only a 64-bit evtsys works with the role on 64-bit Windows: a 32-bit process sees System32
as SysWOW64 and HKLM\\SOFTWARE as HKLM\\SOFTWARE\\WOW6432Node, so it would read neither the
cfg nor the registry values the role writes.  The two 64-bit builds of evtsys 4.5.1 differ in
their message size (the standard build cuts every message at 1024 bytes, the "LP" build at
4096) and in nothing a file header shows; only their hashes tell them apart.

Pure functions: the ``evtsys_binary`` lookup reads the file and calls these.
"""

from __future__ import annotations

import struct

PE_MACHINES = {0x014C: "x86", 0x8664: "x64", 0xAA64: "arm64", 0x01C4: "arm"}
"""IMAGE_FILE_HEADER.Machine values (Microsoft's PE format), by the name Windows gives them."""

HEADER_BYTES_MAX = 64 * 1024
"""Enough of the file for any PE header offset a linker writes; no more is read."""

# The SHA-256 of the evtsys.exe files of the Eventlog-to-Syslog project's release 4.5.1
# (tag Release_4.5.1, folder Executables/<build>/; each folder's shasum.txt gives their SHA-1).
UPSTREAM_BUILDS = {
    "ea1d238ed14303b210a38233c3117d67347ea96680e4b6f9226b97f08e1e8869":
        {"version": "4.5.1", "build": "64-Bit", "machine": "x64", "message_bytes": 1024},
    "a9674dc2af9ce58e4120a62c1e4769283901e832d725e0eac1ba88d78887b475":
        {"version": "4.5.1", "build": "64-Bit-LP", "machine": "x64", "message_bytes": 4096},
    "3c6df63ca985987e03fa4d45c8874f47d9f93536d016f6297183415adc913cf7":
        {"version": "4.5.1", "build": "32-Bit", "machine": "x86", "message_bytes": 1024},
    "fd5e8556a156d691613ad44ab01692c0b253bea46d8c46f992ca1d2da187015e":
        {"version": "4.5.1", "build": "32-Bit-LP", "machine": "x86", "message_bytes": 4096},
}


class EvtsysBinaryError(ValueError):
    """The file is not a Windows program this collection can install as evtsys."""


def pe_machine(header):
    """The CPU a PE file is built for ("x64", "x86", ...), from the first bytes of the file.

    Raises EvtsysBinaryError when ``header`` is not the start of a PE file.
    """
    if header[:2] != b"MZ" or len(header) < 0x40:
        raise EvtsysBinaryError("it has no MZ header, so it is no Windows program")
    offset = struct.unpack_from("<I", header, 0x3C)[0]
    if offset + 6 > len(header):
        raise EvtsysBinaryError("its PE header offset %d lies beyond the first %d bytes"
                                % (offset, len(header)))
    if header[offset:offset + 4] != b"PE\0\0":
        raise EvtsysBinaryError("it has no PE signature at offset %d, so it is no Windows program"
                                % offset)
    machine = struct.unpack_from("<H", header, offset + 4)[0]
    return PE_MACHINES.get(machine, "machine 0x%04x" % machine)


def describe_evtsys_binary(header, sha256):
    """What the role needs to know of an evtsys.exe: its CPU, and the upstream build when known.

    Returns ``{"machine", "build", "version", "message_bytes"}``; the last three are None for a
    file that is none of the published 4.5.1 builds (a build of your own, another release).
    """
    machine = pe_machine(header)
    known = UPSTREAM_BUILDS.get(str(sha256).lower(), {})
    return {"machine": machine, "build": known.get("build"), "version": known.get("version"),
            "message_bytes": known.get("message_bytes")}
