"""linux_audit on a container without the audit capabilities: every file as in the
linux_audit scenario, and the kernel really refused here (else this proves nothing)."""

# The linux_audit scenario's checks of the files, by meaning, run here as well.
from test_linux_audit import (  # noqa: F401 pylint: disable=unused-import
    test_auditd_conf_managed_keys,
    test_auditd_enabled_at_boot,
    test_exclusions_come_first,
    test_history_timestamps_for_login_shells,
    test_rules_file_holds_exactly_the_default_set,
    test_syslog_plugin_off_with_the_facility,
    test_the_kernels_backlog_is_set_first,
    test_the_loss_reporter_is_installed_and_enabled,
    test_watch_on_a_missing_directory_is_left_out,
)

CAP_AUDIT_WRITE = 29
CAP_AUDIT_CONTROL = 30


def capability_set(host, name):
    status = host.file("/proc/self/status").content_string
    line = next(line for line in status.splitlines() if line.startswith(name + ":"))
    return int(line.split()[1], 16)


def test_the_container_lacks_the_audit_capabilities(host):
    bounding = capability_set(host, "CapBnd")
    assert not bounding & (1 << CAP_AUDIT_CONTROL)
    assert not bounding & (1 << CAP_AUDIT_WRITE)


def test_auditctl_is_refused_here(host):
    result = host.run("auditctl -s")
    assert result.rc != 0
    assert "enabled" not in result.stdout


def test_installed_audit_is_version_4(host):
    # The plugin path the files above were checked at is audit 3+'s; this is 4.x.
    assert host.package("auditd").version.split(":")[-1].startswith("4.")


def test_auditd_not_running(host):
    assert not host.service("auditd").is_running


def test_the_loss_reporter_is_not_started_where_the_kernel_refuses(host):
    # enabled for the next boot like auditd, but nothing to read here
    assert not host.service("whotouched-audit-health").is_running
