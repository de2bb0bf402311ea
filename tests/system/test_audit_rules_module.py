"""audit_rules end to end through ansible-playbook, on files only (no kernel involved)."""

from __future__ import annotations

import os
import pathlib

import pytest

from tests.support.playbook import assert_missing_directory_handled, run_module

EXISTING = ("# owned by the compliance role\n"
            "-D\n-b 320\n"
            "-a exit,always -F arch=b64 -S execve -k exec\n"
            "# local additions below\n")


def test_a_bad_rule_fails_naming_it_and_leaves_the_file_byte_for_byte(tmp_path):
    path = tmp_path / "50-site.rules"
    path.write_bytes(EXISTING.encode())
    os.chmod(path, 0o600)
    before = (path.read_bytes(), path.stat().st_mtime_ns, path.stat().st_mode)
    result = run_module("audit_rules", {"path": str(path), "rules": [
        "-w /etc/passwd -p wa -k identity",
        "-a always,exit -S execve -F arch=b64 -k exec",
        "-w etc/shadow -p wa"]})
    assert result["failed"] is True
    assert 'invalid audit rule "-a always,exit -S execve -F arch=b64 -k exec": arch must be ' \
           'before -S (at "arch=b64")' in result["msg"]
    assert "The path must start with '/' (at \"etc/shadow\")" in result["msg"]
    assert (path.read_bytes(), path.stat().st_mtime_ns, path.stat().st_mode) == before
    assert os.listdir(tmp_path) == ["50-site.rules"]


def test_check_mode_and_diff_predict_the_real_run(tmp_path):
    path = tmp_path / "50-site.rules"
    path.write_text(EXISTING)
    args = {"path": str(path), "rules": ["-b 8192", "-w /etc/passwd -p wa -k identity",
                                         "-a always,exit -F arch=b64 -S execve -F key=exec"]}
    predicted = run_module("audit_rules", args, check=True, diff=True)
    assert path.read_text() == EXISTING
    done = run_module("audit_rules", args, diff=True)
    for name in ("changed", "added", "removed", "rules", "diff"):
        assert predicted[name] == done[name], name
    assert done["diff"]["after"] == path.read_text() == (
        "# owned by the compliance role\n-D\n-b 8192\n"
        "-a exit,always -F arch=b64 -S execve -k exec\n"
        "-w /etc/passwd -p wa -k identity\n# local additions below\n")
    assert done["added"] == ["-b 8192", "-w /etc/passwd -p wa -k identity"]
    assert done["removed"] == ["-b 320"]
    again = run_module("audit_rules", args)
    assert again["changed"] is False


def test_file_attributes_and_backup(tmp_path):
    path = tmp_path / "50-site.rules"
    path.write_text(EXISTING)
    result = run_module("audit_rules", {"path": str(path), "mode": "0640", "backup": True,
                                        "rules": ["-w /etc/group -p wa"], "state": "present"})
    assert result["changed"] is True
    assert oct(path.stat().st_mode & 0o777) == "0o640"
    assert open(result["backup_file"]).read() == EXISTING
    mode_only = run_module("audit_rules", {"path": str(path), "mode": "0600",
                                           "rules": ["-w /etc/group -p wa"]})
    assert mode_only["changed"] is True and mode_only["added"] == []
    assert oct(path.stat().st_mode & 0o777) == "0o600"


def test_absent_on_a_missing_file_creates_nothing(tmp_path):
    path = tmp_path / "missing.rules"
    result = run_module("audit_rules", {"path": str(path), "state": "absent",
                                        "rules": ["-w /etc/group -p wa"]})
    assert result["changed"] is False and not path.exists()


def test_warnings_for_missing_arch_duplicates_and_shadowed_never_rules(tmp_path):
    path = tmp_path / "50-site.rules"
    path.write_text("-a always,exit -F arch=b64 -S execve -k exec\n"
                    "-a never,exit -F arch=b64 -S execve -F uid=33\n"
                    "-w /etc/passwd -p wa\n-w /etc/passwd/ -p aw\n")
    result = run_module("audit_rules", {"path": str(path), "rules": ["-a always,exit -S openat -k o"]})
    warnings = "\n".join(result.get("warnings", []))
    assert "without -F arch=" in warnings
    assert "comes after always rule" in warnings
    assert "Rule exists" in warnings
    assert result["duplicates"] == ["-w /etc/passwd -p wa"]


def test_conflicting_values_for_one_setting_fail(tmp_path):
    path = tmp_path / "50-site.rules"
    result = run_module("audit_rules", {"path": str(path), "rules": ["-b 8192", "-b 320"]})
    assert result["failed"] is True and "-b is given twice" in result["msg"]
    assert not path.exists()


def _state(path):
    status = path.stat()
    return path.read_bytes(), status.st_mtime_ns, status.st_mode, status.st_uid


@pytest.mark.parametrize("attributes, message", [
    ({"mode": "banana"}, "mode banana is neither octal"),
    ({"mode": "0640", "owner": "no-such-user-here"}, "owner no-such-user-here is not a user"),
    ({"group": "no-such-group-here"}, "group no-such-group-here is not a group"),
])
def test_bad_file_attributes_fail_before_anything_is_written(tmp_path, attributes, message):
    path = tmp_path / "50-site.rules"
    path.write_text(EXISTING)
    before = _state(path)
    args = dict(attributes, path=str(path), rules=["-w /etc/group -p wa"])
    result = run_module("audit_rules", args)
    assert result["failed"] is True and message in result["msg"], result
    assert _state(path) == before
    predicted = run_module("audit_rules", args, check=True)
    # In check mode only a bad mode fails: a package may yet create the user or group.
    if "mode" in message:
        assert predicted["failed"] is True and message in predicted["msg"]
    else:
        assert not predicted.get("failed") and predicted["changed"] is True
        assert any(message in warning and "a real run fails unless an earlier task creates it"
                   in warning for warning in predicted["warnings"])
    assert _state(path) == before
    assert os.listdir(tmp_path) == ["50-site.rules"]


def test_a_missing_directory_fails_the_real_run_and_is_warned_about_in_check_mode(tmp_path):
    path = tmp_path / "missing" / "50-site.rules"
    args = {"path": str(path), "rules": ["-w /etc/group -p wa"]}
    assert_missing_directory_handled("audit_rules", args, path.parent)


def test_a_symbolic_link_is_followed_and_stays_a_link(tmp_path):
    target = tmp_path / "shared.rules"
    target.write_text(EXISTING)
    os.chmod(target, 0o600)
    link = tmp_path / "50-site.rules"
    link.symlink_to(target.name)
    result = run_module("audit_rules", {"path": str(link), "mode": "0640",
                                        "rules": ["-w /etc/group -p wa"]})
    assert result["changed"] is True
    assert link.is_symlink() and os.readlink(link) == target.name
    assert "-w /etc/group -p wa\n" in target.read_text()
    assert oct(target.stat().st_mode & 0o777) == "0o640"


@pytest.mark.parametrize("make, message", [
    (pathlib.Path.mkdir, "is a directory"),
    (os.mkfifo, "is not a regular file"),
    (lambda path: path.write_bytes(b"-w /etc/passwd -p wa\n\xff\xfe\n"),
     "is not UTF-8 text (byte 0xff at offset 21)"),
])
def test_a_path_that_is_not_a_rules_file_is_refused_naming_it(tmp_path, make, message):
    path = tmp_path / "50-site.rules"
    make(path)
    result = run_module("audit_rules", {"path": str(path), "rules": ["-w /etc/group -p wa"]})
    assert result["failed"] is True and str(path) in result["msg"] and message in result["msg"]


def test_new_never_rules_go_before_the_new_always_rules_they_overlap(tmp_path):
    path = tmp_path / "50-site.rules"
    result = run_module("audit_rules", {"path": str(path), "rules": [
        "-a always,exit -F arch=b64 -S execve -k exec",
        "-a never,exit -F arch=b64 -S execve -F uid=33"]})
    assert path.read_text() == ("-a never,exit -F arch=b64 -S execve -F uid=33\n"
                                "-a always,exit -F arch=b64 -S execve -F key=exec\n")
    assert not any("comes after always rule" in warning
                   for warning in result.get("warnings", []))


def test_user_names_auditctl_cannot_resolve_are_written_with_a_warning(tmp_path):
    path = tmp_path / "50-site.rules"
    result = run_module("audit_rules", {"path": str(path), "rules": [
        "-a always,exit -F arch=b64 -S openat -F uid=no-such-user-here",
        "-a always,exit -F arch=b64 -S openat -F auid>=abc -F gid=root"]})
    assert result["changed"] is True and len(result["rules"]) == 2
    warnings = "\n".join(result["warnings"])
    assert 'no user named no-such-user-here on this host (at "uid=no-such-user-here"), so ' \
           "auditctl refuses this rule here" in warnings
    assert 'no user named abc on this host (at "auid>=abc")' in warnings
    assert "no group" not in warnings


def test_rules_whose_directory_is_missing_are_left_out_and_reported(tmp_path):
    present = tmp_path / "etc"
    present.mkdir()
    path = tmp_path / "50-site.rules"
    rules = [
        "-b 8192",
        "-w %s/passwd -p wa -k identity" % present,       # the file's directory exists
        "-w %s/cron.d/ -p wa -k crontab" % present,       # a directory watch: it must exist
        "-w %s/no-such/file -p wa -k gone" % tmp_path,     # its directory is missing
        "-a always,exit -F arch=b64 -F dir=%s/app -F perm=wa -k app" % tmp_path,
        "-a always,exit -F arch=b64 -F path=%s/motd -F perm=wa -k motd" % present,
        "-a always,exit -F arch=b64 -S execve -k exec",   # names no path
    ]
    args = {"path": str(path), "rules": rules, "exclusive": True, "skip_missing_directories": True}
    predicted = run_module("audit_rules", args, check=True)
    result = run_module("audit_rules", args)
    assert result["left_out"] == predicted["left_out"] == [rules[2], rules[3], rules[4]]
    kept = path.read_text()
    assert "identity" in kept and "motd" in kept and "-S execve" in kept and "-b 8192" in kept
    assert "crontab" not in kept and "gone" not in kept and "-k app" not in kept and "key=app" not in kept
    # once the directory is there, the next run adds the watch
    (present / "cron.d").mkdir()
    again = run_module("audit_rules", args)
    assert again["changed"] is True and again["left_out"] == [rules[3], rules[4]]
    assert "crontab" in path.read_text()
    # without the option every rule is written, as auditctl would be given it
    plain = run_module("audit_rules", dict(args, skip_missing_directories=False))
    assert plain["left_out"] == [] and "gone" in path.read_text()
