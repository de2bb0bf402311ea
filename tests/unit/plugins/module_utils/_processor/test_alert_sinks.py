"""Sink workers (bounded queues, retries, never blocking), the SMS command's argv, the SMS gateway."""

from __future__ import annotations

import http.server
import json
import shutil
import socket
import ssl
import subprocess
import sys
import threading
import time
import urllib.parse

import pytest

from ansible_collections.whotouched.server_audit.plugins.module_utils._processor.alert_policy import (
    make_alert,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._processor.alert_sinks import (
    DeliveryError,
    SinkWorker,
    SmsCommandSink,
    SmsGatewaySink,
    WebhookSink,
    _safe_url,
    endpoint,
    backoff_delay,
    backoff_delays,
)


def alert(level="critical", argv=("auditctl", "-D")):
    event = {"host": "web01", "address": "192.0.2.10", "login_user": "alice", "user": "root",
             "argv": list(argv), "level": level, "rules": ["r"], "reasons": ["why"]}
    return make_alert("event", event, level, 1)


def wait_until(condition, seconds=10.0):
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "condition not met in %s s" % seconds
        time.sleep(0.01)


def test_backoff_grows_and_is_capped():
    assert backoff_delays(5, 1.0, 2.0, 5.0) == [1.0, 2.0, 4.0, 5.0, 5.0]
    assert backoff_delays(0) == []
    # a store away for days: the pause stays at its cap, no overflow
    assert backoff_delay(100000, 5.0, 2.0, 60.0) == 60.0 and backoff_delay(1, 5.0) == 5.0


def test_a_hanging_sink_never_blocks_offer_and_drops_over_its_queue():
    release = threading.Event()
    logged = []

    def hang(_alert):
        release.wait(30)

    worker = SinkWorker(hang, "high", queue_size=3, retries=0, log=logged.append)
    results = []
    offering = threading.Thread(
        target=lambda: results.extend(worker.offer(alert()) for _index in range(10)))
    offering.start()
    offering.join(10)  # the sink hangs until released: an offer that waited for it never returns
    assert not offering.is_alive() and not release.is_set()
    # one in the hanging delivery (maybe), three queued, the rest dropped
    assert results[:3] == [True, True, True] and results[-1] is False
    assert worker.counts["dropped"] >= 6 and sum(results) + worker.counts["dropped"] == 10
    assert any("queue full" in line for line in logged)
    release.set()
    worker.close(5)
    assert worker.counts["delivered"] == sum(results)


def test_levels_below_the_sinks_minimum_are_not_queued():
    delivered = []
    worker = SinkWorker(delivered.append, "critical", retries=0, log=lambda _line: None)
    assert worker.offer(alert("high")) is False
    assert worker.offer(alert("critical")) is True
    worker.close(5)
    assert [item["level"] for item in delivered] == ["critical"]


def test_failures_are_retried_then_logged():
    attempts = []
    logged = []

    def flaky(item):
        attempts.append(item)
        if len(attempts) < 3:
            raise DeliveryError("not yet")

    worker = SinkWorker(flaky, "high", retries=2, retry_delay=0.01, log=logged.append)
    worker.offer(alert())
    wait_until(lambda: worker.counts["delivered"] == 1)
    assert len(attempts) == 3 and worker.counts["retried"] == 2 and not logged

    def dead(_item):
        raise DeliveryError("connection refused")

    worker2 = SinkWorker(dead, "high", retries=1, retry_delay=0.01, log=logged.append)
    worker2.offer(alert())
    wait_until(lambda: worker2.counts["failed"] == 1)
    assert "delivery failed after 2 attempts (connection refused)" in logged[-1]
    worker.close(1)
    worker2.close(1)


def test_sms_command_argv_is_filled_per_argument_without_a_shell():
    sink = SmsCommandSink(["/usr/local/bin/send-sms", "--to", "+100", "--text={text}",
                           "{host}", "{level}"], max_text=40)
    hostile = alert(argv=("rm", "-rf", "/var/log/x; touch /tmp/pwned $(id) {host}"))
    argv = sink.command(hostile)
    assert argv[:3] == ["/usr/local/bin/send-sms", "--to", "+100"]
    assert argv[3] == "--text=" + hostile["text"][:37] + "..."
    assert argv[4:] == ["web01", "critical"]
    assert len(argv) == 6


def test_log_content_never_becomes_an_option_of_the_sms_command(tmp_path):
    """A real program parsing its options (argparse): a sender naming itself ``--help`` or
    ``--to=...`` has its name given as the text it is, never as an option."""
    program = tmp_path / "send-sms"
    program.write_text(
        "#!%s\nimport argparse, json, sys\nparser = argparse.ArgumentParser()\n"
        "parser.add_argument('--to', default='+100')\nparser.add_argument('host')\n"
        "parser.add_argument('text')\nparser.add_argument('--out')\n"
        "arguments = parser.parse_args()\n"
        "open(arguments.out, 'w').write(json.dumps(vars(arguments)))\n" % sys.executable)
    program.chmod(0o755)
    sent = tmp_path / "sent.json"
    sink = SmsCommandSink([str(program), "--out", str(sent), "{host}", "{user}"])
    for host, user, given in (("--help", "--to=+666", (" --help", " --to=+666")),
                              ("-h", "root", (" -h", "root")), ("web01", "-", ("web01", " -"))):
        hostile = alert()
        hostile["host"], hostile["event"]["user"] = host, user
        sink(hostile)
        assert json.loads(sent.read_text()) == {"to": "+100", "host": given[0], "text": given[1],
                                                "out": str(sent)}
    # an option the template itself writes stays one
    argv = SmsCommandSink(["/bin/echo", "--text={host}", "-{level}"]).command(alert())
    assert argv == ["/bin/echo", "--text=web01", "-critical"]


@pytest.mark.parametrize("url, shown", [
    ("https://user:pw@hooks.example.org:8443/x/y?token=secret", "https://hooks.example.org:8443/x/y"),
    ("http://127.0.0.1/hook", "http://127.0.0.1/hook"),
])
def test_urls_in_logs_carry_no_credentials(url, shown):
    assert _safe_url(url) == shown


@pytest.mark.parametrize("url, expected", [
    ("http://[::1]/hook", (False, "::1", 80, "/hook")),
    ("https://[2001:db8::abcd]/h?k=v", (True, "2001:db8::abcd", 443, "/h?k=v")),
    ("https://[2001:db8::1]:8443", (True, "2001:db8::1", 8443, "/")),
    ("http://Hooks.Example.org:8080/a/b", (False, "hooks.example.org", 8080, "/a/b")),
])
def test_an_endpoint_is_its_host_and_port_also_for_an_ipv6_address(url, expected):
    # without the port, http.client would take an IPv6 address's last group for one
    assert endpoint(url) == expected


class _Gateway(http.server.BaseHTTPRequestHandler):
    """A local SMS gateway: keeps each form it is posted."""

    def do_POST(self):  # noqa: N802 (http.server's name)
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if self.path.startswith("/moved/"):
            self.server.forms.append((self.headers["Content-Type"], json.loads(body)))
            self.send_response(int(self.path.rsplit("/", 1)[1]))
            self.send_header("Location", "/send")
            self.end_headers()
            return
        self.server.forms.append((self.headers["Content-Type"],
                                  urllib.parse.parse_qs(body.decode("ascii"), strict_parsing=True)))
        self.send_response(500 if self.path == "/down" else 200)
        self.end_headers()

    def do_GET(self):  # noqa: N802 (http.server's name)
        self.server.forms.append(("GET", self.path))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *_args):
        pass


@pytest.fixture
def gateway():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Gateway)
    server.forms = []
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


def test_sms_gateway_posts_the_form_with_hostile_text_as_one_inert_value(gateway):
    url = "http://127.0.0.1:%d/send" % gateway.server_port
    sink = SmsGatewaySink(url, {"to": "+10000", "message": "{text}", "from": "{host}"},
                          max_text=60)
    hostile = alert(argv=("sh", "-c", "x=1&to=+666; $(id) \x1b[31m<b>"))
    sink(hostile)
    ((content_type, form),) = gateway.forms
    assert content_type == "application/x-www-form-urlencoded"
    assert form == {"to": ["+10000"], "message": [hostile["text"][:57] + "..."],
                    "from": ["web01"]}
    assert "\x1b" not in form["message"][0]
    with pytest.raises(DeliveryError, match="answered HTTP 500"):
        SmsGatewaySink(url.replace("/send", "/down"), {"m": "{text}"})(hostile)


@pytest.mark.parametrize("code", [301, 302, 303, 307, 308])
def test_a_redirect_fails_the_delivery_and_is_not_followed(gateway, code):
    """Followed, a 301-303 would become a GET without the alert, answered 200: delivered in
    name only.  The redirect fails the delivery (retried, counted, logged) instead."""
    url = "http://127.0.0.1:%d/moved/%d" % (gateway.server_port, code)
    with pytest.raises(DeliveryError, match="answered HTTP %d .a redirect" % code):
        WebhookSink(url, secret="s")(alert())
    assert [form[0] for form in gateway.forms] == ["application/json"]


# ---------------------------------------------------------------- a whole delivery's deadline

def _certificate(tmp_path):
    if shutil.which("openssl") is None:
        pytest.skip("openssl (the command) is not installed: no certificate for a TLS endpoint")
    cert, key = tmp_path / "hook.crt", tmp_path / "hook.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    return cert, key


class _Endpoint(object):
    """A local endpoint on 127.0.0.1 that reads a request and then answers 200 at once, or
    a byte every 0.2 s (``trickle``: "head" from the status line on, "body" after the head);
    over TLS when given a certificate."""

    def __init__(self, trickle, certificate=None):
        self.trickle = trickle
        self.requests = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._tls = None
        if certificate is not None:
            self._tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self._tls.load_cert_chain(*map(str, certificate))
        self.port = self._listener.getsockname()[1]
        self._stop = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while not self._stop.is_set():
            try:
                client, _address = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._answer, args=(client,), daemon=True).start()

    def _answer(self, client):
        try:
            if self._tls is not None:
                client = self._tls.wrap_socket(client, server_side=True)
            request = b""
            while b"\r\n\r\n" not in request:
                request += client.recv(4096)
            head, body = request.split(b"\r\n\r\n", 1)
            length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
            while len(body) < length:
                body += client.recv(4096)
            self.requests.append(body)
            if not self.trickle:
                client.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                return
            answer = b"HTTP/1.1 200 OK\r\nContent-Length: 150\r\n\r\n" + b"." * 150
            if self.trickle == "body":
                client.sendall(answer[:answer.index(b"\r\n\r\n") + 4])
                answer = answer[answer.index(b"\r\n\r\n") + 4:]
            for byte in answer:
                if self._stop.wait(0.2):
                    return
                client.sendall(bytes((byte,)))
        except (OSError, ssl.SSLError, IndexError, ValueError):
            pass
        finally:
            client.close()

    def close(self):
        self._stop.set()
        self._listener.close()


@pytest.mark.parametrize("tls", [False, True], ids=["http", "https"])
def test_an_endpoint_that_trickles_its_answer_is_cut_off_at_the_timeout(tmp_path, tls):
    """The timeout is for the whole delivery, not for each read: an answer of one byte every
    0.2 s would otherwise hold the sink for 40 s.  Once its status came whole, the endpoint
    has taken the alert: cut off in the body, it counts as delivered (not sent again)."""
    certificate = _certificate(tmp_path) if tls else None
    for trickle in ("head", "body"):
        endpoint = _Endpoint(trickle=trickle, certificate=certificate)
        url = "%s://127.0.0.1:%d/hook" % ("https" if tls else "http", endpoint.port)
        sink = WebhookSink(url, timeout=1, ca_file=str(certificate[0]) if tls else None)
        started = time.monotonic()
        try:
            if trickle == "head":
                with pytest.raises(DeliveryError, match="^%s did not answer within 1 s$" % url):
                    sink(alert())
            else:
                sink(alert())
        finally:
            endpoint.close()
        assert time.monotonic() - started < 10, trickle
        assert len(endpoint.requests) == 1
        assert json.loads(endpoint.requests[0])["level"] == "critical"


def test_a_tls_endpoint_is_delivered_to_when_its_certificate_is_trusted(tmp_path):
    certificate = _certificate(tmp_path)
    endpoint = _Endpoint(trickle=False, certificate=certificate)
    url = "https://127.0.0.1:%d/hook?key=secret" % endpoint.port
    try:
        WebhookSink(url, secret="s", ca_file=str(certificate[0]))(alert())
        with pytest.raises(DeliveryError, match="^https://127.0.0.1:%d/hook: .*CERTIFICATE_VERIFY"
                           % endpoint.port) as raised:
            WebhookSink(url, timeout=5)(alert())
    finally:
        endpoint.close()
    assert "secret" not in str(raised.value)
    assert [json.loads(body)["text"] for body in endpoint.requests] == [alert()["text"]]
