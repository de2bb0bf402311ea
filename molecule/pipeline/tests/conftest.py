import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "shared"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from verify_support import platform_host as _platform  # noqa: E402
from pipeline_support import CLIENT, SERVER, sender_directory  # noqa: E402


@pytest.fixture(scope="session")
def client(request):
    """The audited host (real kernel audit, rsyslog_client)."""
    return _platform(request, CLIENT)


@pytest.fixture(scope="session")
def server(request):
    """The log server (rsyslog_server)."""
    return _platform(request, SERVER)


@pytest.fixture(scope="session")
def audit_file(server):
    """The server's file of the client's audit events: named by the address it connects from."""
    return sender_directory(server) + "/audit.log"
