# -*- coding: utf-8 -*-
# Copyright: whotouched.server_audit contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to whotouched.server_audit: it may change in any release. Do not import it from
# other collections or from code outside this collection.
"""Audit rules written back: the one spelling of each meaning, as ``auditctl -l`` prints it."""

from __future__ import annotations

from ansible_collections.whotouched.server_audit.plugins.module_utils._audit_rules.model import (
    DEFAULT_CONTEXT,
    AuditRule,
    RuleContext,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._audit_rules.parser import (
    parse_rule,
)


def format_rule(rule: AuditRule) -> str:
    """The normalized text of a rule: what ``auditctl`` accepts and ``auditctl -l`` prints."""
    if rule.kind == "control":
        return rule.option if rule.value is None else "%s %s" % (rule.option, rule.value)
    if rule.kind == "watch":
        text = "%s %s -p %s" % ("-W" if rule.delete else "-w", rule.path, rule.permissions)
        return text + "".join([" -k " + key for key in rule.keys])
    command = "-d" if rule.delete else ("-A" if rule.prepend else "-a")
    words = ["%s %s,%s" % (command, rule.action, rule.filter_list)]
    fields = rule.fields
    # -F arch= must come before -S, because it decides which table names the syscalls.
    words += ["-F %s%s%s" % item for item in fields if item[0] == "arch"]
    if rule.syscalls:
        words.append("-S " + ",".join(rule.syscalls))
    elif rule.filter_list == "exit":
        # Spelled out as auditctl -l does: a key needs -S (or a path) before it.
        words.append("-S all")
    words += ["-F %s%s%s" % item for item in fields if item[0] != "arch"]
    if rule.comparisons:
        words += ["-C %s%s%s" % item for item in rule.comparisons]
    # "-F key=" is accepted on every list; "-k" needs a syscall, a watch or a perm first.
    words += ["-F key=" + key for key in rule.keys]
    return " ".join(words)


def normalize_rule(text: str, context: RuleContext = DEFAULT_CONTEXT) -> str:
    """Parse and format: the canonical spelling of a rule."""
    return format_rule(parse_rule(text, context))


def rules_equal(first: str, second: str, context: RuleContext = DEFAULT_CONTEXT) -> bool:
    """Do two rule texts mean the same to the kernel?"""
    return parse_rule(first, context) == parse_rule(second, context)
