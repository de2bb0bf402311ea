"""A private rsyslogd for the system tests: its own configuration, work directory and pid
file; nothing installed or started system-wide, listening on loopback only."""

from __future__ import annotations

import shutil
import socket
import subprocess
from contextlib import contextmanager

from tests.system.test_audit_events_kernel import wait_for

RSYSLOGD = shutil.which("rsyslogd") or "/usr/sbin/rsyslogd"


def connects(port):
    """Whether something accepts TCP connections on the loopback ``port``."""
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


@contextmanager
def private_rsyslogd(work, config, port):
    """rsyslogd running ``config`` (written to ``work``/rsyslog.conf, checked with -N1 first)
    until the block ends, once it accepts TCP on ``port``."""
    path = work / "rsyslog.conf"
    path.write_text(config)
    checked = subprocess.run([RSYSLOGD, "-N1", "-f", str(path)], capture_output=True, text=True,
                             check=False)
    assert checked.returncode == 0, checked.stderr
    daemon = subprocess.Popen([RSYSLOGD, "-n", "-f", str(path), "-i", str(work / "rsyslogd.pid")],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: connects(port), 30, "rsyslogd to listen")
        yield daemon
    finally:
        daemon.terminate()
        try:
            daemon.wait(30)
        except subprocess.TimeoutExpired:
            daemon.kill()
            daemon.wait()
