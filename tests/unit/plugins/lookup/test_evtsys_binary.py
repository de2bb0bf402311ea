"""The evtsys_binary lookup reads a controller file safely and says which evtsys it is."""

from __future__ import annotations

import hashlib
import os

import pytest

from tests.support.playbook import run_module
from tests.support.pe_files import pe_header


def lookup(path):
    return run_module("ansible.builtin.debug",
                      {"msg": "{{ lookup('whotouched.server_audit.evtsys_binary', %r) }}" % str(path)})


def test_the_lookup_reads_a_controller_file(tmp_path):
    binary = tmp_path / "evtsys.exe"
    binary.write_bytes(pe_header(0x014C) + b"x" * 200000)
    result = lookup(binary)
    assert not result.get("failed"), result
    assert result["msg"] == {"machine": "x86", "build": None, "version": None, "message_bytes": None,
                             "sha256": hashlib.sha256(binary.read_bytes()).hexdigest()}


def test_a_relative_path_is_found_in_the_playbooks_files_not_in_the_working_directory():
    # The documented example: run from anywhere, the playbook's files/evtsys.exe.
    result = run_module("ansible.builtin.debug", {
        "msg": "{{ lookup('whotouched.server_audit.evtsys_binary', 'files/evtsys.exe') }}"},
        beside={"files/evtsys.exe": pe_header(0x8664)})
    assert not result.get("failed"), result
    assert result["msg"]["machine"] == "x64"


def test_the_lookup_follows_a_link_to_a_regular_file(tmp_path):
    binary = tmp_path / "evtsys.exe"
    binary.write_bytes(pe_header(0x8664))
    (tmp_path / "link.exe").symlink_to(binary)
    assert lookup(tmp_path / "link.exe")["msg"]["machine"] == "x64"


@pytest.mark.parametrize("kind", ["fifo", "directory", "device", "missing"])
def test_the_lookup_refuses_what_is_not_a_regular_file_without_blocking(tmp_path, kind):
    path = tmp_path / "evtsys.exe"
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "directory":
        path.mkdir()
    elif kind == "device":
        path = "/dev/zero"
    result = lookup(path)
    assert result.get("failed"), result
    expected = "cannot open" if kind == "missing" else "is not a regular file"
    assert expected in result["msg"], result
