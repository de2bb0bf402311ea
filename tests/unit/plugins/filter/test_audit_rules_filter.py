"""Which directory an audit rule needs on the host, whichever way it names its path."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.whotouched.server_audit.plugins.filter.audit_rules import (
    FilterModule,
    audit_rule_directory,
    audit_rule_problems,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._audit_rules.model import (
    RuleSyntaxError,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._audit_rules.parser import (
    required_directory,
)


@pytest.mark.parametrize("rule, directory", [
    # -w on a file: its directory; on a directory (trailing /): the directory itself
    ("-w /etc/shadow -p wa -k shadow", "/etc"),
    ("-w /etc/cron.d/ -p wa -k crontab", "/etc/cron.d"),
    ("-w /etc/ssh/sshd_config.d/ -p wa -k sshd-config", "/etc/ssh/sshd_config.d"),
    ("-w /etc/ssh/sshd_config -p wa -k sshd-config", "/etc/ssh"),
    ("-w /vmlinuz -p wa", "/"),
    ("-W /etc/shadow -p wa", "/etc"),
    # the syscall form of the same watches, valid auditctl
    ("-a always,exit -F arch=b64 -F path=/etc/shadow -F perm=wa -k shadow", "/etc"),
    ("-a exit,always -F path=/root/.ssh/ -F perm=wa -k root-ssh", "/root/.ssh"),
    ("-a always,exit -F dir=/etc/sudoers.d -F perm=wa -k sudoers", "/etc/sudoers.d"),
    ("-a always,exit -F dir=/etc/sudoers.d/ -F perm=wa -k sudoers", "/etc/sudoers.d"),
    ("-a always,exit -F arch=b64 -S openat -F path=/etc/ld.so.preload -F key=ld-preload", "/etc"),
    # rules that name no path need nothing
    ("-a always,exit -F arch=b64 -S init_module,finit_module -k modules", None),
    ("-a always,exit -F arch=b64 -S execve -F exe=/usr/bin/sudo -k sudo", None),
    ("-a never,exclude -F msgtype=CRYPTO_KEY_USER", None),
    ("-b 8192", None),
])
def test_directory_each_rule_needs(rule, directory):
    assert required_directory(rule) == directory
    assert audit_rule_directory(rule) == (directory or "")


@pytest.mark.parametrize("rule, word", [
    ("-w etc/shadow -p wa", "etc/shadow"),
    ("-a always,exit -F path=/etc/shadow -F perm=q", "perm=q"),
    ("/etc/shadow", "/etc/shadow"),
])
def test_a_rule_auditctl_refuses_is_an_error_naming_it(rule, word):
    with pytest.raises(RuleSyntaxError) as raised:
        required_directory(rule)
    assert raised.value.token == word
    with pytest.raises(AnsibleFilterError, match="audit_rule_directory: invalid audit rule"):
        audit_rule_directory(rule)


def test_a_valid_rule_set_has_no_problems():
    assert audit_rule_problems(["-b 8192", "-w /etc/passwd -p wa -k passwd",
                                "-a always,exit -F arch=b64 -S execve,execveat -k exec"]) == []


def test_each_problem_of_a_rule_set_is_named_on_the_controller():
    problems = audit_rule_problems(["-w /etc/passwd -p wz -k passwd", "-b 320",
                                    "-w /etc/shadow -p wa -k shadow", "-b 8192",
                                    "-a always,exit -F arch=b99 -S execve"])
    assert len(problems) == 3, problems
    assert problems[0].startswith('invalid audit rule "-w /etc/passwd -p wz -k passwd"')
    assert '(at "wz")' in problems[0]
    assert 'arch=b99' in problems[1]
    assert problems[2] == "-b is given twice with different values: -b 320, -b 8192"


def test_the_problems_filter_wants_a_list():
    with pytest.raises(AnsibleFilterError, match="expects a list of rules, got str"):
        audit_rule_problems("-w /etc/passwd -p wa")


def test_the_filters_are_registered():
    assert FilterModule().filters() == {"audit_rule_directory": audit_rule_directory,
                                        "audit_rule_problems": audit_rule_problems}
