"""The auditctl grammar: parsing, normalizing, equality by meaning, validation messages."""

from __future__ import annotations

import pytest

from ansible_collections.whotouched.server_audit.plugins.module_utils._audit_rules.checks import (
    check_rule,
    rule_warnings,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._audit_rules.formatting import (
    format_rule,
    normalize_rule,
    rules_equal,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._audit_rules.merge import (
    parse_rules_text,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._audit_rules.model import (
    RuleContext,
    RuleSyntaxError,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._audit_rules.parser import (
    as_listed_watch,
    parse_rule,
    parse_syscall_table,
)
from tests.support.corpus import CORPUS_LINES_AUDITCTL_REFUSES, corpus_file

CORPUS = ["neo23x0-audit.rules", "bfuzzy-auditd-attack.rules"]

# A slice of the x86_64 tables (numbers from ausyscall) so that unit tests can check
# syscall validation without the target's ausyscall.
TABLES = {
    "b64": {"read": 0, "open": 2, "connect": 42, "execve": 59, "openat": 257, "execveat": 322,
            "chmod": 90, "ptrace": 101},
    "b32": {"read": 3, "open": 5, "execve": 11, "chmod": 15, "ptrace": 26, "socketcall": 102,
            "openat": 295, "execveat": 358},
}
WITH_TABLES = RuleContext(machine="x86_64", syscall_tables=TABLES)


def corpus_rule_lines(name):
    text = corpus_file(name).read_text(encoding="utf-8")
    return [line.strip() for line in text.splitlines()
            if line.strip() and not line.strip().startswith("#")]


@pytest.mark.parametrize("name", CORPUS)
def test_every_corpus_line_parses_except_those_auditctl_refuses(name):
    lines = corpus_rule_lines(name)
    assert len(lines) > 200
    refused = {}
    for line in lines:
        try:
            parse_rule(line)
        except RuleSyntaxError as error:
            refused[" ".join(line.split())] = error.reason
    expected = {line: reason for line, reason in CORPUS_LINES_AUDITCTL_REFUSES.items()
                if line in {" ".join(text.split()) for text in lines}}
    assert refused == expected


def test_the_two_corpus_files_hold_409_and_219_rule_lines():
    assert len(corpus_rule_lines("neo23x0-audit.rules")) == 409
    assert len(corpus_rule_lines("bfuzzy-auditd-attack.rules")) == 219


@pytest.mark.parametrize("name", CORPUS)
def test_normalizing_the_corpus_is_idempotent_and_keeps_the_meaning(name):
    for line in corpus_rule_lines(name):
        if " ".join(line.split()) in CORPUS_LINES_AUDITCTL_REFUSES:
            continue
        once = normalize_rule(line)
        assert normalize_rule(once) == once, line
        assert parse_rule(once) == parse_rule(line), line


EQUAL = [
    ("-a exit,always -F arch=b64 -S execve -k exec",
     "-a always,exit -F arch=b64 -S execve -F key=exec"),
    ("-a always,exit -F arch=b64 -S open -S openat", "-a always,exit -F arch=b64 -S openat,open"),
    ("-a always,exit -F arch=b64 -S chmod -S open,openat -S chmod",
     "-a always,exit -F arch=b64 -S open,openat,chmod"),
    ("-a always,exit  -F arch=b64   -S execve", " -a always,exit -F arch=b64 -S execve "),
    ("-a always,exit -F arch=b64 -S execve -F auid>=1000 -F auid!=4294967295",
     "-a always,exit -F arch=b64 -S execve -F auid!=-1 -F auid>=1000"),
    ("-a always,exit -F arch=b64 -S execve -F auid!=unset", "-a always,exit -F arch=b64 -S execve -F loginuid!=-1"),
    ("-a always,exit -F arch=x86_64 -S execve", "-a always,exit -F arch=b64 -S execve"),
    ("-a always,exit -F arch=i686 -S execve", "-a always,exit -F arch=b32 -S execve"),
    ("-a always,exit -F arch=b64 -S ptrace -F a0=4", "-a always,exit -F arch=b64 -S ptrace -F a0=0x4"),
    ("-a always,exit -F arch=b64 -S open -F exit=-EACCES", "-a always,exit -F arch=b64 -S open -F exit=-13"),
    ("-a always,exclude -F msgtype=1320", "-a exclude,always -F msgtype=EOE"),
    ("-a always,exit -S all -F path=/usr/bin/sudo -F perm=x -F auid>=1000",
     "-a always,exit -F auid>=1000 -F path=/usr/bin/sudo -F perm=x"),
    ("-a always,exit -F dir=/home -C auid!=obj_uid", "-a always,exit -F dir=/home/ -C obj_uid!=auid"),
    ("-w /etc/sudoers.d/ -p wa -k actions", "-w /etc/sudoers.d -p aw -k actions"),
    ("-w /etc/passwd", "-w /etc/passwd -p rwxa"),
    ("-a always,exit -F arch=b64 -S all -F dir=/etc -F filetype=file",
     "-a always,exit -F arch=b64 -F dir=/etc -F filetype=32768"),
    ("-a always,exit -F arch=b64 -S execve -p x", "-a always,exit -F arch=b64 -S execve -F perm=x"),
    ("-b 8192", "-b 0x2000"),
    ("--backlog_wait_time 60000", "--backlog_wait_time=60000"),
    ("-a always,exit -F arch=b64 -S execve -k a -k b", "-a always,exit -F arch=b64 -S execve -F key=a -k b"),
]


@pytest.mark.parametrize("first, second", EQUAL)
def test_equal_by_meaning(first, second):
    assert rules_equal(first, second)
    assert normalize_rule(first) == normalize_rule(second)


def test_prepend_is_the_same_rule_but_keeps_its_place_in_the_text():
    assert rules_equal("-A always,exit -F arch=b64 -S execve", "-a always,exit -F arch=b64 -S execve")
    assert normalize_rule("-A exit,always -F arch=b64 -S execve") == \
        "-A always,exit -F arch=b64 -S execve"


def test_syscall_numbers_equal_names_only_with_the_targets_table():
    assert rules_equal("-a always,exit -F arch=b64 -S 59", "-a always,exit -F arch=b64 -S execve",
                       WITH_TABLES)
    assert rules_equal("-a always,exit -F arch=b32 -S 11", "-a always,exit -F arch=b32 -S execve",
                       WITH_TABLES)
    assert not rules_equal("-a always,exit -F arch=b32 -S 59", "-a always,exit -F arch=b32 -S execve",
                           WITH_TABLES)


UNEQUAL = [
    ("-a always,exit -F arch=b32 -S execve", "-a always,exit -F arch=b64 -S execve"),
    ("-a always,exit -F arch=b64 -S execve", "-a always,exit -S execve"),
    ("-a always,exit -F arch=b64 -S execve", "-a never,exit -F arch=b64 -S execve"),
    ("-a always,exit -F arch=b64 -S execve", "-d always,exit -F arch=b64 -S execve"),
    ("-a always,exit -F arch=b64 -S execve -k a", "-a always,exit -F arch=b64 -S execve -k b"),
    ("-a always,exit -F arch=b64 -S execve -k a -k b", "-a always,exit -F arch=b64 -S execve -k b -k a"),
    ("-a always,exit -F arch=b64 -S execve -k a", "-a always,exit -F arch=b64 -S execve"),
    ("-a always,exit -F arch=b64 -S open,openat", "-a always,exit -F arch=b64 -S open"),
    ("-a always,exit -F arch=b64 -S execve -F auid>=1000", "-a always,exit -F arch=b64 -S execve -F auid>1000"),
    ("-a always,exit -F arch=b64 -S execve -F uid=0", "-a always,exit -F arch=b64 -S execve -F euid=0"),
    ("-a always,exit -F arch=b64 -S open -F exit=-EACCES", "-a always,exit -F arch=b64 -S open -F exit=EACCES"),
    ("-a always,exit -F arch=b64 -S connect -F a2=16", "-a always,exit -F arch=b64 -S connect -F a2=0x1A"),
    ("-w /etc/passwd -p wa", "-w /etc/passwd -p w"),
    ("-w /etc/passwd -p wa", "-W /etc/passwd -p wa"),
    ("-w /etc/passwd -p wa", "-a always,exit -F arch=b64 -F path=/etc/passwd -F perm=wa"),
    ("-a always,exit -F path=/etc/passwd", "-w /etc/passwd -p rwxa"),
    # auditctl -l prints these alike, but -w on a missing path or a file is not -F dir=.
    ("-w /etc/passwd -p wa -k identity", "-a always,exit -F path=/etc/passwd -F perm=wa -F key=identity"),
    ("-w /etc/ -p wa", "-a always,exit -F dir=/etc -F perm=wa"),
    ("-a always,user -F uid=0", "-a always,task -F uid=0"),
    ("-a always,exit -F arch=b64 -S execve -C uid!=euid", "-a always,exit -F arch=b64 -S execve -C uid=euid"),
    ("-b 8192", "-b 320"),
    ("-e 1", "-e 2"),
    ("-a always,exit -F arch=aarch64 -S execve", "-a always,exit -F arch=b64 -S execve"),
]


@pytest.mark.parametrize("first, second", UNEQUAL)
def test_different_by_meaning(first, second):
    assert not rules_equal(first, second)
    assert normalize_rule(first) != normalize_rule(second)


NORMALIZED = [
    ("-a exit,always -F arch=b64 -F euid=0 -S execve -k rootcmd",
     "-a always,exit -F arch=b64 -S execve -F euid=0 -F key=rootcmd"),
    ("-a always,exit -F arch=b64 -S all -F exe=/usr/bin/vmtoolsd",
     "-a always,exit -F arch=b64 -S all -F exe=/usr/bin/vmtoolsd"),
    ("-a never,exit -F subj_type=crond_t", "-a never,exit -S all -F subj_type=crond_t"),
    ("-w /var/log/audit/ -k auditlog", "-w /var/log/audit -p rwxa -k auditlog"),
    ("-a always,exit -F arch=b64 -S connect -F a2!=110 -k port",
     "-a always,exit -F arch=b64 -S connect -F a2!=0x6E -F key=port"),
    ("-a always,exclude -F msgtype>=1300 -F msgtype<=1399",
     "-a always,exclude -F msgtype<=1399 -F msgtype>=SYSCALL"),
    ("-a always,exit -F arch=b64 -S execve -F a0=-1", "-a always,exit -F arch=b64 -S execve -F a0=0xFFFFFFFF"),
    ("-a always,exit -F arch=b64 -S open -F exit=-EPERM", "-a always,exit -F arch=b64 -S open -F exit=-1"),
    ("-a always,io_uring -S openat,connect", "-a always,io_uring -S connect,openat"),
    ("-a always,filesystem -F fstype=tracefs", "-a always,filesystem -F fstype=tracefs"),
    ("-D", "-D"),
    ("--loginuid-immutable", "--loginuid-immutable"),
    ("-e 2", "-e 2"),
    ("-W /etc/passwd -p wa", "-W /etc/passwd -p wa"),
]


@pytest.mark.parametrize("text, expected", NORMALIZED)
def test_normalized_spelling(text, expected):
    assert normalize_rule(text) == expected


BAD = [
    ("-a always,exit -S execve -F arch=b64", "arch must be before -S", "arch=b64"),
    ("-a always,exit -F arch=b64 -S execve -F foo=1", "-F unknown field: foo", "foo=1"),
    ("-a always,exit -F arch=b64 -S execve -F uid~1", "-F missing operation for uid~1", "uid~1"),
    ("-a always,exit -F arch=b64 -S execve -F a0", "-F missing operation for a0", "a0"),
    ("-a always,exit -F arch=b64 -S execve -F uid=", "-F missing value after operation", "uid="),
    ("-a always,exit -F arch=b64 -S execve -F =1", "-F missing field name before operator", "=1"),
    ("-a always,exit -F arch=b64 -S execve -F pid=abc", "-F value should be number for pid", "pid=abc"),
    ("-a always,exit -F arch=b64 -S execve -F success=yes", "-F value should be number for success",
     "success=yes"),
    ("-a always,exit -F arch=b64 -S open -F exit=-ENOPE", "-F unknown errno - -ENOPE", "exit=-ENOPE"),
    ("-a always,exit -F arch=b64 -S open -F filetype=nope", "-F unknown file type - nope", "filetype=nope"),
    ("-a always,exclude -F msgtype=NOPE", "-F unknown message type - NOPE", "msgtype=NOPE"),
    ("-a always,exit -F arch=b64 -S execve -F msgtype=EOE",
     "msgtype field can only be used with exclude or user filter list", "msgtype=EOE"),
    ("-a always,user -F exit=1", "exit can only be used with exit filter list", "exit=1"),
    ("-a always,task -F perm=x", "perm can only be used with exit filter list", "perm=x"),
    ("-a always,exit -F arch=b64 -S execve -F path>/x", "path only takes = or != operators", "path>/x"),
    ("-a always,exit -F arch=b64 -S execve -F subj_type>x", "subj_type only takes = or != operators",
     "subj_type>x"),
    ("-a always,exit -F arch=b64 -S execve -F path=relative/x", "path must be an absolute path",
     "path=relative/x"),
    ("-a always,exit -F arch=sparc -S execve", "machine type not found", "arch=sparc"),
    ("-a always,exit -F arch=b64 -S execve -C uid=foo", "-C unknown right hand value", "uid=foo"),
    ("-a always,exit -F arch=b64 -S execve -C uid=gid", "-C unknown right hand value", "uid=gid"),
    ("-a always,exit -F arch=b64 -S execve -C uid<euid", "-C only takes = or != operators", "uid<euid"),
    ("-a always,exit -F arch=b64 -S exec-ve", "Syscall name unknown: exec-ve", "exec-ve"),
    ("-a always,task -S execve", "syscall auditing cannot be added to the task list", "execve"),
    ("-a always,user -S execve", "syscall auditing cannot be added to the user list", "execve"),
    ("-a always,exclude -S execve", "syscall auditing cannot be added to the exclude list", "execve"),
    ("-a always,exits -S execve", "bad list,action keyword always,exits", "always,exits"),
    ("-a possible,exit", "the possible action is deprecated", "possible,exit"),
    ("-a always,entry", "the entry list is deprecated", "always,entry"),
    ("-a always,exit -A always,exit", "Multiple rule insert/delete operations are not allowed",
     "always,exit"),
    ("-w etc/passwd -p wa", "The path must start with '/'", "etc/passwd"),
    ("-w /etc/passwd -p rwz", "Permission z isn't supported", "rwz"),
    ("-w /etc/passwd -a always,exit", "watch option can't be given with a syscall", "always,exit"),
    ("-w /etc/passwd -F auid>=1000", "-F after a watch is not supported", "auid>=1000"),
    ("-F arch=b64 -S execve", "List must be given before field", "arch=b64"),
    ("-S execve", "-S needs -a, -A or -d before it", "execve"),
    ("-k key", "key option needs a watch or syscall given prior to it", "key"),
    ("-a always,exit -F arch=b32 -k abi", "key option needs a watch or syscall given prior to it", "abi"),
    ("-a always,exit -F uid=0 -F key=root", "Key field needs a watch, syscall or exe path", "key=root"),
    ("-a always,exit -k x -S execve", "key option needs a watch or syscall given prior to it", "x"),
    ("-a always,exclude -F msgtype=EOE -F key=x", "Only msgtype, *uid, *gid, pid, and subj* fields",
     "key=x"),
    ("-a always,exclude -F ppid=1", "Only msgtype, *uid, *gid, pid, and subj* fields", "ppid=1"),
    ("-p wa", "permission option needs a watch given prior to it", "wa"),
    ("-a always,exit -F arch=b64 -S execve -k " + "k" * 257, "key option exceeds size limit", "k" * 257),
    ("-a always,exit -F path=/usr/bin/setfiles -F perm=x -k -F T1078",
     "parameter passed without an option given", "T1078"),
    ("-a always,exit -F arch=b64 -S execve -x", "unknown option -x", "-x"),
    ("--frobnicate", "unknown option --frobnicate", "--frobnicate"),
    ("-e 3", "Enable must be 0, 1, or 2 was 3", "3"),
    ("-f x", "Failure must be 0, 1, or 2 was x", "x"),
    ("-b lots", "-b needs a non-negative number, was lots", "lots"),
    ("--backlog_wait_time", "option --backlog_wait_time needs a value", "--backlog_wait_time"),
    ("-b 100 -f 1", "a control option must be alone on its line", "1"),
    ("-l", "-l lists rules, it is not a rule", "-l"),
    ("-s", "-s reports status, it is not a rule", "-s"),
    ("-R /etc/audit/audit.rules", "nested rule files are not supported", "/etc/audit/audit.rules"),
    ("-a", "option -a needs a value", "-a"),
    ("", "empty rule", ""),
]


@pytest.mark.parametrize("text, message, token", BAD)
def test_bad_rules_are_refused_naming_rule_and_word(text, message, token):
    with pytest.raises(RuleSyntaxError) as caught:
        parse_rule(text)
    assert message in caught.value.reason
    assert caught.value.token == token
    assert str(caught.value).startswith('invalid audit rule "%s": ' % " ".join(text.split()))
    assert '(at "%s")' % token in str(caught.value)


def test_unknown_syscall_is_checked_against_the_rules_arch():
    rule, warnings = check_rule("-a always,exit -F arch=b32 -S socketcall -k net", WITH_TABLES)
    assert rule.syscalls == ("socketcall",) and warnings == []
    with pytest.raises(RuleSyntaxError) as caught:
        check_rule("-a always,exit -F arch=b64 -S socketcall -k net", WITH_TABLES)
    assert caught.value.token == "socketcall"
    assert "syscall socketcall is unknown for arch b64" in str(caught.value)
    # Without -F arch= the native table (b64 on x86_64) names the syscalls.
    with pytest.raises(RuleSyntaxError):
        check_rule("-a always,exit -S socketcall", WITH_TABLES)
    # Numbers are always accepted, as auditctl does.
    check_rule("-a always,exit -F arch=b64 -S 999", WITH_TABLES)


def test_missing_arch_on_a_syscall_rule_is_a_warning():
    _rule, warnings = check_rule("-a always,exit -S execve -k exec", WITH_TABLES)
    assert len(warnings) == 1 and "without -F arch=" in warnings[0]
    for quiet in ("-a always,exit -F arch=b64 -S execve", "-a always,exit -F path=/x -F perm=x -F uid=0",
                  "-w /etc/passwd -p wa", "-a never,exit -F subj_type=crond_t"):
        assert rule_warnings(parse_rule(quiet)) == [], quiet


def test_rules_file_lines_keep_comments_and_bad_lines_as_text():
    lines = parse_rules_text("# head\n\n  -w /etc/passwd -p wa\n-a nonsense\n")
    assert [line.text for line in lines] == ["# head", "", "  -w /etc/passwd -p wa", "-a nonsense"]
    assert [line.is_rule for line in lines] == [False, False, True, False]
    assert "bad list,action keyword" in lines[3].error


def test_syscall_table_from_ausyscall_dump():
    dump = "Using x86_64 syscall table:\n0\tread\n1\twrite\n59\texecve\n"
    assert parse_syscall_table(dump) == {"read": 0, "write": 1, "execve": 59}


def test_format_rule_output_reads_back_to_the_same_rule():
    rule = parse_rule("-a exit,never -F arch=b64 -S all -F exe=/usr/bin/vmtoolsd -k a -k b")
    assert parse_rule(format_rule(rule)) == rule
    assert format_rule(rule) == \
        "-a never,exit -F arch=b64 -S all -F exe=/usr/bin/vmtoolsd -F key=a -F key=b"
    # Without "-S all" auditctl would refuse the key of a rule that has no path or exe.
    assert format_rule(parse_rule("-a always,exit -S all -F uid=0 -k root")) == \
        "-a always,exit -S all -F uid=0 -F key=root"


def test_path_and_dir_rules_compare_with_the_kernel_list_as_the_watches_it_prints():
    listed = parse_rule("-w /etc/passwd -p wa -k identity")
    assert as_listed_watch(parse_rule("-a always,exit -F path=/etc/passwd -F perm=wa -k identity")) \
        == listed
    assert as_listed_watch(parse_rule("-a always,exit -S all -F dir=/etc/ -F perm=wa")) == \
        parse_rule("-w /etc -p wa")
    for not_a_watch in ("-a always,exit -F arch=b64 -F path=/etc/passwd -F perm=wa",
                        "-a never,exit -F path=/etc/passwd -F perm=wa",
                        "-a always,exit -F path=/etc/passwd -F perm=wa -F uid=0"):
        assert as_listed_watch(parse_rule(not_a_watch)).kind == "syscall", not_a_watch
