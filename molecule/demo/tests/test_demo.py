"""The demo as a user sees it: the session script run on both hosts, then the report the
audit_report module gives ad hoc on the log server, judged event by event."""

import json
import os
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import pytest

from report import ROOT, SCENARIO, event_text, run_report, summary, wait_for_report

LEVELS = ["info", "low", "medium", "high", "critical"]
# How long the last command of the sessions may take to reach the log server's file.
DELIVERY_BOUND = 60


def program(event):
    """The program name of an execution (its argv[0]); empty for other events."""
    return (event.get("argv") or [""])[0]


def at_least(event, level):
    return LEVELS.index(event["level"]) >= LEVELS.index(level)


@pytest.fixture(scope="module")
def session():
    """Run session.yml as `make demo` does, with a tag of this run; the events it left."""
    tag = uuid.uuid4().hex[:8]
    started = time.time()
    done = subprocess.run(
        [str(Path(sys.executable).with_name("ansible-playbook")), "-i", str(SCENARIO / "inventory.yml"),
         str(SCENARIO / "session.yml"), "-e", "demo_session_tag=" + tag],
        cwd=ROOT, capture_output=True, text=True, check=False,
        env=dict(os.environ, ANSIBLE_NOCOLOR="1"))
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    # the kernel's clock and ours are the same machine's; a second of slack for rounding
    report = wait_for_report("since=%d" % (started - 1), "update.sh?" + tag, DELIVERY_BOUND)
    print("\n".join(report["table"]))
    print(summary(report))
    return {"tag": tag, "transcript": done.stdout, "events": report["events"],
            "counts": report["counts"], "source": report["source"], "started": started}


def events_of(session, login_user):
    return [event for event in session["events"] if event.get("login_user") == login_user]


def one(events, description, predicate):
    found = [event for event in events if predicate(event)]
    assert found, "no event of %s in the report" % description
    return found[0]


def test_every_event_is_demo_webs_from_its_real_address(session, logs):
    address = logs.run_expect([0], "getent ahostsv4 demo-web").stdout.split()[0]
    assert session["events"], "the report of the sessions is empty"
    assert {(event["host"], event["address"]) for event in session["events"]} == {("demo-web", address)}


def test_the_admin_session_is_reported_and_raises_no_alarm(session):
    alice = events_of(session, "alice")
    one(alice, "alice's sudo cat of dpkg.log as root",
        lambda e: e["kind"] == "exec" and e.get("argv") == ["cat", "/var/log/dpkg.log"] and e["user"] == "root")
    one(alice, "alice's edit of /etc/motd with sudo",
        lambda e: e["kind"] == "exec" and e.get("argv") == ["tee", "-a", "/etc/motd"] and e["user"] == "root")
    alarms = [event_text(event) for event in alice if at_least(event, "high")]
    assert alarms == []


def test_the_suspicious_session_is_reported_at_high_and_critical(session):
    tag = session["tag"]
    mallory = events_of(session, "mallory")
    one(mallory, "cat /etc/shadow run as root through sudo",
        lambda e: e["kind"] == "exec" and e.get("argv") == ["cat", "/etc/shadow"] and e["user"] == "root")
    expected = {
        # rule id: what mallory did
        "privileged-group-granted": lambda e: program(e) == "usermod" and "support-" + tag in e["argv"],
        "download-piped-to-shell": lambda e: "update.sh?" + tag in event_text(e),
        "executed-from-temp": lambda e: e.get("exe") == "/var/tmp/.cache-update",
        "history-removed": lambda e: program(e) == "rm",
        "history-disabled": lambda e: "history -c" in event_text(e),
    }
    for rule, predicate in expected.items():
        event = one(mallory, rule, lambda e, rule=rule, predicate=predicate: rule in e.get("rules", []) and predicate(e))
        assert at_least(event, "high"), (rule, event["level"])
    assert one(mallory, "download and execute", expected["download-piped-to-shell"])["level"] == "critical"
    one(mallory, "the account created", lambda e: "account-changed" in e.get("rules", [])
        and program(e) == "useradd" and "support-" + tag in e["argv"])
    # The write into /etc/cron.d/ arrives by its watch's key: the client's default noise
    # filters (the seed's list) drop every PATH record, so the log server knows no path;
    # cron-written matches the key where the path is missing.
    cron = one(mallory, "the cron entry written", lambda e: e.get("key") == "crontab"
               and e.get("argv") == ["tee", "/etc/cron.d/update-" + tag])
    assert cron["user"] == "root" and cron["path"] is None
    assert (cron["level"], cron["rules"]) == ("high", ["cron-written"])
    # A service unit dropped for persistence arrives the same way, by the unit watch's key.
    unit = one(mallory, "the service unit written", lambda e: e.get("key") == "systemd-unit"
               and e.get("argv") == ["tee", "/etc/systemd/system/update-%s.service" % tag])
    assert unit["user"] == "root" and unit["path"] is None
    assert (unit["level"], unit["rules"]) == ("medium", ["service-unit-written"])
    # useradd's writes of the account files arrive the same way, by their watches' keys
    account_files = {e["key"] for e in mallory if "identity-files-written" in e.get("rules", [])
                     and program(e) == "useradd"}
    assert account_files == {"passwd", "shadow", "group", "gshadow"}


def test_no_fragment_of_a_filtered_command_is_in_the_report(session):
    # Each command of session.sh runs `hostname` for its prompt: the noise filters drop its
    # SYSCALL, EXECVE and PROCTITLE records, and what is left (its CWD record) is counted
    # apart, not shown as an event without a user: by the stored files' reader, and never
    # kept by the alert processor in the event store the report asked.
    assert session["source"] == "store"
    files = run_report("since=%d source=files" % (session["started"] - 1))
    assert files["counts"]["fragments"] > 0
    for events in (session["events"], files["events"]):
        nameless = [(event["kind"], event["record_types"]) for event in events
                    if not event.get("login_user")]
        assert nameless == []


def test_the_unaudited_host_is_configured_and_says_why_it_is_absent(session, db):
    assert "kernel refuses audit requests" in session["transcript"]
    assert db.file("/etc/audit/rules.d/50-whotouched.rules").exists
    assert db.run("auditctl -s").rc != 0
    assert not db.process.filter(comm="auditd")
    assert db.service("rsyslog").is_running
    assert "demo-db" not in {event["host"] for event in session["events"]}


def test_the_audited_host_runs_the_chain(web):
    status = web.run_expect([0], "auditctl -s").stdout
    assert "enabled 1" in status.splitlines() and "pid 0" not in status.splitlines()


def test_the_wall_screen_shows_the_download_as_an_open_critical_item(session):
    # The processor serves the page inside demo-logs; Docker publishes it on this machine's
    # loopback, where `make demo` tells people to open it.
    published = subprocess.run(["docker", "port", "demo-logs", "8088/tcp"], capture_output=True,
                               text=True, check=False).stdout.split()
    assert published and published[0].startswith("127.0.0.1:"), published
    base = "http://" + published[0]
    with urllib.request.urlopen(base + "/", timeout=10) as page:
        assert page.status == 200 and page.headers.get_content_type() == "text/html"

    def download_item():
        with urllib.request.urlopen(base + "/api/state", timeout=10) as answer:
            state = json.load(answer)
        return next((item for item in state["open"]
                     if "update.sh?" + session["tag"] in item["what"]), None)

    deadline = time.monotonic() + DELIVERY_BOUND
    item = download_item()
    while item is None and time.monotonic() < deadline:
        time.sleep(1)
        item = download_item()
    assert item, "the wall screen shows no open item of the download"
    assert (item["level"], item["rule"], item["host"], item["login_user"]) == (
        "critical", "download-piped-to-shell", "demo-web", "mallory")
