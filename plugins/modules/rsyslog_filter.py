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
    C(:msg, contains, "x") and C(if $msg contains "x" then), C(:msg, ereregex, "x") and
    C(if re_match($msg, "x") then), and C(@host) and
    C(action(type="omfwd" target="host" port="514" protocol="udp")). A forwarding target is one
    host however it is written - C(H.example) and C(h.example), C([2001:db8::1]) and
    C(2001:db8::1).
  - Forwarding is always written as a RainerScript C(omfwd) action that does not lose logs
    while the server is away - a disk-assisted queue with its own file name, C(saveOnShutdown),
    unlimited retries and a disk cap. Legacy C(@host) / C(@@host:port) forms are accepted as
    input and written as such an action; an existing legacy forward with the same filter and
    destination is replaced in place. A legacy forward that cannot be written that way (a port
    that is not a number from 1 to 65535, compression or framing options such as
    C(@(z9)host), text after the address) is refused.
  - A C(regex) or C(ereregex) property filter whose expression the host's C library cannot
    compile (C(a{2,1}), C([[:nosuch:]]), C((?=x)), C(*x) as ERE) is refused with the library's
    own words, naming the filter - the module asks the same C(regcomp) rsyslog compiles it with;
    C(rsyslogd -N1) does not compile them, so it would accept them. The patterns of C(re_match())
    are checked the same way.
  - A filter whose value is empty with an operator every message passes (C(contains),
    C(startswith), C(regex), C(ereregex) and the C(_i) forms) is refused (an unset variable?);
    write the selector C(*.*) to mean every message.
  - Before the file is replaced, the candidate is checked by the real C(rsyslogd -N1) inside a
    copy of the full configuration (O(main_config)) in which the candidate takes the target's
    place. A drop-in that only discards is therefore accepted (C(rsyslogd -N1 -f fragment)
    would wrongly refuse it for having no active action). When rsyslogd refuses, the task fails
    with its message and the file stays byte-for-byte as it was.
  - A file none of whose statements is a filter rule and one of which does not even begin as an
    rsyslog statement does (a link to C(/etc/shadow)) is refused before it is validated, without
    a word of it - C(rsyslogd)'s own refusal would quote it.
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
      - With C(action=forward) the keys C(target) (required; a host name or an IP address,
        written in lower case and IPv6 without brackets), C(port) (default V(514); V(0) is
        refused), C(protocol) (V(tcp) by default, or V(udp)), C(template), C(queue_file_name)
        (default derived from target, port, protocol and filter, so that no two forwards share
        a queue file), C(queue_max_disk_space) (default V(1g)) and C(queue_size) apply.
      - The same filter and destination given twice with other settings is refused.
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
  exclusive:
    description:
      - With O(state=present), also remove every other filter rule from O(path). Comments,
        directives and statements that are not filter rules are kept.
      - Refused with O(state=absent).
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
      - It must be a regular file (a link to one is followed) of at most 16 MiB, as O(path).
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
  description: The file before and after.
  returned: in diff mode
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

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.whotouched.server_audit.plugins.module_utils.managed_file import (
    FileValidationError,
    edit_merged_file,
    merged_file_argument_spec,
    regular_file_problem,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._rsyslog.merge import (
    merge_filter_rules,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._rsyslog.model import (
    FilterSyntaxError,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._rsyslog.requested import (
    checked_filter_rules,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._rsyslog.validate import (
    DEFAULT_MAIN_CONFIG,
    validate_drop_in,
)

ARGUMENT_SPEC = merged_file_argument_spec(
    filters=dict(type="list", elements="raw", default=[]),
    validate=dict(type="bool", default=True),
    main_config=dict(type="path", default=DEFAULT_MAIN_CONFIG),
)


def _validator(module):
    """``validate(candidate)`` by the real rsyslogd inside a copy of ``main_config``, or None
    with ``validate=false``.  rsyslogd is looked for only when there is a candidate."""
    params = module.params
    if not params["validate"]:
        return None

    def validate(candidate):
        problem = regular_file_problem(params["main_config"], "an rsyslog configuration file")
        if problem:
            raise FileValidationError("main_config: " + problem)
        rsyslogd = module.get_bin_path("rsyslogd", opt_dirs=["/usr/sbin", "/sbin"])
        if rsyslogd is None:
            raise FileValidationError("rsyslogd is not installed; it is needed to validate %s "
                                      "(install rsyslog or set validate: false)" % params["path"])
        try:
            validate_drop_in(module.run_command, rsyslogd, params["main_config"],
                             params["path"], candidate)
        except OSError as err:
            raise FileValidationError("cannot validate %s with main_config %s: %s"
                                      % (params["path"], params["main_config"], err))
    return validate


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True,
                           add_file_common_args=True)
    params = module.params
    rules, problems = checked_filter_rules(params["filters"], params["state"])
    if problems:
        module.fail_json(msg="; ".join(problems), problems=problems, changed=False)

    def merge(before):
        try:
            return merge_filter_rules(before, rules, params["state"], params["exclusive"])
        except FilterSyntaxError as err:
            module.fail_json(msg=str(err), changed=False)

    _merged, result = edit_merged_file(module, merge, "an rsyslog configuration file",
                                       validate=_validator(module))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
