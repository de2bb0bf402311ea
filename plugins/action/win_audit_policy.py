# -*- coding: utf-8 -*-
# Copyright: whotouched.server_audit contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller side of ``whotouched.server_audit.win_audit_policy``.

The host only runs ``auditpol.exe`` through ``ansible.windows`` modules; reading the policy,
planning and checking the result happen here, in Python, so that no PowerShell of ours
runs on the host and the whole logic is testable off Windows.
"""

from __future__ import annotations

import base64
import ntpath
import subprocess

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

from ansible_collections.whotouched.server_audit.plugins.module_utils._windows.audit_policy import (
    AuditPolicyError,
    auditpol_set_commands,
    decode_auditpol_output,
    parse_auditpol_csv,
    plan_changes,
    policy_text,
    policy_view,
    resolve_desired,
    unmet_settings,
)

ARGUMENT_SPEC = {
    "subcategories": {
        "type": "list", "elements": "dict", "required": True,
        "options": {
            "name": {"type": "str", "required": True},
            "success": {"type": "bool", "default": False},
            "failure": {"type": "bool", "default": False},
        },
    },
    "mode": {"type": "str", "default": "exact", "choices": ["exact", "include"]},
}

BACKUP_FILE_NAME = "audit-policy.csv"


class ActionModule(ActionBase):
    """Read the policy by GUID, set only what differs, read it again to prove it held."""

    TRANSFERS_FILES = False
    _requires_connection = True
    _supports_check_mode = True
    _supports_diff = True

    def _host_module(self, name, args, task_vars, read_only=False):
        """Run an ``ansible.windows`` module on the host and fail on its failure.

        Read-only steps run for real in check mode too (a check run must see the policy);
        ``read_only`` lifts check mode for that call alone.
        """
        saved = self._task.check_mode
        if read_only:
            self._task.check_mode = False
        try:
            result = self._execute_module(module_name=name, module_args=args, task_vars=task_vars)
        finally:
            self._task.check_mode = saved
        if result.get("failed") or result.get("rc", 0) != 0:
            detail = result.get("stderr") or result.get("stdout") or result.get("msg") or ""
            raise AnsibleActionFail("%s failed on the host: %s" % (name, str(detail).strip()),
                                    result=result)
        return result

    def _read_policy(self, task_vars):
        """The system policy as ``auditpol /backup`` writes it: GUIDs and numeric settings."""
        folder = self._host_module("ansible.windows.win_tempfile",
                                   {"state": "directory", "prefix": "auditpol-"},
                                   task_vars, read_only=True)["path"]
        try:
            backup_file = ntpath.join(folder, BACKUP_FILE_NAME)
            self._host_module("ansible.windows.win_command", {
                "argv": ["auditpol.exe", "/backup", "/file:%s" % backup_file],
            }, task_vars, read_only=True)
            content = self._host_module("ansible.windows.slurp", {"src": backup_file},
                                        task_vars, read_only=True)["content"]
        finally:
            self._host_module("ansible.windows.win_file", {"path": folder, "state": "absent"},
                              task_vars, read_only=True)
        return parse_auditpol_csv(decode_auditpol_output(base64.b64decode(content)))

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp

        validation, args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        mode = args["mode"]
        try:
            # Every name is checked before the host is touched: a typo sets nothing.
            desired = resolve_desired(args["subcategories"])
            before_policy = self._read_policy(task_vars)
            changes = plan_changes(before_policy, desired, mode)
        except AuditPolicyError as exc:
            raise AnsibleActionFail(str(exc))

        before = policy_view(before_policy, desired)
        after_policy = {guid: dict(entry) for guid, entry in before_policy.items()}
        for change in changes:
            after_policy[change.guid]["setting"] = change.after
        commands = auditpol_set_commands(changes)

        if changes and not self._task.check_mode:
            for argv in commands:
                self._host_module("ansible.windows.win_command", {"argv": argv}, task_vars)
            after_policy = self._read_policy(task_vars)
            unmet = unmet_settings(after_policy, desired, mode)
            if unmet:
                raise AnsibleActionFail(
                    "auditpol accepted the change but the policy read back still differs for "
                    "%s; a domain Group Policy or a lack of rights may be overriding it"
                    % ", ".join(unmet))

        after = policy_view(after_policy, desired)
        result.update({
            "changed": bool(changes),
            "mode": mode,
            "before": before,
            "after": after,
            "changes": [
                {"guid": change.guid, "name": change.name,
                 "before": before[change.guid], "after": after[change.guid]}
                for change in changes
            ],
            "commands": [subprocess.list2cmdline(argv) for argv in commands],
        })
        if self._task.diff:
            result["diff"] = {
                "before": policy_text(before), "after": policy_text(after),
                "before_header": "audit policy (before)", "after_header": "audit policy (after)",
            }
        return result
