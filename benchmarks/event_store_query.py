"""The SQLite event store at 10 million events: ingest, size, and the questions people ask,
beside scanning the stored files (audit_report's file path) and ausearch.

The data: two logs of the real kernel recorded by record_audit_session.py (an administrator's
session, PATH-heavy, and exec-heavy scripted work; recorded into --recordings the first time,
as root under the kernel lock), each record passed through the rsyslog_client role's default
noise filters as the log server receives it.  Their events are replayed in blocks of
--block events, one block a login session: a sender of --hosts (name and address), a login
user of --users (name and uid, in the ENRICHED names too), a session number of its own, the
records' times spread evenly over --days ending at the build's midnight (UTC), fresh serials.
The events go into the store as the alert processor puts them there (``known``, ``add``, a
``commit`` with a resume point for each of the processor's batches, BATCH_EVENTS), classified
by the shipped rules.

Every --slice-th event also goes, as records, to the files the log server would hold: one
directory per sender with its runcmdformat audit.log rotated daily as the rsyslog_server role
rotates it (dateext, compress, delaycompress; each file's time its last event's), the stream
the processor reads (all senders, in order of arrival), and a raw audit.log of the same
records with ``node=`` names for ausearch.  The scan and ausearch read that slice and their
times are multiplied by --slice; the store answers over all events.  A sample of the slice,
read back by the event library, must equal the events stored.

Questions (each --rounds times with other values; median and worst; the store opened, asked
and closed each time as audit_report does, page cache warm: the store's file is read once
before them; the benchmark's own objects frozen out of Python's garbage collection, since
audit_report's process holds none of them):
  one user, 7 days       user=NAME since=<7 days before the end>   ausearch -ua UID -ts -te
  one host, high          host=NAME min_level=high                   ausearch --node (no level)
  text search, rare       search=<a word in few events>              (ausearch has no text search)
  text search, common     search=<a path in many events>             ausearch -f PATH
  rare, 7 days            the rare word since 7 days before the end   (no text search)
  common, 7 days          the common path since then                  ausearch -f PATH -ts -te
  one session             host=NAME session=N                        ausearch --node --session
each with audit_report's default count_limit (matched N+: counting stopped past N), and the
common search once more with count_limit 0 (every match counted: shown, not a goal).
Ingest is compared with what the processor does before it: reading the stream of the slice
(records to events) and classifying, in this run; the events read are then put into a copy
of the whole store (as much free space as the store takes; removed after) as if they came
next (after the store's newest, in order, with serials no stored event has), three times, and
the third time's rate is the one compared: measured side by side, the cache warm, after the
questions (the copy pushes the store's pages out of the page cache).

The ClickHouse backend beside it, on the same events: Debian's clickhouse-server (started on
loopback ports with its data in the cache directory) or the server at --clickhouse-url,
filled once with the events of the SQLite store, read back in the order stored and put
into the ClickHouse store as the processor does (``known``, ``add``, ``commit`` every 2,000
events); its ingest rate (this process's CPU and the server's, when it runs here), its
bytes per event on disk (the active parts) and the same questions, whose matched counts
must equal SQLite's.  --no-clickhouse leaves it out.

Built once and kept in --cache-dir (a directory per size and recording), so reruns only ask;
the build's own ingest figures are printed with its date.
Goals: every question under 200 ms at 10 million events and at least 100x faster than the
scan; ingest at least as fast as parse + classify.

    python benchmarks/event_store_query.py [--events 10000000] [--cache-dir DIR]
        [--clickhouse-url URL | --no-clickhouse]
"""

from __future__ import annotations

import argparse
import collections
import gc
import gzip
import hashlib
import json
import os
import random
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

# pylint: disable=wrong-import-position
from tests.support.collection_path import make_collection_importable  # noqa: E402

make_collection_importable()

from ansible_collections.whotouched.server_audit.plugins.module_utils._events.assembler import (  # noqa: E402
    EventAssembler, iter_events)
from ansible_collections.whotouched.server_audit.plugins.module_utils._events.report import (  # noqa: E402
    EventFilter, build_report, classified_events, log_files, searchable_text)
from ansible_collections.whotouched.server_audit.plugins.module_utils._events.risk import (  # noqa: E402
    classify)
from ansible_collections.whotouched.server_audit.plugins.module_utils._events.schema import (  # noqa: E402
    format_time)
from ansible_collections.whotouched.server_audit.plugins.module_utils._processor.processor import (  # noqa: E402
    BATCH_EVENTS)
from ansible_collections.whotouched.server_audit.plugins.module_utils._processor.settings import (  # noqa: E402
    read_store_settings)
from ansible_collections.whotouched.server_audit.plugins.module_utils._store.base import (  # noqa: E402
    Ruleset)
from ansible_collections.whotouched.server_audit.plugins.module_utils._store.sqlite import (  # noqa: E402
    SqliteStore)
from ansible_collections.whotouched.server_audit.plugins.module_utils._store.clickhouse import (  # noqa: E402
    ClickHouseHttp, ClickHouseStore, create_schema)
from machine import machine_line  # noqa: E402
from record_audit_session import RECORDINGS  # noqa: E402
from record_audit_session import UID as RECORDED_UID  # noqa: E402
from record_audit_session import USER as RECORDED_USER  # noqa: E402
from record_audit_session import recorded_log  # noqa: E402
from tests.support.audit_records import stored, through_default_filters  # noqa: E402
from ansible_collections.whotouched.server_audit.plugins.modules import audit_report  # noqa: E402
from tests.support.clickhouse import SERVER as CLICKHOUSE_SERVER  # noqa: E402
from tests.support.clickhouse import ClickHouseServer  # noqa: E402

# Changed whenever the data built changes, so that an old cache is not used.
DATA_FORMAT = "1"
STAMP = re.compile(r"msg=audit\((\d+\.\d+):(\d+)\)")
RECORDED_IDS = re.compile(r"(?<![A-Za-z_])(auid|uid|euid|suid|fsuid|ouid)=%d\b" % RECORDED_UID)
SESSION_BASE = 100000
LIMIT = audit_report.ARGUMENT_SPEC["limit"]["default"]
COUNT_LIMIT = audit_report.ARGUMENT_SPEC["count_limit"]["default"]
SAMPLE_EVERY = 100  # slice events compared with the store's
GOAL_MS = 200.0
# The common search counted in full (count_limit 0): shown, not held to the goal
FULL_COUNT = "  all counted"
GOAL_SPEEDUP = 100.0
CLICKHOUSE_DATABASE = "whotouched_bench"


# ---------------------------------------------------------------- the recorded events

def recorded_events(path):
    """``(records, event)`` of each event of a recorded raw audit.log, as the log server gets
    it: the records the client's default noise filters let through, read as one sender's
    stored stream."""
    groups = collections.OrderedDict()
    with open(path, encoding="utf-8", errors="replace") as log:
        # split("\n"), not splitlines(): that would also cut at the 0x1d before ENRICHED names
        for line in log.read().split("\n"):
            match = STAMP.search(line)
            if match:
                groups.setdefault((float(match.group(1)), int(match.group(2))), []).append(line)
    kept = collections.OrderedDict()
    for stamp, lines in groups.items():
        passed = through_default_filters(lines)
        if passed:
            kept[stamp] = passed
    events = collections.defaultdict(list)
    for event in iter_events(stored([line for lines in kept.values() for line in lines])):
        events[(event["epoch"], event["serial"])].append(event)
    return [(lines, events[stamp][0]) for stamp, lines in kept.items()
            if len(events[stamp]) == 1 and events[stamp][0]["kind"] != "health"]


def recorded_session(templates):
    """The audit session of the recorded work (its user's most frequent)."""
    sessions = collections.Counter(event["session"] for _lines, event in templates
                                   if event["auid"] == RECORDED_UID)
    return sessions.most_common(1)[0][0] if sessions else None


class Replica(object):
    """Where, whose and when one replayed event is."""

    __slots__ = ("host", "address", "name", "uid", "session", "epoch", "serial")

    def __init__(self, host, address, name, uid, session, epoch, serial):
        self.host, self.address, self.name, self.uid = host, address, name, uid
        self.session, self.epoch, self.serial = session, epoch, serial


def replayed_event(template, replica, recorded_ses):
    """The event the records of ``replayed_records`` give (classification kept: the rules
    look at no field this changes; the slice check shows it)."""
    event = dict(template)
    event.update(time=format_time(replica.epoch), epoch=replica.epoch, serial=replica.serial,
                 host=replica.host, address=replica.address)
    for key in ("login_user", "user", "account", "target_account"):
        if event.get(key) == RECORDED_USER:
            event[key] = replica.name
    for key in ("auid", "uid", "euid"):
        if event.get(key) == RECORDED_UID:
            event[key] = replica.uid
    if recorded_ses is not None and event.get("session") == recorded_ses:
        event["session"] = replica.session
    return event


def replayed_records(lines, replica, recorded_ses):
    """The raw records of a template with the replica's stamp, user and session."""
    stamp = "msg=audit(%.3f:%d)" % (replica.epoch, replica.serial)
    quoted_name = '"%s"' % RECORDED_USER
    session = re.compile(r"\bses=%d\b" % recorded_ses) if recorded_ses is not None else None
    out = []
    for line in lines:
        line = STAMP.sub(stamp, line, count=1)
        line = RECORDED_IDS.sub(r"\g<1>=%d" % replica.uid, line)
        line = line.replace(quoted_name, '"%s"' % replica.name)
        if session is not None:
            line = session.sub("ses=%d" % replica.session, line)
        out.append(line)
    return out


def host_name(number):
    return "srv%03d" % number


def host_address(number):
    # documentation networks: data only, nothing is sent anywhere
    networks = ("192.0.2", "198.51.100", "203.0.113")
    return "%s.%d" % (networks[number // 250], number % 250 + 1)


def user_name(number):
    return "user%03d" % number


def syslog_stamp(epoch):
    return time.strftime("%b %d %H:%M:%S", time.gmtime(epoch)).replace(" 0", "  ", 1)


# ---------------------------------------------------------------- building

class SliceWriter(object):
    """The slice as the log server keeps it: per sender, a runcmdformat file a day, rotated
    as the rsyslog_server role rotates them; the processor's stream; a raw audit.log."""

    def __init__(self, directory):
        self.remote = directory / "remote"
        self.remote.mkdir(parents=True)
        self.stream = open(directory / "stream.log", "w", encoding="utf-8")
        self.raw = open(directory / "audit.raw.log", "w", encoding="utf-8")
        self.days = {}  # address -> {day: [path, last epoch]}
        self.open = {}  # address -> (day, handle)

    def add(self, records, replica, day):
        lines = stored(records, replica.host, replica.address, syslog_stamp(replica.epoch))
        text = "\n".join(lines) + "\n"
        self.stream.write(text)
        self.raw.write("".join("node=%s %s\n" % (replica.host, line) for line in records))
        current = self.open.get(replica.address)
        if current is None or current[0] != day:
            if current is not None:
                current[1].close()
            path = self.remote / replica.address / ("day-%d" % day)
            path.parent.mkdir(exist_ok=True)
            current = (day, open(path, "w", encoding="utf-8"))
            self.open[replica.address] = current
            self.days.setdefault(replica.address, {})[day] = [path, replica.epoch]
        current[1].write(text)
        self.days[replica.address][day][1] = replica.epoch

    def close(self, start):
        for _day, handle in self.open.values():
            handle.close()
        self.stream.close()
        self.raw.close()
        for files in self.days.values():
            days = sorted(files)
            for index, day in enumerate(days):
                path, last = files[day]
                if day == days[-1]:
                    target = path.with_name("audit.log")
                else:
                    # dateext: the date the file was rotated, the day after its events
                    rotated = time.strftime("%Y%m%d", time.gmtime(start + (day + 1) * 86400))
                    target = path.with_name("audit.log-" + rotated)
                    if index < len(days) - 2:  # delaycompress: the newest rotation stays plain
                        with open(path, "rb") as plain, \
                                gzip.open(str(target) + ".gz", "wb", compresslevel=6) as packed:
                            shutil.copyfileobj(plain, packed)
                        path.unlink()
                        path = target = Path(str(target) + ".gz")
                path.rename(target)
                os.utime(target, (last, last))


def build(args, directory, templates):
    """Fill the store and write the slice; what the build measured."""
    rules = Ruleset.load()
    # the shipped rules' levels, decided once per recorded event
    kinds = {name: [(lines, classify(event, rules.rules)) for lines, event in found]
             for name, found in templates.items()}
    # each recording is a session of its own
    recorded_sessions = {name: recorded_session(found) for name, found in templates.items()}
    end = int(time.time() // 86400) * 86400
    start = end - args.days * 86400
    step = (end - start) / float(args.events)
    store = SqliteStore(str(directory / "events.db"), max_age_days=0, max_bytes=0)
    writer = SliceWriter(directory)
    rng = random.Random(20261205)
    offsets = dict.fromkeys(kinds, 0)
    names = sorted(kinds)
    sample = {}
    sessions = []
    ingest_seconds = ingest_cpu = tail_seconds = known_seconds = 0.0
    tail_from = args.events - max(args.events // 10, BATCH_EVENTS)
    tail_events = 0
    already = 0
    batch = []
    serial = 0
    blocks = (args.events + args.block - 1) // args.block
    session_every = max(1, blocks // max(1, args.rounds))
    for block in range(blocks):
        kind = names[rng.randrange(len(names))]
        host = rng.randrange(args.hosts)
        user = rng.randrange(args.users)
        session = SESSION_BASE + block
        if block % session_every == session_every // 2:
            sessions.append((host_name(host), session))
        recorded, recorded_ses = kinds[kind], recorded_sessions[kind]
        for _index in range(min(args.block, args.events - serial)):
            lines, template = recorded[offsets[kind] % len(recorded)]
            offsets[kind] += 1
            replica = Replica(host_name(host), host_address(host), user_name(user),
                              10000 + user, session, round(start + serial * step, 3),
                              serial + 1)
            event = replayed_event(template, replica, recorded_ses)
            if serial % args.slice == 0:
                writer.add(replayed_records(lines, replica, recorded_ses), replica,
                           int((replica.epoch - start) // 86400))
                if (serial // args.slice) % SAMPLE_EVERY == 0:
                    sample[(replica.address, replica.serial)] = event
            serial += 1
            batch.append(event)
            if len(batch) >= BATCH_EVENTS or serial == args.events:
                began, began_cpu = time.perf_counter(), time.process_time()
                known = store.known(batch)
                known_seconds += time.perf_counter() - began
                for position, stored_event in enumerate(batch):
                    if position not in known:
                        store.add(stored_event, stored_event["epoch"] + 0.5, rules.fingerprint)
                store.commit(serial)
                spent = time.perf_counter() - began
                ingest_seconds += spent
                ingest_cpu += time.process_time() - began_cpu
                if serial - len(batch) >= tail_from:
                    tail_seconds += spent
                    tail_events += len(batch)
                already += len(known)
                batch = []
        if block % 2000 == 1999:
            print("  built %d of %d events (%.0f events/s into the store so far)" % (
                serial, args.events, serial / max(ingest_seconds, 1e-9)),
                file=sys.stderr, flush=True)
    store.close()
    writer.close(start)
    mismatches, complete_only = check_slice(directory, sample, rules)
    return {"format": DATA_FORMAT, "built": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "events": args.events, "start": start, "end": end,
            "ingest_seconds": ingest_seconds, "ingest_cpu": ingest_cpu,
            "known_seconds": known_seconds,
            "tail_events": tail_events, "tail_seconds": tail_seconds,
            "already_stored": already, "sessions": sessions,
            "templates": {name: len(found) for name, found in kinds.items()},
            "sample": len(sample), "sample_mismatches": mismatches,
            "sample_complete_only": complete_only,
            "machine": machine_line("SQLite " + sqlite3.sqlite_version)}


def check_slice(directory, sample, rules):
    """The slice's events read back from its files by the event library, against the events
    the store was given: the differences found (a list of text), and how many differed in
    ``complete`` alone (the first events of a file, read before its sender's first PROCTITLE
    record: the scan reads each file with an assembler of its own)."""
    problems = []
    seen = complete_only = 0
    for event in classified_events(log_files(str(directory / "remote")), rules.rules):
        expected = sample.get((event["address"], event["serial"]))
        if expected is None:
            continue
        seen += 1
        wrong = sorted(key for key in set(expected) | set(event)
                       if expected.get(key) != event.get(key))
        if wrong == ["complete"]:
            complete_only += 1
        elif wrong and len(problems) < 5:
            problems.append("%s serial %d: %s" % (event["address"], event["serial"], ", ".join(
                "%s stored %r, read %r" % (key, expected.get(key), event.get(key))
                for key in wrong)))
    if seen != len(sample):
        problems.append("%d sampled events of %d found in the files" % (seen, len(sample)))
    return problems, complete_only


def dataset(args):
    """The cached data of this size and these recordings, built when missing: its directory,
    what the build measured, and the recorded logs."""
    logs = {"session": args.session_log or recorded_log("session", args.recordings, 100),
            "exec": args.exec_log or recorded_log("exec", args.recordings, 300)}
    digest = hashlib.sha256()
    for name in sorted(logs):
        digest.update(Path(logs[name]).read_bytes())
    shape = "events%d-h%d-u%d-d%d-b%d-s%d-r%d-f%s-%s" % (
        args.events, args.hosts, args.users, args.days, args.block, args.slice, args.rounds,
        DATA_FORMAT, digest.hexdigest()[:12])
    directory = Path(args.cache_dir) / shape
    if (directory / "build.json").is_file():
        return directory, json.loads((directory / "build.json").read_text()), logs
    partial = directory.with_name(directory.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    templates = {name: recorded_events(path) for name, path in logs.items()}
    print("building %d events into %s (once; reruns use it)" % (args.events, directory),
          file=sys.stderr, flush=True)
    measured = build(args, partial, templates)
    (partial / "build.json").write_text(json.dumps(measured, indent=1))
    partial.rename(directory)
    return directory, measured, logs


# ---------------------------------------------------------------- ClickHouse

def process_cpu(pid):
    """CPU seconds (user + system) that process ``pid`` has used so far."""
    with open("/proc/%d/stat" % pid) as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / float(os.sysconf("SC_CLK_TCK"))


def clickhouse_events(url):
    rows = ClickHouseHttp(url, "system").all(
        "SELECT count() FROM system.tables WHERE database = '%s' AND name = 'events'"
        % CLICKHOUSE_DATABASE)
    if not int(rows[0][0]):
        return 0
    return int(ClickHouseHttp(url, CLICKHOUSE_DATABASE).all("SELECT count() FROM events")[0][0])


def timed_put(store, batch, fingerprint, measured):
    """``batch`` (``(arrived, event)`` pairs) into ``store`` as the processor puts it there
    (``known``, ``add``, ``commit``), its times added to ``measured``."""
    began, began_cpu = time.perf_counter(), time.process_time()
    events = [event for _arrived, event in batch]
    known = store.known(events)
    measured["known_seconds"] += time.perf_counter() - began
    for position, (arrived, event) in enumerate(batch):
        if position not in known:
            store.add(event, arrived, fingerprint)
    measured["events"] += len(batch)
    store.commit(measured["events"])
    measured["ingest_seconds"] += time.perf_counter() - began
    measured["ingest_cpu"] += time.process_time() - began_cpu
    measured["already_stored"] += len(known)


def ingest_beside(directory, events, fingerprint, after, passes=3):
    """What :func:`timed_put` measures for ``events`` put into a copy of the store at its full
    size, in this run, as if they came after the store's newest (``after``): in their order,
    a quarter of a second apart, with serials no stored event has.  The copy is removed after.
    The events go in ``passes`` times and the last pass is measured: the first ones warm the
    cache that a running processor keeps warm.  The copy is synced to the disk before them."""
    work = Path(tempfile.mkdtemp(prefix="ingest-", dir=str(directory)))
    try:
        for path in directory.glob("events.db*"):
            shutil.copyfile(str(path), str(work / path.name))
        # the copy's gigabytes on the disk first: their writing back is not the passes' work
        os.sync()
        store = SqliteStore(str(work / "events.db"), max_age_days=0, max_bytes=0)
        for number in range(1, passes + 1):
            measured = {"events": 0, "ingest_seconds": 0.0, "ingest_cpu": 0.0,
                        "known_seconds": 0.0, "already_stored": 0}
            for start in range(0, len(events), BATCH_EVENTS):
                batch = []
                for event in events[start:start + BATCH_EVENTS]:
                    after += 0.25
                    serial = (event.get("serial") or 0) + (number << 40)
                    batch.append((after + 0.5, dict(event, epoch=after, serial=serial)))
                timed_put(store, batch, fingerprint, measured)
        store.close()
        return measured
    finally:
        shutil.rmtree(str(work), ignore_errors=True)


def fill_clickhouse(url, directory, server_pid):
    """The SQLite store's events put into a new ClickHouse store as the processor puts them
    there; what that measured."""
    ClickHouseHttp(url, "system").execute("DROP DATABASE IF EXISTS %s" % CLICKHOUSE_DATABASE)
    create_schema(read_store_settings({"backend": "clickhouse", "url": url,
                                       "database": CLICKHOUSE_DATABASE}))
    target = ClickHouseStore(url, CLICKHOUSE_DATABASE, writer="benchmark", max_age_days=0,
                             timeout=300.0)
    source = SqliteStore(str(directory / "events.db"), readonly=True)
    fingerprint = Ruleset.load().fingerprint
    measured = {"events": 0, "ingest_seconds": 0.0, "ingest_cpu": 0.0, "known_seconds": 0.0,
                "already_stored": 0}
    server_before = process_cpu(server_pid) if server_pid else None

    def put(batch):
        timed_put(target, batch, fingerprint, measured)

    batch = []
    for stored_event in source.stored_events():
        batch.append(stored_event)
        if len(batch) >= BATCH_EVENTS:
            put(batch)
            batch = []
            if measured["events"] % 1000000 == 0:
                print("  ClickHouse: %d events stored (%.0f events/s)" % (
                    measured["events"], measured["events"] / measured["ingest_seconds"]),
                    file=sys.stderr, flush=True)
    if batch:
        put(batch)
    source.close()
    target.close()
    if server_pid:
        measured["server_cpu"] = process_cpu(server_pid) - server_before
    measured["built"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    return measured


def clickhouse_dataset(args, directory, events):
    """ClickHouse holding the dataset's events (filled when it does not): the server
    started here (None with --clickhouse-url), its URL, and what the fill measured."""
    server = None
    url = args.clickhouse_url
    if url is None:
        server = ClickHouseServer(directory / "clickhouse")
        url = server.url
    record = directory / "clickhouse.json"
    fills = json.loads(record.read_text()) if record.is_file() else {}
    where = args.clickhouse_url or "local"
    if where not in fills or clickhouse_events(url) != events:
        print("filling ClickHouse at %s with the %d events (once; reruns use it)" % (url, events),
              file=sys.stderr, flush=True)
        fills[where] = fill_clickhouse(url, directory, server and server.process.pid)
        record.write_text(json.dumps(fills, indent=1))
    http = ClickHouseHttp(url, "system")
    version = http.all("SELECT version()")[0][0]
    parts = http.all("SELECT count(), sum(rows), sum(bytes_on_disk) FROM system.parts WHERE "
                     "active AND database = '%s' AND table = 'events'" % CLICKHOUSE_DATABASE)[0]
    return server, url, dict(fills[where], version=version, parts=int(parts[0]),
                             bytes=int(parts[2]))


def ask_clickhouse(url, ruleset, filters, count_limit):
    began = time.perf_counter()
    store = ClickHouseStore(url, CLICKHOUSE_DATABASE, readonly=True, timeout=300.0)
    try:
        _events, counts = store.find(EventFilter(**filters), ruleset, LIMIT, count_limit)
    finally:
        store.close()
    return time.perf_counter() - began, signed_matched(counts)


# ---------------------------------------------------------------- measuring

def processor_rate(stream_path, limit_lines=200000):
    """Events/s and events per CPU second of reading the stream as the processor does (one
    line at a time into its assembler) and classifying each event, and those events."""
    rules = Ruleset.load().rules
    with open(stream_path, "rb") as stream:
        lines = []
        for raw in stream:
            lines.append(raw.decode("utf-8", "replace").rstrip("\r\n"))
            if len(lines) >= limit_lines:
                break
    assembler = EventAssembler()
    events = []
    began, began_cpu = time.perf_counter(), time.process_time()
    for line in lines:
        for event in assembler.feed_lines((line,)):
            events.append(classify(event, rules))
    for event in assembler.flush():
        events.append(classify(event, rules))
    return (len(events) / (time.perf_counter() - began),
            len(events) / (time.process_time() - began_cpu), events)


def questions(args, measured, templates):
    """Each question: its name, its count_limit, its filters for each round, and ausearch's
    arguments (None where ausearch cannot ask it)."""
    end = measured["end"]
    since = end - 7 * 86400
    spread = [int((index + 0.5) * args.users / args.rounds) % args.users
              for index in range(args.rounds)]
    hosts = [int((index + 0.5) * args.hosts / args.rounds) % args.hosts
             for index in range(args.rounds)]
    rare, common = search_terms(templates, args.rounds)
    ts = ["-ts"] + time.strftime("%m/%d/%y %H:%M:%S", time.gmtime(since)).split() + \
        ["-te"] + time.strftime("%m/%d/%y %H:%M:%S", time.gmtime(end)).split()
    common = [({"search": term}, ["-f", term] if term.startswith("/") else None)
              for term in common]
    week = [(dict(filters, since=since), arguments and arguments + ts)
            for filters, arguments in common]
    return [
        ("one user, 7 days", COUNT_LIMIT,
         [({"user": user_name(user), "since": since}, ["-ua", str(10000 + user)] + ts)
          for user in spread]),
        ("one host, high", COUNT_LIMIT,
         [({"host": host_name(host), "min_level": "high"}, ["--node", host_name(host)])
          for host in hosts]),
        ("text search, rare", COUNT_LIMIT, [({"search": term}, None) for term in rare]),
        ("text search, common", COUNT_LIMIT, common),
        (FULL_COUNT, 0, common),
        ("rare, 7 days", COUNT_LIMIT,
         [({"search": term, "since": since}, None) for term in rare]),
        ("common, 7 days", COUNT_LIMIT, week),
        ("one session", COUNT_LIMIT,
         [({"host": host, "session": session}, ["--node", host, "--session", str(session)])
          for host, session in measured["sessions"][:args.rounds]]),
    ]


def search_terms(templates, rounds):
    """Words to search for: ``rounds`` found in few recorded events (as a search finds them:
    inside longer words too), and paths found in many (from 2 to 10 of a hundred events); the
    rounds use them in turn."""
    texts = [searchable_text(event).lower() for found in templates.values()
             for _lines, event in found]
    counts = collections.Counter()
    for text in texts:
        counts.update(set(word for word in re.split(r"[\s=]+", text) if len(word) >= 5))
    total = float(len(texts))
    few = max(1, total * 0.002)
    rare = sorted(word for word, count in counts.items() if count <= few)
    paths = [word for word in counts if word.startswith("/")]
    common = sorted((word for word in paths if 0.02 <= counts[word] / total <= 0.10),
                    key=lambda word: -counts[word]) or \
        sorted(paths, key=lambda word: abs(counts[word] / total - 0.05))[:1]
    if not rare or not common:
        raise SystemExit("the recorded logs hold no word for a text search")
    # a search finds a word inside longer ones too: a rare word is one few texts hold at all
    pick = []
    for index in range(rounds):
        for word in rare[int((index + 0.5) * len(rare) / rounds):]:
            if word not in pick and sum(word in text for text in texts) <= few:
                pick.append(word)
                break
    if len(pick) < rounds:
        raise SystemExit("the recorded logs hold too few rare words for %d rounds" % rounds)
    return pick, [common[index % len(common)] for index in range(rounds)]


def warm_page_cache(database):
    """Read the store's files once, as a log server whose store fits its memory holds them:
    the gigabytes read, the seconds, and the machine's memory in gigabytes."""
    began, read = time.perf_counter(), 0
    for path in (database, Path(str(database) + "-wal")):
        if path.exists():
            with open(path, "rb") as stream:
                block = stream.read(1 << 20)
                while block:
                    read += len(block)
                    block = stream.read(1 << 20)
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return read / 1e9, time.perf_counter() - began, memory / 1e9


def ask_store(path, ruleset, filters, count_limit):
    """Seconds, and the events matched (see :func:`signed_matched`)."""
    began = time.perf_counter()
    store = SqliteStore(str(path), readonly=True)
    try:
        _events, counts = store.find(EventFilter(**filters), ruleset, LIMIT, count_limit)
    finally:
        store.close()
    return time.perf_counter() - began, signed_matched(counts)


def signed_matched(counts):
    """The events matched as audit_report counts them, negative when more matched (counting
    stopped at count_limit)."""
    return -counts["matched"] if counts["count_stopped"] else counts["matched"]


def scan_files(remote, ruleset, filters):
    began = time.perf_counter()
    _events, counts = build_report(log_files(str(remote)), ruleset.rules, EventFilter(**filters),
                                   limit=LIMIT)
    return time.perf_counter() - began, counts["matched"]


def run_ausearch(raw_log, arguments):
    began = time.perf_counter()
    subprocess.run([shutil.which("ausearch") or "/sbin/ausearch", "-i", "-if", str(raw_log)]
                   + arguments, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   env=dict(os.environ, LC_ALL="C", TZ="UTC"), check=False)
    return time.perf_counter() - began


def figures(times):
    return statistics.median(times) * 1000.0, max(times) * 1000.0


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n", maxsplit=1)[0])
    parser.add_argument("--events", type=int, default=10000000)
    parser.add_argument("--cache-dir", type=Path,
                        default=Path(tempfile.gettempdir()) / "whotouched-event-store-bench")
    parser.add_argument("--hosts", type=int, default=50)
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--block", type=int, default=100, help="events of one login session")
    parser.add_argument("--slice", type=int, default=50,
                        help="every Nth event goes to the files the scan and ausearch read")
    parser.add_argument("--rounds", type=int, default=7, help="store questions per kind")
    parser.add_argument("--scan-rounds", type=int, default=3,
                        help="scans and ausearch runs per kind (the first rounds' values)")
    parser.add_argument("--recordings", type=Path, default=RECORDINGS,
                        help="where the recorded logs are kept (recorded there when missing)")
    parser.add_argument("--session-log", help="a recorded session log instead")
    parser.add_argument("--exec-log", help="a recorded exec-heavy log instead")
    parser.add_argument("--clickhouse-url",
                        help="a ClickHouse (HTTP) to fill and ask instead of starting Debian's "
                        "clickhouse-server here (its database %s is replaced)"
                        % CLICKHOUSE_DATABASE)
    parser.add_argument("--no-clickhouse", action="store_true",
                        help="SQLite alone, without the ClickHouse backend beside it")
    args = parser.parse_args()
    if not 1 <= args.hosts <= 750 or args.events < args.block or args.slice < 1:
        parser.error("--hosts from 1 to 750, --events at least --block, --slice 1 or more")
    if not args.no_clickhouse and not args.clickhouse_url and \
            not os.access(CLICKHOUSE_SERVER, os.X_OK):
        parser.error("no %s: install Debian's clickhouse-server (scripts/host-packages.sh), "
                     "give --clickhouse-url, or --no-clickhouse" % CLICKHOUSE_SERVER)
    directory, measured, logs = dataset(args)
    server = None
    try:
        clickhouse = None
        if not args.no_clickhouse:
            server, url, clickhouse = clickhouse_dataset(args, directory, measured["events"])
            clickhouse["url"] = url
        report(args, directory, measured, logs, clickhouse)
    finally:
        if server is not None:
            server.stop()


def report(args, directory, measured, logs, clickhouse):
    """Ask the questions and print every figure; ``clickhouse``: what
    :func:`clickhouse_dataset` gave, or None."""
    templates = {name: recorded_events(path) for name, path in logs.items()}
    ruleset = Ruleset.load()
    wall_rate, cpu_rate, parsed = processor_rate(directory / "stream.log")
    print(machine_line("SQLite " + sqlite3.sqlite_version))
    print("data: %d events from %s, the records the client's default noise filters pass "
          "(%s recorded events), replayed in blocks of %d (one login session each) on %d "
          "hosts by %d users over %d days; built %s" % (
              measured["events"], " and ".join(
                  "%s (%s)" % (Path(path).name, name) for name, path in sorted(logs.items())),
              " + ".join("%d %s" % (count, name) for name, count in
                         sorted(measured["templates"].items())),
              args.block, args.hosts, args.users, args.days, measured["built"]))
    if measured["sample_mismatches"]:
        print("SLICE CHECK FAILED: the files do not hold the events stored: "
              + "; ".join(measured["sample_mismatches"]))
    else:
        print("slice check: %d sampled events read back from the files equal the stored ones "
              "(%d of them but for complete: read first in a file, before its sender's first "
              "PROCTITLE)" % (measured["sample"], measured["sample_complete_only"]))
    database = directory / "events.db"
    size = sum(path.stat().st_size for path in directory.glob("events.db*"))
    print("store size: %.2f GB on disk, %.0f bytes per event" % (size / 1e9,
                                                                 size / float(measured["events"])))
    ingest = measured["events"] / measured["ingest_seconds"]
    print("ingest (known + add + commit every %d events, as the processor): %.0f events/s, "
          "%.0f events per CPU s (known: %.0f%% of the time); the last %d events: %.0f "
          "events/s (measured at the build)" % (
              BATCH_EVENTS, ingest, measured["events"] / measured["ingest_cpu"],
              100.0 * measured["known_seconds"] / measured["ingest_seconds"],
              measured["tail_events"],
              measured["tail_events"] / max(measured["tail_seconds"], 1e-9)))
    if measured["already_stored"]:
        print("WRONG: known() said %d new events were stored already" % measured["already_stored"])
    if clickhouse:
        print("ClickHouse %s: %.2f GB on disk (%d active parts), %.0f bytes per event; "
              "ingest (known + add + commit every %d events): %.0f events/s, %.0f events per "
              "CPU s of this process%s (filled %s)" % (
                  clickhouse["version"], clickhouse["bytes"] / 1e9, clickhouse["parts"],
                  clickhouse["bytes"] / float(measured["events"]), BATCH_EVENTS,
                  clickhouse["events"] / clickhouse["ingest_seconds"],
                  clickhouse["events"] / clickhouse["ingest_cpu"],
                  ", %.0f per CPU s of this process and the server together" % (
                      clickhouse["events"] / (clickhouse["ingest_cpu"]
                                              + clickhouse["server_cpu"]))
                  if "server_cpu" in clickhouse else "", clickhouse["built"]))
        if clickhouse["already_stored"]:
            print("WRONG: ClickHouse's known() said %d new events were stored already"
                  % clickhouse["already_stored"])
    print("processor's parse + classify of the stored stream (this run): %.0f events/s, "
          "%.0f events per CPU s" % (wall_rate, cpu_rate))
    print("the store read once into the page cache before the questions (%.1f GB in %.0f s; "
          "this machine has %.0f GB of memory)" % warm_page_cache(database))
    # what this process holds (the recorded and parsed events) is left out of Python's
    # collections, which would walk it for the garbage of each question: audit_report's
    # process holds none of it
    gc.collect()
    gc.freeze()
    print("questions: store over all %d events (limit %d, median/worst of %d); scan "
          "(build_report over the files) and ausearch -i over every %dth event, times x%d "
          "(median/worst of %d)" % (measured["events"], LIMIT, args.rounds, args.slice,
                                    args.slice, args.scan_rounds))
    header = "%-20s %9s %17s %9s %17s %17s %9s" % (
        "question", "matched", "store ms med/max", "scan x", "scan s med/max",
        "ausearch s med/max", "speedup")
    if clickhouse:
        header += " %20s" % "ClickHouse ms med/max"
    print(header)
    missed, disagree = [], []
    scanned = {}
    for name, count_limit, rounds in questions(args, measured, templates):
        store_times, matched, clickhouse_times = [], [], []
        for filters, _arguments in rounds:
            seconds, count = ask_store(database, ruleset, filters, count_limit)
            store_times.append(seconds)
            matched.append(count)
            if clickhouse:
                seconds, other = ask_clickhouse(clickhouse["url"], ruleset, filters,
                                                count_limit)
                clickhouse_times.append(seconds)
                if other != count:
                    disagree.append("%s %r: SQLite %d, ClickHouse %d" % (name, filters, count,
                                                                         other))
        # the scan counts every match whatever count_limit says: one scan for both
        key = json.dumps([filters for filters, _arguments in rounds[:args.scan_rounds]])
        if key not in scanned:
            scan_times, ausearch_times = [], []
            for filters, arguments in rounds[:args.scan_rounds]:
                scan_times.append(scan_files(directory / "remote", ruleset, filters)[0]
                                  * args.slice)
                if arguments is not None:
                    ausearch_times.append(run_ausearch(directory / "audit.raw.log", arguments)
                                          * args.slice)
            scanned[key] = scan_times, ausearch_times
        scan_times, ausearch_times = scanned[key]
        store_median, store_worst = figures(store_times)
        scan_median, scan_worst = figures(scan_times)
        speedup = scan_median / store_median
        middle = statistics.median_low(matched)
        print("%-20s %9s %8.1f/%-8.1f %9d %8.1f/%-8.1f %17s %8.0fx" % (
            name, "%d+" % -middle if middle < 0 else middle, store_median, store_worst,
            args.slice,
            scan_median / 1000.0, scan_worst / 1000.0,
            "%8.1f/%-8.1f" % tuple(value / 1000.0 for value in figures(ausearch_times))
            if ausearch_times else "(cannot ask)", speedup)
            + (" %11.1f/%-8.1f" % figures(clickhouse_times) if clickhouse else ""))
        if name == FULL_COUNT:
            continue
        if store_worst >= GOAL_MS:
            missed.append("%s: worst %.0f ms >= %.0f ms" % (name, store_worst, GOAL_MS))
        if speedup < GOAL_SPEEDUP:
            missed.append("%s: %.0fx < %.0fx the scan" % (name, speedup, GOAL_SPEEDUP))
    print("goals: every question under %.0f ms at %d events, >= %.0fx faster than the scan: %s"
          % (GOAL_MS, measured["events"], GOAL_SPEEDUP,
             "MET" if not missed else "MISSED (%s)" % "; ".join(missed)))
    print("(ausearch: one host has no risk level in ausearch, so it gives the whole host; the "
          "common search is ausearch -f on the path, which matches PATH records only)")
    print("(matched N+: more than N, counting stopped at count_limit %d, audit_report's "
          "default; '%s': the common search with count_limit 0, not held to the goals)"
          % (COUNT_LIMIT, FULL_COUNT.strip()))
    if clickhouse:
        print("ClickHouse and SQLite matched the same events: %s" % (
            "yes, every question" if not disagree else "NO: " + "; ".join(disagree)))
    # last: writing the copy of the store pushes the store's own pages out of the page cache
    beside = ingest_beside(directory, parsed, ruleset.fingerprint, measured["end"])
    ingest_wall = beside["events"] / beside["ingest_seconds"]
    ingest_cpu = beside["events"] / beside["ingest_cpu"]
    print("ingest of those events, as if they came next (the third time, the cache warm), into "
          "a copy of the store of %d events (this run, as the processor: known + add + commit "
          "every %d): %.0f events/s, %.0f events per CPU s (known: %.0f%% of the time)" % (
              measured["events"], BATCH_EVENTS, ingest_wall, ingest_cpu,
              100.0 * beside["known_seconds"] / beside["ingest_seconds"]))
    if beside["already_stored"]:
        print("WRONG: known() said %d new events were stored already" % beside["already_stored"])
    print("ingest / parse+classify, per CPU s: %.2f (goal >= 1: ingest never the bottleneck) "
          "%s; per wall second: %.2f" % (ingest_cpu / cpu_rate,
                                         "MET" if ingest_cpu >= cpu_rate else "MISSED",
                                         ingest_wall / wall_rate))


if __name__ == "__main__":
    main()
