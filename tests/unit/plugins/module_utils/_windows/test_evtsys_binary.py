"""Which evtsys.exe a file is: the CPU of its PE header, the published build by its hash."""

from __future__ import annotations

import pytest

from ansible_collections.whotouched.server_audit.plugins.module_utils._windows import evtsys_binary as eb
from tests.support.pe_files import pe_header


@pytest.mark.parametrize("machine, name", [
    (0x8664, "x64"), (0x014C, "x86"), (0xAA64, "arm64"), (0x0200, "machine 0x0200")])
def test_the_machine_field_names_the_cpu(machine, name):
    assert eb.pe_machine(pe_header(machine)) == name
    assert eb.pe_machine(pe_header(machine, offset=0x1000) + b"rest") == name


@pytest.mark.parametrize("data, message", [
    (b"#!/bin/sh\n" + b"\0" * 100, "no MZ header"),
    (b"MZ", "no MZ header"),
    (pe_header(0x8664)[:0x80] + b"NE\0\0\x64\x86", "no PE signature at offset 128"),
    (pe_header(0x8664, offset=0x100)[:0x90], "beyond the first 144 bytes"),
])
def test_what_is_no_pe_file_is_named(data, message):
    with pytest.raises(eb.EvtsysBinaryError, match=message):
        eb.pe_machine(data)


def test_a_published_build_is_known_by_its_hash_and_any_other_is_not():
    lp = "A9674DC2AF9CE58E4120A62C1E4769283901E832D725E0EAC1BA88D78887B475"
    assert eb.describe_evtsys_binary(pe_header(0x8664), lp) == {
        "machine": "x64", "build": "64-Bit-LP", "version": "4.5.1", "message_bytes": 4096}
    standard = "ea1d238ed14303b210a38233c3117d67347ea96680e4b6f9226b97f08e1e8869"
    assert eb.describe_evtsys_binary(pe_header(0x8664), standard)["message_bytes"] == 1024
    assert eb.describe_evtsys_binary(pe_header(0x8664), "0" * 64) == {
        "machine": "x64", "build": None, "version": None, "message_bytes": None}
    assert {facts["machine"] for facts in eb.UPSTREAM_BUILDS.values()} == {"x64", "x86"}
