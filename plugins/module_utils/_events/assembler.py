# -*- coding: utf-8 -*-
# Copyright: whotouched.server_audit contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to whotouched.server_audit: it may change in any release. Do not import it from
# other collections or from code outside this collection.
"""A stream of lines turned into a stream of events, in bounded memory.

The lines are raw ``audit.log`` lines (an optional ``node=`` prefix) or the log server's stored
forms (``roles/rsyslog_server``): ``runcmdformat`` (``TIMESTAMP HOSTNAME FROMHOST-IP record``),
``pipeformat`` (``TIMESTAMP FROMHOST-IP tag: record``) and ``evtsysformat`` (Windows).  Linux
records, interleaved with other events and, on the log server, with other hosts, are grouped
by sender and stamp.  An event ends at its PROCTITLE or EOE record, at once for the record types
that always stand alone (user-space messages such as USER_CMD), or when the same sender's clock
has moved ``wait_seconds`` past it.  Ended that way, it is whole unless records are missing that
its sender writes: the PROCTITLE of a system call, once the sender has sent one (kernels before
3.17 write none, and a kernel record outside a system call, such as CONFIG_CHANGE or a LOGIN
alone, has none).  Memory stays bounded on endless input: lines, records per
event and pending events are all capped, and what goes over a cap is counted, never kept.
Malformed, truncated or hostile lines are counted and skipped.  Fragments (see ``records``)
are counted as ``fragments`` and not given out unless asked (``EventAssembler(fragments=True)``),
so that no reader of the stream shows a nameless half of a command that was meant to be
filtered out.

Standard library only: this runs on the log server inside the ``audit_report`` module and
the alert processor.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from sys import intern

from ansible_collections.whotouched.server_audit.plugins.module_utils._events.evtsys import (
    parse_evtsys,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._events.loss import (
    LossReports,
    loses,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._events.records import (
    STANDALONE_TYPES,
    build_event,
    is_fragment,
    stamp_epoch,
    stamp_seconds,
    stamp_serial,
)

# What a hostile line that got past the cheap checks may raise: counted as malformed, never
# fatal.
_HOSTILE_LINE_ERRORS = (ValueError, IndexError, KeyError, TypeError, OverflowError)
# The longest node= name read (a host name is at most 253 characters): a longer one is
# malformed, so that no sender makes the tables below hold 64 KiB names.
_MAX_NODE = 255
# How many senders (address and node) are remembered as writing PROCTITLE records.
_PROCTITLE_SENDERS = 10000
# rsyslog's %pri-text%: "daemon.notice", and before 8.2302 "daemon.notice<29>".
_PRI_TEXT = re.compile(r"[a-z0-9]+\.[a-z]+(?:<[0-9]{1,3}>)?\Z")


def iter_lines(stream, counts=None, max_line=65536, chunk_size=1 << 20):
    """Text lines of a binary ``stream``, without their line ends, in bounded memory.

    A line longer than ``max_line`` bytes is skipped whole (counted as ``oversized`` in
    ``counts``), however long it goes on, so one endless line cannot exhaust memory.
    Bytes that are not UTF-8 become U+FFFD.
    """
    tail = b""
    skipping = False
    while True:
        chunk = stream.read(chunk_size)
        if not chunk:
            break
        data = tail + chunk
        cut = data.rfind(b"\n")
        tail = data[cut + 1:]
        start = 0
        if cut >= 0 and skipping:  # the end of an overlong line
            start = data.find(b"\n") + 1
            skipping = False
        if start <= cut:
            yield from _block_lines(data[start:cut], counts, max_line)
        if len(tail) > max_line:
            if not skipping:
                _count(counts, "oversized")
            skipping = True
            tail = b""
    if tail and not skipping:
        yield tail.decode("utf-8", "replace").rstrip("\r")


def _block_lines(block, counts, max_line):
    """The lines of ``block`` (whole lines, no line end after the last), decoded at once."""
    # A newline is never part of a UTF-8 sequence: decoding the block at once decodes each
    # line as on its own, in one call instead of one per line.
    lines = block.decode("utf-8", "replace").split("\n")
    if max(map(len, lines)) * 4 > max_line:  # a line may be over max_line bytes: measure
        lines = []
        for piece in block.split(b"\n"):
            if len(piece) > max_line:
                _count(counts, "oversized")
            else:
                lines.append(piece.decode("utf-8", "replace"))
    if b"\r" in block:
        lines = [line.rstrip("\r") for line in lines]
    return lines


def _count(counts, name, amount=1):
    if counts is not None:
        counts[name] = counts.get(name, 0) + amount


class EventAssembler:
    """Groups records into events, by sender and stamp, in bounded memory.

    ``feed(line)`` returns the events that line completed (usually none); ``flush()`` returns
    the rest at the end of input.  ``counts`` holds how many lines, records and events were
    seen, and how many lines were malformed or went over a limit.  Fragments (see the module's
    description) are counted as ``fragments``, not as ``events``, and given out only with
    ``fragments=True``.

    An event given out once is not given out again: a sender that sends records a second
    time (rsyslog reading part of auditd's log again after a rotation or a crash, a
    retransmission) has the copy counted as ``duplicates``.  The last ``remember`` events
    given out are remembered for that, by sender, time and serial.

    ``sender_address``: the address every stored line of the input came from (a file of the
    log server's directory of that sender).  The two forms with two words before the record
    differ in where rsyslog writes the address, and pipeformat's second word is the sender's
    own tag: a line is read in the form that has this address in rsyslog's place, and a line
    that has it in neither is malformed.  Without it, the form is told by the tag's colon,
    which a sender can leave out.

    ``loss_reports``: the :class:`LossReports` that reads each loss report after its sender's
    last one (shared by the assemblers of one sender's files, oldest first).
    """

    def __init__(self, wait_seconds=5.0, wait_events=256, max_pending=4096,
                 max_event_records=1024, max_event_bytes=4 << 20, local_names=None, now=None,
                 fragments=False, remember=100000, sender_address=None, loss_reports=None):
        self.sender_address = sender_address
        self.loss_reports = LossReports() if loss_reports is None else loss_reports
        self.wait_seconds = wait_seconds
        self.wait_records = wait_events
        self.max_pending = max_pending
        self.max_event_records = max_event_records
        self.max_event_bytes = max_event_bytes
        self.local_names = local_names
        self.now = now
        self.fragments = fragments
        self.counts = {"lines": 0, "records": 0, "events": 0, "malformed": 0, "other": 0,
                       "incomplete": 0, "evicted": 0, "dropped_records": 0, "windows": 0,
                       "fragments": 0, "duplicates": 0}
        # (address, node, epoch, serial, first record type) of the events given out, oldest
        # first, at most ``remember`` of them
        self._given_out = OrderedDict()
        self.remember = remember
        # sender -> {stamp: [records, host, address, node, seconds, bytes]}, oldest first
        self._pending = {}
        # (sender, stamp) -> its number among the events opened, oldest first over all
        # senders: what to evict at the cap, what release() gives out
        self._order = {}
        self._opened = 0
        # address -> how many of its events wait (all its nodes): the cap evicts from the
        # address that holds the most, so that one sender cannot push out another's events
        self._waiting_at = {}
        # Events begun so far per sender: an event that wait_events newer events of the
        # same sender have passed is taken as complete (kernels before 3.17 write no PROCTITLE).
        self._begun = {}
        # The event the last record went to, as (stamp, address, node, entry, the text
        # " msg=audit(stamp):", what came before "type=" in that record's line, or None): the
        # next record usually belongs to it too, and then needs no look-up.  None once any
        # waiting event is given out.
        self._last = None
        # Senders that have sent a PROCTITLE record: their system calls without one lack it
        # (the latest _PROCTITLE_SENDERS of them: a sender can name any number of nodes).
        self._proctitle_senders = OrderedDict()

    def feed(self, line):
        """Take one stored or raw line; return the events it completed."""
        counts = self.counts
        counts["lines"] += 1
        prefix = line[:5]
        if prefix == "type=" or prefix == "node=":
            host = address = None
            record = line
            lead = ""
        else:
            # Stored form: "Mmm dd hh:mm:ss" then two words, then the message.
            if len(line) < 20 or line[3] != " " or line[15] != " ":
                counts["malformed"] += 1
                return ()
            first, _space, rest = line[16:].partition(" ")
            second, _space, record = rest.partition(" ")
            if record[:5] == "type=" or record[:5] == "node=":
                lead = first + " " + second + " "
                expected = self.sender_address
                if expected is not None and second != expected:
                    if first != expected:
                        counts["malformed"] += 1
                        return ()
                    host, address = None, first  # pipeformat, whatever its tag
                elif expected is None and second[-1:] == ":" and ":" not in second[:-1]:
                    host, address = None, first  # pipeformat: address, tag
                else:  # runcmdformat: claimed name, then the real address
                    host, address = first, second
            elif _PRI_TEXT.match(second):  # evtsysformat: address, priority, then the sender
                event = parse_evtsys(line[:15], first, second, record, self.now)
                if event is None:
                    counts["malformed"] += 1
                    return ()
                counts["windows"] += 1
                counts["events"] += 1
                return (event,)
            else:
                # A well-formed stored line that is not an audit record (the plugin's own
                # start message, say): skipped, counted apart from malformed ones.
                counts["other"] += 1
                return ()
        node = None
        if record[:5] == "node=":
            lead = None  # no shortcut for records that name a node
            node, _space, record = record[5:].partition(" ")
            if record[:5] != "type=" or len(node) > _MAX_NODE:
                counts["malformed"] += 1
                return ()
        space = record.find(" ", 5)
        close = record.find(")", space)
        # "):" ends the stamp; auditd 2.x wrote some DAEMON records without the colon
        after = record[close + 1:close + 2]
        if space < 0 or close < 0 or after not in (":", " ", "") or \
                not record.startswith(" msg=audit(", space):
            counts["malformed"] += 1
            return ()
        record_type = record[5:space]
        stamp = record[space + 11:close]
        body = record[close + (2 if after == ":" else 1):].lstrip(" ")
        counts["records"] += 1
        last = self._last
        if last is not None and last[0] == stamp and last[1] == address and last[2] == node:
            entry = last[3]
            if record_type != "EOE" and record_type != "PROCTITLE":
                if len(entry[0]) >= self.max_event_records or entry[5] > self.max_event_bytes:
                    return self._drop(entry)
                entry[0].append((record_type, body))
                entry[5] += len(body)
                return ()
            return self._complete((address, node), stamp, record_type, body, entry)
        sender = (address, node)
        waiting = self._pending.get(sender)
        entry = waiting.get(stamp) if waiting is not None else None
        if entry is None:
            if record_type == "EOE":
                return ()  # the end of an event already completed by its PROCTITLE
            seconds = stamp_seconds(stamp)
            if seconds is None:  # not a stamp, or a forged time no clock can show
                counts["records"] -= 1
                counts["malformed"] += 1
                return ()
            done = self._expire(sender, waiting, seconds) if waiting else ()
            if record_type in STANDALONE_TYPES:
                self._forget_if_idle(sender)
                event = self._event(stamp, [(record_type, body)], host, address, node)
                if event is None:
                    return done
                return (event,) if not done else done + [event]
            if record_type == "PROCTITLE":
                # Nothing before it: the rest of its event comes after it (records written out
                # of order), began before this input did, or was dropped by the filters.
                self._writes_proctitle(sender)
            if waiting is None:
                waiting = self._pending[sender] = {}
            sequence = self._begun[sender] = self._begun.get(sender, 0) + 1
            entry = waiting[stamp] = [[(record_type, body)], host, address, node, seconds,
                                      len(body), sequence]
            self._last = (stamp, address, node, entry, " msg=audit(%s):" % stamp, lead)
            self._opened += 1
            self._order[(sender, stamp)] = self._opened
            self._waiting_at[address] = self._waiting_at.get(address, 0) + 1
            if len(self._order) > self.max_pending:
                evicted = self._evict_oldest()
                if evicted is not None:
                    done = list(done)
                    done.append(evicted)
            return done
        self._last = (stamp, address, node, entry, " msg=audit(%s):" % stamp, lead)
        if record_type == "EOE" or record_type == "PROCTITLE":
            return self._complete(sender, stamp, record_type, body, entry)
        if len(entry[0]) >= self.max_event_records or entry[5] > self.max_event_bytes:
            return self._drop(entry)
        entry[0].append((record_type, body))
        entry[5] += len(body)
        return ()

    def feed_lines(self, lines):
        """The events that ``lines`` complete, as :meth:`feed` gives them line by line (empty
        lines skipped, a line that makes feed fail counted as malformed); no flush."""
        feed = self.feed
        counts = self.counts
        for line in lines:
            if not line:
                continue
            last = self._last
            if last is not None and last[5] is not None:
                # A record of the event the last one went to, from the same sender in the same
                # form, the usual case: what feed does with it, without the call and the
                # look-ups.  The stamp holds no ")", so the first "):" after the type is the
                # one that ends the marker.
                lead = last[5]
                start = 0
                if lead:  # a stored line: its time, then the same two words
                    start = 16 + len(lead) if line[3:4] == " " and line[15:16] == " " and \
                        line.startswith(lead, 16) else -1
                if start >= 0 and line.startswith("type=", start):
                    space = line.find(" ", start + 5)
                    marker = last[4]
                    entry = last[3]
                    if space >= 0 and line.startswith(marker, space) and \
                            len(entry[0]) < self.max_event_records and \
                            entry[5] <= self.max_event_bytes:
                        record_type = line[start + 5:space]
                        body = line[space + len(marker):].lstrip(" ")
                        counts["lines"] += 1
                        counts["records"] += 1
                        if record_type == "EOE" or record_type == "PROCTITLE":
                            try:
                                done = self._complete((last[1], last[2]), last[0], record_type,
                                                      body, entry)
                            except _HOSTILE_LINE_ERRORS:
                                counts["malformed"] += 1
                                continue
                            if done:
                                yield from done
                            continue
                        entry[0].append((record_type, body))
                        entry[5] += len(body)
                        continue
            try:
                done = feed(line)
            except _HOSTILE_LINE_ERRORS:
                counts["malformed"] += 1
                continue
            if done:
                yield from done

    def _complete(self, sender, stamp, record_type, body, entry):
        """The event of a waiting entry that its PROCTITLE or EOE record ends."""
        # The kernel ends every syscall event with PROCTITLE (then EOE, which auditd does
        # not write to its log), so either one completes it.
        if record_type == "PROCTITLE":
            entry[0].append((record_type, body))
            self._writes_proctitle(sender)
        del self._pending[sender][stamp]
        self._forget_if_idle(sender)
        self._unorder(sender, stamp)
        self._last = None
        event = self._event(stamp, entry[0], entry[1], entry[2], entry[3])
        return (event,) if event is not None else ()

    def _writes_proctitle(self, sender):
        senders = self._proctitle_senders
        if sender not in senders:
            senders[sender] = None
            if len(senders) > _PROCTITLE_SENDERS:
                senders.popitem(last=False)

    def _forget_if_idle(self, sender):
        """Drop what is kept of a sender that has no event waiting: a sender that names a
        new node in every record must not leave a table entry behind each time."""
        if not self._pending.get(sender, True):
            del self._pending[sender]
            self._begun.pop(sender, None)

    def _drop(self, entry):
        """Count a record that goes over an event's limits; mark the event once."""
        self.counts["dropped_records"] += 1
        if entry[0][-1][0] != "DROPPED":
            entry[0].append(("DROPPED", ""))  # one marker, the records are not kept
        return ()

    def _expire(self, sender, waiting, seconds):
        """Events of ``sender`` that its clock has left ``wait_seconds`` behind."""
        done = ()
        limit = seconds - self.wait_seconds
        oldest_kept = self._begun.get(sender, 0) - self.wait_records
        while waiting:
            stamp = next(iter(waiting))
            entry = waiting[stamp]
            if entry[4] >= limit and entry[6] >= oldest_kept:
                break
            del waiting[stamp]
            self._last = None
            self._unorder(sender, stamp)
            event = self._finish(stamp, entry, "incomplete")
            if event is not None:
                if not done:
                    done = []
                done.append(event)
        return done

    def _unorder(self, sender, stamp):
        del self._order[(sender, stamp)]
        left = self._waiting_at[sender[0]] - 1
        if left:
            self._waiting_at[sender[0]] = left
        else:
            del self._waiting_at[sender[0]]

    def _evict_oldest(self):
        """The oldest waiting event of the address with the most waiting, given out."""
        waiting_at = self._waiting_at
        crowded = max(waiting_at, key=waiting_at.get)
        sender, stamp = next(key for key in self._order if key[0][0] == crowded)
        self._unorder(sender, stamp)
        self._last = None
        entry = self._pending[sender].pop(stamp)
        self._forget_if_idle(sender)
        return self._finish(stamp, entry, "evicted")

    def _finish(self, stamp, entry, reason):
        """The event of a waiting entry given out before an end record came, or None for a
        fragment kept in.  It is counted under ``reason`` when it lacks records."""
        records = [record for record in entry[0] if record[0] != "DROPPED"]
        types = [record_type for record_type, _body in records]
        whole = reason != "evicted" and len(records) == len(entry[0]) and not (
            "SYSCALL" in types and "PROCTITLE" not in types
            and (entry[2], entry[3]) in self._proctitle_senders)
        return self._event(stamp, records, entry[1], entry[2], entry[3], whole, reason)

    def _event(self, stamp, records, host, address, node, complete=True, reason="events"):
        """The event of ``records``, counted (see :meth:`_given`), or None when it is not
        given out.  A fragment not asked for is counted without making its event."""
        if not self.fragments and is_fragment([record[0] for record in records]):
            serial = stamp_serial(stamp)
            if serial is None or self._first_given(address, node, stamp_epoch(stamp), serial,
                                                   records[0][0] if records else None):
                self.counts["fragments"] += 1
            return None
        event = build_event(stamp, records, host, address, node, complete=complete,
                            local_names=self.local_names)
        if not self._given(event, "events" if event["complete"] else reason):
            return None
        if event["loss"] is not None:
            report = self.loss_reports.reading(address, node, event["epoch"], event["loss"])
            if report is not event["loss"]:
                event["loss"] = report
                event["kind"] = "loss" if loses(report) else "health"
        return event

    def _first_given(self, address, node, epoch, serial, first_type):
        """Whether no event of this sender, time, serial and first record type was given out
        before (it is now remembered as given out); a copy is counted as a duplicate."""
        # The first record type tells a copy from the other part of an event split in two: a
        # user-space record written during a system call (SERVICE_START, then the SYSCALL of
        # systemd's sendto), or a record that came too late for its event.  (Interned: the
        # type's text of each record is a string of its own.)
        key = (address, node, epoch, serial, intern(first_type) if first_type is not None else None)
        given_out = self._given_out
        if key in given_out:
            self.counts["duplicates"] += 1
            return False
        given_out[key] = None
        if len(given_out) > self.remember:
            given_out.popitem(last=False)
        return True

    def _given(self, event, reason):
        """Count ``event`` under ``reason`` (and as an event, when given out); whether it is
        given out: not when it is a fragment and fragments were not asked for, nor when the
        same event was given out before."""
        counts = self.counts
        types = event["record_types"]
        if event["serial"] is not None and not self._first_given(
                event["address"], event["node"], event["epoch"], event["serial"],
                types[0] if types else None):
            return False
        if event["kind"] == "fragment":
            counts["fragments"] += 1
            if not self.fragments:
                return False
        if reason != "events":
            counts[reason] += 1
        counts["events"] += 1
        return True

    @property
    def opened(self):
        """How many multi-record events have been opened so far: a mark for :meth:`release`."""
        return self._opened

    def release(self, opened_before):
        """The events still waiting that were opened before the mark ``opened_before`` (a
        value of :attr:`opened` read earlier), oldest first, as incomplete.

        For a reader that waits on a live stream: an event whose last record has not come
        within a while (its sender went quiet, so its clock cannot expire it) is given out.
        """
        done = []
        order = self._order
        while order:
            key = next(iter(order))
            if order[key] > opened_before:
                break
            self._unorder(*key)
            self._last = None
            sender, stamp = key
            entry = self._pending[sender].pop(stamp)
            self._forget_if_idle(sender)
            event = self._finish(stamp, entry, "incomplete")
            if event is not None:
                done.append(event)
        return done

    def flush(self):
        """Every event still waiting (the input ended before its EOE), oldest first."""
        done = []
        for sender, stamp in list(self._order):
            event = self._finish(stamp, self._pending[sender].pop(stamp), "incomplete")
            if event is not None:
                done.append(event)
        self._order.clear()
        self._waiting_at.clear()
        self._pending.clear()
        self._begun.clear()
        self._last = None
        return done

    @property
    def pending(self):
        """How many events are waiting for more records."""
        return len(self._order)

    @property
    def oldest_waiting(self):
        """The :attr:`opened` number of the oldest event still waiting (None when none is):
        the processor reads its input again from that event's first line after a restart."""
        return next(iter(self._order.values()), None)


def iter_events(lines, assembler=None, **options):
    """Events from an iterable of lines (stored, raw or evtsys), as a stream.

    ``options`` go to :class:`EventAssembler` when no ``assembler`` is given; pass one to
    read its ``counts`` afterwards.
    """
    assembler = assembler or EventAssembler(**options)
    yield from assembler.feed_lines(lines)
    yield from assembler.flush()
