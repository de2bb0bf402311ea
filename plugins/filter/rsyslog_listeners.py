# -*- coding: utf-8 -*-
# Copyright: whotouched.server_audit contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Jinja filter reading the ports rsyslog's configuration files listen on.

A thin wrapper: the reading and its tests live in ``module_utils/_rsyslog/listeners.py``.
"""

from __future__ import annotations

from typing import Dict, List, Sequence

from ansible.errors import AnsibleFilterError

from ansible_collections.whotouched.server_audit.plugins.module_utils._rsyslog.listeners import (
    listeners,
    numbered_texts,
)


def rsyslog_listeners(lines: Sequence[str]) -> List[Dict[str, object]]:
    """Each network port the inputs of the files in ``lines`` (``grep -H -n`` output)
    listen on."""
    if isinstance(lines, (str, dict)) or not isinstance(lines, (list, tuple)):
        raise AnsibleFilterError("rsyslog_listeners: expects a list of lines, got %s"
                                 % type(lines).__name__)
    found = []
    for path, text in numbered_texts([str(line) for line in lines]).items():
        for listener in listeners(text):
            found.append(dict(listener, file=path, where="%s:%d" % (path, listener["line"]),
                              address="%s/%s" % (listener["protocol"], listener["port"])))
    return found


class FilterModule:
    """rsyslog listener filters."""

    def filters(self):
        return {"rsyslog_listeners": rsyslog_listeners}
