# -*- coding: utf-8 -*-
# Copyright: whotouched.server_audit contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to whotouched.server_audit: it may change in any release. Do not import it from
# other collections or from code outside this collection.
"""The alert processor rsyslog runs through ``omprog`` on the log server.

``main([config_path])`` reads a JSON configuration (see ``settings``), loads the risk
rules (the shipped ones and the user's), and then reads stored lines (``runcmdformat`` and
``evtsysformat``) from stdin.  Each line is written to the input journal (``journal``), then
goes to an :class:`EventAssembler`; each event it completes is classified and kept for the
next batch.  A batch is committed to the event store (``_store``) with the journal offset a
restart must read again from, at least twice a second; only then are its events handed to
the wall screen and to the alert policy, whose alerts go to the sinks' worker threads.

The ``omprog`` protocol with ``confirmMessages="on"``: ``OK`` once when ready, then ``OK``
after each line once it is in the journal, on stdout, flushed; rsyslog sends the next line
only then, and sends a line again to a restarted processor when it was not confirmed.  While
the store or the journal cannot be written, a line is answered with an error instead: rsyslog
keeps it in its queue and offers it again; the processor tries the store again every few
seconds.  Nothing else is written to stdout.

After a restart (or once the store works again) the journal is read again from the store's
resume point: events the store holds already are not stored, shown or alerted twice, events
that were waiting for their last records are waiting again.

An event waits for its PROCTITLE record; when no line completes it, :meth:`Processor.tick`
(run from the main loop at least twice a second) gives out what has waited one to two
``wait_seconds``, and leaves the events opened since alone.
EOF or SIGTERM: the batch is committed, the events still waiting stay in the journal for the
next start, the sinks are drained briefly.

Standard library only: this runs on the log server.
"""

from __future__ import annotations

import collections
import json
import os
import select
import signal
import sys
import time

from ansible_collections.whotouched.server_audit.plugins.module_utils._processor.alert_policy import (
    AlertPolicy,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._processor.alert_sinks import (
    SinkWorker,
    SmsCommandSink,
    SmsGatewaySink,
    SmtpSink,
    WebhookSink,
    backoff_delay,
    log_to_stderr,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._events.assembler import (
    EventAssembler,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._events.risk import (
    LEVEL_RANK,
    LEVELS,
    classify,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._processor.journal import (
    InputJournal,
    JournalError,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._processor.settings import (
    load_config_file,
    read_config,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._store.backends import (
    open_store,
    store_name,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._store.base import (
    EventStoreError,
    Ruleset,
    StoreUnavailable,
)

MAX_LINE = 65536
TICK_SECONDS = 0.5
# A batch is committed at every tick, and sooner when it holds this many events: a commit
# writes every page its events touched, and the indexes of 50 senders and 200 users have a
# page each that every batch touches (at 10 million events, with the store's checkpoints
# every 8,000 pages: 15,064 events per CPU second against 13,341 in batches of 2,000 with
# checkpoints every 1,000 pages, measured side by side).
BATCH_EVENTS = 6000
# While the store or the journal fails, when they are tried again: after RETRY_SECONDS,
# then twice as long after each failure, at most RETRY_LONGEST_SECONDS.
RETRY_SECONDS = 5.0
RETRY_LONGEST_SECONDS = 60.0
# How often retention runs, and how long one run may take.
PRUNE_SECONDS = 30.0
PRUNE_BUDGET_SECONDS = 0.2
# Open high-risk events the wall screen gets back from the store after a restart, at most.
WALL_OPEN_EVENTS = 10000
# The answer to a line the processor cannot keep now (anything but OK is an error to omprog).
REFUSED = b"ERROR event store or input journal unavailable, see the processor's log\n"


def build_sinks(config, log=log_to_stderr):
    """A started :class:`SinkWorker` per configured sink."""
    common = {"queue_size": config["queue_size"], "retries": config["retries"],
              "retry_delay": config["retry_delay"], "log": log}
    workers = []
    for hook in config["webhooks"]:
        workers.append(SinkWorker(WebhookSink(hook["url"], hook["secret"] or None,
                                              hook["timeout"], hook["ca_file"]),
                                  hook["min_level"], **common))
    smtp = config["smtp"]
    if smtp:
        workers.append(SinkWorker(SmtpSink(
            smtp["host"], smtp["port"], smtp["from"], smtp["to"], smtp["starttls"],
            smtp["username"] or None, smtp["password"] or None, smtp["timeout"],
            smtp["ca_file"]), smtp["min_level"], **common))
    sms = config["sms"]
    if sms:
        deliver = SmsGatewaySink(sms["gateway_url"], sms["gateway_params"], sms["timeout"],
                                 sms["max_text"], sms["ca_file"]) if sms["gateway_url"] else \
            SmsCommandSink(sms["command"], sms["timeout"], sms["max_text"])
        workers.append(SinkWorker(deliver, sms["min_level"], **common))
    return workers


def lowest_level(workers):
    """The lowest ``min_level`` among the sinks (``critical`` when there are none)."""
    if not workers:
        return LEVELS[-1]
    return min((worker.min_level for worker in workers), key=LEVEL_RANK.__getitem__)


class Processor(object):
    """Lines in; events classified, stored, shown and alerted on.

    ``clock`` (monotonic) paces waiting events, alert windows and retries; ``wall_clock``
    (epoch seconds) stamps each event's arrival in the store.
    """

    def __init__(self, config, workers=None, wall_state=None, log=log_to_stderr,
                 clock=time.monotonic, wall_clock=time.time):
        self.config = config
        self.ruleset = Ruleset.load(config["rules"], config["shipped_rules"])
        self.rules = self.ruleset.rules
        self.workers = list(workers) if workers is not None else build_sinks(config, log)
        self.policy = AlertPolicy(lowest_level(self.workers), config["dedup_window"],
                                  config["rate_limit"])
        self.wall_state = wall_state
        self.log = log
        self.clock = clock
        self.wall_clock = wall_clock
        self.counts = {"lines": 0, "errors": 0, "released": 0, "refused": 0, "replayed": 0,
                       "stored": 0, "already_stored": 0, "pruned": 0}
        self.journal = self.store = None
        # Why lines are refused (the store or the journal fails), None while they work.
        self.trouble = None
        self._retry_at = self._pruned_at = 0.0
        self._failures = 0
        self._prune_more = False
        self._wall_restored = wall_state is None
        self.recover()

    # ---------------------------------------------------------------- recovery

    def recover(self):
        """(Re)open the journal and the store, read the journal again from the store's
        resume point, and commit what that gives; whether lines may be taken."""
        self._close_store()
        self.assembler = EventAssembler(wait_seconds=self.config["wait_seconds"])
        # (opened number, journal offset) of the line that opened each waiting event
        self._opened_at = collections.deque()
        self._batch = []
        self._committed = None
        try:
            if self.journal is None:
                self.journal = InputJournal(self.config["journal"])
            self.store = open_store(self.config["store"])
            resume = self.store.resume_point()
            if not self._wall_restored:
                self._restore_wall()
        except (JournalError, StoreUnavailable, ValueError) as exc:
            self._fail(exc)
            return False
        for offset, line in self.journal.replay(self.journal.base if resume is None else resume):
            self.counts["replayed"] += 1
            self._feed(line, offset)
        self._resent = self.journal.last_line()
        self._mark = (self.assembler.opened, self.clock())
        if not self.commit():
            return False
        if self.trouble is not None:
            self.log("the event store and the journal work again: lines are taken")
            self.trouble = None
        self._failures = 0
        return True

    def _restore_wall(self):
        if not self.store.answers_questions:
            self._wall_restored = True
            return
        state = self.wall_state
        state.restore(self.store.wall_history(
            self.wall_clock() - state.window_seconds, state.slice_seconds, state.max_events,
            LEVEL_RANK["high"], WALL_OPEN_EVENTS))
        self._wall_restored = True

    def _fail(self, exc):
        """Refuse lines until the store and the journal work again (tried again with a
        growing pause: backoff_delay); rsyslog keeps the refused lines in its queue."""
        message = str(exc)
        self._failures += 1
        delay = backoff_delay(self._failures, RETRY_SECONDS, longest=RETRY_LONGEST_SECONDS)
        if message != self.trouble:
            self.log("%s; lines are refused (rsyslog keeps them in its queue) and the store "
                     "is tried again in %d s, then less often (at most every %d s)"
                     % (message, delay, RETRY_LONGEST_SECONDS))
        self.trouble = message
        self._retry_at = self.clock() + delay
        self._close_store()

    def _usable(self):
        if self.trouble is None:
            return True
        if self.clock() < self._retry_at:
            return False
        return self.recover()

    def _close_store(self):
        if self.store is not None:
            try:
                self.store.close()
            except StoreUnavailable:
                pass
            self.store = None

    # ---------------------------------------------------------------- lines and events

    def handle_line(self, line):
        """Take one stored line (text, no line end); whether it may be confirmed."""
        self.counts["lines"] += 1
        if not self._usable():
            self.counts["refused"] += 1
            return False
        if self._resent is not None:
            resent, self._resent = self._resent, None
            if line == resent:
                return True  # sent again by rsyslog after a restart: in the journal already
        try:
            offset = self.journal.append(line)
        except JournalError as exc:
            self._fail(exc)
            self.counts["refused"] += 1
            return False
        if line:
            try:
                self._feed(line, offset)
            except Exception as exc:  # pylint: disable=broad-except
                # One event must not stop the stream: logged, confirmed, next.
                self.counts["errors"] += 1
                self.log("line not processed (%s: %s)" % (type(exc).__name__, exc))
        if len(self._batch) >= BATCH_EVENTS:
            self.commit()
        return True

    def _feed(self, line, offset):
        opened = self.assembler.opened
        # feed_lines counts a hostile line that gets past the assembler's cheap checks as
        # malformed, never fatal.
        for event in self.assembler.feed_lines((line,)):
            self._take(event)
        if self.assembler.opened != opened:
            self._opened_at.append((self.assembler.opened, offset))

    def _take(self, event):
        classify(event, self.rules)
        self._batch.append((event, self.wall_clock()))

    def _resume_point(self):
        """The journal offset of the first line of the oldest waiting event (the journal's
        end when none waits)."""
        oldest = self.assembler.oldest_waiting
        opened_at = self._opened_at
        while opened_at and (oldest is None or opened_at[0][0] < oldest):
            opened_at.popleft()
        return opened_at[0][1] if oldest is not None and opened_at else self.journal.end

    def commit(self):
        """Store the batch with the resume point, then show and alert on its new events;
        whether the store took it."""
        if self.store is None:
            return False
        resume = self._resume_point()
        batch = self._batch
        if not batch and resume == self._committed:
            return True
        try:
            # replayed after a restart, or stored by a --rebuild running beside
            known = self.store.known([event for event, _arrived in batch])
        except StoreUnavailable as exc:
            self._fail(exc)
            return False
        fresh = [pair for index, pair in enumerate(batch) if index not in known]
        for event, arrived in fresh:
            self.store.add(event, arrived, self.ruleset.fingerprint)
        try:
            self.store.commit(resume)
        except StoreUnavailable as exc:
            self.store.rollback()
            self._fail(exc)
            return False
        self._batch = []
        self._committed = resume
        self.counts["stored"] += len(fresh)
        self.counts["already_stored"] += len(batch) - len(fresh)
        for event, _arrived in fresh:
            self._contained(self._show_and_alert, event)
        try:
            if self.journal.compacts(resume):
                # the journal forgets those lines: what the store took from them must last
                self.store.sync()
                self.journal.compact(resume)
        except (JournalError, StoreUnavailable) as exc:
            self.log(str(exc))
        return True

    def _show_and_alert(self, event):
        # a loss reporter's heartbeat is kept, neither shown nor alerted: nothing happened
        if event["kind"] == "health":
            return
        if self.wall_state is not None:
            self.wall_state.add(event)
        if self.workers:
            self._dispatch(self.policy.decide(event, self.clock()))

    def _contained(self, step, event):
        """``step(event)`` for one event of many: one that fails is logged and counted, and the
        others go on (as a failing line does, in :meth:`handle_line`)."""
        try:
            step(event)
        except Exception as exc:  # pylint: disable=broad-except
            self.counts["errors"] += 1
            self.log("event not processed (%s: %s)" % (type(exc).__name__, exc))

    def _dispatch(self, alerts):
        for alert in alerts:
            for worker in self.workers:
                worker.offer(alert)

    def tick(self):
        """Periodic work: events held ``wait_seconds`` without their last record are given
        out, closed dedup windows report their counts, the batch is committed, retention
        runs."""
        now = self.clock()
        if not self._usable():
            return
        mark, marked_at = self._mark
        if now - marked_at >= self.config["wait_seconds"]:
            # No line has completed them in that time: their senders went quiet.
            held = self.assembler.release(mark)
            self.counts["released"] += len(held)
            for event in held:
                self._contained(self._take, event)
            self._mark = (self.assembler.opened, now)
        if self.workers:
            self._dispatch(self.policy.due(now))
        if self.commit() and (self._prune_more or now - self._pruned_at >= PRUNE_SECONDS):
            self._prune(now)

    def _prune(self, now):
        self._pruned_at = now
        try:
            while True:
                removed = self.store.prune(self.wall_clock())
                self.counts["pruned"] += removed
                self._prune_more = removed > 0
                if not removed or self.clock() - now >= PRUNE_BUDGET_SECONDS:
                    break
        except StoreUnavailable as exc:
            # retention can wait; the events keep coming in
            self._prune_more = False
            self.log(str(exc))

    def close(self, drain_seconds=2.0):
        """End of input: commit the batch (the events still waiting stay in the journal for
        the next start), send pending summaries, and give the sinks ``drain_seconds`` to
        deliver what is queued."""
        if self.store is not None:
            self.commit()
        if self.workers:
            self._dispatch(self.policy.flush())
        self._close_store()
        if self.journal is not None:
            self.journal.close()
        for worker in self.workers:
            worker.close(drain_seconds)


class LineReader(object):
    """Whole lines from a file descriptor, without blocking past what ``select`` saw.

    A line longer than ``max_line`` bytes comes out empty (it is still one line to confirm).
    """

    def __init__(self, fd, max_line=MAX_LINE):
        self.fd = fd
        self.max_line = max_line
        self.eof = False
        self._buffer = b""
        self._skipping = False

    def read(self):
        """Lines completed by one ``os.read`` (call when the descriptor is readable)."""
        chunk = os.read(self.fd, 65536)
        if not chunk:
            self.eof = True
            tail, self._buffer = self._buffer, b""
            return [self._decode(tail)] if tail and not self._skipping else []
        pieces = (self._buffer + chunk).split(b"\n")
        self._buffer = pieces.pop()
        lines = []
        for piece in pieces:
            if self._skipping:
                self._skipping = False
                lines.append("")
            else:
                lines.append(self._decode(piece))
        if len(self._buffer) > self.max_line:
            self._buffer = b""
            self._skipping = True
        return lines

    def _decode(self, piece):
        if len(piece) > self.max_line:
            return ""
        return piece.decode("utf-8", "replace").rstrip("\r")


def _write_all(fd, data):
    while data:
        data = data[os.write(fd, data):]


def _start_wall(config, state_class=None, log=log_to_stderr):
    wall = config["wall"]
    from ansible_collections.whotouched.server_audit.plugins.module_utils._processor.wall_screen import (
        WallState,
        serve_wall,
    )

    def record(item):
        # the processor's log is the record of who acknowledged what, and when
        log("wall screen: %s acknowledged by %s from %s at %s (%s on %s, %s)" % (
            item["id"], item["ack"]["by"], item["ack"]["from"], item["ack"]["at"],
            item["rule"] or item["what"], item["host"], item["login_user"] or "?"))

    state = (state_class or WallState)(max_events=wall["max_events"], on_acknowledge=record)
    server = serve_wall(state, wall["address"], wall["port"], wall["token"] or None)
    return state, server


def run(config, stdin_fd=0, stdout_fd=1, log=log_to_stderr):
    """The omprog loop over ``stdin_fd`` until EOF or SIGTERM; returns the exit status."""
    stop = []

    def on_term(signum, _frame):
        stop.append("signal %d" % signum)

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    state = server = None
    if config["wall"]["enabled"]:
        try:
            state, server = _start_wall(config, log=log)
        except (ImportError, OSError, ValueError) as exc:
            # Alerts and the store matter more than the screen: run on without it.
            log("wall screen not started: %s" % exc)
    try:
        processor = Processor(config, wall_state=state, log=log)
    except (EventStoreError, OSError) as exc:
        log("cannot start: %s" % exc)
        if server is not None:
            server.shutdown()
        return 2
    reader = LineReader(stdin_fd)
    log("ready: %d rules, %d sinks, store %s%s" % (
        len(processor.rules), len(processor.workers), store_name(config["store"]),
        " (unavailable: lines are refused until it works)" if processor.trouble else ""))
    try:
        _write_all(stdout_fd, b"OK\n")
        last_tick = time.monotonic()
        while not stop and not reader.eof:
            try:
                readable = select.select([stdin_fd], [], [], TICK_SECONDS)[0]
            except InterruptedError:
                readable = []
            if readable:
                for line in reader.read():
                    _write_all(stdout_fd, b"OK\n" if processor.handle_line(line) else REFUSED)
            if time.monotonic() - last_tick >= TICK_SECONDS:
                last_tick = time.monotonic()
                processor.tick()
    except BrokenPipeError:
        log("rsyslog closed the confirmation pipe")
    finally:
        processor.close()
        if server is not None:
            server.shutdown()
        log("stopped (%s): %s; events %s; alerts %s" % (
            stop[0] if stop else "end of input" if reader.eof else "error",
            json.dumps(processor.counts, sort_keys=True),
            json.dumps(processor.assembler.counts, sort_keys=True),
            json.dumps(processor.policy.counts, sort_keys=True)))
    return 0


USAGE = "usage: alert-processor [--check | --create-schema | --rebuild LOG_DIR] CONFIG.json"


def _create_schema(store):
    if store["backend"] != "clickhouse":
        log_to_stderr("--create-schema: the %s store has no schema to create (only clickhouse "
                      "has)" % store["backend"])
        return 2
    from ansible_collections.whotouched.server_audit.plugins.module_utils._store.clickhouse import (
        create_schema,
        read_credentials,
    )
    try:
        created = create_schema(store, read_credentials(store["credentials_file"]))
    except (StoreUnavailable, EventStoreError) as exc:
        log_to_stderr("cannot create the schema: %s" % exc)
        return 2
    _write_all(1, (json.dumps({"created": created}) + "\n").encode("utf-8"))
    return 0


def main(argv=None):
    """Entry point: ``alert-processor [--check | --create-schema | --rebuild LOG_DIR]
    CONFIG.json``.

    ``--check`` reads the configuration and compiles the rules, then exits: 0 when the
    processor would start with them, 2 with the reason on stderr when not.
    ``--create-schema`` creates what is missing of the ClickHouse store's schema and prints
    ``{"created": [tables]}`` on stdout: 0 when it is there, 2 when not.  ``--rebuild``
    fills the store from the stored files under LOG_DIR (see ``rebuild``) and exits: 0 when
    every file was read, 1 when some could not be, 2 when the store could not be written.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    check = argv[:1] == ["--check"]
    schema = argv[:1] == ["--create-schema"]
    rebuild_from = argv[1] if argv[:1] == ["--rebuild"] and len(argv) > 1 else None
    argv = argv[1:] if check or schema else argv[2:] if rebuild_from else argv
    if len(argv) != 1 or argv[0].startswith("--"):
        log_to_stderr(USAGE)
        return 2
    try:
        config = read_config(load_config_file(argv[0]))
        Ruleset.load(config["rules"], config["shipped_rules"])
    except (OSError, ValueError) as exc:
        # ValueError covers bad JSON, ProcessorConfigError and RiskRuleError.
        log_to_stderr("cannot start with %s: %s" % (argv[0], exc))
        return 2
    if check:
        return 0
    if schema:
        return _create_schema(config["store"])
    if rebuild_from:
        from ansible_collections.whotouched.server_audit.plugins.module_utils._processor.rebuild import (
            rebuild_command,
        )
        return rebuild_command(config, rebuild_from)
    return run(config)
