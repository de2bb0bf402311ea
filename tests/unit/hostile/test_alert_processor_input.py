"""The alert processor given what a compromised client sends and what a careless admin names:
it reads the same lines as the report (A1), and the files its settings name may be links,
FIFOs or devices.
"""

from __future__ import annotations

import os
import stat
import threading

import pytest

from ansible_collections.whotouched.server_audit.plugins.module_utils._processor.processor import (
    Processor,
    main,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._processor.settings import (
    ProcessorConfigError,
    read_config,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._store.base import (
    EventStoreError,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._store.jsonl import (
    JsonLinesStore,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._store.base import (
    StoreUnavailable,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._store.sqlite import (
    SqliteStore,
)
from tests.support.audit_records import exec_records, stored
from tests.support.event_store import processor_config, stored_events

# Not a time limit: how long a hung call is waited for before the test says so.
HANG = 60


def _returns(function, *args):
    """``function(*args)`` (or what it raised), failing the test when it does not return."""
    outcome = {}

    def call():
        try:
            outcome["value"] = function(*args)
        except BaseException as error:  # pylint: disable=broad-except
            outcome["error"] = error

    worker = threading.Thread(target=call, daemon=True)
    worker.start()
    worker.join(HANG)
    assert outcome, "%s%r did not return: it hangs" % (function.__name__, args)
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def test_a_forged_stamp_neither_stops_the_processor_nor_hides_the_events_around_it(tmp_path):
    processor = Processor(processor_config(tmp_path), workers=[], log=lambda message: None)
    forged = "Nov 14 22:13:20 web01 192.0.2.10 type=X msg=audit(99999999999999999999999.0:1): x=1"
    lines = (stored(exec_records(["id"], serial=1)) + [forged]
             + stored(exec_records(["whoami"], serial=2, epoch="1700000001.000"))
             + ["Nov 14 22:13:20 web01 192.0.2.10 type=SYSCALL msg=audit(1.%s:3): a=1"
                % ("9" * 400)])
    for line in lines:
        processor.handle_line(line)
    processor.tick()
    processor.close(drain_seconds=0)
    assert [event["argv"] for event in stored_events(tmp_path / "events.db")] == \
        [["id"], ["whoami"]]
    assert processor.assembler.counts["malformed"] == 2
    assert processor.counts["errors"] == 0


@pytest.mark.parametrize("make, says", [
    (lambda path: os.symlink(path.parent / "elsewhere", path), "is a symbolic link"),
    (os.mkfifo, "is a FIFO, not a file"),
    (lambda path: path.mkdir(), "Is a directory"),
])
def test_a_store_path_that_is_a_link_a_fifo_or_a_directory_is_refused(tmp_path, make, says):
    path = tmp_path / "events.jsonl"
    make(path)
    with pytest.raises((EventStoreError, OSError)) as raised:
        _returns(JsonLinesStore, str(path))
    assert says in str(raised.value)
    assert not (tmp_path / "elsewhere").exists()


@pytest.mark.parametrize("make", [os.mkfifo, lambda path: path.mkdir()])
def test_an_sqlite_store_path_that_is_a_fifo_or_a_directory_is_refused(tmp_path, make):
    path = tmp_path / "events.db"
    make(path)
    with pytest.raises(StoreUnavailable, match="is not a regular file"):
        _returns(SqliteStore, str(path))


@pytest.mark.needs_root
@pytest.mark.skipif(os.geteuid() != 0, reason="needs root (mknod of a character device)")
def test_a_store_path_that_is_a_device_is_refused(tmp_path):
    path = tmp_path / "events.jsonl"
    os.mknod(path, stat.S_IFCHR | 0o600, os.makedev(1, 3))  # /dev/null's numbers
    with pytest.raises(EventStoreError, match="is not a regular file"):
        JsonLinesStore(str(path))


def test_a_configuration_that_is_a_fifo_stops_the_start_with_its_name(tmp_path, capsys):
    config = tmp_path / "alert-processor.json"
    os.mkfifo(config)
    assert _returns(main, ["--check", str(config)]) == 2
    assert "cannot start with %s: %s is a FIFO, not a processor configuration file" % (config, config) \
        in capsys.readouterr().err


def test_a_ca_file_that_is_a_fifo_is_refused(tmp_path):
    fifo = tmp_path / "ca.pem"
    os.mkfifo(fifo)
    with pytest.raises(ProcessorConfigError) as raised:
        read_config({"webhooks": [{"url": "https://127.0.0.1/", "ca_file": str(fifo)}]})
    assert str(raised.value) == "webhooks[0].ca_file %r is not a regular file" % str(fifo)
