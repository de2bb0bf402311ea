"""The JSON-lines event store: one object per line, ASCII only, rotation by size."""

from __future__ import annotations

import json
import os

import pytest

from ansible_collections.whotouched.server_audit.plugins.module_utils._store.base import (
    EventStore,
    EventStoreError,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._store.jsonl import (
    JsonLinesStore,
    read_store,
)


def test_events_are_appended_one_json_object_per_line(tmp_path):
    path = str(tmp_path / "store" / "events.jsonl")
    store = JsonLinesStore(path, fsync_seconds=0)
    assert isinstance(store, EventStore)
    hostile = {"argv": ["echo", "\x1b[2J<b>\u202e\n", "caf\u00e9"], "level": "high"}
    store.append(hostile)
    store.append({"argv": ["ls"], "level": "info"})
    store.close()
    raw = open(path, "rb").read()
    assert raw.count(b"\n") == 2
    assert all(32 <= byte < 127 for byte in raw.replace(b"\n", b""))
    assert read_store(path) == [hostile, {"argv": ["ls"], "level": "info"}]
    assert os.stat(path).st_mode & 0o777 == 0o640
    assert store.counts == {"stored": 2, "rotations": 0}


def test_an_existing_store_is_appended_to(tmp_path):
    path = str(tmp_path / "events.jsonl")
    for number in range(3):
        store = JsonLinesStore(path)
        store.append({"n": number})
        store.close()
    assert [event["n"] for event in read_store(path)] == [0, 1, 2]


def test_rotation_keeps_n_files_and_loses_no_line_before_the_oldest(tmp_path):
    path = str(tmp_path / "events.jsonl")
    store = JsonLinesStore(path, max_bytes=4096, keep=3)
    line_bytes = len(json.dumps({"n": 0, "pad": "x" * 1000}, separators=(",", ":"))) + 1
    per_file = 4096 // line_bytes
    total = per_file * 6 + 1
    for number in range(total):
        store.append({"n": number, "pad": "x" * 1000})
    store.close()
    files = store.files()
    assert files == [path] + ["%s.%d" % (path, number) for number in (1, 2, 3)]
    assert all(os.path.getsize(name) <= 4096 for name in files)
    kept = [event["n"] for name in reversed(files) for event in read_store(name)]
    assert kept == list(range(total - len(kept), total))
    assert len(kept) == per_file * 3 + 1
    assert store.counts["rotations"] == 6


@pytest.mark.parametrize("args, says", [
    (("relative/events.jsonl",), "absolute"),
    (("/tmp/x.jsonl", 10), "max_bytes"),
    (("/tmp/x.jsonl", 4096, 0), "keep"),
])
def test_bad_settings_are_named(args, says):
    with pytest.raises(EventStoreError, match=says):
        JsonLinesStore(*args)


def test_a_commit_writes_the_batch_then_its_resume_point_and_known_events_are_named(tmp_path):
    path = str(tmp_path / "events.jsonl")
    store = JsonLinesStore(path)
    first = {"address": "192.0.2.10", "node": None, "epoch": 1.5, "serial": 7, "argv": ["id"]}
    second = dict(first, serial=8)
    store.add(first, 1.0, "rules")
    store.rollback()
    assert store.resume_point() is None
    store.add(first, 1.0, "rules")
    store.commit(40)
    store.close()
    again = JsonLinesStore(path)
    assert again.resume_point() == 40 and read_store(path) == [first]
    assert again.known([second, first]) == {1}
    assert not again.answers_questions
    again.close()
