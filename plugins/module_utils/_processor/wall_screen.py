# -*- coding: utf-8 -*-
# Copyright: whotouched.server_audit contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to whotouched.server_audit: it may change in any release. Do not import it from
# other collections or from code outside this collection.
"""The wall screen: who is touching which server, live, on a page readable from across a room.

The alert processor on the log server adds each classified event (``_events`` then
``risk.classify``) to a :class:`WallState`; :func:`serve_wall` serves a self-contained
page (its HTML, CSS and JavaScript are the files in ``wall/``; nothing from elsewhere) that
polls the state as JSON every few seconds.

Log content is hostile until shown otherwise: every text the state hands out has each
character that does not show (controls, line separators, zero-width and bidirectional marks)
written as a visible escape (``_text.printable``)
and is cut to a bounded length; the page puts it in the DOM as text only (``textContent``),
and the headers forbid inline scripts and every origin but the server's own.

Memory stays bounded whatever arrives: the recent events, the open high-risk items, and the
per-host and per-user counts (kept in time buckets, at most ``max_keys`` names per bucket,
the rest counted under ``(others)``) all have caps.  Counts and the window are in the log
server's time of arrival, so a sender's wrong clock cannot hide or inflate its activity.

Standard library only: this runs on the log server inside the processor.
"""

from __future__ import annotations

import collections
import hmac
import ipaddress
import json
import os
import socket
import threading
import time

from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, quote

from ansible_collections.whotouched.server_audit.plugins.module_utils._events.report import (
    describe,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._events.risk import (
    LEVEL_RANK,
    LEVELS,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._events.schema import (
    Event,
    format_time,
    held_event,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._events.sessions import (
    LOGIN,
    SessionBook,
    row_text,
    session_counts,
    session_facts,
    session_key_id,
    session_rows,
    session_summary,
    session_title,
    session_view,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._text.printable import (
    sanitize,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._processor.settings import (
    valid_token,
)

OPEN_LEVELS = ("high", "critical")
"""The levels an event must reach to be an open high-risk item."""

OTHERS = "(others)"
"""The name counted for hosts or users beyond ``max_keys`` in one time bucket."""

TOKEN_HEADER = "X-Wall-Token"
"""The request header the page's script sends the token in."""

REFRESH_SECONDS = 3

_LOOPBACK_NAMES = frozenset(("localhost", "localhost.localdomain", "ip6-localhost", "::1"))

_BUCKETS_PER_WINDOW = 60
_TOP_ROWS = 30
_SESSION_ROWS = 30
_TREE_ROWS = 1000
_LIMITS = {"host": 120, "user": 64, "what": 600, "reason": 200, "rule": 100, "time": 32,
           "title": 300, "name": 64}
# What the screen keeps of the sessions it shows: enough for a room's view of the last hour.
_BOOK = {"max_sessions": 500, "max_events": 20000, "max_session_events": 1000}
# An acknowledgment's request body is a short JSON object.
_MAX_BODY = 4096

SECURITY_HEADERS = (
    ("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; "
                                "connect-src 'self'; img-src 'self'; base-uri 'none'; "
                                "form-action 'none'; frame-ancestors 'none'"),
    ("X-Content-Type-Options", "nosniff"),
    ("Cache-Control", "no-store"),
    ("Referrer-Policy", "no-referrer"),
    ("X-Frame-Options", "DENY"),
)


class WallError(ValueError):
    """A setting or an input the wall screen cannot use; the message says which and why."""


class WallListenError(WallError, OSError):
    """The address and port cannot be listened on (in use, not this machine's, no rights)."""


def _text(value, limit):
    """``value`` as text safe to show: escapes for control characters, at most ``limit`` long."""
    if value is None:
        return None
    text = sanitize(value)
    if len(text) > limit:
        text = text[:limit - 1] + "\u2026"
    return text


def _by_urgency(items):
    """Open items, the most urgent first: not acknowledged, highest level, and each sending
    address's first item before any address's second, so that the first cards on the screen
    are never all one sender's; then the most recent."""
    def rank(item):
        return item["ack"] is not None, -LEVEL_RANK[item["level"]]

    items = sorted(items, key=lambda item: (rank(item), -item["last_seen"]))
    place = collections.Counter()
    places = []
    for item in items:
        group = (rank(item), item["address"])
        places.append(place[group])
        place[group] += 1
    # stable: within one rank and place, the most recent first as sorted above
    order = sorted(range(len(items)), key=lambda index: (rank(items[index]), places[index]))
    return [items[index] for index in order]


def _shown_user(event, first, second):
    """A user name worth showing: ``unset`` (no login uid) counts as none."""
    for name in (first, second):
        value = event.get(name)
        if value not in (None, "", "unset"):
            return value
    return None


def event_row(event: Event):
    """The parts of a classified ``event`` that the page shows, as safe, bounded text."""
    host = event.get("host") or event.get("address")
    address = event.get("address")
    level = event.get("level") or "info"
    reasons = event.get("reasons") or ()
    rules = event.get("rules") or ()
    return {
        "time": _text(event.get("time"), _LIMITS["time"]),
        "host": _text(host, _LIMITS["host"]) if host else "?",
        "address": _text(address, _LIMITS["host"]) if address and address != host else None,
        "login_user": _text(_shown_user(event, "login_user", "account"), _LIMITS["user"]),
        "user": _text(_shown_user(event, "user", "target_account"), _LIMITS["user"]),
        "what": _text(describe(event), _LIMITS["what"]),
        "level": level,
        "reason": _text(reasons[0], _LIMITS["reason"]) if reasons else None,
        "rule": _text(rules[0], _LIMITS["rule"]) if rules else None,
        "kind": _text(event.get("kind"), 16),
        "failed": event.get("success") is False,
    }


class _Bucket(object):
    """Counts of the events that arrived in one slice of the window."""

    __slots__ = ("hosts", "users", "levels")

    def __init__(self):
        self.hosts = collections.Counter()
        self.users = collections.Counter()
        self.levels = collections.Counter()


def _count_capped(counter, name, max_keys, amount=1):
    if name in counter or len(counter) < max_keys:
        counter[name] += amount
    else:
        counter[OTHERS] += amount


def _person(row):
    """Who a row's activity is counted for."""
    return row["login_user"] or row["user"] or "?"


def _event_identity(event):
    """What tells one stored event from another: its sender, stamp and serial."""
    return (event.get("address") or event.get("host"), event.get("epoch"), event.get("serial"))


class WallState(object):
    """What the wall screen shows, updated by :meth:`add` and read by :meth:`snapshot`.

    ``max_events`` recent events are kept; activity is counted over the last
    ``window_seconds`` (in slices of a sixtieth of it); ``now`` is the clock (epoch seconds).
    Events are also filed in sessions (``_events.sessions``), shown while open or active in
    the window.  An open high-risk item can be acknowledged (:meth:`acknowledge`);
    ``on_acknowledge(item)`` is called with it, to record it.  Safe to use from several
    threads.
    """

    def __init__(self, max_events=200, window_seconds=3600, now=time.time, max_open=50,
                 max_keys=1000, on_acknowledge=None):
        for name, value in (("max_events", max_events), ("window_seconds", window_seconds),
                            ("max_open", max_open), ("max_keys", max_keys)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
                raise WallError("%s must be a positive number, got %r" % (name, value))
        if not callable(now):
            raise WallError("now must be a clock function such as time.time, got %r" % (now,))
        self.max_events = int(max_events)
        self.window_seconds = float(window_seconds)
        self.max_open = int(max_open)
        self.max_keys = int(max_keys)
        self._now = now
        self._slice = self.window_seconds / _BUCKETS_PER_WINDOW
        self._lock = threading.Lock()
        self._recent = collections.deque(maxlen=self.max_events)
        self._buckets = collections.OrderedDict()
        self._open = collections.OrderedDict()
        self._seen = 0
        self._book = SessionBook(**_BOOK)
        # session id -> when its last event arrived (the log server's clock)
        self._session_seen = {}
        self._on_acknowledge = on_acknowledge
        # how many acknowledgments were taken: an answer built before one is out of date
        self.acknowledgments = 0

    def add(self, event: Event, seen=None):
        """Take one classified event (see ``_events.schema``), seen now or at ``seen``."""
        if not isinstance(event, dict):
            raise WallError("an event must be a dict, got %s" % type(event).__name__)
        level = event.get("level") or "info"
        if level not in LEVEL_RANK:
            raise WallError("event level must be one of %s, got %r" % (", ".join(LEVELS), level))
        event = held_event(event)  # what one event can make the screen hold is bounded
        row = event_row(event)
        now = self._now() if seen is None else seen
        row["seen"] = now
        with self._lock:
            self._seen += 1
            row["session"] = self._book.add(event)
            if row["session"] is not None:
                self._session_seen[row["session"]] = now
            self._recent.append(row)
            self._count(row, now, 1)
            if level in OPEN_LEVELS:
                self._open_item(row, now)
            self._expire(now)

    def _count(self, row, seen, amount):
        index = int(seen // self._slice)
        bucket = self._buckets.get(index)
        if bucket is None:
            bucket = self._buckets[index] = _Bucket()
        _count_capped(bucket.hosts, row["host"], self.max_keys, amount)
        _count_capped(bucket.users, _person(row), self.max_keys, amount)
        bucket.levels[row["level"]] += amount

    def restore(self, history):
        """Show again what a store kept (``EventStore.wall_history``, asked with this
        state's window and slices): the screen as it was before the processor restarted."""
        with self._lock:
            for index, summary, count in sorted(history["activity"], key=lambda item: item[0]):
                row = event_row(summary)
                self._count(row, (index + 0.5) * self._slice, count)
            # the recent events build the sessions again; an open item links to its
            # event's session when that event is among them
            sessions = {}
            for seen, event in sorted(history["recent"], key=lambda item: item[0]):
                event = held_event(event)
                row = event_row(event)
                row["seen"] = seen
                row["session"] = self._book.add(event)
                if row["session"] is not None:
                    self._session_seen[row["session"]] = seen
                    sessions[_event_identity(event)] = row["session"]
                self._recent.append(row)
            for seen, event in history["open"]:
                row = event_row(event)
                row["session"] = sessions.get(_event_identity(event))
                self._open_item(row, seen)
            self._seen = history["seen"]
            self._expire(self._now())

    @property
    def slice_seconds(self):
        """The length of the time slices activity is counted in."""
        return self._slice

    def _open_item(self, row, now):
        """The same rule on the same host by the same person is one item with a count; a host
        is the name it claims and the address it sends from (hosts behind one relay share an
        address, and a sender can claim any name)."""
        key = (row["host"], row["address"], row["rule"] or row["what"], row["login_user"])
        item = self._open.pop(key, None)
        if item is None:
            item = {"id": session_key_id("item", *key), "first": row["time"], "first_seen": now,
                    "count": 0, "level": row["level"], "ack": None, "previous_ack": None}
        elif item["ack"] is not None:
            # it happened again since: open once more, the acknowledgment still shown
            item["previous_ack"], item["ack"] = item["ack"], None
        item.update(host=row["host"], address=row["address"], login_user=row["login_user"],
                    user=row["user"], what=row["what"], reason=row["reason"], rule=row["rule"],
                    last=row["time"], last_seen=now, session=row["session"])
        item["count"] += 1
        if LEVEL_RANK[row["level"]] > LEVEL_RANK[item["level"]]:
            item["level"] = row["level"]
        self._open[key] = item
        while len(self._open) > self.max_open:
            # the oldest of the address with the most: no sender pushes out the others' items
            crowded = collections.Counter(key[1] for key in self._open).most_common(1)[0][0]
            del self._open[next(key for key in self._open if key[1] == crowded)]

    def _expire(self, now):
        oldest = int((now - self.window_seconds) // self._slice)
        while self._buckets:
            index = next(iter(self._buckets))
            if index > oldest:
                break
            del self._buckets[index]
        limit = now - self.window_seconds
        while self._open:
            key = next(iter(self._open))
            if self._open[key]["last_seen"] > limit:
                break
            del self._open[key]
        if len(self._session_seen) > 2 * len(self._book) + 64:
            self._session_seen = {session_id: seen for session_id, seen
                                  in self._session_seen.items() if self._book.get(session_id)}

    def acknowledge(self, item_id, by, source=None):
        """Acknowledge the open item ``item_id`` in the name of ``by`` (from ``source``, the
        address the request came from); the item as it is now.  Raises ``KeyError`` for an
        item not open, :class:`WallError` for a name that cannot be shown."""
        name = _text(by.strip(), _LIMITS["name"]) if isinstance(by, str) else None
        if not name:
            raise WallError("by must name who acknowledges, in at most %d characters"
                            % _LIMITS["name"])
        now = self._now()
        with self._lock:
            item = next((item for item in self._open.values() if item["id"] == item_id), None)
            if item is None:
                raise KeyError(item_id)
            item["ack"] = {"by": name, "at": format_time(now), "at_epoch": now,
                           "from": _text(source, _LIMITS["host"])}
            self.acknowledgments += 1
            found = dict(item)
        if self._on_acknowledge is not None:
            self._on_acknowledge(found)
        return found

    def _session_panel(self, now):
        """The sessions open, or active in the window, highest level first."""
        shown = []
        limit = now - self.window_seconds
        for session in self._book.sessions():
            seen = self._session_seen.get(session.id, 0)
            if seen > limit or (session.kind == LOGIN and session.end is None):
                view = panel_row(session_summary(session))
                view["seen"] = seen
                shown.append(view)
        shown.sort(key=lambda view: (-LEVEL_RANK[view["level"]], -view["seen"]))
        return shown[:_SESSION_ROWS]

    def session(self, session_id):
        """One session for its page: what is known of it and its tree as lines of safe,
        bounded text; None when no session of that id is held."""
        with self._lock:
            session = self._book.get(session_id) if isinstance(session_id, str) else None
            if session is None:
                return None
            view = session_view(session)
            rows = session_rows(view)
        found = panel_row(view)
        found["rows"] = [{
            "depth": min(row["depth"], 12),
            "time": _text(row["time"], _LIMITS["time"]),
            "level": row["level"],
            "text": _text(row_text(row), _LIMITS["what"]),
            "failed": row["failed"] or row["pam_failed"],
            "kind": row["kind"],
        } for row in rows[:_TREE_ROWS]]
        found["rows_left_out"] = max(0, len(rows) - _TREE_ROWS)
        return found

    def snapshot(self):
        """The screen's data, ready for JSON: recent events (newest first), counts per host,
        per user and per level over the window, the open high-risk items (highest first)."""
        now = self._now()
        with self._lock:
            self._expire(now)
            hosts = collections.Counter()
            users = collections.Counter()
            levels = collections.Counter()
            for bucket in self._buckets.values():
                hosts.update(bucket.hosts)
                users.update(bucket.users)
                levels.update(bucket.levels)
            recent = [dict(row) for row in reversed(self._recent)]
            open_items = [dict(item) for item in reversed(self._open.values())]
            seen = self._seen
            sessions = self._session_panel(now)
        return {
            "generated": format_time(now),
            "generated_epoch": now,
            "window_seconds": self.window_seconds,
            "refresh_seconds": REFRESH_SECONDS,
            "seen": seen,
            "levels": {level: levels.get(level, 0) for level in LEVELS},
            "hosts": [{"name": name, "count": count}
                      for name, count in _top(hosts)],
            "users": [{"name": name, "count": count}
                      for name, count in _top(users)],
            "open": _by_urgency(open_items),
            "sessions": sessions,
            "events": recent,
        }


def panel_row(view):
    """What the screen shows of a session (``sessions.session_summary``), as safe, bounded
    text."""
    users = view["users"]
    return {
        "id": view["id"],
        "kind": view["kind"],
        "title": _text(session_title(view), _LIMITS["title"]),
        "facts": _text(session_facts(view), _LIMITS["title"]),
        "counts": _text(session_counts(view), _LIMITS["title"]),
        "host": _text(view["host"] or view["address"], _LIMITS["host"]) or "?",
        "address": _text(view["address"], _LIMITS["host"])
        if view["address"] and view["address"] != view["host"] else None,
        "login_user": _text(view["login_user"], _LIMITS["user"]),
        "users": [_text(user, _LIMITS["user"]) for user in users[:4]],
        "remote_address": _text(view["remote_address"], _LIMITS["host"]),
        "terminal": _text(view["terminal"], _LIMITS["user"]),
        "program": _text(view["program"], _LIMITS["user"]),
        "start": _text(view["start"], _LIMITS["time"]),
        "last": _text(view["last"], _LIMITS["time"]),
        "open": view["open"],
        "level": view["level"],
        "reasons": [_text(reason, _LIMITS["reason"]) for reason in view["reasons"][:8]],
        "commands": view["counts"]["commands"],
        "events": view["counts"]["events"],
    }


def _top(counter):
    return sorted(counter.items(), key=lambda pair: (-pair[1], pair[0]))[:_TOP_ROWS]


# ---------------------------------------------------------------- the page

# The page, its style sheet and its script are files of their own beside this module.
_WALL_FILES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "wall")
_CONTENT_TYPES = {"index.html": "text/html; charset=utf-8",
                  "wall.css": "text/css; charset=utf-8",
                  "wall.js": "text/javascript; charset=utf-8"}


def page_files():
    """``{name: (content type, bytes)}`` of the page's files, read from ``wall/``.

    Raises ``OSError`` when one cannot be read (the processor then runs without the screen).
    """
    files = {}
    for name, content_type in _CONTENT_TYPES.items():
        with open(os.path.join(_WALL_FILES, name), "rb") as handle:
            files[name] = (content_type, handle.read())
    return files


def render_page(token=None, page=None):
    """The page's HTML (``page``, the text of ``index.html``, read when not given); with a
    token, the URLs of its script and style sheet carry it."""
    if page is None:
        page = page_files()["index.html"][1].decode("utf-8")
    query = ""
    if token:
        # Quoted for a URL, which also leaves nothing HTML would read as markup.
        query = "?token=" + quote(token, safe="")
    return page.replace("{{query}}", query)


# ---------------------------------------------------------------- the server

class _WallHandler(BaseHTTPRequestHandler):
    """GET (and HEAD) of the page, its script, its style sheet, the state and a session;
    POST of an acknowledgment; nothing else."""

    server_version = "wall"
    sys_version = ""
    protocol_version = "HTTP/1.1"
    # A client that stops talking does not keep a thread forever.
    timeout = 15

    def _host_allowed(self):
        """Only the names this screen is reached by: a web page that points its own name at
        this address (DNS rebinding) gets nothing.  On a loopback address, loopback names;
        elsewhere without a token (which such a page cannot give), an address or one of the
        machine's own names."""
        host = (self.headers.get("Host") or "").strip().lower()
        if host.startswith("["):
            host = host[1:].partition("]")[0]
        elif host.count(":") == 1:
            host = host.partition(":")[0]
        if self.server.wall_loopback:
            return _is_loopback(host)
        if self.server.wall_token is not None:
            return True
        return _is_address(host) or host.rstrip(".") in self.server.wall_names

    def _authorised(self, query):
        expected = self.server.wall_token
        if expected is None:
            return True
        offered = self.headers.get(TOKEN_HEADER)
        if offered is None:
            values = parse_qs(query, keep_blank_values=True).get("token")
            offered = values[0] if values else ""
        return hmac.compare_digest(offered.encode("utf-8", "surrogateescape"), expected)

    def _send(self, status, body, content_type, head_only=False):
        self.send_response(status)
        for name, value in SECURITY_HEADERS:
            self.send_header(name, value)
        if status == 405:
            self.send_header("Allow", "GET, HEAD, POST" if self.path.startswith("/api/ack")
                             else "GET, HEAD")
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not head_only:
            self.wfile.write(body)

    def _answer(self, head_only):
        # Split by hand: urlsplit would read a path of "//name/" as a host name.
        path, query = self.path.partition("#")[0].partition("?")[::2]
        if not self._host_allowed():
            self._send(403, b"forbidden: this screen answers to localhost only\n",
                       "text/plain; charset=utf-8", head_only)
            return
        if not self._authorised(query):
            self._send(403, b"forbidden: a valid token is required\n",
                       "text/plain; charset=utf-8", head_only)
            return
        if path == "/":
            path = "/index.html"
        if path[1:] in self.server.wall_files:
            content_type, body = self.server.wall_files[path[1:]]
            self._send(200, body, content_type, head_only)
        elif path == "/api/state":
            self._send(200, self.server.state_body(), "application/json", head_only)
        elif path == "/api/session":
            values = parse_qs(query).get("id")
            found = self.server.wall_state.session(values[0]) if values else None
            if found is None:
                self._json(404, {"error": "no such session is held (it may have ended "
                                          "long ago, or the processor restarted)"}, head_only)
            else:
                self._json(200, found, head_only)
        else:
            self._send(404, b"not found\n", "text/plain; charset=utf-8", head_only)

    def _json(self, status, data, head_only=False):
        self._send(status, json.dumps(data, sort_keys=True).encode("ascii"), "application/json",
                   head_only)

    def do_GET(self):
        self._answer(head_only=False)

    def do_HEAD(self):
        self._answer(head_only=True)

    def do_POST(self):
        """An acknowledgment of an open item: ``{"item": ID, "by": NAME}`` as JSON, with the
        token when there is one.  JSON needs a CORS preflight, which is refused: another
        site's page cannot post one."""
        path, query = self.path.partition("#")[0].partition("?")[::2]
        self.close_connection = True
        if path != "/api/ack":
            self._refuse()
            return
        if not self._host_allowed() or not self._authorised(query):
            self._json(403, {"error": "forbidden: a valid token is required"})
            return
        if (self.headers.get("Content-Type") or "").split(";")[0].strip() != "application/json":
            self._json(415, {"error": "the acknowledgment must be sent as application/json"})
            return
        try:
            length = int(self.headers.get("Content-Length") or "-1")
        except ValueError:
            length = -1
        if not 0 <= length <= _MAX_BODY:
            self._json(413, {"error": "the acknowledgment must be a JSON object of at most "
                                      "%d bytes, with its Content-Length" % _MAX_BODY})
            return
        try:
            request = json.loads(self.rfile.read(length).decode("utf-8"))
            item, by = request["item"], request["by"]
            if not isinstance(item, str):
                raise TypeError("item")
            found = self.server.wall_state.acknowledge(item, by, self.client_address[0])
        except KeyError:
            self._json(404, {"error": "no open item of that id (it may have left the window)"})
        except (ValueError, TypeError, AttributeError) as exc:
            # WallError is a ValueError and says what is wrong with the name.
            message = str(exc) if isinstance(exc, WallError) else (
                'the acknowledgment must be a JSON object {"item": ID, "by": NAME}')
            self._json(400, {"error": message})
        else:
            self._json(200, {"item": found})

    def _refuse(self):
        self.close_connection = True
        self._send(405, b"method not allowed\n", "text/plain; charset=utf-8")

    do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_TRACE = do_CONNECT = _refuse

    def send_error(self, code, message=None, explain=None):
        """http.server's own errors (bad request line, unknown method): short, plain, no echo
        of the request."""
        self.close_connection = True
        if code == 501:
            code = 405
        try:
            self._send(code, b"bad request\n" if code != 405 else b"method not allowed\n",
                       "text/plain; charset=utf-8", head_only=self.command == "HEAD")
        except (OSError, AttributeError):
            pass

    def log_message(self, format, *args):  # pylint: disable=redefined-builtin
        """Requests are not logged: the processor's output is for the log pipeline."""


def _is_address(host):
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _own_names():
    """The names this machine knows itself by, in lower case."""
    names = {"localhost"}
    for name in (socket.gethostname(), socket.getfqdn()):
        if name:
            names.add(name.lower().rstrip("."))
    return frozenset(names)


def _is_loopback(address):
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return address.lower() in _LOOPBACK_NAMES


class _WallHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address, state, token, files, state_max_age):
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        self.wall_state = state
        self.state_max_age = state_max_age
        self._state_lock = threading.Lock()
        self._state_built = None  # (monotonic time, acknowledgments, body)
        self.wall_loopback = _is_loopback(address[0])
        self.wall_names = _own_names()
        # The page as served: with the token in the URLs of its script and style sheet.
        content_type, page = files["index.html"]
        self.wall_files = dict(files, **{"index.html": (content_type, render_page(
            token, page.decode("utf-8")).encode("utf-8"))})
        self.wall_token = token.encode("utf-8") if token is not None else None
        ThreadingHTTPServer.__init__(self, address, _WallHandler)

    def state_body(self):
        """The state as JSON, built at most once per ``state_max_age`` seconds whoever asks
        (and again after an acknowledgment): a snapshot holds the lock that intake takes, so
        screens polling in a loop must not slow the reading of the log."""
        with self._state_lock:
            built = self._state_built
            now = time.monotonic()
            if built is None or built[1] != self.wall_state.acknowledgments or \
                    not 0 <= now - built[0] < self.state_max_age:
                acknowledgments = self.wall_state.acknowledgments
                body = json.dumps(self.wall_state.snapshot(), sort_keys=True).encode("ascii")
                built = self._state_built = (now, acknowledgments, body)
            return built[2]

    def handle_error(self, request, client_address):
        """A client that hangs up mid-answer is no error worth a traceback."""


class WallServer(object):
    """A running wall screen: its ``server_port``, its ``url``, and :meth:`shutdown`."""

    def __init__(self, httpd, thread):
        self._httpd = httpd
        self._thread = thread
        self.address = httpd.server_address[0]
        self.server_port = httpd.server_address[1]
        host = "[%s]" % self.address if ":" in self.address else self.address
        self.url = "http://%s:%d/" % (host, self.server_port)

    def shutdown(self):
        """Stop serving and close the listening socket."""
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(5)


def serve_wall(state, address, port, token=None, state_max_age=1.0):
    """Serve ``state`` (a :class:`WallState`) on ``address``:``port`` from a daemon thread.

    Port 0 picks a free port (see the result's ``server_port``).  The state is answered
    from one snapshot for ``state_max_age`` seconds, however many screens ask.  With a ``token``, every
    path answers 403 unless the request carries it (``?token=`` or the ``X-Wall-Token``
    header).  On a loopback address only requests for a loopback name are answered, and
    elsewhere without a token only those for an address or one of the machine's own names.
    Raises :class:`WallError` for a setting it cannot use, and :class:`WallListenError`
    (also an ``OSError``) for an address and port it cannot listen on.
    """
    if not isinstance(state, WallState):
        raise WallError("state must be a WallState, got %s" % type(state).__name__)
    if not isinstance(address, str) or not address:
        raise WallError("address must be a host name or an IP address, got %r" % (address,))
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        raise WallError("port must be a number from 0 to 65535, got %r" % (port,))
    if token is not None and not valid_token(token):
        raise WallError("token must be None or a non-empty string of printable ASCII "
                        "characters without blanks")
    if isinstance(state_max_age, bool) or not isinstance(state_max_age, (int, float)) or \
            not 0 <= state_max_age <= REFRESH_SECONDS:
        raise WallError("state_max_age must be a number of seconds from 0 to %d, got %r"
                        % (REFRESH_SECONDS, state_max_age))
    files = page_files()
    try:
        httpd = _WallHTTPServer((address, port), state, token, files, state_max_age)
    except (OSError, UnicodeError) as exc:
        raise WallListenError("cannot serve the wall screen on %s port %d: %s"
                              % (address, port, exc)) from exc
    thread = threading.Thread(target=httpd.serve_forever, name="wall-screen", daemon=True)
    thread.start()
    return WallServer(httpd, thread)
