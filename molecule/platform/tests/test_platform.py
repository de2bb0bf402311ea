"""The container platform every scenario stands on."""

import re


def test_systemd_is_pid_1(host):
    assert host.file("/proc/1/comm").content_string.strip() == "systemd"


def test_systemd_finished_booting(host):
    state = host.run("systemctl is-system-running").stdout.strip()
    assert state in ("running", "degraded"), state
    failed = host.run("systemctl --failed --no-legend --plain").stdout
    assert failed.strip() == "", f"failed units: {failed}"


def test_python_present(host):
    version = host.run("python3 -c 'import sys; print(sys.version_info[:2])'")
    assert version.rc == 0
    major, minor = (int(n) for n in re.findall(r"\d+", version.stdout)[:2])
    assert (major, minor) >= (3, 8)


def test_audit_capabilities_granted(host):
    # CapEff of PID 1 as hex: AUDIT_WRITE=29, AUDIT_CONTROL=30, AUDIT_READ=37.
    status = host.file("/proc/1/status").content_string
    effective = int(re.search(r"^CapEff:\s*([0-9a-f]+)$", status, re.M).group(1), 16)
    for bit in (29, 30, 37):
        assert effective & (1 << bit), f"capability bit {bit} missing"


def test_not_privileged(host):
    # Without --privileged, /dev holds no host block devices.
    assert not host.file("/dev/mem").exists
