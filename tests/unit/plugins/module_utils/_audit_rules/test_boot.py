"""The kernel command line read as the kernel reads it (kernel/audit.c, init/main.c): whether
the next boot audits from the first process on, with the role's backlog limit."""

from __future__ import annotations

import pytest

from ansible_collections.whotouched.server_audit.plugins.module_utils._audit_rules.boot import (
    audit_enabled,
    audit_parameters_lacking,
    backlog_limit,
    command_line_words,
    command_lines_lacking,
)


@pytest.mark.parametrize("line, words", [
    ("BOOT_IMAGE=/vmlinuz root=/dev/vda ro  quiet", ["BOOT_IMAGE=/vmlinuz", "root=/dev/vda", "ro", "quiet"]),
    ('dyndbg="file a.c +p" audit=1', ["dyndbg=file a.c +p", "audit=1"]),
    ("\troot=/dev/vda\taudit=1\n", ["root=/dev/vda", "audit=1"]),
    ("audit=1 -- audit=0 single", ["audit=1"]),
    ("", []),
])
def test_a_command_line_is_split_into_the_words_the_kernel_reads(line, words):
    assert command_line_words(line) == words


@pytest.mark.parametrize("line, enabled", [
    ("root=/dev/vda audit=1", True),
    ("audit=on", True),
    ("audit=ON", True),
    ("audit=yes", True),  # the kernel says it cannot read it, and turns auditing on
    ("audit=1 quiet audit=0", False),
    ("audit=0 quiet audit=1", False),  # off until the next boot, whatever follows
    ("audit=Off audit=1", False),
    ("noaudit quiet", None),
    ("audit", None),  # no value: not the kernel's audit= at all
    ('x="audit=0" audit=1', True),  # a quoted word is one word, its name is x
    ("audit=1 -- audit=0", True),  # init's words
    ("audit_backlog_limit=8192", None),  # another parameter's name begins with it
])
def test_audit_is_on_from_boot_unless_any_word_turns_it_off(line, enabled):
    assert audit_enabled(line) is enabled


@pytest.mark.parametrize("line, limit", [
    ("audit_backlog_limit=8192", 8192),
    ("audit_backlog_limit=64 audit_backlog_limit=8192", 8192),
    ("audit_backlog_limit=8192 audit_backlog_limit=64", 64),  # the last wins
    ("audit_backlog_limit=8192 audit_backlog_limit=lots", 8192),  # one it cannot read is ignored
    ("audit-backlog-limit=64", 64),  # - reads as _ in a name
    ("audit_backlog_limit=0x2000", 8192),
    ("audit_backlog_limit=020000", 8192),
    ("audit_backlog_limit=+8192", 8192),
    ("audit_backlog_limit=08", None),
    ("audit_backlog_limit=4294967296", None),  # past 32 bits
    ("audit_backlog_limit=", None),
    ("quiet", None),
])
def test_the_backlog_limit_at_boot_is_the_last_the_kernel_can_read(line, limit):
    assert backlog_limit(line) == limit


@pytest.mark.parametrize("line, lacking", [
    ("root=/dev/vda ro audit=1 audit_backlog_limit=8192", []),
    ("root=/dev/vda ro quiet", ["audit=1", "audit_backlog_limit=8192"]),
    ("audit=1 audit_backlog_limit=64", ["audit_backlog_limit=8192"]),
    ("audit=0 audit=1 audit_backlog_limit=8192", ["audit=1"]),
    ("audit=on audit_backlog_limit=0x2000", []),
    ("audit_backlog_limit=8192 -- audit=1", ["audit=1"]),
])
def test_each_parameter_the_kernel_would_not_take_is_named(line, lacking):
    assert audit_parameters_lacking(line, 8192) == lacking


def test_the_entries_that_lack_a_parameter_are_kept_in_their_order():
    entries = [
        "/vmlinuz-6.1.0-28-amd64 root=UUID=1 ro audit=1 audit_backlog_limit=8192 quiet",
        "/vmlinuz-6.1.0-28-amd64 root=UUID=1 ro single audit=1 audit_backlog_limit=8192",
        "/vmlinuz-6.1.0-27-amd64 root=UUID=1 ro audit=1 audit_backlog_limit=8192 audit=0",
        "/vmlinuz-6.1.0-26-amd64 root=UUID=1 ro",
    ]
    assert command_lines_lacking(entries, 8192) == entries[2:]
    assert command_lines_lacking(entries[:2], "8192") == []
