# -*- coding: utf-8 -*-
# Copyright: whotouched.server_audit contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Jinja filters through which the linux_audit role reads its audit rules.

Thin wrappers: the rule grammar and its tests live in ``module_utils/_audit_rules/`` (parser,
checks).
"""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.whotouched.server_audit.plugins.module_utils._audit_rules.checks import (
    checked_rules,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._audit_rules.model import (
    RuleSyntaxError,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._audit_rules.parser import (
    required_directory,
)


def audit_rule_directory(rule):
    """The directory the kernel needs for ``rule`` to load, or "" when it names no path."""
    try:
        return required_directory(str(rule)) or ""
    except RuleSyntaxError as exc:
        raise AnsibleFilterError("audit_rule_directory: %s" % exc)


def audit_rule_problems(rules):
    """What ``auditctl`` would refuse in a rule set, one message per problem ([] when none)."""
    if isinstance(rules, str) or not isinstance(rules, (list, tuple)):
        raise AnsibleFilterError("audit_rule_problems: expects a list of rules, got %s"
                                 % type(rules).__name__)
    return checked_rules([str(rule) for rule in rules])[1]


class FilterModule:
    """audit rule filters."""

    def filters(self):
        return {"audit_rule_directory": audit_rule_directory,
                "audit_rule_problems": audit_rule_problems}
