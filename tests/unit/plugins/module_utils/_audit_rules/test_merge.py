"""Merging rules into a file: placement, idempotence, removal, what is left alone."""

from __future__ import annotations

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from ansible_collections.whotouched.server_audit.plugins.module_utils._audit_rules.checks import (
    conflicting_settings,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._audit_rules.merge import (
    EXCLUSIVE_HEADER,
    merge_rules,
    parse_rules_text,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._audit_rules.parser import (
    parse_rule,
)


def rules(*texts):
    return [parse_rule(text) for text in texts]


def test_new_rules_go_after_the_last_rule_and_before_a_final_minus_e():
    existing = "# site rules\n-D\n-b 320\n-w /etc/passwd -p wa -k identity\n# end of rules\n-e 1\n"
    result = merge_rules(existing, rules("-a exit,always -F arch=b64 -S execve -k exec"))
    assert result.text == ("# site rules\n-D\n-b 320\n-w /etc/passwd -p wa -k identity\n"
                           "-a always,exit -F arch=b64 -S execve -F key=exec\n"
                           "# end of rules\n-e 1\n")
    assert result.added == ["-a always,exit -F arch=b64 -S execve -F key=exec"]
    assert result.removed == []


def test_control_options_go_to_the_top_minus_d_first_and_minus_e_last():
    existing = "# header\n-w /etc/passwd -p wa\n"
    result = merge_rules(existing, rules("-e 1", "-f 1", "-D", "--backlog_wait_time 60000"))
    assert result.text == ("# header\n-D\n-f 1\n--backlog_wait_time 60000\n"
                           "-w /etc/passwd -p wa\n-e 1\n")


def test_a_control_option_replaces_the_old_value_in_place():
    existing = "-D\n-b 320\n-w /etc/passwd -p wa\n-b 640\n"
    result = merge_rules(existing, rules("-b 8192"))
    assert result.text == "-D\n-b 8192\n-w /etc/passwd -p wa\n"
    assert result.added == ["-b 8192"]
    assert result.removed == ["-b 320", "-b 640"]


def test_an_existing_rule_in_another_spelling_is_left_untouched():
    existing = "-a exit,always -F arch=b64 -S execve -k exec\n"
    result = merge_rules(existing, rules("-a always,exit -F arch=b64 -S execve -F key=exec"))
    assert result.text == existing
    assert result.added == [] and result.removed == []


def test_the_file_is_left_byte_for_byte_when_nothing_changes():
    existing = "# a CRLF comment\r\n-w /etc/passwd -p wa\n# no final newline"
    assert merge_rules(existing, rules("-w /etc/passwd -p wa")).text == existing
    assert merge_rules(existing, rules("-w /etc/shadow -p wa"), state="absent").text == existing


def test_the_file_ends_with_a_newline_after_a_change():
    result = merge_rules("-w /etc/passwd -p wa", rules("-w /etc/shadow -p wa"))
    assert result.text == "-w /etc/passwd -p wa\n-w /etc/shadow -p wa\n"
    assert merge_rules(None, rules("-w /etc/shadow -p wa")).text == "-w /etc/shadow -p wa\n"


def test_a_new_never_rule_goes_before_the_always_rule_it_overlaps():
    existing = ("-a always,exit -F arch=b64 -S connect -k net\n"
                "-a always,exit -F arch=b64 -S execve -k exec\n")
    result = merge_rules(existing, rules("-a never,exit -F arch=b64 -S execve -F uid=33"))
    assert result.returns["rules"] == ["-a always,exit -F arch=b64 -S connect -F key=net",
                                       "-a never,exit -F arch=b64 -S execve -F uid=33",
                                       "-a always,exit -F arch=b64 -S execve -F key=exec"]
    assert result.warnings == []


def test_new_never_rules_go_before_the_new_always_rules_of_the_same_run():
    result = merge_rules("-b 8192\n-e 1\n", rules(
        "-a always,exit -F arch=b64 -S execve -k exec",
        "-a never,exit -F arch=b64 -S execve -F uid=33",
        "-a never,exit -F arch=b64 -S openat -F uid=34"))
    assert result.text == ("-b 8192\n"
                           "-a never,exit -F arch=b64 -S execve -F uid=33\n"
                           "-a never,exit -F arch=b64 -S openat -F uid=34\n"
                           "-a always,exit -F arch=b64 -S execve -F key=exec\n-e 1\n")
    assert result.warnings == []


def test_a_never_rule_that_cannot_overlap_is_appended():
    existing = "-a always,exit -F arch=b64 -S execve -k exec\n"
    result = merge_rules(existing, rules("-a never,exit -F arch=b32 -S execve"))
    assert result.returns["rules"][-1] == "-a never,exit -F arch=b32 -S execve"


def test_an_existing_never_rule_after_an_overlapping_always_rule_is_warned_about():
    existing = ("-a always,exit -F arch=b64 -S execve -k exec\n"
                "-a never,exit -F arch=b64 -S execve -F uid=33\n")
    result = merge_rules(existing, [])
    assert len(result.warnings) == 1
    assert "never rule \"-a never,exit -F arch=b64 -S execve -F uid=33\" comes after always rule" \
        in result.warnings[0]


def test_duplicates_are_reported():
    existing = "-w /etc/passwd -p wa -k id\n-w /etc/passwd/ -p aw -k id\n"
    result = merge_rules(existing, [])
    assert result.returns["duplicates"] == ["-w /etc/passwd -p wa -k id"]
    assert any("Rule exists" in warning for warning in result.warnings)


def test_absent_removes_every_spelling_and_keeps_comments():
    existing = ("# identity\n-w /etc/passwd -p wa -k id\n# exec\n"
                "-a exit,always -F arch=b64 -S execve -k exec\n"
                "-a always,exit -F arch=b64 -S execve -F key=exec\n")
    result = merge_rules(existing, rules("-a always,exit -F arch=b64 -S execve -F key=exec"),
                         state="absent")
    assert result.text == "# identity\n-w /etc/passwd -p wa -k id\n# exec\n"
    assert result.removed == ["-a always,exit -F arch=b64 -S execve -F key=exec"] * 2


def test_exclusive_writes_exactly_the_rules_under_one_header():
    existing = "# someone else's\n-w /etc/group -p wa\n-e 1\n-w /etc/passwd -p wa\n"
    wanted = rules("-w /etc/passwd -p wa", "-e 2", "-b 8192", "-D")
    result = merge_rules(existing, wanted, exclusive=True)
    assert result.text == (EXCLUSIVE_HEADER + "\n-D\n-b 8192\n-w /etc/passwd -p wa\n-e 2\n")
    assert sorted(result.added) == ["-D", "-b 8192", "-e 2"]
    assert sorted(result.removed) == ["-e 1", "-w /etc/group -p wa"]
    again = merge_rules(result.text, wanted, exclusive=True)
    assert again.text == result.text and again.added == [] and again.removed == []


def test_exclusive_keeps_the_spelling_of_a_rule_the_file_holds():
    """The file's own way of writing a wanted rule stays: a file already exactly the wanted
    rules under the header is not rewritten into the module's spelling."""
    held = EXCLUSIVE_HEADER + "\n-a exit,always -F arch=b64 -S execve -k exec\n-w /etc/passwd -p wa\n"
    wanted = rules("-a always,exit -F arch=b64 -S execve -F key=exec", "-w /etc/passwd -p wa")
    result = merge_rules(held, wanted, exclusive=True)
    assert result.text == held and result.added == result.removed == []
    moved = merge_rules("-w /etc/passwd -p wa\n# exec\n-a exit,always -F arch=b64 -S execve -k exec\n",
                        wanted, exclusive=True)
    assert moved.text == held


def test_two_values_for_one_setting_are_a_conflict():
    assert conflicting_settings(rules("-b 8192", "-w /etc/passwd -p wa", "-b 320", "-f 1")) == [
        "-b is given twice with different values: -b 8192, -b 320"]
    assert conflicting_settings(rules("-b 8192", "-b 0x2000", "-e 1")) == []


def test_bad_lines_in_the_file_are_kept_and_warned_about():
    existing = "-a always,exit -F arch=b64 -S execve -F bogus=1\n"
    result = merge_rules(existing, rules("-w /etc/passwd -p wa"))
    assert result.text == existing + "-w /etc/passwd -p wa\n"
    assert "is not a valid rule and is left as it is" in result.warnings[0]


# ------------------------------------------------------------------ properties

ARCHES = st.sampled_from(["b32", "b64"])
SYSCALLS = st.lists(st.sampled_from(["execve", "open", "openat", "chmod", "connect", "ptrace"]),
                    min_size=1, max_size=3)
KEYS = st.lists(st.sampled_from(["exec", "net", "id", "perm_mod"]), max_size=2)
PATHS = st.sampled_from(["/etc/passwd", "/etc/shadow", "/etc/sudoers.d", "/var/log/audit",
                         "/usr/bin/sudo"])


@st.composite
def syscall_rules(draw):
    words = ["-a", draw(st.sampled_from(["always,exit", "exit,always", "never,exit"])),
             "-F", "arch=" + draw(ARCHES)]
    for name in draw(SYSCALLS):
        words += ["-S", name]
    if draw(st.booleans()):
        words += ["-F", "auid>=%d" % draw(st.sampled_from([500, 1000]))]
    if draw(st.booleans()):
        words += ["-F", "auid!=" + draw(st.sampled_from(["-1", "4294967295", "unset"]))]
    for key in draw(KEYS):
        words += draw(st.sampled_from([["-k", key], ["-F", "key=" + key]]))
    return " ".join(words)


@st.composite
def watches(draw):
    words = ["-w", draw(PATHS), "-p", draw(st.sampled_from(["wa", "rwxa", "x", "aw"]))]
    for key in draw(KEYS):
        words += ["-k", key]
    return " ".join(words)


RULE_TEXTS = st.one_of(syscall_rules(), watches(),
                       st.sampled_from(["-D", "-b 8192", "-b 320", "-f 1", "-e 1", "-e 2",
                                        "--loginuid-immutable"]))
NON_SETTING_RULE_TEXTS = st.one_of(syscall_rules(), watches())
UNMANAGED = st.sampled_from(["# comment", "", "## section", "   # indented comment",
                             "-a always,exit -F bogus=1"])


@st.composite
def files(draw, rule_texts=RULE_TEXTS):
    lines = draw(st.lists(st.one_of(rule_texts, UNMANAGED), max_size=12))
    return "".join(line + "\n" for line in lines)


def file_rules(text):
    return [line.rule for line in parse_rules_text(text) if line.is_rule]


def unmanaged_lines(text):
    return [line.text for line in parse_rules_text(text) if not line.is_rule]


@settings(max_examples=200, deadline=None)
@given(files(), st.lists(RULE_TEXTS, max_size=6), st.booleans())
def test_merging_twice_equals_merging_once(existing, wanted_texts, exclusive):
    wanted = rules(*wanted_texts)
    assume(not conflicting_settings(wanted))  # the module refuses those before merging
    once = merge_rules(existing, wanted, exclusive=exclusive)
    twice = merge_rules(once.text, wanted, exclusive=exclusive)
    assert twice.text == once.text
    assert twice.added == [] and twice.removed == []


@settings(max_examples=200, deadline=None)
@given(files(NON_SETTING_RULE_TEXTS), st.lists(NON_SETTING_RULE_TEXTS, max_size=6))
def test_absent_after_present_restores_the_original_rules(existing, wanted_texts):
    wanted = rules(*wanted_texts)
    present = merge_rules(existing, wanted)
    absent = merge_rules(present.text, wanted, state="absent")
    assert file_rules(absent.text) == [rule for rule in file_rules(existing) if rule not in wanted]
    if not set(wanted) & set(file_rules(existing)):
        assert absent.text.rstrip("\n") == existing.rstrip("\n")


@settings(max_examples=200, deadline=None)
@given(files(), st.lists(RULE_TEXTS, max_size=6), st.sampled_from(["present", "absent"]))
def test_unmanaged_lines_survive_in_their_order(existing, wanted_texts, state):
    result = merge_rules(existing, rules(*wanted_texts), state=state)
    assert unmanaged_lines(result.text) == unmanaged_lines(existing)
    assert result.text == "" or result.text.endswith("\n")


@settings(max_examples=100, deadline=None)
@given(files(), st.lists(RULE_TEXTS, max_size=6))
def test_present_rules_are_all_in_the_file_afterwards(existing, wanted_texts):
    wanted = rules(*wanted_texts)
    assume(not conflicting_settings(wanted))
    held = file_rules(merge_rules(existing, wanted).text)
    assert all(rule in held for rule in wanted)
