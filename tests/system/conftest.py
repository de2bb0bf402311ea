"""What the system tests share: one boot of the test guest (tests/support/guest.py).

Booting it costs half a minute and every command in it is slow, so every test that needs a
kernel of its own, systemd as PID 1 and journald uses this one machine.  Tests that lock its
audit rules (marked ``locks_guest``) run last; a test that needs the rules unlocked asks for
``unlocked_guest``, which reboots the guest without the lock when one was set.  One login
typed there (``recorded_sessions``) serves the tests of the sessions view and of the wall
screen's sessions.
"""

from __future__ import annotations

import os
import shutil

import pytest

from tests.support.guest import QEMU, Guest, build_image
from tests.support.login_sessions import record_sessions


def _missing_for_guest():
    if os.geteuid() != 0:
        return "needs root (builds the guest's root file system)"
    for tool in (QEMU, "qemu-img", "mmdebstrap", "socat", "ssh"):
        if not shutil.which(tool):
            return "%s is not installed (scripts/host-packages.sh installs it)" % tool
    return None


@pytest.fixture(scope="session")
def guest(tmp_path_factory):
    """The running test guest, shared by the whole session."""
    missing = _missing_for_guest()
    if missing:
        pytest.skip("the test guest " + missing)
    machine = Guest(build_image(), tmp_path_factory.mktemp("guest"))
    try:
        machine.boot()
        yield machine
    finally:
        machine.stop()


def pytest_configure(config):
    config.addinivalue_line("markers", "locks_guest: locks the test guest's audit rules (-e 2); runs last")


def pytest_collection_modifyitems(items):
    items.sort(key=lambda item: item.get_closest_marker("locks_guest") is not None)


@pytest.fixture(scope="module")
def unlocked_guest(guest):
    """The test guest, its audit rules not locked."""
    if guest.lock_files:
        guest.ssh("rm -f " + " ".join(guest.lock_files))
        guest.lock_files = []
        guest.reboot()
    return guest


@pytest.fixture(scope="session")
def recorded_sessions(guest, tmp_path_factory):
    """One real login on the test guest, typed and recorded once for every test that reads
    it (tests/support/login_sessions.py)."""
    return record_sessions(guest, tmp_path_factory.mktemp("sessions"))
