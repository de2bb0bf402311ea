# -*- coding: utf-8 -*-
# Copyright: whotouched.server_audit contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to whotouched.server_audit: it may change in any release. Do not import it from
# other collections or from code outside this collection.
"""The alert processor rsyslog runs through ``omprog`` on the log server.

``main([config_path])`` reads a JSON configuration (see ``settings``), loads the risk
rules (the shipped ones and the user's), and then reads stored lines (``runcmdformat`` and
``evtsysformat``) from stdin.  Each line goes to an :class:`EventAssembler`; each event it
completes is classified, appended to the JSON-lines store, handed to the wall screen and to
the alert policy, whose alerts go to the sinks' worker threads.

The ``omprog`` protocol with ``confirmMessages="on"``: ``OK`` once when ready, then ``OK``
after each line, on stdout, flushed; rsyslog sends the next line only then, and sends a line
again to a restarted processor when it was not confirmed.  Nothing else is written to stdout.

An event waits for its PROCTITLE record; when no line completes it, :meth:`Processor.tick`
(run from the main loop at least twice a second) gives out what has waited one to two
``wait_seconds``, and leaves the events opened since alone.
EOF or SIGTERM: the held events are given out, the store synced and the sinks drained briefly.

Standard library only: this runs on the log server.
"""

from __future__ import annotations

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
    log_to_stderr,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._events.assembler import (
    EventAssembler,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._events.risk import (
    LEVEL_RANK,
    LEVELS,
    classify,
    load_risk_rules,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._processor.settings import (
    read_config,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._store.jsonl import (
    JsonLinesStore,
)

MAX_LINE = 65536
TICK_SECONDS = 0.5


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
    """Lines in; events classified, stored, shown and alerted on."""

    def __init__(self, config, workers=None, wall_state=None, log=log_to_stderr,
                 clock=time.monotonic):
        self.config = config
        self.rules = load_risk_rules(config["rules"], config["shipped_rules"])
        self.assembler = EventAssembler(wait_seconds=config["wait_seconds"])
        store = config["store"]
        self.store = JsonLinesStore(store["path"], store["max_bytes"], store["keep"],
                                    store["fsync_seconds"])
        self.workers = list(workers) if workers is not None else build_sinks(config, log)
        self.policy = AlertPolicy(lowest_level(self.workers), config["dedup_window"],
                                  config["rate_limit"])
        self.wall_state = wall_state
        self.log = log
        self.clock = clock
        self.counts = {"lines": 0, "errors": 0, "released": 0}
        # Every wait_seconds, the events opened before the previous mark are given out:
        # each waits between one and two wait_seconds for its last record.
        self._mark = (self.assembler.opened, clock())

    def handle_line(self, line):
        """Take one stored line (text, no line end)."""
        self.counts["lines"] += 1
        if not line:
            return
        # feed_lines counts a hostile line that gets past the assembler's cheap checks as
        # malformed, never fatal.
        for event in self.assembler.feed_lines((line,)):
            self.handle_event(event)

    def handle_event(self, event):
        """Classify, store, show, and alert on one event."""
        classify(event, self.rules)
        self.store.append(event)
        # a loss reporter's heartbeat is kept, not shown: nothing happened
        if self.wall_state is not None and event["kind"] != "health":
            self.wall_state.add(event)
        if self.workers:
            self._dispatch(self.policy.decide(event, self.clock()))

    def _dispatch(self, alerts):
        for alert in alerts:
            for worker in self.workers:
                worker.offer(alert)

    def tick(self):
        """Periodic work: events held ``wait_seconds`` without their last record are given
        out, closed dedup windows report their counts, the store is synced."""
        now = self.clock()
        mark, marked_at = self._mark
        if now - marked_at >= self.config["wait_seconds"]:
            # No line has completed them in that time: their senders went quiet.
            held = self.assembler.release(mark)
            self.counts["released"] += len(held)
            for event in held:
                self.handle_event(event)
            self._mark = (self.assembler.opened, now)
        if self.workers:
            self._dispatch(self.policy.due(now))
        self.store.sync()

    def close(self, drain_seconds=2.0):
        """End of input: give out every held event, send pending summaries, sync the store,
        and give the sinks ``drain_seconds`` to deliver what is queued."""
        for event in self.assembler.flush():
            self.handle_event(event)
        if self.workers:
            self._dispatch(self.policy.flush())
        self.store.close()
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
    processor = Processor(config, wall_state=state, log=log)
    reader = LineReader(stdin_fd)
    log("ready: %d rules, %d sinks, store %s" % (len(processor.rules), len(processor.workers),
                                                 config["store"]["path"]))
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
                    try:
                        processor.handle_line(line)
                    except Exception as exc:  # pylint: disable=broad-except
                        # One event must not stop the stream: logged, confirmed, next.
                        processor.counts["errors"] += 1
                        log("line not processed (%s: %s)" % (type(exc).__name__, exc))
                    _write_all(stdout_fd, b"OK\n")
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


def main(argv=None):
    """Entry point: ``alert-processor [--check] CONFIG.json``.

    ``--check`` reads the configuration and compiles the rules, then exits: 0 when the
    processor would start with them, 2 with the reason on stderr when not.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    check = argv[:1] == ["--check"]
    if check:
        argv = argv[1:]
    if len(argv) != 1:
        log_to_stderr("usage: alert-processor [--check] CONFIG.json")
        return 2
    try:
        with open(argv[0], "r", encoding="utf-8") as handle:
            config = read_config(json.load(handle))
        load_risk_rules(config["rules"], config["shipped_rules"])
    except (OSError, ValueError) as exc:
        # ValueError covers bad JSON, ProcessorConfigError and RiskRuleError.
        log_to_stderr("cannot start with %s: %s" % (argv[0], exc))
        return 2
    if check:
        return 0
    return run(config)
