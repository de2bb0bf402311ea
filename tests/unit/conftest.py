"""The ClickHouse engines the store's, the processor's and the role's tests run on: Debian's
clickhouse-server (18.16) as a real server process, and chdb (a current release) behind the
HTTP interface; each started once, each test in a database of its own
(``tests.support.clickhouse.new_database``).

Property tests run without hypothesis' time limit per example (200 ms): a busy machine
stalls a few milliseconds' example past it now and then, which says nothing of the code.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import settings

settings.register_profile("whotouched", deadline=None)
settings.load_profile("whotouched")

from tests.support.clickhouse import CLICKHOUSE_ENGINES, SERVER, ChdbHttp, ClickHouseServer


@pytest.fixture(scope="session")
def clickhouse_server(tmp_path_factory):
    if not os.access(SERVER, os.X_OK):
        pytest.skip("no clickhouse-server: scripts/host-packages.sh installs Debian's package")
    server = ClickHouseServer(tmp_path_factory.mktemp("clickhouse"))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def chdb_engine():
    pytest.importorskip("chdb", reason="chdb, a test dependency (requirements-dev.txt), is "
                                       "not installed")
    engine = ChdbHttp()
    yield engine
    engine.stop()


@pytest.fixture(params=CLICKHOUSE_ENGINES)
def clickhouse(request):
    """Each ClickHouse engine in turn."""
    return request.getfixturevalue(request.param)
