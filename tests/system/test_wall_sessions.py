"""The wall screen's sessions in a real browser: Debian's chromium, headless, clicked through.

The state is fed the events of a real login on the test guest (tests/support/login_sessions.py:
sudo, su, a refused read, a watched file written, a web server's shell, and a command line
written to fool a screen), read from auditd's files and classified as the alert processor
does.  At 1366x768 and at 1920x1080: the panel of sessions, the page of one session reached
by a click on one of its events, the command text the widest column with at least 40
characters of it readable; an acknowledgment that survives a reload, recorded with who, when
and from where; the hostile command line shown as text.  Screenshots go to
.cache/screenshots/ (their paths are printed).
"""

from __future__ import annotations

import json
import struct

import pytest

from ansible_collections.whotouched.server_audit.plugins.module_utils._events.report import (
    classified_events,
    log_files,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._events.risk import (
    load_risk_rules,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._processor.wall_screen import (
    WallState,
    serve_wall,
)
from tests.support.browser import CHROMIUM, MISSING, Browser
from tests.support.collection_path import ROOT
from tests.support.login_sessions import CRON_FILE, HOSTILE_ARGUMENTS, USER

pytestmark = [pytest.mark.needs_root, pytest.mark.skipif(CHROMIUM is None, reason=MISSING)]

SIZES = ((1366, 768), (1920, 1080))
SCREENSHOTS = ROOT / ".cache" / "screenshots"
TOKEN = "wall-T0ken_for.sessions"
SERVICE_USER = "www-data"  # the web server's shell runs as
OPERATOR = "Erin <on call>"

# The width a cell gives its text, in characters of its own font, and the widest other cell
# of its row.
MEASURE = """(function (selector) {
  var cell = document.querySelector(selector);
  var probe = document.createElement('span');
  probe.style.font = getComputedStyle(cell).font;
  probe.style.whiteSpace = 'pre';
  probe.textContent = 'x'.repeat(40);
  document.body.appendChild(probe);
  var style = getComputedStyle(cell);
  var room = cell.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
  var forty = probe.getBoundingClientRect().width;
  probe.remove();
  var others = Array.prototype.filter.call(cell.parentNode.children, function (other) {
    return other !== cell; }).map(function (other) { return other.clientWidth; });
  return {chars: 40 * room / forty, width: cell.clientWidth, widest_other: Math.max.apply(null, others)};
})(%s)"""


@pytest.fixture(scope="module")
def wall(recorded_sessions):
    acknowledged = []
    state = WallState(max_events=500, on_acknowledge=acknowledged.append)
    # auditd's files also hold what other tests and the guest's own services did (with the
    # roles applied by an earlier test, all of it is audited): only the sessions typed here
    for event in classified_events(log_files(str(recorded_sessions.logs)), load_risk_rules(),
                                   since=recorded_sessions.started):
        if (event.get("epoch") or 0) >= recorded_sessions.started and typed_here(event):
            state.add(event)
    server = serve_wall(state, address="127.0.0.1", port=0, token=TOKEN)
    browser = Browser()
    try:
        yield server, state, browser, acknowledged
    finally:
        browser.close()
        server.shutdown()


def typed_here(event):
    """Whether ``event`` belongs to the login or the web server's shell typed on the guest."""
    return USER in (event.get("login_user"), event.get("account")) or \
        SERVICE_USER in (event.get("user"), event.get("login_user"))


def session_of(state, kind, person):
    found = [row for row in state.snapshot()["sessions"] if row["kind"] == kind
             and person in (row["login_user"], *row["users"])]
    assert found, state.snapshot()["sessions"]
    return max(found, key=lambda row: row["commands"])


def overview(browser, server):
    browser.open(server.url + "?token=" + TOKEN)
    browser.wait_for("document.body.getAttribute('data-loaded') === 'overview'")


def screenshot(browser, name, width, height):
    path = SCREENSHOTS / ("%s-%dx%d.png" % (name, width, height))
    data = browser.screenshot(path)
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and struct.unpack(">II", data[16:24]) == (width, height)
    print("wall screen screenshot: %s" % path)


def readable(browser, selector):
    measured = browser.evaluate(MEASURE % json.dumps(selector))
    assert measured["chars"] >= 40, (selector, measured)
    assert measured["width"] > measured["widest_other"], (selector, measured)
    return measured


@pytest.mark.parametrize("width, height", SIZES)
def test_the_panel_and_a_sessions_page_reached_by_a_click(wall, width, height):
    server, state, browser, _acknowledged = wall
    login = session_of(state, "login", USER)
    browser.resize(width, height)
    overview(browser, server)
    # The panel: the login, where it came from, its highest level.
    row = "#sessions tr[data-session='%s']" % login["id"]
    assert browser.evaluate("document.querySelector(%s + ' td.level').textContent" % json.dumps(row)) == "high"
    assert browser.evaluate("document.querySelector(%s + ' td.from').textContent" % json.dumps(row)) == (
        "%s on %s" % (login["remote_address"], login["terminal"]))
    assert login["remote_address"] == "10.0.2.2" and not login["open"]
    readable(browser, "#events tr:first-child td.what")
    screenshot(browser, "wall-sessions", width, height)
    # A click on an open item of hers (the cron entry) opens the page of her session.
    item = next(item for item in state.snapshot()["open"] if item["rule"] == "cron-written")
    assert item["session"] == login["id"]
    browser.click("#open .item[data-item='%s'] .what" % item["id"])
    browser.wait_for("document.body.getAttribute('data-loaded') === 'session'")
    assert browser.evaluate("location.hash") == "#session=" + login["id"]
    shown = browser.evaluate("Array.prototype.map.call(document.querySelectorAll('#tree tr'),"
                             " function (tr) { return [Number(tr.querySelector('td.what')"
                             ".getAttribute('data-depth')), tr.querySelector('.badge')"
                             ".textContent, tr.querySelector('td.what').textContent]; })")
    page = state.session(login["id"])
    assert shown == [[row["depth"], row["level"], row["text"]] for row in page["rows"]]
    assert [depth_text for depth_text in shown if depth_text[2].startswith("tee ")] == [
        [2, "high", "tee %s -> %s (create, wt-cron, high)" % (CRON_FILE, CRON_FILE)]]
    assert browser.evaluate("document.getElementById('session-facts').textContent").startswith(
        "from 10.0.2.2 via sshd on pts/")
    # the deepest line: its indentation takes from its room
    readable(browser, "#tree td.what[data-depth='5']")
    # The command line written to fool a screen is text: markup inert, escapes visible.
    echo = [text for _depth, _level, text in shown if text.startswith("/bin/echo ")]
    assert echo == ["/bin/echo %s %s \\x1b[31mred invoice\\u202egpj.exe" % HOSTILE_ARGUMENTS[:2]]
    assert browser.evaluate("document.getElementById('injected') === null"
                            " && document.querySelectorAll('script').length === 1"
                            " && document.querySelectorAll('img').length === 0")
    assert browser.evaluate("document.title") == "Wall screen: session"
    screenshot(browser, "wall-session", width, height)


def test_an_event_row_opens_its_session(wall):
    server, state, browser, _acknowledged = wall
    service = session_of(state, "processes", "www-data")
    browser.resize(*SIZES[0])
    overview(browser, server)
    browser.click("#events tr[data-session='%s'] td.what" % service["id"])
    browser.wait_for("document.body.getAttribute('data-loaded') === 'session'")
    texts = browser.evaluate("Array.prototype.map.call(document.querySelectorAll('#tree td.what'),"
                             " function (cell) { return cell.textContent; })")
    assert texts[:2] == ["/usr/bin/python3 /usr/local/lib/wt-webshell.py", "sh -c id; uname -a"]
    browser.click("#back")
    browser.wait_for("document.body.getAttribute('data-loaded') === 'overview'")


def test_an_acknowledgment_is_recorded_and_survives_a_reload(wall):
    server, state, browser, acknowledged = wall
    item = next(item for item in state.snapshot()["open"] if item["rule"] == "cron-written")
    browser.resize(*SIZES[1])
    overview(browser, server)
    card = "#open .item[data-item='%s']" % item["id"]
    # Without a name it asks for one, and nothing is acknowledged.
    browser.evaluate("window.localStorage.clear(); document.getElementById('ack-name').value = ''")
    browser.click(card + " .ack-button")
    assert browser.evaluate("document.getElementById('status').textContent") == \
        "type your name to acknowledge"
    assert acknowledged == []
    browser.type_text("#ack-name", OPERATOR)
    browser.click(card + " .ack-button")
    browser.wait_for("document.querySelector(%s + '.acked') !== null" % json.dumps(card))
    browser.reload()
    browser.wait_for("document.body.getAttribute('data-loaded') === 'overview'")
    text = browser.evaluate("document.querySelector(%s + ' .ack').textContent" % json.dumps(card))
    assert text.startswith("acknowledged by %s at " % OPERATOR)
    assert browser.evaluate("document.getElementById('ack-name').value") == OPERATOR
    # Recorded: who, when, from where, and the item acknowledged.
    assert [(found["id"], found["ack"]["by"], found["ack"]["from"]) for found in acknowledged] == [
        (item["id"], OPERATOR, "127.0.0.1")]
    after = next(found for found in state.snapshot()["open"] if found["id"] == item["id"])
    assert after["ack"] == acknowledged[0]["ack"]
