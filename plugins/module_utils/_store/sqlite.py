# -*- coding: utf-8 -*-
# Copyright: whotouched.server_audit contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to whotouched.server_audit: it may change in any release. Do not import it from
# other collections or from code outside this collection.
"""The SQLite event store: one database file on the log server, indexed for the questions
people ask, written by the alert processor and read by ``audit_report`` and the wall screen.

One row per event: the columns the questions filter on (time, sender name and address, the
four names of a person, session, first audit key, level, the log server's time of arrival),
the text a search looks through, and the whole event as compressed JSON (keys whose value is
None left out).  Further audit keys of an event have a small table of their own.  With FTS5
and its trigram tokenizer (SQLite 3.34 and later), searches of three characters or more go
through a full-text index of that text, one per day of arrival (contentless, trigrams only:
small, and dropped whole by retention); otherwise, and for shorter ones, through a scan of the
text column.  Heartbeats (kind ``health``) are not indexed for text.  Row ids are never
reused, so an index entry whose event retention removed matches nothing.

Exactness: every filter is decided by the same Python predicates the file scan uses
(``fnmatch`` patterns, a case-insensitive substring), registered as SQL functions; the indexes
only narrow the rows they run on (an exact name, or the literal beginning of a pattern).
Levels are trusted when the events were classified by the rules the question brings (the same
fingerprint); others are classified again before they are filtered.  Matches may be counted to
a limit (``find``'s ``count_limit``): that stops the count, never changes the events given
(the newest that match, whenever they arrived).

Durability: WAL with ``synchronous=NORMAL``: a commit survives the processor's death at
once, and the machine's after the next checkpoint or :meth:`SqliteStore.sync` (which the
processor calls before its journal forgets the lines); a batch is written in one transaction with
the processor's resume point.  Retention deletes, in bounded steps, what arrived before
``max_age_days`` and the oldest arrivals while the data takes more than ``max_bytes``, and
drops the text index of each day of arrival it emptied; freed pages are reused, so the file
stops growing at about that size (give or take a day's text index).

Standard library only: this runs on the log server.
"""

from __future__ import annotations

import collections
import copy
import fnmatch
import heapq
import json
import math
import os
import re
import stat
import time
import zlib

from ansible_collections.whotouched.server_audit.plugins.module_utils._events.report import (
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
    copy_key,
    counting_limit,
    event_identity,
    first_record_type,
    literal_prefix,
    restore_keys,
)

SCHEMA_VERSION = "1"
BODY_FORMAT = "zlib-dictionary-1"
# What compressed bodies are primed with: one event's JSON, so that even a short event
# compresses to its values alone.  Never change it: stored bodies need it to be read.
BODY_DICTIONARY = (
    b'{"time":"2024-01-01T00:00:00.000Z","epoch":1700000000.000,"serial":1,"host":"",'
    b'"address":"","node":"","kind":"exec","record_types":["SYSCALL","EXECVE","CWD","PATH",'
    b'"PATH","PROCTITLE"],"login_user":"","auid":1000,"user":"root","uid":0,"euid":0,'
    b'"session":1,"tty":"pts0","cwd":"/root","exe":"/usr/bin/","comm":"","argv":[],"key":'
    b'"exec","keys":["exec"],"syscall":"execve","success":true,"exit":0,"pid":1,"ppid":1,'
    b'"paths":[{"name":"/usr/bin/","path":"/usr/bin/","nametype":"NORMAL"},{"name":"/lib64/'
    b'ld-linux-x86-64.so.2","path":"/lib64/ld-linux-x86-64.so.2","nametype":"NORMAL"}],'
    b'"path":"/usr/bin/","operation":"execute","account":null,"remote_address":null,'
    b'"complete":true,"loss":null,"level":"info","reasons":[],"rules":[]}')

# The level of an open high-risk item on the wall screen (a literal, so that the partial
# index below serves the query).
_OPEN_RANK = LEVEL_RANK["high"]
_PRUNE_STEP = 5000
_UNREADABLE = object()
# How many stored events of one time and identity known() reads: copies of one event (a
# Windows event has no serial to tell them apart) and the few events one serial names.  Past
# that, an event is taken as new: stored twice at worst, never lost.
_COPIES_READ = 16
_PERSON_COLUMNS = ("login_user", "user", "account", "target_account")
_SENDER_COLUMNS = ("host", "address")
_COLUMNS = ("arrived", "epoch", "serial", "ident", "kind", "host", "address", "login_user",
            "user", "account", "target_account", "session", "key", "level", "ruleset", "text",
            "body")

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS store_info (name TEXT PRIMARY KEY, value TEXT) WITHOUT ROWID",
    # the rules that classified events, and the last event each classified
    "CREATE TABLE IF NOT EXISTS rulesets (id INTEGER PRIMARY KEY, fingerprint TEXT NOT NULL "
    "UNIQUE, last_event INTEGER NOT NULL DEFAULT 0)",
    # ids are given from store_info's next_id: never reused
    "CREATE TABLE IF NOT EXISTS events (id INTEGER PRIMARY KEY, arrived REAL NOT NULL, "
    "epoch REAL, serial INTEGER, ident INTEGER NOT NULL, kind TEXT NOT NULL, host TEXT, "
    "address TEXT, login_user TEXT, user TEXT, account TEXT, target_account TEXT, "
    "session INTEGER, key TEXT, level INTEGER NOT NULL, ruleset INTEGER NOT NULL, "
    "text TEXT NOT NULL, body BLOB NOT NULL)",
    # the audit keys after an event's first (rare: one rule with several -k)
    "CREATE TABLE IF NOT EXISTS event_keys (key TEXT NOT NULL, event INTEGER NOT NULL, "
    "PRIMARY KEY (key, event)) WITHOUT ROWID",
    "CREATE INDEX IF NOT EXISTS events_time ON events (epoch, ident)",
    "CREATE INDEX IF NOT EXISTS events_arrived ON events (arrived)",
    "CREATE INDEX IF NOT EXISTS events_alerting ON events (arrived) WHERE level >= %d"
    % _OPEN_RANK,
    "CREATE INDEX IF NOT EXISTS events_host ON events (host, level, epoch)",
    "CREATE INDEX IF NOT EXISTS events_address ON events (address, level, epoch)",
    "CREATE INDEX IF NOT EXISTS events_login_user ON events (login_user, epoch)",
    "CREATE INDEX IF NOT EXISTS events_user ON events (user, epoch)",
    "CREATE INDEX IF NOT EXISTS events_account ON events (account, epoch) "
    "WHERE account IS NOT NULL",
    "CREATE INDEX IF NOT EXISTS events_target_account ON events (target_account, epoch) "
    "WHERE target_account IS NOT NULL",
    "CREATE INDEX IF NOT EXISTS events_session ON events (session, epoch) "
    "WHERE session IS NOT NULL",
    "CREATE INDEX IF NOT EXISTS events_key ON events (key, epoch) WHERE key IS NOT NULL",
    "CREATE INDEX IF NOT EXISTS events_level ON events (level, epoch) WHERE level >= 1",
    # the loss reporters' heartbeats, which every question counts in its time and senders
    "CREATE INDEX IF NOT EXISTS events_health ON events (epoch) WHERE kind = 'health'",
    # per day of arrival, the first id stored and the latest time of that day's events: which
    # events stored early may have a time later than a question reached (see _stored_late);
    # it holds the ids from store_info's days_from up to its days_to
    "CREATE TABLE IF NOT EXISTS arrival_days (day INTEGER PRIMARY KEY, first_id INTEGER "
    "NOT NULL, latest REAL)",
)
# One text index per day of arrival: trigrams only (no positions; a search is checked
# against the text itself anyway), contentless (the text is in the events table).
_FTS = ("CREATE VIRTUAL TABLE IF NOT EXISTS %s USING fts5(text, content='', "
        "tokenize='trigram', detail=none)")
_FTS_NAME = re.compile(r"events_text_(\d+)\Z")
_DAY = 86400.0
# day indexes asked in one compound SELECT (SQLite takes at most 500)
_DAYS_IN_ONE_SELECT = 400


def _sqlite3():
    try:
        import sqlite3  # some minimal Pythons are built without it
    except ImportError:
        raise StoreUnavailable("this Python has no sqlite3 module: the SQLite store needs it "
                               "(Debian and Red Hat's python3 packages include it)")
    return sqlite3


def _matches(value, pattern):
    """fnmatch as the file scan applies it: to a value that is not empty."""
    return 1 if value and fnmatch.fnmatchcase(str(value), pattern) else 0


def _contains(text, needle):
    """The file scan's search: ``needle`` (lower case) in the text, case-insensitively."""
    return 1 if text and needle in text.lower() else 0


def _following(prefix):
    """The first text after every text that begins with ``prefix`` (in code point order, which
    is the order of their UTF-8 bytes), or None when there is none."""
    last = ord(prefix[-1])
    if last == 0x10FFFF:
        return None
    # no character is encoded between U+D7FF and U+E000 (the surrogates)
    return prefix[:-1] + chr(0xE000 if 0xD7FF <= last < 0xE000 else last + 1)


def _name_condition(columns, pattern, indexed=True):
    """SQL (and its parameters) keeping rows where one of ``columns`` matches ``pattern``,
    shaped so that each column's index narrows the rows (``indexed``), or so that no index of
    theirs is used (the rows come from another index)."""
    prefix = literal_prefix(pattern)
    terms, params = [], []
    for column in columns:
        column = column if indexed else "+" + column
        if prefix == pattern:
            terms.append("%s = ?" % column)
            params.append(pattern)
        elif prefix and _following(prefix) is None:
            terms.append("(%s >= ? AND whotouched_matches(%s, ?))" % (column, column))
            params.extend((prefix, pattern))
        elif prefix:
            terms.append("(%s >= ? AND %s < ? AND whotouched_matches(%s, ?))"
                         % (column, column, column))
            params.extend((prefix, _following(prefix), pattern))
        else:
            terms.append("whotouched_matches(%s, ?)" % column)
            params.append(pattern)
    return "(%s)" % " OR ".join(terms), params


# Trigrams a search asks the text index for: any of a needle's trigrams narrow to a superset
# of the texts holding it (each is then checked), and every further one costs a walk through
# its entries in each day's index (at 10 million events: a 150-character path took 1.5 s
# with all of them, 33 ms with six; 16-character paths 29-45 ms with four, 39-65 ms with six,
# the same candidates, and 0.4% more for a path in a quarter of the events).
_FTS_TRIGRAMS = 4
# How many of a needle's trigrams are counted in the newest text indexes (see
# _trigram_counts), and the count from which one is common there: a trigram in most texts
# ("/et", "usr") costs a walk through most entries of every day and narrows little, one in
# a few hundred a day is read in a moment (a rare path under /etc/: 40-63 ms asking for
# "/et" and three more, 8-12 ms for its rarest, the same candidates).
_FTS_COUNTED = 16
_FTS_COMMON = 2000
# Common trigrams tried, each counted with those chosen in the newest indexes, to see if it
# narrows them; a candidate costs about as much as 200 entries of the index read (its row is
# read and its text checked)
_FTS_TRIED = 4
_CANDIDATE_COST = 200


def _trigrams(needle):
    return [needle[start:start + 3] for start in range(len(needle) - 2)]


def _spread(count, most):
    """``most`` positions (or fewer) spread over ``count`` from the first to the last."""
    last = count - 1
    return sorted(set(last * step // (most - 1) for step in range(most)))


def _fts_query(needle, most=_FTS_TRIGRAMS):
    """The full-text query for ``needle`` (three characters or more, lower case) when nothing
    is known of its trigrams' counts: ``most`` of them (or fewer), all required, spread over
    it from its first to its last; where the one spread there occurs twice in the needle (the
    "tmp" of "/tmp/x.tmp", which a text holding only the first part has too), the nearest one
    that occurs once instead."""
    trigrams = _trigrams(needle)
    occurs = collections.Counter(trigrams)
    once = [start for start, trigram in enumerate(trigrams) if occurs[trigram] == 1] or \
        list(range(len(trigrams)))
    return _fts_terms(trigrams[min(once, key=lambda start: (abs(start - target), start))]
                      for target in _spread(len(trigrams), most))


def _fts_terms(trigrams):
    """The full-text query asking for all of ``trigrams``; a NUL is asked as the space the
    index holds for it (the trigram tokenizer stops at a NUL: an argument holding one hid
    the rest of the text)."""
    return " AND ".join('"%s"' % _as_indexed(trigram).replace('"', '""')
                        for trigram in sorted(set(trigrams)))


def _as_indexed(text):
    """``text`` as the text index holds it: a NUL as a space."""
    return text.replace("\x00", " ")


def _by_rarity(needle, counts):
    """The positions of ``needle``'s counted trigrams, the rarest first, those that occur
    twice in the needle after all others (a text may hold them at either place)."""
    trigrams = _trigrams(needle)
    occurs = collections.Counter(trigrams)
    return [start for _twice, _count, start in sorted(
        (occurs[trigram] > 1, counts[trigram], start)
        for start, trigram in enumerate(trigrams) if trigram in counts)]


def _rarest_apart(needle, counts, most=_FTS_TRIGRAMS):
    """Positions of at most ``most`` of ``needle``'s trigrams: the rarest of those ``counts``
    has under ``_FTS_COMMON`` that occur once in it and do not overlap (or the rarest one,
    where each rare one occurs twice); none where every counted one is common."""
    trigrams = _trigrams(needle)
    occurs = collections.Counter(trigrams)
    rare = [start for start in _by_rarity(needle, counts)
            if counts[trigrams[start]] < _FTS_COMMON]
    chosen = []
    for start in [start for start in rare if occurs[trigrams[start]] == 1] or rare[:1]:
        if len(chosen) < most and _apart(start, chosen):
            chosen.append(start)
    return chosen


def _apart(start, chosen):
    """Whether the trigram at ``start`` shares no character with those at ``chosen``."""
    return all(abs(start - other) >= 3 for other in chosen)


def _trigram_counts(db, names, needle, most=_FTS_COUNTED):
    """How many texts of the text indexes ``names`` (the newest: a sample of what the store
    holds) hold each of ``most`` of ``needle``'s trigrams, spread over it; each counted only
    up to ``_FTS_COMMON`` per index, so that a common one costs no more than a rare one."""
    trigrams = _trigrams(needle)
    counted = set(trigrams[start] for start in _spread(len(trigrams), most))
    return dict((trigram, sum(db.execute(
        "SELECT count(*) FROM (SELECT 1 FROM %s WHERE %s MATCH ? LIMIT %d)"
        % (name, name, _FTS_COMMON), (_fts_terms([trigram]),)).fetchone()[0] for name in names))
        for trigram in counted)


_BODY_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, default=str)
# Row ids per "id IN (...)" query: under SQLite's oldest limit of 999 parameters (with a
# question's own, at most about 30)
_IDS_PER_QUERY = 900
# How events are ordered by time, as SQLite's ORDER BY epoch, serial, id orders them (no time
# first): a key that Python compares alike
_ORDER = "epoch IS NOT NULL, ifnull(epoch, 0), serial IS NOT NULL, ifnull(serial, 0), id"
_INTEGER_RANGE = (-(1 << 63), (1 << 63) - 1)


def _column_integer(value):
    """``value`` for an INTEGER column: a number a client forged past SQLite's 64 bits (a
    serial or session no kernel writes) is left out of the column; the event's body keeps it."""
    if isinstance(value, int) and not _INTEGER_RANGE[0] <= value <= _INTEGER_RANGE[1]:
        return None
    return value


def _keep_newest(newest, key, limit):
    """Keep ``key`` in the heap ``newest`` if it is among the ``limit`` largest (0: all)."""
    if not limit or len(newest) < limit:
        heapq.heappush(newest, key)
    elif key > newest[0]:
        heapq.heapreplace(newest, key)


def _rows_of(db, ids, columns, where="1", params=()):
    """The rows (``columns``) of the events ``ids`` that ``where`` keeps, in the order of
    ``ids``, asked in groups (an event retention removed meanwhile is left out)."""
    rows = {}
    for start in range(0, len(ids), _IDS_PER_QUERY):
        group = ids[start:start + _IDS_PER_QUERY]
        rows.update((row[0], row) for row in db.execute(
            "SELECT id, %s FROM events WHERE id IN (%s) AND %s"
            % (columns, ", ".join("?" * len(group)), where), list(group) + list(params)))
    return [rows[number][1:] for number in ids if number in rows]


def _stored_epoch(epoch):
    """``epoch`` as the events table holds it: SQLite keeps a NaN as NULL."""
    return None if isinstance(epoch, float) and math.isnan(epoch) else epoch


def _regular_or_absent(path):
    """Refuse a store path that is a directory, a FIFO or a device: SQLite would hang on a
    FIFO or read a device."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return False
    except OSError as exc:
        raise StoreUnavailable("store %s cannot be read: %s" % (path, exc.strerror or exc))
    if not stat.S_ISREG(mode):
        raise StoreUnavailable("store %s is not a regular file (a directory, a FIFO or a "
                               "device): move it away or name another store path" % path)
    return True


class SqliteStore(EventStore):
    """The events in the SQLite database ``path``; ``readonly`` for a reader (the report).

    ``max_age_days`` (0: none) and ``max_bytes`` (0: none) bound what :meth:`prune` keeps;
    ``busy_seconds`` is how long a write waits for another writer's lock.
    """

    answers_questions = True

    def __init__(self, path, max_age_days=90, max_bytes=10 << 30, readonly=False,
                 busy_seconds=5.0, mode=0o640, clock=time.time):
        if not isinstance(path, str) or not os.path.isabs(path):
            raise EventStoreError("store path must be an absolute file path, got %r" % (path,))
        for name, value in (("max_age_days", max_age_days), ("max_bytes", max_bytes)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise EventStoreError("store %s must be a number of 0 (no limit) or more, "
                                      "got %r" % (name, value))
        self.path = path
        self.max_age_days = max_age_days
        self.max_bytes = max_bytes
        self.readonly = readonly
        self.clock = clock
        self.counts = {"stored": 0, "pruned": 0, "commits": 0}
        self._batch = []
        self._extra_keys = []
        self._asked = {}
        self._rulesets = {}
        self._sqlite3 = _sqlite3()
        self._db = None
        self._heartbeat_index = False
        self._connect(busy_seconds, mode)

    # ------------------------------------------------------------ opening

    def _failure(self, exc, doing):
        """A :class:`StoreUnavailable` naming the store, what failed and what to do."""
        text = str(exc)
        if "not a database" in text or "malformed" in text:
            advice = ("it is damaged or not an event store: move it away; the processor then "
                      "starts a new one, which --rebuild fills from the stored files")
        elif "locked" in text or "busy" in text:
            advice = "another process holds a lock on it; it is tried again"
        elif "readonly" in text or "permission" in text.lower() or "unable to open" in text:
            advice = "check its owner, its mode and those of its directory"
        else:
            advice = "see the message"
        return StoreUnavailable("store %s cannot be %s (%s): %s" % (self.path, doing, text,
                                                                    advice))

    def _connect(self, busy_seconds, mode):
        sqlite3 = self._sqlite3
        exists = _regular_or_absent(self.path)
        if self.readonly and not exists:
            raise StoreUnavailable("there is no event store at %s" % self.path)
        try:
            if self.readonly:
                self._db = sqlite3.connect("file:%s?mode=ro" % _uri_path(self.path), uri=True,
                                           timeout=busy_seconds, isolation_level=None,
                                           check_same_thread=False)
            else:
                directory = os.path.dirname(self.path)
                if not os.path.isdir(directory):
                    os.makedirs(directory, 0o750)
                if not exists:
                    os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, mode))
                self._db = sqlite3.connect(self.path, timeout=busy_seconds,
                                           isolation_level=None, check_same_thread=False)
            self._db.create_function("whotouched_matches", 2, _matches, deterministic=True)
            self._db.create_function("whotouched_contains", 2, _contains, deterministic=True)
            self._db.execute("PRAGMA cache_size = -65536")
            self._db.execute("PRAGMA temp_store = MEMORY")
            if not self.readonly:
                self._db.execute("PRAGMA journal_mode = WAL")
                self._db.execute("PRAGMA synchronous = NORMAL")
                # a page that every batch writes (an index's newest, by sender or user) is
                # copied into the file once per checkpoint: one every 32 MB of log, not 4 MB
                self._db.execute("PRAGMA wal_autocheckpoint = 8000")
                self._create()
            self._info = dict(self._db.execute("SELECT name, value FROM store_info"))
            # a store its writer has not opened since the index came reads heartbeats without
            self._heartbeat_index = bool(self._db.execute(
                "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name = "
                "'events_health'").fetchone()[0])
        except (sqlite3.Error, OSError) as exc:
            self.close()
            raise self._failure(exc, "opened")
        if self._info.get("schema") != SCHEMA_VERSION or \
                self._info.get("body") != BODY_FORMAT:
            self.close()
            raise StoreUnavailable(
                "store %s was written by another version (schema %s, bodies %s; this one "
                "reads schema %s, bodies %s): move it away and --rebuild a new one from the "
                "stored files" % (self.path, self._info.get("schema"), self._info.get("body"),
                                  SCHEMA_VERSION, BODY_FORMAT))
        self.full_text = self._info.get("full_text") == "trigram"

    def _create(self):
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            for statement in _SCHEMA:
                db.execute(statement)
            info = dict(db.execute("SELECT name, value FROM store_info"))
            if "schema" not in info:
                full_text = "none"
                try:
                    db.execute(_FTS % "temp.probe")
                    db.execute("DROP TABLE temp.probe")
                    full_text = "trigram"
                except self._sqlite3.OperationalError:
                    pass  # no FTS5, or no trigram tokenizer (SQLite before 3.34): scans
                db.executemany("INSERT INTO store_info VALUES (?, ?)", (
                    ("schema", SCHEMA_VERSION), ("body", BODY_FORMAT),
                    ("full_text", full_text), ("seen", "0"), ("next_id", "1")))
            if "days_from" not in info:
                self._summarize_stored_days()
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def close(self):
        """Release the database; an uncommitted batch is forgotten."""
        self._batch = []
        self._extra_keys = []
        self._asked = {}
        if self._db is not None:
            try:
                self._db.close()
            finally:
                self._db = None

    # ------------------------------------------------------------ writing

    def _ruleset_id(self, fingerprint):
        if fingerprint not in self._rulesets:
            row = self._db.execute("SELECT id FROM rulesets WHERE fingerprint = ?",
                                   (fingerprint,)).fetchone()
            if row is None:
                cursor = self._db.execute("INSERT INTO rulesets (fingerprint) VALUES (?)",
                                          (fingerprint,))
                row = (cursor.lastrowid,)
            self._rulesets[fingerprint] = row[0]
        return self._rulesets[fingerprint]

    def add(self, event, arrived, fingerprint=""):
        """Keep ``event`` in the batch; ``fingerprint`` names the rules that classified it."""
        body = {name: value for name, value in event.items() if value is not None}
        packer = zlib.compressobj(1, zdict=BODY_DICTIONARY)
        packed = packer.compress(_BODY_ENCODER.encode(body).encode("utf-8")) + packer.flush()
        asked = self._asked.get(id(event))
        kind = event.get("kind") or "?"
        keys = event.get("keys") or ()
        if len(keys) > 1:
            self._extra_keys.append((len(self._batch), keys[1:]))
        self._batch.append((
            arrived, event.get("epoch"), _column_integer(event.get("serial")),
            asked[1] if asked and asked[0] is event else event_identity(event), kind,
            event.get("host"), event.get("address"), event.get("login_user"),
            event.get("user"), event.get("account"), event.get("target_account"),
            _column_integer(event.get("session")), keys[0] if keys else None,
            LEVEL_RANK.get(event.get("level"), 0), fingerprint,
            "" if kind == "health" else searchable_text(event), packed))

    def sync(self):
        """The log's commits on the disk (``synchronous=NORMAL`` writes them there only at a
        checkpoint): the log file synced, nothing copied into the database."""
        fd = None
        try:
            fd = os.open(self.path + "-wal", os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
            os.fsync(fd)
        except FileNotFoundError:
            pass  # nothing committed since the last checkpoint removed it
        except OSError as exc:
            raise StoreUnavailable("store %s: its log cannot be synced to the disk: %s"
                                   % (self.path, exc.strerror or exc))
        finally:
            if fd is not None:
                os.close(fd)

    def rollback(self):
        self._batch = []
        self._extra_keys = []
        self._asked = {}

    def _index_text(self, rows):
        """Add the rows' text to the index of their day of arrival."""
        days = {}
        for row in rows:
            if row[5] != "health":
                # lowered as the search's check lowers it (SQLite's folding leaves some
                # letters, such as a dotted capital I, as they are); a NUL as a space
                days.setdefault(int(row[1] // _DAY), []).append(
                    (row[0], _as_indexed(row[16].lower())))
        for day, entries in days.items():
            name = "events_text_%d" % day
            self._db.execute(_FTS % name)
            self._db.executemany("INSERT INTO %s (rowid, text) VALUES (?, ?)" % name, entries)

    def _summarize_stored_days(self):
        """The summary of arrival days made from the events stored (a store from before it;
        once: at 10 million events, one read of the whole table)."""
        db = self._db
        db.execute("DELETE FROM arrival_days")
        db.execute("INSERT INTO arrival_days SELECT CAST(arrived / %r AS INTEGER), min(id), "
                   "max(epoch) FROM events GROUP BY 1" % _DAY)
        db.execute("INSERT OR REPLACE INTO store_info SELECT 'days_from', "
                   "ifnull((SELECT min(id) FROM events), value) FROM store_info "
                   "WHERE name = 'next_id'")
        db.execute("INSERT OR REPLACE INTO store_info SELECT 'days_to', value FROM store_info "
                   "WHERE name = 'next_id'")

    def _summarize_days(self, rows, first):
        """Add the rows (ids from ``first``) to the summary of arrival days.  Where a writer
        that keeps none (an earlier release's) stored events since, it starts again from
        these rows."""
        db = self._db
        covered = int(db.execute("SELECT value FROM store_info WHERE name = 'days_to'")
                      .fetchone()[0])
        if covered != first:
            db.execute("DELETE FROM arrival_days")
            db.execute("UPDATE store_info SET value = ? WHERE name = 'days_from'", (str(first),))
        days = {}
        for row in rows:
            day = days.setdefault(int(row[1] // _DAY), [row[0], None])
            epoch = _stored_epoch(row[2])  # a NaN, which no comparison orders, kept as NULL
            if epoch is not None and (day[1] is None or epoch > day[1]):
                day[1] = epoch
        for day, (first_id, latest) in days.items():
            db.execute("INSERT OR IGNORE INTO arrival_days VALUES (?, ?, ?)",
                       (day, first_id, latest))
            db.execute("UPDATE arrival_days SET first_id = min(first_id, ?), latest = CASE "
                       "WHEN latest IS NULL OR latest < ? THEN ? ELSE latest END WHERE day = ?",
                       (first_id, latest, latest, day))
        db.execute("UPDATE store_info SET value = ? WHERE name = 'days_to'",
                   (str(first + len(rows)),))

    def _stored_late(self, reach, epoch):
        """Whether an event stored before id ``reach`` may have a time of ``epoch`` or later
        (its sender's clock ahead of the others'): False only where the summary of arrival
        days holds every stored event and says no."""
        db = self._db
        info = dict(db.execute("SELECT name, value FROM store_info WHERE name IN "
                               "('days_from', 'days_to', 'next_id')"))
        if len(info) < 3 or info["days_to"] != info["next_id"]:
            return True  # a store whose summary is missing or behind (an older writer's)
        lowest = db.execute("SELECT min(id) FROM events").fetchone()[0]
        if lowest is not None and lowest < int(info["days_from"]):
            return True  # events stored before the summary began
        return db.execute("SELECT 1 FROM arrival_days WHERE first_id < ? AND latest >= ? "
                          "LIMIT 1", (reach, epoch)).fetchone() is not None

    def _text_indexes(self):
        """The names of the text indexes, by day of arrival."""
        names = [row[0] for row in self._db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name GLOB "
            "'events_text_[0-9]*'")]
        return sorted((int(match.group(1)), match.group(0)) for match in map(_FTS_NAME.match, names)
                      if match)

    def _search_query(self, search, indexes):
        """The full-text query for ``search`` (lower case): its rarest trigrams in the newest
        two of the text ``indexes`` (:func:`_rarest_apart`), and after them, of the others
        that do not overlap them (the rarest first, ``_FTS_TRIED`` at most), each one that
        narrows the candidates there by a quarter or more, enough to pay for reading its
        entries.  Asked this way, a rare path under /etc/ took 5-12 ms in the index at 10
        million events instead of 30-63 ms.  When every counted trigram is common, the spread
        ones of :func:`_fts_query`."""
        names = [name for _day, name in indexes[-2:]]
        counts = _trigram_counts(self._db, names, search)
        chosen = _rarest_apart(search, counts)
        if not chosen:
            return _fts_query(search)
        trigrams = _trigrams(search)
        found = self._sampled(names, [trigrams[start] for start in chosen])
        tried = 0
        for start in _by_rarity(search, counts):
            if len(chosen) >= _FTS_TRIGRAMS or tried >= _FTS_TRIED or not found:
                break
            if _apart(start, chosen):
                tried += 1
                narrower = self._sampled(names, [trigrams[other] for other in chosen + [start]])
                if 4 * narrower <= 3 * found and \
                        (found - narrower) * _CANDIDATE_COST > counts[trigrams[start]]:
                    chosen.append(start)
                    found = narrower
        return _fts_terms(trigrams[start] for start in chosen)

    def _sampled(self, names, trigrams):
        """How many texts of the text indexes ``names`` hold all of ``trigrams``."""
        query = _fts_terms(trigrams)
        return sum(self._db.execute("SELECT count(*) FROM %s WHERE %s MATCH ?" % (name, name),
                                    (query,)).fetchone()[0] for name in names)

    def commit(self, resume_point):
        """Write the batch and ``resume_point`` (None: the one stored is kept) in one
        transaction."""
        db = self._db
        batch, extra_keys = self._batch, self._extra_keys
        try:
            db.execute("BEGIN IMMEDIATE")
            try:
                first = int(db.execute("SELECT value FROM store_info WHERE name = 'next_id'")
                            .fetchone()[0])
                rows = [(first + index,) + row[:14] + (self._ruleset_id(row[14]),) + row[15:]
                        for index, row in enumerate(batch)]
                db.executemany("INSERT INTO events (id, %s) VALUES (?, %s)" % (
                    ", ".join(_COLUMNS), ", ".join("?" * len(_COLUMNS))), rows)
                db.execute("UPDATE store_info SET value = ? WHERE name = 'next_id'",
                           (str(first + len(rows)),))
                if self.full_text:
                    self._index_text(rows)
                self._summarize_days(rows, first)
                last = {}
                for row in rows:
                    last[row[15]] = row[0]
                db.executemany("UPDATE rulesets SET last_event = ? WHERE id = ?",
                               [(event, ruleset) for ruleset, event in last.items()])
                db.executemany("INSERT OR IGNORE INTO event_keys VALUES (?, ?)",
                               [(key, first + index) for index, keys in extra_keys
                                for key in keys])
                seen = sum(1 for row in rows if row[5] != "health")
                db.execute("UPDATE store_info SET value = CAST(value AS INTEGER) + ? "
                           "WHERE name = 'seen'", (seen,))
                if resume_point is not None:
                    db.execute("INSERT OR REPLACE INTO store_info VALUES ('resume', ?)",
                               (json.dumps(resume_point),))
                db.execute("COMMIT")
            except BaseException:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                raise
        except (self._sqlite3.Error, AttributeError) as exc:
            self._rulesets = {}
            raise self._failure(exc, "written")
        self._batch, self._extra_keys, self._asked = [], [], {}
        self.counts["stored"] += len(batch)
        self.counts["commits"] += 1

    def resume_point(self):
        try:
            row = self._db.execute("SELECT value FROM store_info WHERE name = 'resume'")\
                .fetchone()
        except self._sqlite3.Error as exc:
            raise self._failure(exc, "read")
        return json.loads(row[0]) if row else None

    def known(self, events):
        """Asked in a few queries, each pair of time and identity looked up once in the index
        of ``(epoch, ident)``: neither a time a sender floods nor an event stored many times
        makes a batch read more than its own events' entries.  A stored event of that time
        and identity is a copy when its first record type is the same (see ``copy_key``)."""
        stored = set()
        try:
            keys = [copy_key(event) for event in events]
            pairs = [(_stored_epoch(event.get("epoch")), key[0])
                     for event, key in zip(events, keys)]
            # for add(), until the batch is committed or forgotten: an event given unchanged
            self._asked = dict((id(event), (event, pair[1])) for event, pair in zip(events, pairs))
            # none is stored after the newest time stored (a batch of live events: most)
            newest = self._db.execute("SELECT max(epoch) FROM events").fetchone()[0]
            timed = list({pair for pair in pairs if pair[0] is not None and newest is not None
                          and pair[0] <= newest})
            untimed = list({identity for epoch, identity in pairs if epoch is None})
            for start in range(0, len(timed), _IDS_PER_QUERY // 2):
                chunk = timed[start:start + _IDS_PER_QUERY // 2]
                stored.update((epoch, identity, self._first_type(body))
                              for epoch, identity, body in self._db.execute(
                                  "SELECT column1, column2, body FROM (VALUES %s) JOIN events "
                                  "ON id IN (SELECT id FROM events WHERE epoch = column1 AND "
                                  "ident = column2 LIMIT %d)"
                                  % (", ".join(["(?, ?)"] * len(chunk)), _COPIES_READ),
                                  [value for pair in chunk for value in pair]))
            for start in range(0, len(untimed), _IDS_PER_QUERY):
                chunk = untimed[start:start + _IDS_PER_QUERY]
                stored.update((None, identity, self._first_type(body))
                              for identity, body in self._db.execute(
                                  "SELECT column1, body FROM (VALUES %s) JOIN events ON id IN "
                                  "(SELECT id FROM events WHERE epoch IS NULL AND "
                                  "ident = column1 LIMIT %d)"
                                  % (", ".join(["(?)"] * len(chunk)), _COPIES_READ), chunk))
        except self._sqlite3.Error as exc:
            raise self._failure(exc, "read")
        return {index for index, (pair, key) in enumerate(zip(pairs, keys))
                if (pair[0], pair[1], key[1]) in stored}

    def _first_type(self, packed):
        try:
            return first_record_type(self._decode(packed))
        except (zlib.error, ValueError):
            return _UNREADABLE  # the type of no event asked about: it is stored again

    def prune(self, now):
        """Delete up to a few thousand of the events that arrived before ``max_age_days``,
        or, while the data takes more than ``max_bytes``, the oldest arrivals."""
        db = self._db
        try:
            doomed = []
            if self.max_age_days:
                doomed = [row[0] for row in db.execute(
                    "SELECT id FROM events WHERE arrived < ? ORDER BY arrived LIMIT ?",
                    (now - self.max_age_days * 86400.0, _PRUNE_STEP))]
            if not doomed and self.max_bytes:
                doomed = [row[0] for row in db.execute(
                    "SELECT id FROM events ORDER BY arrived LIMIT ?", (self._over_size(),))]
            if not doomed:
                return 0
            db.execute("BEGIN IMMEDIATE")
            try:
                db.execute("CREATE TEMP TABLE IF NOT EXISTS doomed (id INTEGER PRIMARY KEY)")
                db.execute("DELETE FROM doomed")
                db.executemany("INSERT INTO doomed VALUES (?)", ((ident,) for ident in doomed))
                db.execute("DELETE FROM event_keys WHERE event IN doomed")
                db.execute("DELETE FROM events WHERE id IN doomed")
                # a day's text index goes once no event of that day is left (entries of
                # removed events match nothing before that: ids are not reused)
                oldest = db.execute("SELECT min(arrived) FROM events").fetchone()[0]
                for day, name in self._text_indexes():
                    if oldest is None or day < int(oldest // _DAY):
                        db.execute("DROP TABLE %s" % name)
                db.execute("DELETE FROM arrival_days WHERE ? IS NULL OR day < ?",
                           (oldest, None if oldest is None else int(oldest // _DAY)))
                db.execute("COMMIT")
            except BaseException:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                raise
        except self._sqlite3.Error as exc:
            raise self._failure(exc, "pruned")
        self.counts["pruned"] += len(doomed)
        return len(doomed)

    def _over_size(self):
        """How many of the oldest events to remove so that the data fits ``max_bytes``
        (estimated from the size an event takes on average; at most a step's worth)."""
        used = self.used_bytes()
        if used <= self.max_bytes:
            return 0
        low, high = self._db.execute("SELECT min(id), max(id) FROM events").fetchone()
        if low is None:
            return 0
        per_event = used / float(high - low + 1)
        return int(min(_PRUNE_STEP, (used - self.max_bytes) / per_event + 1))

    def used_bytes(self):
        """What the data takes in the file (pages in use), in bytes."""
        db = self._db
        pages = db.execute("PRAGMA page_count").fetchone()[0] - \
            db.execute("PRAGMA freelist_count").fetchone()[0]
        return pages * db.execute("PRAGMA page_size").fetchone()[0]

    # ------------------------------------------------------------ reading

    def _decode(self, packed):
        unpacker = zlib.decompressobj(zdict=BODY_DICTIONARY)
        return restore_keys(json.loads(unpacker.decompress(packed) + unpacker.flush()))

    def _conditions(self, event_filter, level_rank, heartbeats=False, narrowed=True):
        """The WHERE clause (and parameters) of what ``event_filter`` keeps, the level left
        to the caller unless ``level_rank`` is given; the loss reporters' heartbeats instead
        of the events with ``heartbeats`` (read through their own index); a search narrowed
        by the text index unless ``narrowed`` is false."""
        where, params = ["kind = 'health'" if heartbeats else "kind != 'health'"], []
        if event_filter.since is not None:
            where.append("epoch >= ?")
            params.append(event_filter.since)
        if event_filter.until is not None:
            where.append("epoch <= ?")
            params.append(event_filter.until)
        if level_rank:
            where.append("level >= ?")
            params.append(level_rank)
        for columns, pattern in ((_SENDER_COLUMNS, event_filter.host),
                                 (_PERSON_COLUMNS, event_filter.user)):
            if pattern:
                clause, values = _name_condition(
                    columns, pattern, indexed=not (heartbeats and self._heartbeat_index))
                where.append(clause)
                params.extend(values)
        if event_filter.key:
            where.append("(key = ? OR id IN (SELECT event FROM event_keys WHERE key = ?))")
            params.extend((event_filter.key, event_filter.key))
        if getattr(event_filter, "session", None) is not None:
            # a session past the column's range is one no kernel gives: nothing stored has it
            where.append("session = ?" if _column_integer(event_filter.session) is not None
                         else "0")
            if _column_integer(event_filter.session) is not None:
                params.append(event_filter.session)
        if event_filter.search:
            indexes = self._text_indexes() if self.full_text and narrowed else ()
            if indexes and len(event_filter.search) >= 3:
                # SQLite joins at most 500 SELECTs in one compound: a store that keeps
                # many days (or a sender that dates its events on many) asks in groups
                where.append("(%s)" % " OR ".join(
                    "id IN (%s)" % " UNION ALL ".join(
                        "SELECT rowid FROM %s WHERE %s MATCH ?" % (name, name)
                        for _day, name in indexes[start:start + _DAYS_IN_ONE_SELECT])
                    for start in range(0, len(indexes), _DAYS_IN_ONE_SELECT)))
                params.extend([self._search_query(event_filter.search, indexes)]
                              * len(indexes))  # lowered
            where.append("whotouched_contains(text, ?)")
            params.append(event_filter.search)
        return " AND ".join(where), params

    def find(self, event_filter, rules, limit, count_limit=0):
        counting = counting_limit(limit, count_limit)
        # one read transaction: every query of the answer sees the same events
        snapshot = not self._db.in_transaction
        try:
            if snapshot:
                self._db.execute("BEGIN")
            row = self._db.execute("SELECT id FROM rulesets WHERE fingerprint = ?",
                                   (rules.fingerprint,)).fetchone()
            mine = row[0] if row else None
            # the rules that classified the events still stored, other than the question's
            others = self._db.execute(
                "SELECT count(*) FROM rulesets WHERE id IS NOT ? AND last_event >= "
                "(SELECT min(id) FROM events)", (mine,)).fetchone()[0]
            if others and event_filter.min_rank:
                events, matched = self._find_classifying(event_filter, rules, mine, limit,
                                                         counting)
            else:
                events, matched = self._find(event_filter, event_filter.min_rank, limit,
                                             counting)
                if others:
                    for event, ruleset in events:
                        if ruleset != mine:
                            classify(event, rules.rules)
                events = [event for event, _ruleset in events]
            where, params = self._conditions(_TimeAndSender(event_filter), 0, heartbeats=True)
            health = self._db.execute("SELECT count(*) FROM events WHERE %s" % where,
                                      params).fetchone()[0]
        except self._sqlite3.Error as exc:
            raise self._failure(exc, "read")
        finally:
            if snapshot and self._db.in_transaction:
                self._db.execute("COMMIT")
        return events, counted(matched, len(events), counting, health)

    def _find(self, event_filter, level_rank, limit, counting):
        """``([(event, ruleset id)], matched)``, the levels as stored; matches counted to one
        past ``counting`` (0: all)."""
        if event_filter.search:
            return self._find_searched(event_filter, level_rank, limit, counting)
        where, params = self._conditions(event_filter, level_rank)
        matched = self._db.execute(
            "SELECT count(*) FROM (SELECT 1 FROM events WHERE %s%s)"
            % (where, " LIMIT %d" % (counting + 1) if counting else ""), params).fetchone()[0]
        rows = self._db.execute(
            "SELECT body, ruleset FROM events WHERE %s ORDER BY epoch DESC, serial DESC, "
            "id DESC%s" % (where, " LIMIT %d" % limit if limit else ""), params).fetchall()
        return [(self._decode(packed), ruleset) for packed, ruleset in reversed(rows)], matched

    def _find_searched(self, event_filter, level_rank, limit, counting):
        """:meth:`_find` for a search, whose text check runs on every candidate: one pass
        counts the matches and keeps the newest ``limit`` (by time, as SQLite orders them:
        no time first), then their bodies are read.

        Counted to a limit, a search asking nothing else or only a time walks the text
        index's candidates day of arrival by day, the last stored first, and stops past
        ``counting`` matches (see :class:`_CandidateWalk` for what it then looks for).  Others
        are counted whole: a sender, a user, a level, a key or a session may keep few of the
        candidates, and their own index finds those sooner."""
        walked = counting and self.full_text and len(event_filter.search) >= 3 and not (
            level_rank or event_filter.host or event_filter.user or event_filter.key
            or getattr(event_filter, "session", None) is not None)
        if walked:
            untimed = copy.copy(event_filter)
            untimed.since = None
            indexes = self._text_indexes()
            walk = _CandidateWalk(self._db, indexes,
                                  self._search_query(event_filter.search, indexes),
                                  self._stored_late,
                                  self._conditions(event_filter, level_rank, narrowed=False),
                                  self._conditions(untimed, level_rank, narrowed=False),
                                  2 * (counting + 1))
        else:
            where, params = self._conditions(event_filter, level_rank)
            walk = self._db.execute("SELECT %s FROM events WHERE %s" % (_ORDER, where), params)
        matched, newest = 0, []
        for key in walk:
            matched += 1
            _keep_newest(newest, key, limit)
            if walked and matched > counting:
                for later in walk.not_reached(key[-1], newest[0]):
                    _keep_newest(newest, later, limit)
                break
        ids = [key[-1] for key in sorted(newest)]
        return [(self._decode(body), ruleset)
                for body, ruleset in _rows_of(self._db, ids, "body, ruleset")], matched

    def _find_classifying(self, event_filter, rules, mine, limit, counting):
        """Events stored under other rules are classified again, then filtered by level."""
        where, params = self._conditions(event_filter, 0)
        matched, newest = 0, []
        cursor = self._db.execute(
            "SELECT body, ruleset FROM events WHERE %s AND (ruleset IS NOT ? OR level >= ?) "
            "ORDER BY epoch DESC, serial DESC, id DESC" % where,
            params + [mine, event_filter.min_rank])
        for packed, ruleset in cursor:
            event = self._decode(packed)
            if ruleset != mine:
                classify(event, rules.rules)
                if LEVEL_RANK[event["level"]] < event_filter.min_rank:
                    continue
            matched += 1
            if counting and matched > counting:
                cursor.close()
                break
            if not limit or len(newest) < limit:
                newest.append(event)
        newest.reverse()
        return newest, matched

    def dump(self):
        """Every event with its arrival time, in the order they were stored (for tests and
        tools)."""
        return list(self.stored_events())

    def stored_events(self, chunk=10000):
        """:meth:`dump`, read ``chunk`` events at a time (a store too large for memory)."""
        last = 0
        while True:
            try:
                rows = self._db.execute("SELECT id, arrived, body FROM events WHERE id > ? "
                                        "ORDER BY id LIMIT ?", (last, chunk)).fetchall()
            except self._sqlite3.Error as exc:
                raise self._failure(exc, "read")
            for last, arrived, packed in rows:
                yield arrived, self._decode(packed)
            if len(rows) < chunk:
                return

    def wall_history(self, since, slice_seconds, recent, open_rank, open_limit):
        db = self._db
        try:
            last = db.execute("SELECT arrived, body FROM events WHERE kind != 'health' "
                              "ORDER BY id DESC LIMIT ?", (recent,)).fetchall()
            # the partial index serves high and critical; a higher rank is filtered after
            alerting = db.execute(
                "SELECT arrived, body FROM events WHERE level >= %d AND arrived >= ? AND "
                "level >= ? AND kind != 'health' ORDER BY arrived DESC LIMIT ?"
                % min(open_rank, _OPEN_RANK), (since, open_rank, open_limit)).fetchall()
            activity = db.execute(
                "SELECT CAST(arrived / ? AS INTEGER), %s, count(*) FROM events "
                "WHERE arrived >= ? AND kind != 'health' GROUP BY %s" % (
                    ", ".join(SUMMARY_KEYS), ", ".join(str(number) for number in
                                                       range(1, len(SUMMARY_KEYS) + 2))),
                (slice_seconds, since)).fetchall()
            seen = int(db.execute("SELECT value FROM store_info WHERE name = 'seen'")
                       .fetchone()[0])
        except self._sqlite3.Error as exc:
            raise self._failure(exc, "read")
        level_column = SUMMARY_KEYS.index("level")
        summaries = []
        for row in activity:
            summary = dict(zip(SUMMARY_KEYS, row[1:-1]))
            summary["level"] = LEVELS[row[1 + level_column]]
            summaries.append((row[0], summary, row[-1]))
        return {"recent": [(arrived, self._decode(packed)) for arrived, packed in reversed(last)],
                "open": [(arrived, self._decode(packed))
                         for arrived, packed in reversed(alerting)],
                "activity": summaries, "seen": seen}


class _CandidateWalk(object):
    """The sort keys of the events ``where`` keeps among the candidates the text ``indexes``
    (``(day, name)``) give for the full-text ``query``: the last day of arrival first, each
    day's last stored first, read at most ``most`` at a time (2,000 first: a word of few events
    has fewer in a day, and the index is quicker to read from its first) and looked up in
    groups.

    ``conditions`` (a WHERE clause and its parameters) are the question's, ``untimed`` the
    same but its start, ``since``.  Where a walk stopped, :meth:`not_reached` gives what it
    did not reach and may be newer than the oldest kept: the candidates stored after the
    lowest it walked (only when a day's events were stored among another's: the clock set
    back), and the events stored before it whose time is at least the oldest kept's, read
    through the time index unless ``stored_late`` (the store's :meth:`_stored_late`) says
    there are none (reading that index from the oldest kept's time took 15-41 ms at 10
    million events, for nothing where the senders' clocks are right)."""

    def __init__(self, db, indexes, query, stored_late, conditions, untimed, most):
        self.db, self.most, self.query, self.stored_late = db, most, query, stored_late
        (self.where, self.params), self.untimed = conditions, untimed
        self.names = [name for _day, name in indexes]
        self.position = len(self.names)  # of the day being walked
        self.lowest = None  # the lowest candidate of the groups walked whole

    def _candidates(self, position, bounds, order=""):
        name = self.names[position]
        return [row[0] for row in self.db.execute(
            "SELECT rowid FROM %s WHERE %s MATCH ?%s%s" % (name, name, bounds, order),
            (self.query,))]

    def _keys(self, candidates):
        return _rows_of(self.db, candidates, _ORDER, self.where, self.params)

    def __iter__(self):
        for self.position in range(len(self.names) - 1, -1, -1):
            below, most = "", min(self.most, 2000)
            while True:
                candidates = self._candidates(self.position, below,
                                              " ORDER BY rowid DESC LIMIT %d" % most)
                for start in range(0, len(candidates), _IDS_PER_QUERY):
                    group = candidates[start:start + _IDS_PER_QUERY]
                    yield from self._keys(group)
                    if self.lowest is None or group[-1] < self.lowest:
                        self.lowest = group[-1]
                if len(candidates) < most:
                    break
                below, most = " AND rowid < %d" % candidates[-1], min(self.most, 2 * most)

    def not_reached(self, last, oldest_kept):
        """Keys of events the walk, stopped at the key of id ``last``, did not reach that may
        be newer than ``oldest_kept``."""
        reach = last if self.lowest is None else min(last, self.lowest)
        for position in range(self.position + 1):
            bounds = " AND rowid >= %d" % reach
            if position == self.position:
                bounds += " AND rowid < %d" % last
            yield from self._keys(self._candidates(position, bounds))
        # from the oldest kept's time alone (SQLite reads an index range from one start of
        # two; the kept are at or after the question's start), and "+id": decided in the
        # time index, not by a walk of the table up to reach
        where, params = self.untimed
        if oldest_kept[0]:
            if not self.stored_late(reach, oldest_kept[1]):
                return
            where, params = where + " AND epoch >= ?", params + [oldest_kept[1]]
        yield from self.db.execute(
            "SELECT %s FROM events WHERE %s AND +id < ?" % (_ORDER, where), params + [reach])


class _TimeAndSender(object):
    """The time and sender filters of a question alone (what heartbeats are counted by)."""

    def __init__(self, event_filter):
        self.since, self.until, self.host = (event_filter.since, event_filter.until,
                                             event_filter.host)
        self.user = self.key = self.search = self.session = None


def _uri_path(path):
    from urllib.parse import quote
    return quote(path)
