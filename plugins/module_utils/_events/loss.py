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
lasts, the reports too: the first report after it says since when, in
``logging_suspended_since``); ``plugin_overflow=yes`` that auditd's queue to its plugins
overflowed since the previous report; ``lost_total_reset=yes`` that the kernel's count went
back to 0 (reset with ``auditctl --reset-lost``, or past 2**32), so that ``lost`` is a least
figure; ``boot`` which boot of the sender counted.  A record that says none of these is a
heartbeat.

The record comes from the sender, which whoever controls it can forge: the numbers are read
within bounds, and the worst a forged record does is report a loss of its own sender.
"""

from __future__ import annotations

import math
import re
import time
from collections import OrderedDict

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
        "unlogged_since": _epoch(words.get("logging_suspended_since", "")),
        "lost_total_reset": words.get("lost_total_reset") == "yes",
        "boot": words["boot"] if re.fullmatch(r"[0-9a-f]{8}", words.get("boot", "")) else None,
    }


def loses(report: LossReport) -> bool:
    """Whether the report says something was lost (else it is a heartbeat)."""
    return report["lost"] > 0 or report["logging_suspended"] or report["plugin_overflow"] or \
        report.get("unlogged_since") is not None or report.get("lost_total_reset", False)


class LossReports(object):
    """Each sender's last loss report, to read its next one by.

    A report that does not arrive (the kernel's rate limit drops any record, the reporter's
    too) would take its count with it, and a reporter that counts again from an earlier
    report (it could not tell whether that one was written) counts some losses twice.  The
    totals put both right: within one boot the kernel's count only grows, so what was lost
    since the last report read is the difference of their totals.  Reports are read in the
    order their sender wrote them.  A sender's reports
    are kept apart from every other's, by address and node; the node is the sender's word,
    so each address keeps at most ``nodes_per_address`` of them, and one that invents nodes
    forgets its own, not another address's.  At most ``remember`` in all.
    """

    def __init__(self, remember=10000, nodes_per_address=1000):
        self.remember, self.nodes_per_address = remember, nodes_per_address
        # address -> node -> (epoch, lost_total, boot, lost_total_reset), least recently
        # read first at both levels
        self._last = OrderedDict()
        self._kept = 0

    def _keep(self, address, node, state):
        nodes = self._last.pop(address, None)
        if nodes is None:
            nodes = OrderedDict()
        self._last[address] = nodes
        if nodes.pop(node, None) is None:
            self._kept += 1
        nodes[node] = state
        if len(nodes) > self.nodes_per_address:
            nodes.popitem(last=False)
            self._kept -= 1
        while self._kept > self.remember:
            oldest_address, oldest_nodes = next(iter(self._last.items()))
            oldest_nodes.popitem(last=False)
            self._kept -= 1
            if not oldest_nodes:
                del self._last[oldest_address]

    def reading(self, address, node, epoch, report: LossReport) -> LossReport:
        """``report`` as it reads after the sender's last one: what was lost since that one's
        time, where both count from one boot (the report itself when not)."""
        if epoch is None or report["since"] is None:
            return report
        last = self._last.get(address, {}).get(node)
        reset, boot = report.get("lost_total_reset", False), report.get("boot")
        self._keep(address, node, (epoch, report["lost_total"], boot, reset))
        if last is None:
            return report
        last_epoch, last_total, last_boot, last_reset = last
        total, since = report["lost_total"], report["since"]
        if epoch < last_epoch or (reset and not last_reset):
            return report  # out of order; or counted since the count went back, as it says
        if total < last_total:
            if boot is not None and boot == last_boot:
                # the count went back, and the report that said so did not arrive: what it
                # counted before, since the last report read, is not known
                return dict(report, lost=total, since=last_epoch, lost_total_reset=True)
            return report  # another boot
        if since <= last_epoch or total - report["lost"] > last_total:
            # counted from before the last report, or reports between them did not arrive;
            # the last one read told the count's going back, if this one repeats it
            return dict(report, lost=total - last_total, since=last_epoch, lost_total_reset=False)
        return report  # another boot that lost no fewer than the last one's total


def _clock(epoch):
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(epoch)) if epoch is not None else "?"


def _window(since, epoch):
    if since is not None and epoch is not None and since > epoch:
        # counted from a report dated after this one: the sender's clock went back
        return "between %s and %s (the sender's clock went back)" % (_clock(epoch), _clock(since))
    return "between %s and %s" % (_clock(since), _clock(epoch))


def describe_loss(report: LossReport, epoch: Optional[float]) -> str:
    """One line for people: what was lost, between when and when (UTC)."""
    parts = []
    if report.get("lost_total_reset"):
        counted = "at least %d" % report["lost"] if report["lost"] else "an unknown number of"
        parts.append("lost %s audit events %s (the kernel's count went back to 0: "
                     "reset with auditctl --reset-lost, or past 2^32; what it had counted since "
                     "the last report is not known)" % (counted, _window(report["since"], epoch)))
    elif report["lost"]:
        parts.append("lost %d audit events %s (kernel backlog full or rate limit)"
                     % (report["lost"], _window(report["since"], epoch)))
    if report.get("unlogged_since") is not None:
        parts.append("auditd wrote no log %s (disk full?): the events of that time are lost"
                     % _window(report["unlogged_since"], epoch))
    if report["logging_suspended"]:
        parts.append("auditd is not writing its log (disk full?): events are being lost")
    if report["plugin_overflow"]:
        parts.append("auditd's queue to its plugins overflowed (events lost for the plugins)")
    return "; ".join(parts) or "no loss reported"
