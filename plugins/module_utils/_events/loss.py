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
    backlog_wait_time=60000 logging_suspended=no plugin_overflow=no boot=3f1e0c7a era=0
    res=success'

``lost`` records were lost by the kernel between ``since`` and the record's own time;
``logging_suspended=yes`` says auditd is not writing its log (everything is lost while it
lasts, the reports too: the first report after it says since when, in
``logging_suspended_since``); ``plugin_overflow=yes`` that auditd's queue to its plugins
overflowed since the previous report; ``lost_total_reset=yes`` that the kernel's count went
back to 0 (reset with ``auditctl --reset-lost``, or past 2**32), so that ``lost`` is a least
figure; ``boot`` which boot of the sender counted, and ``era`` how many times its reporter
saw the count go back to 0 in that boot.  A record that says none of these is a heartbeat.

The record comes from the sender, which whoever controls it can forge: the numbers are read
within bounds, and the worst a forged record does is report a loss of its own sender (or of
another node behind the same address: nodes behind one relay are one sender here), which
then stands for the losses the sender's next reports tell below the count it claimed: the
total shown is never below what the sender's reports told.
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
# Boots of a node whose reports are remembered: a late report of the boot before a reboot
# counts nothing twice
BOOTS_PER_NODE = 2


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
        "era": int(words["era"]) if re.fullmatch(r"[0-9]{1,9}", words.get("era", "")) else None,
    }


def loses(report: LossReport) -> bool:
    """Whether the report says something was lost (else it is a heartbeat)."""
    return report["lost"] > 0 or report["logging_suspended"] or report["plugin_overflow"] or \
        report.get("unlogged_since") is not None or report.get("lost_total_reset", False)


class _BootCount(object):
    """What the reports of one boot of a sender said: for each era of its kernel's count (from
    the boot, then from each time the reporter saw it go back to 0), the part of the count
    read so far, ``(low, high]``, when the report of ``low`` was written and when that of
    ``high`` was (no later than the log server's clock when it read it); at most
    ``most_eras`` eras, the latest first."""

    __slots__ = ("eras", "latest")

    def __init__(self):
        self.eras, self.latest = OrderedDict(), None

    def read(self, epoch, now, report: LossReport, most_eras, rebooted_after=None) -> LossReport:
        """``report`` as it reads after the ones read before.  Within an era the count only
        grows, so all of it from the lowest to the highest count read was lost: a report
        adds what it widens that by, below only when it was written before the lowest one
        (a reporter that lost its state counts from the boot again, later).  The first
        report read of a boot is read as it says, or, when the sender's last report read
        before it (at ``rebooted_after``) was of another boot, as all its boot's count:
        the boot's first reports may not have arrived."""
        era, total = report["era"], report["lost_total"]
        start = max(0, total - report["lost"])
        first, latest = self.latest is None, self.latest
        self.latest = epoch if latest is None else max(latest, epoch)
        dated = min(epoch, now)  # a date ahead of the log server's clock is not believed
        known = self.eras.get(era)
        if first:
            read = report  # the first report read of this boot: as it says
            if rebooted_after is not None and start:
                read = dict(report, lost=total, since=min(report["since"], rebooted_after))
                start = 0
            low, low_epoch, high, high_epoch = start, epoch, total, dated
        elif known is None or (total < known[2] and epoch > known[3]):
            # the count went back to 0 since the reports read before, whether or not the
            # report that said so arrived (or, in an era read before, one dated after the
            # highest count is below it: a count gone back that the reporter did not see,
            # or a highest count that was not the kernel's): all of this count is new
            since = report["since"]
            if latest < epoch:
                since = latest if known is None else known[3]
            read = dict(report, lost=total, since=since, lost_total_reset=True)
            low, low_epoch, high, high_epoch = 0, epoch, total, dated
        else:
            low, low_epoch, high, high_epoch = known
            below = low - start if start < low and epoch < low_epoch else 0
            read = dict(report, lost=below + max(0, total - high), lost_total_reset=False,
                        since=high_epoch if total > high else report["since"])
            if total > high:
                high, high_epoch = total, dated
            if below:
                low, low_epoch = start, epoch
        self.eras[era] = (low, low_epoch, high, high_epoch)
        self.eras.move_to_end(era, last=False)
        if len(self.eras) > most_eras:
            self.eras.popitem()
        return read


class LossReports(object):
    """Each sender's loss reports read so far, to read its next one by.

    A report that does not arrive (the kernel's rate limit drops any record, the reporter's
    too) would take its count with it, and a reporter that counts again from an earlier
    report (it could not tell whether that one was written) counts some losses twice.  The
    totals put both right: within one boot and era the kernel's count only grows, so a
    report adds what it widens the part of its era's count read by (see
    :meth:`_BootCount.read`), and a report of a new era all of its total.  Copies, late reports and reports out of order add nothing
    twice, and a new era says the count went back even when the report that said so was
    lost.  Reports of reporters that do not say their era are read in the order their
    sender wrote them, from the last one's total.

    A sender's reports are kept apart from every other's, by address and node; the node is
    the sender's word, so each address keeps at most ``nodes_per_address`` of them, and one
    that invents nodes forgets its own, not another address's.  At most ``remember`` in all,
    and at most ``eras_per_boot`` eras of each.  The highest count of an era is taken as
    written no later than ``clock()`` when it was read: a report forged with a later date
    would otherwise have the reports written before that date read as late ones.
    """

    def __init__(self, remember=10000, nodes_per_address=1000, eras_per_boot=16, clock=time.time):
        self.remember, self.nodes_per_address = remember, nodes_per_address
        self.eras_per_boot, self.clock = eras_per_boot, clock
        # address -> node -> boot -> a _BootCount (the node's last BOOTS_PER_NODE boots,
        # the latest first), or (epoch, lost_total, boot, lost_total_reset) of the last
        # report of a reporter that does not say its era; least recently read first
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
        """``report`` as it reads after the sender's reports read before: what was lost since
        the latest of them, where they count from one boot (the report itself when not)."""
        if epoch is None or report["since"] is None:
            return report
        last = self._last.get(address, {}).get(node)
        boot = report.get("boot")
        if report.get("era") is None or boot is None:
            self._keep(address, node, (epoch, report["lost_total"], boot,
                                       report.get("lost_total_reset", False)))
            return _read_after(last, epoch, report) if isinstance(last, tuple) else report
        boots = last if isinstance(last, OrderedDict) else OrderedDict()
        self._keep(address, node, boots)
        counted, rebooted_after = boots.get(boot), None
        if counted is None:
            # another boot's reports read before: this one's first reports may be lost
            rebooted_after = max((other.latest for other in boots.values()), default=None)
            counted = boots[boot] = _BootCount()
            boots.move_to_end(boot, last=False)
            if len(boots) > BOOTS_PER_NODE:
                boots.popitem()
        return counted.read(epoch, self.clock(), report, self.eras_per_boot, rebooted_after)


def _read_after(last, epoch, report: LossReport) -> LossReport:
    """``report`` of a reporter that does not say its era, read after its ``last`` one."""
    last_epoch, last_total, last_boot, last_reset = last
    total, since = report["lost_total"], report["since"]
    reset, boot = report.get("lost_total_reset", False), report.get("boot")
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
