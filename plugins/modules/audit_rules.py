#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: whotouched.server_audit contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: audit_rules
short_description: Merge Linux audit rules into a rules file by meaning, and load them
version_added: 0.1.0
description:
  - Adds or removes Linux audit rules (C(auditctl) syntax) in a rules file such as
    C(/etc/audit/rules.d/50-site.rules) without owning the whole file.
  - Rules are compared by meaning, the way C(auditctl) and the kernel see them, not as text.
    C(-a exit,always -F arch=b64 -S execve -k exec) and
    C(-a always,exit -F arch=b64 -S execve -F key=exec) are the same rule; the same
    syscalls under C(arch=b32) and C(arch=b64) are two rules.
  - Every rule is validated before anything is written; a bad rule fails the task, names the
    rule and the offending word, and leaves the file byte for byte as it was. Syscall names are
    checked against the target's tables when C(ausyscall) is installed there.
  - "Where new rules go: control options (C(-b), C(-f), C(-r), C(--backlog_wait_time), ...)
    after the control options at the top of the file, C(-D) first, C(-e) last. A control option
    that holds a value replaces the line that sets the same option (C(-b 320) becomes C(-b 8192)).
    A new C(never) rule goes just before the first C(always) rule of the same list that may match
    the same events, because the kernel uses the first rule that matches. Any other new rule goes
    after the last rule of the file (before a final C(-e)), in the order given."
  - The file is read line by line as C(auditctl -R) reads it, the same for reading, comparing
    and writing - a line ends at a newline (C(\n)) and nowhere else, words are separated by
    spaces only, a line of more than 6143 bytes is read by auditctl as several. So a comment
    holding a form feed, NEL or U+2028 stays a comment, a CRLF file keeps its carriage returns,
    and a line with a tab or a carriage return in it is not taken for the rule it looks like
    (auditctl reads it otherwise); such lines are warned about.
  - Comments, blank lines and lines the module does not manage stay where they are, unless
    O(exclusive=true). The file always ends with a newline (augenrules concatenates files).
  - A file of which no line is a rule and a line does not even begin with an option (for example
    a link to C(/etc/shadow)) is refused, in check mode and with O(state=absent) too, without
    showing a line of it.
  - A C(-e 2) that rules follow is warned about - C(auditctl -R) locks the kernel's rules there
    and refuses the rules after it - and new rules are written before it.
  - The module warns about a C(never) rule placed after an C(always) rule it overlaps, about
    rules present twice (the kernel refuses the second with C(Rule exists)), and about syscall
    rules without C(-F arch=) (they miss the calls made through the other word size).
  - With O(load=true) the rules are loaded into the running kernel afterwards (files in
    C(/etc/audit/rules.d) through C(augenrules --load), others through C(auditctl -R)), then
    the kernel's rule list is compared with the file by meaning and the rules it did not take
    are returned with the reason C(auditctl) gave.
options:
  path:
    description:
      - The rules file, normally C(/etc/audit/rules.d/NN-name.rules).
      - It is created when rules are to be added and it does not exist; its directory must exist.
  rules:
    description:
      - Rules in C(auditctl) syntax, exactly what would follow C(auditctl) on a command line,
        one rule per item (for example C(-w /etc/passwd -p wa -k identity)).
      - Words are separated by spaces, as C(auditctl -R) reads a line of a rules file; there is
        no shell quoting. A rule holding a character that does not show (a tab, a NUL byte, a
        line end, U+2028, a zero-width or bidirectional mark) is refused, and so is one longer
        than the 6143 bytes C(auditctl) reads of a line.
      - Control options are accepted one per item - C(-D), C(-b), C(-f), C(-r), C(-e),
        C(--backlog_wait_time), C(--loginuid-immutable), C(--reset-lost), C(-i), C(-c).
    type: list
    elements: str
    default: []
  state:
    description:
      - V(present) ensures each rule is in the file, V(absent) that none of them is (every line
        that means the same is removed).
      - With V(absent) a rule may name a syscall this host does not know, so that a rule written
        with a typo can be taken out; such a line in the file is warned about.
  exclusive:
    description:
      - Make the file hold exactly O(rules), in their order (control options first, C(-e) last),
        under one comment line the module writes. Other lines and comments are removed.
      - Only with O(state=present).
  load:
    description:
      - Afterwards, load the rules into the running kernel and compare the kernel's rule list
        with the file.
      - Nothing is loaded when the kernel already holds every rule of the file, not counting the rules
        C(auditctl) refuses on this host for a reason seen without loading (a watch whose directory is missing,
        a user or group name this host lacks). A rule refused for another reason (a field this kernel does
        not know) has every run load the file again.
      - When the kernel is locked (C(enabled 2), set by C(-e 2)), nothing can be loaded until
        reboot; the module says so and returns RV(reboot_required=true).
      - Where the kernel refuses audit requests altogether (a container without the host's PID
        namespace - C(Operation not permitted)), the module warns and does not fail unless
        O(require_load=true).
    type: bool
    default: false
  skip_missing_directories:
    description:
      - Leave out every rule whose path needs a directory this host lacks (a C(-w) watch, or a
        syscall rule with C(-F path=) or C(-F dir=)), and return it in RV(left_out). The kernel
        refuses such a rule, and C(augenrules --load) stops at the first refused line.
      - A path written with a trailing C(/) is a directory watch, and that directory itself must
        exist; C(-F dir=) needs its directory; any other path needs the directory it is in.
      - With O(state=absent) nothing is left out.
    type: bool
    default: false
  require_load:
    description:
      - With O(load=true), fail when the rules cannot be loaded at all (the kernel refuses audit
        requests, is locked until reboot, or C(auditctl) is missing). Rules the kernel refuses
        one by one are always only returned in RV(rejected) with a warning.
    type: bool
    default: false
notes:
  - Check mode predicts the file change and the diff; it reads the kernel's state but never
    loads, and reports a change when a real run would load.
  - A user or group name (C(-F uid=ntp), C(-F gid=adm) and the like) the target does not know
    is written with a warning, so that one rule set serves a whole fleet; C(auditctl) refuses
    that rule on this host, and with O(load=true) it is returned in RV(rejected).
  - A C(-A) rule is the same rule as its C(-a) spelling; only its place in the kernel list differs.
  - Field order does not change a rule's meaning (the kernel requires all fields to match);
    key order does (the kernel logs the keys joined in their order).
extends_documentation_fragment:
  - ansible.builtin.files
  - ansible.builtin.action_common_attributes
  - whotouched.server_audit.merged_file
seealso:
  - name: auditctl(8)
    description: The syntax of audit rules.
    link: https://man7.org/linux/man-pages/man8/auditctl.8.html
author:
  - whotouched.server_audit contributors (@whotouched)
"""

EXAMPLES = r"""
- name: Audit every command run by a logged-in user, on both word sizes
  whotouched.server_audit.audit_rules:
    path: /etc/audit/rules.d/50-exec.rules
    rules:
      - -a always,exit -F arch=b64 -S execve,execveat -F auid>=1000 -F auid!=unset -k exec
      - -a always,exit -F arch=b32 -S execve,execveat -F auid>=1000 -F auid!=unset -k exec
    load: true

- name: Watch identity files in a file another role also writes to
  whotouched.server_audit.audit_rules:
    path: /etc/audit/rules.d/30-identity.rules
    rules:
      - -w /etc/passwd -p wa -k identity
      - -w /etc/shadow -p wa -k identity

- name: Stop auditing cron's own activity (placed before the always rules it would overlap)
  whotouched.server_audit.audit_rules:
    path: /etc/audit/rules.d/50-exec.rules
    rules:
      - -a never,exit -F subj_type=crond_t

- name: Remove a rule whatever its spelling in the file
  whotouched.server_audit.audit_rules:
    path: /etc/audit/rules.d/50-exec.rules
    rules:
      - -a exit,always -F arch=b64 -S execveat -S execve -F key=exec -F auid!=-1 -F auid>=1000
    state: absent

- name: Own a whole file, with buffer settings
  whotouched.server_audit.audit_rules:
    path: /etc/audit/rules.d/10-base.rules
    exclusive: true
    rules:
      - -D
      - -b 8192
      - -f 1
      - --backlog_wait_time 60000
    mode: "0640"
"""

RETURN = r"""
rules:
  description: The file's rules after the change, normalized (one spelling per meaning).
  returned: success
  type: list
  elements: str
  sample: ["-b 8192", "-w /etc/passwd -p wa -k identity"]
added:
  description: Rules added to the file (normalized).
  returned: success
  type: list
  elements: str
removed:
  description: Rules removed from the file (normalized), including replaced values of control options.
  returned: success
  type: list
  elements: str
left_out:
  description: Rules of O(rules) left out because the directory their path needs does not exist
    here (with O(skip_missing_directories=true)), as given.
  returned: success
  type: list
  elements: str
  sample: ["-w /etc/cron.d/ -p wa -k crontab"]
duplicates:
  description: Rules present in the file more than once; the kernel refuses the second copy.
  returned: success
  type: list
  elements: str
diff:
  description: The file before and after, as Ansible diff data.
  returned: success, in diff mode
  type: dict
backup_file:
  description: Name of the backup file created.
  returned: changed and O(backup=true)
  type: str
loaded:
  description: The rules were loaded into the kernel during this run.
  returned: success
  type: bool
reboot_required:
  description: The kernel is locked (C(-e 2)) and lacks rules of the file; they take effect after a reboot.
  returned: success
  type: bool
rejected:
  description: Rules of the file the kernel does not hold after loading, each with the reason C(auditctl) gave.
  returned: success
  type: list
  elements: dict
  contains:
    rule:
      description: The rule, normalized.
      type: str
    reason:
      description: Why it is not in the kernel (for example C(Error sending add rule data request (No such file or directory))).
      type: str
  sample: [{"rule": "-w /opt/app/conf -p wa -k app", "reason": "Error sending add rule data request (No such file or directory)"}]
kernel_status:
  description: The kernel's audit status (C(auditctl -s)) read when O(load=true), after any load.
  returned: when O(load=true) and the kernel answered
  type: dict
  sample: {"enabled": "1", "failure": "1", "backlog_limit": "8192"}
load_command:
  description: The command that loaded the rules.
  returned: when a load ran
  type: list
  elements: str
load_output:
  description: What the load command printed.
  returned: when a load ran
  type: str
"""

import os
import platform

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.whotouched.server_audit.plugins.module_utils._audit_rules.checks import (
    checked_rules,
    refused_here,
    unresolved_names,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._audit_rules.merge import (
    merge_rules,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._audit_rules.rules_file import (
    cyclic_gc_paused,
    handle_lines,
    parse_rules_text,
    read_lines,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._audit_rules.model import (
    RuleContext,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._audit_rules.parser import (
    required_directory,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._audit_rules.kernel import (
    KernelAuditUnavailable,
    is_refusal,
    kernel_misses,
    list_kernel_rules,
    load_rules_file,
    read_status,
    read_syscall_tables,
    reasons_by_rule,
    rejected_rules,
    resolve_id,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils.managed_file import (
    FileValidationError,
    edit_merged_file,
    merged_file_argument_spec,
    read_text,
)

_STATUS_SETTINGS = ("enabled", "failure", "rate_limit", "backlog_limit", "backlog_wait_time")


def _runner(module):
    """``run(argv)`` for module_utils: finds the binary in sbin too; OSError when missing."""
    def run(argv):
        binary = module.get_bin_path(argv[0], opt_dirs=["/sbin", "/usr/sbin"])
        if binary is None:
            raise OSError("%s not found" % argv[0])
        return module.run_command([binary] + list(argv[1:]))
    return run


def _validate_candidate(wanted, state, context, cache):
    """The temp file must hold the wanted rules (or lack them) when read back."""
    def validate(temp_path):
        wanted_set = set(wanted)
        # Read line by line: a long file is not held twice over while the merge result lives.
        with open(temp_path, encoding="utf-8", newline="\n") as handle:
            held = set(line.rule for line in read_lines(handle_lines(handle), context, cache)
                       if line.rule in wanted_set)
        for rule in wanted:
            if (rule in held) != (state == "present"):
                raise FileValidationError("the new file does not read back as intended")
    return validate


def _load(module, run, path, text, changed, context, cache, result):
    """Load the file into the kernel when it changed or the kernel lacks some of its rules.

    Fills ``result`` (whose ``changed`` says what the file edit changed); returns whether the
    kernel's rules or settings changed.  ``changed`` says whether the file's content changed.
    """
    require = module.params["require_load"]
    try:
        status = read_status(run)
        kernel_before = list_kernel_rules(run, context)
    except (KernelAuditUnavailable, OSError) as error:
        message = "the rules were not loaded: the kernel refuses audit requests here (%s)" % error \
            if is_refusal(str(error)) else "the rules were not loaded: %s" % error
        if require:
            module.fail_json(msg=message, **result)
        module.warn(message)
        return False
    lines = [line for line in parse_rules_text(text, context, cache) if line.is_rule]
    file_rules = [line.rule for line in lines]
    result["kernel_status"] = status.values
    # A rule auditctl is known to refuse here is no reason to load again (and to predict a
    # load in check mode that a real run would find changed nothing).
    needs_load = changed or kernel_misses(
        [line.rule for line in lines
         if not refused_here(line.text, line.rule, context, os.path.isdir, resolve_id)],
        kernel_before)
    if status.immutable:
        if needs_load:
            result["reboot_required"] = True
            message = ("the kernel's audit rules are locked until reboot (enabled 2, set by -e 2): "
                       "the rules of %s were not loaded and take effect after a reboot" % path)
            if require:
                module.fail_json(msg=message, **result)
            module.warn(message)
        return False
    if not needs_load or module.check_mode:
        # Check mode predicts the load a real run would do.
        return needs_load

    outcome = load_rules_file(run, path)
    result["load_command"] = outcome.command
    result["load_output"] = outcome.output
    if is_refusal(outcome.output) or "immutable" in outcome.output:
        message = "the rules were not loaded: %s" % outcome.output.strip()
        if "immutable" in outcome.output:
            result["reboot_required"] = True
        if require:
            module.fail_json(msg=message, **result)
        module.warn(message)
        return False
    result["loaded"] = True
    kernel_after = list_kernel_rules(run, context)
    status_after = read_status(run)
    result["kernel_status"] = status_after.values
    reasons = reasons_by_rule(outcome, _refused_file_text(module, outcome), context)
    result["rejected"] = rejected_rules(file_rules, kernel_after, reasons)
    for item in result["rejected"]:
        module.warn('the kernel did not take "%s": %s' % (item["rule"], item["reason"]))
    kernel_changed = sorted(map(repr, kernel_before)) != sorted(map(repr, kernel_after)) or any(
        status.values.get(name) != status_after.values.get(name) for name in _STATUS_SETTINGS)
    return kernel_changed


def _refused_file_text(module, outcome):
    """The text of the file auditctl loaded, when it refused lines of it (to say which rules)."""
    if not outcome.errors:
        return None
    try:
        return read_text(outcome.loaded_file, "an audit rules file")
    except FileValidationError as error:
        module.warn("the lines auditctl refused cannot be named: %s" % error)
        return None


@cyclic_gc_paused()
def main():
    module = AnsibleModule(
        argument_spec=merged_file_argument_spec(
            rules=dict(type="list", elements="str", default=[]),
            load=dict(type="bool", default=False),
            require_load=dict(type="bool", default=False),
            skip_missing_directories=dict(type="bool", default=False),
        ),
        add_file_common_args=True,
        supports_check_mode=True,
    )
    params = module.params
    run = _runner(module)
    context = RuleContext(machine=platform.machine() or "x86_64",
                          syscall_tables=read_syscall_tables(run) or None)
    skip_missing = params["skip_missing_directories"] and params["state"] == "present"
    present = params["state"] == "present"
    checked, errors = checked_rules(params["rules"], context, present)
    if errors:
        module.fail_json(msg="; ".join(errors), errors=errors, changed=False)
    wanted, left_out = [], []
    for text, rule, warnings in checked:
        directory = required_directory(text, context) if skip_missing else None
        if directory and not os.path.isdir(directory):
            left_out.append(text)
            continue
        wanted.append(rule)
        if present:
            for warning in warnings + unresolved_names(rule, resolve_id):
                module.warn(warning)

    # What each line of the file holds, read once for the merge, the check and the load.
    cache = {}
    merged, result = edit_merged_file(
        module,
        lambda existing: merge_rules(existing, wanted, params["state"], params["exclusive"],
                                     context, cache),
        "a rules file", validate=_validate_candidate(wanted, params["state"], context, cache))
    result.update(path=params["path"], left_out=left_out, loaded=False, reboot_required=False,
                  rejected=[])
    if params["load"]:
        kernel_changed = _load(module, run, params["path"], merged.text, merged.changed,
                               context, cache, result)
        result["changed"] = kernel_changed or result["changed"]
    # The file's texts and lines are read for good: a long file's result is large enough.
    cache.clear()
    del merged
    module.exit_json(**result)


if __name__ == "__main__":
    main()
