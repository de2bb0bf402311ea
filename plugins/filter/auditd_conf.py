# -*- coding: utf-8 -*-
# Copyright: whotouched.server_audit contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Jinja filters through which the linux_audit role checks auditd's settings on the controller.

Thin wrappers: the keys and values auditd accepts live in ``module_utils/_auditd_conf/``.
"""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.whotouched.server_audit.plugins.module_utils._auditd_conf.keywords import (
    setting_problems,
)


def auditd_conf_problems(settings, syntax="auditd"):
    """What auditd would refuse in ``settings``, one message per problem ([] when none)."""
    if not isinstance(settings, dict):
        raise AnsibleFilterError("auditd_conf_problems: expects a mapping of keys to values, got %s"
                                 % type(settings).__name__)
    return setting_problems(settings, str(syntax))


class FilterModule:
    """auditd configuration filters."""

    def filters(self):
        return {"auditd_conf_problems": auditd_conf_problems}
