#!/usr/bin/env python
"""Write the audit userspace's syscall tables as Python data: ausyscall -> _events/syscalls.py.

A SYSCALL record of ``log_format = RAW`` names its system call by number only; ausearch names
it from libaudit's tables, and so does the event library, from a copy of the same tables made
by this script from ``ausyscall MACHINE --dump`` (package auditd):

    .venv/bin/python scripts/generate-syscall-tables.py           # rewrite syscalls.py
    .venv/bin/python scripts/generate-syscall-tables.py --check   # exit 1 when it is stale

A unit test runs the check where the installed audit userspace is the version the copy was
made from.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

PYTHON_FILE = Path(__file__).resolve().parents[1] / "plugins" / "module_utils" / "_events" / \
    "syscalls.py"

# The kernel's AUDIT_ARCH_* values as SYSCALL records write them (arch=%x), and the machine
# whose table ausyscall dumps for each (libaudit's audit_elf_to_machine).
MACHINES = (
    ("c000003e", "x86_64"), ("40000003", "i386"), ("c00000b7", "aarch64"),
    ("40000028", "arm"), ("28", "arm"), ("80000015", "ppc64"), ("c0000015", "ppc64le"),
    ("14", "ppc"), ("80000016", "s390x"), ("16", "s390"),
)

HEADER = '''# -*- coding: utf-8 -*-
# Copyright: whotouched.server_audit contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to whotouched.server_audit: it may change in any release. Do not import it from
# other collections or from code outside this collection.
"""System call names by architecture, as the audit userspace names them (ausearch -i).

A SYSCALL record written with ``log_format = RAW`` gives the system call as a number of its
architecture (``arch=c000003e syscall=59``).  Generated from libaudit's tables (``ausyscall
MACHINE --dump``, audit %(version)s) by ``scripts/generate-syscall-tables.py``; do not edit by
hand.  A table is read into a mapping the first time a record of its architecture needs it.
"""

from __future__ import annotations

AUDIT_VERSION = "%(version)s"

# The SYSCALL record's arch= (the kernel's AUDIT_ARCH_* value) -> its table's name.
ARCHITECTURES = %(architectures)s

# "number name number name ..." per table.
_TABLES = {
%(tables)s}

_READ = {}


def syscall_name(arch, number):
    """The name of system call ``number`` of architecture ``arch`` (as the record writes it),
    or None when the tables do not know it."""
    name = ARCHITECTURES.get(arch)
    if name is None:
        return None
    table = _READ.get(name)
    if table is None:
        words = _TABLES[name].split()
        table = _READ[name] = dict(zip(map(int, words[0::2]), words[1::2]))
    return table.get(number)
'''


def audit_version():
    """The installed audit userspace's version (ausearch -v), or None."""
    ausearch = shutil.which("ausearch") or "/sbin/ausearch"
    try:
        shown = subprocess.run([ausearch, "-v"], capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return None
    return shown.stdout.split()[-1]


def dump(machine):
    """``[(number, name), ...]`` of ausyscall's table for ``machine``."""
    shown = subprocess.run([shutil.which("ausyscall") or "/usr/bin/ausyscall", machine,
                            "--dump"], capture_output=True, text=True, check=True)
    pairs = []
    for line in shown.stdout.splitlines()[1:]:  # the first line names the table
        number, name = line.split()
        pairs.append((int(number), name))
    return pairs


def render_python(version, architectures, tables):
    """The module for ``architectures`` ([(arch, table name), ...]) and ``tables`` ({table
    name: [(number, name), ...]})."""
    blocks = []
    for machine in sorted(tables):
        words = " ".join("%d %s" % pair for pair in tables[machine])
        lines = textwrap.wrap(words, width=88, break_on_hyphens=False)
        blocks.append('    "%s": (\n%s\n    ),\n' % (
            machine, "\n".join('        "%s "' % line for line in lines)))
    return HEADER % {"version": version,
                     "architectures": "{\n%s}" % "".join(
                         '    "%s": "%s",\n' % pair for pair in architectures),
                     "tables": "".join(blocks)}


def read_tables():
    """``(architectures, tables)`` as render_python takes them; machines whose tables are the
    same (ppc, ppc64, ppc64le) share one."""
    tables = {}
    table_of = {}
    for _arch, machine in MACHINES:
        if machine not in table_of:
            pairs = dump(machine)
            table_of[machine] = next((name for name, other in tables.items() if other == pairs),
                                     machine)
            tables.setdefault(table_of[machine], pairs)
    return [(arch, table_of[machine]) for arch, machine in MACHINES], tables


def main(argv):
    wanted = render_python(audit_version(), *read_tables())
    if argv == ["--check"]:
        if PYTHON_FILE.read_text(encoding="utf-8") != wanted:
            print("%s is stale: run %s" % (PYTHON_FILE, sys.argv[0]), file=sys.stderr)
            return 1
        return 0
    PYTHON_FILE.write_text(wanted, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
