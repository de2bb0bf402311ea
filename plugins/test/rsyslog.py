# -*- coding: utf-8 -*-
# Copyright: whotouched.server_audit contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Jinja tests on rsyslog's configuration files.

Thin wrappers: the include rules and their tests live in ``module_utils/_rsyslog/validate.py``.
"""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.whotouched.server_audit.plugins.module_utils._rsyslog.validate import (
    read_after,
)


def rsyslog_reads_after(path: str, drop_in: str) -> bool:
    """Whether rsyslog reads the file ``path`` after the drop-in ``drop_in``."""
    if not isinstance(path, str) or not isinstance(drop_in, str) or \
            not path.startswith("/") or not drop_in.startswith("/"):
        raise AnsibleFilterError("rsyslog_reads_after: expects two absolute paths, got %r and %r"
                                 % (path, drop_in))
    return read_after(path, drop_in)


class TestModule:
    """rsyslog configuration tests."""

    def tests(self):
        return {"rsyslog_reads_after": rsyslog_reads_after}
