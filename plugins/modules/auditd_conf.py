#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: whotouched.server_audit contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: auditd_conf
short_description: Set keys of auditd.conf, audispd.conf or an audit plugin's file, checked as auditd reads them
version_added: 0.1.0
description:
  - Sets the given keys of one of auditd's C(key = value) files in one call - C(/etc/audit/auditd.conf),
    audit 2.x's C(/etc/audisp/audispd.conf), or a plugin's file in C(plugins.d) (O(syntax)) - and keeps
    every other line and comment as it is.
  - Every key and value is checked before anything is written, the way auditd reads them - auditd stops
    at a key it does not know or a value it cannot read, and then neither starts nor reloads. A refused
    setting fails the task, naming the key, the value and what auditd accepts, with the file byte for
    byte as it was.
  - Keys and the words of a choice are compared as auditd compares them, without case - C(flush = incremental_async)
    already sets C(INCREMENTAL_ASYNC). Every line that sets a key gets the value (auditd keeps the last
    one); a key the file lacks is appended.
  - It does not signal auditd - notify a handler that does (C(auditctl --signal HUP) on audit 3 and
    later, C(service auditd restart) on audit 2.x).
options:
  path:
    description:
      - The file, for example C(/etc/audit/auditd.conf) or C(/etc/audit/plugins.d/syslog.conf).
      - It is created when keys are to be set and it does not exist; its directory must exist.
  settings:
    description:
      - The keys and their values. A boolean is written as C(yes) or C(no), a number as its digits.
      - With O(state=absent), the lines setting these keys are removed whatever their value (auditd then
        uses its default); the values are not read.
    type: dict
    required: true
  syntax:
    description:
      - Which file's keys O(settings) are - V(auditd) for C(auditd.conf), V(audispd) for audit 2.x's
        C(audispd.conf), V(plugin) for a plugin's file (C(active), C(direction), C(path), C(type), C(args),
        C(format)).
    type: str
    choices: [auditd, audispd, plugin]
    default: auditd
  state:
    description:
      - V(present) sets the keys, V(absent) removes the lines that set them.
  exclusive:
    description:
      - Make the file hold exactly O(settings), in their order, under one comment line the module writes.
        Every other line and comment is removed.
notes:
  - The keys are those of audit 2.8 to 4.0 (auditd.conf(5), auditd-plugins(5)). A value with a space is
    accepted only where auditd reads one - C(exec /path) for the C(*_action) keys, at most two words
    for a plugin's C(args). A line longer than the 158 characters auditd reads is refused.
  - auditd skips a plugin file whose name holds more than one C(.) (a backup copy); such a O(path) is
    warned about.
extends_documentation_fragment:
  - ansible.builtin.files
  - ansible.builtin.action_common_attributes
  - whotouched.server_audit.merged_file
seealso:
  - module: whotouched.server_audit.audit_rules
  - name: auditd.conf(5)
    description: The keys of auditd.conf and their values.
    link: https://man7.org/linux/man-pages/man5/auditd.conf.5.html
author:
  - whotouched.server_audit contributors (@whotouched)
"""

EXAMPLES = r"""
- name: Keep four 50 MB logs, synced to disk in the background every 50 records
  whotouched.server_audit.auditd_conf:
    path: /etc/audit/auditd.conf
    settings:
      num_logs: 4
      max_log_file: 50
      max_log_file_action: ROTATE
      flush: INCREMENTAL_ASYNC
      freq: 1
  notify: Reload auditd

- name: Alert a program when the log's disk runs low
  whotouched.server_audit.auditd_conf:
    path: /etc/audit/auditd.conf
    settings:
      space_left: 25%
      space_left_action: exec /usr/local/sbin/audit-disk-alert

- name: Turn the syslog plugin off
  whotouched.server_audit.auditd_conf:
    path: /etc/audit/plugins.d/syslog.conf
    syntax: plugin
    settings:
      active: false

- name: Size audit 2.x's dispatcher queue
  whotouched.server_audit.auditd_conf:
    path: /etc/audisp/audispd.conf
    syntax: audispd
    settings:
      q_depth: 8192
      overflow_action: SYSLOG
"""

RETURN = r"""
settings:
  description: The keys of O(settings) as the file sets them afterwards (a key the file lacks is missing).
  returned: success
  type: dict
  sample: {"num_logs": "4", "flush": "INCREMENTAL_ASYNC"}
added:
  description: The C(key = value) lines written.
  returned: success
  type: list
  elements: str
  sample: ["num_logs = 4"]
removed:
  description: The C(key = value) lines replaced or removed.
  returned: success
  type: list
  elements: str
  sample: ["num_logs = 5"]
diff:
  description: The file before and after, as Ansible diff data.
  returned: success, in diff mode
  type: dict
backup_file:
  description: Name of the backup file created.
  returned: changed and O(backup=true)
  type: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.whotouched.server_audit.plugins.module_utils._auditd_conf.keywords import (
    SYNTAXES,
    check_key,
    check_setting,
    setting_problems,
    skipped_plugin_file,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._auditd_conf.merge import (
    merge_settings,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils.managed_file import (
    edit_merged_file,
    merged_file_argument_spec,
)

ARGUMENT_SPEC = merged_file_argument_spec(
    settings=dict(type="dict", required=True),
    syntax=dict(type="str", choices=list(SYNTAXES), default="auditd"),
)


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True,
                           add_file_common_args=True)
    params = module.params
    syntax = params["syntax"]
    removing = params["state"] == "absent"
    problems = setting_problems(params["settings"], syntax, keys_only=removing)
    if problems:
        module.fail_json(msg="; ".join(problems), problems=problems, changed=False)
    # Lines to remove go whatever value they hold: only their keys are read.
    settings = [(check_key(syntax, key), "") if removing else check_setting(syntax, key, value)
                for key, value in params["settings"].items()]
    skipped = skipped_plugin_file(params["path"]) if syntax == "plugin" else None
    if skipped:
        module.warn(skipped)

    _merged, result = edit_merged_file(
        module,
        lambda existing: merge_settings(existing, settings, params["state"], params["exclusive"],
                                        syntax),
        "an auditd configuration file")
    module.exit_json(**result)


if __name__ == "__main__":
    main()
