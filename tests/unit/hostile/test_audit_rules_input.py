"""audit_rules given careless and hostile input: each case failed before it was fixed.

The rules file is read the way auditctl -R reads it (one line ends at ``\\n`` only, words are
separated by spaces only), a file that is no rules file is refused without a word of its
content, and every refusal leaves the target byte for byte as it was.
"""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from ansible_collections.whotouched.server_audit.plugins.modules import audit_rules
from tests.support.module_main import run_main, warnings_of

WATCH_HOSTS = "-w /etc/hosts -p wa -k hosts"
WATCH_PASSWD = "-w /etc/passwd -p wa"


def _run(path, check=False, **args):
    return run_main(audit_rules, dict({"path": str(path)}, **args), check=check, diff=True)


# ---------------------------------------------------------------- what a line is (U1, U7)

@pytest.mark.parametrize("separator", ["\u2028", "\u2029", "\x0c", "\x0b", "\x85", "\x1c",
                                       "\x1d", "\x1e", "\r"])
def test_a_comment_holding_a_line_separator_stays_one_comment(tmp_path, separator):
    rules = tmp_path / "50-site.rules"
    original = "# disabled: %s-e 2\n%s\n" % (separator, WATCH_PASSWD)
    rules.write_bytes(original.encode("utf-8"))
    status, result = _run(rules, rules=[WATCH_HOSTS])
    assert (status, result["changed"]) == (0, True)
    assert rules.read_bytes().decode("utf-8") == original + WATCH_HOSTS + "\n"
    assert result["rules"] == [WATCH_PASSWD, WATCH_HOSTS]


def test_a_crlf_file_keeps_its_carriage_returns_and_its_lines_are_not_taken_for_rules(tmp_path):
    rules = tmp_path / "50-site.rules"
    original = b"# from a Windows editor\r\n-w /etc/passwd -p wa\r\n"
    rules.write_bytes(original)
    status, result = _run(rules, rules=[WATCH_PASSWD])
    # auditctl reads "wa\r" as the permissions: that line is no rule, so the rule is added
    assert (status, result["changed"], result["added"]) == (0, True, [WATCH_PASSWD])
    assert rules.read_bytes() == original + b"-w /etc/passwd -p wa\n"
    assert any(message.startswith("line 2 is not a valid rule") and "carriage return" in message
               and "\\x0d" in message and "\r" not in message
               for message in warnings_of(result)), warnings_of(result)


@pytest.mark.parametrize("line", ["-w\t/etc/passwd -p wa", "-w /etc/passwd\t-p wa",
                                  "-w /etc/passwd -p wa\r"])
def test_a_line_auditctl_splits_otherwise_is_not_the_rule_it_looks_like(tmp_path, line):
    rules = tmp_path / "50-site.rules"
    rules.write_bytes(line.encode() + b"\n")
    status, absent = _run(rules, rules=[WATCH_PASSWD], state="absent")
    assert (status, absent["changed"], absent["removed"]) == (0, False, [])
    status, present = _run(rules, rules=[WATCH_PASSWD])
    assert (status, present["added"]) == (0, [WATCH_PASSWD])
    assert rules.read_bytes() == line.encode() + b"\n" + WATCH_PASSWD.encode() + b"\n"


def test_a_line_longer_than_auditctl_reads_is_named_with_what_auditctl_makes_of_it(tmp_path):
    rules = tmp_path / "50-site.rules"
    # auditctl reads 6143 bytes as one line, then "-e 2" as a line of its own
    sneaky = "#" + "x" * 6142 + "-e 2"
    rules.write_text("%s\n%s\n" % (WATCH_PASSWD, sneaky))
    status, result = _run(rules, rules=[WATCH_HOSTS], check=True)
    assert status == 0
    assert any('line 2 is not a valid rule' in message and "6147 bytes" in message
               and 'reads as "-e 2"' in message for message in warnings_of(result))


def test_a_nul_byte_in_a_file_line_is_read_as_auditctl_reads_it(tmp_path):
    rules = tmp_path / "50-site.rules"
    rules.write_bytes(b"-w /etc/passwd -p wa\x00 -k hidden\n")
    status, result = _run(rules, rules=[WATCH_PASSWD], state="absent")
    assert (status, result["removed"]) == (0, [WATCH_PASSWD])
    assert rules.read_bytes() == b""


# ---------------------------------------------------------------- rules given (U2)

@pytest.mark.parametrize("rule, says", [
    ("-w /etc/passwd -p wa -k a\x00b", "a NUL byte"),
    ("-w /etc/passwd -p wa -k a\nb", "a newline"),
    ("-w /etc/passwd -p wa -k a\u2028-e 2", "U+2028"),
    ("-w /etc/passwd\t-p wa", "a tab"),
    ("-w /etc/passwd -p wa -k x\r", "a carriage return"),
    ("-w /etc/passwd -p wa -k \x1b[2Jx", "U+001B"),
    ("-w /etc/passwd -p wa -k a\u200bb", "U+200B"),
])
def test_a_rule_holding_a_character_that_does_not_show_is_refused(tmp_path, rule, says):
    rules = tmp_path / "50-site.rules"
    rules.write_bytes(b"# kept\r\n")
    status, result = _run(rules, rules=[rule])
    assert (status, result["failed"], result["changed"]) == (1, True, False)
    assert says in result["msg"] and result["msg"].isprintable()
    assert result["msg"].startswith('invalid audit rule "-w /etc/passwd')
    assert rules.read_bytes() == b"# kept\r\n"


def test_a_rule_longer_than_auditctl_reads_is_refused(tmp_path):
    rules = tmp_path / "50-site.rules"
    rule = "-a always,exit -F path=/%s -F dir=/%s -F perm=wa" % ("a" * 3100, "b" * 3100)
    status, result = _run(rules, rules=[rule])
    assert status == 1 and "auditctl reads at most 6143 bytes of a line" in result["msg"]
    assert not rules.exists()


# ---------------------------------------------------------------- a typo in the file (U3)

needs_ausyscall = pytest.mark.skipif(shutil.which("ausyscall") is None,
                                     reason="ausyscall is not installed (apt-get install auditd): "
                                            "without the host's syscall table no name is unknown")
TYPO = "-a always,exit -F arch=b64 -S execvee -F key=exec"


@needs_ausyscall
def test_a_rule_with_an_unknown_syscall_can_be_removed(tmp_path):
    rules = tmp_path / "50-site.rules"
    rules.write_text("# site\n%s\n" % TYPO)
    status, result = _run(rules, rules=[TYPO], state="absent")
    assert (status, result["changed"], result["removed"]) == (0, True, [TYPO])
    assert rules.read_text() == "# site\n"


@needs_ausyscall
def test_a_rule_with_an_unknown_syscall_in_the_file_is_warned_about(tmp_path):
    rules = tmp_path / "50-site.rules"
    rules.write_text("%s\n" % TYPO)
    status, result = _run(rules, rules=[WATCH_HOSTS])
    assert status == 0 and TYPO in result["rules"]
    assert ['line 1 "%s": syscall execvee is unknown for arch b64 here: auditctl refuses the '
            'line' % TYPO] == [message for message in warnings_of(result) if "execvee" in message]
    # and it is still refused as a rule to write
    status, result = _run(rules, rules=[TYPO])
    assert status == 1 and "syscall execvee is unknown for arch b64" in result["msg"]


# ---------------------------------------------------------------- not a rules file (U4)

SECRET = "root:$6$Secret.Salt$HashHashHash:19000:0:99999:7:::\ndaemon:*:19000:0:99999:7:::\n"


@pytest.mark.parametrize("through_link", [True, False])
@pytest.mark.parametrize("check, state", [(True, "present"), (False, "present"),
                                          (False, "absent")])
def test_a_file_that_is_no_rules_file_is_refused_without_showing_it(
        tmp_path, through_link, check, state):
    secret = tmp_path / "shadow"
    secret.write_text(SECRET)
    target = secret
    if through_link:
        target = tmp_path / "50-site.rules"
        os.symlink(secret, target)
    status, result = _run(target, check=check, rules=[WATCH_HOSTS], state=state)
    assert (status, result["failed"], result["changed"]) == (1, True, False)
    assert result["msg"] == ("%s was not changed: it is not an audit rules file: no line of it "
                             "is a rule, and line 1 does not begin with an option "
                             "(-a, -w, -e ...)" % target)
    assert "Secret" not in str(result) and "daemon" not in str(result)
    assert secret.read_text() == SECRET
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted(
        ["shadow"] + (["50-site.rules"] if through_link else []))


def test_a_rules_file_with_many_bad_lines_is_named_in_a_bounded_number_of_warnings(tmp_path):
    rules = tmp_path / "50-site.rules"
    rules.write_text(WATCH_PASSWD + "\n" + "".join("-x nonsense %d\n" % n for n in range(500)))
    status, result = _run(rules, rules=[WATCH_HOSTS], check=True)
    messages = warnings_of(result)
    assert status == 0 and len(messages) == 21
    assert messages[-1] == "480 more lines are not valid rules or do not read as they look " \
                           "(only the first 20 are named)"


# ---------------------------------------------------------------- a directory that refuses (U5)

def _chattr(flag, path):
    subprocess.run(["chattr", flag, str(path)], check=True, capture_output=True)


@pytest.mark.needs_root
@pytest.mark.skipif(os.geteuid() != 0, reason="needs root (chattr +i)")
@pytest.mark.skipif(shutil.which("chattr") is None,
                    reason="chattr is not installed (apt-get install e2fsprogs)")
@pytest.mark.parametrize("locked", ["directory", "file"])
def test_an_immutable_directory_or_file_is_named_and_left_as_it_was(tmp_path, locked):
    folder = tmp_path / "rules.d"
    folder.mkdir()
    rules = folder / "50-site.rules"
    rules.write_text(WATCH_PASSWD + "\n")
    immutable = folder if locked == "directory" else rules
    try:
        _chattr("+i", immutable)
    except subprocess.CalledProcessError as error:
        pytest.skip("this file system refuses chattr +i (%s)" % error.stderr.decode().strip())
    try:
        status, result = _run(rules, rules=[WATCH_HOSTS])
        _check_status, checked = _run(rules, check=True, rules=[WATCH_HOSTS])
    finally:
        _chattr("-i", immutable)
    expected = ("nothing can be written in directory %s: no write permission, or it is "
                "immutable (chattr +i)" % folder) if locked == "directory" else \
        "%s is immutable (chattr +i): it cannot be replaced" % rules
    assert (status, result["failed"], result["changed"]) == (1, True, False)
    assert result["msg"] == "%s was not changed: %s" % (rules, expected)
    assert any(expected in message for message in warnings_of(checked))
    assert rules.read_text() == WATCH_PASSWD + "\n"
    assert [path.name for path in folder.iterdir()] == ["50-site.rules"]


# ---------------------------------------------------------------- a lock before rules (U6)

def test_rules_after_a_lock_are_warned_about_and_new_rules_go_before_it(tmp_path):
    rules = tmp_path / "50-site.rules"
    rules.write_text("-e 2\n%s\n" % WATCH_PASSWD)
    status, result = _run(rules, rules=[WATCH_HOSTS])
    assert status == 0
    assert rules.read_text() == "%s\n-e 2\n%s\n" % (WATCH_HOSTS, WATCH_PASSWD)
    assert "line 2 locks the kernel's rules (-e 2) before the 1 rules after it: auditctl -R " \
           "refuses each of them until a reboot" in " ".join(warnings_of(result))
