#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: whotouched.server_audit contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: rsyslog_filter
short_description: Merge rsyslog filter and forwarding rules into a drop-in, by meaning
version_added: 0.1.0
description:
  - Adds or removes rsyslog filter rules (property-based filters, selector lines and
    RainerScript C(if ... then ...) statements) in one drop-in file, comparing rules by
    meaning rather than by text, and leaves every line it does not manage exactly as it was.
  - Equal in meaning are, for example, rules that differ only in whitespace or keyword case,
    the legacy discard C(~) and C(stop) (the module always writes C(stop), as C(~) is deprecated
    since rsyslog v7), C(-/file), C(/file) and C(action(type="omfile" file="/file")),
    C(:msg, contains, "x") and C(if $msg contains "x" then), and C(@host) and
    C(action(type="omfwd" target="host" port="514" protocol="udp")).
  - Forwarding is always written as a RainerScript C(omfwd) action that does not lose logs
    while the server is away - a disk-assisted queue with its own file name, C(saveOnShutdown),
    unlimited retries and a disk cap. Legacy C(@host) / C(@@host:port) forms are accepted as
    input and written as such an action; an existing legacy forward with the same filter and
    destination is replaced in place. A legacy forward that cannot be written that way (a port
    that is not a number from 1 to 65535, compression or framing options such as
    C(@(z9)host), text after the address) is refused.
  - A C(regex) or C(ereregex) property filter whose expression cannot be compiled (an
    unclosed C([) bracket expression or C(\() group) is refused, naming the filter;
    C(rsyslogd -N1) does not compile regular expressions, so it would accept it.
  - Before the file is replaced, the candidate is checked by the real C(rsyslogd -N1) inside a
    copy of the full configuration (O(main_config)) in which the candidate takes the target's
    place. A drop-in that only discards is therefore accepted (C(rsyslogd -N1 -f fragment)
    would wrongly refuse it for having no active action). When rsyslogd refuses, the task fails
    with its message and the file stays byte-for-byte as it was.
  - Order matters in rsyslog - a C(stop) only drops what later actions would have written.
    Name the drop-in so that it sorts before the rules it must protect and after the ones it
    must not, for example V(/etc/rsyslog.d/10-audit-filter.conf) for audit noise filters
    (before the distribution's C(50-default.conf) and before any forwarding drop-in numbered
    20 or higher). Within the file, new rules are inserted in the order of O(filters)
    (before the next listed rule already present); rules already present are not reordered.
  - A forwarding queue spools to rsyslog's work directory (C($WorkDirectory) or
    C(global(workDirectory=...))); the distribution defaults set one.
author:
  - whotouched.server_audit contributors (@whotouched)
options:
  path:
    description:
      - The drop-in file to manage, normally C(/etc/rsyslog.d/NN-name.conf).
      - Its directory must exist. The file is created when rules are added to a missing file.
    type: path
    required: true
  filters:
    description:
      - The rules, each either a string in rsyslog syntax or a mapping.
      - A string is one rule - a property-based filter line such as
        C(:msg, contains, "type=PATH" stop), a selector line such as
        C(authpriv.* /var/log/secure), or a RainerScript statement such as
        C(if $programname == "sshd" then stop). Line continuations (a trailing backslash)
        and C(&) action lines are understood.
      - A mapping has the keys C(property) (default V(msg)); C(operator), one of V(contains),
        V(isequal), V(startswith), V(regex), V(ereregex), V(isempty) and the case-insensitive
        V(contains_i) and V(startswith_i) (written as an C(if) statement, as rsyslog accepts
        them only there), negated by a leading V(!) or by C(negate=true); C(value), the
        string compared (unescaped - the module escapes it); and C(action), one of V(stop),
        V(forward) or V(file).
      - With C(action=forward) the keys C(target) (required), C(port) (default V(514)),
        C(protocol) (V(tcp) by default, or V(udp)), C(template), C(queue_file_name) (default
        derived from target, port and filter), C(queue_max_disk_space) (default V(1g)) and
        C(queue_size) apply.
      - With C(action=file) the key C(file) names the absolute path to write to; C(template)
        is optional.
    type: list
    elements: raw
    default: []
  state:
    description:
      - V(present) adds the rules that are missing (and replaces a rule with the same filter
        and destinations but other settings); V(absent) removes the rules equal in meaning.
      - With V(absent) the rules are not checked for what rsyslog would refuse (a bad port or
        regular expression), so that such a rule written earlier can be removed.
    type: str
    choices: [present, absent]
    default: present
  exclusive:
    description:
      - With O(state=present), also remove every other filter rule from O(path). Comments,
        directives and statements that are not filter rules are kept.
      - Refused with O(state=absent).
    type: bool
    default: false
  validate:
    description:
      - Check the candidate with C(rsyslogd -N1) inside a copy of O(main_config) before the
        file is replaced (also in check mode). Needs C(rsyslogd) on the host.
    type: bool
    default: true
  main_config:
    description:
      - The main rsyslog configuration that includes O(path), used to build the copy the
        candidate is validated in. When it is missing, the candidate is validated alone.
    type: path
    default: /etc/rsyslog.conf
extends_documentation_fragment:
  - ansible.builtin.files
  - ansible.builtin.action_common_attributes
  - whotouched.server_audit.merged_file
notes:
  - Runs on the managed host with the Python standard library only (Python 3.8 or newer).
  - rsyslog is not reloaded by this module; notify a handler that restarts it.
seealso:
  - name: rsyslog filter conditions
    description: Property-based filters, selectors and RainerScript expressions.
    link: https://www.rsyslog.com/doc/configuration/filters.html
"""

EXAMPLES = r"""
- name: Drop audit records about noisy programs and forward exec records reliably
  whotouched.server_audit.rsyslog_filter:
    path: /etc/rsyslog.d/10-audit-filter.conf
    filters:
      - ':msg, ereregex, "(bin|sbin)\/(sleep|ls|date|cat)\"" stop'
      - property: msg
        operator: contains
        value: type=PATH
        action: stop
      - property: msg
        operator: ereregex
        value: '(key="exec"|type=EXECVE)'
        action: forward
        target: logs.example.com
        port: 514
        protocol: tcp
  notify: Restart rsyslog

- name: Legacy forms are accepted and written as reliable omfwd actions
  whotouched.server_audit.rsyslog_filter:
    path: /etc/rsyslog.d/20-forward.conf
    filters:
      - '*.* @@logs.example.com:514'

- name: Remove a rule, whatever way it was written
  whotouched.server_audit.rsyslog_filter:
    path: /etc/rsyslog.d/10-audit-filter.conf
    state: absent
    filters:
      - 'if $msg contains "type=PATH" then stop'

- name: Keep only these rules in the file
  whotouched.server_audit.rsyslog_filter:
    path: /etc/rsyslog.d/10-audit-filter.conf
    exclusive: true
    filters:
      - ':msg, contains, "type=PATH" stop'
"""

RETURN = r"""
filters:
  description: The requested rules as the module writes them (normalized).
  returned: always
  type: list
  elements: str
  sample: [':msg, contains, "type=PATH" stop']
added:
  description: The rules written into the file (also those replacing an older form).
  returned: always
  type: list
  elements: str
removed:
  description: The rules taken out of the file, as they were written there.
  returned: always
  type: list
  elements: str
diff:
  description: The file before and after (shown in diff mode).
  returned: always
  type: dict
backup_file:
  description: Name of the backup file that was created.
  returned: changed and O(backup=true)
  type: str
validator_output:
  description: What C(rsyslogd -N1) said when it refused the candidate.
  returned: failed validation
  type: str
"""

import os
import shutil
import tempfile

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.whotouched.server_audit.plugins.module_utils.managed_file import (
    FileValidationError,
    apply_file_attributes,
    check_target,
    read_text,
    text_diff,
    write_atomically,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._rsyslog.merge import (
    merge_filter_rules,
    normalized_filters,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._rsyslog.model import (
    FilterSyntaxError,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._rsyslog.requested import (
    filter_rule_from_spec,
    writable_filter_rule,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._rsyslog.validate import (
    DEFAULT_MAIN_CONFIG,
    validate_drop_in,
)

ARGUMENT_SPEC = dict(
    path=dict(type="path", required=True),
    filters=dict(type="list", elements="raw", default=[]),
    state=dict(type="str", choices=["present", "absent"], default="present"),
    exclusive=dict(type="bool", default=False),
    validate=dict(type="bool", default=True),
    main_config=dict(type="path", default=DEFAULT_MAIN_CONFIG),
    backup=dict(type="bool", default=False),
)


def _check_candidate(validator, text, path):
    """Check mode: validate the candidate from a private temp file, touch nothing."""
    work = tempfile.mkdtemp(prefix="rsyslog-filter-")
    try:
        candidate = os.path.join(work, os.path.basename(path))
        with open(candidate, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
        validator(candidate)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _not_a_file(path):
    """Why ``path`` cannot be an rsyslog configuration file, or None."""
    if os.path.isdir(path):
        return "%s is a directory, not an rsyslog configuration file" % path
    return None


def _read_drop_in(module, path):
    """The drop-in's text (None when missing); a clear failure naming it otherwise."""
    problem = _not_a_file(path)
    if problem is None:
        try:
            return read_text(path)
        except (OSError, ValueError) as err:
            problem = str(err) if path in str(err) else "cannot read %s: %s" % (path, err)
    module.fail_json(msg=problem)


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True,
                           add_file_common_args=True)
    params = module.params
    path = params["path"]
    if params["exclusive"] and params["state"] == "absent":
        module.fail_json(msg="exclusive=true only makes sense with state=present")
    rules = []
    for number, spec in enumerate(params["filters"], start=1):
        try:
            rules.append(filter_rule_from_spec(spec))
            if params["state"] == "present":
                writable_filter_rule(rules[-1])
        except FilterSyntaxError as err:
            module.fail_json(msg="filters[%d]: %s" % (number, err))
    before = _read_drop_in(module, path)
    try:
        merged = merge_filter_rules(before, rules, params["state"], params["exclusive"])
        filters = normalized_filters(rules)
    except FilterSyntaxError as err:
        module.fail_json(msg=str(err))
    changed = merged.text != (before or "") or (before is None and merged.text != "")
    result = dict(changed=changed, filters=filters, added=merged.added,
                  removed=merged.removed, diff=text_diff(path, before, merged.text))

    if changed:
        validator = None
        if params["validate"]:
            problem = _not_a_file(params["main_config"])
            if problem:
                result["changed"] = False
                module.fail_json(msg="main_config: " + problem, **result)
            rsyslogd = module.get_bin_path("rsyslogd", opt_dirs=["/usr/sbin", "/sbin"])
            if rsyslogd is None:
                result["changed"] = False
                module.fail_json(msg="rsyslogd is not installed; it is needed to validate "
                                     "%s (install rsyslog or set validate: false)" % path,
                                 **result)

            def validator(candidate):
                try:
                    validate_drop_in(module.run_command, rsyslogd, params["main_config"],
                                     path, candidate)
                except OSError as err:
                    raise FileValidationError("cannot validate %s with main_config %s: %s"
                                              % (path, params["main_config"], err))
        try:
            check_target(module, path)
            if module.check_mode:
                if validator is not None:
                    _check_candidate(validator, merged.text, path)
            else:
                result["backup_file"] = write_atomically(
                    module, path, merged.text, validate=validator, backup=params["backup"])
                if result["backup_file"] is None:
                    del result["backup_file"]
        except FileValidationError as err:
            result["changed"] = False
            module.fail_json(msg=str(err), validator_output=err.output, **result)
    # the text diff is not a file-attribute diff: attributes report through 'changed'
    # (in check mode Ansible only reports what it would change)
    result["changed"] = apply_file_attributes(module, path, result["changed"])
    module.exit_json(**result)


if __name__ == "__main__":
    main()
