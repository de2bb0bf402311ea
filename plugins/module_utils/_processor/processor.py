# -*- coding: utf-8 -*-
# Copyright: whotouched.server_audit contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to whotouched.server_audit: it may change in any release. Do not import it from
# other collections or from code outside this collection.
"""The alert processor rsyslog runs through ``omprog`` on the log server.

``main([config_path])`` reads a JSON configuration (see :func:`read_config`), loads the risk
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
    AlertConfigError,
    AlertPolicy,
    check_level,
    check_placeholders,
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
from ansible_collections.whotouched.server_audit.plugins.module_utils._store.jsonl import (
    EventStore,
)

MAX_LINE = 65536
TICK_SECONDS = 0.5

_DEFAULTS = {
    "store": {"path": "/var/lib/whotouched/events.jsonl", "max_bytes": 100 << 20, "keep": 5,
              "fsync_seconds": 1.0},
    "rules": [],
    "shipped_rules": True,
    "wait_seconds": 5.0,
    "dedup_window": 300.0,
    "rate_limit": 20,
    "queue_size": 100,
    "retries": 3,
    "retry_delay": 2.0,
    "webhooks": [],
    "smtp": None,
    "sms": None,
    "wall": {"enabled": False, "address": "127.0.0.1", "port": 8088, "token": "",
             "max_events": 500},
}

_TOP_KEYS = frozenset(_DEFAULTS)
_WEBHOOK_KEYS = {"url": None, "min_level": "high", "secret": "", "timeout": 10.0,
                 "ca_file": None}
_SMTP_KEYS = {"host": None, "port": 25, "starttls": True, "username": "", "password": "",
              "from": None, "to": None, "min_level": "high", "timeout": 30.0, "ca_file": None}
_SMS_KEYS = {"min_level": "critical", "gateway_url": "", "gateway_params": {}, "command": [],
             "timeout": 30.0, "max_text": 160, "ca_file": None}


class ProcessorConfigError(ValueError):
    """A configuration the processor cannot use; the message names the setting."""


def _section(value, defaults, where):
    if not isinstance(value, dict):
        raise ProcessorConfigError("%s must be a mapping, got %r" % (where, value))
    unknown = sorted(set(value) - set(defaults))
    if unknown:
        raise ProcessorConfigError("%s: unknown setting %s (known: %s)"
                                   % (where, ", ".join(unknown), ", ".join(sorted(defaults))))
    merged = dict(defaults)
    merged.update((name, item) for name, item in value.items() if item is not None)
    for name, item in merged.items():
        if item is None and defaults[name] is None and name != "ca_file":
            raise ProcessorConfigError("%s.%s is required" % (where, name))
    return merged


def _number(value, where, minimum=0.0, whole=False):
    kinds = (int,) if whole else (int, float)
    if isinstance(value, bool) or not isinstance(value, kinds) or value < minimum:
        raise ProcessorConfigError("%s must be a %s of at least %s, got %r"
                                   % (where, "whole number" if whole else "number", minimum,
                                      value))
    return value


def _url(value, where):
    if not isinstance(value, str) or not value.startswith(("http://", "https://")):
        raise ProcessorConfigError("%s must be an http:// or https:// URL, got %r"
                                   % (where, value))
    return value


def _level(value, where):
    try:
        return check_level(value, where)
    except AlertConfigError as exc:
        raise ProcessorConfigError(str(exc))


def read_config(mapping):
    """The processor's settings from ``mapping`` (the JSON file), checked, defaults filled.

    Raises :class:`ProcessorConfigError` naming the first setting that cannot be used.
    """
    if not isinstance(mapping, dict):
        raise ProcessorConfigError("the configuration must be a JSON object")
    unknown = sorted(set(mapping) - _TOP_KEYS)
    if unknown:
        raise ProcessorConfigError("unknown setting %s (known: %s)"
                                   % (", ".join(unknown), ", ".join(sorted(_TOP_KEYS))))
    config = dict(_DEFAULTS)
    config.update((name, value) for name, value in mapping.items() if value is not None)
    store = config["store"] = _section(config["store"], _DEFAULTS["store"], "store")
    if not isinstance(store["path"], str) or not os.path.isabs(store["path"]):
        raise ProcessorConfigError("store.path must be an absolute path, got %r"
                                   % (store["path"],))
    _number(store["max_bytes"], "store.max_bytes", 4096, whole=True)
    _number(store["keep"], "store.keep", 1, whole=True)
    _number(store["fsync_seconds"], "store.fsync_seconds")
    if not isinstance(config["rules"], list):
        raise ProcessorConfigError("rules must be a list of rule mappings")
    if not isinstance(config["shipped_rules"], bool):
        raise ProcessorConfigError("shipped_rules must be true or false")
    _number(config["wait_seconds"], "wait_seconds", 0.1)
    _number(config["dedup_window"], "dedup_window", 1)
    _number(config["rate_limit"], "rate_limit", 1, whole=True)
    _number(config["queue_size"], "queue_size", 1, whole=True)
    _number(config["retries"], "retries", 0, whole=True)
    _number(config["retry_delay"], "retry_delay", 0)
    if not isinstance(config["webhooks"], list):
        raise ProcessorConfigError("webhooks must be a list of mappings")
    hooks = []
    for index, hook in enumerate(config["webhooks"]):
        where = "webhooks[%d]" % index
        hook = _section(hook, _WEBHOOK_KEYS, where)
        _url(hook["url"], where + ".url")
        _level(hook["min_level"], where + ".min_level")
        _number(hook["timeout"], where + ".timeout", 0.1)
        hooks.append(hook)
    config["webhooks"] = hooks
    if config["smtp"]:
        smtp = config["smtp"] = _section(config["smtp"], _SMTP_KEYS, "smtp")
        _number(smtp["port"], "smtp.port", 1, whole=True)
        _level(smtp["min_level"], "smtp.min_level")
        _number(smtp["timeout"], "smtp.timeout", 0.1)
        if not isinstance(smtp["to"], list) or not smtp["to"] or not all(
                isinstance(address, str) and "@" in address for address in smtp["to"]):
            raise ProcessorConfigError("smtp.to must be a non-empty list of mail addresses")
        if not isinstance(smtp["from"], str) or "@" not in smtp["from"]:
            raise ProcessorConfigError("smtp.from must be a mail address, got %r"
                                       % (smtp["from"],))
        if not isinstance(smtp["starttls"], bool):
            raise ProcessorConfigError("smtp.starttls must be true or false")
    else:
        config["smtp"] = None
    if config["sms"]:
        sms = config["sms"] = _section(config["sms"], _SMS_KEYS, "sms")
        _level(sms["min_level"], "sms.min_level")
        _number(sms["timeout"], "sms.timeout", 0.1)
        _number(sms["max_text"], "sms.max_text", 20, whole=True)
        if bool(sms["gateway_url"]) == bool(sms["command"]):
            raise ProcessorConfigError("sms needs exactly one of gateway_url and command")
        if sms["gateway_url"]:
            _url(sms["gateway_url"], "sms.gateway_url")
            if not isinstance(sms["gateway_params"], dict) or not sms["gateway_params"]:
                raise ProcessorConfigError("sms.gateway_params must be a non-empty mapping")
            for name, value in sms["gateway_params"].items():
                _placeholders(str(value), "sms.gateway_params.%s" % name)
        else:
            if not isinstance(sms["command"], list) or not all(
                    isinstance(argument, str) for argument in sms["command"]):
                raise ProcessorConfigError("sms.command must be a list of strings (an "
                                           "argument vector, no shell)")
            if not os.path.isabs(sms["command"][0]):
                raise ProcessorConfigError("sms.command[0] must be an absolute path, got %r"
                                           % (sms["command"][0],))
            for index, argument in enumerate(sms["command"]):
                _placeholders(argument, "sms.command[%d]" % index)
    else:
        config["sms"] = None
    wall = config["wall"] = _section(config["wall"], _DEFAULTS["wall"], "wall")
    if not isinstance(wall["enabled"], bool):
        raise ProcessorConfigError("wall.enabled must be true or false")
    _number(wall["port"], "wall.port", 1, whole=True)
    _number(wall["max_events"], "wall.max_events", 1, whole=True)
    if wall["token"]:
        from ansible_collections.whotouched.server_audit.plugins.module_utils._processor.wall_screen import (
            valid_token,
        )
        if not valid_token(wall["token"]):
            raise ProcessorConfigError("wall.token must be printable ASCII characters without "
                                       "blanks")
    return config


def _placeholders(template, where):
    try:
        check_placeholders(template, where)
    except AlertConfigError as exc:
        raise ProcessorConfigError(str(exc))


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
        self.store = EventStore(store["path"], store["max_bytes"], store["keep"],
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
        if self.wall_state is not None:
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


def _start_wall(config, state_class=None):
    wall = config["wall"]
    from ansible_collections.whotouched.server_audit.plugins.module_utils._processor.wall_screen import (
        WallState,
        serve_wall,
    )
    state = (state_class or WallState)(max_events=wall["max_events"])
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
            state, server = _start_wall(config)
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
