"""What auditctl's answers mean: the kernel's status, and a refusal of audit requests."""

from __future__ import annotations

import pytest

from ansible_collections.whotouched.server_audit.plugins.module_utils._audit_rules.kernel import (
    KernelAuditUnavailable,
    is_refusal,
    read_status,
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
