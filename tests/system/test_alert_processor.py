"""The alert processor under the real rsyslogd, with real webhook, SMTP and SMS receivers.

A private rsyslogd (its own configuration, work directory and pid file; nothing installed
or started system-wide) takes syslog over TCP on a loopback port and, like the
rsyslog_server role, stores it in ``runcmdformat`` and hands it to the processor through
``omprog`` with confirmed messages and a queue of its own.  The processor runs from a tree
laid out as the role lays it out (only the files the role copies), with the system's
``/usr/bin/python3``.  The receivers live in this process: an HTTP webhook checking the HMAC
signature, one that never answers, an SMTP server requiring STARTTLS and a login (aiosmtpd,
with a throwaway certificate), and an SMS command writing its argv as JSON.
"""

from __future__ import annotations

import http.server
import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import ssl
import subprocess
import threading
import time
import urllib.error
import urllib.request
from email import message_from_bytes, policy

import pytest

from ansible_collections.whotouched.server_audit.plugins.module_utils._processor.alert_policy import (
    SIGNATURE_HEADER,
    signature_valid,
)
from tests.support.collection_path import ROOT
from tests.system.private_rsyslogd import RSYSLOGD, private_rsyslogd
from tests.system.test_audit_events_kernel import role_template, wait_for
from tests.support.audit_records import exec_records
from tests.support.event_store import stored_events as events_in
from tests.support.playbook import run_module
from tests.support.ports import free_port
from tests.support.role_vars import install_processor

PYTHON = "/usr/bin/python3"
SECRET = "s3cret-for-the-test"
WINDOW = 8
RATE_LIMIT = 4
WALL_TOKEN = "wall-token-for-the-test"

pytestmark = [
    pytest.mark.needs_root,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root (runs rsyslogd)"),
    pytest.mark.skipif(not os.path.exists(RSYSLOGD),
                       reason="rsyslogd is not installed (apt-get install rsyslog)"),
    pytest.mark.skipif(not os.path.exists(PYTHON), reason="no /usr/bin/python3"),
]

aiosmtpd_controller = pytest.importorskip(
    "aiosmtpd.controller", reason="aiosmtpd is not installed (pip install -r requirements-dev.txt)")
aiosmtpd_smtp = pytest.importorskip("aiosmtpd.smtp")

# The hostile command: fires a critical rule (logs wiped) and carries markup, ANSI escapes,
# command substitution and shell metacharacters; {marker} is replaced by a path whose
# appearance would prove an injection.
HOSTILE_TEMPLATE = ["rm", "-rf", "/var/log/<script>alert(1)</script>\x1b[31m\x1b[2J",
                    "$(touch {marker})", "`touch {marker}`; touch {marker} && echo {{text}}"]


class Webhook(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, hang=False):
        self.received = []
        self.hang = hang
        self.release = threading.Event()
        super().__init__(("127.0.0.1", 0), _WebhookHandler)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def url(self):
        return "http://127.0.0.1:%d/alert" % self.server_address[1]


class _WebhookHandler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802 (http.server's name)
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if self.server.hang:
            self.server.received.append((body, None))
            self.server.release.wait(120)
            return
        valid = signature_valid(SECRET, body, self.headers.get(SIGNATURE_HEADER))
        self.server.received.append((json.loads(body), valid))
        self.send_response(204 if valid else 401)
        self.end_headers()

    def log_message(self, *_args):
        pass


class MailBox(object):
    """aiosmtpd handler: what arrived, with whether the session was under TLS."""

    def __init__(self):
        self.messages = []

    async def handle_DATA(self, _server, session, envelope):  # noqa: N802 (aiosmtpd's name)
        self.messages.append((message_from_bytes(envelope.content, policy=policy.default),
                              session.ssl is not None, envelope.rcpt_tos))
        return "250 OK"


def _authenticator(_server, _session, _envelope, _mechanism, auth_data):
    ok = isinstance(auth_data, aiosmtpd_smtp.LoginPassword) and \
        auth_data.login == b"alerts" and auth_data.password == b"mail-pass"
    return aiosmtpd_smtp.AuthResult(success=ok)


def _certificate(work):
    cert, key = work / "smtp.crt", work / "smtp.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    return cert, key


def _role_text():
    return (ROOT / "roles" / "rsyslog_server" / "templates" / "server.conf.j2").read_text()


def processor_section(work, entry, config, queue_size):
    """The role's processor section for a private rsyslogd run as root in ``work``."""
    return role_processor_section(
        rsyslog_server_processor_python=PYTHON, rsyslog_server_processor_entry=entry,
        rsyslog_server_processor_config=config,
        rsyslog_server_processor_log=str(work / "processor.err"),
        rsyslog_server_processor_queue_size=queue_size, rsyslog_server_rsyslog_user="root")


def store_ruleset(name, template, stored, port):
    """A ruleset that stores what arrives on the loopback TCP ``port`` in ``stored`` with the
    role's ``template`` and hands it to the processor, as the role's server.conf does."""
    return ('ruleset(name="%s") {\n  action(type="omfile" file="%s" template="%s")\n  %s\n}\n'
            'input(type="imtcp" address="127.0.0.1" port="%d" ruleset="%s")\n'
            % (name, stored, template, role_processor_call(template), port, name))


def role_processor_section(**values):
    """The rsyslog_server role's processor section (omprog, its template and ruleset), with
    the role's variables it names replaced by ``values``."""
    # the load, and the section after the condition that leaves it to another file
    match = re.search(r'(module\(load="omprog"\)\n)\{% endif %\}\n(.*?\n\}\n)', _role_text(), re.S)
    assert match, "no processor section in server.conf.j2"

    def fill(variable):
        value = values[variable.group(1)]
        return json.dumps(str(value)) if variable.group(2) else str(value)

    section = re.sub(r"\{\{ (rsyslog_server_(?:processor_\w+|rsyslog_user))( \| to_json)? \}\}", fill,
                     match.group(1) + match.group(2))
    assert "{{" not in section and "{%" not in section, section
    return section


def role_processor_call(template):
    """The role's hand-over of an event to the processor, in ``template``."""
    match = re.search(r"\{% macro processor\(template\) -%\}\n(.*?)\n\{%- endmacro %\}",
                      _role_text(), re.S)
    assert match, "no processor macro in server.conf.j2"
    return match.group(1).replace("{{ template }}", template)


SMS_SCRIPT = """import json, os, sys, time
path = os.path.join(%r, "%%d-%%d.json" %% (time.time_ns(), os.getpid()))
with open(path + ".tmp", "w") as handle:
    json.dump(sys.argv[1:], handle)
os.rename(path + ".tmp", path)
"""


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    work = tmp_path_factory.mktemp("processor")
    (work / "spool").mkdir()
    (work / "sms").mkdir()
    sms_script = work / "send-sms"
    sms_script.write_text("#!%s\n%s" % (PYTHON, SMS_SCRIPT % str(work / "sms")))
    sms_script.chmod(0o755)
    webhook, hanging = Webhook(), Webhook(hang=True)
    cert, key = _certificate(work)
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(str(cert), str(key))
    mailbox = MailBox()
    smtp_port = free_port()
    smtp = aiosmtpd_controller.Controller(
        mailbox, hostname="127.0.0.1", port=smtp_port, tls_context=tls, require_starttls=True,
        auth_required=True, authenticator=_authenticator)
    smtp.start()
    store = work / "store" / "events.db"
    wall_port = free_port()
    config = {
        "store": {"path": str(store)},
        "journal": str(work / "store" / "processor.journal"),
        "wait_seconds": 2,
        "dedup_window": WINDOW,
        "rate_limit": RATE_LIMIT,
        "queue_size": 5,
        "retries": 1,
        "retry_delay": 0.5,
        "webhooks": [
            {"url": webhook.url, "secret": SECRET, "min_level": "high"},
            {"url": hanging.url, "min_level": "high", "timeout": 60},
        ],
        "smtp": {"host": "127.0.0.1", "port": smtp_port, "starttls": True,
                 "username": "alerts", "password": "mail-pass", "from": "audit@example.org",
                 "to": ["ops@example.org"], "min_level": "critical", "ca_file": str(cert)},
        "sms": {"command": [str(sms_script), "--to", "+10000", "--text", "{text}", "--host",
                            "{host}", "--level={level}"], "min_level": "high", "max_text": 1000},
        "wall": {"enabled": True, "address": "127.0.0.1", "port": wall_port,
                 "token": WALL_TOKEN},
    }
    config_path = work / "processor.json"
    config_path.write_text(json.dumps(config))
    config_path.chmod(0o600)
    entry = install_processor(work / "lib")
    port, windows_port = free_port(), free_port()
    stored = work / "stored.log"
    # The role's own processor section and hand-over (its j2 text, variables filled in).
    rsyslog_config = (
        'global(workDirectory="%s")\nmodule(load="imtcp")\n%s%s%s%s%s'
        % (work / "spool", role_template("runcmdformat"),
           processor_section(work, entry, config_path, 20000),
           store_ruleset("store", "runcmdformat", stored, port), role_template("evtsysformat"),
           store_ruleset("windows", "evtsysformat", work / "windows.log", windows_port)))
    try:
        with private_rsyslogd(work, rsyslog_config, port) as daemon, \
                socket.create_connection(("127.0.0.1", port)) as sender:
            yield {"daemon": daemon, "windows_port": windows_port, "work": work, "store": store,
                   "stored": stored, "sender": sender, "config": config_path, "settings": config,
                   "webhook": webhook, "hanging": hanging, "mailbox": mailbox,
                   "sms": work / "sms", "err": work / "processor.err", "wall_port": wall_port}
    finally:
        hanging.release.set()
        smtp.stop()
        webhook.shutdown()
        hanging.shutdown()


def send(pipeline, argv, serial, host="web01"):
    """One command's audit records, as audisp-syslog on ``host`` sends them."""
    lines = exec_records(list(argv), serial=serial, epoch="1764237600.%03d" % (serial % 1000))
    payload = "".join("<86>Nov 27 09:00:00 %s audisp-syslog: %s\n" % (host, line)
                      for line in lines)
    pipeline["sender"].sendall(payload.encode("utf-8"))


def stored_events(pipeline):
    return events_in(pipeline["store"])


def sms_calls(pipeline):
    return [json.loads(path.read_text()) for path in sorted(pipeline["sms"].glob("*.json"))]


def test_events_stored_alerts_deduplicated_and_rate_limited(pipeline):
    marker = pipeline["work"] / "injected"
    hostile = [part.format(marker=marker) for part in HOSTILE_TEMPLATE]
    send(pipeline, ["ls", "-l", "/tmp"], 1)
    for serial in (2, 3, 4):  # the same rule on the same host, three times
        send(pipeline, ["auditctl", "-D"], serial)
    send(pipeline, hostile, 5)
    send(pipeline, ["id"], 6)
    # five more hosts, all sending from this one address as through a relay: three quarters
    # of the rate limit (3 of 4) is one address's most, so one fits and four do not
    for index in range(5):
        send(pipeline, ["auditctl", "-D"], 10 + index, host="db%02d" % index)
    wait_for(lambda: len(stored_events(pipeline)) >= 11, 30, "11 events in the store")
    events = stored_events(pipeline)
    assert [(event["host"], event["argv"][0], event["level"]) for event in events] == (
        [("web01", "ls", "info")] + [("web01", "auditctl", "critical")] * 3
        + [("web01", "rm", "critical"), ("web01", "id", "info")]
        + [("db%02d" % index, "auditctl", "critical") for index in range(5)])
    assert events[4]["argv"] == hostile and events[4]["rules"] == ["logs-wiped"]
    assert all(event["address"] == "127.0.0.1" and event["login_user"] == "alice"
               for event in events)

    # at once: three alerts (this address's share of the rate limit), then after the window
    # the four held back (naming this address) and the repeat of web01's auditctl (2 more)
    webhook = pipeline["webhook"]
    wait_for(lambda: len(webhook.received) >= 5, WINDOW + 30, "five alerts at the webhook")
    time.sleep(1)
    alerts = [body for body, _valid in webhook.received]
    assert all(valid for _body, valid in webhook.received), "a signature did not verify"
    assert [(alert["kind"], alert["host"], alert["count"]) for alert in alerts] == [
        ("event", "web01", 1), ("event", "web01", 1), ("event", "db00", 1),
        ("suppressed", None, 4), ("repeat", "web01", 2)]
    assert alerts[0]["rules"] == ["audit-rules-deleted"]
    assert [sender["address"] for sender in alerts[3]["senders"]] == ["127.0.0.1"]
    assert "2 more times in %d s" % WINDOW in alerts[4]["text"]

    # the hostile command arrives as data: argv exact in the JSON, escaped in the text
    assert alerts[1]["event"]["argv"] == hostile
    assert "\x1b" not in alerts[1]["text"] and "\\x1b[31m" in alerts[1]["text"]

    # the mail: the same alerts (all critical), over STARTTLS, after a login
    mailbox = pipeline["mailbox"]
    wait_for(lambda: len(mailbox.messages) >= 5, 30, "five mails")
    assert all(under_tls and recipients == ["ops@example.org"]
               for _message, under_tls, recipients in mailbox.messages)
    subjects = [message["Subject"] for message, _tls, _to in mailbox.messages]
    assert [subject[:150] for subject in subjects] == [alert["text"][:150] for alert in alerts]
    assert all(len(subject) <= 200 and "\x1b" not in subject for subject in subjects)
    body = mailbox.messages[1][0].get_content().replace("\r\n", "\n")
    assert "\x1b" not in body and "  [3] $(touch %s)\n" % marker in body

    # the SMS command: an argument vector, the hostile text one inert argument
    wait_for(lambda: len(sms_calls(pipeline)) >= 5, 30, "five SMS commands")
    calls = sms_calls(pipeline)
    texts = [call[3] for call in calls]
    assert sorted(texts) == sorted(alert["text"] for alert in alerts)
    hostile_call = [call for call in calls if "rm -rf" in call[3]][0]
    assert hostile_call[:3] == ["--to", "+10000", "--text"]
    assert hostile_call[4:] == ["--host", "web01", "--level=critical"]
    assert "$(touch %s)" % marker in hostile_call[3] and "{text}" in hostile_call[3]
    assert not marker.exists(), "log content was executed"

    # the hanging webhook took one alert and never answered; the rest waited or were dropped
    assert pipeline["hanging"].received

    # the wall screen the processor serves has the same events
    url = "http://127.0.0.1:%d/api/state" % pipeline["wall_port"]
    with urllib.request.urlopen(url + "?token=" + WALL_TOKEN, timeout=10) as response:
        state = json.loads(response.read())
    assert state["seen"] == len(events)
    assert state["levels"]["critical"] == 9 and state["levels"]["info"] == 2
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(url, timeout=10)
    assert refused.value.code == 403


def test_a_hanging_webhook_does_not_stall_rsyslog(pipeline):
    """Hundreds of high-risk events while one webhook hangs: all reach rsyslog's file and the
    store within a bounded time; the hanging sink's overflow is dropped and logged."""
    before = len(stored_events(pipeline))
    started = time.monotonic()
    count = 300
    for index in range(count):
        send(pipeline, ["auditctl", "-e", "0"], 1000 + index, host="burst%03d" % index)
    wait_for(lambda: len(stored_events(pipeline)) >= before + count, 60,
             "%d more events in the store" % count)
    elapsed = time.monotonic() - started
    stored = pipeline["stored"].read_text(errors="replace")
    assert stored.count("burst") >= count * 5  # five records per command
    print("%d events through rsyslog and the processor in %.2f s with a hanging webhook"
          % (count, elapsed))
    log = pipeline["err"].read_text(errors="replace")
    assert "queue full, alert dropped" in log
    assert "\x1b" not in log


def _processor_pid(pipeline):
    listing = subprocess.run(["ps", "-ww", "-o", "pid=,args=", "--ppid",
                              str(pipeline["daemon"].pid)],
                             capture_output=True, text=True, check=False).stdout
    for line in listing.splitlines():
        pid, _space, args = line.strip().partition(" ")
        if "whotouched-alert-processor.py" in args:
            return int(pid)
    return None


def test_a_killed_processor_is_restarted_and_the_events_meanwhile_are_not_lost(pipeline):
    first = _processor_pid(pipeline)
    assert first is not None
    os.kill(first, signal.SIGKILL)
    before = len(stored_events(pipeline))
    count = 50
    for index in range(count):
        send(pipeline, ["id", "-u"], 5000 + index, host="after-kill")
    wait_for(lambda: len([event for event in stored_events(pipeline)
                          if event["host"] == "after-kill"]) >= count, 60,
             "the %d events sent after the kill in the store" % count)
    assert len(stored_events(pipeline)) >= before + count
    second = _processor_pid(pipeline)
    assert second is not None and second != first


def test_windows_events_go_through_the_same_processor(pipeline):
    """evtsys lines, stored in evtsysformat, are classified by event ID in the same store."""
    line = ("<29>Nov 27 10:00:00 WINHOST Eventlog: 1102: AUDIT_SUCCESS The audit log was "
            "cleared. Subject: Security ID: CORP\\admin Account Name: admin<b> Domain Name: "
            "CORP Logon ID: 0x3E7\n")
    with socket.create_connection(("127.0.0.1", pipeline["windows_port"])) as windows:
        windows.sendall(line.encode("utf-8"))
    wait_for(lambda: any(event["kind"] == "windows" for event in stored_events(pipeline)), 15,
             "the Windows event in the store")
    event = [event for event in stored_events(pipeline) if event["kind"] == "windows"][0]
    assert (event["event_id"], event["level"], event["rules"], event["account"]) == (
        1102, "critical", ["windows-audit-log-cleared"], "admin<b>")
    assert event["address"] == "127.0.0.1"


# ---------------------------------------------------------------- the event store

def _events_of(pipeline, prefix):
    return [event for event in stored_events(pipeline) if (event["host"] or "").startswith(prefix)]


def _kill_processor(pipeline):
    """SIGKILL the processor; its pid."""
    pid = _processor_pid(pipeline)
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: _processor_pid(pipeline) != pid, 10, "the processor to die")
    return pid


def test_the_report_asks_the_store_and_shows_hostile_command_lines_inert(pipeline):
    wait_for(lambda: any(event["argv"][:2] == ["rm", "-rf"] for event in stored_events(pipeline)),
             30, "the hostile command in the store")
    result = run_module("audit_report", {"store_config": str(pipeline["config"]),
                                         "search": "touch", "host": "web01"})
    assert not result.get("failed"), result
    assert result["source"] == "store"
    (event,) = result["events"]
    assert event["argv"][0] == "rm" and "\x1b[2J" in event["argv"][2]
    table = "\n".join(result["table"])
    assert "\x1b" not in table and "\\x1b[31m" in table and "$(touch" in table
    assert not (pipeline["work"] / "injected").exists()


def test_a_processor_killed_mid_batch_loses_nothing_and_stores_nothing_twice(pipeline):
    """A steady flow of commands; the processor is killed twice while batches are open."""
    count = 400
    sent = threading.Event()

    def flow():
        for index in range(count):
            send(pipeline, ["id", "-u", str(index)], 20000 + index, host="flow%03d" % (index % 7))
            time.sleep(0.01)
        sent.set()

    sender = threading.Thread(target=flow)
    sender.start()
    for share in (0.25, 0.6):
        wait_for(lambda: len(_events_of(pipeline, "flow")) >= count * share, 60,
                 "%d%% of the flow in the store" % (share * 100))
        _kill_processor(pipeline)
    sender.join(60)
    assert sent.is_set()
    wait_for(lambda: len(_events_of(pipeline, "flow")) >= count, 90, "the whole flow in the store")
    time.sleep(2)  # anything stored twice would come now
    events = _events_of(pipeline, "flow")
    assert sorted(event["serial"] for event in events) == list(range(20000, 20000 + count))
    assert all(event["complete"] for event in events)
    log = pipeline["err"].read_text(errors="replace")
    assert "ready:" in log


def test_a_locked_store_holds_the_input_in_rsyslogs_queue_until_it_is_free(pipeline):
    holder = sqlite3.connect(str(pipeline["store"]), isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        for index in range(20):
            send(pipeline, ["w"], 30000 + index, host="locked%02d" % index)
        # the raw files are written as always
        wait_for(lambda: pipeline["stored"].read_text(errors="replace").count("locked") >= 100, 20,
                 "the 20 commands in rsyslog's file")
        wait_for(lambda: "database is locked" in pipeline["err"].read_text(errors="replace"), 30,
                 "the processor to say the store is locked")
        assert _events_of(pipeline, "locked") == []
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    wait_for(lambda: len(_events_of(pipeline, "locked")) >= 20, 60, "the 20 events once free")
    time.sleep(1)
    assert sorted(event["serial"] for event in _events_of(pipeline, "locked")) == list(
        range(30000, 30020))
    assert "work again" in pipeline["err"].read_text(errors="replace")


def test_a_corrupt_store_is_named_left_alone_and_the_input_waits(pipeline):
    store = pipeline["store"]
    saved = pipeline["work"] / "saved-store"
    saved.mkdir()
    _kill_processor(pipeline)
    for name in os.listdir(store.parent):
        if name.startswith("events.db"):
            shutil.move(str(store.parent / name), str(saved / name))
    garbage = b"this is not a database " * 500
    store.write_bytes(garbage)
    for index in range(10):  # these start the processor again
        send(pipeline, ["hostname"], 40000 + index, host="corrupt%02d" % index)
    wait_for(lambda: "not a database" in pipeline["err"].read_text(errors="replace"), 60,
             "the processor to say the store is damaged")
    assert "move it away" in pipeline["err"].read_text(errors="replace")
    wait_for(lambda: pipeline["stored"].read_text(errors="replace").count("corrupt") >= 50, 20,
             "the 10 commands in rsyslog's file")
    assert store.read_bytes() == garbage
    store.unlink()
    for name in os.listdir(saved):
        shutil.move(str(saved / name), str(store.parent / name))
    wait_for(lambda: len(_events_of(pipeline, "corrupt")) >= 10, 60,
             "the 10 events once the store is back")
    assert sorted(event["serial"] for event in _events_of(pipeline, "corrupt")) == list(
        range(40000, 40010))


def test_retention_removes_exactly_what_arrived_before_the_limit(pipeline):
    """Last: it makes the store forget what the tests before stored."""
    limit = 8.0
    settings = dict(pipeline["settings"], store=dict(pipeline["settings"]["store"],
                                                     max_age_days=limit / 86400))
    pipeline["config"].write_text(json.dumps(settings))
    for index in range(5):
        send(pipeline, ["uptime"], 50000 + index, host="old%02d" % index)
    wait_for(lambda: len(_events_of(pipeline, "old")) >= 5, 30, "the old events in the store")
    time.sleep(limit + 1)
    # the processor started again reads the new limit and applies it at its first tick; the
    # new events, sent to it, are seconds old then, however slow its start
    _kill_processor(pipeline)
    restarted = time.time()
    for index in range(5):
        send(pipeline, ["uptime"], 50100 + index, host="new%02d" % index)
    wait_for(lambda: not _events_of(pipeline, "old"), 30, "the old events to be removed")
    wait_for(lambda: len(_events_of(pipeline, "new")) >= 5, 30, "the new events in the store")
    reader = sqlite3.connect("file:%s?mode=ro" % pipeline["store"], uri=True)
    try:
        arrivals = [row[0] for row in reader.execute("SELECT arrived FROM events")]
    finally:
        reader.close()
    assert min(arrivals) >= restarted - limit - 1
    assert sorted(event["host"] for event in stored_events(pipeline)) == [
        "new%02d" % index for index in range(5)]
