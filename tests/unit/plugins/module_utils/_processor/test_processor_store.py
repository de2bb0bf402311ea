"""The processor and its event store: a processor that dies at any point loses nothing and
stores nothing twice, a store it cannot write holds the input back instead of losing it, the
wall screen gets its history back; with SQLite and with ClickHouse (18.16 and current).
(Under the real rsyslogd: tests/system.)"""

from __future__ import annotations

import shutil
import sqlite3

import pytest

from ansible_collections.whotouched.server_audit.plugins.module_utils._processor import processor as processor_module
from ansible_collections.whotouched.server_audit.plugins.module_utils._processor.processor import (
    RETRY_LONGEST_SECONDS,
    RETRY_SECONDS,
    Processor,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._processor.wall_screen import (
    WallState,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._store.backends import (
    open_store,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._store.base import (
    StoreUnavailable,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._store.sqlite import (
    SqliteStore,
)
from tests.support.audit_records import exec_records, stored
from tests.support.clickhouse import CLICKHOUSE_ENGINES, new_database
from tests.support.event_store import processor_config


class Clock(object):
    def __init__(self, start=1000.0):
        self.value = start

    def __call__(self):
        return self.value


def command(serial, *argv, host="web01"):
    return stored(exec_records(list(argv), serial=serial,
                               epoch="1700000%03d.000" % serial), host=host)


@pytest.fixture(params=("sqlite",) + CLICKHOUSE_ENGINES)
def new_store(request):
    """Gives the settings of a new, empty store (SQLite: in the processor's directory)."""
    if request.param == "sqlite":
        return dict
    engine = request.getfixturevalue(request.param)
    return lambda: new_database(engine)


def start(tmp_path, clock=None, log=None, wall=None, store=None):
    return Processor(processor_config(tmp_path, wait_seconds=5, store=dict(store or {})),
                     workers=[], wall_state=wall, clock=clock or Clock(),
                     wall_clock=lambda: 1700000500.0,
                     log=(log.append if log is not None else lambda _message: None))


def argvs(tmp_path, store=None):
    settings = processor_config(tmp_path, store=dict(store or {}))["store"]
    if settings["backend"] == "sqlite" and not (tmp_path / "events.db").exists():
        return []
    reader = open_store(settings, readonly=True)
    try:
        return [event["argv"] for _arrived, event in reader.dump()]
    finally:
        reader.close()


def test_a_processor_killed_at_any_line_loses_nothing_and_stores_nothing_twice(
        tmp_path, new_store):
    # three commands, the second's records interleaved with the third's, and a fourth whose
    # last record comes only after the restart
    first, second, third, fourth = (command(1, "id"), command(2, "useradd", "eve"),
                                    command(3, "ls", "/srv"), command(4, "passwd", "eve"))
    lines = first + second[:2] + third + second[2:] + fourth[:-1]
    expected = [["id"], ["ls", "/srv"], ["useradd", "eve"], ["passwd", "eve"]]
    for kill_after in range(len(lines) + 1):
        work = tmp_path / str(kill_after)
        work.mkdir()
        store = new_store()
        processor = start(work, store=store)
        for index, line in enumerate(lines[:kill_after]):
            assert processor.handle_line(line)
            if index % 4 == 3:
                processor.commit()  # batches end anywhere
        # killed: no close; rsyslog offers the line it had no answer for, then the rest
        again = start(work, store=store)
        for line in lines[max(0, kill_after - 1):] + fourth[-1:]:
            assert again.handle_line(line)
        again.close()
        assert argvs(work, store) == expected, kill_after


def test_the_events_waiting_at_a_clean_stop_wait_in_the_journal_for_the_next_start(
        tmp_path, new_store):
    store = new_store()
    processor = start(tmp_path, store=store)
    for line in command(1, "id") + command(2, "whoami")[:-1]:
        processor.handle_line(line)
    processor.close()
    assert argvs(tmp_path, store) == [["id"]]
    again = start(tmp_path, store=store)
    assert again.assembler.pending == 1 and again.counts["replayed"] >= 4
    again.handle_line(command(2, "whoami")[-1])
    again.close()
    assert argvs(tmp_path, store) == [["id"], ["whoami"]]


@pytest.mark.parametrize("fails", [False, True], ids=["synced", "sync fails"])
def test_the_store_is_synced_to_the_disk_before_the_journal_forgets_lines(
        tmp_path, monkeypatch, fails):
    """SQLite writes its log's commits to the disk only at a checkpoint: before the journal
    drops the lines they came from, the store syncs them; when it cannot, the journal keeps
    them (a power cut then loses nothing the journal could not give again)."""
    synced, log = [], []
    real_sync = SqliteStore.sync

    def sync(store):
        synced.append(processor.journal.base)  # before any line was forgotten
        if fails:
            raise StoreUnavailable("store: its log cannot be synced to the disk: I/O error")
        real_sync(store)

    monkeypatch.setattr(SqliteStore, "sync", sync)
    processor = start(tmp_path, log=log)
    processor.journal.compact_bytes = 1
    for line in command(1, "id") + command(2, "whoami"):
        processor.handle_line(line)
    processor.commit()
    assert synced == [0]
    assert (processor.journal.base == 0) == fails
    assert [line for line in log if "synced" in line] == (
        ["store: its log cannot be synced to the disk: I/O error"] if fails else [])
    processor.close()
    assert argvs(tmp_path) == [["id"], ["whoami"]]


@pytest.fixture
def impatient_store(monkeypatch):
    """The processor's SQLite store waits 50 ms for another writer's lock, not 5 s."""
    monkeypatch.setattr(processor_module, "open_store", lambda settings: SqliteStore(
        settings["path"], settings["max_age_days"], settings["max_bytes"], busy_seconds=0.05))


@pytest.mark.usefixtures("impatient_store")
def test_a_locked_store_holds_the_input_back_until_it_can_be_written(tmp_path):
    clock, log = Clock(), []
    processor = start(tmp_path, clock, log)
    processor.handle_line(command(1, "id")[0])
    holder = sqlite3.connect(str(tmp_path / "events.db"), isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        for line in command(1, "id")[1:]:
            assert processor.handle_line(line)  # in the journal: confirmed
        processor.tick()  # the commit fails: from now on lines are refused
        assert processor.trouble and "locked" in processor.trouble
        refused = command(2, "whoami")
        assert not processor.handle_line(refused[0])
        clock.value += RETRY_SECONDS
        assert not processor.handle_line(refused[0])  # tried again, still locked
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    clock.value += RETRY_SECONDS
    # after a second failure the next try waits twice as long: not tried yet
    assert not processor.handle_line(refused[0]) and processor.trouble
    clock.value += RETRY_SECONDS
    for line in refused:  # rsyslog offers them again
        assert processor.handle_line(line)
    processor.close()
    assert argvs(tmp_path) == [["id"], ["whoami"]]
    assert [message for message in log if "refused" in message] != []
    assert any("work again" in message for message in log)


@pytest.mark.usefixtures("impatient_store")
def test_the_store_is_tried_again_less_and_less_often_and_at_once_after_it_worked(tmp_path):
    clock = Clock()
    processor = start(tmp_path, clock)
    holder = sqlite3.connect(str(tmp_path / "events.db"), isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    pauses = []
    try:
        for line in command(1, "id"):
            assert processor.handle_line(line)
        processor.tick()  # the commit fails
        for _try in range(6):
            pause = processor._retry_at - clock.value
            pauses.append(pause)
            clock.value += pause - 1
            assert not processor.handle_line(command(2, "whoami")[0])  # refused, not tried
            assert processor._retry_at - clock.value == 1
            clock.value += 1
            assert not processor.handle_line(command(2, "whoami")[0])  # tried: still locked
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert pauses == [5, 10, 20, 40, 60, 60]
    clock.value += RETRY_LONGEST_SECONDS
    for line in command(2, "whoami"):
        assert processor.handle_line(line)
    assert processor.trouble is None and processor._failures == 0
    processor.close()
    assert argvs(tmp_path) == [["id"], ["whoami"]]


def test_a_corrupt_store_is_named_refused_and_taken_again_once_moved_away(tmp_path):
    first = start(tmp_path)
    for line in command(1, "id"):
        first.handle_line(line)
    first.close()
    shutil.move(str(tmp_path / "events.db"), str(tmp_path / "saved.db"))
    (tmp_path / "events.db").write_bytes(b"garbage " * 2000)
    clock, log = Clock(), []
    processor = start(tmp_path, clock, log)
    assert "not a database" in processor.trouble and "move it away" in processor.trouble
    assert not processor.handle_line(command(2, "whoami")[0])
    assert (tmp_path / "events.db").read_bytes() == b"garbage " * 2000
    (tmp_path / "events.db").unlink()
    clock.value += RETRY_SECONDS
    for line in command(2, "whoami"):
        assert processor.handle_line(line)
    processor.close()
    # a new store: what the journal still held (not compacted yet), and what came after
    assert argvs(tmp_path) == [["id"], ["whoami"]]
    assert any("not a database" in message for message in log)


def test_the_wall_screen_shows_the_same_after_a_restart(tmp_path, new_store):
    store = new_store()
    now = Clock(1700000500.0)
    wall = WallState(now=now)
    processor = start(tmp_path, wall=wall, store=store)
    for serial, argv in enumerate((["id"], ["auditctl", "-D"], ["auditctl", "-D"],
                                   ["cat", "/etc/shadow"]), 1):
        for line in command(serial, *argv, host="db%02d" % (serial % 2)):
            processor.handle_line(line)
    processor.close()
    before = wall.snapshot()
    assert before["seen"] == 4 and before["open"]
    restored = WallState(now=now)
    start(tmp_path, wall=restored, store=store).close()
    after = restored.snapshot()
    for shown in (before, after):
        for row in shown["events"]:
            row.pop("seen")
    assert after == before
