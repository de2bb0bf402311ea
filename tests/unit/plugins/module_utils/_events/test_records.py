"""The event library: audit records (raw and stored forms) and evtsys lines to events."""

from __future__ import annotations

import io

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ansible_collections.whotouched.server_audit.plugins.module_utils._events.assembler import (
    EventAssembler,
    iter_events,
    iter_lines,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._events.records import (
    decode_text,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._events.report import (
    sanitize,
)
from tests.support.audit_records import (
    evtsys,
    exec_records,
    file_records,
    stored,
)

HARD_ARGV = ["printf", "%s\\n", "two words", 'say "hi"', "it's", "größe ✓", "", "tab\there",
             "-", "a=b", "#035AUID=root"]


def events(lines, **options):
    return list(iter_events(lines, **options))


def only(lines, **options):
    found = events(lines, **options)
    assert len(found) == 1, found
    return found[0]


@pytest.mark.parametrize("log_format", ["ENRICHED", "RAW"])
@pytest.mark.parametrize("form", ["raw", "stored", "pipe", "plugin"])
def test_one_command_is_one_event_with_its_arguments_decoded(log_format, form):
    lines = exec_records(HARD_ARGV, log_format=log_format, cwd="/home/alice/my dir")
    if form == "stored":
        lines = stored(lines)
    elif form == "plugin":
        # audisp-syslog (audit 3.0) sends the ENRICHED separator as a blank
        lines = stored([line.replace("\x1d", " ") for line in lines])
    elif form == "pipe":
        lines = [line.replace("web01 192.0.2.10", "192.0.2.10 audisp-syslog:")
                 for line in stored(lines)]
    event = only(lines)
    assert event["argv"] == HARD_ARGV
    assert event["cwd"] == "/home/alice/my dir"
    assert event["exe"] == "/usr/bin/printf"
    assert (event["key"], event["success"], event["pid"], event["ppid"]) == (
        "exec", True, 4242, 4200)
    assert (event["tty"], event["session"], event["auid"], event["euid"]) == (
        "pts/0", 3, 1000, 0)
    assert event["time"] == "2023-11-14T22:13:20.123Z"
    assert event["syscall"] == "execve" and event["kind"] == "exec" and event["complete"]
    if log_format == "ENRICHED":
        assert (event["login_user"], event["user"]) == ("alice", "root")
    else:
        assert (event["login_user"], event["user"]) == ("1000", "0")
    if form == "raw":
        assert (event["host"], event["address"]) == (None, None)
    elif form in ("stored", "plugin"):
        assert (event["host"], event["address"]) == ("web01", "192.0.2.10")
    else:
        assert (event["host"], event["address"]) == (None, "192.0.2.10")


def test_audit_2x_node_prefix_names_the_host():
    event = only(exec_records(["id"], node="db01", log_format="RAW"))
    assert (event["host"], event["node"], event["argv"]) == ("db01", "db01", ["id"])


def test_local_names_name_the_users_of_a_local_raw_log():
    event = only(exec_records(["id"], log_format="RAW"), local_names={1000: "alice", 0: "root"})
    assert (event["login_user"], event["user"]) == ("alice", "root")


def test_unset_login_user_and_session():
    event = only(exec_records(["cron"], auid=4294967295, ses=4294967295, login_name="unset",
                              tty="(none)"))
    assert (event["login_user"], event["auid"], event["session"], event["tty"]) == (
        "unset", None, None, None)


def test_an_auid_written_as_minus_one_is_unset_too():
    # audit 2.8's own records write auid=-1 where the kernel writes 4294967295
    event = only(exec_records(["cron"], auid=-1, log_format="RAW"))
    assert (event["login_user"], event["auid"]) == ("unset", None)


def test_long_argument_split_by_the_kernel_and_many_records():
    stamp = "msg=audit(1700000000.123:42):"
    long_arg = ("é" * 6000)
    hexed = long_arg.encode("utf-8").hex().upper()
    chunk = 7000  # cuts through a two-byte character on purpose
    parts = [hexed[index:index + chunk] for index in range(0, len(hexed), chunk)]
    lines = exec_records(["echo"])
    lines[1] = "type=EXECVE %s argc=3 a0=\"echo\" a1_len=%d %s" % (
        stamp, len(hexed), " ".join("a1[%d]=%s" % (index, part)
                                    for index, part in enumerate(parts[:1])))
    more = ["type=EXECVE %s a1[%d]=%s" % (stamp, index, part)
            for index, part in enumerate(parts) if index]
    more.append("type=EXECVE %s a2=\"end\"" % stamp)
    event = only(lines[:2] + more + lines[2:])
    assert event["argv"] == ["echo", long_arg, "end"]
    assert event["complete"]


def test_very_long_argument_lists():
    argv = ["touch"] + ["file-%05d" % number for number in range(20000)]
    event = only(exec_records(argv))
    assert event["argv"] == argv


def test_a_file_watch_names_the_path_and_operation():
    event = only(file_records("passwd", cwd="/etc", key="passwd"))
    assert (event["kind"], event["path"], event["operation"], event["key"]) == (
        "file", "/etc/passwd", "write", "passwd")
    renamed = only(file_records("/etc/shadow", syscall=82, nametype="CREATE"))
    assert renamed["operation"] == "rename"
    removed = only(file_records("/etc/sudoers.d/x", syscall=87, nametype="DELETE"))
    assert removed["operation"] == "delete"


def test_sudo_user_cmd_record_stands_alone():
    line = ("type=USER_CMD msg=audit(1700000002.500:77): pid=9 uid=1000 auid=1000 ses=3 "
            "subj=unconfined msg='cwd=\"/home/alice\" cmd=6964202D75 exe=\"/usr/bin/sudo\" "
            "terminal=pts/0 res=success'\x1dUID=\"alice\" AUID=\"alice\"")
    event = only([line])
    assert (event["kind"], event["argv"], event["cwd"], event["tty"], event["success"]) == (
        "user", ["id", "-u"], "/home/alice", "pts/0", True)
    assert (event["login_user"], event["exe"]) == ("alice", "/usr/bin/sudo")


def test_escaped_separator_inside_a_quoted_value_is_text_not_names():
    lines = stored(exec_records(["echo", "#035AUID=root"], log_format="RAW"))
    event = only(lines)
    assert event["argv"] == ["echo", "#035AUID=root"] and event["login_user"] == "1000"


def test_events_complete_without_eoe_and_eoe_is_harmless():
    first = exec_records(["id"], serial=1)
    second = exec_records(["ls"], serial=2)
    eoe = "type=EOE msg=audit(1700000000.123:1): "
    found = events(first + [eoe] + second)
    assert [event["argv"] for event in found] == [["id"], ["ls"]]


def test_an_event_without_its_end_is_flushed_by_the_senders_clock():
    # the sender's kernel writes PROCTITLE records (its first event has one): the second
    # event, cut short, lacks it
    whole = exec_records(["id"], serial=1)
    unfinished = exec_records(["sleep", "1"], serial=2)[:3]
    later = exec_records(["id"], serial=3, epoch="1700000100.000")
    assembler = EventAssembler(wait_seconds=5)
    done = []
    for line in whole + unfinished + later:
        done.extend(assembler.feed(line))
    assert [event["argv"] for event in done] == [["id"], ["sleep", "1"], ["id"]]
    assert done[1]["complete"] is False and assembler.counts["incomplete"] == 1


def test_events_of_a_kernel_that_writes_no_proctitle_are_whole_without_an_end():
    # kernels before 3.17 (RHEL 6 and 7) write no PROCTITLE, and auditd writes no EOE to its log
    lines = [line for serial in (1, 2, 3) for line in exec_records(
        ["id"], serial=serial, epoch="17000000%02d.000" % (serial * 10), log_format="RAW")
        if not line.startswith("type=PROCTITLE")]
    assembler = EventAssembler(wait_seconds=5)
    found = list(iter_events(lines, assembler))
    assert [(event["argv"], event["complete"]) for event in found] == [(["id"], True)] * 3
    assert assembler.counts["incomplete"] == 0 and assembler.counts["events"] == 3


HOSTILE = [
    "", "garbage", "type=", "type=SYSCALL", "type=SYSCALL msg=audit(", "type=X msg=audit(a:b): x",
    "type=SYSCALL msg=audit(1.2:3): arch=zz syscall=x auid=-1 exe=ZZZ",
    "type=EXECVE msg=audit(5.0:9): argc=99999999999 a0=\"x", "Nov 14 22:13:20",
    "Nov 14 22:13:20 a b c", "Nov 14 22:13:20 10.0.0.1 daemon.notice<29> dc01 junk",
    "type=EXECVE msg=audit(5.0:10): argc=2 a0=ZZ a1[x]=00 a1[0]=GG",
    "\x00\x1b[31mtype=SYSCALL msg=audit(1:1):", "node= type=EOE msg=audit(1.0:1): ",
]


@pytest.mark.parametrize("line", HOSTILE)
def test_hostile_lines_are_counted_never_fatal(line):
    assembler = EventAssembler()
    list(iter_events([line] + exec_records(["id"]), assembler))
    assert assembler.counts["lines"] >= 1


def test_malformed_lines_are_counted():
    assembler = EventAssembler()
    found = list(iter_events(["garbage", "Nov 14 22:13:20 a b c"] + exec_records(["id"]),
                             assembler))
    assert [event["argv"] for event in found] == [["id"]]
    assert (assembler.counts["malformed"], assembler.counts["other"]) == (1, 1)


@given(st.binary(max_size=300))
@settings(max_examples=300, deadline=None)
def test_any_bytes_never_crash(data):
    counts = {}
    assembler = EventAssembler()
    list(iter_events(iter_lines(io.BytesIO(data), counts), assembler))


def test_overlong_lines_are_skipped_in_bounded_memory():
    data = b"x" * 300000 + b"\n" + "\n".join(exec_records(["id"])).encode() + b"\n" + \
        b"y" * 200000
    counts = {}
    lines = list(iter_lines(io.BytesIO(data), counts, max_line=65536, chunk_size=4096))
    assert counts == {"oversized": 2}
    assert only(lines)["argv"] == ["id"]


def test_memory_stays_bounded_on_endless_unfinished_events():
    assembler = EventAssembler(max_pending=100, wait_seconds=10 ** 9, wait_events=10 ** 9)
    emitted = 0
    for serial in range(5000):
        for line in exec_records(["x"], serial=serial)[:2]:
            emitted += len(assembler.feed(line))
        assert assembler.pending <= 100
    assert emitted == 4900 and assembler.counts["evicted"] == 4900


def test_records_beyond_the_per_event_cap_are_dropped_not_kept():
    assembler = EventAssembler(max_event_records=10)
    stamp = "msg=audit(1700000000.123:42):"
    lines = exec_records(["id"])[:1] + ["type=PATH %s item=%d name=\"/x\" nametype=NORMAL"
                                        % (stamp, index) for index in range(100)]
    found = list(iter_events(lines, assembler))
    assert len(found) == 1 and len(found[0]["paths"]) == 9
    assert assembler.counts["dropped_records"] == 91


LOGON = ("An account was successfully logged on. Subject: Security ID: S-1-5-18 Account Name: "
         "DC01$ Account Domain: CORP Logon ID: 0x3E7 Logon Information: Logon Type: 3 "
         "New Logon: Security ID: CORP\\bob Account Name: bob Account Domain: CORP "
         "Network Information: Workstation Name: WS07 Source Network Address: 198.51.100.7 "
         "Source Port: 51234")


def test_windows_evtsys_event():
    event = only([evtsys(4624, LOGON)], now=1700000000)
    assert (event["kind"], event["event_id"], event["account"], event["target_account"],
            event["source_address"], event["address"], event["host"], event["success"]) == (
        "windows", 4624, "DC01$", "bob", "198.51.100.7", "192.0.2.20", "DC01", True)
    assert event["time"].startswith("2023-11-1")


@pytest.mark.parametrize("pri", ["daemon.notice", "daemon.notice<29>", "local7.err<187>"])
def test_windows_evtsys_event_with_either_form_of_pri_text(pri):
    # rsyslog 8.2302 and later write %pri-text% without the number in brackets
    event = only([evtsys(4624, LOGON, pri=pri)], now=1700000000)
    assert (event["kind"], event["event_id"], event["priority"]) == ("windows", 4624, pri)


def test_release_gives_out_the_events_opened_before_the_mark_only():
    assembler = EventAssembler(wait_seconds=5)
    assert [event["argv"] for event in iter_events(exec_records(["id"], serial=0),
                                                   assembler)] == [["id"]]
    for line in exec_records(["sleep", "1"], serial=1)[:-1]:
        assert not assembler.feed(line)
    mark = assembler.opened
    for line in exec_records(["id"], serial=2, node="web2")[:-1]:
        assert not assembler.feed(line)
    released = assembler.release(mark)
    assert [(event["argv"], event["complete"]) for event in released] == [(["sleep", "1"], False)]
    assert assembler.pending == 1 and assembler.counts["incomplete"] == 1
    assert assembler.release(mark) == []
    assert [event["argv"] for event in assembler.release(assembler.opened)] == [["id"]]
    assert assembler.pending == 0


def test_windows_evtsys_event_with_evtsys_own_tag():
    line = evtsys(4776, "Logon Account: bob Source Workstation: WS07 Error Code: 0xC000006A",
                  success=False).replace("DC01 Security-Auditing:", "DC01 evtsys: Security-Auditing:")
    event = only([line])
    assert (event["event_id"], event["account"], event["success"]) == (4776, "bob", False)


def test_decode_text_forms():
    assert decode_text('"plain"') == "plain"
    assert decode_text("74776F20776F726473") == "two words"
    assert decode_text("(null)") is None
    assert decode_text("C3A9") == "é"


def test_sanitize_escapes_control_and_bidi_characters():
    assert sanitize("ok\x1b[2J\x07\u202enot") == "ok\\x1b[2J\\x07\\u202enot"


# --- Interleaving: several hosts' records in any merge order give the same events.

def _host_stream(host_index, commands):
    lines = []
    for serial, argv in enumerate(commands, 1):
        lines.extend(stored(exec_records(argv, serial=serial,
                                         epoch="17000000%02d.%03d" % (serial, host_index)),
                            host="h%d" % host_index, address="192.0.2.%d" % host_index))
    return lines


@st.composite
def interleavings(draw):
    argv = st.lists(st.text(min_size=0, max_size=12), min_size=1, max_size=4)
    hosts = draw(st.lists(st.lists(argv, min_size=1, max_size=5), min_size=2, max_size=4))
    streams = [_host_stream(index + 1, commands) for index, commands in enumerate(hosts)]
    order = draw(st.permutations([index for index, stream in enumerate(streams)
                                  for _record in stream]))
    positions = [0] * len(streams)
    merged = []
    for index in order:
        merged.append(streams[index][positions[index]])
        positions[index] += 1
    return streams, merged


def _key(event):
    return (event["address"], event["serial"], tuple(event["argv"]), event["login_user"],
            event["cwd"], event["complete"])


@given(interleavings())
@settings(max_examples=150, deadline=None)
def test_any_interleaving_of_hosts_gives_the_same_events(case):
    streams, merged = case
    ordered = [line for stream in streams for line in stream]
    expected = sorted(map(_key, events(ordered)))
    assert sorted(map(_key, events(merged))) == expected
    assert len(expected) == sum(len(stream) // 5 for stream in streams)
