import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "shared"))

from verify_support import platform_host as platform  # noqa: E402


@pytest.fixture(scope="session")
def server(request):
    """The log server (rsyslog_server)."""
    return platform(request, "delivery-server")
