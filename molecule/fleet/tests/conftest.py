import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "shared"))

from verify_support import platform_host  # noqa: E402


def _platform_fixture(name, doc):
    @pytest.fixture(scope="session")
    def platform(request):
        return platform_host(request, name)
    platform.__doc__ = doc
    return platform


store = _platform_fixture("fleet-clickhouse", "The ClickHouse container.")
site_a = _platform_fixture("fleet-site-a", "Site a's log server.")
site_b = _platform_fixture("fleet-site-b", "Site b's log server.")
client_a = _platform_fixture("fleet-client-a", "Audited from converge on, forwarding to site-a.")
client_b = _platform_fixture("fleet-client-b", "Forwarding to site-b; audited once test_fleet hands it the kernel.")
