# -*- coding: utf-8 -*-
# Copyright: whotouched.server_audit contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Jinja filters reading what rsyslog's configuration files load and where they listen.

Thin wrappers: the reading and its tests live in ``module_utils/_rsyslog/statements.py``.
"""

from __future__ import annotations

from typing import Callable, Dict, List, Sequence

from ansible.errors import AnsibleFilterError

from ansible_collections.whotouched.server_audit.plugins.module_utils._rsyslog.statements import (
    listeners,
    module_loads,
    numbered_files,
)


def _each_file(name: str, lines: Sequence[str], read: Callable[[str], List[Dict[str, object]]]):
    if isinstance(lines, (str, dict)) or not isinstance(lines, (list, tuple)):
        raise AnsibleFilterError("%s: expects a list of lines, got %s" % (name, type(lines).__name__))
    found = []
    for path, text, numbers in numbered_files([str(line) for line in lines]):
        for entry in read(text):
            line = numbers[entry["line"] - 1]
            found.append(dict(entry, file=path, line=line, where="%s:%d" % (path, line)))
    return found


def rsyslog_listeners(lines: Sequence[str]) -> List[Dict[str, object]]:
    """Each network port the inputs of the files in ``lines`` (``grep -H -n`` output)
    listen on."""
    return [dict(entry, address="%s/%s" % (entry["protocol"], entry["port"]))
            for entry in _each_file("rsyslog_listeners", lines, listeners)]


def rsyslog_module_loads(lines: Sequence[str]) -> List[Dict[str, object]]:
    """Each module the files in ``lines`` (``grep -H -n`` output) load."""
    return _each_file("rsyslog_module_loads", lines, module_loads)


class FilterModule:
    """rsyslog configuration filters."""

    def filters(self):
        return {"rsyslog_listeners": rsyslog_listeners, "rsyslog_module_loads": rsyslog_module_loads}
