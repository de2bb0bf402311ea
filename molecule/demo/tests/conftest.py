import os
import sys
from pathlib import Path

import pytest
import testinfra

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _platform(request, name):
    inventory = request.config.option.ansible_inventory or os.environ["MOLECULE_INVENTORY_FILE"]
    return testinfra.get_host(name, connection="ansible", ansible_inventory=inventory)


@pytest.fixture(scope="session")
def web(request):
    """The host whose commands the real kernel audits."""
    return _platform(request, "demo-web")


@pytest.fixture(scope="session")
def db(request):
    """The host the kernel refuses to audit (a container of its own PID namespace)."""
    return _platform(request, "demo-db")


@pytest.fixture(scope="session")
def logs(request):
    """The log server."""
    return _platform(request, "demo-logs")
