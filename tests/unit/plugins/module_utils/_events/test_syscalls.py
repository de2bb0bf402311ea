"""The syscall tables are the audit userspace's own (ausyscall), as the generator copies them."""

from __future__ import annotations

import shutil

import pytest

from ansible_collections.whotouched.server_audit.plugins.module_utils._events import syscalls
from tests.support.scripts import load_script

GENERATOR = "generate-syscall-tables.py"


def test_the_tables_are_what_ausyscall_dumps(tmp_path):
    generator = load_script(GENERATOR)
    if not shutil.which("ausyscall"):
        pytest.skip("ausyscall is not installed (package auditd)")
    installed = generator.audit_version()
    if installed != syscalls.AUDIT_VERSION:
        pytest.skip("audit %s is installed; the tables were copied from audit %s"
                    % (installed, syscalls.AUDIT_VERSION))
    architectures, tables = generator.read_tables()
    assert generator.PYTHON_FILE.read_text(encoding="utf-8") == generator.render_python(
        installed, architectures, tables), "syscalls.py is stale: run scripts/%s" % GENERATOR
    for arch, table in architectures:
        for number, name in tables[table]:
            assert syscalls.syscall_name(arch, number) == name
    stale = tmp_path / "syscalls.py"
    stale.write_text("", encoding="utf-8")
    generator.PYTHON_FILE = stale
    assert generator.main(["--check"]) == 1


def test_a_forged_architecture_costs_no_memory():
    for number in range(1000):
        assert syscalls.syscall_name("f%07x" % number, 59) is None
    assert set(syscalls._READ) <= set(syscalls.ARCHITECTURES.values())
