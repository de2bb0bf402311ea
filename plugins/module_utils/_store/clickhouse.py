# -*- coding: utf-8 -*-
# Copyright: whotouched.server_audit contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to whotouched.server_audit: it may change in any release. Do not import it from
# other collections or from code outside this collection.
"""The ClickHouse event store: the events of one or many log servers in one ClickHouse server
or cluster, spoken to over its HTTP interface with the standard library alone.

The tables are those of ``clickhouse-schema-1.sql`` (one server) or
``clickhouse-cluster-schema-1.sql`` (replicated tables behind distributed ones, same names,
same queries), beside this file: ``events``, one row per event (the columns the questions
filter on, the text a search looks through in lower case, the whole event as JSON), ordered
by sender and time and partitioned by the UTC day of arrival; and ``writers``, the resume point
of each log server's processor (its ``writer`` name) and how many events it stored.

Confirm after commit: :meth:`ClickHouseStore.commit` sends the batch in one ``INSERT ...
FORMAT JSONEachRow`` and returns once ClickHouse answered that it took it; any failure
raises :class:`StoreUnavailable` (the processor then refuses lines and rsyslog's queue keeps
them, and tries again every few seconds).  The resume point goes into ``writers`` after the
events: it never runs ahead of them.

Idempotent resume: ClickHouse has no transactions, so a batch may be stored while its answer
is lost, or the resume point may lag behind the events.  Both only make the processor read
its journal again; :meth:`ClickHouseStore.known` then looks the replayed events up by
sender, time and identity (the table's order: address, epoch, serial) and they are not
stored twice.  (A ReplacingMergeTree would fold duplicates only at some later merge; every
question would need FINAL to be exact.)

Exactness: the file scan's filters in SQL where SQL decides them exactly (a time, a level,
a key, a session, a case-insensitive search through the lowered text, a name pattern of
literals and ``*``); a pattern with ``?`` or ``[...]`` narrows the rows in SQL and the file
scan's own predicate (``EventFilter.keeps``) decides on each event, because ClickHouse
releases before 23.x match regular expressions byte by byte, not by character.  Events
classified by other rules than the question's are classified again before their level is
filtered, as the SQLite store does.

Retention drops whole days of arrival: a partition goes when its day ended ``max_age_days``
ago (TTL is not used: ClickHouse 18.16, Debian's, has none).  ``max_bytes`` is not applied:
ClickHouse's disks are its administrator's.

Standard library only: this runs on the log server.
"""

from __future__ import annotations

import base64
import json
import math
import os
import re
import socket
import ssl
import string
import time
import urllib.error
import urllib.parse
import urllib.request

from ansible_collections.whotouched.server_audit.plugins.module_utils._events.report import (
    EventFilter,
    searchable_text,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._events.risk import (
    LEVEL_RANK,
    LEVELS,
    classify,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._store.base import (
    SUMMARY_KEYS,
    EventStore,
    EventStoreError,
    StoreUnavailable,
    counted,
    counting_limit,
    copy_key,
    event_identity,
    literal_prefix,
    restore_keys,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._text.printable import (
    sanitize,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._text.regular_file import (
    FileTooLarge,
    NotARegularFile,
    read_regular,
)

SCHEMA_FILES = {False: "clickhouse-schema-1.sql", True: "clickhouse-cluster-schema-1.sql"}
"""The versioned schema, for one server and for a cluster (beside this module)."""

EVENT_COLUMNS = ("day", "arrived", "seq", "writer", "epoch", "timed", "serial", "ident", "kind",
                 "host", "address", "login_user", "user", "account", "target_account",
                 "session", "keys", "level", "ruleset", "text", "body")
WRITER_COLUMNS = ("writer", "committed", "resume", "seen")
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_PERSON_COLUMNS = ("login_user", "user", "account", "target_account")
_SENDER_COLUMNS = ("host", "address")
_DAY = 86400
# A name pattern's character wildcards: ClickHouse before 23.x matches them per byte.
_ONE_CHARACTER = ".{1,4}"
_REGEX_SPECIAL = frozenset("\\|()^$.[]?*+{}")
# A query that reads the events' bodies filters in PREWHERE: the bodies are then read only
# where its conditions hold (with WHERE, 18.16 reads every body it scans).
_NEWEST_FIRST = " ORDER BY epoch DESC, serial DESC, seq DESC"
_MAX_ERROR = 300


def read_credentials(path):
    """``(user, password)`` from the file at ``path``: the user on its first line, the
    password on its second (None: no file, ClickHouse's default user)."""
    if not path:
        return None
    try:
        text = read_regular(path, "a ClickHouse credentials file", 65536).decode("utf-8")
    except (NotARegularFile, FileTooLarge) as exc:
        raise EventStoreError("store.credentials_file %s" % exc)
    except (OSError, ValueError) as exc:
        raise EventStoreError("store.credentials_file %s cannot be read: %s"
                              % (path, getattr(exc, "strerror", None) or exc))
    lines = text.splitlines()
    if not lines or not lines[0] or ":" in lines[0]:
        raise EventStoreError("store.credentials_file %s must hold a user name (no colon) on "
                              "its first line and the password on its second" % path)
    return lines[0], lines[1] if len(lines) > 1 else ""


def quote(value):
    """``value`` as a ClickHouse literal."""
    if isinstance(value, bool) or value is None:
        raise TypeError("no literal for %r" % (value,))
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError("no literal for %r" % value)
        return repr(value)
    return "'%s'" % "".join(_ESCAPES.get(character, character) for character in value)


_ESCAPES = {"\\": "\\\\", "'": "\\'"}
_ESCAPES.update((chr(code), "\\x%02x" % code) for code in range(32))


def _pattern_regex(pattern):
    """``(regex, exact)``: a regular expression (RE2) matching at least the values the
    fnmatch ``pattern`` matches, and whether it matches exactly those on every ClickHouse
    release (literals and ``*`` only).  Brackets are found as ``fnmatch`` finds them."""
    pieces, exact, index, size = [], True, 0, len(pattern)
    while index < size:
        character = pattern[index]
        index += 1
        if character == "*":
            if not pieces or pieces[-1] != ".*":
                pieces.append(".*")
        elif character == "?":
            pieces.append(_ONE_CHARACTER)
            exact = False
        elif character == "[":
            end = index
            if end < size and pattern[end] == "!":
                end += 1
            if end < size and pattern[end] == "]":
                end += 1
            while end < size and pattern[end] != "]":
                end += 1
            if end >= size:
                pieces.append("\\[")
            else:
                pieces.append(_ONE_CHARACTER)
                exact = False
                index = end + 1
        elif character in _REGEX_SPECIAL:
            # a backslash before the character, never \xHH: 18.16 takes the digits of \xHH
            # for literal text it then requires
            pieces.append("\\" + character)
        else:
            pieces.append(character)
    return "(?s)^%s$" % "".join(pieces), exact


def _unescape(field):
    """A TabSeparated field as text (``None`` for ``\\N``)."""
    if field == b"\\N":
        return None
    if b"\\" not in field:
        return field.decode("utf-8", "surrogateescape")
    out, index = bytearray(), 0
    while index < len(field):
        byte = field[index]
        if byte == 0x5C and index + 1 < len(field):
            following = field[index + 1:index + 2]
            out += _TSV_ESCAPES.get(following, following)
            index += 2
        else:
            out.append(byte)
            index += 1
    return bytes(out).decode("utf-8", "surrogateescape")


_TSV_ESCAPES = {b"b": b"\b", b"f": b"\f", b"r": b"\r", b"n": b"\n", b"t": b"\t", b"0": b"\0",
                b"a": b"\a", b"v": b"\v", b"e": b"\x1b"}


_UINT64_MAX = (1 << 64) - 1


def _int64_or_none(number):
    """``number`` when an Int64 column holds it, else None."""
    if number is None or not -(1 << 63) <= number < (1 << 63):
        return None
    return number


def _first_of(types):
    """The first of a JSON list of record types, or None."""
    try:
        types = json.loads(types) if types else None
    except ValueError:
        return None
    return types[0] if isinstance(types, list) and types else None


def _utc_day(epoch):
    return time.strftime("%Y-%m-%d", time.gmtime(epoch))


class ClickHouseHttp(object):
    """Statements and queries sent to ClickHouse's HTTP interface at ``url`` (``http://`` or
    ``https://``) in ``database``; ``credentials``: ``(user, password)`` or None (the
    default user); ``ca_file``: the CA bundle for HTTPS (None: the system's).  With
    ``cluster``, an insert into a distributed table returns once every shard has it."""

    def __init__(self, url, database, credentials=None, ca_file=None, timeout=10.0,
                 cluster=""):
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise EventStoreError("store.url must be an http:// or https:// URL of ClickHouse, "
                                  "got %r" % (url,))
        self.url = url.rstrip("/") + "/"
        self.where = "ClickHouse %s (database %s)" % (urllib.parse.urlsplit(url).netloc,
                                                      database)
        self.database = database
        self.cluster = cluster
        self.timeout = timeout
        self.closed = False
        self._headers = {"Content-Type": "text/plain; charset=utf-8"}
        if credentials:
            token = base64.b64encode(("%s:%s" % credentials).encode("utf-8")).decode("ascii")
            self._headers["Authorization"] = "Basic " + token
        # ClickHouse is reached directly: a proxy set for the web is not its path
        handlers = [urllib.request.ProxyHandler({})]
        if url.startswith("https://"):
            try:
                context = ssl.create_default_context(cafile=ca_file)
            except (OSError, ssl.SSLError) as exc:
                raise EventStoreError("store.ca_file %s cannot be used: %s"
                                      % (ca_file, getattr(exc, "strerror", None) or exc))
            handlers.append(urllib.request.HTTPSHandler(context=context))
        self._opener = urllib.request.build_opener(*handlers)

    def post(self, body, query=None, database=None, whole=False):
        """The answer to ``body`` (a query, or the data of ``query``), as a response;
        ``database``: another than the store's; ``whole``: the server answers once the query
        is over (an error half-way is then an error status, not a cut answer)."""
        if self.closed:
            raise StoreUnavailable("%s: the store was closed" % self.where)
        params = {"database": database or self.database}
        if query is not None:
            params["query"] = query
        if whole:
            params["wait_end_of_query"] = "1"
        if self.cluster:
            # a distributed table takes an insert only once every shard has it
            params["insert_distributed_sync"] = "1"
        request = urllib.request.Request(
            self.url + "?" + urllib.parse.urlencode(params), data=body, method="POST",
            headers=self._headers)
        try:
            return self._opener.open(request, timeout=self.timeout)
        except urllib.error.HTTPError as exc:
            try:
                detail = exc.read(_MAX_ERROR * 4).decode("utf-8", "replace")
            except OSError:
                detail = ""
            finally:
                exc.close()
            raise StoreUnavailable("%s refused a request (HTTP %d): %s" % (
                self.where, exc.code, sanitize(detail.strip()[:_MAX_ERROR])))
        except (urllib.error.URLError, OSError, ValueError) as exc:
            reason = getattr(exc, "reason", None) or exc
            raise StoreUnavailable("%s cannot be reached: %s; the store is tried again"
                                   % (self.where, sanitize(str(reason))))

    def rows(self, sql, database=None):
        """The rows of ``sql`` (TabSeparated), one list of text fields each, as they come."""
        response = self.post((sql + " FORMAT TabSeparated").encode("utf-8"), database=database,
                             whole=True)
        try:
            for line in response:
                yield [_unescape(field) for field in line.rstrip(b"\n").split(b"\t")]
        except (OSError, ValueError) as exc:
            raise StoreUnavailable("%s stopped answering: %s" % (self.where, exc))
        finally:
            response.close()

    def all(self, sql, database=None):
        return list(self.rows(sql, database))

    def execute(self, sql):
        """Run ``sql`` (a statement that answers nothing)."""
        self.post(sql.encode("utf-8")).close()


class ClickHouseStore(EventStore):
    """The events in ClickHouse at ``url`` (``http://`` or ``https://``), database
    ``database``; ``cluster`` names the cluster of the replicated form ('' for one server).

    ``credentials``: ``(user, password)`` or None; ``ca_file``: the CA bundle for HTTPS
    (None: the system's); ``writer``: this log server's name among those writing ('' for its
    host name); ``readonly`` for a reader (the report).
    """

    answers_questions = True

    def __init__(self, url, database="whotouched", cluster="", credentials=None, ca_file=None,
                 timeout=10.0, writer="", max_age_days=90, readonly=False, clock=time.time):
        check_names(database, cluster)
        self.http = ClickHouseHttp(url, database, credentials, ca_file, timeout, cluster)
        self.where = self.http.where
        self.database = database
        self.cluster = cluster
        self.writer = writer or socket.gethostname()
        self.max_age_days = max_age_days
        self.readonly = readonly
        self.clock = clock
        self.counts = {"stored": 0, "pruned": 0, "commits": 0}
        self._batch = []
        self._last_seq = 0
        self._check_tables()
        # what this writer stored so far (the wall screen's count), carried on by each commit
        self._seen = 0 if readonly else self._writer_state()[1]

    # ------------------------------------------------------------ opening

    def _check_tables(self):
        found = {}
        for table, column in self.http.all(
                "SELECT table, name FROM system.columns WHERE database = %s AND table IN "
                "('events', 'writers')" % quote(self.database), "system"):
            found.setdefault(table, set()).add(column)
        for table, columns in (("events", EVENT_COLUMNS), ("writers", WRITER_COLUMNS)):
            missing = sorted(set(columns) - found.get(table, set()))
            if missing:
                raise StoreUnavailable(
                    "%s has %s: create the schema (the rsyslog_server role's "
                    "rsyslog_server_processor_store_clickhouse_create_schema, or %s from the "
                    "collection)"
                    % (self.where, "no table %s.%s" % (self.database, table)
                       if table not in found else "a table %s.%s without the columns %s of "
                       "schema 1" % (self.database, table, ", ".join(missing)),
                       SCHEMA_FILES[bool(self.cluster)]))

    def _writer_state(self):
        """``(resume point, seen)`` of the last commit of this writer."""
        rows = self.http.all("SELECT resume, seen FROM writers WHERE writer = %s ORDER BY "
                             "committed DESC LIMIT 1" % quote(self.writer))
        if not rows:
            return None, 0
        return json.loads(rows[0][0]), int(rows[0][1])

    def close(self):
        self._batch = []
        self.http.closed = True

    # ------------------------------------------------------------ writing

    def _next_seq(self):
        """A number greater than the last one this store gave (nanoseconds of the clock):
        the order the events were stored in."""
        self._last_seq = max(self._last_seq + 1, int(self.clock() * 1e9))
        return self._last_seq

    def add(self, event, arrived, fingerprint=""):
        kind = event.get("kind") or "?"
        epoch = event.get("epoch")
        body = {name: value for name, value in event.items() if value is not None}
        self._batch.append({
            "day": _utc_day(arrived), "arrived": float(arrived), "seq": self._next_seq(),
            "writer": self.writer, "epoch": float(epoch or 0), "timed": int(epoch is not None),
            # a forged serial past 64 bits orders as the largest; such a session is NULL here
            # (and found through the file scan's filter, see _conditions)
            "serial": min(event.get("serial") or 0, _UINT64_MAX), "ident": event_identity(event),
            "kind": kind, "session": _int64_or_none(event.get("session")),
            "keys": [str(key) for key in event.get("keys") or ()],
            "level": LEVEL_RANK.get(event.get("level"), 0), "ruleset": fingerprint,
            "text": "" if kind == "health" else searchable_text(event).lower(),
            "body": json.dumps(body, separators=(",", ":"), ensure_ascii=False, default=str)})
        # the names as text, whatever an event holds: a value a column cannot take would stop
        # every insert after it
        self._batch[-1].update((column, str(event.get(column) or ""))
                               for column in _SENDER_COLUMNS + _PERSON_COLUMNS)

    def rollback(self):
        self._batch = []

    def _insert(self, table, columns, rows):
        data = "".join(json.dumps(row, separators=(",", ":"), ensure_ascii=False) + "\n"
                       for row in rows).encode("utf-8", "surrogatepass")
        query = "INSERT INTO %s (%s) FORMAT JSONEachRow" % (table, ", ".join(columns))
        self.http.post(data, query).close()

    def commit(self, resume_point):
        """Send the batch, then ``resume_point`` (None: the one stored is kept); returns once
        ClickHouse took both."""
        batch = self._batch
        seen = self._seen + sum(1 for row in batch if row["kind"] != "health")
        if batch:
            self._insert("events", EVENT_COLUMNS, batch)
        if resume_point is not None:
            self._insert("writers", WRITER_COLUMNS, [{
                "writer": self.writer, "committed": self._next_seq(),
                "resume": json.dumps(resume_point), "seen": seen}])
            self._seen = seen
        self._batch = []
        self.counts["stored"] += len(batch)
        self.counts["commits"] += 1

    def resume_point(self):
        return self._writer_state()[0]

    def known(self, events):
        """Looked up by sender and time (the table's order), then by identity; a stored event
        of that identity is a copy when its first record type is the same (see ``copy_key``)."""
        wanted, ranges = {}, {}
        for index, event in enumerate(events):
            wanted.setdefault(copy_key(event), []).append(index)
            epoch = float(event.get("epoch") or 0)
            low, high = ranges.get(event.get("address") or "", (epoch, epoch))
            ranges[event.get("address") or ""] = (min(low, epoch), max(high, epoch))
        if not wanted:
            return set()
        senders = " OR ".join("(address = %s AND epoch BETWEEN %s AND %s)"
                              % (quote(address), quote(low), quote(high))
                              for address, (low, high) in sorted(ranges.items()))
        found = set()
        # the body's record types as written (JSON): a string holds no unescaped quote
        lookup = ("SELECT DISTINCT ident, visitParamExtractRaw(body, 'record_types') FROM events "
                  "WHERE (%s) AND ident IN (%s)" % (
                      senders, ", ".join(sorted({str(key[0]) for key in wanted}))))
        for identity, types in self.http.rows(lookup):
            found.update(wanted.get((int(identity), _first_of(types)), ()))
        return found

    def prune(self, now):
        """Drop the oldest day of arrival that ended ``max_age_days`` ago, if any."""
        if not self.max_age_days:
            return 0
        limit = _utc_day(now - self.max_age_days * _DAY)
        rows = self.http.all("SELECT day, count() FROM events WHERE day < %s GROUP BY day "
                             "ORDER BY day LIMIT 1" % quote(limit))
        if not rows:
            return 0
        day, count = rows[0][0], int(rows[0][1])
        if self.cluster:
            self.http.execute("ALTER TABLE %s.events_local ON CLUSTER %s DROP PARTITION %s"
                              % (self.database, self.cluster, quote(day)))
        else:
            self.http.execute("ALTER TABLE events DROP PARTITION %s" % quote(day))
        self.counts["pruned"] += count
        return count

    # ------------------------------------------------------------ reading

    def _conditions(self, event_filter, level_rank=0, heartbeats=False):
        """``(where, exact)``: what ``event_filter`` keeps (the level only with
        ``level_rank``), exactly or (``exact`` false) a superset of it; the loss reporters'
        heartbeats instead of the events with ``heartbeats``."""
        where, exact = ["kind = 'health'" if heartbeats else "kind != 'health'"], True
        if event_filter.since is not None:
            where.append("timed AND epoch >= %s" % quote(float(event_filter.since)))
        if event_filter.until is not None:
            where.append("timed AND epoch <= %s" % quote(float(event_filter.until)))
        if level_rank:
            where.append("level >= %d" % level_rank)
        for columns, pattern in ((_SENDER_COLUMNS, event_filter.host),
                                 (_PERSON_COLUMNS, event_filter.user)):
            if pattern and literal_prefix(pattern) == pattern:
                # a name: compared, not matched (the columns' data is read, no regex run)
                where.append("(%s)" % " OR ".join(
                    "%s = %s" % (column, quote(pattern)) for column in columns))
            elif pattern:
                regex, precise = _pattern_regex(pattern)
                exact = exact and precise
                where.append("(%s)" % " OR ".join(
                    "(%s != '' AND match(%s, %s))" % (column, column, quote(regex))
                    for column in columns))
        if event_filter.key:
            where.append("has(keys, %s)" % quote(event_filter.key))
        session = getattr(event_filter, "session", None)
        if session is not None and _int64_or_none(session) is None:
            where.append("session IS NULL")
            exact = False
        elif session is not None:
            where.append("session = %d" % session)
        if event_filter.search:
            where.append("position(text, %s) > 0" % quote(event_filter.search))
        return " AND ".join(where), exact

    def _decode(self, body):
        return restore_keys(json.loads(body))

    def find(self, event_filter, rules, limit, count_limit=0):
        counting = counting_limit(limit, count_limit)
        mine = quote(rules.fingerprint)
        where, exact = self._conditions(event_filter)
        rank = event_filter.min_rank
        # counted to one past counting
        matched, others = (int(value) for value in self.http.all(
            "SELECT (SELECT count() FROM (SELECT 1 FROM events WHERE %s AND level >= %d%s)), "
            "(SELECT count() FROM (SELECT 1 FROM events WHERE %s AND ruleset != %s LIMIT 1))"
            % (where, rank, " LIMIT %d" % (counting + 1) if counting else "", where, mine))[0])
        if exact and not (others and rank):
            rows = self.http.rows("SELECT ruleset, body FROM events PREWHERE %s AND level >= %d%s%s"
                                  % (where, rank, _NEWEST_FIRST,
                                     " LIMIT %d" % limit if limit else ""))
            events = []
            for ruleset, body in rows:
                event = self._decode(body)
                if ruleset != rules.fingerprint:
                    classify(event, rules.rules)
                events.append(event)
            events.reverse()
        else:
            events, matched = self._find_checked(event_filter, rules, where, limit, counting)
        return events, counted(matched, len(events), counting,
                               self._health_reports(event_filter))

    def _find_checked(self, event_filter, rules, where, limit, counting):
        """Each event the SQL keeps, classified again when other rules classified it, decided
        by the file scan's own filter; matches counted to one past ``counting`` (0: all)."""
        matched, newest = 0, []
        for ruleset, body in self.http.rows(
                "SELECT ruleset, body FROM events PREWHERE %s AND (ruleset != %s OR level >= %d)%s"
                % (where, quote(rules.fingerprint), event_filter.min_rank, _NEWEST_FIRST)):
            event = self._decode(body)
            if ruleset != rules.fingerprint:
                classify(event, rules.rules)
            if not event_filter.keeps(event):
                continue
            matched += 1
            if counting and matched > counting:
                break
            if not limit or len(newest) < limit:
                newest.append(event)
        newest.reverse()
        return newest, matched

    def _health_reports(self, event_filter):
        """The loss reporters' heartbeats in the question's time and among its senders."""
        sender = EventFilter(since=event_filter.since, until=event_filter.until,
                             host=event_filter.host)
        where, exact = self._conditions(sender, heartbeats=True)
        if exact:
            return int(self.http.all("SELECT count() FROM events WHERE %s" % where)[0][0])
        return sum(1 for (body,) in self.http.rows("SELECT body FROM events PREWHERE %s" % where)
                   if sender.keeps(self._decode(body)))

    def dump(self):
        """Every event with its arrival time, in the order they were stored (for tests and
        tools)."""
        return [(float(arrived), self._decode(body)) for arrived, body in self.http.rows(
            "SELECT arrived, body FROM events ORDER BY seq")]

    def wall_history(self, since, slice_seconds, recent, open_rank, open_limit):
        mine = "writer = %s AND kind != 'health'" % quote(self.writer)
        lately = "%s AND arrived >= %s AND day >= %s" % (mine, quote(float(since)),
                                                         quote(_utc_day(since)))
        last = self.http.all("SELECT arrived, body FROM events PREWHERE %s ORDER BY seq DESC "
                             "LIMIT %d" % (mine, recent))
        alerting = self.http.all("SELECT arrived, body FROM events PREWHERE %s AND level >= %d "
                                 "ORDER BY arrived DESC, seq DESC LIMIT %d"
                                 % (lately, open_rank, open_limit))
        activity = self.http.all(
            "SELECT toUInt64(floor(arrived / %s)) AS slice, %s, count() FROM events WHERE %s "
            "GROUP BY slice, %s" % (quote(float(slice_seconds)), ", ".join(SUMMARY_KEYS),
                                    lately, ", ".join(SUMMARY_KEYS)))
        summaries = []
        for row in activity:
            summary = {key: value or None for key, value in zip(SUMMARY_KEYS, row[1:-1])}
            summary["level"] = LEVELS[int(row[1 + SUMMARY_KEYS.index("level")])]
            summaries.append((int(row[0]), summary, int(row[-1])))
        return {"recent": [(float(arrived), self._decode(body))
                           for arrived, body in reversed(last)],
                "open": [(float(arrived), self._decode(body))
                         for arrived, body in reversed(alerting)],
                "activity": summaries, "seen": self._writer_state()[1]}


def schema_statements(cluster="", database="whotouched"):
    """The statements of the versioned schema (the cluster form when ``cluster``)."""
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), SCHEMA_FILES[bool(cluster)])
    with open(path, encoding="utf-8") as handle:
        text = string.Template(handle.read()).substitute(database=database, cluster=cluster)
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("--")]
    return [statement.strip() for statement in "\n".join(lines).split(";") if statement.strip()]


def check_names(database, cluster):
    """Refuse a database or cluster name that is not a plain ClickHouse name."""
    for name, value in (("database", database), ("cluster", cluster or "x")):
        if not isinstance(value, str) or not _IDENTIFIER.match(value):
            raise EventStoreError("store.%s must be a ClickHouse name (letters, digits, _), "
                                  "got %r" % (name, value))


def create_schema(settings, credentials=None):
    """Create what is missing of the schema that ``settings`` (the processor's ``store``
    section) names; the tables created (none: all were there).  The user needs the right to
    create them."""
    check_names(settings["database"], settings["cluster"])
    http = ClickHouseHttp(settings["url"], "system", credentials, settings["ca_file"],
                          settings["timeout"])
    listing = "SELECT name FROM system.tables WHERE database = %s" % quote(settings["database"])
    before = {row[0] for row in http.all(listing)}
    for statement in schema_statements(settings["cluster"], settings["database"]):
        http.execute(statement)
    return sorted({row[0] for row in http.all(listing)} - before)
