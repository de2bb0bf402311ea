"""The checks the merge modules make before they write a file."""

from __future__ import annotations

import os

import pytest

from ansible_collections.whotouched.server_audit.plugins.module_utils._audit_rules.checks import (
    unresolved_names,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._audit_rules.formatting import (
    format_rule,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._audit_rules.parser import (
    parse_rule,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils.managed_file import (
    MAX_FILE_BYTES,
    FileValidationError,
    file_attribute_problems,
    read_text,
    resolved_path,
)
from ansible_collections.whotouched.server_audit.plugins.modules import (
    audit_rules,
    auditd_conf,
    rsyslog_filter,
)
from tests.support.module_main import run_main


def known(name, *_):
    return name in ("root", "syslog", "adm")


@pytest.mark.parametrize("mode", [None, 0o640, "0640", "640", "u=rw,g=r,o=", "a+rX", "u+x,go-w",
                                  "g=u", "u=rwx-x", "0o640", "u=rw,,"])
def test_modes_ansible_accepts_pass(mode):
    assert file_attribute_problems(mode, None, None, known, known) == []


@pytest.mark.parametrize("mode, message", [
    ("banana", "mode banana is neither octal"),
    ("0849", "mode 0849 is neither octal"),
    ("17777", "mode 17777 is more than permission bits"),
    ("ua=rw", "mode ua=rw is neither octal"),
    ("ag+r", "mode ag+r is neither octal"),
])
def test_modes_ansible_refuses_are_named(mode, message):
    assert [problem for problem in file_attribute_problems(mode, None, None, known, known)
            if message in problem]


def test_unknown_owner_and_group_are_named_and_numbers_pass():
    assert file_attribute_problems(None, "nobody-here", "staff-here", known, known) == [
        "owner nobody-here is not a user of this host",
        "group staff-here is not a group of this host"]
    assert file_attribute_problems(None, "0", "4", known, known) == []
    assert file_attribute_problems(None, "root", "adm", known, known) == []


def test_read_text_keeps_line_endings_and_names_what_it_cannot_read(tmp_path):
    path = tmp_path / "a.rules"
    assert read_text(str(path)) is None
    path.write_bytes(b"-D\r\n-b 8192\n")
    assert read_text(str(path)) == "-D\r\n-b 8192\n"
    path.write_bytes(b"-D\n\xc3(\n")
    with pytest.raises(FileValidationError, match=r"a.rules is not UTF-8 text \(byte 0xc3 at offset 3\)"):
        read_text(str(path))
    with pytest.raises(FileValidationError, match="is a directory"):
        read_text(str(tmp_path))
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(FileValidationError, match="fifo is not a regular file"):
        read_text(str(fifo))


def test_read_text_refuses_a_file_over_its_limit_before_reading_it(tmp_path):
    path = tmp_path / "a.rules"
    path.write_bytes(b"-D\n" * 33 + b"\n")
    assert read_text(str(path), "a rules file", max_bytes=100) == "-D\n" * 33 + "\n"
    path.write_bytes(b"-D\n" * 33 + b"\n\n")
    with pytest.raises(FileValidationError) as raised:
        read_text(str(path), "a rules file", max_bytes=100)
    assert str(raised.value) == "%s is too large for a rules file: 101 bytes, over the 100 bytes " \
                                "limit" % path
    # Refused by its size: a sparse file of 1 TiB holds no byte that would be read.
    with open(path, "wb") as handle:
        handle.truncate(1 << 40)
    with pytest.raises(FileValidationError, match="1099511627776 bytes, over the 16 MiB"):
        read_text(str(path), "a rules file", max_bytes=16 * 1024 * 1024)
    # A file whose size says nothing (a regular file of /proc, one that grows) is read no
    # further than the limit.
    with pytest.raises(FileValidationError, match="maps is too large for a rules file: more than 100 bytes, over the 100 bytes"):
        read_text("/proc/self/maps", "a rules file", max_bytes=100)


@pytest.mark.parametrize("module, args, what", [
    (audit_rules, {"rules": ["-w /etc/hosts -p wa"]}, "a rules file"),
    (rsyslog_filter, {"validate": False, "filters": [
        {"property": "msg", "operator": "contains", "value": "x", "action": "stop"}]},
     "an rsyslog configuration file"),
    (auditd_conf, {"settings": {"freq": 50}}, "an auditd configuration file"),
])
@pytest.mark.parametrize("check, state", [(True, "present"), (False, "present"),
                                          (False, "absent")])
def test_the_file_modules_refuse_a_file_over_16_mib_before_reading_it(
        tmp_path, module, args, what, check, state):
    # audit_rules once took 51 s and 1.27 GB for 50 MB; no working file comes near the limit.
    target = tmp_path / "50-site.conf"
    with open(target, "wb") as handle:
        handle.write(b"-w /etc/passwd -p wa\n")
        handle.truncate(MAX_FILE_BYTES + 1)  # sparse: nothing of it is on disk
    before = target.stat()
    status, result = run_main(module, dict(args, path=str(target), state=state), check=check,
                              diff=True)
    assert (status, result["failed"], result["changed"]) == (1, True, False)
    assert result["msg"] == "%s is too large for %s: 16777217 bytes, over the 16 MiB limit" \
        % (target, what)
    after = target.stat()
    assert (after.st_size, after.st_mtime_ns, after.st_ino) == (
        before.st_size, before.st_mtime_ns, before.st_ino)
    assert [path.name for path in tmp_path.iterdir()] == ["50-site.conf"]


def test_a_link_resolves_to_its_target_and_a_file_to_itself(tmp_path):
    target = tmp_path / "target.rules"
    link = tmp_path / "link.rules"
    link.symlink_to(target.name)
    assert resolved_path(str(link)) == str(target)
    assert resolved_path(str(target)) == str(target)


def test_names_auditctl_cannot_resolve_are_reported_numbers_and_known_names_are_not():
    rule = parse_rule("-a always,exit -F arch=b64 -S openat -F auid>=1000 -F uid=ghost "
                      "-F gid=adm -F egid=nogroup-here")
    resolve = {("uid", "ghost"): None, ("gid", "adm"): "4"}.get
    assert unresolved_names(rule, lambda field, name: resolve((field, name))) == [
        '"%s": no user named ghost on this host (at "uid=ghost"), so auditctl refuses this '
        'rule here' % format_rule(rule),
        '"%s": no group named nogroup-here on this host (at "egid=nogroup-here"), so auditctl '
        'refuses this rule here' % format_rule(rule)]
    assert unresolved_names(parse_rule("-w /etc/passwd -p wa"), resolve) == []
