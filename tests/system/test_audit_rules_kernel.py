"""audit_rules against the real kernel audit subsystem, auditctl and augenrules.

The kernel has one audit rule table: these tests must run one at a time (no xdist).  Each
test saves the kernel's audit settings and rules first and puts them back afterwards; the
tests that go through augenrules also put /etc/audit back as it was.  No test sets -e 2.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

from ansible_collections.whotouched.server_audit.plugins.module_utils._audit_rules.model import (
    RuleContext,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._audit_rules.parser import (
    parse_rule,
    parse_syscall_table,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._audit_rules.kernel import (
    as_kernel_sees_it,
    parse_load_errors,
    parse_status,
)
from tests.support.corpus import CORPUS_LINES_AUDITCTL_REFUSES, corpus_file
from tests.support.playbook import run_module

AUDITCTL = shutil.which("auditctl") or ("/usr/sbin/auditctl"
                                        if os.path.exists("/usr/sbin/auditctl") else None)
AUGENRULES = shutil.which("augenrules") or ("/usr/sbin/augenrules"
                                            if os.path.exists("/usr/sbin/augenrules") else None)

pytestmark = [
    pytest.mark.needs_root,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root (loads rules into the kernel)"),
    pytest.mark.skipif(AUDITCTL is None, reason="auditctl is not installed (apt-get install auditd)"),
]

SETTINGS = {"failure": "-f", "rate_limit": "-r", "backlog_limit": "-b",
            "backlog_wait_time": "--backlog_wait_time"}


def auditctl(*args):
    return subprocess.run([AUDITCTL] + list(args), capture_output=True, text=True, check=False)


def kernel_rules():
    context = machine_context()
    return sorted((as_kernel_sees_it(parse_rule(line, context))
                   for line in auditctl("-l").stdout.splitlines()
                   if line.strip() and line.strip() != "No rules"), key=repr)


def machine_context():
    tables = {}
    for arch in ("b32", "b64"):
        dump = subprocess.run(["ausyscall", arch, "--dump"], capture_output=True, text=True,
                              check=False).stdout if shutil.which("ausyscall") else ""
        if dump:
            tables[arch] = parse_syscall_table(dump)
    return RuleContext(machine=os.uname().machine, syscall_tables=tables or None)


@pytest.fixture
def kernel():
    """Save the kernel's audit state; give it back, without our rules, afterwards."""
    status = auditctl("-s")
    if status.returncode != 0:
        pytest.skip("the kernel refuses audit requests here: %s" % status.stderr.strip())
    saved = parse_status(status.stdout)
    if saved.immutable:
        pytest.skip("the kernel's audit rules are locked (enabled 2) until reboot")
    rules = [line for line in auditctl("-l").stdout.splitlines() if line and line != "No rules"]
    auditctl("-D")
    yield saved
    auditctl("-D")
    for line in rules:
        auditctl(*line.split())
    for name, option in SETTINGS.items():
        if name in saved.values:
            auditctl(option, saved.values[name])
    auditctl("-e", str(saved.enabled))
    assert parse_status(auditctl("-s").stdout).enabled == saved.enabled


@pytest.fixture
def etc_audit():
    """Put /etc/audit/audit.rules (and its .prev copy) back as they were."""
    if AUGENRULES is None:
        pytest.skip("augenrules is not installed (apt-get install auditd)")
    files = [Path("/etc/audit/audit.rules"), Path("/etc/audit/audit.rules.prev")]
    saved = {path: path.read_bytes() if path.exists() else None for path in files}
    modes = {path: path.stat().st_mode for path in files if path.exists()}
    yield
    for path, content in saved.items():
        if content is None:
            if path.exists():
                path.unlink()
        else:
            path.write_bytes(content)
            os.chmod(path, modes[path] & 0o7777)


def valid_corpus_lines(name):
    lines = []
    for line in corpus_file(name).read_text(encoding="utf-8").splitlines():
        words = " ".join(line.split())
        if words and not words.startswith("#") and words not in CORPUS_LINES_AUDITCTL_REFUSES:
            lines.append(words)
    return lines


def test_auditctl_itself_refuses_the_corpus_lines_the_parser_refuses(kernel):
    for line in CORPUS_LINES_AUDITCTL_REFUSES:
        outcome = auditctl(*line.split())
        assert outcome.returncode != 0, line
    assert kernel_rules() == []


@pytest.mark.parametrize("name", ["neo23x0-audit.rules", "bfuzzy-auditd-attack.rules"])
def test_module_output_for_a_corpus_file_loads_like_the_original(kernel, tmp_path, name):
    original = corpus_file(name)
    loaded_original = auditctl("-R", str(original))
    original_errors = parse_load_errors(loaded_original.stdout + loaded_original.stderr)
    from_original = kernel_rules()
    assert len(from_original) > 150
    auditctl("-D")

    target = tmp_path / "merged.rules"
    result = run_module("audit_rules", {"path": str(target), "rules": valid_corpus_lines(name)})
    assert not result.get("failed"), result.get("msg")
    loaded_output = auditctl("-R", str(target))
    output_errors = parse_load_errors(loaded_output.stdout + loaded_output.stderr)

    assert len(output_errors) <= len(original_errors)
    # Same rules in the kernel, by meaning, whichever file was loaded.
    assert kernel_rules() == from_original


def test_load_puts_the_rules_in_the_kernel_and_reports_what_it_refused(kernel, tmp_path):
    missing = "/nonexistent-%s/conf" % uuid.uuid4().hex
    rules = [
        "-i",
        "-a exit,always -F arch=b64 -S execve -F auid>=1000 -F auid!=unset -k exec",
        "-a always,exit -F arch=b32 -S execve -F auid>=1000 -F auid!=unset -k exec",
        "-w /etc/passwd -p wa -k identity",
        "-a always,exit -F arch=b64 -S openat -F uid=no_such_user_zz -k odd",
        "-w %s -p wa -k app" % missing,
    ]
    path = tmp_path / "load.rules"
    first = run_module("audit_rules", {"path": str(path), "rules": rules, "load": True})
    assert not first.get("failed"), first.get("msg")
    assert first["changed"] is True and first["loaded"] is True
    assert first["load_command"][:2] == ["auditctl", "-R"]
    held = kernel_rules()
    for text in rules[1:4]:
        assert as_kernel_sees_it(parse_rule(text)) in held, text
    rejected = {item["rule"]: item["reason"] for item in first["rejected"]}
    assert set(rejected) == {"-a always,exit -F arch=b64 -S openat -F uid=no_such_user_zz -F key=odd",
                             "-w %s -p wa -k app" % missing}
    odd_rule = "-a always,exit -F arch=b64 -S openat -F uid=no_such_user_zz -F key=odd"
    assert "Unknown user" in rejected[odd_rule]
    assert "No such file or directory" in rejected["-w %s -p wa -k app" % missing]

    # the rules refused here are no reason to load again, nor to predict a load
    predicted = run_module("audit_rules", {"path": str(path), "rules": rules, "load": True},
                           check=True)
    assert predicted["changed"] is False and predicted["loaded"] is False
    second = run_module("audit_rules", {"path": str(path), "rules": rules, "load": True})
    assert second["changed"] is False and second["loaded"] is False
    assert kernel_rules() == held
    # the kernel losing a rule it took is still repaired
    assert auditctl("-W", "/etc/passwd", "-p", "wa", "-k", "identity").returncode == 0
    assert len(kernel_rules()) == len(held) - 1
    assert run_module("audit_rules", {"path": str(path), "rules": rules, "load": True},
                      check=True)["changed"] is True
    third = run_module("audit_rules", {"path": str(path), "rules": rules, "load": True})
    assert third["changed"] is True and third["loaded"] is True and kernel_rules() == held


def test_a_second_run_with_everything_loaded_changes_nothing(kernel, tmp_path):
    rules = ["-w /etc/passwd -p wa -k identity",
             "-a always,exit -F arch=b64 -S execve -k exec"]
    path = tmp_path / "idem.rules"
    first = run_module("audit_rules", {"path": str(path), "rules": rules, "load": True})
    assert first["changed"] is True and first["loaded"] is True and first["rejected"] == []
    second = run_module("audit_rules", {"path": str(path), "rules": rules, "load": True})
    assert second["changed"] is False and second["loaded"] is False
    # The kernel losing the rules is noticed and repaired even though the file is unchanged.
    auditctl("-D")
    third = run_module("audit_rules", {"path": str(path), "rules": rules, "load": True})
    assert third["changed"] is True and third["loaded"] is True
    assert len(kernel_rules()) == 2


def test_check_mode_reads_the_kernel_but_loads_nothing(kernel, tmp_path):
    path = tmp_path / "check.rules"
    result = run_module("audit_rules", {"path": str(path), "rules": ["-w /etc/passwd -p wa"],
                                        "load": True}, check=True)
    assert result["changed"] is True and result["loaded"] is False
    assert result["kernel_status"]["enabled"] == str(kernel.enabled)
    assert not path.exists()
    assert kernel_rules() == []


def test_check_mode_reports_the_load_a_real_run_would_do(kernel, tmp_path):
    path = tmp_path / "written.rules"
    path.write_text("-w /etc/passwd -p wa\n")
    args = {"path": str(path), "rules": ["-w /etc/passwd -p wa"], "load": True}
    predicted = run_module("audit_rules", args, check=True)
    assert predicted["changed"] is True and predicted["loaded"] is False
    assert kernel_rules() == []
    done = run_module("audit_rules", args)
    assert done["changed"] is True and done["loaded"] is True
    assert run_module("audit_rules", args, check=True)["changed"] is False


def test_rules_d_files_are_loaded_through_augenrules(kernel, etc_audit):
    path = Path("/etc/audit/rules.d/99-whotouched-test-%s.rules" % uuid.uuid4().hex[:8])
    try:
        result = run_module("audit_rules", {
            "path": str(path), "load": True, "mode": "0640",
            "rules": ["-w /etc/shadow -p wa -k shadow",
                      "-a always,exit -F arch=b64 -S sethostname -k hostname"]})
        assert not result.get("failed"), result.get("msg")
        assert result["loaded"] is True and result["load_command"] == ["augenrules", "--load"]
        assert result["rejected"] == []
        held = kernel_rules()
        assert as_kernel_sees_it(parse_rule("-w /etc/shadow -p wa -k shadow")) in held
        assert oct(path.stat().st_mode & 0o777) == "0o640"
        assert "-w /etc/shadow -p wa -k shadow" in Path("/etc/audit/audit.rules").read_text()
    finally:
        if path.exists():
            path.unlink()
