"""What auditctl's answers mean: the kernel's status, and a refusal of audit requests; and
the rules auditctl refuses on a host, told without loading them."""

from __future__ import annotations

import pytest

from ansible_collections.whotouched.server_audit.plugins.module_utils._audit_rules.checks import (
    refused_here,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._audit_rules.kernel import (
    KernelAuditUnavailable,
    is_refusal,
    read_status,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._audit_rules.model import (
    DEFAULT_CONTEXT,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._audit_rules.parser import (
    parse_rule,
)

# (auditctl's message, does it say the kernel refuses us)
REFUSALS = [
    # a container without the host's PID namespace
    ("Error sending status request (Operation not permitted)", True),
    ("Permission denied", True),
    # audit 4.x without CAP_AUDIT_CONTROL: auditctl stops before asking the kernel
    ("You must be root to run this program.", True),
    ("Error sending add rule data request (No such file or directory)", False),
    ("Error sending add rule data request (Rule exists)", False),
    ("", False),
]


@pytest.mark.parametrize("message, refused", REFUSALS)
def test_refusal_is_recognised(message, refused):
    assert is_refusal(message) is refused


STATUS = "enabled 1\nfailure 1\npid 412\nrate_limit 0\nbacklog_limit 8192\nlost 0\nbacklog 0\n"


def test_status_of_a_kernel_that_answers():
    status = read_status(lambda argv: (0, STATUS, ""))
    assert status.enabled == 1 and not status.immutable
    assert status.values["backlog_limit"] == "8192"


@pytest.mark.parametrize("rc, out, err, reason", [
    (4, "", "You must be root to run this program.\n", "You must be root"),
    (255, "", "Error sending status request (Operation not permitted)", "Operation not permitted"),
    (1, "", "", "auditctl -s exited with 1"),
])
def test_status_refused_names_the_reason(rc, out, err, reason):
    with pytest.raises(KernelAuditUnavailable) as raised:
        read_status(lambda argv: (rc, out, err))
    assert reason in str(raised.value)
    assert is_refusal(str(raised.value)) is (rc != 1)


@pytest.mark.parametrize("text, refused", [
    ("-w /etc/passwd -p wa -k identity", False),
    ("-w /missing/passwd -p wa", True),  # the kernel refuses a watch whose directory is missing
    ("-w /etc/missing.d/ -p wa", True),  # a directory watch needs the directory itself
    ("-w /etc/missing.conf -p wa", False),  # a missing file in a directory that exists is fine
    ("-a always,exit -F arch=b64 -S openat -F dir=/missing -k x", True),
    ("-a always,exit -F arch=b64 -S openat -F uid=nobody_here -k x", True),
    ("-a always,exit -F arch=b64 -S openat -F auid=alice -F gid=staff -k x", False),
    ("-a always,exit -F arch=b64 -S openat -F gid=no_group -k x", True),
    ("-a always,exit -F arch=b64 -S execve -F auid>=1000 -k exec", False),
])
def test_a_rule_auditctl_refuses_here_is_told_without_loading_it(text, refused):
    directories = {"/etc", "/etc/audit"}
    names = {("uid", "alice"), ("auid", "alice"), ("gid", "staff")}
    assert refused_here(text, parse_rule(text), DEFAULT_CONTEXT, directories.__contains__,
                        lambda field, name: "1" if (field, name) in names else None) is refused
