import os
import sys
from pathlib import Path

import pytest
import testinfra

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "shared"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from pipeline_support import CLIENT, SERVER, sender_directory  # noqa: E402


def _platform(request, name):
    inventory = request.config.option.ansible_inventory or os.environ["MOLECULE_INVENTORY_FILE"]
    return testinfra.get_host(name, connection="ansible", ansible_inventory=inventory)


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
