"""Fragments: what reaches the log server of a command whose SYSCALL and EXECVE records the
client's noise filters dropped (its CWD, PROCTITLE, BPRM_FCAPS records), kept out of every
reader of the stream, and counted.

The records are written as the kernel writes them and passed through the rsyslog_client
role's default filters, as on the way to the log server.
"""

from __future__ import annotations

from ansible_collections.whotouched.server_audit.plugins.module_utils._processor.processor import (
    Processor,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._events.assembler import (
    EventAssembler,
    iter_events,
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
from ansible_collections.whotouched.server_audit.plugins.module_utils._processor.wall_screen import (
    WallState,
)
from tests.support.event_store import processor_config, stored_events
from tests.support.audit_records import (
    exec_records,
    stored,
    through_default_filters,
)

RULES = compile_risk_rules(SHIPPED_RISK_RULES)


def ls_leftovers(serial=1):
    """What arrives of `ls -la /root`: its CWD and PROCTITLE records, nothing that says who."""
    lines = through_default_filters(exec_records(["ls", "-la", "/root"], serial=serial))
    assert [line.split()[0] for line in lines] == ["type=CWD", "type=PROCTITLE"]
    return lines


def ping_leftovers(serial=2):
    """What arrives of `ping -c1 db01`: CWD, BPRM_FCAPS (ping's file capabilities), PROCTITLE."""
    lines = exec_records(["ping", "-c1", "db01"], serial=serial)
    lines.insert(-1, "type=BPRM_FCAPS msg=audit(1700000000.123:%d): fver=2 fp=0000000000003000 "
                 "fi=0 fe=1 old_pp=0 old_pi=0 old_pe=0 old_pa=0 pp=0000000000003000 pi=0 "
                 "pe=0000000000003000 pa=0 frootid=0" % serial)
    lines = through_default_filters(lines)
    assert [line.split()[0] for line in lines] == ["type=CWD", "type=BPRM_FCAPS",
                                                   "type=PROCTITLE"]
    return lines


def a_session():
    """Stored lines of ls, ping and id as they reach the log server; only id is whole."""
    return stored(ls_leftovers(1) + ping_leftovers(2)
                  + through_default_filters(exec_records(["id"], serial=3)))


def test_fragments_are_counted_and_not_given_out():
    assembler = EventAssembler()
    events = list(iter_events(a_session(), assembler))
    assert [(event["argv"], event["login_user"]) for event in events] == [(["id"], "alice")]
    assert assembler.counts["fragments"] == 2
    assert assembler.counts["events"] == 1 and assembler.counts["incomplete"] == 0


def test_fragments_are_given_out_when_asked_with_their_own_kind_and_no_user():
    assembler = EventAssembler(fragments=True)
    events = list(iter_events(a_session(), assembler))
    assert [(event["kind"], event["argv"], event["login_user"], event["user"])
            for event in events] == [
        ("fragment", ["ls", "-la", "/root"], None, None),
        ("fragment", ["ping", "-c1", "db01"], None, None),
        ("exec", ["id"], "alice", "root")]
    assert events[0]["cwd"] == "/root" and events[0]["host"] == "web01"
    assert assembler.counts["fragments"] == 2 and assembler.counts["events"] == 3


def test_a_fragment_given_out_by_wait_or_at_the_end_is_counted_the_same():
    # no PROCTITLE to complete them: the one is expired by its sender's clock moving on,
    # the other given out at the end of input
    first = ls_leftovers(1)[:-1]
    later = [line.replace("1700000000.123:2", "1700000100.000:2") for line in ls_leftovers(2)[:-1]]
    assembler = EventAssembler()
    assert list(iter_events(first + later, assembler)) == []
    assert assembler.counts["fragments"] == 2 and assembler.counts["events"] == 0
    assert assembler.counts["incomplete"] == 0 and assembler.pending == 0
    assembler = EventAssembler()
    for line in first:
        assembler.feed(line)
    assert assembler.release(assembler.opened) == [] and assembler.counts["fragments"] == 1


def test_a_proctitle_alone_is_a_fragment():
    assembler = EventAssembler()
    assert list(iter_events(ls_leftovers()[-1:], assembler)) == []
    assert assembler.counts["fragments"] == 1 and assembler.counts["incomplete"] == 0


def test_a_kernel_record_that_stands_alone_without_a_user_is_no_fragment():
    # the iptables AUDIT target's record has no user and no SYSCALL, and is all there is
    line = ("type=NETFILTER_PKT msg=audit(1700000000.500:9): mark=0x0 saddr=198.51.100.7 "
            "daddr=192.0.2.10 proto=6")
    assembler = EventAssembler()
    events = list(iter_events([line], assembler))
    assert [event["kind"] for event in events] == ["syscall"]
    assert assembler.counts["fragments"] == 0


def test_the_report_leaves_fragments_out_and_counts_them(tmp_path):
    log = tmp_path / "web01" / "audit.log"
    log.parent.mkdir()
    log.write_text("\n".join(a_session()) + "\n", encoding="utf-8")
    events, counts = build_report([str(log)], RULES, EventFilter())
    assert [event["argv"] for event in events] == [["id"]]
    assert counts["fragments"] == 2 and counts["events"] == 1 and counts["matched"] == 1
    assert len(format_table(events)) == 2  # the header and id


def test_the_processor_stores_shows_and_alerts_on_no_fragment(tmp_path):
    wall = WallState(now=lambda: 1700000010.0)
    processor = Processor(processor_config(tmp_path), workers=[], wall_state=wall,
                          clock=lambda: 0.0)
    for line in a_session():
        processor.handle_line(line)
    processor.close()
    assert [event["argv"] for event in stored_events(tmp_path / "events.db")] == [["id"]]
    screen = wall.snapshot()
    assert screen["seen"] == 1 and [user["name"] for user in screen["users"]] == ["alice"]
    assert processor.assembler.counts["fragments"] == 2
