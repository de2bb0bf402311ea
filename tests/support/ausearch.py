"""ausearch, the audit userspace's own reader, as the reference for the event library.

``ausearch -i`` and the event library read the same file; each event is reduced to the same
facts (time, serial, record types, command line, auid and uid as numbers, session,
terminal, executable, working directory, success, keys, syscall, account, paths with their
name types) and the two are compared event by event.  Differences that are the library's by
design are listed, each with its reason, in ``ausearch_differences.yml`` beside this file.

ausearch runs once per file, with ``--escape shell`` so that a value never holds a bare
blank, and in UTC.  ``-i`` names uids from this machine's users (or from the log's own
ENRICHED names): the numbers are read from the uninterpreted record ausearch shows.
"""

from __future__ import annotations

import calendar
import os
import pwd
import re
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from ansible_collections.whotouched.server_audit.plugins.module_utils._events.assembler import (
    EventAssembler,
    iter_events,
    iter_lines,
)

AUSEARCH = shutil.which("ausearch") or "/sbin/ausearch"
ALLOWED_DIFFERENCES = Path(__file__).with_name("ausearch_differences.yml")
UNSET = 4294967295

# A record as ausearch -i prints it; the stamp in local time (UTC here), no colon after it
# for the oldest DAEMON records.
_SHOWN = re.compile(r"(?:node=(?P<node>\S+) )?type=(?P<type>\S+) msg=audit\((?P<date>\d\d/\d\d/\d\d "
                    r"\d\d:\d\d:\d\d)\.(?P<millis>\d{3}):(?P<serial>\d+)\) ?:? ?(?P<body>.*)")
# A record as it is in the log (the stamp's own digits).
_RAW = re.compile(r"(?:node=(?P<node>\S+) )?type=(?P<type>\S+) msg=audit\((?P<stamp>\d+\.\d+:\d+)\)"
                  r":? ?(?P<body>.*)")
_OCTAL = re.compile(r"[0-7]{3}")
_UNKNOWN = re.compile(r"unknown\((-?\d+)\)")


def ausearch_version():
    """``ausearch -v``'s version, or None when ausearch is not installed."""
    if not os.path.exists(AUSEARCH):
        return None
    shown = subprocess.run([AUSEARCH, "-v"], capture_output=True, text=True, check=False)
    return shown.stdout.split()[-1] if shown.stdout.strip() else None


def run_ausearch(path):
    """``ausearch -i`` of one log file, values shell-escaped, times in UTC."""
    shown = subprocess.run(
        [AUSEARCH, "-i", "--escape", "shell", "-if", str(path)], capture_output=True,
        check=False, env={"TZ": "UTC", "LC_ALL": "C", "PATH": os.environ.get("PATH", "")})
    # ausearch exits 1 and prints "<no matches>" (on stderr) for a file without events
    return shown.stdout.decode("utf-8", "backslashreplace")


def _unescape_tokens(text):
    """The blank-separated tokens of shell-escaped text, unescaped (``\\ ``, ``\\"``,
    ``\\011``)."""
    tokens = []
    current = []
    index = 0
    while index < len(text):
        char = text[index]
        if char == "\\" and index + 1 < len(text):
            if _OCTAL.match(text, index + 1):
                current.append(chr(int(text[index + 1:index + 4], 8)))
                index += 4
                continue
            current.append(text[index + 1])
            index += 2
            continue
        if char == " ":
            if current:
                tokens.append("".join(current))
            current = []
        else:
            current.append(char)
        index += 1
    if current:
        tokens.append("".join(current))
    return tokens


def _fields(text):
    """``{name: [values]}`` of the ``name=value`` tokens of shell-escaped text."""
    found = {}
    for token in _unescape_tokens(text):
        name, equals, value = token.partition("=")
        if equals and name:
            found.setdefault(name, []).append(value)
    return found


@dataclass
class ShownRecord:
    """One record of an event as ausearch -i shows it."""

    type: str
    node: str | None
    # seconds.millis:serial, as in the log
    stamp: str
    # ISO 8601 UTC, as the event library writes an event's time
    time: str
    fields: dict
    # The fields of a user-space record's msg='...', apart from the record's own.
    inner: dict

    def get(self, name, inner=False):
        values = (self.inner if inner else self.fields).get(name)
        return values[0] if values else None


def _shown_record(match):
    body = match.group("body")
    # ausearch ends each record with a blank; one that ends a value is escaped ("\ ")
    body = body[:-1] if body.endswith(" ") and not body.endswith("\\ ") else body
    inner = ""
    message = re.search(r"(?:^| )msg='", body)
    if message is not None:
        end = body.rfind("\\'")
        end = end if end > message.start() else len(body)
        inner = body[message.end():end]
        body = body[:message.start()] + body[end + 2:]
    moment = time.strptime(match.group("date"), "%m/%d/%y %H:%M:%S")
    stamp = "%d.%s:%s" % (calendar.timegm(moment), match.group("millis"), match.group("serial"))
    iso = "%s.%sZ" % (time.strftime("%Y-%m-%dT%H:%M:%S", moment), match.group("millis"))
    return ShownRecord(match.group("type"), match.group("node"), stamp, iso, _fields(body),
                       _fields(inner))


def parse_ausearch(text):
    """The events of ausearch -i's output: lists of :class:`ShownRecord`."""
    events = []
    for line in text.split("\n"):
        if line == "----":
            events.append([])
            continue
        match = _SHOWN.match(line)
        if match is not None and events:
            events[-1].append(_shown_record(match))
    return [event for event in events if event]


def raw_records(path):
    """``{(node, stamp, type): [body, ...]}`` of a log file's records, in file order."""
    found = {}
    with open(path, "rb") as stream:
        for line in stream.read().decode("utf-8", "replace").split("\n"):
            match = _RAW.match(line)
            if match is not None:
                found.setdefault((match.group("node"), match.group("stamp"), match.group("type")),
                                 []).append(match.group("body"))
    return found


def _raw_value(body, name):
    """A field's value as logged, outside the msg='...' and before the ENRICHED names."""
    head = re.split(r"\x1d| msg='", body, maxsplit=1)[0]
    match = re.search(r"(?:^| )%s=(\S*)" % re.escape(name), head)
    return match.group(1) if match else None


def _enriched_names(body):
    return set(re.findall(r'[A-Z-]+="([^"]*)"', body.partition("\x1d")[2]))


def _number(record, name, raw, users):
    """A uid field of ``record`` as a number, the way ausearch -i shows it or, when it shows a
    name, as logged (checked to be the number that name stands for in ``users``, the machine
    where ausearch ran, or in the record's ENRICHED names)."""
    shown = record.get(name)
    if shown is None:
        return None
    if shown == "unset":
        return UNSET
    unknown = _UNKNOWN.fullmatch(shown)
    if unknown or re.fullmatch(r"-?\d+", shown):
        return int(unknown.group(1) if unknown else shown) & 0xFFFFFFFF
    bodies = raw.get((record.node, record.stamp, record.type)) or [""]
    logged = _raw_value(bodies[0], name)
    if logged is None or not logged.isdigit():
        return shown
    assert shown == users.get(int(logged)) or shown in _enriched_names(bodies[0]), (
        "ausearch shows %s=%s for %s, logged %s" % (name, shown, record.stamp, logged))
    return int(logged)


def normal_terminal(value):
    """One form of a terminal: ``pts/1`` for the kernel's ``pts1``, PAM's ``/dev/pts/1``;
    None for none (``(none)``, quoted or not)."""
    value = value.strip('"') if value else value
    if value in (None, "", "?", "(none)"):
        return None
    if value.startswith("/dev/"):
        value = value[5:]
    match = re.fullmatch(r"pts(\d+)", value)
    return "pts/" + match.group(1) if match else value


def _success(value):
    if value is None:
        return None
    # ausearch's own summary (--format text) counts an old PAM record's "res=success)" a success
    return value.rstrip(")") in ("yes", "success")


def _keystrokes(shown):
    """The printable runs of a TTY record's data, as ausearch -i quotes them."""
    return re.findall(r'"((?:[^"\\]|\\.)*)"', shown or "")


# A key that is no text: a control character, or an escape sequence (an arrow is ESC [ A).
_KEY = re.compile(r"(?:\x1b(?:\[[0-9;]*[A-Za-z~]|O[A-Z])|[\x00-\x1f\x7f])+")


def _runs(text):
    """The runs of text between the keys that are no text, as ausearch quotes them."""
    return [run for run in _KEY.split(text) if run]


def local_users():
    """``{uid: name}`` of this machine's users, as ausearch -i names them here."""
    return {entry.pw_uid: entry.pw_name for entry in pwd.getpwall()}


def users_of_passwd(text):
    """``{uid: name}`` of a passwd file's text (another machine's, where ausearch ran)."""
    users = {}
    for line in text.splitlines():
        fields = line.split(":")
        if len(fields) > 2 and fields[2].isdigit():
            users.setdefault(int(fields[2]), fields[0])
    return users


def ausearch_facts(records, raw, users):
    """The facts of one ausearch event (its records, as ausearch groups them)."""
    by_type = {}
    for record in records:
        by_type.setdefault(record.type, []).append(record)
    who = (by_type.get("SYSCALL") or [None])[0] or next(
        (record for record in records if "auid" in record.fields or "uid" in record.fields
         or ("pid" in record.fields and record.type != "OBJ_PID")), None)
    facts = {"time": records[0].time, "serial": int(records[0].stamp.rpartition(":")[2]),
             "types": sorted(record.type for record in records if record.type != "EOE")}
    if "EXECVE" in by_type:
        arguments = {}
        for record in by_type["EXECVE"]:
            for name, values in record.fields.items():
                if re.fullmatch(r"a\d+", name):
                    arguments[int(name[1:])] = values[0]
                elif re.fullmatch(r"a\d+\[\d+\]", name):
                    index, part = map(int, re.findall(r"\d+", name))
                    arguments.setdefault(index, {})
                    if isinstance(arguments[index], dict):
                        arguments[index][part] = values[0]
        facts["command"] = ("argv", [value if isinstance(value, str) else "".join(
            value[part] for part in sorted(value)) for _index, value in sorted(arguments.items())])
    elif "PROCTITLE" in by_type:
        facts["command"] = ("line", by_type["PROCTITLE"][0].get("proctitle"))
    elif who is not None and who.get("cmd", inner=True) is not None:
        facts["command"] = ("line", who.get("cmd", inner=True))
    elif who is not None and who.type in ("TTY", "USER_TTY"):
        facts["command"] = ("keystrokes", _keystrokes(who.get("data")))
    else:
        facts["command"] = ("argv", [])
    if who is not None:
        facts["auid"] = _number(who, "auid", raw, users)
        facts["uid"] = _number(who, "uid", raw, users)
        session = who.get("ses")
        facts["session"] = None if session in (None, "unset") else int(session)
        facts["terminal"] = normal_terminal(who.get("tty") or who.get("terminal", inner=True))
        exe = who.get("exe") or who.get("exe", inner=True)
        facts["exe"] = None if exe == "(null)" else exe
        facts["success"] = _success(who.get("success") or who.get("res")
                                    or who.get("res", inner=True))
        facts["keys"] = [key for key in who.fields.get("key", []) if key != "(null)"]
        facts["syscall"] = who.get("syscall")
        facts["account"] = who.get("acct", inner=True)
        facts["cwd"] = who.get("cwd", inner=True)
    if "CWD" in by_type:
        facts["cwd"] = by_type["CWD"][0].get("cwd")
    if who is not None and who.type == "SYSCALL" and facts["syscall"] in ("open", "openat") \
            and "PATH" in by_type:
        # what ausearch -i reads in the flags (O_RDONLY|O_NONBLOCK...): reading or writing
        flags = (who.get("a1" if facts["syscall"] == "open" else "a2") or "").split("|")
        facts["access"] = "read" if "O_RDONLY" in flags and "O_TRUNC" not in flags else "write"
    paths = sorted(by_type.get("PATH", ()), key=lambda record: int(record.get("item") or 0))
    facts["paths"] = [(record.get("name"), record.get("nametype") or record.get("objtype"))
                      for record in paths if record.get("name") not in (None, "(null)")]
    return facts


def _merged(events):
    """One event of the events the library gave out for one stamp where ausearch gave out
    another number: who acted from the first that says, the records and paths of all."""
    merged = dict(next((event for event in events if event["kind"] != "fragment"), events[0]))
    merged["record_types"] = [name for event in events for name in event["record_types"]]
    merged["paths"] = [entry for event in events for entry in event["paths"]]
    merged["argv"] = next((event["argv"] for event in events if event["argv"]), [])
    return merged


def our_facts(event, like):
    """The facts of one of our events, for the keys of ``like`` (ausearch's facts)."""
    auid = event["auid"]
    facts = {
        "time": event["time"],
        "serial": event["serial"],
        "types": sorted(event["record_types"]),
        "auid": UNSET if auid is None and event["login_user"] == "unset" else auid,
        "uid": event["uid"],
        "session": event["session"],
        "terminal": event["tty"],
        "exe": event["exe"],
        "success": event["success"],
        "keys": event["keys"],
        "syscall": event["syscall"],
        "account": event["account"],
        "cwd": event["cwd"],
        "paths": [(entry["name"], entry["nametype"]) for entry in event["paths"]],
        "access": "write" if event["operation"] == "create" else event["operation"],
    }
    form = like["command"][0]
    argv = event["argv"]
    if form == "argv":
        facts["command"] = ("argv", argv)
    elif form == "line":
        facts["command"] = ("line", " ".join(argv))
    else:
        facts["command"] = ("keystrokes", [run for text in argv for run in _runs(text)])
    return {name: value for name, value in facts.items() if name in like}


def _event_key(node, stamp):
    return "%s%s" % (node + " " if node else "", stamp)


@dataclass
class FileComparison:
    """What the comparison of one file found."""

    name: str
    records: int = 0
    ausearch_events: int = 0
    our_events: int = 0
    # ours given out incomplete (records missing)
    incomplete: int = 0
    # {"event", "fact", "ausearch", "ours", "record_types"}: the record types the log holds
    # at that stamp, for the allow-list's differences in any log
    differences: list = field(default_factory=list)

    def line(self):
        return ("%-48s records %4d  ausearch events %3d  our events %3d (incomplete %d)  "
                "differences %2d" % (self.name, self.records, self.ausearch_events,
                                     self.our_events, self.incomplete, len(self.differences)))


def our_events(path, **options):
    """The event library's events of a log file, fragments included, and its counts."""
    assembler = EventAssembler(fragments=True, **options)
    with open(path, "rb") as stream:
        events = list(iter_events(iter_lines(stream, assembler.counts), assembler))
    return events, assembler.counts


def compare_file(path, name=None, ausearch_text=None, users=None):
    """Compare ausearch -i and the event library on one file, event by event.

    ausearch runs here, unless ``ausearch_text`` is its output of the same file on another
    machine, whose users (``{uid: name}``) are then ``users``.
    """
    path = Path(path)
    users = local_users() if users is None else users
    raw = raw_records(path)
    shown = parse_ausearch(ausearch_text if ausearch_text is not None else run_ausearch(path))
    ours, counts = our_events(path)
    result = FileComparison(name or path.name, counts["records"], len(shown), len(ours),
                            counts["incomplete"])
    grouped = {}
    for records in shown:
        grouped.setdefault(_event_key(records[0].node, records[0].stamp), []).append(records)
    mine = {}
    for event in ours:
        key = _event_key(event["node"], "%.3f:%d" % (event["epoch"], event["serial"]))
        mine.setdefault(key, []).append(event)
    types_at = {}
    for node, stamp, record_type in raw:
        types_at.setdefault(_event_key(node, stamp), set()).add(record_type)

    def differ(key, fact, theirs, ours):
        result.differences.append({"event": key, "fact": fact, "ausearch": _plain(theirs),
                                   "ours": _plain(ours),
                                   "record_types": sorted(types_at.get(key, ()))})

    for key in sorted(set(grouped) | set(mine)):
        theirs = grouped.get(key, [])
        ours_here = mine.get(key, [])
        if not theirs or not ours_here or len(theirs) != len(ours_here):
            differ(key, "events", len(theirs), len(ours_here))
            if not theirs or not ours_here:
                continue
            # compared as one event on each side
            theirs = [[record for records in theirs for record in records]]
            ours_here = [_merged(ours_here)]
        for records, event in zip(theirs, ours_here):
            expected = ausearch_facts(records, raw, users)
            got = our_facts(event, expected)
            for fact, value in expected.items():
                if got.get(fact) != value:
                    differ(key, fact, value, got.get(fact))
    return result


def _plain(value):
    """A fact as YAML writes it (tuples as lists), to compare with the allow-list."""
    if isinstance(value, (tuple, list)):
        return [_plain(item) for item in value]
    return value


@dataclass
class AllowedDifferences:
    """The allow-list (``ausearch_differences.yml``)."""

    # the ausearch version it was reviewed against
    ausearch_version: str
    # {(file, event, fact): entry} of the corpus's logs
    events: dict
    # differences allowed in any log, at a stamp holding a record of a type
    in_any_log: list


def load_allowed_differences(path=ALLOWED_DIFFERENCES):
    """The allow-list; every entry must give its reason."""
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    events = {}
    for entry in document["differences"] + document["in_any_log"]:
        assert str(entry.get("reason") or "").strip(), "an entry without a reason: %r" % entry
    for entry in document["differences"]:
        key = (entry["file"], str(entry["event"]), entry["fact"])
        assert key not in events, "listed twice: %r" % (key,)
        events[key] = entry
    return AllowedDifferences(str(document["ausearch_version"]), events,
                              document["in_any_log"])


def _same_values(entry, difference):
    return entry.get("ausearch") == difference["ausearch"] and \
        entry.get("ours") == difference["ours"]


def unexplained(comparison, allowed):
    """The differences of one of the corpus's logs that the allow-list does not name with
    these values, and its entries for this log that no difference matched."""
    unmatched = []
    used = set()
    for difference in comparison.differences:
        key = (comparison.name, difference["event"], difference["fact"])
        entry = allowed.events.get(key)
        if entry is not None and _same_values(entry, difference):
            used.add(key)
        else:
            unmatched.append(dict(difference, file=comparison.name))
    stale = [entry for key, entry in allowed.events.items()
             if key[0] == comparison.name and key not in used]
    return unmatched, stale


def unexplained_in_any_log(comparison, allowed):
    """The differences of a log produced by a test that no ``in_any_log`` entry allows."""
    return [dict(difference, file=comparison.name) for difference in comparison.differences
            if not any(entry["fact"] == difference["fact"] and _same_values(entry, difference)
                       and entry["with_record"] in difference["record_types"]
                       for entry in allowed.in_any_log)]
