# -*- coding: utf-8 -*-
# Copyright: whotouched.server_audit contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to whotouched.server_audit: it may change in any release. Do not import it from
# other collections or from code outside this collection.
"""What a sender lost on the way, as its loss reporter tells it.

linux_audit runs ``whotouched-audit-health`` on every audited host.  It writes a USER record
through the kernel, so that it travels with the events:

    type=USER msg=audit(...): pid=726 uid=0 auid=4294967295 ... msg='op=whotouched-audit-health
    lost=12 lost_total=52 since=1733390000.000 backlog=0 backlog_limit=8192
    backlog_wait_time=60000 logging_suspended=no plugin_overflow=no res=success'

``lost`` records were lost by the kernel between ``since`` and the record's own time;
``logging_suspended=yes`` says auditd is not writing its log (everything is lost while it
lasts); ``plugin_overflow=yes`` that auditd's queue to its plugins overflowed since the
previous report.  A record that says none of these is a heartbeat.

The record comes from the sender, which whoever controls it can forge: the numbers are read
within bounds, and the worst a forged record does is report a loss of its own sender.
"""

from __future__ import annotations

import math
import re
import time

from ansible_collections.whotouched.server_audit.plugins.module_utils._events.schema import (
    TYPE_CHECKING,
    LossReport,
)

if TYPE_CHECKING:
    from typing import Optional

HEALTH_OPERATION = "whotouched-audit-health"
_MARK = "op=" + HEALTH_OPERATION + " "
_WORD = re.compile(r"([a-z_]{1,32})=([^\s']{0,32})")
# More records than a kernel can have lost; anything above is not a count.
_MOST = 2 ** 63


def _count(value):
    return int(value) if value.isdecimal() and len(value) < 20 and int(value) < _MOST else 0


def _epoch(value):
    try:
        epoch = float(value)
    except ValueError:
        return None
    return epoch if math.isfinite(epoch) and 0 <= epoch < 2 ** 37 else None


def read_loss_report(body: str) -> Optional[LossReport]:
    """The report in the body of a USER record, or None when the record is not one."""
    start = body.find(_MARK)
    if start < 0:
        return None
    end = body.find("'", start)
    words = dict(_WORD.findall(body[start:end if end >= 0 else len(body)]))
    return {
        "lost": _count(words.get("lost", "")),
        "lost_total": _count(words.get("lost_total", "")),
        "since": _epoch(words.get("since", "")),
        "logging_suspended": words.get("logging_suspended") == "yes",
        "plugin_overflow": words.get("plugin_overflow") == "yes",
    }


def loses(report: LossReport) -> bool:
    """Whether the report says something was lost (else it is a heartbeat)."""
    return report["lost"] > 0 or report["logging_suspended"] or report["plugin_overflow"]


def _clock(epoch):
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(epoch)) if epoch is not None else "?"


def describe_loss(report: LossReport, epoch: Optional[float]) -> str:
    """One line for people: what was lost, between when and when (UTC)."""
    parts = []
    if report["lost"]:
        parts.append("lost %d audit events between %s and %s (kernel backlog full or rate limit)"
                     % (report["lost"], _clock(report["since"]), _clock(epoch)))
    if report["logging_suspended"]:
        parts.append("auditd is not writing its log (disk full?): events are being lost")
    if report["plugin_overflow"]:
        parts.append("auditd's queue to its plugins overflowed (events lost for the plugins)")
    return "; ".join(parts) or "no loss reported"
