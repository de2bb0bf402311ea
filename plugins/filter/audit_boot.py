# -*- coding: utf-8 -*-
# Copyright: whotouched.server_audit contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Jinja filters through which the linux_audit role reads kernel command lines.

Thin wrappers: the reading lives in ``module_utils/_audit_rules/boot.py``.
"""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.whotouched.server_audit.plugins.module_utils._audit_rules.boot import (
    audit_parameters_lacking,
    command_lines_lacking,
)


def _limit(limit, filter_name):
    try:
        number = int(limit)
    except (TypeError, ValueError):
        number = -1
    if isinstance(limit, bool) or number < 0:
        raise AnsibleFilterError("%s: expects the backlog limit as a whole number of 0 or more, got %r"
                                 % (filter_name, limit))
    return number


def audit_boot_parameters_lacking(command_line, limit):
    """``audit=1`` and ``audit_backlog_limit=<limit>``, each where the kernel would not take it
    from ``command_line``."""
    if not isinstance(command_line, str):
        raise AnsibleFilterError("audit_boot_parameters_lacking: expects a command line (a string), got %s"
                                 % type(command_line).__name__)
    return audit_parameters_lacking(command_line, _limit(limit, "audit_boot_parameters_lacking"))


def audit_boot_entries_lacking(command_lines, limit):
    """Those of ``command_lines`` on which the kernel would not audit from boot with ``limit``."""
    if isinstance(command_lines, str) or not isinstance(command_lines, (list, tuple)):
        raise AnsibleFilterError("audit_boot_entries_lacking: expects a list of command lines, got %s"
                                 % type(command_lines).__name__)
    return command_lines_lacking([str(line) for line in command_lines],
                                 _limit(limit, "audit_boot_entries_lacking"))


class FilterModule:
    """Kernel command line filters."""

    def filters(self):
        return {"audit_boot_parameters_lacking": audit_boot_parameters_lacking,
                "audit_boot_entries_lacking": audit_boot_entries_lacking}
