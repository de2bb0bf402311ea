# -*- coding: utf-8 -*-
# Copyright: whotouched.server_audit contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to whotouched.server_audit: it may change in any release. Do not import it from
# other collections or from code outside this collection.
"""Where alerts go: a webhook, e-mail over SMTP, SMS through an HTTP gateway or a command.

Each sink is a ``deliver(alert)`` callable that raises on failure.  :class:`SinkWorker` runs
one sink in a thread of its own behind a bounded queue, so a slow or dead sink never holds
up the reader of the log stream: when the queue is full the alert is dropped, counted and
logged; a failed delivery is retried with growing pauses, and after the last attempt logged.
Logs go to ``log`` (stderr by default: rsyslog's ``omprog`` writes it to its ``output`` file).

Commands run as an argument vector, never through a shell; log content only ever fills
placeholders inside single arguments, and never makes one begin with ``-``.

Standard library only: this runs on the log server under rsyslog's ``omprog``.
"""

from __future__ import annotations

import http.client
import queue
import smtplib
import socket
import ssl
import subprocess
import sys
import threading
import time
import urllib.parse

from ansible_collections.whotouched.server_audit.plugins.module_utils._processor.alert_policy import (
    SIGNATURE_HEADER,
    fill_placeholders,
    mail_message,
    placeholder_values,
    signature,
    webhook_body,
    wants,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._text.printable import (
    sanitize,
)

USER_AGENT = "whotouched-alert-processor/1"


class DeliveryError(Exception):
    """A delivery that did not succeed; the message says why."""


def log_to_stderr(message):
    """One line on stderr, flushed (omprog's ``output`` file)."""
    sys.stderr.write("%s whotouched-alert: %s\n"
                     % (time.strftime("%Y-%m-%dT%H:%M:%S"), sanitize(message)))
    sys.stderr.flush()


def _tls_context(ca_file=None):
    return ssl.create_default_context(cafile=ca_file) if ca_file else \
        ssl.create_default_context()


class _Deadline(object):
    """The time a delivery may take: when it is up before the answer was read, the
    connection's socket is shut, which ends a read waiting on it."""

    def __init__(self, connection, seconds):
        self._connection = connection
        self._lock = threading.Lock()
        self._done = False
        self.expired = False
        self._timer = threading.Timer(seconds, self._cut_off)
        self._timer.daemon = True
        self._timer.start()

    def _cut_off(self):
        with self._lock:
            if self._done:
                return
            self.expired = True
            sock = self._connection.sock
            if sock is not None:
                try:
                    # the plain socket's shutdown, also under TLS: the reading thread owns
                    # the TLS state
                    socket.socket.shutdown(sock, socket.SHUT_RDWR)
                except OSError:
                    pass

    def finish(self):
        """The answer was read (or the delivery failed): the deadline no longer applies.
        True when it had expired before."""
        with self._lock:
            self._done = True
        self._timer.cancel()
        return self.expired


def endpoint(url):
    """``(https?, host, port, path and query)`` of ``url``, the port always given: with
    none, http.client would read the last group of an IPv6 address as one."""
    parts = urllib.parse.urlsplit(url)
    secure = parts.scheme == "https"
    return (secure, parts.hostname, parts.port or (443 if secure else 80),
            urllib.parse.urlunsplit(("", "", parts.path or "/", parts.query, "")))


def _post(url, body, headers, timeout, ca_file=None):
    """POST ``body`` to ``url``; a 2xx answer is a delivery.  Once connected, sending and
    reading the answer take at most what is left of ``timeout`` seconds (connecting itself
    takes at most ``timeout`` per address of the host): an endpoint that answers a byte at a
    time does not hold the sink.  A redirect is not followed, nor is a proxy from the
    environment used: the alert goes where the configuration says, and a redirect fails the
    delivery (followed, a 301-303 would become a GET without the alert, and would carry the
    signature to another host)."""
    try:
        secure, host, port, target = endpoint(url)
        if secure:
            connection = http.client.HTTPSConnection(host, port, timeout=timeout,
                                                     context=_tls_context(ca_file))
        else:
            connection = http.client.HTTPConnection(host, port, timeout=timeout)
    except (ValueError, OSError, http.client.HTTPException) as exc:
        raise DeliveryError("%s: %s" % (_safe_url(url), exc))
    deadline = _Deadline(connection, timeout)
    try:
        connection.connect()
        if deadline.expired:
            raise OSError("connecting took the delivery's time")
        connection.request("POST", target, body=body,
                           headers=dict(headers, **{"User-Agent": USER_AGENT}))
        response = connection.getresponse()
        response.read(65536)
        # the status came whole: the endpoint answered, whatever the deadline did since
        status = response.status
    except (http.client.HTTPException, OSError, ValueError) as exc:
        if deadline.finish():
            raise DeliveryError("%s did not answer within %s s" % (_safe_url(url), timeout))
        raise DeliveryError("%s: %s" % (_safe_url(url), exc))
    finally:
        deadline.finish()
        connection.close()
    if not 200 <= status < 300:
        raise DeliveryError("%s answered HTTP %s%s" % (
            _safe_url(url), status, " (a redirect: configure the URL it names)"
            if 300 <= status < 400 else ""))


class WebhookSink(object):
    """JSON POST of the alert; signed with HMAC-SHA256 when ``secret`` is set."""

    def __init__(self, url, secret=None, timeout=10.0, ca_file=None):
        self.url = url
        self.secret = secret
        self.timeout = timeout
        self.ca_file = ca_file
        self.name = "webhook %s" % _safe_url(url)

    def __call__(self, alert):
        body = webhook_body(alert)
        headers = {"Content-Type": "application/json"}
        if self.secret:
            headers[SIGNATURE_HEADER] = signature(self.secret, body)
        _post(self.url, body, headers, self.timeout, self.ca_file)


class SmtpSink(object):
    """The alert as an e-mail, with STARTTLS when asked and a login when a user is given."""

    def __init__(self, host, port=25, sender="", recipients=(), starttls=True, username=None,
                 password=None, timeout=30.0, ca_file=None):
        self.host = host
        self.port = port
        self.sender = sender
        self.recipients = list(recipients)
        self.starttls = starttls
        self.username = username
        self.password = password
        self.timeout = timeout
        self.ca_file = ca_file
        self.name = "smtp %s:%s" % (host, port)

    def __call__(self, alert):
        message = mail_message(alert, self.sender, self.recipients)
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as client:
                client.ehlo()
                if self.starttls:
                    client.starttls(context=_tls_context(self.ca_file))
                    client.ehlo()
                if self.username:
                    client.login(self.username, self.password or "")
                refused = client.send_message(message, self.sender, self.recipients)
        except (smtplib.SMTPException, OSError, ssl.SSLError) as exc:
            raise DeliveryError("%s: %s" % (self.name, exc))
        if refused:
            raise DeliveryError("%s refused %s" % (self.name, ", ".join(sorted(refused))))


class SmsGatewaySink(object):
    """An HTTP SMS gateway: form-encoded POST of ``params`` with placeholders filled."""

    def __init__(self, url, params, timeout=10.0, max_text=160, ca_file=None):
        self.url = url
        self.params = dict(params)
        self.timeout = timeout
        self.max_text = max_text
        self.ca_file = ca_file
        self.name = "sms gateway %s" % _safe_url(url)

    def __call__(self, alert):
        values = placeholder_values(alert, self.max_text)
        form = [(name, fill_placeholders(str(value), values))
                for name, value in sorted(self.params.items())]
        body = urllib.parse.urlencode(form).encode("ascii")
        _post(self.url, body, {"Content-Type": "application/x-www-form-urlencoded"},
              self.timeout, self.ca_file)


class SmsCommandSink(object):
    """A command run as an argument vector, placeholders filled per argument, no shell."""

    def __init__(self, argv, timeout=30.0, max_text=160):
        self.argv = list(argv)
        self.timeout = timeout
        self.max_text = max_text
        self.name = "sms command %s" % self.argv[0]

    def command(self, alert):
        """The argument vector for ``alert``.  An argument that begins with ``-`` only
        because of what a sender wrote (a host named ``--config=...``) gets a space before
        it: the program never takes log content for one of its options."""
        values = placeholder_values(alert, self.max_text)
        command = []
        for argument in self.argv:
            filled = fill_placeholders(argument, values)
            if filled.startswith("-") and not argument.startswith("-"):
                filled = " " + filled
            command.append(filled)
        return command

    def __call__(self, alert):
        try:
            result = subprocess.run(self.command(alert), stdin=subprocess.DEVNULL,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                    timeout=self.timeout, check=False, shell=False)
        except subprocess.TimeoutExpired:
            raise DeliveryError("%s did not finish within %s s" % (self.name, self.timeout))
        except OSError as exc:
            raise DeliveryError("%s: %s" % (self.name, exc))
        if result.returncode != 0:
            raise DeliveryError("%s exited %d: %s" % (
                self.name, result.returncode,
                result.stderr.decode("utf-8", "replace").strip()[:300]))


def _safe_url(url):
    """``url`` without credentials or query (which may hold secrets), for logs."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = "%s:%d" % (host, parts.port)
    return urllib.parse.urlunsplit((parts.scheme, host, parts.path, "", ""))


def backoff_delay(attempt, first=1.0, factor=2.0, longest=60.0):
    """The pause before retry number ``attempt`` (1 for the first): ``first``, then
    ``factor`` times longer each time, at most ``longest``."""
    return min(first * factor ** min(max(attempt, 1) - 1, 64), longest)


def backoff_delays(retries, first=1.0, factor=2.0, longest=60.0):
    """The pauses before each of ``retries`` retries (backoff_delay)."""
    return [backoff_delay(attempt, first, factor, longest) for attempt in range(1, retries + 1)]


class SinkWorker(object):
    """One sink in a daemon thread behind a bounded queue."""

    def __init__(self, deliver, min_level="high", queue_size=100, retries=3,
                 retry_delay=2.0, log=log_to_stderr, name=None):
        self.deliver = deliver
        self.min_level = min_level
        self.name = name or getattr(deliver, "name", "sink")
        self.delays = backoff_delays(retries, retry_delay)
        self.log = log
        self.counts = {"queued": 0, "delivered": 0, "dropped": 0, "failed": 0, "retried": 0}
        self._queue = queue.Queue(maxsize=queue_size)
        self._stop = threading.Event()
        self._deadline = None
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()

    def offer(self, alert):
        """Queue ``alert`` when the sink wants its level; never waits.  True when queued."""
        if not wants(alert["level"], self.min_level):
            return False
        try:
            self._queue.put_nowait(alert)
        except queue.Full:
            self.counts["dropped"] += 1
            self.log("%s: queue full, alert dropped: %s" % (self.name, alert["text"]))
            return False
        self.counts["queued"] += 1
        return True

    def _run(self):
        while True:
            try:
                alert = self._queue.get(timeout=0.2)
            except queue.Empty:
                if self._stop.is_set():
                    return
                continue
            if self._deadline is not None and time.monotonic() > self._deadline:
                self.counts["dropped"] += 1
                self.log("%s: not delivered before exit: %s" % (self.name, alert["text"]))
                continue
            self._deliver(alert)

    def _deliver(self, alert):
        attempt = 0
        while True:
            try:
                self.deliver(alert)
            except Exception as exc:  # pylint: disable=broad-except
                # Whatever a sink raises, the worker lives on: the next alert may go through.
                if attempt >= len(self.delays) or self._stop.is_set():
                    self.counts["failed"] += 1
                    self.log("%s: delivery failed after %d attempts (%s): %s"
                             % (self.name, attempt + 1, exc, alert["text"]))
                    return
                self.counts["retried"] += 1
                if self._stop.wait(self.delays[attempt]):
                    self.counts["failed"] += 1
                    self.log("%s: delivery abandoned at exit (%s): %s"
                             % (self.name, exc, alert["text"]))
                    return
                attempt += 1
                continue
            self.counts["delivered"] += 1
            return

    def close(self, seconds=5.0):
        """Deliver what is queued for at most ``seconds``, then stop (the thread is a daemon:
        a delivery that hangs past that does not keep the process alive)."""
        self._deadline = time.monotonic() + seconds
        end = self._deadline
        while not self._queue.empty() and time.monotonic() < end:
            time.sleep(0.05)
        self._stop.set()
        self._thread.join(max(0.0, end - time.monotonic()) + 0.5)
