"""What a sender lost, as its loss reporter tells it; and a copy of an event sent again."""

from __future__ import annotations

import pytest

from ansible_collections.whotouched.server_audit.plugins.module_utils._events.assembler import (
    EventAssembler,
    iter_events,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._events.loss import (
    LossReports,
    describe_loss,
    loses,
    read_loss_report,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._events.report import (
    EventFilter,
    build_report,
    format_table,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._events.risk import (
    compile_risk_rules,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._events.risk_rules import (
    SHIPPED_RISK_RULES,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._events.schema import (
    EVENT_KEYS,
)
from tests.support.audit_records import exec_records, stored

# As the kernel writes the reporter's record (auditd's ENRICHED names after 0x1d), and as
# the log server stores it (runcmdformat, 0x1d escaped by rsyslog).
RAW = ("type=USER msg=audit(1764928000.123:77): pid=726 uid=0 auid=4294967295 ses=4294967295 "
       "subj=unconfined msg='op=whotouched-audit-health lost=%s lost_total=52 since=1764927700.000 "
       "backlog=0 backlog_limit=8192 backlog_wait_time=60000 logging_suspended=%s plugin_overflow=%s "
       "res=success'\x1dUID=\"root\" AUID=\"unset\"")
STORED = "Dec  5 09:59:33 web01 192.0.2.10 " + RAW.replace("\x1d", "#035")


def report_line(lost="12", suspended="no", overflow="no", stored=False):
    return (STORED if stored else RAW) % (lost, suspended, overflow)


@pytest.mark.parametrize("line, kind, loss", [
    (report_line(), "loss", {"lost": 12, "lost_total": 52, "since": 1764927700.0,
                             "logging_suspended": False, "plugin_overflow": False}),
    (report_line(stored=True), "loss", {"lost": 12, "lost_total": 52, "since": 1764927700.0,
                                        "logging_suspended": False, "plugin_overflow": False}),
    (report_line("0"), "health", {"lost": 0, "lost_total": 52, "since": 1764927700.0,
                                  "logging_suspended": False, "plugin_overflow": False}),
    (report_line("0", suspended="yes"), "loss", {"lost": 0, "lost_total": 52, "since": 1764927700.0,
                                                 "logging_suspended": True, "plugin_overflow": False}),
    # said once by the reporter; "seen" afterwards is no new overflow
    (report_line("0", overflow="yes"), "loss", {"lost": 0, "lost_total": 52, "since": 1764927700.0,
                                                "logging_suspended": False, "plugin_overflow": True}),
    (report_line("0", overflow="seen"), "health", {"lost": 0, "lost_total": 52, "since": 1764927700.0,
                                                   "logging_suspended": False, "plugin_overflow": False}),
])
def test_a_report_becomes_one_event_at_once(line, kind, loss):
    (event,) = iter_events([line])
    assert (event["kind"], event["loss"]) == (
        kind, dict(loss, unlogged_since=None, lost_total_reset=False, boot=None, era=None))
    assert set(event) == EVENT_KEYS
    assert event["complete"] is True and event["serial"] == 77


def test_other_user_records_are_no_report():
    line = ("type=USER msg=audit(1764928000.123:78): pid=9 uid=0 auid=1000 ses=3 "
            "msg='text from auditctl -m exe=\"/usr/sbin/auditctl\" res=success'")
    (event,) = iter_events([line])
    assert event["kind"] == "user" and event["loss"] is None
    assert read_loss_report("op=whotouched-audit-healthy lost=3") is None


@pytest.mark.parametrize("lost, since, expected_lost, expected_since", [
    ("99999999999999999999999", "1764927700", 0, 1764927700.0),   # not a count
    ("-5", "1764927700", 0, 1764927700.0),
    ("12", "nan", 12, None),
    ("12", "inf", 12, None),
    ("12", "-1", 12, None),
    ("12", "1e300", 12, None),
    ("1a2", "x", 0, None),
])
def test_forged_numbers_are_read_within_bounds(lost, since, expected_lost, expected_since):
    report = read_loss_report("msg='op=whotouched-audit-health lost=%s lost_total=%s since=%s res=success'"
                              % (lost, lost, since))
    assert (report["lost"], report["since"]) == (expected_lost, expected_since)
    describe_loss(report, 1764928000.0)  # never fails, whatever was forged


def test_what_people_read():
    report = read_loss_report(report_line("12", suspended="yes", overflow="yes"))
    assert loses(report)
    assert describe_loss(report, 1764928000.123) == (
        "lost 12 audit events between 2025-12-05 09:41:40 and 2025-12-05 09:46:40 (kernel backlog full "
        "or rate limit); auditd is not writing its log (disk full?): events are being lost; auditd's "
        "queue to its plugins overflowed (events lost for the plugins)")


def test_the_report_shows_losses_as_high_and_counts_heartbeats_apart(tmp_path):
    log = tmp_path / "audit.log"
    log.write_text("\n".join([report_line("0", stored=True),
                              report_line("12", stored=True).replace(":77)", ":80)").replace(
                                  "lost_total=52", "lost_total=64")]) + "\n")
    events, counts = build_report([str(log)], compile_risk_rules(SHIPPED_RISK_RULES), EventFilter())
    (event,) = events
    assert (event["kind"], event["level"], event["rules"]) == ("loss", "high", ["events-lost"])
    assert counts["health_reports"] == 1
    (_header, line) = format_table(events)
    assert "web01/192.0.2.10" in line and "lost 12 audit events between" in line


def test_an_event_sent_twice_is_given_out_once():
    lines = exec_records(["id"]) + exec_records(["id"])
    assembler = EventAssembler()
    events = list(iter_events(lines, assembler))
    assert len(events) == 1
    assert assembler.counts["duplicates"] == 1 and assembler.counts["events"] == 1


def test_the_same_serial_from_two_senders_is_two_events():
    lines = exec_records(["id"])
    stored = ["Dec  5 09:59:33 %s %s %s" % (name, address, line)
              for name, address in (("web01", "192.0.2.10"), ("web02", "192.0.2.11")) for line in lines]
    assert [event["address"] for event in iter_events(stored)] == ["192.0.2.10", "192.0.2.11"]


def test_what_is_remembered_for_duplicates_stays_bounded():
    assembler = EventAssembler(remember=3)
    for serial in range(10):
        list(iter_events([report_line("0").replace(":77)", ":%d)" % serial)], assembler))
    assert len(assembler._given_out) == 3  # pylint: disable=protected-access


def report(serial, epoch, lost, total, since, host="web01", address="192.0.2.10", boot=None,
           reset=False, era=None):
    """A reporter's record as the log server stores it (``boot``, ``era``: as reporters that
    say them)."""
    return ("Dec  5 09:59:33 %s %s type=USER msg=audit(%d.000:%d): pid=726 uid=0 "
            "auid=4294967295 ses=4294967295 msg='op=whotouched-audit-health lost=%d "
            "lost_total=%d since=%d.000 backlog=0 backlog_limit=8192 backlog_wait_time=60000 "
            "logging_suspended=no plugin_overflow=no %s%s%sres=success'"
            % (host, address, epoch, serial, lost, total, since,
               "lost_total_reset=yes " if reset else "", "boot=%s " % boot if boot else "",
               "era=%d " % era if era is not None else ""))


T = 1764928000
# (the reports that arrived, what the log server reads of each: (lost, since))
SEQUENCES = {
    "every report arrived": (
        [report(1, T, 0, 0, T - 300), report(2, T + 5, 40, 40, T), report(3, T + 10, 2, 42, T + 5)],
        [(0, T - 300), (40, T), (2, T + 5)]),
    # the report of T + 5 (5000 lost) was dropped by the rate limit it reported
    "a report did not arrive": (
        [report(1, T, 0, 0, T - 300), report(3, T + 10, 1, 5001, T + 5)],
        [(0, T - 300), (5001, T)]),
    # the reporter could not tell whether its report of T + 5 was written: it counted again
    # from T (5000 + 7), though that report did arrive
    "a reporter counted again from an earlier report": (
        [report(1, T, 0, 0, T - 300), report(2, T + 5, 5000, 5000, T),
         report(3, T + 10, 5007, 5007, T)],
        [(0, T - 300), (5000, T), (7, T + 5)]),
    # a reboot (counted from the boot), then auditctl --reset-lost (counted from 0)
    "another boot, then a reset": (
        [report(1, T, 9, 900, T - 300), report(2, T + 600, 30, 30, T + 500),
         report(3, T + 900, 4, 4, T + 600)],
        [(9, T - 300), (30, T + 500), (4, T + 600)]),
    # another boot that lost more than the last total: counted from the boot, not the report
    "another boot that lost more": (
        [report(1, T, 0, 10, T - 300), report(2, T + 600, 50, 50, T + 500)],
        [(0, T - 300), (50, T + 500)]),
    # the sender's clock went back an hour after the report of T: later reports are dated
    # before it, and still counted once each
    "the sender's clock went back": (
        [report(1, T, 0, 0, T - 300), report(2, T - 3600, 7, 7, T), report(3, T - 3595, 2, 9, T - 3600)],
        [(0, T - 300), (7, T), (2, T - 3600)]),
}


@pytest.mark.parametrize("name", sorted(SEQUENCES))
def test_each_loss_is_read_once_from_the_totals_whatever_reports_arrived(name):
    lines, expected = SEQUENCES[name]
    events = list(iter_events(lines, EventAssembler(wait_seconds=0)))
    assert [(event["loss"]["lost"], event["loss"]["since"]) for event in events] == expected
    assert [event["kind"] for event in events] == [
        "loss" if lost else "health" for lost, _since in expected]


B1, B2 = "3f2504e0", "9b1deb4d"
# the reports that arrived, what the log server reads of each: (lost, since, lost_total_reset)
GONE_BACK = {
    # auditctl --reset-lost; the report that said so did not arrive, the next one (counted
    # again from where it began) says so again, and the count is past the old total
    "a reset's report lost, the count past the old total": (
        [report(1, T, 40, 40, T - 300, boot=B1), report(3, T + 10, 51, 51, T, boot=B1, reset=True)],
        [(40, T - 300, False), (51, T, True)]),
    # the report that said so was lost on the way (not by the kernel): the next says nothing
    "a reset's report lost on the way": (
        [report(1, T, 40, 40, T - 300, boot=B1), report(3, T + 10, 1, 4, T + 5, boot=B1)],
        [(40, T - 300, False), (4, T, True)]),
    # both arrived: the repeat's window is exact
    "a reset said twice": (
        [report(1, T, 40, 40, T - 300, boot=B1), report(2, T + 5, 3, 3, T, boot=B1, reset=True),
         report(3, T + 10, 5, 5, T, boot=B1, reset=True)],
        [(40, T - 300, False), (3, T, True), (2, T + 5, False)]),
    "a reboot": (
        [report(1, T, 40, 40, T - 300, boot=B1), report(2, T + 600, 3, 3, T + 500, boot=B2)],
        [(40, T - 300, False), (3, T + 500, False)]),
    "reporters that do not say their boot": (
        [report(1, T, 40, 40, T - 300), report(2, T + 600, 3, 3, T + 500)],
        [(40, T - 300, False), (3, T + 500, False)]),
}


# reports of reporters that say their era: what arrived, what the log server reads of each:
# (lost, since, lost_total_reset)
BY_ERA = {
    # a relay sent the report of T + 5 again after the one of T + 10
    "a late report": (
        [report(1, T, 40, 40, T - 300, boot=B1, era=0), report(3, T + 10, 6, 51, T + 5, boot=B1, era=0),
         report(2, T + 5, 5, 45, T, boot=B1, era=0)],
        [(40, T - 300, False), (11, T, False), (0, T, False)]),
    # auditctl --reset-lost; its report was lost on the way, and the count is back at the
    # old total: all of it is new
    "a reset's report lost, the count back at the old total": (
        [report(1, T, 40, 40, T - 300, boot=B1, era=0), report(3, T + 10, 37, 40, T + 5, boot=B1, era=1)],
        [(40, T - 300, False), (40, T, True)]),
    # the reset said twice (the kernel may have dropped the first): told once
    "a reset said twice": (
        [report(1, T, 40, 40, T - 300, boot=B1, era=0), report(2, T + 5, 3, 3, T, boot=B1, reset=True, era=1),
         report(3, T + 10, 5, 5, T, boot=B1, reset=True, era=1)],
        [(40, T - 300, False), (3, T, True), (2, T + 5, False)]),
    # the first report of the new era arrived after the second
    "a reset's reports out of order": (
        [report(1, T, 40, 40, T - 300, boot=B1, era=0), report(3, T + 10, 4, 7, T + 5, boot=B1, era=1),
         report(2, T + 5, 3, 3, T, boot=B1, reset=True, era=1)],
        [(40, T - 300, False), (7, T, True), (0, T, False)]),
    "a reboot": (
        [report(1, T, 40, 40, T - 300, boot=B1, era=1), report(2, T + 600, 3, 3, T + 500, boot=B2, era=0)],
        [(40, T - 300, False), (3, T + 500, False)]),
    # a relay sent the boot's last report after the next boot's first; then the next boot's
    # reporter counted again from the boot (it could not tell whether its report was written)
    "a late report of the boot before a reboot": (
        [report(1, T, 40, 40, T - 300, boot=B1, era=0), report(3, T + 600, 3, 3, T + 500, boot=B2, era=0),
         report(2, T + 5, 5, 45, T, boot=B1, era=0), report(4, T + 605, 8, 8, T + 500, boot=B2, era=0)],
        [(40, T - 300, False), (3, T + 500, False), (5, T, False), (5, T + 600, False)]),
    # the new boot's first reports did not arrive: all of its count is read, since the last
    # report of the boot before
    "a reboot whose first reports did not arrive": (
        [report(1, T, 40, 40, T - 300, boot=B1, era=0), report(3, T + 510, 1, 25, T + 505, boot=B2, era=0)],
        [(40, T - 300, False), (25, T, False)]),
    # the first report read (as it says: from 10) came after a later one
    "the first report read after a later one": (
        [report(2, T + 5, 10, 20, T, boot=B1, era=0), report(1, T, 10, 10, T - 300, boot=B1, era=0)],
        [(10, T, False), (10, T - 300, False)]),
    # read from the middle of a boot (the alert processor restarted), then a reporter that
    # lost its state (or a second one) counts from the boot again, later: what it adds
    # above the highest count is counted, not what lies below the lowest
    "a reporter that lost its state": (
        [report(2, T + 5, 10, 5010, T, boot=B1, era=0), report(3, T + 10, 5017, 5017, T - 900, boot=B1, era=0)],
        [(10, T, False), (7, T + 5, False)]),
    # the reporter lost its state after a reset: it counts from the boot in era 0 again,
    # below era 0's highest count though later: read as a count gone back
    "a reporter that lost its state after a reset": (
        [report(1, T, 100, 100, T - 300, boot=B1, era=0), report(2, T + 5, 5, 5, T, boot=B1, era=1, reset=True),
         report(3, T + 10, 25, 25, T - 600, boot=B1, era=0), report(4, T + 15, 30, 55, T + 10, boot=B1, era=0)],
        [(100, T - 300, False), (5, T, True), (25, T, True), (30, T + 10, False)]),
}


def test_a_sender_forging_reports_moves_no_other_senders_counts():
    forged = report(1, T, 0, 10 ** 9, T - 300, address="192.0.2.66", host="web01")
    lines = [report(1, T, 0, 0, T - 300), forged, report(3, T + 10, 1, 5001, T + 5)]
    events = list(iter_events(lines, EventAssembler(wait_seconds=0)))
    assert [(event["address"], event["loss"]["lost"]) for event in events] == [
        ("192.0.2.10", 0), ("192.0.2.66", 0), ("192.0.2.10", 5001)]


@pytest.mark.parametrize("table, name", [("no era", name) for name in sorted(GONE_BACK)] +
                         [("by era", name) for name in sorted(BY_ERA)])
def test_a_count_gone_back_is_read_as_a_least_figure_once_and_each_loss_once(table, name):
    lines, expected = (GONE_BACK if table == "no era" else BY_ERA)[name]
    events = list(iter_events(lines, EventAssembler(wait_seconds=0)))
    assert [(event["loss"]["lost"], event["loss"]["since"], event["loss"]["lost_total_reset"])
            for event in events] == expected


def test_a_forged_highest_count_hides_no_later_loss():
    """A record forged on web01 (a user's logger line, say) says the kernel's count is at
    2**32 - 1: the reporter's next reports, dated after it yet lower, are read as a count
    gone back, so the loss they tell is still counted."""
    forged = report(2, T + 5, 0, 2 ** 32 - 1, T, boot=B1, era=0)
    lines = [report(1, T, 40, 40, T - 300, boot=B1, era=0), forged,
             report(3, T + 10, 500, 540, T, boot=B1, era=0), report(4, T + 15, 1000, 1540, T + 10, boot=B1, era=0)]
    events = list(iter_events(lines, EventAssembler(wait_seconds=0)))
    assert [(event["loss"]["lost"], event["loss"]["lost_total_reset"]) for event in events] == [
        (40, False), (2 ** 32 - 41, False), (540, True), (1000, False)]


def test_reports_forged_ahead_of_the_log_servers_clock_hide_no_later_loss():
    """Records forged on web01 dated 5 minutes ahead, again and again, say a higher count
    each time: the reporter's reports written after the log server read each are below it,
    and read as a count gone back, so the loss they tell is still counted."""
    def forged(serial, epoch, total):
        return report(serial, epoch + 299, 0, total, epoch, boot=B1, era=0)

    lines = [(T + 1, report(1, T, 40, 40, T - 300, boot=B1, era=0)), (T + 6, forged(2, T + 5, 2 ** 32 - 1)),
             (T + 11, report(3, T + 10, 500, 540, T, boot=B1, era=0)), (T + 16, forged(4, T + 15, 2 ** 32)),
             (T + 21, report(5, T + 20, 1000, 1540, T + 10, boot=B1, era=0))]
    now = []
    reports = LossReports(clock=lambda: now[-1])
    assembler = EventAssembler(wait_seconds=0, loss_reports=reports)
    events = []
    for read_at, line in lines:
        now.append(read_at)
        events += iter_events([line], assembler)
    honest = [event["loss"] for event in events if event["loss"]["lost_total"] < 2 ** 32 - 1]
    assert [(loss["lost"], loss["lost_total_reset"]) for loss in honest] == [(40, False), (540, True), (1540, True)]


def test_a_sender_inventing_nodes_forgets_its_own_reports_not_another_addresss():
    """A sender names its node (``node=``) itself: one that invents thousands of them pushes
    out its own last reports, while another address's loss is still counted from its last
    report read (the one of T + 5, 5000 lost, did not arrive)."""
    flood = [report(100 + number, T + 1, 0, 0, T - 300, address="192.0.2.66").replace(
        "type=USER", "node=n%d type=USER" % number) for number in range(3000)]
    lines = [report(1, T, 0, 0, T - 300)] + flood + [report(3, T + 10, 1, 5001, T + 5)]
    events = list(iter_events(lines, EventAssembler(wait_seconds=0, loss_reports=LossReports(
        remember=2000, nodes_per_address=1000))))
    assert len({event["node"] for event in events if event["address"] == "192.0.2.66"}) == 3000
    assert (events[-1]["address"], events[-1]["loss"]["lost"], events[-1]["loss"]["since"]) == (
        "192.0.2.10", 5001, T)


def test_a_window_the_senders_clock_turned_back_is_told_in_order():
    (event,) = iter_events([report(2, T - 3600, 7, 7, T)])
    assert describe_loss(event["loss"], event["epoch"]) == (
        "lost 7 audit events between 2025-12-05 08:46:40 and 2025-12-05 09:46:40 (the sender's "
        "clock went back) (kernel backlog full or rate limit)")


def test_copies_sent_again_across_a_rotation_are_read_once(tmp_path):
    """A sender sent some events again (its queue after a reconnection) just as the log
    server's file was rotated: the copies land in the next file and are still known as
    copies, the loss counted once."""
    directory = tmp_path / "192.0.2.10"
    directory.mkdir()
    command = "\n".join(stored(exec_records(["id"], epoch="%d.500" % T)))
    (directory / "audit.log.1").write_text("\n".join([
        report(1, T, 0, 0, T - 300), command, report(2, T + 5, 40, 40, T), report(3, T + 10, 2, 42, T + 5)
    ]) + "\n", encoding="utf-8")
    (directory / "audit.log").write_text("\n".join([
        command, report(2, T + 5, 40, 40, T), report(3, T + 10, 2, 42, T + 5), report(4, T + 15, 0, 42, T + 10)
    ]) + "\n", encoding="utf-8")
    rules = compile_risk_rules(SHIPPED_RISK_RULES)
    events, counts = build_report([str(directory / "audit.log.1"), str(directory / "audit.log")],
                                  rules, EventFilter(), limit=0)
    assert [event["loss"]["lost"] for event in events if event["kind"] == "loss"] == [40, 2]
    assert len([event for event in events if event["kind"] != "loss"]) == 1
    assert counts["duplicates"] == 3 and counts["files"] == 2


def test_a_senders_reports_are_read_in_order_across_its_rotated_files(tmp_path):
    directory = tmp_path / "192.0.2.10"
    directory.mkdir()
    (directory / "audit.log.1").write_text(report(1, T, 0, 0, T - 300) + "\n", encoding="utf-8")
    (directory / "audit.log").write_text(report(3, T + 10, 1, 5001, T + 5) + "\n",
                                         encoding="utf-8")
    rules = compile_risk_rules(SHIPPED_RISK_RULES)
    events, _counts = build_report([str(directory / "audit.log.1"), str(directory / "audit.log")],
                                   rules, EventFilter(), limit=0)
    assert [(event["loss"]["lost"], event["loss"]["since"]) for event in events] == [(5001, T)]


def test_a_count_gone_back_to_zero_is_told_as_a_least_figure():
    """auditctl --reset-lost (which hides what was lost) or the counter past 2**32: the
    report is a loss event even when it counted nothing since."""
    for lost in ("3", "0"):
        line = report_line(lost).replace("res=success", "lost_total_reset=yes res=success")
        (event,) = iter_events([line])
        assert event["kind"] == "loss" and event["loss"]["lost_total_reset"] is True
        assert describe_loss(event["loss"], event["epoch"]) == (
            ("lost at least 3 audit events" if lost == "3" else
             "lost an unknown number of audit events") +
            " between 2025-12-05 09:41:40 and 2025-12-05 09:46:40 (the kernel's count went back "
            "to 0: reset with auditctl --reset-lost, or past 2^32; what it had counted since the "
            "last report is not known)")


def test_the_first_report_after_auditd_wrote_no_log_says_since_when():
    """Nothing is written while auditd's logging is suspended, the reports neither: the first
    one after it tells the time no event was kept."""
    line = report_line("0").replace(
        "logging_suspended=no", "logging_suspended=no logging_suspended_since=1764920000.000")
    (event,) = iter_events([line])
    assert event["kind"] == "loss" and event["loss"]["unlogged_since"] == 1764920000.0
    assert describe_loss(event["loss"], event["epoch"]) == (
        "auditd wrote no log between 2025-12-05 07:33:20 and 2025-12-05 09:46:40 (disk full?): "
        "the events of that time are lost")
