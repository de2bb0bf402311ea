"""audit_report given what a compromised client sends and what a careless admin names (A1-A5,
A8): one crafted line never stops the report nor hides other events, a special file never hangs
it, and a time means what it says.
"""

from __future__ import annotations

import calendar
import json
import os
import threading
import time

import pytest

from ansible_collections.whotouched.server_audit.plugins.module_utils._events.assembler import (
    iter_events,
    iter_lines,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._events.report import (
    ReportError,
    parse_time_bound,
    read_rules_file,
    time_window,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._processor.processor import (
    Processor,
)
from ansible_collections.whotouched.server_audit.plugins.modules import audit_report
from tests.support.audit_records import exec_records, stored
from tests.support.event_store import processor_config
from tests.support.module_main import run_main, warnings_of

NOW = 1700000000.0
# Not a time limit on the report: how long a hung report is waited for before the test says so.
HANG = 60


def _report(args):
    """audit_report's result, or a failure when it does not return (a hung read)."""
    outcome = {}
    worker = threading.Thread(target=lambda: outcome.update(result=run_main(audit_report, args)),
                              daemon=True)
    worker.start()
    worker.join(HANG)
    assert "result" in outcome, "audit_report did not return: it hangs on %s" % args
    status, result = outcome["result"]
    assert (status != 0) == bool(result.get("failed")), result
    return result


def _exec_lines(argv, serial, epoch="1700000000.000", **records):
    return stored(exec_records(argv, serial=serial, epoch=epoch, **records))


# ---------------------------------------------------------------- A1: forged stamps

FORGED_STAMPS = ["99999999999999999999999.0:1", "253402300800.000:1", "1.%s:1" % ("9" * 400),
                 "%s.000:1" % ("9" * 5000), "-1.000:1", "+5.000:1", "1_0.000:1", " 5.000:1",
                 "5.000:%s" % ("9" * 30), "nan.000:1", "\u0661\u0662.000:1",
                 "253402300799.999999999:1", "1700000000.1234:1"]


@pytest.mark.parametrize("stamp", FORGED_STAMPS)
def test_a_forged_stamp_is_one_malformed_line_and_every_other_event_is_kept(tmp_path, stamp):
    forged = "Nov 14 22:13:20 web01 192.0.2.10 type=X msg=audit(%s): x=1" % stamp
    lines = (_exec_lines(["id"], 1) + [forged] + _exec_lines(["whoami"], 2, "1700000001.000")
             + [forged.replace("type=X", "type=USER_CMD")])
    (tmp_path / "audit.log").write_text("\n".join(lines) + "\n")
    result = _report({"path": str(tmp_path)})
    assert not result.get("failed"), result.get("msg")
    assert [event["argv"] for event in result["events"]] == [["id"], ["whoami"]]
    assert result["counts"]["malformed"] == 2


# ---------------------------------------------------------------- A2: special files

def test_fifos_devices_and_links_to_them_in_the_log_directory_are_named_not_read(tmp_path):
    (tmp_path / "a.log").write_text("\n".join(_exec_lines(["id"], 1)) + "\n")
    os.mkfifo(tmp_path / "b.log")
    os.mkfifo(tmp_path / "fifo")
    os.symlink("/dev/zero", tmp_path / "zero.log")
    os.symlink(tmp_path / "fifo", tmp_path / "c.log")
    result = _report({"path": str(tmp_path)})
    assert not result.get("failed"), result.get("msg")
    assert [event["argv"] for event in result["events"]] == [["id"]]
    assert result["counts"]["unreadable"] == 3 and result["counts"]["files"] == 1
    assert sorted(warnings_of(result)) == [
        "%s is a FIFO, not a log file" % (tmp_path / "b.log"),
        "%s is a FIFO, not a log file" % (tmp_path / "c.log"),
        "%s is a character device, not a log file" % (tmp_path / "zero.log")]


@pytest.mark.parametrize("make, says", [
    (lambda tmp: os.mkfifo(tmp / "rules.yml"), "is a FIFO, not a risk rules file"),
    (lambda tmp: os.symlink("/dev/zero", tmp / "rules.yml"),
     "is a character device, not a risk rules file"),
    (lambda tmp: (tmp / "rules.yml").write_bytes(b" " * ((16 << 20) + 1)),
     "is too large for a risk rules file: 16777217 bytes, over the 16 MiB limit"),
])
def test_a_rules_file_that_is_special_or_endless_is_refused(tmp_path, make, says):
    """A3: /dev/zero grew the module to 23 GB; a FIFO hung it."""
    make(tmp_path)
    path = tmp_path / "rules.yml"
    with pytest.raises(ReportError) as raised:
        read_rules_file(str(path))
    assert str(raised.value) == "rules_file %s %s" % (path, says)
    result = _report({"path": str(tmp_path), "rules_file": str(path)})
    assert result["failed"] and result["msg"] == "rules_file %s %s" % (path, says)


# ---------------------------------------------------------------- A4: times

@pytest.fixture
def far_from_utc(monkeypatch):
    """The log server's local time is New York's: a zone-less time is read in it, Z is not.
    (Its rules written out, so that no time zone database is needed.)"""
    monkeypatch.setenv("TZ", "EST5EDT,M3.2.0,M11.1.0")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.mark.parametrize("text, expected", [
    ("2023-11-14T22:13:21Z", calendar.timegm((2023, 11, 14, 22, 13, 21))),
    ("2023-11-14 22:13Z", calendar.timegm((2023, 11, 14, 22, 13, 0))),
    ("2023-11-15T00:13:21+02:00", calendar.timegm((2023, 11, 14, 22, 13, 21))),
    ("2023-11-14T17:13:21-0500", calendar.timegm((2023, 11, 14, 22, 13, 21))),
    ("2023-11-14 17:13:21", calendar.timegm((2023, 11, 14, 22, 13, 21))),  # New York's 17:13
])
def test_a_time_with_z_or_an_offset_is_read_in_that_zone(far_from_utc, text, expected):
    assert parse_time_bound(text, now=NOW) == expected


@pytest.mark.parametrize("text", ["nan", "inf", "-inf", "1e400", "-5", "1e300",
                                  "99999999999999999999w", "253402300800", "NaN"])
def test_a_time_that_is_no_time_from_1970_to_9999_is_refused(text):
    with pytest.raises(ReportError, match="is not a time from 1970 to 9999"):
        parse_time_bound(text, now=NOW)


def test_a_window_with_an_extreme_end_is_refused_naming_it():
    with pytest.raises(ReportError) as raised:
        time_window("1h", "99999999999999999999w", now=NOW)
    assert str(raised.value) == "until: '99999999999999999999w' is not a time from 1970 to 9999"


# ---------------------------------------------------------------- A5: whose user database

def test_uids_of_a_remote_sender_are_not_named_from_the_log_servers_users(tmp_path):
    remote = tmp_path / "192.0.2.10"
    remote.mkdir()
    (remote / "audit.log").write_text("\n".join(_exec_lines(["id"], 1, auid=0, uid=0,
                                                            log_format="RAW")) + "\n")
    result = _report({"path": str(remote)})
    assert [(event["login_user"], event["user"]) for event in result["events"]] == [("0", "0")]
    local = tmp_path / "local-audit.log"
    local.write_text("\n".join(exec_records(["id"], auid=0, uid=0, log_format="RAW")) + "\n")
    result = _report({"path": str(local)})
    assert [(event["login_user"], event["user"]) for event in result["events"]] == \
        [("root", "root")]


# ---------------------------------------------------------------- A8: records cut or skipped

def test_an_event_whose_syscall_record_was_cut_short_is_incomplete():
    records = exec_records(["cat", "/etc/shadow"])
    for cut in (180, len(records[0]) - 3, records[0].index("key=") + 6):
        shortened = [records[0][:cut]] + records[1:]
        events = list(iter_events(shortened))
        assert [(event["kind"], event["complete"]) for event in events] == [("exec", False)], cut
    assert [event["complete"] for event in iter_events(records)] == [True]


def test_a_command_whose_execve_record_was_skipped_as_too_long_stays_a_command(tmp_path):
    argv = ["tar", "czf", "/tmp/x.tgz"] + ["/home/alice/file%05d" % n for n in range(5000)]
    log = tmp_path / "audit.log"
    log.write_text("\n".join(_exec_lines(argv, 7)) + "\n")
    with open(log, "rb") as stream:
        counts = {}
        events = list(iter_events(iter_lines(stream, counts)))
    assert counts == {"oversized": 1}
    assert [(event["kind"], event["complete"]) for event in events] == [("exec", False)]
    assert events[0]["argv"][:3] == ["tar", "czf", "/tmp/x.tgz"]  # from PROCTITLE


# ---------------------------------------------------------------- the sender's own address

def _pipeformat(lines, address, tag, stamp="Nov 14 22:13:20"):
    """Lines as the role stores another program's messages (pipeformat: address, then tag)."""
    return ["%s %s %s %s" % (stamp, address, tag, line) for line in lines]


def test_a_tag_shaped_like_another_address_never_moves_an_event_to_that_sender(tmp_path):
    # A sender's own messages are kept in pipeformat; a tag with no colon looks like the
    # runcmdformat's address, the place rsyslog writes the real one.
    real, forger = tmp_path / "192.0.2.10", tmp_path / "192.0.2.66"
    real.mkdir()
    forger.mkdir()
    (real / "audit.log").write_text("\n".join(_exec_lines(["id"], 1)) + "\n")
    (forger / "messages.log").write_text("\n".join(
        _pipeformat(exec_records(["rm", "-rf", "/var/log/audit"], serial=7), "192.0.2.66",
                    "192.0.2.10")
        + _pipeformat(exec_records(["ls"], serial=8), "192.0.2.66", "audisp-syslog:")
        # a line that names a third address in both places: from neither sender
        + stored(exec_records(["uptime"], serial=9), "web03", "192.0.2.99")) + "\n")
    result = _report({"path": str(tmp_path)})
    assert not result.get("failed"), result.get("msg")
    by_command = {" ".join(event["argv"]): event for event in result["events"]}
    assert sorted(by_command) == ["id", "ls", "rm -rf /var/log/audit"]
    assert by_command["id"]["address"] == "192.0.2.10"
    assert by_command["rm -rf /var/log/audit"]["address"] == "192.0.2.66"
    assert by_command["ls"]["address"] == "192.0.2.66"
    assert result["counts"]["malformed"] == len(exec_records(["uptime"], serial=9))
    asked = _report({"path": str(tmp_path), "host": "192.0.2.10"})
    assert [event["argv"] for event in asked["events"]] == [["id"]]


def test_outside_a_senders_directory_the_form_is_told_by_the_tags_colon(tmp_path):
    (tmp_path / "pipe.log").write_text("\n".join(
        _pipeformat(exec_records(["ls"], serial=8), "192.0.2.66", "audisp-syslog:")
        + stored(exec_records(["id"], serial=9), "web01", "192.0.2.10")) + "\n")
    result = _report({"path": str(tmp_path)})
    assert [(event["argv"], event["address"]) for event in result["events"]] == [
        (["ls"], "192.0.2.66"), (["id"], "192.0.2.10")]


# ---------------------------------------------------------------- events dated far ahead

def test_events_a_sender_dates_far_ahead_never_stand_before_the_others(tmp_path):
    """1,000 events dated in the year 9999 would be the newest 1,000 in every report (its
    default limit) until pruned; left out when no end is asked, counted and named."""
    now = int(time.time())
    files = {"192.0.2.10": stored(exec_records(["auditctl", "-D"], serial=1,
                                               epoch="%d.000" % (now - 60))),
             "192.0.2.66": []}
    for serial in range(2, 1002):
        files["192.0.2.66"] += stored(exec_records(["id"], serial=serial,
                                                   epoch="253402300000.%03d" % (serial % 1000)),
                                      host="web66", address="192.0.2.66")
    config = processor_config(tmp_path, store={})
    processor = Processor(config, workers=[], log=lambda _message: None)
    for address, lines in files.items():
        path = tmp_path / "remote" / address / "audit.log"
        path.parent.mkdir(parents=True)
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        for line in lines:
            assert processor.handle_line(line)
    processor.close()
    (tmp_path / "processor.json").write_text(json.dumps(config), encoding="utf-8")
    for args in ({"store_config": str(tmp_path / "processor.json"), "source": "store"},
                 {"path": str(tmp_path / "remote"), "source": "files"}):
        result = _report(args)
        assert [event["argv"] for event in result["events"]] == [["auditctl", "-D"]], args
        assert result["counts"]["later"] == 1000
        assert any("1000 events that match are dated more than a day after now (from "
                   "192.0.2.66)" in warning for warning in warnings_of(result)), result
        asked = _report(dict(args, until="9999-12-31T23:59:59Z"))
        assert len(asked["events"]) == 1000 and asked["counts"]["later"] == 0
        assert ["auditctl", "-D"] not in [event["argv"] for event in asked["events"]]


def test_a_window_that_begins_after_tomorrow_shows_the_events_dated_there(tmp_path):
    ahead = int(time.time()) + 3 * 86400
    (tmp_path / "audit.log").write_text("\n".join(
        _exec_lines(["id"], 1, "%d.000" % (time.time() - 60))
        + _exec_lines(["whoami"], 2, "%d.000" % ahead)) + "\n")
    # a file last written before the window began is not opened: this one after it
    os.utime(tmp_path / "audit.log", (ahead, ahead))
    since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ahead - 86400))
    result = _report({"path": str(tmp_path), "since": since})
    assert [event["argv"] for event in result["events"]] == [["whoami"]]
    assert result["counts"]["later"] == 0
