"""linux_audit's loss reporter (roles/linux_audit/files/whotouched-audit-health): what it
reads from the kernel's status and auditd's state report, and what it writes.  The system
and Molecule tests run it against the real kernel; these cover the arithmetic."""

from __future__ import annotations

import json
import random
import struct
import time
from types import SimpleNamespace
from importlib.machinery import SourceFileLoader
from importlib.util import module_from_spec, spec_from_loader
from pathlib import Path

import pytest

from ansible_collections.whotouched.server_audit.plugins.module_utils._events.loss import (
    LossReports,
    read_loss_report,
)

PROGRAM = Path(__file__).resolve().parents[3] / "roles" / "linux_audit" / "files" / "whotouched-audit-health"


def _load():
    loader = SourceFileLoader("whotouched_audit_health", str(PROGRAM))
    module = module_from_spec(spec_from_loader(loader.name, loader))
    loader.exec_module(module)
    return module


health = _load()
BOOT = "3f1e0c7a-0000-4000-8000-000000000001"


def test_the_kernel_status_is_read_field_by_field():
    values = (0, 1, 1, 812, 0, 8192, 17, 3, 0x7f, 60000, 12)
    status = health.parse_status(struct.pack("=11I", *values))
    assert status == dict(zip(health.STATUS_FIELDS, values))


def test_an_older_kernels_shorter_status_gives_the_fields_it_has():
    status = health.parse_status(struct.pack("=8I", 0, 1, 1, 812, 0, 320, 5, 0))
    assert status["lost"] == 5 and status["backlog_limit"] == 320
    assert "backlog_wait_time" not in status


@pytest.mark.parametrize("text, expected", [
    ("logging suspended = no\nplugin queue overflow detected = yes\n",
     {"logging_suspended": "no", "plugin_overflow": "yes"}),
    ("audit version = 3.0.9\ncurrent plugin queue depth = 0\n", {}),
    ("logging suspended = maybe\n", {}),
    ("", {}),
])
def test_auditd_state_report(text, expected):
    assert health.parse_daemon_state(text) == expected


@pytest.mark.parametrize("previous, total, expected_lost, expected_since, went_back", [
    # the first report of a boot: everything the kernel counted since it started
    ({}, 40, 40, 1000.0, False),
    # the counter grew since the last report of this boot
    ({"boot_id": BOOT, "time": 2000.0, "lost_total": 40}, 52, 12, 2000.0, False),
    # nothing lost since
    ({"boot_id": BOOT, "time": 2000.0, "lost_total": 40}, 40, 0, 2000.0, False),
    # auditctl --reset-lost put it back to 0: what it counts now is new, and more may be lost
    ({"boot_id": BOOT, "time": 2000.0, "lost_total": 40}, 3, 3, 2000.0, True),
    # the 32-bit counter went past 2**32: the same
    ({"boot_id": BOOT, "time": 2000.0, "lost_total": 2 ** 32 - 5}, 3, 3, 2000.0, True),
    # the report that said so may not have arrived: said again by the next one
    ({"boot_id": BOOT, "time": 2000.0, "lost_total": 0, "lost_total_reset": True}, 3, 3, 2000.0,
     True),
    # a report of another boot: the counter started again with that boot
    ({"boot_id": "another", "time": 500.0, "lost_total": 40}, 7, 7, 1000.0, False),
    # the last report counts from 30, where the one before began (the kernel lost records
    # while it was written), but the reporter saw 45: back at 40, the count was reset
    ({"boot_id": BOOT, "time": 2000.0, "lost_total": 30, "seen_total": 45, "era": 2}, 40, 40, 2000.0,
     True),
    ({"boot_id": BOOT, "time": 2000.0, "lost_total": 30, "seen_total": 45, "era": 2}, 45, 15, 2000.0,
     False),
])
def test_what_the_next_report_counts(previous, total, expected_lost, expected_since, went_back):
    report = health.next_report(previous, {"lost": total}, BOOT, now=3000.0, boot_time=1000.0)
    seen = previous.get("seen_total", previous.get("lost_total"))
    era = previous.get("era", 0) + (total < seen) if previous.get("boot_id") == BOOT else 0
    expected = {"boot_id": BOOT, "time": 3000.0, "since": expected_since,
                "lost": expected_lost, "lost_total": total, "era": era, "seen_total": total}
    assert report == (dict(expected, lost_total_reset=True) if went_back else expected)
    assert ("lost_total_reset=yes" in health.health_message(report, {}, {})) is went_back


@pytest.mark.parametrize("lost_per_write, said_again", [(0, False), (5, True)])
def test_a_count_gone_back_is_said_until_a_report_of_it_was_written_whole(
        tmp_path, monkeypatch, lost_per_write, said_again):
    kernel = _Kernel(lost=40, lost_per_write=0)
    monkeypatch.setattr(health, "AuditNetlink", lambda: kernel)
    state = str(tmp_path / "state.json")
    health.run(poll=0.01, interval=300.0, once=True, state_path=state)
    kernel.lost, kernel.lost_per_write = 3, lost_per_write  # auditctl --reset-lost, then more
    health.run(poll=0.01, interval=300.0, once=True, state_path=state)
    assert (kernel.records[-1]["lost"], kernel.records[-1].get("lost_total_reset")) == ("3", "yes")
    kernel.lost, kernel.lost_per_write = kernel.lost + 1, 0
    health.run(poll=0.01, interval=300.0, once=True, state_path=state)
    assert len(kernel.records) == 3
    assert (kernel.records[-1].get("lost_total_reset") == "yes") is said_again


@pytest.mark.parametrize("previous, state, expected", [
    ({}, {"plugin_overflow": "yes"}, "yes"),
    ({"plugin_overflow": "no"}, {"plugin_overflow": "yes"}, "yes"),
    # auditd goes on saying so until it restarts: said once, then "seen"
    ({"plugin_overflow": "yes"}, {"plugin_overflow": "yes"}, "seen"),
    ({"plugin_overflow": "seen"}, {"plugin_overflow": "yes"}, "seen"),
    ({"plugin_overflow": "seen"}, {"plugin_overflow": "no"}, "no"),
    ({"plugin_overflow": "yes"}, {}, "?"),
])
def test_a_plugin_queue_overflow_is_reported_once(previous, state, expected):
    assert health.plugin_overflow(previous, state) == expected


def test_the_record_text_says_what_was_lost_between_when_and_when():
    report = {"lost": 12, "lost_total": 52, "since": 2000.0, "time": 3000.0, "boot_id": BOOT,
              "plugin_overflow": "yes"}
    status = {"backlog": 3, "backlog_limit": 8192, "backlog_wait_time": 60000}
    text = health.health_message(report, status, {"logging_suspended": "no", "plugin_overflow": "yes"})
    assert text == ("op=whotouched-audit-health lost=12 lost_total=52 since=2000.000 backlog=3 "
                    "backlog_limit=8192 backlog_wait_time=60000 logging_suspended=no plugin_overflow=yes "
                    "boot=%s era=0 res=success" % BOOT.replace("-", "")[:8])


def test_unknown_daemon_state_is_written_as_unknown():
    report = health.next_report({}, {"lost": 0}, BOOT, now=10.0, boot_time=1.0)
    text = health.health_message(report, {}, {})
    assert "logging_suspended=? plugin_overflow=?" in text


@pytest.mark.parametrize("argv", [["--poll", "0"], ["--interval", "-5"]])
def test_bad_intervals_are_refused(argv, capsys):
    with pytest.raises(SystemExit) as stopped:
        health.main(argv)
    assert stopped.value.code == 2
    assert "--poll and --interval must be positive" in capsys.readouterr().err


@pytest.mark.parametrize("era, seen_total", [(-1, 40), (1.5, 40), (True, 40), ("2", 40), (2, 39), (2, "45")])
def test_an_era_or_a_count_seen_of_another_shape_is_forgotten(tmp_path, era, seen_total):
    path = tmp_path / "state.json"
    kept = {"boot_id": BOOT, "time": 1.0, "since": 1.0, "lost": 0, "lost_total": 40}
    path.write_text(json.dumps(dict(kept, era=era, seen_total=seen_total)), encoding="utf-8")
    previous = health.load_previous(str(path))
    assert ("era" in previous) is (era == 2) and ("seen_total" in previous) is (seen_total == 40)
    assert previous["lost_total"] == 40


def test_the_state_survives_a_restart_within_a_boot(tmp_path):
    path = str(tmp_path / "state.json")
    report = health.next_report({}, {"lost": 9}, BOOT, now=50.0, boot_time=1.0)
    health.save(path, report)
    assert health.load_previous(path) == report
    (tmp_path / "broken.json").write_text("{not json", encoding="utf-8")
    assert health.load_previous(str(tmp_path / "broken.json")) == {}
    assert health.load_previous(str(tmp_path / "absent.json")) == {}


@pytest.mark.parametrize("text", ["[]", "1", '"x"', "null", '{"lost_total": "40"}',
                                  '{"time": null}', '{"boot_id": 7, "time": 1, "since": 1, '
                                  '"lost": 0, "lost_total": 0}',
                                  '{"boot_id": "b", "time": 1, "since": 1, "lost": 0, '
                                  '"lost_total": -5}'])
def test_a_state_file_of_another_shape_counts_from_the_boot(tmp_path, text):
    """Valid JSON of the wrong shape had the daemon fail at every start (and report nothing)."""
    path = tmp_path / "state.json"
    path.write_text(text, encoding="utf-8")
    previous = health.load_previous(str(path))
    assert previous == {}
    report = health.next_report(previous, {"lost": 9}, BOOT, now=50.0, boot_time=1.0)
    assert (report["lost"], report["since"]) == (9, 1.0)
    assert health.report_due(previous, BOOT, 50.0, 300.0)


@pytest.mark.parametrize("age, boot, due", [
    (10.0, BOOT, False), (299.0, BOOT, False), (300.0, BOOT, True),
    (-86400.0, BOOT, True),  # the last report is dated a day after now: the clock went back
    (10.0, "another boot", True),
])
def test_a_report_is_due_every_interval_whatever_the_clock_did(age, boot, due):
    previous = {"boot_id": BOOT, "time": 10000.0, "since": 9000.0, "lost": 0, "lost_total": 3}
    assert health.report_due(previous, boot, 10000.0 + age, 300.0) is due


class _Kernel(object):
    """The kernel's side of the daemon's netlink socket: a lost counter that grows by
    ``lost_per_write`` as each record is written (the rate limit at work), or by the next of
    ``lost_at_writes`` at each write."""

    def __init__(self, lost, lost_per_write=0, lost_at_writes=()):
        self.lost, self.lost_per_write, self.records = lost, lost_per_write, []
        self.lost_at_writes = iter(lost_at_writes)
        self.written = []  # (epoch, text) of each record
        self.read = None  # the count the reporter read last

    def status(self):
        self.read = self.lost
        return {"lost": self.lost, "pid": 0}

    def write_record(self, text):
        self.records.append(dict(word.split("=", 1) for word in text.split()))
        self.written.append((time.time(), text))
        self.lost += next(self.lost_at_writes, self.lost_per_write)


def _reporter_and_kernel(tmp_path, monkeypatch, seed, looks=40):
    """The reporter's records over ``looks`` looks at a kernel that loses records between
    looks and while the records are written, its count reset to near 0 now and then
    (``auditctl --reset-lost``); how many it lost in all, and how many of them no report
    could tell: those counted after the last report before a reset."""
    rng = random.Random(seed)
    kernel = _Kernel(lost=0)
    monkeypatch.setattr(health, "AuditNetlink", lambda: kernel)
    state = str(tmp_path / "state.json")
    lost = untold = 0
    for look in range(looks):
        # reset below what the reporter read last, and not to the total it keeps (it would
        # see no change): the reporter can tell
        reset = rng.randint(0, max(0, min(60, (kernel.read or 0) - 1)))
        if rng.random() < 0.15 and reset < (kernel.read or 0) and reset != \
                health.load_previous(state).get("lost_total"):
            untold += kernel.lost - int(kernel.records[-1]["lost_total"])
            kernel.lost = reset
            lost += reset
        elif rng.random() < 0.6:
            grown = rng.randint(1, 50)
            kernel.lost, lost = kernel.lost + grown, lost + grown
        # the last look writes whole: it sees what the writes before it lost
        kernel.lost_per_write = rng.choice([0, 0, rng.randint(1, 5)]) if look < looks - 1 else 0
        before = kernel.lost
        health.run(poll=0.01, interval=300.0, once=True, state_path=state)
        lost += kernel.lost - before
    return kernel, lost, untold


def _read_at_the_log_server(written):
    reports = LossReports()
    return [reports.reading("192.0.2.10", None, epoch, read_loss_report("msg='%s'" % text))
            for epoch, text in written]


@pytest.mark.parametrize("seed", range(40))
def test_every_loss_the_reporter_saw_is_counted_once_at_the_log_server(tmp_path, monkeypatch, seed):
    """The reporter at work on a kernel that loses records, also while they are written, and
    whose count is reset; every report arrives (the lost ones are below): the log server
    counts all the kernel lost but what it counted after the last report before a reset,
    each record once."""
    kernel, lost, untold = _reporter_and_kernel(tmp_path, monkeypatch, seed)
    read = _read_at_the_log_server(kernel.written)
    assert sum(report["lost"] for report in read) == lost - untold


@pytest.mark.parametrize("seed", range(60))
def test_reports_lost_late_or_out_of_order_count_each_loss_once(tmp_path, monkeypatch, seed):
    """Any of the reports lost on the way, the others arriving in another order, some twice:
    the log server counts, of each era of the kernel's count, all from the lowest to the
    highest count that arrived (of the first report read, from where it counts: it is read
    as it says; of a later era, from 0), and says the count went back once for each era
    but the first one read (which says it if its first report does)."""
    kernel, _lost, _untold = _reporter_and_kernel(tmp_path, monkeypatch, seed)
    rng = random.Random(seed)
    arrived = [written for written in kernel.written if rng.random() < 0.7] or kernel.written[-1:]
    for _swap in range(len(arrived) // 2):
        one, other = rng.randrange(len(arrived)), rng.randrange(len(arrived))
        arrived[one], arrived[other] = arrived[other], arrived[one]
    arrived += rng.sample(arrived, min(len(arrived), 3))
    read = _read_at_the_log_server(arrived)
    lowest, highest = {}, {}
    for _epoch, text in arrived:
        words = dict(word.split("=", 1) for word in text.split())
        total, era = int(words["lost_total"]), words["era"]
        lowest[era] = min(lowest.get(era, total), total - int(words["lost"]))
        highest[era] = max(highest.get(era, 0), total)
    first_era = str(read[0]["era"])
    assert sum(report["lost"] for report in read) == sum(highest.values()) - lowest[first_era]
    # the first report read says it as the reporter wrote it
    told_by_first = {first_era} if "lost_total_reset=yes" in arrived[0][1] else set()
    assert sorted(str(report["era"]) for report in read if report["lost_total_reset"]) == sorted(
        set(highest) - {first_era} | told_by_first)


def test_a_reset_to_the_total_a_report_counts_from_is_seen(tmp_path, monkeypatch):
    """The first report was written while the kernel lost 5 records (it counts from 0 again
    next time, and saw 15); the count is then reset to 0, the total the next report counts
    from: a count gone back all the same, reported at once in a new era."""
    kernel = _Kernel(lost=10, lost_at_writes=[5])
    monkeypatch.setattr(health, "AuditNetlink", lambda: kernel)
    state = str(tmp_path / "state.json")
    health.run(poll=0.01, interval=300.0, once=True, state_path=state)
    kernel.lost = 0
    health.run(poll=0.01, interval=300.0, once=True, state_path=state)
    assert [(record["lost_total"], record["era"], record.get("lost_total_reset")) for record in kernel.records] == [
        ("10", "0", None), ("0", "1", "yes")]


@pytest.mark.parametrize("lost_per_write, since_second", [(0, "second"), (5, "first")])
def test_a_report_written_while_the_kernel_lost_records_is_counted_again(
        tmp_path, monkeypatch, lost_per_write, since_second):
    """Losses during the report's own write may have taken the report: the next one counts
    from where it began."""
    kernel = _Kernel(lost=10, lost_per_write=lost_per_write)
    monkeypatch.setattr(health, "AuditNetlink", lambda: kernel)
    state = str(tmp_path / "state.json")
    assert health.run(poll=0.01, interval=300.0, once=True, state_path=state) == 0
    first = kernel.records[-1]
    kernel.lost += 7
    assert health.run(poll=0.01, interval=300.0, once=True, state_path=state) == 0
    second = kernel.records[-1]
    if since_second == "first":
        assert second["since"] == first["since"]
        assert int(second["lost"]) == int(second["lost_total"]) == 10 + 5 + 7
    else:
        assert float(second["since"]) > float(first["since"])
        assert (int(second["lost"]), int(second["lost_total"])) == (7, 17)


def test_the_first_report_after_auditd_wrote_no_log_says_since_when(tmp_path, monkeypatch):
    """While auditd's logging is suspended no record is written, the reports neither: the
    reporter notes when it began and reports it as soon as auditd writes again."""
    kernel = _Kernel(lost=0, lost_per_write=0)
    monkeypatch.setattr(health, "AuditNetlink", lambda: kernel)
    states = iter(["no", "yes", "yes", "no", "no"])
    monkeypatch.setattr(health, "daemon_state", lambda _pid, wait=2.0: {
        "logging_suspended": next(states), "plugin_overflow": "no"})
    state = str(tmp_path / "state.json")
    looks = []
    for _look in range(5):
        looks.append(time.time())
        health.run(poll=0.01, interval=300.0, once=True, state_path=state)
    assert len(kernel.records) == 2  # the first report, and the one after the suspension
    first, after = kernel.records
    assert "logging_suspended_since" not in first
    # written with three decimals, so rounded either way by up to half a millisecond
    assert looks[1] - 0.0005 <= float(after["logging_suspended_since"]) <= looks[2] + 0.0005
    assert after["logging_suspended"] == "no"
    assert "unlogged_since" not in health.load_previous(state)


def test_a_report_the_kernel_may_have_dropped_is_said_again_with_its_plugin_overflow(tmp_path, monkeypatch):
    """The report that first says auditd's plugin queue overflowed is written while the kernel
    loses records: the next one says it again, and only a report written whole ends it."""
    kernel = _Kernel(lost=0, lost_at_writes=[0, 3, 0, 0])
    monkeypatch.setattr(health, "AuditNetlink", lambda: kernel)
    overflow = iter(["no", "yes", "yes", "yes"])
    monkeypatch.setattr(health, "daemon_state", lambda _pid, wait=2.0: {
        "logging_suspended": "no", "plugin_overflow": next(overflow)})
    state = str(tmp_path / "state.json")
    for _look in range(4):
        kernel.lost += 1  # a report is due at each look: the kernel lost one more
        health.run(poll=0.01, interval=300.0, once=True, state_path=state)
    assert [record["plugin_overflow"] for record in kernel.records] == ["no", "yes", "yes", "seen"]


def test_an_overflow_of_auditds_plugin_queue_is_reported_at_once(tmp_path, monkeypatch):
    """Nothing lost by the kernel and the last report just written: auditd saying its plugin
    queue overflowed makes a report due at the next look, once."""
    kernel = _Kernel(lost=0)
    monkeypatch.setattr(health, "AuditNetlink", lambda: kernel)
    overflow = iter(["no", "yes", "yes"])
    monkeypatch.setattr(health, "daemon_state", lambda _pid, wait=2.0: {
        "logging_suspended": "no", "plugin_overflow": next(overflow)})
    state = str(tmp_path / "state.json")
    for _look in range(3):
        health.run(poll=0.01, interval=300.0, once=True, state_path=state)
    assert [record["plugin_overflow"] for record in kernel.records] == ["no", "yes"]


def test_a_report_the_kernel_may_have_dropped_says_again_when_auditd_wrote_no_log(tmp_path, monkeypatch):
    kernel = _Kernel(lost=0, lost_at_writes=[0, 2, 0])
    monkeypatch.setattr(health, "AuditNetlink", lambda: kernel)
    states = iter(["no", "yes", "no", "no", "no"])
    monkeypatch.setattr(health, "daemon_state", lambda _pid, wait=2.0: {
        "logging_suspended": next(states), "plugin_overflow": "no"})
    state = str(tmp_path / "state.json")
    for _look in range(5):
        health.run(poll=0.01, interval=300.0, once=True, state_path=state)
    # the first report; the one after the suspension, written while the kernel lost two
    # records; the same said again; then nothing more is due
    assert len(kernel.records) == 3, kernel.records
    assert "logging_suspended_since" not in kernel.records[0]
    assert kernel.records[1]["logging_suspended_since"] == kernel.records[2]["logging_suspended_since"]
    assert (kernel.records[2]["lost"], kernel.records[2]["lost_total"]) == ("2", "2")
    assert "unlogged_since" not in health.load_previous(state)


@pytest.mark.parametrize("previous, total", [({}, 9), ({"boot_id": BOOT, "time": 2000.0, "lost_total": 40}, 3)])
def test_the_log_server_reads_what_the_reporter_writes(previous, total):
    report = health.next_report(previous, {"lost": total}, BOOT, now=3000.0, boot_time=1000.0)
    read = read_loss_report("msg='%s'" % health.health_message(report, {}, {}))
    assert (read["lost"], read["lost_total"], read["since"], read["lost_total_reset"], read["boot"]) == (
        report["lost"], total, report["since"], bool(previous), "3f1e0c7a")


class _Stop(Exception):
    pass


def _run_looks(tmp_path, monkeypatch, looks, answer):
    """The reporter's first ``looks`` looks, auditd's state answered by ``answer()``; the
    kernel's side and how many times auditd was asked."""
    kernel = _Kernel(lost=0, lost_per_write=0)
    monkeypatch.setattr(health, "AuditNetlink", lambda: kernel)
    asked = []
    monkeypatch.setattr(health, "daemon_state", lambda _pid, wait=2.0: asked.append(1) or answer())
    sleeps = iter(range(looks - 1))

    def sleep(_seconds):
        if next(sleeps, None) is None:
            raise _Stop()

    monkeypatch.setattr(health, "time", SimpleNamespace(time=time.time, sleep=sleep))
    with pytest.raises(_Stop):
        health.run(poll=5.0, interval=300.0, once=False, state_path=str(tmp_path / "state.json"))
    return kernel, len(asked)


def test_a_look_auditd_did_not_answer_does_not_stop_the_asking(tmp_path, monkeypatch):
    """Under load auditd may answer a look late: the reporter asks again at the next one and
    still sees the suspension (it once stopped asking until the next report, minutes on)."""
    answers = iter([{"logging_suspended": "no"}, {}, {}, {}, {"logging_suspended": "yes"},
                    {"logging_suspended": "no"}])
    kernel, asked = _run_looks(tmp_path, monkeypatch, 6, lambda: next(answers))
    assert asked == 6
    assert "logging_suspended_since" in kernel.records[-1], kernel.records


def test_an_auditd_that_never_answers_is_asked_at_the_first_looks_and_at_reports(tmp_path, monkeypatch):
    kernel, asked = _run_looks(tmp_path, monkeypatch, 10, dict)
    # three looks asked, and the first report (the only one due in ten looks)
    assert asked == health.UNANSWERED_LOOKS + 1 and len(kernel.records) == 1
