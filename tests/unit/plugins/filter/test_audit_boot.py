"""The linux_audit role's filters of kernel command lines: what they read and what they refuse."""

from __future__ import annotations

import re

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.whotouched.server_audit.plugins.filter.audit_boot import (
    FilterModule,
    audit_boot_entries_lacking,
    audit_boot_parameters_lacking,
)


def test_the_filters_are_registered_by_their_names():
    assert FilterModule().filters() == {"audit_boot_parameters_lacking": audit_boot_parameters_lacking,
                                        "audit_boot_entries_lacking": audit_boot_entries_lacking}


def test_a_limit_from_yaml_or_a_template_is_compared_as_a_number():
    assert audit_boot_parameters_lacking("audit=1 audit_backlog_limit=8192", 8192) == []
    assert audit_boot_parameters_lacking("audit=1 audit_backlog_limit=8192", "8192") == []
    assert audit_boot_parameters_lacking("ro quiet\n", 64) == ["audit=1", "audit_backlog_limit=64"]
    assert audit_boot_entries_lacking(["ro audit=1 audit_backlog_limit=64", "ro audit=0 audit_backlog_limit=64"],
                                      64) == ["ro audit=0 audit_backlog_limit=64"]


@pytest.mark.parametrize("call, message", [
    (lambda: audit_boot_parameters_lacking(["audit=1"], 64), "expects a command line (a string), got list"),
    (lambda: audit_boot_parameters_lacking("audit=1", "lots"), "expects the backlog limit as a whole number"),
    (lambda: audit_boot_parameters_lacking("audit=1", -1), "expects the backlog limit as a whole number"),
    (lambda: audit_boot_parameters_lacking("audit=1", True), "expects the backlog limit as a whole number"),
    (lambda: audit_boot_entries_lacking("ro audit=1", 64), "expects a list of command lines, got str"),
])
def test_a_wrong_input_is_refused_with_what_was_given(call, message):
    with pytest.raises(AnsibleFilterError, match=re.escape(message)):
        call()
