import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "shared"))


@pytest.fixture
def rsyslogd_identity(host):
    """The user and group the running rsyslogd has, after any privilege drop."""
    pid = host.check_output("systemctl show --property=MainPID --value rsyslog").strip()
    user, group = host.check_output("ps -o user=,group= -p %s", pid).split()
    return user, group
