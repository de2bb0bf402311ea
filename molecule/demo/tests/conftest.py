import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "shared"))

from verify_support import platform_host as _platform  # noqa: E402


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
