# -*- coding: utf-8 -*-
# Copyright: whotouched.server_audit contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Jinja filters writing the log server's allowed senders for rsyslog.

Thin wrappers: the reading of the entries and its tests live in ``module_utils/_rsyslog/senders.py``.
"""

from __future__ import annotations

from typing import Sequence

from ansible.errors import AnsibleFilterError

from ansible_collections.whotouched.server_audit.plugins.module_utils._rsyslog.senders import (
    SenderSyntaxError,
    allowed_sender_value,
    sender_check,
)


def rsyslog_allowed_senders(entries: Sequence[str]) -> str:
    """The value of rsyslog's ``$AllowedSender`` directive after its protocol."""
    try:
        return allowed_sender_value(entries)
    except SenderSyntaxError as exc:
        raise AnsibleFilterError("rsyslog_allowed_senders: %s" % exc)


def rsyslog_sender_check(entries: Sequence[str], source: str = "$fromhost-ip") -> str:
    """RainerScript that stops the messages of every sender not in ``entries``."""
    try:
        return sender_check(entries, source)
    except SenderSyntaxError as exc:
        raise AnsibleFilterError("rsyslog_sender_check: %s" % exc)


class FilterModule:
    """rsyslog allowed-sender filters."""

    def filters(self):
        return {"rsyslog_allowed_senders": rsyslog_allowed_senders,
                "rsyslog_sender_check": rsyslog_sender_check}
