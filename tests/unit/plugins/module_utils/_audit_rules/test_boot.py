"""The kernel command line read as the kernel reads it: the audit parameters of the next boot."""

from __future__ import annotations

import pytest

from ansible_collections.whotouched.server_audit.plugins.module_utils._audit_rules.boot import (
    command_line_words,
    command_lines_lacking,
    kernel_parameter,
    lacking_parameters,
)

WANTED = {"audit": "1", "audit_backlog_limit": "8192"}


@pytest.mark.parametrize("line, words", [
    ("BOOT_IMAGE=/vmlinuz root=/dev/vda ro  quiet", ["BOOT_IMAGE=/vmlinuz", "root=/dev/vda", "ro", "quiet"]),
    ('dyndbg="file a.c +p" audit=1', ["dyndbg=file a.c +p", "audit=1"]),
    ("\troot=/dev/vda\taudit=1\n", ["root=/dev/vda", "audit=1"]),
    ("audit=1 -- audit=0 single", ["audit=1"]),
    ("", []),
])
def test_a_command_line_is_split_into_the_words_the_kernel_reads(line, words):
    assert command_line_words(line) == words


@pytest.mark.parametrize("line, value", [
    ("root=/dev/vda audit=1", "1"),
    ("audit=1 quiet audit=0", "0"),  # the last word wins
    ("audit=0 quiet audit=1", "1"),
    ("noaudit quiet", None),
    ("audit", ""),
    ('x="audit=0" audit=1', "1"),  # a quoted word is one word, its name is x
    ("audit=1 -- audit=0", "1"),  # init's words
    ("audit_backlog_limit=8192", None),  # another parameter's name begins with it
])
def test_the_kernel_takes_the_value_of_the_last_word_of_a_name(line, value):
    assert kernel_parameter(line, "audit") == value


@pytest.mark.parametrize("line, lacking", [
    ("root=/dev/vda ro audit=1 audit_backlog_limit=8192", []),
    ("root=/dev/vda ro quiet", ["audit=1", "audit_backlog_limit=8192"]),
    ("audit=1 audit_backlog_limit=64", ["audit_backlog_limit=8192"]),
    ("audit=1 audit_backlog_limit=8192 audit=0", ["audit=1"]),
    ("audit=on audit_backlog_limit=8192", ["audit=1"]),  # the kernel reads "on" too; ours is 1
    ("audit_backlog_limit=8192 -- audit=1", ["audit=1"]),
])
def test_each_wanted_parameter_the_kernel_would_not_take_is_named(line, lacking):
    assert lacking_parameters(line, WANTED) == lacking


def test_the_entries_that_lack_a_parameter_are_kept_in_their_order():
    entries = [
        "/vmlinuz-6.1.0-28-amd64 root=UUID=1 ro audit=1 audit_backlog_limit=8192 quiet",
        "/vmlinuz-6.1.0-28-amd64 root=UUID=1 ro single audit=1 audit_backlog_limit=8192",
        "/vmlinuz-6.1.0-27-amd64 root=UUID=1 ro audit=1 audit_backlog_limit=8192 audit=0",
        "/vmlinuz-6.1.0-26-amd64 root=UUID=1 ro",
    ]
    assert command_lines_lacking(entries, WANTED) == entries[2:]
    assert command_lines_lacking(entries[:2], WANTED) == []
