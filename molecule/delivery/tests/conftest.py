import os
import sys
from pathlib import Path

import pytest
import testinfra

sys.path.insert(0, str(Path(__file__).resolve().parent))


def platform(request, name):
    inventory = request.config.option.ansible_inventory or os.environ["MOLECULE_INVENTORY_FILE"]
    return testinfra.get_host(name, connection="ansible", ansible_inventory=inventory)


@pytest.fixture(scope="session")
def server(request):
    """The log server (rsyslog_server)."""
    return platform(request, "delivery-server")
