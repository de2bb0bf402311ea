"""The wall screen's state (bounds, window, counts, open high-risk items) and its HTTP server,
served for real on 127.0.0.1 and asked with urllib."""

from __future__ import annotations

import http.client
import json
import socket
import threading
import tracemalloc
import urllib.error
import urllib.request

import pytest

from ansible_collections.whotouched.server_audit.plugins.module_utils._events.assembler import (
    iter_events,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._events.risk import (
    LEVELS,
    classify,
    compile_risk_rules,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._events.risk_rules import (
    SHIPPED_RISK_RULES,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._processor.wall_screen import (
    OTHERS,
    WallError,
    WallListenError,
    WallState,
    event_row,
    render_page,
    serve_wall,
)
from tests.support.collection_path import ROOT
from tests.support.audit_records import (
    evtsys,
    exec_records,
    file_records,
    login_records,
    stored,
    user_record,
)

RULES = compile_risk_rules(SHIPPED_RISK_RULES)


class Clock(object):
    def __init__(self, start=1000000.0):
        self.value = start

    def __call__(self):
        return self.value


def event(host="web01", login="alice", user="root", level="info", rule=None, argv=("ls",)):
    return {"host": host, "login_user": login, "user": user, "level": level,
            "argv": list(argv), "kind": "exec", "time": "2023-11-14T22:13:20.123Z",
            "reasons": ["reason of %s" % rule] if rule else [], "rules": [rule] if rule else []}


def classified(lines):
    return [classify(found, RULES) for found in iter_events(lines)]


# ---------------------------------------------------------------- rows

@pytest.mark.parametrize("source, expected", [
    (stored(exec_records(["auditctl", "-D"])),
     {"host": "web01", "address": "192.0.2.10", "login_user": "alice", "user": "root",
      "what": "auditctl -D", "level": "critical", "rule": "audit-rules-deleted",
      "reason": "audit rules deleted or auditing switched off", "kind": "exec",
      "failed": False}),
    (stored(file_records("/etc/audit/auditd.conf")),
     {"what": "write /etc/audit/auditd.conf (/usr/bin/vim.basic)", "level": "high",
      "kind": "file"}),
    ([evtsys(4720, "A user account was created. Subject: Account Name: dave "
                   "New Account: Account Name: backdoor")],
     {"host": "DC01", "address": "192.0.2.20", "login_user": "dave", "user": "backdoor",
      "what": "event 4720 target=backdoor", "kind": "windows"}),
    (exec_records(["printf", "\x1b[2J\u202eevil"], log_format="RAW", auid=4294967295),
     {"host": "?", "address": None, "login_user": None, "user": "0",
      "what": "printf \\x1b[2J\\u202eevil", "level": "info", "reason": None, "rule": None}),
])
def test_event_row_from_real_records(source, expected):
    row = event_row(classified(source)[0])
    assert {name: row[name] for name in expected} == expected


def test_event_row_of_an_almost_empty_event_and_a_very_long_command():
    assert event_row({}) == {
        "time": None, "host": "?", "address": None, "login_user": None, "user": None,
        "what": "? ", "level": "info", "reason": None, "rule": None, "kind": None,
        "failed": False}
    row = event_row(event(argv=["x" * 5000]))
    assert len(row["what"]) == 600 and row["what"].endswith("\u2026")


# ---------------------------------------------------------------- state

def test_recent_events_are_bounded_and_newest_first():
    state = WallState(max_events=3, now=Clock())
    for number in range(5):
        state.add(event(argv=["cmd%d" % number]))
    snapshot = state.snapshot()
    assert [row["what"] for row in snapshot["events"]] == ["cmd4", "cmd3", "cmd2"]
    assert snapshot["seen"] == 5
    assert snapshot["levels"]["info"] == 5


def test_counts_per_host_user_and_level_over_the_window():
    clock = Clock()
    state = WallState(window_seconds=600, now=clock)
    state.add(event(host="web01", login="alice"))
    state.add(event(host="web01", login="unset", user="www-data", level="medium"))
    clock.value += 300
    state.add(event(host="db02", login="bob", level="high", rule="r1"))
    snapshot = state.snapshot()
    assert snapshot["hosts"] == [{"name": "web01", "count": 2}, {"name": "db02", "count": 1}]
    assert snapshot["users"] == [{"name": "alice", "count": 1}, {"name": "bob", "count": 1},
                                 {"name": "www-data", "count": 1}]
    assert snapshot["levels"] == {"info": 1, "low": 0, "medium": 1, "high": 1, "critical": 0}
    # The first two leave the window; the recent list keeps them.
    clock.value += 301
    snapshot = state.snapshot()
    assert snapshot["hosts"] == [{"name": "db02", "count": 1}]
    assert snapshot["levels"]["info"] == 0 and snapshot["levels"]["high"] == 1
    assert len(snapshot["events"]) == 3
    clock.value += 300
    assert state.snapshot()["hosts"] == [] and state.snapshot()["open"] == []


def test_open_high_risk_items_group_by_host_rule_and_person_and_expire():
    clock = Clock()
    state = WallState(window_seconds=600, max_open=3, now=clock)
    state.add(event(level="critical", rule="logs-wiped", argv=["rm", "/var/log/a"]))
    state.add(event(level="medium", rule="m"))
    clock.value += 10
    state.add(event(level="critical", rule="logs-wiped", argv=["rm", "/var/log/b"]))
    state.add(event(host="db02", level="high", rule="journal"))
    items = state.snapshot()["open"]
    assert [(item["host"], item["rule"], item["count"], item["what"]) for item in items] == [
        ("web01", "logs-wiped", 2, "rm /var/log/b"), ("db02", "journal", 1, "ls")]
    assert items[0]["first_seen"] == 1000000.0 and items[0]["last_seen"] == 1000010.0
    # Bounded: the least recently seen item goes first.
    for number in range(3):
        state.add(event(host="h%d" % number, level="high", rule="x"))
    assert [item["host"] for item in state.snapshot()["open"]] == ["h2", "h1", "h0"]
    clock.value += 601
    assert state.snapshot()["open"] == []


def test_an_open_item_is_a_senders_own_and_shows_its_address():
    state = WallState(window_seconds=600, now=Clock())
    for address, argv in (("192.0.2.10", ["auditctl", "-D"]), ("192.0.2.66", ["auditctl", "-D"]),
                          ("192.0.2.66", ["auditctl", "-D", "-k", "x"])):
        state.add(classified(stored(exec_records(argv), address=address))[0])
    items = state.snapshot()["open"]
    assert sorted((item["host"], item["address"], item["count"]) for item in items) == [
        ("web01", "192.0.2.10", 1), ("web01", "192.0.2.66", 2)]


def test_one_sender_cannot_push_another_hosts_item_out_or_off_the_first_cards():
    """50 critical items from one address, after db01's: db01's item stays held (the crowded
    sender's items go first) and among the first cards (one per sender before any second)."""
    clock = Clock()
    state = WallState(window_seconds=600, max_open=10, now=clock)
    victim = dict(event(host="db01", level="critical", rule="audit-rules-deleted"),
                  address="192.0.2.20")
    state.add(victim)
    for number in range(50):
        clock.value += 1
        state.add(dict(event(host="decoy%d" % number, level="critical", rule="r%d" % number),
                       address="192.0.2.66"))
    items = state.snapshot()["open"]
    assert len(items) == 10
    assert [item["host"] for item in items[:3]] == ["decoy49", "db01", "decoy48"]


def test_what_one_huge_event_makes_the_screen_hold_is_bounded():
    """Events of 1 MB command lines: the screen holds each cut to its bounds (the store keeps
    them whole), not megabytes per event."""
    state = WallState(window_seconds=600, now=Clock())
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for number in range(30):
        state.add(event(host="web%d" % number, argv=["sh", "-c", "x" * 1000000]))
    held = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    assert held < 5000000
    rows = state.snapshot()["events"]
    assert len(rows) == 30 and all(len(row["what"]) <= 600 for row in rows)


def test_distinct_names_per_time_slice_are_capped():
    state = WallState(max_keys=3, now=Clock())
    for number in range(10):
        state.add(event(host="spoofed-%d" % number))
    hosts = {row["name"]: row["count"] for row in state.snapshot()["hosts"]}
    assert hosts == {"spoofed-0": 1, "spoofed-1": 1, "spoofed-2": 1, OTHERS: 7}


def test_adding_from_many_threads_while_reading():
    state = WallState(max_events=50)
    errors = []

    def writer(index):
        try:
            for number in range(300):
                state.add(event(host="h%d" % index, level=LEVELS[number % 5], rule="r%d" % index))
        except Exception as exc:  # noqa: BLE001 (reported below)
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(index,)) for index in range(4)]
    for thread in threads:
        thread.start()
    while any(thread.is_alive() for thread in threads):
        json.dumps(state.snapshot())
    for thread in threads:
        thread.join()
    snapshot = state.snapshot()
    assert errors == []
    assert snapshot["seen"] == 1200 and len(snapshot["events"]) == 50
    assert sum(snapshot["levels"].values()) == 1200
    assert sorted((row["name"], row["count"]) for row in snapshot["hosts"]) == [
        ("h%d" % index, 300) for index in range(4)]


@pytest.mark.parametrize("options, message", [
    ({"max_events": 0}, "max_events must be a positive number"),
    ({"window_seconds": -1}, "window_seconds must be a positive number"),
    ({"max_open": "5"}, "max_open must be a positive number"),
    ({"max_keys": True}, "max_keys must be a positive number"),
    ({"now": 5}, "now must be a clock function"),
])
def test_bad_settings_are_named(options, message):
    with pytest.raises(WallError, match=message):
        WallState(**options)


# ---------------------------------------------------------------- sessions


def two_sessions():
    """alice's login from 203.0.113.7 (a sudo, a wiped log), and bob's command, as events."""
    lines = login_records(500, 10, ses=3)
    lines.append(user_record("USER_LOGIN", 500, 11, addr="203.0.113.7", terminal="/dev/pts/1",
                             exe="/usr/sbin/sshd", op="login"))
    lines += exec_records(["-bash"], serial=12, pid=600, ppid=500)
    lines += exec_records(["sudo", "rm", "-f", "/var/log/auth.log"], serial=13, pid=601, ppid=600)
    lines += exec_records(["rm", "-f", "/var/log/auth.log"], serial=14, pid=602, ppid=601)
    lines += exec_records(["uptime"], serial=15, pid=700, ppid=650, ses=4, auid=1001,
                          login_name="bob")
    return classified(stored(lines))


def test_sessions_are_shown_while_open_or_active_in_the_window():
    clock = Clock()
    state = WallState(window_seconds=600, now=clock)
    for found in two_sessions():
        state.add(found)
    panel = state.snapshot()["sessions"]
    assert [(row["login_user"], row["level"], row["remote_address"], row["terminal"],
             row["commands"], row["open"]) for row in panel] == [
        ("alice", "critical", "203.0.113.7", "pts/1", 3, True),
        ("bob", "info", None, "pts/0", 1, True)]
    rows = state.snapshot()["events"]
    assert {row["session"] for row in rows} == {panel[0]["id"], panel[1]["id"]}
    # alice logs out; after the window only the session still open is shown
    state.add(classified(stored([user_record("USER_END", 500, 16, exe="/usr/sbin/sshd",
                                             addr="203.0.113.7")]))[0])
    clock.value += 601
    assert [row["login_user"] for row in state.snapshot()["sessions"]] == ["bob"]


def test_a_sessions_page_is_its_tree_as_safe_text():
    state = WallState(now=Clock())
    events = two_sessions()
    events += classified(stored(exec_records(["printf", "<b>\x1b[2J\u202e"], serial=20, pid=603,
                                             ppid=600)))
    for found in events:
        state.add(found)
    alice = state.snapshot()["sessions"][0]
    page = state.session(alice["id"])
    assert page["title"] == "alice on web01 (192.0.2.10), session 3"
    assert page["facts"].startswith("from 203.0.113.7 via sshd on pts/1, ")
    assert [(row["depth"], row["level"], row["text"]) for row in page["rows"]] == [
        (0, "info", "-bash (as root)"),
        (1, "low", "sudo rm -f /var/log/auth.log"),
        (2, "critical", "rm -f /var/log/auth.log"),
        (1, "info", "printf <b>\\x1b[2J\\u202e")]
    assert page["rows_left_out"] == 0
    assert state.session("0" * 16) is None and state.session(None) is None


def test_an_acknowledgment_is_recorded_and_reopened_by_a_new_occurrence():
    recorded = []
    clock = Clock()
    state = WallState(now=clock, on_acknowledge=recorded.append)
    for found in two_sessions():
        state.add(found)
    item = state.snapshot()["open"][0]
    assert (item["rule"], item["ack"], item["session"]) == (
        "logs-wiped", None, state.snapshot()["sessions"][0]["id"])
    clock.value += 5
    found = state.acknowledge(item["id"], "  Erin \x1b[31m ", "127.0.0.1")
    assert found["ack"] == {"by": "Erin \\x1b[31m", "at": "1970-01-12T13:46:45.000Z",
                            "at_epoch": 1000005.0, "from": "127.0.0.1"}
    assert recorded == [found]
    assert state.snapshot()["open"][0]["ack"] == found["ack"]
    # it happens again: open once more, the earlier acknowledgment still said
    state.add(two_sessions()[4])
    again = state.snapshot()["open"][0]
    assert again["ack"] is None and again["previous_ack"] == found["ack"] and again["count"] == 2


@pytest.mark.parametrize("item, by, error", [
    ("nope", "Erin", KeyError),
    (None, "", WallError),
    (None, "   ", WallError),
    (None, 42, WallError),
])
def test_an_acknowledgment_needs_an_open_item_and_a_name(item, by, error):
    state = WallState(now=Clock())
    for found in two_sessions():
        state.add(found)
    item = item or state.snapshot()["open"][0]["id"]
    with pytest.raises(error):
        state.acknowledge(item, by)
    assert state.snapshot()["open"][0]["ack"] is None


def test_bad_events_are_named():
    state = WallState()
    with pytest.raises(WallError, match="an event must be a dict, got list"):
        state.add([])
    with pytest.raises(WallError, match="event level must be one of info, .*got 'severe'"):
        state.add(event(level="severe"))
    assert state.snapshot()["seen"] == 0


# ---------------------------------------------------------------- the server

@pytest.fixture(scope="module")
def served():
    state = WallState(now=Clock())
    for found in classified(stored(exec_records(["auditctl", "-D"])) + stored(
            exec_records(["echo", "<script>alert(1)</script>"], serial=43))):
        state.add(found)
    servers = {}

    def start(token=None):
        if token not in servers:
            servers[token] = serve_wall(state, address="127.0.0.1", port=0, token=token)
        return servers[token]

    yield start
    for server in servers.values():
        server.shutdown()


WALL_FILES = ROOT / "plugins" / "module_utils" / "_processor" / "wall"


def get(url, headers=None, method="GET", data=None):
    request = urllib.request.Request(url, headers=headers or {}, method=method, data=data)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


@pytest.mark.parametrize("path, content_type", [
    ("", "text/html; charset=utf-8"),
    ("index.html", "text/html; charset=utf-8"),
    ("wall.js", "text/javascript; charset=utf-8"),
    ("wall.css", "text/css; charset=utf-8"),
    ("api/state", "application/json"),
])
def test_every_answer_carries_the_security_headers(served, path, content_type):
    server = served()
    status, headers, body = get(server.url + path)
    assert status == 200 and body
    assert headers["Content-Type"] == content_type
    policy = headers["Content-Security-Policy"]
    for directive in ("default-src 'none'", "script-src 'self'", "style-src 'self'",
                      "connect-src 'self'", "img-src 'self'"):
        assert directive in policy
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Cache-Control"] == "no-store"


def test_the_state_as_json(served):
    status, _headers, body = get(served().url + "api/state")
    state = json.loads(body)
    assert status == 200
    assert sorted(state) == ["events", "generated", "generated_epoch", "hosts", "levels", "open",
                             "refresh_seconds", "seen", "sessions", "users", "window_seconds"]
    assert [row["what"] for row in state["events"]] == ["echo <script>alert(1)</script>",
                                                        "auditctl -D"]
    assert state["open"][0]["rule"] == "audit-rules-deleted"
    assert state["hosts"] == [{"name": "web01", "count": 2}]


def test_the_page_has_no_inline_script_or_style_and_no_outside_resource(served):
    _status, _headers, body = get(served().url)
    page = body.decode()
    assert "<script src=\"wall.js\" defer></script>" in page
    assert "<style" not in page and " style=" not in page and "http" not in page
    script = get(served().url + "wall.js")[2].decode()
    assert "innerHTML" not in script and "insertAdjacentHTML" not in script
    assert "eval(" not in script and "document.write" not in script


@pytest.mark.parametrize("path, headers, expected", [
    ("", {}, 403),
    ("?token=wrong", {}, 403),
    ("?token=s3cret", {}, 200),
    ("wall.js", {}, 403),
    ("wall.js?token=s3cret", {}, 200),
    ("wall.css?token=s3cret", {}, 200),
    ("api/state", {}, 403),
    ("api/state", {"X-Wall-Token": "s3cre"}, 403),
    ("api/state", {"X-Wall-Token": "s3cret"}, 200),
    ("api/state?token=s3cret", {}, 200),
    ("nothing-here?token=s3cret", {}, 404),
    ("nothing-here", {}, 403),
])
def test_the_token_guards_every_path(served, path, headers, expected):
    status, _headers, body = get(served(token="s3cret").url + path, headers)
    assert status == expected
    if expected == 403:
        assert b"web01" not in body and b"alert" not in body


@pytest.mark.parametrize("name", ["index.html", "wall.css", "wall.js"])
def test_the_page_is_served_from_its_files(served, name):
    _status, _headers, body = get(served().url + name)
    source = (WALL_FILES / name).read_bytes()
    assert b"{{query}}" not in body
    assert body == (source.replace(b"{{query}}", b"") if name == "index.html" else source)


def test_the_page_passes_the_token_on_to_its_script_and_style():
    page = render_page("a/b?c&d")
    assert 'href="wall.css?token=a%2Fb%3Fc%26d"' in page
    assert 'src="wall.js?token=a%2Fb%3Fc%26d"' in page


def post(url, body, headers=None):
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return get(url, dict({"Content-Type": "application/json"}, **(headers or {})), "POST", data)


def test_a_session_over_http(served):
    server = served()
    state = json.loads(get(server.url + "api/state")[2])
    status, _headers, body = get(server.url + "api/session?id=" + state["events"][0]["session"])
    assert status == 200 and json.loads(body)["rows"][0]["text"].startswith("auditctl -D")
    status, headers, body = get(server.url + "api/session?id=0123456789abcdef")
    assert status == 404 and "no such session" in json.loads(body)["error"]
    assert headers["Content-Security-Policy"].startswith("default-src 'none'")


def test_an_acknowledgment_over_http(served):
    server = served(token="s3cret")
    item = json.loads(get(server.url + "api/state?token=s3cret")[2])["open"][0]
    token = {"X-Wall-Token": "s3cret"}
    refused = [
        post(server.url + "api/ack", {"item": item["id"], "by": "Erin"}),
        post(server.url + "api/ack", {"item": item["id"], "by": "Erin"}, {"X-Wall-Token": "x"}),
        post(server.url + "api/ack", {"item": item["id"], "by": "Erin"},
             dict(token, **{"Content-Type": "text/plain"})),
        post(server.url + "api/ack", b"x" * 5000, token),
        post(server.url + "api/ack", b"{not json", token),
        post(server.url + "api/ack", ["item"], token),
        post(server.url + "api/ack", {"item": item["id"], "by": ""}, token),
        post(server.url + "api/ack", {"item": "0" * 16, "by": "Erin"}, token),
    ]
    assert [status for status, _headers, _body in refused] == [
        403, 403, 415, 413, 400, 400, 400, 404]
    assert [json.loads(body)["error"] for _status, _headers, body in refused[2:]] == [
        "the acknowledgment must be sent as application/json",
        "the acknowledgment must be a JSON object of at most 4096 bytes, with its "
        "Content-Length",
        'the acknowledgment must be a JSON object {"item": ID, "by": NAME}',
        'the acknowledgment must be a JSON object {"item": ID, "by": NAME}',
        "by must name who acknowledges, in at most 64 characters",
        "no open item of that id (it may have left the window)"]
    status, _headers, body = post(server.url + "api/ack", {"item": item["id"], "by": "Erin"}, token)
    assert status == 200 and json.loads(body)["item"]["ack"]["by"] == "Erin"
    state = json.loads(get(server.url + "api/state", token)[2])
    assert state["open"][-1]["ack"]["from"] == "127.0.0.1"
    assert post(server.url + "api/state", {"item": "x"}, token)[0] == 405


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH", "OPTIONS"])
def test_other_methods_are_refused(served, method):
    status, headers, body = get(served().url + "api/state", method=method)
    assert (status, body) == (405, b"method not allowed\n")
    assert headers["X-Content-Type-Options"] == "nosniff" and headers["Allow"] == "GET, HEAD"


def test_bad_requests_get_a_short_answer_and_no_traceback(served):
    server = served()
    connection = http.client.HTTPConnection("127.0.0.1", server.server_port, timeout=10)
    connection.putrequest("BREW", "/")
    connection.endheaders()
    response = connection.getresponse()
    assert (response.status, response.read()) == (405, b"method not allowed\n")
    connection.close()
    for path in ("/../../etc/passwd", "/%00", "//evil.example/", "/api/state/x", "/wall.js/"):
        connection = http.client.HTTPConnection("127.0.0.1", server.server_port, timeout=10)
        connection.request("GET", path)
        response = connection.getresponse()
        assert (response.status, response.read()) == (404, b"not found\n"), path
        connection.close()
    # Still serving.
    assert get(server.url + "api/state")[0] == 200


@pytest.mark.parametrize("host, expected", [
    ("127.0.0.1", 200),
    ("localhost:8787", 200),
    ("127.0.0.5:80", 200),
    ("[::1]:8787", 200),
    ("attacker.example", 403),
    ("attacker.example:8787", 403),
    ("127.0.0.1.attacker.example", 403),
    ("", 403),
])
def test_on_loopback_only_loopback_names_are_answered(served, host, expected):
    connection = http.client.HTTPConnection("127.0.0.1", served().server_port, timeout=10)
    connection.putrequest("GET", "/api/state", skip_host=True)
    connection.putheader("Host", host)
    connection.endheaders()
    response = connection.getresponse()
    body = response.read()
    connection.close()
    assert response.status == expected
    if expected == 403:
        assert b"web01" not in body


@pytest.fixture(scope="module")
def served_beyond_loopback():
    """The screen on every address of this machine, without a token (the network alone
    decides who reaches it)."""
    state = WallState(now=Clock())
    for found in classified(stored(exec_records(["auditctl", "-D"]))):
        state.add(found)
    server = serve_wall(state, address="0.0.0.0", port=0)
    yield server
    server.shutdown()


@pytest.mark.parametrize("host, expected", [
    ("127.0.0.1:%d", 200),
    ("192.0.2.7", 200),  # an address: no web page can name it for another
    ("[::1]", 200),
    (socket.gethostname() + ":%d", 200),
    (socket.getfqdn().upper(), 200),
    ("localhost", 200),
    ("attacker.example:%d", 403),  # a page that pointed its own name at this machine
    ("attacker.example", 403),
    ("", 403),
])
def test_beyond_loopback_without_a_token_a_name_of_another_is_refused(
        served_beyond_loopback, host, expected):
    port = served_beyond_loopback.server_port
    for path, method, body in (("/api/state", "GET", None),
                               ("/api/ack", "POST", b'{"item": "x", "by": "page"}')):
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        connection.putrequest(method, path, skip_host=True)
        connection.putheader("Host", host.replace("%d", str(port)))
        if body:
            connection.putheader("Content-Type", "application/json")
            connection.putheader("Content-Length", str(len(body)))
        connection.endheaders(body)
        response = connection.getresponse()
        answer = response.read()
        connection.close()
        if expected == 403:
            assert response.status == 403 and b"auditctl" not in answer, (host, path)
        else:
            assert response.status != 403, (host, path, answer)


def test_head_answers_headers_only(served):
    status, headers, body = get(served().url + "api/state", method="HEAD")
    assert status == 200 and body == b"" and int(headers["Content-Length"]) > 100


@pytest.mark.parametrize("options, message", [
    ({"port": 70000}, "port must be a number from 0 to 65535"),
    ({"port": "80"}, "port must be a number"),
    ({"address": ""}, "address must be a host name or an IP address"),
    ({"token": ""}, "token must be None or a non-empty string of printable ASCII"),
    ({"token": "two words"}, "token must be None or a non-empty string of printable ASCII"),
    ({"token": "line\n"}, "token must be None or a non-empty string of printable ASCII"),
    ({"state_max_age": -1}, "state_max_age must be a number of seconds from 0 to 3, got -1"),
    ({"state_max_age": 60}, "state_max_age must be a number of seconds from 0 to 3, got 60"),
    ({"state_max_age": True}, "state_max_age must be a number of seconds from 0 to 3"),
])
def test_bad_server_settings_are_named(options, message):
    with pytest.raises(WallError, match=message):
        serve_wall(WallState(), **dict({"address": "127.0.0.1", "port": 0}, **options))


def test_an_address_not_of_this_machine_is_named():
    with pytest.raises(WallListenError, match="cannot serve the wall screen on 192.0.2.1 port 0"):
        serve_wall(WallState(), address="192.0.2.1", port=0)


def test_a_busy_port_is_named(served):
    server = served()
    # Also an OSError, like any other failure to listen.
    with pytest.raises(OSError, match="cannot serve the wall screen on 127.0.0.1 port %d"
                       % server.server_port):
        serve_wall(WallState(), address="127.0.0.1", port=server.server_port)


def test_screens_polling_share_one_snapshot_until_it_ages_or_an_item_is_acknowledged():
    # A snapshot holds the lock intake takes: screens polling in a loop get the same answer
    # for state_max_age seconds, and an acknowledgment shows at once.
    state = WallState(now=Clock())
    for found in classified(stored(exec_records(["auditctl", "-D"]))):
        state.add(found)
    server = serve_wall(state, address="127.0.0.1", port=0, state_max_age=3)
    try:
        first = get(server.url + "api/state")[2]
        for found in classified(stored(exec_records(["id"], serial=44))):
            state.add(found)
        assert [get(server.url + "api/state")[2] for _poll in range(5)] == [first] * 5
        assert [row["what"] for row in json.loads(first)["events"]] == ["auditctl -D"]
        item = json.loads(first)["open"][0]
        assert post(server.url + "api/ack", {"item": item["id"], "by": "Erin"})[0] == 200
        after = json.loads(get(server.url + "api/state")[2])
        assert after["open"][0]["ack"]["by"] == "Erin"
        assert [row["what"] for row in after["events"]] == ["id", "auditctl -D"]
    finally:
        server.shutdown()
    fresh = serve_wall(state, address="127.0.0.1", port=0, state_max_age=0)
    try:
        assert json.loads(get(fresh.url + "api/state")[2])["seen"] == 2
        for found in classified(stored(exec_records(["uptime"], serial=45))):
            state.add(found)
        assert json.loads(get(fresh.url + "api/state")[2])["seen"] == 3
    finally:
        fresh.shutdown()


def test_ipv6_loopback():
    state = WallState()
    server = serve_wall(state, address="::1", port=0)
    try:
        assert server.url.startswith("http://[::1]:")
        assert get(server.url + "api/state")[0] == 200
    finally:
        server.shutdown()
