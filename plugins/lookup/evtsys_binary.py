# -*- coding: utf-8 -*-
# Copyright: whotouched.server_audit contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
name: evtsys_binary
version_added: 0.1.0
short_description: Which evtsys.exe a controller file is, from its PE header and its SHA-256
description:
  - Reads the start of an C(evtsys.exe) on the controller and returns the CPU its PE header names
    (C(x64), C(x86), C(arm64)) and, when its SHA-256 is that of one of the published evtsys 4.5.1
    builds, which build it is and the message size that build sends.
  - Only a 64-bit (C(x64)) evtsys reads the C(evtsys.cfg) and registry values the
    C(windows_evtsys_policy) role writes; a 32-bit one is redirected to C(SysWOW64) and
    C(WOW6432Node).
  - The standard and the C(LP) 64-bit builds differ in no header field; only the hash tells them
    apart. For a file that is no published build, C(build) is null.
  - Fails when the path is not a regular file (a FIFO, a device, a directory) or not a Windows program.
author:
  - whotouched.server_audit contributors (@whotouched)
options:
  _terms:
    description: The controller path of evtsys.exe (one).
    required: true
    type: list
    elements: path
"""

EXAMPLES = r"""
- name: Refuse a 32-bit evtsys
  ansible.builtin.assert:
    that: lookup('whotouched.server_audit.evtsys_binary', 'files/evtsys.exe').machine == 'x64'
"""

RETURN = r"""
_raw:
  description:
    - One mapping with C(machine) (the PE header's CPU), C(build) (C(64-Bit), C(64-Bit-LP), C(32-Bit),
      C(32-Bit-LP) or null), C(version) (C(4.5.1) or null), C(message_bytes) (1024, 4096 or null) and
      C(sha256).
  type: list
  elements: dict
"""

import hashlib
import os
import stat

from ansible.errors import AnsibleLookupError
from ansible.plugins.lookup import LookupBase

from ansible_collections.whotouched.server_audit.plugins.module_utils._windows.evtsys_binary import (
    HEADER_BYTES_MAX,
    EvtsysBinaryError,
    describe_evtsys_binary,
)


def _read_regular_file(path):
    """The start and the SHA-256 of ``path``, which must be a regular file (never a FIFO that
    would block or a device that never ends)."""
    try:
        descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as exc:
        raise AnsibleLookupError("evtsys_binary: cannot open %s: %s" % (path, exc.strerror))
    if not stat.S_ISREG(os.fstat(descriptor).st_mode):
        os.close(descriptor)
        raise AnsibleLookupError("evtsys_binary: %s is not a regular file" % path)
    with os.fdopen(descriptor, "rb") as handle:
        digest = hashlib.sha256()
        header = b""
        for block in iter(lambda: handle.read(1 << 16), b""):
            if len(header) < HEADER_BYTES_MAX:
                header += block[:HEADER_BYTES_MAX - len(header)]
            digest.update(block)
    return header, digest.hexdigest()


class LookupModule(LookupBase):
    """Facts of the evtsys.exe at the given controller path."""

    def run(self, terms, variables=None, **kwargs):
        self.set_options(var_options=variables, direct=kwargs)
        if len(terms) != 1:
            raise AnsibleLookupError("evtsys_binary: give one path, got %d" % len(terms))
        path = str(terms[0])
        if not os.path.isabs(path):
            # as ansible.builtin.file finds it: the role's or the playbook's files/ first
            path = self.find_file_in_search_path(variables, "files", path,
                                                 ignore_missing=True) or path
        header, sha256 = _read_regular_file(path)
        try:
            facts = describe_evtsys_binary(header, sha256)
        except EvtsysBinaryError as exc:
            raise AnsibleLookupError("evtsys_binary: %s is not evtsys.exe: %s" % (path, exc))
        facts["sha256"] = sha256
        return [facts]
