# -*- coding: utf-8 -*-
# Copyright: whotouched.server_audit contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to whotouched.server_audit: it may change in any release. Do not import it from
# other collections or from code outside this collection.
"""Who did what on the log server: stored logs read, classified, filtered and tabulated.

The pieces of the ``audit_report`` module that know nothing of Ansible: which files to read
(rotated and compressed ones included, oldest first), time bounds such as ``1h``, the filters,
and the table shown to people (every character that does not show escaped, see
``_text.printable``).
"""

from __future__ import annotations

import calendar
import collections
import copy
import errno
import fnmatch
import gzip
import ipaddress
import json
import math
import os
import re
import time
import zlib

from ansible_collections.whotouched.server_audit.plugins.module_utils._events.assembler import (
    EventAssembler,
    iter_events,
    iter_lines,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._events.loss import (
    LossReports,
    describe_loss,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._events.risk import (
    LEVEL_RANK,
    classify,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._text.regular_file import (
    FileTooLarge,
    NotARegularFile,
    open_regular,
    read_regular,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._events.schema import (
    LATEST_EPOCH,
    Event,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._text.printable import (
    sanitize,
)

_RELATIVE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|sec|m|min|h|hour|d|day|w|week)s?\s*$",
                       re.ASCII)
_UNIT_SECONDS = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "hour": 3600, "d": 86400,
                 "day": 86400, "w": 604800, "week": 604800}
# "Z" or an offset from UTC at the end of a date and time.
_ZONE = re.compile(r"(Z|([+-])(\d\d):?(\d\d))$", re.ASCII)
_ABSOLUTE_FORMATS = ("%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M",
                     "%Y-%m-%d %H:%M", "%Y-%m-%d")
_ROTATED = re.compile(r"^(?P<base>.+?\.log)(?:(?P<separator>[.-])(?P<number>\d+))?(?:\.gz)?$")


class ReportError(ValueError):
    """An option the report cannot use; the message says which and why."""


def parse_time_bound(text, now=None):
    """Epoch seconds of ``since``/``until``: ``90s``, ``15m``, ``1h``, ``2d``, ``1w`` ago,
    ``now``, epoch seconds, or a date and time (``2024-05-01 13:00``), local unless it ends
    with ``Z`` or an offset (``2024-05-01T11:00:00Z``, ``2024-05-01 13:00+02:00``).

    A time before 1970 or after 9999, or one that is no number (``nan``, ``inf``), is refused.
    """
    now = time.time() if now is None else now
    if text is None or str(text).strip() == "":
        return None
    text = str(text).strip()
    if text == "now":
        return now
    relative = _RELATIVE.match(text)
    if relative:
        epoch = now - float(relative.group(1)) * _UNIT_SECONDS[relative.group(2)]
    else:
        epoch = _absolute_time(text)
    if not (math.isfinite(epoch) and 0 <= epoch <= LATEST_EPOCH):
        raise ReportError("%r is not a time from 1970 to 9999" % text)
    return epoch


def _absolute_time(text):
    try:
        return float(text)
    except ValueError:
        pass
    zone = _ZONE.search(text)
    local = text[:zone.start()] if zone else text
    for form in _ABSOLUTE_FORMATS:
        try:
            parsed = time.strptime(local, form)
        except ValueError:
            continue
        if zone is None:
            return time.mktime(parsed)
        offset = 0 if zone.group(1) == "Z" else (
            (int(zone.group(3)) * 3600 + int(zone.group(4)) * 60)
            * (1 if zone.group(2) == "+" else -1))
        return calendar.timegm(parsed) - offset
    raise ReportError("cannot read %r as a time: use 1h, 30m, 2d, now, epoch seconds or "
                      "YYYY-MM-DD[ HH:MM[:SS]][Z|+HH:MM]" % text)


def _utc(epoch):
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(epoch))


def time_window(since, until, now=None):
    """The ``(since, until)`` epoch seconds of the report's options (None when not given).

    Both are resolved against the same ``now``; a window whose start is after its end, which
    no event could match, is refused with both values as resolved.
    """
    now = time.time() if now is None else now
    bounds = []
    for name, text in (("since", since), ("until", until)):
        try:
            bounds.append(parse_time_bound(text, now))
        except ReportError as exc:
            raise ReportError("%s: %s" % (name, exc))
    start, end = bounds
    if start is not None and end is not None and start > end:
        raise ReportError(
            "since %s (%s) is after until %s (%s): no event can match; since is the start "
            "of the window and until its end" % (since, _utc(start), until, _utc(end)))
    return start, end


def check_limits(limit, wait_seconds, count_limit=None):
    """Refuse a negative ``limit`` or ``count_limit`` (0 means all events) or a negative or
    endless ``wait_seconds``."""
    for name, value in (("limit", limit), ("count_limit", count_limit)):
        if value is not None and value < 0:
            raise ReportError("%s must be 0 (all events) or a positive number of events, "
                              "got %s" % (name, value))
    if wait_seconds is not None and not (math.isfinite(wait_seconds) and wait_seconds >= 0):
        raise ReportError("wait_seconds must be a number of seconds of 0 or more, got %s"
                          % wait_seconds)


MAX_RULES_FILE_BYTES = 16 << 20
"""More than a risk rules file holds: a larger one (``/dev/zero`` named by mistake) is refused."""


def read_rules_file(path):
    """The list of risk rules in the file at ``path``: JSON, or YAML when PyYAML is there.

    An empty file holds no rules.  A file that is missing, a directory, unreadable, not
    UTF-8, not JSON or YAML, or not a list is refused with a message naming it.
    """
    try:
        data = read_regular(path, "a risk rules file", MAX_RULES_FILE_BYTES)
    except (NotARegularFile, FileTooLarge) as exc:
        raise ReportError("rules_file %s" % exc)
    except (IOError, OSError) as exc:
        if exc.errno == errno.ENOENT:
            raise ReportError("rules_file %s does not exist" % path)
        raise ReportError("rules_file %s cannot be read: %s" % (path, exc.strerror or exc))
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ReportError("rules_file %s is not UTF-8 text (byte %d), not a risk rules file"
                          % (path, exc.start))
    if not text.strip():
        return []
    try:
        rules = json.loads(text)
    except ValueError:
        rules = _yaml_rules(path, text)
    if rules is None:
        return []
    if not isinstance(rules, list):
        raise ReportError("rules_file %s must hold a list of rules, it holds a %s"
                          % (path, type(rules).__name__))
    return rules


def _yaml_rules(path, text):
    try:
        import yaml  # only on hosts that have it: the module itself needs the stdlib alone
    except ImportError:
        raise ReportError("rules_file %s is not JSON, and PyYAML is not installed to read "
                          "YAML" % path)
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ReportError("rules_file %s is neither JSON nor YAML: %s"
                          % (path, " ".join(str(exc).split())))


def _rotation_order(match):
    """Where a file stands among its rotations, oldest first: logrotate's ``dateext`` names
    (``audit.log-20261204``) by their date, then numbered ones (``audit.log.2`` before
    ``audit.log.1``), then the file being written."""
    digits = match.group("number")
    if digits is None:
        return (1, 0)
    if match.group("separator") == "-" and len(digits) == 8:
        return (0, int(digits))
    return (1, -int(digits))


def log_files(path):
    """The files to read under ``path`` (a file or a directory), each rotation oldest first.

    In a directory, ``*.log`` files and their rotations (``audit.log.1``, ``audit.log.2.gz``,
    ``audit.log-20261204.gz``) are read; other files are not.
    """
    if os.path.isfile(path):
        return [path]
    if not os.path.exists(path):
        raise ReportError("path %s does not exist" % path)
    if not os.path.isdir(path):
        raise ReportError("path %s is neither a file nor a directory" % path)
    found = []
    for directory, subdirectories, names in os.walk(path):
        subdirectories.sort()
        for name in names:
            match = _ROTATED.match(name)
            if match is None:
                continue
            found.append((directory, match.group("base"), _rotation_order(match), name))
    found.sort()
    return [os.path.join(directory, name) for directory, _base, _order, name in found]


def stored_sender(path):
    """The sender's address a stored log's directory is named by (the rsyslog_server role
    keeps each sender's files in a directory named by its address), or None."""
    name = os.path.basename(os.path.dirname(os.path.abspath(path)))
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return None
    return name


def open_log(path):
    """A binary stream of a log file, decompressed when it is gzip; raises
    :class:`NotARegularFile` for a FIFO, a device or a socket (see :func:`open_regular`)."""
    handle = open_regular(path, "a log file")
    if handle.read(2) == b"\x1f\x8b":
        handle.seek(0)
        return gzip.GzipFile(fileobj=handle, mode="rb")
    handle.seek(0)
    return handle


# How far after now an event may be dated and still be shown when no end of the window is
# asked: a sender's clock runs a little ahead, but events it dates far in the future would
# otherwise stand before every other sender's as the newest, in every report, until they are
# pruned.  Those are counted and their senders named instead (``later``).
FUTURE_SKEW = 86400


class EventFilter(object):
    """The report's filters: time, host, user, level, key, audit session and a free-text
    search.  The stores (``_store``) answer the same questions.

    ``later``: with ``until`` left to its default (now and :data:`FUTURE_SKEW`), the filter
    counts in ``later`` the events that it keeps but for their time after ``until``, and
    notes their addresses in ``later_from`` (a few of them)."""

    def __init__(self, since=None, until=None, host=None, user=None, min_level="info",
                 key=None, search=None, session=None, later=False):
        if min_level not in LEVEL_RANK:
            raise ReportError("min_level must be one of %s" % ", ".join(LEVEL_RANK))
        self.since = since
        self.until = until
        self.host = host
        self.user = user
        self.min_rank = LEVEL_RANK[min_level]
        self.key = key
        self.search = search.lower() if search else None
        self.session = session
        self.counts_later = later
        self.later = 0
        self.later_from = set()

    def keeps(self, event: Event):
        epoch = event.get("epoch")
        if self.since is not None and (epoch is None or epoch < self.since):
            return False
        if self.until is not None and (epoch is None or epoch > self.until):
            if self.counts_later and epoch is not None and self.keeps_but_time(event):
                self.note_later(event)
            return False
        return self.keeps_but_time(event)

    def note_later(self, event: Event):
        self.later += 1
        if len(self.later_from) < 5:
            self.later_from.add(event.get("address") or event.get("host") or "this host")

    def later_message(self):
        """What to say of the events counted in ``later``, or None."""
        if not self.later:
            return None
        return ("%d events that match are dated more than a day after now (from %s): they are "
                "not shown; ask with until set later to see them" % (
                    self.later, ", ".join(sanitize(source) for source in sorted(self.later_from))))

    def after_window(self):
        """The same filter for the events dated after this window's end (a store's answer to
        ``later``)."""
        after = copy.copy(self)
        after.since, after.until, after.counts_later = self.until + 0.001, None, False
        after.later_from = set()
        return after

    def keeps_sender(self, event: Event):
        """Whether the event's host name or address matches the question's ``host``."""
        return not self.host or any(fnmatch.fnmatchcase(str(value), self.host) for value in (
            event.get("host"), event.get("address")) if value)

    def counts_heartbeat(self, event: Event):
        """Whether a loss reporter's heartbeat is in the question's time and senders (what a
        store counts as ``health_reports`` too)."""
        epoch = event.get("epoch")
        if self.since is not None and (epoch is None or epoch < self.since):
            return False
        if self.until is not None and (epoch is None or epoch > self.until):
            return False
        return self.keeps_sender(event)

    def keeps_but_time(self, event: Event):
        """Whether the event passes every filter but the time window."""
        if LEVEL_RANK[event.get("level", "info")] < self.min_rank:
            return False
        if not self.keeps_sender(event):
            return False
        if self.user and not any(fnmatch.fnmatchcase(str(value), self.user) for value in (
                event.get("login_user"), event.get("user"), event.get("account"),
                event.get("target_account")) if value):
            return False
        if self.key and self.key not in (event.get("keys") or ()):
            return False
        if self.session is not None and event.get("session") != self.session:
            return False
        if self.search and self.search not in searchable_text(event).lower():
            return False
        return True


def searchable_text(event: Event):
    """What a free-text search looks through: command line, program, paths, message."""
    parts = [" ".join(event.get("argv") or ()), event.get("exe") or "",
             event.get("message") or ""]
    parts.extend(entry.get("path") or "" for entry in event.get("paths") or ())
    return "\n".join(parts)


def new_counts():
    """What reading counts, all at zero: the assembler's counts and the report's own."""
    return dict(EventAssembler().counts, files=0, matched=0, unreadable=0, health_reports=0)


def classified_events(paths, rules, since=None, counts=None, local_names=None,
                      assembler_options=None, unread=None, heartbeat_counted=None):
    """Every event read from ``paths``, classified by ``rules``, but the loss reporters'
    heartbeats (counted as ``health_reports`` where ``heartbeat_counted(event)`` says so, or
    all); files last written before ``since`` are not opened.  ``counts`` (see :func:`new_counts`) is updated as the files are read.  A
    file that cannot be read (a FIFO, a device, no permission) is counted as ``unreadable``
    and, with ``unread`` (a list), said why in it."""
    counts = new_counts() if counts is None else counts
    loss_reports = LossReports()  # a sender's files are read oldest first
    single, read_by = None, None
    for path in paths:
        try:
            if since is not None and os.path.getmtime(path) < since:
                continue
            stream = open_log(path)
        except (IOError, OSError, NotARegularFile) as exc:
            counts["unreadable"] += 1
            if unread is not None:
                unread.append(str(exc) if isinstance(exc, NotARegularFile) else
                              "%s cannot be read: %s" % (path, exc.strerror or exc))
            continue
        counts["files"] += 1
        # One assembler per directory (a sender's files, oldest first), its events waiting
        # ended with each file: a rotation never splits the records of one event between two
        # files in a way that matters more than its bounded wait, but a copy sent again can
        # land in the next file and is still known as one.
        directory = os.path.dirname(os.path.abspath(path))
        if read_by != directory:
            read_by = directory
            single = EventAssembler(local_names=local_names, sender_address=stored_sender(path),
                                    loss_reports=loss_reports, **(assembler_options or {}))
        counted_before = dict(single.counts)
        try:
            for event in iter_events(iter_lines(stream, single.counts), single):
                if event["kind"] == "health":
                    # a loss reporter's heartbeat: nothing happened, nothing to show
                    if heartbeat_counted is None or heartbeat_counted(event):
                        counts["health_reports"] += 1
                    continue
                yield classify(event, rules)
        except (IOError, OSError, EOFError, zlib.error) as exc:
            counts["unreadable"] += 1
            if unread is not None:
                unread.append("%s could not be read to its end: %s" % (path, exc))
        finally:
            stream.close()
        for name, value in single.counts.items():
            counts[name] = counts.get(name, 0) + value - counted_before.get(name, 0)


def build_report(paths, rules, event_filter, limit=1000, local_names=None,
                 assembler_options=None, unread=None):
    """Events read from ``paths``, classified by ``rules`` and filtered.

    Returns ``(events, counts)``: at most ``limit`` events, the newest that passed the filter,
    oldest first; ``counts`` adds ``files``, ``matched`` and ``truncated`` to the reader's.
    Files last written before ``since`` are not opened; ``unread``: see
    :func:`classified_events`.
    """
    kept = collections.deque(maxlen=limit if limit and limit > 0 else None)
    counts = new_counts()
    for event in classified_events(paths, rules, event_filter.since, counts, local_names,
                                   assembler_options, unread, event_filter.counts_heartbeat):
        if event_filter.keeps(event):
            counts["matched"] += 1
            kept.append(event)
    counts["truncated"] = counts["matched"] > len(kept)
    events = sorted(kept, key=lambda event: (event.get("epoch") or 0, event.get("serial") or 0))
    return events, counts


def describe(event: Event):
    """What the event did, in one line: the command, the file operation, the Windows event,
    or what the sender lost."""
    if event.get("loss") is not None:
        return describe_loss(event["loss"], event.get("epoch"))
    if event.get("kind") == "windows":
        what = "event %s" % event.get("event_id")
        if event.get("target_account"):
            what += " target=%s" % event["target_account"]
        if event.get("group"):
            what += " group=%s" % event["group"]
        if event.get("source_address"):
            what += " from=%s" % event["source_address"]
        return what
    if event.get("kind") == "file" and event.get("path"):
        return "%s %s (%s)" % (event.get("operation") or "touch", event["path"],
                               event.get("exe") or event.get("comm") or "?")
    if event.get("argv"):
        return " ".join(event["argv"])
    record_types = event.get("record_types") or ["?"]
    return "%s %s" % (record_types[0], event.get("exe") or event.get("account") or "")


TABLE_COLUMNS = ("time", "host", "login", "user", "tty", "level", "what")


def format_table(events, width=160):
    """A fixed-width table for people, one line per event; never carries control characters."""
    rows = []
    for event in events:
        host = event.get("host") or ""
        if event.get("address") and event.get("address") != host:
            host = "%s/%s" % (host, event["address"]) if host else event["address"]
        success = "" if event.get("success") is not False else " [failed]"
        rows.append((
            (event.get("time") or "")[:19].replace("T", " "),
            host,
            event.get("login_user") or "",
            event.get("user") or "",
            event.get("tty") or "",
            event.get("level", "info"),
            describe(event) + success,
        ))
    rows = [tuple(sanitize(cell) for cell in row) for row in rows]
    header = tuple(name.upper() for name in TABLE_COLUMNS)
    widths = [max([len(header[index])] + [min(len(row[index]), 40) for row in rows])
              for index in range(len(header) - 1)]
    lines = []
    for row in [header] + rows:
        cells = [row[index][:40].ljust(widths[index]) for index in range(len(widths))]
        line = "  ".join(cells + [row[-1]])
        lines.append(line if len(line) <= width else line[:width - 3] + "...")
    return lines
