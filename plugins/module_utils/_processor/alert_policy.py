# -*- coding: utf-8 -*-
# Copyright: whotouched.server_audit contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to whotouched.server_audit: it may change in any release. Do not import it from
# other collections or from code outside this collection.
"""Which classified events become alerts, and what an alert says.

Pure: no network, no clock of its own (callers pass ``now``).  The alert processor
(``processor``) feeds every classified event to :class:`AlertPolicy`, which

* keeps the events at or above the lowest ``min_level`` of the sinks;
* deduplicates: the first event of a rule set on a host opens a window of ``window`` seconds;
  the same rules on the same host inside it are counted, not sent, and when the window
  closes one ``repeat`` alert carries the count;
* rate-limits: at most ``max_alerts`` alerts per ``window`` overall, three quarters of them
  from one address; what goes over is counted and reported by one ``suppressed`` alert, naming
  the senders held back, when the window ends.

An alert is a dict; :func:`alert_text`, :func:`webhook_body`, :func:`mail_message` and
:func:`fill_placeholders` render it for people, webhooks, mail and SMS.  Log content in
text for people goes through ``_text.printable.sanitize`` (every character shows); in JSON
it is data, escaped by the encoder.

Standard library only: this runs on the log server under rsyslog's ``omprog``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from email.message import EmailMessage

from ansible_collections.whotouched.server_audit.plugins.module_utils._events.loss import (
    describe_loss,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._text.printable import (
    sanitize,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._events.risk import (
    LEVEL_RANK,
    LEVELS,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._events.schema import (
    Event,
    held_event,
)

SIGNATURE_HEADER = "X-Whotouched-Signature"
"""The webhook header holding ``sha256=<hex HMAC of the body>`` when a secret is set."""

PLACEHOLDERS = ("text", "level", "host", "address", "user", "login_user", "rule", "reason",
                "count", "time", "command", "kind")
"""What ``{name}`` may stand for in an SMS command's arguments or gateway parameters."""

_PLACEHOLDER = re.compile(r"\{([A-Za-z_]+)\}")

# Fields of an event an alert carries (the rest stays in the event store).
_EVENT_FIELDS = ("time", "epoch", "host", "address", "kind", "login_user", "user", "session",
                 "tty", "cwd", "exe", "argv", "key", "success", "path", "operation", "pid",
                 "ppid", "event_id", "account", "target_account", "source_address", "level",
                 "reasons", "rules", "complete", "loss")


class AlertConfigError(ValueError):
    """A setting of the alerting that cannot be used; the message names it."""


def check_level(value, what):
    """``value`` when it is a risk level, else :class:`AlertConfigError` naming ``what``."""
    if value not in LEVEL_RANK:
        raise AlertConfigError("%s must be one of %s, got %r" % (what, ", ".join(LEVELS), value))
    return value


def check_placeholders(template, what):
    """``template`` when its ``{name}`` placeholders are all known, else an error naming it."""
    if not isinstance(template, str):
        raise AlertConfigError("%s must be a string, got %r" % (what, template))
    for name in _PLACEHOLDER.findall(template):
        if name not in PLACEHOLDERS:
            raise AlertConfigError("%s: unknown placeholder {%s} (known: %s)"
                                   % (what, name, ", ".join(PLACEHOLDERS)))
    return template


def wants(level, min_level):
    """Whether a sink with ``min_level`` gets an alert of ``level``."""
    return LEVEL_RANK[level] >= LEVEL_RANK[min_level]


class AlertPolicy(object):
    """Deduplication and rate limiting of alerts, in bounded memory.

    ``decide(event, now)`` returns the alerts to send at once; ``due(now)`` returns the
    ``repeat`` and ``suppressed`` alerts of windows that have closed.  ``counts`` says how
    many events were considered, alerted, deduplicated and rate-limited.

    No sender can silence another: one address gets at most three quarters of the window's
    alerts (at least one; the rest are kept for the others), repeats count against the same
    limit, the windows of the address
    that holds the most are forgotten first when the table is full (their repeats sent, not
    dropped), and the ``suppressed`` alert names the senders held back.
    """

    def __init__(self, min_level="high", window=300.0, max_alerts=20, max_keys=10000):
        self.min_level = check_level(min_level, "min_level")
        if not isinstance(window, (int, float)) or isinstance(window, bool) or window <= 0:
            raise AlertConfigError("dedup window must be a positive number of seconds, got %r"
                                   % (window,))
        if not isinstance(max_alerts, int) or isinstance(max_alerts, bool) or max_alerts < 1:
            raise AlertConfigError("rate limit must be a positive whole number of alerts per "
                                   "window, got %r" % (max_alerts,))
        self.window = float(window)
        self.max_alerts = max_alerts
        # a quarter of each window's alerts (at least one) is kept for the other addresses
        self.max_alerts_per_address = max(1, max_alerts - max(1, max_alerts // 4))
        self.max_keys = max_keys
        self.counts = {"events": 0, "alerts": 0, "deduplicated": 0, "rate_limited": 0,
                       "repeats": 0}
        # (address, host, node, rules) -> [opened, count after the first, level, last event];
        # oldest first; and how many each address holds
        self._open = {}
        self._open_of_address = {}
        self._rate_start = None
        self._rate_sent = 0
        self._rate_sent_by = {}
        # address -> [alerts held back, highest level, host names (a few)]
        self._held_back = {}

    def decide(self, event: Event, now):
        """The alerts ``event`` (classified) causes now: ``[]`` or ``[alert]`` (and the repeats
        of a window forgotten to make room)."""
        level = event.get("level") or "info"
        if LEVEL_RANK.get(level, 0) < LEVEL_RANK[self.min_level]:
            return []
        self.counts["events"] += 1
        event = held_event(event)
        # By the address it came from as well as the name it claims: a sender naming itself
        # after another host must not have that host's alerts counted as repeats of its own
        # (and the hosts behind one relay, one address, stay apart by name).
        address = event.get("address") or ""
        key = (address, event.get("host") or "", event.get("node") or "",
               tuple(sorted(event.get("rules") or ())))
        entry = self._open.get(key)
        if entry is not None and now - entry[0] < self.window:
            entry[1] += 1
            # the repeats' alert tells the last one, or for losses all of them (each report
            # counts its own)
            entry[3] = event if entry[1] == 1 else _folded(entry[3], event)
            if LEVEL_RANK[level] > LEVEL_RANK[entry[2]]:
                entry[2] = level
            self.counts["deduplicated"] += 1
            return []
        alerts = []
        if entry is not None:
            alerts += self._close(key, now)
        if len(self._open) >= self.max_keys:
            alerts += self._close(self._oldest_of_crowded(), now)
        self._open[key] = [now, 0, level, event]
        self._open_of_address[address] = self._open_of_address.get(address, 0) + 1
        if self._rate_allows(now, level, event):
            self.counts["alerts"] += 1
            alerts.append(make_alert("event", event, level, 1))
        return alerts

    def _oldest_of_crowded(self):
        """The oldest window of the address that holds the most."""
        crowded = max(self._open_of_address, key=self._open_of_address.get)
        return next(key for key in self._open if key[0] == crowded)

    def _close(self, key, now):
        """Forget the window of ``key``: its repeats' alert, when the rate limit lets it."""
        opened, repeated, level, event = self._open.pop(key)
        left = self._open_of_address.pop(key[0]) - 1
        if left:
            self._open_of_address[key[0]] = left
        if not repeated:
            return []
        self.counts["repeats"] += 1
        if not self._rate_allows(now, level, event):
            return []
        return [make_alert("repeat", event, level, repeated, since=opened,
                           seconds=self.window)]

    def _rate_allows(self, now, level, event):
        if self._rate_start is None or now - self._rate_start >= self.window:
            self._rate_start = now
            self._rate_sent = 0
            self._rate_sent_by = {}
        address = event.get("address") or ""
        sent_by = self._rate_sent_by.get(address, 0)
        if self._rate_sent >= self.max_alerts or sent_by >= self.max_alerts_per_address:
            self._hold_back(level, event)
            return False
        self._rate_sent += 1
        self._rate_sent_by[address] = sent_by + 1
        return True

    def _hold_back(self, level, event):
        self.counts["rate_limited"] += 1
        address = event.get("address") or ""
        held = self._held_back.get(address)
        if held is None:
            if len(self._held_back) >= _HELD_BACK_ADDRESSES:
                address = None  # the others, counted together
            held = self._held_back.setdefault(address, [0, "info", []])
        held[0] += 1
        if LEVEL_RANK[level] > LEVEL_RANK[held[1]]:
            held[1] = level
        host = event.get("host")
        if host and host not in held[2] and len(held[2]) < 3:
            held[2].append(host)

    def due(self, now):
        """Alerts for windows closed by ``now``: repeats with their count, and one alert for
        what the rate limit held back."""
        alerts = []
        if self._held_back and now - self._rate_start >= self.window:
            alerts.append(self._suppressed())  # before the repeats start a new rate window
        while self._open:
            key = next(iter(self._open))
            if now - self._open[key][0] < self.window:
                break
            alerts += self._close(key, now)
        return alerts

    def flush(self):
        """Every pending repeat and suppressed alert, as if all windows had closed (no rate
        limit: the processor is stopping)."""
        alerts = []
        for opened, repeated, level, event in self._open.values():
            if repeated:
                self.counts["repeats"] += 1
                alerts.append(make_alert("repeat", event, level, repeated, since=opened,
                                         seconds=self.window))
        self._open.clear()
        self._open_of_address.clear()
        if self._held_back:
            alerts.append(self._suppressed())
        return alerts

    def _suppressed(self):
        held_back, self._held_back = self._held_back, {}
        senders = sorted(({"address": address, "hosts": hosts, "count": count, "level": level}
                          for address, (count, level, hosts) in held_back.items()),
                         key=lambda sender: (-LEVEL_RANK[sender["level"]], -sender["count"]))
        return suppressed_alert(senders, self.window)


# How many senders the suppressed alert names apart (the rest are counted together).
_HELD_BACK_ADDRESSES = 1000


def make_alert(kind, event: Event, level, count, since=None, seconds=None):
    """An alert about ``event``: ``kind`` is ``event`` (the first), or ``repeat`` (``count``
    more of the same rules on the same host within ``seconds``)."""
    event = held_event(event)
    alert = {
        "kind": kind,
        "level": level,
        "count": count,
        "host": event.get("host") or event.get("address"),
        "address": event.get("address"),
        "rules": list(event.get("rules") or ()),
        "reasons": list(event.get("reasons") or ()),
        "event": {name: event.get(name) for name in _EVENT_FIELDS if name in event},
    }
    if seconds is not None:
        alert["window_seconds"] = seconds
    alert["text"] = alert_text(alert)
    return alert


def suppressed_alert(senders, seconds):
    """The alert that says what the rate limit held back: ``senders``, most urgent first,
    each ``{"address", "hosts", "count", "level"}`` (the address None for the rest)."""
    level = max((sender["level"] for sender in senders), key=LEVEL_RANK.get, default="info")
    alert = {"kind": "suppressed", "level": level,
             "count": sum(sender["count"] for sender in senders), "host": None,
             "address": None, "rules": [], "reasons": [], "event": {},
             "senders": senders[:_SENDERS_TOLD], "window_seconds": seconds}
    alert["text"] = alert_text(alert)
    return alert


# How many senders a suppressed alert names.
_SENDERS_TOLD = 10
# The longest text of an alert, for people.
_MAX_TEXT = 2000


def command_line(event):
    """The event's command as one line for people, or its file operation, its event id, or
    what its sender lost."""
    if event.get("loss"):
        return describe_loss(event["loss"], event.get("epoch"))
    argv = event.get("argv") or []
    if argv:
        return " ".join(argv)
    if event.get("path"):
        return "%s %s" % (event.get("operation") or "touched", event["path"])
    if event.get("event_id") is not None:
        return "Windows event %s" % event["event_id"]
    return event.get("exe") or ""


def alert_text(alert):
    """One line for people: level, where, who, what and why; no control characters."""
    level = alert["level"].upper()
    if alert["kind"] == "suppressed":
        senders = alert.get("senders") or ()
        told = ", ".join(
            "%s x%d (%s)" % (_sender_name(sender), sender["count"], sender["level"])
            for sender in senders[:5])
        if len(senders) > 5:
            told += ", and %d more senders" % (len(senders) - 5)
        return _bounded(sanitize("[%s] %d more alerts held back by the rate limit in the last "
                                 "%d s%s" % (level, alert["count"],
                                             alert.get("window_seconds") or 0,
                                             ": " + told if told else "")))
    event = alert["event"]
    where = alert.get("host") or "?"
    if alert.get("address") and alert["address"] != where:
        where = "%s (%s)" % (where, alert["address"])
    who = event.get("login_user") or "?"
    if event.get("user") and event["user"] != who:
        who = "%s as %s" % (who, event["user"])
    why = "; ".join(alert.get("reasons") or ()) or "risk rule"
    text = "[%s] %s: %s: %s -- %s" % (level, where, who, command_line(event), why)
    if alert["kind"] == "repeat":
        text = "%s (%d more times in %d s)" % (
            text, alert["count"], alert.get("window_seconds") or 0)
    return _bounded(sanitize(text))


def _sender_name(sender):
    if sender["address"] is None:
        return "other senders"
    hosts = "/".join(sender["hosts"])
    return "%s (%s)" % (hosts, sender["address"]) if hosts and hosts != sender["address"] \
        else sender["address"]


def _bounded(text):
    return text if len(text) <= _MAX_TEXT else text[:_MAX_TEXT - 3] + "..."


def webhook_body(alert):
    """The webhook's JSON body (bytes): the alert, ASCII only, ``<>&`` escaped so that a
    receiver pasting it into HTML gets no markup."""
    text = json.dumps(alert, sort_keys=True, ensure_ascii=True, default=str)
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return text.encode("ascii")


def signature(secret, body):
    """The ``X-Whotouched-Signature`` header value for ``body``: ``sha256=<hex HMAC>``."""
    if isinstance(secret, str):
        secret = secret.encode("utf-8")
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def signature_valid(secret, body, header):
    """Whether ``header`` is the right signature of ``body`` (a constant-time comparison)."""
    return hmac.compare_digest(signature(secret, body), header or "")


def _folded(earlier: Event, later: Event) -> Event:
    """``later``, and when both say what their sender lost, what both lost since the
    earlier one's start."""
    first, last = earlier.get("loss"), later.get("loss")
    if not first or not last:
        return later
    return dict(later, loss=dict(
        last, lost=first["lost"] + last["lost"], since=first["since"],
        logging_suspended=first["logging_suspended"] or last["logging_suspended"],
        plugin_overflow=first["plugin_overflow"] or last["plugin_overflow"],
        lost_total_reset=first.get("lost_total_reset", False) or last.get("lost_total_reset", False),
        unlogged_since=min((report["unlogged_since"] for report in (first, last)
                            if report.get("unlogged_since") is not None), default=None)))


def mail_message(alert, sender, recipients):
    """The alert as an e-mail (``EmailMessage``): its one line as subject, details below."""
    message = EmailMessage()
    # The header parser decodes an RFC 2047 word (=?utf-8?b?...?=) that log content may
    # spell: controls, line ends and headers of its own.  Its start is shown escaped instead.
    subject = alert["text"].replace("=?", "=\\x3f")
    message["Subject"] = subject if len(subject) <= 200 else subject[:197] + "..."
    message["From"] = sender
    message["To"] = ", ".join(recipients)
    lines = [alert["text"], ""]
    event = alert.get("event") or {}
    for name in ("time", "host", "address", "login_user", "user", "session", "tty", "cwd",
                 "exe", "path", "operation", "key", "event_id", "success"):
        if event.get(name) is not None:
            lines.append("%-11s %s" % (name + ":", sanitize(event[name])))
    if event.get("argv"):
        lines.append("argv:")
        lines.extend("  [%d] %s" % (index, sanitize(arg))
                     for index, arg in enumerate(event["argv"]))
    for rule, reason in zip(alert.get("rules") or (), alert.get("reasons") or ()):
        lines.append("rule:       %s (%s)" % (sanitize(rule), sanitize(reason)))
    message.set_content("\n".join(lines) + "\n")
    return message


def placeholder_values(alert, max_text=0):
    """What each placeholder stands for in ``alert`` (all text sanitized)."""
    event = alert.get("event") or {}
    text = alert["text"]
    if max_text and len(text) > max_text:
        text = text[:max_text - 3] + "..."
    values = {
        "text": text,
        "level": alert["level"],
        "host": alert.get("host") or "",
        "address": alert.get("address") or "",
        "user": event.get("user") or "",
        "login_user": event.get("login_user") or "",
        "rule": ",".join(alert.get("rules") or ()),
        "reason": "; ".join(alert.get("reasons") or ()),
        "count": str(alert.get("count", 1)),
        "time": event.get("time") or "",
        "command": command_line(event),
        "kind": alert["kind"],
    }
    values = {name: sanitize(value) for name, value in values.items()}
    if max_text:
        # every value, not only the text: an SMS, and an argument of a command, stay short
        values = {name: value if len(value) <= max_text else value[:max_text - 3] + "..."
                  for name, value in values.items()}
    return values


def fill_placeholders(template, values):
    """``template`` with each ``{name}`` replaced by ``values[name]``, in one pass: text that
    comes from a value is never looked at again, so log content cannot add placeholders."""
    return _PLACEHOLDER.sub(lambda match: values.get(match.group(1), match.group(0)), template)
