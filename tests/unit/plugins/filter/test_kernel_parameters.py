"""The linux_audit role's filters of kernel command lines: what they read and what they refuse."""

from __future__ import annotations

import re

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.whotouched.server_audit.plugins.filter.kernel_parameters import (
    FilterModule,
    kernel_command_lines_lacking,
    kernel_parameters_lacking,
)


def test_the_filters_are_registered_by_their_names():
    assert FilterModule().filters() == {"kernel_parameters_lacking": kernel_parameters_lacking,
                                        "kernel_command_lines_lacking": kernel_command_lines_lacking}


def test_values_from_yaml_are_compared_as_the_kernel_reads_them():
    # a number from the role's defaults equals the word on the command line
    assert kernel_parameters_lacking("audit=1 audit_backlog_limit=8192",
                                     {"audit": 1, "audit_backlog_limit": 8192}) == []
    assert kernel_parameters_lacking("ro quiet\n", {"audit": 1}) == ["audit=1"]
    assert kernel_command_lines_lacking(["ro audit=1", "ro audit=0"], {"audit": 1}) == ["ro audit=0"]


@pytest.mark.parametrize("call, message", [
    (lambda: kernel_parameters_lacking(["audit=1"], {"audit": 1}), "expects a command line (a string), got list"),
    (lambda: kernel_parameters_lacking("audit=1", {}), "expects the wanted parameters as a mapping"),
    (lambda: kernel_parameters_lacking("audit=1", "audit=1"), "expects the wanted parameters as a mapping"),
    (lambda: kernel_command_lines_lacking("ro audit=1", {"audit": 1}), "expects a list of command lines, got str"),
])
def test_a_wrong_input_is_refused_with_what_was_given(call, message):
    with pytest.raises(AnsibleFilterError, match=re.escape(message)):
        call()
