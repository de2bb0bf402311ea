"""audit_rules' main() in this process: the result JSON and the file (nothing is loaded)."""

from __future__ import annotations

import pytest

from ansible_collections.whotouched.server_audit.plugins.modules import audit_rules
from tests.support.module_main import run_main

EXEC = "-a always,exit -F arch=b64 -S execve -F auid>=1000 -F auid!=unset -k exec"
EXEC_NORMALIZED = "-a always,exit -F arch=b64 -S execve -F auid!=-1 -F auid>=1000 -F key=exec"


def _run(path, check=False, **args):
    return run_main(audit_rules, dict({"path": str(path)}, **args), check=check, diff=True)


def test_a_rule_is_merged_by_meaning_and_reported(tmp_path):
    rules = tmp_path / "50-site.rules"
    rules.write_text("## site\n-b 320\n-w /etc/passwd -p wa -k identity\n-e 1\n")
    status, result = _run(rules, rules=[EXEC, "-b 8192", "-w /etc/passwd/ -p aw -k identity"])
    assert status == 0 and result["changed"] is True
    assert result["added"] == [EXEC_NORMALIZED, "-b 8192"]
    assert result["removed"] == ["-b 320"]
    assert result["rules"] == ["-b 8192", "-w /etc/passwd -p wa -k identity", EXEC_NORMALIZED,
                               "-e 1"]
    assert (result["duplicates"], result["loaded"], result["rejected"]) == ([], False, [])
    assert rules.read_text() == ("## site\n-b 8192\n-w /etc/passwd -p wa -k identity\n"
                                 + EXEC_NORMALIZED + "\n-e 1\n")
    assert result["diff"]["after"] == rules.read_text()
    again_status, again = _run(rules, rules=[EXEC, "-b 8192"])
    assert (again_status, again["changed"], again["added"]) == (0, False, [])


def test_a_backup_is_made_when_asked(tmp_path):
    rules = tmp_path / "50-site.rules"
    rules.write_text("-w /etc/passwd -p wa\n")
    status, result = _run(rules, rules=["-w /etc/passwd -p wa"], state="absent", backup=True)
    assert (status, result["changed"], result["removed"]) == (0, True, ["-w /etc/passwd -p wa"])
    assert rules.read_text() == ""
    backup = tmp_path / result["backup_file"].rsplit("/", 1)[-1]
    assert backup.read_text() == "-w /etc/passwd -p wa\n"


def test_check_mode_predicts_and_writes_nothing(tmp_path):
    rules = tmp_path / "50-site.rules"
    status, result = _run(rules, check=True, rules=[EXEC])
    assert (status, result["changed"], result["added"]) == (0, True, [EXEC_NORMALIZED])
    assert not rules.exists()


def test_a_bad_rule_fails_naming_it_and_the_file_stays(tmp_path):
    rules = tmp_path / "50-site.rules"
    rules.write_bytes(b"-D\r\n")
    status, result = _run(rules, rules=[EXEC, "-a always,exit -F arch=b64 -S execve -k"])
    assert (status, result["failed"], result["changed"]) == (1, True, False)
    assert result["errors"] == ['invalid audit rule "-a always,exit -F arch=b64 -S execve -k": '
                                'option -k needs a value (at "-k")']
    assert rules.read_bytes() == b"-D\r\n"


def test_a_directory_is_no_rules_file(tmp_path):
    status, result = _run(tmp_path, rules=[EXEC])
    assert (status, result["failed"]) == (1, True)
    assert result["msg"] == "%s is a directory, not a rules file" % tmp_path


@pytest.mark.parametrize("check", [True, False])
@pytest.mark.parametrize("name", ["new.rules/", "old.rules/", ".", ".."])
def test_a_path_that_ends_as_a_directory_is_refused_before_anything_is_read(tmp_path, check,
                                                                            name):
    (tmp_path / "old.rules").write_text("-w /etc/passwd -p wa\n")
    status, result = _run(str(tmp_path) + "/" + name, check=check, rules=[EXEC])
    assert (status, result["failed"], result["changed"]) == (1, True, False)
    assert result["msg"] == ("path %s/%s names a directory, not a rules file: give the file's "
                             "name" % (tmp_path, name))
    assert sorted(path.name for path in tmp_path.iterdir()) == ["old.rules"]
    assert (tmp_path / "old.rules").read_text() == "-w /etc/passwd -p wa\n"


def test_rules_whose_directory_is_missing_are_left_out_and_reported(tmp_path):
    rules = tmp_path / "50-site.rules"
    there = "-w %s/ -p wa -k here" % tmp_path
    missing = "-w %s/nothing-here/ -p wa -k gone" % tmp_path
    status, result = _run(rules, rules=[there, missing], skip_missing_directories=True)
    assert (status, result["changed"], result["left_out"]) == (0, True, [missing])
    assert rules.read_text() == "-w %s -p wa -k here\n" % tmp_path


@pytest.mark.parametrize("check", [True, False])
@pytest.mark.parametrize("settings, says", [
    ({"attributes": "+Q"}, "attributes +Q: Q cannot be set"),
    ({"mode": "ua=rw"}, "mode ua=rw is neither octal"),
])
def test_a_file_attribute_ansible_would_refuse_is_refused_before_the_file_changes(
        tmp_path, check, settings, says):
    rules = tmp_path / "50-site.rules"
    rules.write_text("-w /etc/group -p wa\n")
    status, result = _run(rules, check=check, rules=["-w /etc/hosts -p wa"], **settings)
    assert (status, result["failed"], result["changed"]) == (1, True, False)
    assert says in result["msg"]
    assert rules.read_text() == "-w /etc/group -p wa\n"
