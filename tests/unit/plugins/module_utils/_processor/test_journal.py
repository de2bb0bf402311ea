"""The processor's input journal: lines kept whole with absolute offsets, compacted without
changing them, a cut line dropped, anything but a journal refused."""

from __future__ import annotations

import os

import pytest

from ansible_collections.whotouched.server_audit.plugins.module_utils._processor.journal import (
    InputJournal,
    JournalError,
)

LINES = ["Nov 27 09:00:00 web01 192.0.2.10 type=SYSCALL msg=audit(1.0:1): a", "gr\u00f6\u00dfe \u2713",
         "", "x" * 3000, "last"]


def test_lines_come_back_from_any_offset_also_after_reopening(tmp_path):
    journal = InputJournal(str(tmp_path / "journal"))
    offsets = [journal.append(line) for line in LINES]
    assert list(journal.replay(0)) == list(zip(offsets, LINES))
    assert list(journal.replay(offsets[3])) == list(zip(offsets[3:], LINES[3:]))
    assert list(journal.replay(journal.end)) == [] and journal.last_line() == "last"
    journal.close()
    again = InputJournal(str(tmp_path / "journal"))
    assert list(again.replay(offsets[1])) == list(zip(offsets[1:], LINES[1:]))
    assert again.append("more") == journal.end
    again.close()


def test_compaction_drops_what_is_before_the_resume_point_and_keeps_the_offsets(tmp_path):
    path = tmp_path / "journal"
    journal = InputJournal(str(path), compact_bytes=100)
    offsets = [journal.append(line) for line in LINES]
    assert not journal.compact(offsets[1])  # too little to gain
    before = path.stat().st_size
    assert journal.compact(offsets[4])
    assert path.stat().st_size < before - 3000 and journal.base == offsets[4]
    assert list(journal.replay(0)) == [(offsets[4], "last")]
    assert journal.append("after") == offsets[4] + len("last") + 1
    journal.close()
    reopened = InputJournal(str(path))
    assert [line for _offset, line in reopened.replay(offsets[4])] == ["last", "after"]
    reopened.close()


def test_a_line_cut_by_a_crash_is_dropped(tmp_path):
    path = tmp_path / "journal"
    journal = InputJournal(str(path))
    journal.append("whole")
    journal.close()
    with open(path, "ab") as handle:
        handle.write(b"cut in the midd")
    reopened = InputJournal(str(path))
    assert [line for _offset, line in reopened.replay(0)] == ["whole"]
    reopened.append("next")
    assert [line for _offset, line in reopened.replay(0)] == ["whole", "next"]
    reopened.close()


@pytest.mark.parametrize("make, says", [
    (os.mkfifo, "not a regular file"),
    (lambda path: path.write_text("some other file\n"), "not a whotouched input journal"),
    (lambda path: path.symlink_to(path.parent / "elsewhere"), "cannot be opened"),
])
def test_anything_but_a_journal_is_refused_without_hanging(tmp_path, make, says):
    path = tmp_path / "journal"
    make(path)
    with pytest.raises(JournalError, match=says):
        InputJournal(str(path))
