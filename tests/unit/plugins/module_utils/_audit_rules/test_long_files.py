"""What a long rules file is read with: arguments read once, lines shared through the cache,
rules in slots, the cycle collector paused; each reading the same as reading afresh."""

from __future__ import annotations

import copy
import dataclasses
import gc
import pickle

import pytest

from ansible_collections.whotouched.server_audit.plugins.module_utils._audit_rules.model import (
    AuditRule,
    RuleContext,
    RuleSyntaxError,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._audit_rules.parser import (
    parse_rule,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._audit_rules.rules_file import (
    cyclic_gc_paused,
    file_lines,
    handle_lines,
    parse_rules_text,
)

TABLES = {"b64": {"execve": 59, "open": 2}, "b32": {"execve": 11, "open": 5}}


def test_an_arch_argument_read_before_means_what_the_machine_makes_of_it():
    rule = "-a always,exit -F arch=i386 -S open -k x"
    assert parse_rule(rule, RuleContext(machine="x86_64")).arch == "b32"
    assert parse_rule(rule, RuleContext(machine="aarch64")).arch == "i386"
    assert parse_rule(rule, RuleContext(machine="x86_64")).arch == "b32"


def test_syscall_numbers_are_named_by_each_context_s_tables():
    rule = "-a always,exit -F arch=b64 -S 59,open"
    assert parse_rule(rule, RuleContext(syscall_tables=TABLES)).syscalls == ("execve", "open")
    assert parse_rule(rule).syscalls == ("open", "59")
    assert parse_rule("-a always,exit -F arch=b64 -S open,execve").syscalls == ("execve", "open")


@pytest.mark.parametrize("rule, reason", [
    ("-a always,user -F path=/etc/passwd", "path can only be used with exit filter list"),
    ("-a always,exit -S open -F arch=b64", "arch must be before -S"),
    ("-a never,exclude -F auid>=1000 -F key=x", "Only msgtype, *uid, *gid, pid, and subj*"),
])
def test_a_field_read_before_is_still_checked_against_its_rule(rule, reason):
    for known in ("-a always,exit -S open -F path=/etc/passwd", "-a always,exit -F arch=b64 -S open",
                  "-a always,exit -F auid>=1000 -S open -F key=x"):
        parse_rule(known)
    with pytest.raises(RuleSyntaxError, match=reason.replace("*", r"\*")):
        parse_rule(rule)


def test_equal_rules_read_apart_share_their_values():
    first = parse_rule("-a always,exit -F arch=b64 -S open,openat -F auid>=1000 -k one")
    second = parse_rule("-a exit,always -F arch=b64 -S openat -F auid>=1000 -S open -k two")
    assert first.fields is second.fields and first.syscalls is second.syscalls
    assert first != second and first.keys == ("one",)


def test_a_rule_in_slots_is_frozen_hashable_and_copies():
    rule = parse_rule("-A always,exit -F arch=b64 -S open -k x")
    assert not hasattr(rule, "__dict__")
    with pytest.raises(dataclasses.FrozenInstanceError):
        rule.path = "/etc"  # type: ignore[misc]
    assert rule == parse_rule("-a always,exit -F arch=b64 -S open -k x")
    assert hash(rule) == hash(dataclasses.replace(rule, prepend=False))
    for other in (copy.copy(rule), copy.deepcopy(rule), pickle.loads(pickle.dumps(rule))):
        assert other == rule and hash(other) == hash(rule) and other.prepend
    assert [item.name for item in dataclasses.fields(AuditRule)][-1] == "prepend"


@pytest.mark.parametrize("enabled", [True, False])
def test_the_cycle_collector_is_left_as_it_was(enabled):
    was = gc.isenabled()
    (gc.enable if enabled else gc.disable)()
    try:
        with pytest.raises(ValueError):
            with cyclic_gc_paused():
                assert not gc.isenabled()
                raise ValueError("stop")
        assert gc.isenabled() == enabled
        parse_rules_text("-w /etc -p wa\n")
        assert gc.isenabled() == enabled
    finally:
        (gc.enable if was else gc.disable)()


@pytest.mark.parametrize("text", [
    "", "\n", "-w /etc\n", "-w /etc", "-w /etc\r\n-w /tmp\r\n", "a\n\n\nb", "x\u2028y\x0c\x85\n\n",
    "-w /etc\r", "\r\n\r",
])
def test_a_file_read_line_by_line_has_the_lines_of_its_text(tmp_path, text):
    path = tmp_path / "file.rules"
    path.write_bytes(text.encode("utf-8"))
    with open(path, encoding="utf-8", newline="\n") as handle:
        assert list(handle_lines(handle)) == file_lines(text)


def test_a_line_read_again_is_the_line_read_before():
    cache = {}
    text = "-w /etc -p wa -k x\n# note\n-w /etc -p wa -k x\n-a bad\n"
    first = parse_rules_text(text, cache=cache)
    again = parse_rules_text(text, cache=cache)
    assert first[0] is first[2] and [line.text for line in again] == file_lines(text)
    assert all(one is two for one, two in zip(first, again))
    assert [repr(line) for line in first] == [repr(line) for line in parse_rules_text(text)]
