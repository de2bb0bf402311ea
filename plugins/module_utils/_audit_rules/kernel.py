# -*- coding: utf-8 -*-
# Copyright: whotouched.server_audit contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to whotouched.server_audit: it may change in any release. Do not import it from
# other collections or from code outside this collection.
"""Talking to the kernel's audit subsystem through auditctl, augenrules and ausyscall.

Every function takes ``run``, a callable ``run(argv) -> (rc, stdout, stderr)`` (the
module passes ``AnsibleModule.run_command``), so the decisions (what the status means,
which rules the kernel refused and why) are plain functions of command output.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field, replace
from typing import Callable, Dict, List, Optional, Sequence, Tuple

from ansible_collections.whotouched.server_audit.plugins.module_utils._audit_rules.formatting import (
    format_rule,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._audit_rules.model import (
    AuditRule,
    RuleContext,
    RuleSyntaxError,
    field_sort_key,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._audit_rules.parser import (
    as_listed_watch,
    names_an_id,
    parse_rule,
    parse_syscall_table,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._audit_rules.rules_file import (
    file_lines,
)

RunCommand = Callable[[List[str]], Tuple[int, str, str]]

# augenrules only ever reads this directory.
AUGENRULES_SOURCE_DIR = "/etc/audit/rules.d"
AUGENRULES_DESTINATION = "/etc/audit/audit.rules"
# audit 4's auditctl says "You must be root" itself, before asking the kernel, when the
# process lacks CAP_AUDIT_CONTROL.
_REFUSED_MARKERS = ("Operation not permitted", "Permission denied", "You must be root")
_ERROR_LINE_RE = re.compile(r"There was an error in line (\d+) of (.+)$")
_AUGENRULES_CHATTER_RE = re.compile(r"^(/usr)?(/s?bin/)?augenrules:")
_STATUS_LINE_RE = re.compile(r"^[a-z_]+ \S+$")


class KernelAuditUnavailable(Exception):
    """The kernel refuses audit requests here (no CAP_AUDIT_CONTROL, not the initial PID
    namespace, or no audit support at all)."""


@dataclass
class KernelStatus:
    """``auditctl -s``: ``enabled`` is 0 (off), 1 (on) or 2 (locked until reboot)."""

    values: Dict[str, str]

    @property
    def enabled(self) -> int:
        return int(self.values.get("enabled", "0"))

    @property
    def immutable(self) -> bool:
        return self.enabled == 2


@dataclass
class LoadOutcome:
    """What a load attempt did: the command, its exit code and output, and per rules-file
    line the reason auditctl gave for refusing it."""

    command: List[str]
    rc: int
    output: str
    loaded_file: str
    errors: Dict[int, str] = field(default_factory=dict)


def parse_status(text: str) -> KernelStatus:
    """Parse ``auditctl -s`` output (``name value`` per line)."""
    values = {}
    for line in text.splitlines():
        parts = line.split(None, 1)
        if len(parts) == 2:
            values[parts[0]] = parts[1].strip()
    return KernelStatus(values)


def read_status(run: RunCommand) -> KernelStatus:
    """The kernel's audit status; raises :class:`KernelAuditUnavailable` when refused."""
    rc, out, err = run(["auditctl", "-s"])
    if rc != 0 or "enabled" not in out:
        message = (err or out).strip() or "auditctl -s exited with %d" % rc
        raise KernelAuditUnavailable(message)
    return parse_status(out)


def is_refusal(message: str) -> bool:
    """Does auditctl's message say the kernel refuses audit requests from us?"""
    return any(marker in message for marker in _REFUSED_MARKERS)


def read_syscall_tables(run: RunCommand) -> Dict[str, Dict[str, int]]:
    """``{"b32": {...}, "b64": {...}}`` from ``ausyscall``; empty when it is missing."""
    tables = {}
    for arch in ("b32", "b64"):
        try:
            rc, out, _err = run(["ausyscall", arch, "--dump"])
        except (OSError, ValueError):
            return {}
        if rc == 0:
            table = parse_syscall_table(out)
            if table:
                tables[arch] = table
    return tables


def uses_augenrules(path: str) -> bool:
    """Files in augenrules' directory are loaded by augenrules, others by auditctl -R."""
    return os.path.dirname(os.path.abspath(path)) == AUGENRULES_SOURCE_DIR


def parse_load_errors(output: str) -> Dict[int, str]:
    """``{line number: reason}`` from auditctl -R output.

    auditctl prints the reason first, then "There was an error in line N of FILE".
    """
    errors = {}
    pending: List[str] = []
    for line in output.splitlines():
        match = _ERROR_LINE_RE.search(line)
        if match:
            errors[int(match.group(1))] = "; ".join(pending) or "refused"
            pending = []
        elif line.strip() and not _AUGENRULES_CHATTER_RE.match(line) \
                and not _STATUS_LINE_RE.match(line.strip()):
            # Status lines ("enabled 1") that -b/-f/-e print are not reasons.
            pending.append(line.strip())
    return errors


def load_rules_file(run: RunCommand, path: str) -> LoadOutcome:
    """Load ``path`` into the kernel: augenrules --load for rules.d files, else auditctl -R."""
    if uses_augenrules(path):
        command = ["augenrules", "--load"]
        loaded_file = AUGENRULES_DESTINATION
    else:
        command = ["auditctl", "-R", path]
        loaded_file = path
    rc, out, err = run(command)
    output = "\n".join(part for part in (out, err) if part)
    return LoadOutcome(command=command, rc=rc, output=output, loaded_file=loaded_file,
                       errors=parse_load_errors(output))


def list_kernel_rules(run: RunCommand, context: RuleContext) -> List[AuditRule]:
    """The rules the kernel holds, parsed from ``auditctl -l``."""
    rc, out, err = run(["auditctl", "-l"])
    if rc != 0:
        raise KernelAuditUnavailable((err or out).strip() or "auditctl -l exited with %d" % rc)
    rules = []
    for line in out.split("\n"):  # a key may hold U+2028 or a form feed: one rule a line
        line = line.strip(" \r")
        if not line or line == "No rules":
            continue
        try:
            rules.append(parse_rule(line, context))
        except RuleSyntaxError:
            # A rule this parser cannot read (newer auditctl) cannot match ours either.
            continue
    return rules


def resolve_id(name: str, value: str) -> Optional[str]:
    """The number auditctl puts in field ``name`` for the user or group name ``value``;
    None when this host has no such user or group (auditctl refuses the rule)."""
    import grp
    import pwd
    try:
        if name.endswith("gid"):
            return str(grp.getgrnam(value).gr_gid)
        return str(pwd.getpwnam(value).pw_uid)
    except KeyError:
        return None


def _lookup_id(name: str, value: str) -> str:
    number = resolve_id(name, value)
    return value if number is None else number


def replace_field_values(rule: AuditRule, lookup) -> AuditRule:
    """A copy of ``rule`` whose user and group names are replaced by ``lookup(field, name)``.

    auditctl resolves names on the target before loading; the kernel lists numbers.
    """
    if rule.kind != "syscall":
        return rule
    fields = []
    for name, operator, value in rule.fields:
        if names_an_id(name, value):
            value = lookup(name, value)
        fields.append((name, operator, value))
    return replace(rule, fields=tuple(sorted(fields, key=field_sort_key)))


def as_kernel_sees_it(rule: AuditRule) -> AuditRule:
    """The rule as ``auditctl -l`` would list it: user and group names resolved the way
    auditctl resolves them, path and dir rules shown as the watches they look like."""
    return as_listed_watch(replace_field_values(rule, _lookup_id))


def kernel_relevant(rule: AuditRule) -> bool:
    """Rules that end up in the kernel's list (not control options, not deletions)."""
    return rule.kind != "control" and not rule.delete


def rejected_rules(file_rules: Sequence[AuditRule], kernel_rules: Sequence[AuditRule],
                   reasons: Optional[Dict[AuditRule, str]] = None) -> List[Dict[str, str]]:
    """The file's rules the kernel does not hold, each with the reason auditctl gave."""
    held = {as_kernel_sees_it(rule) for rule in kernel_rules}
    reasons = reasons or {}
    missing = []
    seen = set()
    for rule in file_rules:
        if not kernel_relevant(rule) or rule in seen:
            continue
        seen.add(rule)
        if as_kernel_sees_it(rule) not in held:
            missing.append({
                "rule": format_rule(rule),
                "reason": reasons.get(rule, "not in the kernel's rule list after loading "
                                            "(auditctl stops at the first error unless the "
                                            "file has -i or -c)"),
            })
    return missing


def reasons_by_rule(outcome: LoadOutcome, loaded_text: Optional[str],
                    context: RuleContext) -> Dict[AuditRule, str]:
    """Map auditctl's per-line errors back to rules, through the file it really read."""
    if not outcome.errors or not loaded_text:
        return {}
    lines = file_lines(loaded_text)  # auditctl numbers the lines it reads as file_lines does
    reasons = {}
    for number, reason in outcome.errors.items():
        if 0 < number <= len(lines):
            try:
                reasons[parse_rule(lines[number - 1], context)] = reason
            except RuleSyntaxError as error:
                reasons[AuditRule(kind="unparsed", path=lines[number - 1].strip())] = \
                    "%s (%s)" % (reason, error.reason)
    return reasons


def kernel_misses(file_rules: Sequence[AuditRule], kernel_rules: Sequence[AuditRule]) -> bool:
    """Does the kernel lack any of the file's rules?"""
    held = {as_kernel_sees_it(rule) for rule in kernel_rules}
    return any(as_kernel_sees_it(rule) not in held
               for rule in file_rules if kernel_relevant(rule))
