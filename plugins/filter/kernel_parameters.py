# -*- coding: utf-8 -*-
# Copyright: whotouched.server_audit contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Jinja filters through which the linux_audit role reads kernel command lines.

Thin wrappers: the reading lives in ``module_utils/_audit_rules/boot.py``.
"""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.whotouched.server_audit.plugins.module_utils._audit_rules.boot import (
    command_lines_lacking,
    lacking_parameters,
)


def _wanted_parameters(wanted, filter_name):
    if not isinstance(wanted, dict) or not wanted:
        raise AnsibleFilterError("%s: expects the wanted parameters as a mapping of name to value, got %r"
                                 % (filter_name, wanted))
    return {str(name): str(value) for name, value in wanted.items()}


def kernel_parameters_lacking(command_line, wanted):
    """``name=value`` of each wanted parameter the kernel would not take from ``command_line``."""
    if not isinstance(command_line, str):
        raise AnsibleFilterError("kernel_parameters_lacking: expects a command line (a string), got %s"
                                 % type(command_line).__name__)
    return lacking_parameters(command_line, _wanted_parameters(wanted, "kernel_parameters_lacking"))


def kernel_command_lines_lacking(command_lines, wanted):
    """Those of ``command_lines`` that lack a wanted parameter (or set it otherwise later)."""
    if isinstance(command_lines, str) or not isinstance(command_lines, (list, tuple)):
        raise AnsibleFilterError("kernel_command_lines_lacking: expects a list of command lines, got %s"
                                 % type(command_lines).__name__)
    return command_lines_lacking([str(line) for line in command_lines],
                                 _wanted_parameters(wanted, "kernel_command_lines_lacking"))


class FilterModule:
    """Kernel command line filters."""

    def filters(self):
        return {"kernel_parameters_lacking": kernel_parameters_lacking,
                "kernel_command_lines_lacking": kernel_command_lines_lacking}
