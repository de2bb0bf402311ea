# -*- coding: utf-8 -*-
# Copyright: whotouched.server_audit contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to whotouched.server_audit: it may change in any release. Do not import it from
# other collections or from code outside this collection.
"""Who did what, told as sessions: the events of one login as a tree of commands.

A :class:`SessionBook` takes classified events one at a time, from wherever they come (the
log files, the event store, the alert processor's stream), and files each under a session:

``login``
    a login session of a sender (its kernel's ``ses=``): the records of the login itself
    (where from: ``addr=``, the terminal, the program that logged the user in), and its
    commands as a tree by parent process.
``processes``
    commands run outside any login session (a daemon, a web server's shell), grouped by the
    process that started them: a web shell's commands read as one story.
``host``
    what a sender reports that belongs to no process: its loss reports, Windows events,
    user-space records of no session (failed logins).

Folded into the command that made them: the PAM records of ``sudo`` and ``su``, the files a
command wrote (by path, or by its watch's key where the client's filters dropped the path),
its other audited calls.  :func:`session_view` gives a session as plain data (every event
kept whole), :func:`session_rows` as lines of a tree (identical failed commands and calls
counted on one line), :func:`format_sessions` as a table for people.

Memory stays bounded whatever arrives: the sessions held, the events held in all of them and
in each one have caps; what goes over a cap is counted, and the sessions least recently
active are let go first (those without a matching event before the others).

Standard library only: this runs on the log server inside the ``audit_report`` module and
the alert processor.
"""

from __future__ import annotations

import collections
import hashlib
import posixpath
import time

from ansible_collections.whotouched.server_audit.plugins.module_utils._events.report import (
    describe,
    sanitize,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._events.risk import (
    LEVEL_RANK,
    LEVELS,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._events.schema import (
    Event,
)

LOGIN = "login"
PROCESSES = "processes"
HOST = "host"

# The records a PAM application (sudo, su, sshd) writes of its own steps.
_PAM_RECORDS = frozenset((
    "USER_AUTH", "USER_ACCT", "CRED_ACQ", "CRED_REFR", "CRED_DISP", "USER_START", "USER_END",
    "USER_CMD", "USER_ROLE_CHANGE", "USER_LOGIN", "USER_LOGOUT", "USER_TTY", "USER_ERR"))
# The login process's records that say its session ended.
_LOGIN_ENDS = frozenset(("USER_END", "USER_LOGOUT"))
# Programs that run a command as another user.  With its own terminal (sudo's use_pty) sudo
# runs the command from a child that is never executed, so never recorded: a command whose
# parent is unknown belongs to the wrapper between its USER_START and its USER_END.
_WRAPPERS = frozenset(("sudo", "sudoedit", "su", "doas", "pkexec", "runuser", "sg", "newgrp"))
# Parent pids that say nothing about who started a process (init, the kernel).
_NO_PARENT = (None, 0, 1)
_MAX_DEPTH = 24
# How long (by the sender's clock) a login's records wait for its session; how many wait in
# all, and for one login.
_WAIT_SECONDS = 30
_MAX_WAITING = 4096
_MAX_WAITING_FOR_ONE = 64


def session_key_id(*parts):
    """A session's id: short, URL-safe, the same wherever its events are read."""
    text = "\x1f".join("" if part is None else str(part) for part in parts)
    return hashlib.sha1(text.encode("utf-8", "surrogateescape")).hexdigest()[:16]


def _record_types(event):
    return event.get("record_types") or ()


def _is_write(event):
    """A file the process wrote, by its path or (the client's filters drop PATH records) by
    the key of the watch that saw it."""
    return event.get("success") is not False and (event.get("kind") == "file" or (
        event.get("kind") == "syscall" and bool(event.get("keys"))))


def _program(event):
    """The base name of the program an event names."""
    argv = event.get("argv") or ()
    return posixpath.basename(event.get("exe") or (argv[0] if argv else "") or "")


class _Node(object):
    """One process of a session (an execution, or a process known by what else it did)."""

    __slots__ = ("event", "pid", "ppid", "children", "pam", "files", "calls", "wrapping",
                 "parent")

    def __init__(self, event, parent):
        self.event = event
        self.pid = event.get("pid")
        self.ppid = event.get("ppid")
        self.children = []
        self.pam = []
        self.files = []
        self.calls = []
        # a wrapper (sudo, su) between its USER_START and USER_END
        self.wrapping = False
        self.parent = parent

    def fold(self, event):
        """Keep ``event``, an event of this process that is no execution, on its line."""
        types = _record_types(event)
        if event.get("kind") == "user" and _PAM_RECORDS.intersection(types):
            self.pam.append(event)
            if _program(self.event) in _WRAPPERS:
                if "USER_START" in types:
                    self.wrapping = True
                elif "USER_END" in types:
                    self.wrapping = False
        elif _is_write(event):
            self.files.append(event)
        else:
            self.calls.append(event)


class _Session(object):
    """The events of one session, their tree, and what is known of the session itself."""

    __slots__ = ("id", "key", "kind", "host", "address", "node", "hostkey", "number", "root_pid",
                 "parent_pid", "first", "last", "end", "roots", "pids", "wrappers", "login",
                 "rank", "reasons", "rules", "counts", "users", "kept", "left_out", "matched",
                 "host_pids")

    def __init__(self, kind, event, hostkey, number=None, root_pid=None, parent_pid=None):
        self.kind = kind
        self.host = event.get("host")
        self.address = event.get("address")
        self.node = hostkey[1]
        self.hostkey = hostkey
        self.number = number
        self.root_pid = root_pid
        self.parent_pid = parent_pid
        self.first = event
        self.last = event
        self.end = None
        sender, node = hostkey
        # the node only when the sender names one: the ids of senders that name none stay
        self.id = session_key_id(kind, sender, number, root_pid, event.get("epoch"),
                                 event.get("serial"), *([node] if node is not None else []))
        self.key = (kind, hostkey, number if kind == LOGIN else None if kind == HOST
                    else self.id)
        self.roots = []
        self.pids = {}
        self.wrappers = []
        self.login = []
        self.rank = 0
        self.reasons = {}
        self.rules = {}
        self.counts = {"events": 0, "commands": 0, "files": 0, "failed": 0, "matched": 0}
        self.users = []
        self.kept = 0
        self.left_out = 0
        self.matched = False
        # pids of this session in the book's map of session-less processes
        self.host_pids = []

    def note(self, event, matched):
        """Count ``event`` in the session's level, reasons, users and counts."""
        counts = self.counts
        counts["events"] += 1
        if matched:
            counts["matched"] += 1
            self.matched = True
        kind = event.get("kind")
        if kind == "exec":
            counts["commands"] += 1
        if event.get("success") is False:
            counts["failed"] += 1
        elif _is_write(event):
            counts["files"] += 1
        level = event.get("level") or "info"
        rank = LEVEL_RANK.get(level, 0)
        if rank > self.rank:
            self.rank = rank
        for reason, rule in zip(event.get("reasons") or (), event.get("rules") or ()):
            if self.reasons.get(reason, -1) < rank:
                self.reasons[reason] = rank
                self.rules[rule] = rank
        user = event.get("user")
        if user and user not in self.users and len(self.users) < 16:
            self.users.append(user)
        if _epoch_of(event) >= _epoch_of(self.last):
            self.last = event
        elif _epoch_of(event) < _epoch_of(self.first):
            self.first = event

    def place(self, event):
        """File ``event`` in the tree: an execution under its parent process, anything else
        on the line of the process that made it."""
        pid = event.get("pid")
        if self.kind == HOST:
            return self._add_node(event, None)
        ppid = event.get("ppid")
        same = self.pids.get(pid) if pid is not None else None
        parent = self.pids.get(ppid) if ppid is not None else None
        if same is not None and parent is not None and parent is not same \
                and _epoch_of(parent.event) > _epoch_of(same.event):
            started_by = _first_program(same).parent
            if started_by is not None and _first_program(parent) is not _first_program(started_by):
                # its parent was recorded after that process, and is not the process that
                # started it: the pid is another process's now
                same = None
        if event.get("kind") == "exec":
            if same is not None and same.event.get("kind") != "exec" and not same.children \
                    and same.ppid == ppid:
                return self._promote(same, event)
            if same is not None and (same.ppid == ppid or ppid in _NO_PARENT):
                parent = same  # the same process executing another program
            elif parent is None:
                parent = self._open_wrapper()
            return self._add_node(event, parent)
        if same is not None and (same.ppid == ppid or ppid in _NO_PARENT
                                 or same.ppid in (None, 0)):
            # the same process (whose parent may have ended since: its parent is init now)
            same.fold(event)
            return same
        types = _record_types(event)
        if self.kind == LOGIN and ("LOGIN" in types or (
                event.get("kind") == "user" and _PAM_RECORDS.intersection(types))):
            # the login's own records: the program that logged the user in
            self.login.append(event)
            if _LOGIN_ENDS.intersection(types):
                self.end = event
            return None
        return self._add_node(event, parent if ppid not in _NO_PARENT else None)

    def _promote(self, node, event):
        """A process known by what else it did (its failed tries to execute a program found
        in the PATH) executes: the execution takes its place, what it did before folded."""
        known = [node.event] + node.pam + node.files + node.calls
        node.event = event
        node.pam, node.files, node.calls = [], [], []
        for earlier in known:
            node.fold(earlier)
        if _program(event) in _WRAPPERS:
            self.wrappers.append(node)
        return node

    def _open_wrapper(self):
        while self.wrappers and not self.wrappers[-1].wrapping:
            self.wrappers.pop()
        return self.wrappers[-1] if self.wrappers else None

    def _add_node(self, event, parent):
        if parent is not None and _depth(parent) >= _MAX_DEPTH:
            parent = parent.parent
        node = _Node(event, parent)
        (parent.children if parent is not None else self.roots).append(node)
        if node.pid is not None:
            self.pids[node.pid] = node
        if event.get("kind") == "exec" and _program(event) in _WRAPPERS:
            self.wrappers.append(node)
            if len(self.wrappers) > 64:
                del self.wrappers[0]
        return node


def _first_program(node):
    """The node of the first program recorded of ``node``'s process (a later program nests
    under the earlier one), or None."""
    while node is not None and node.parent is not None and node.parent.pid == node.pid:
        node = node.parent
    return node


def _depth(node):
    depth = 0
    while node.parent is not None:
        node = node.parent
        depth += 1
    return depth


class SessionBook(object):
    """Sessions built from events, in bounded memory.

    ``add(event, matched)`` files one classified event (``matched``: it passed the reader's
    filters; a session is selected when one of its events did).  At most ``max_sessions``
    sessions and ``max_events`` events are held, at most ``max_session_events`` in one
    session (more are counted in it, not kept).  Past those, the least recently active
    session goes: one without a matching event first, else one of the sending address that
    holds the most sessions (or events, past ``max_events``): a flood from one sender lets
    its own sessions go, not the others'.  ``counts`` says what was let go.
    """

    def __init__(self, max_sessions=5000, max_events=20000, max_session_events=2000):
        for name, value in (("max_sessions", max_sessions), ("max_events", max_events),
                            ("max_session_events", max_session_events)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError("%s must be a whole number of at least 1, got %r"
                                 % (name, value))
        self.max_sessions = max_sessions
        self.max_events = max_events
        self.max_session_events = max_session_events
        # least recently active first; those with a matching event apart
        self._unmatched = collections.OrderedDict()
        self._matched = collections.OrderedDict()
        # each sending address's sessions, least recently active first, and its events kept
        self._of_address = {}
        self._kept_of_address = {}
        self._by_key = {}
        # (sender, pid) of processes outside any login session -> their session
        self._processes = {}
        # (sender, pid) -> [(event, matched)] of a login's records that wait for its session,
        # least recently added to first; each sender's keys in the same order
        self._waiting = collections.OrderedDict()
        self._waiting_of_sender = {}
        self._waiting_records = 0
        self._kept = 0
        self.counts = {"sessions_let_go": 0, "matched_sessions_let_go": 0, "events_let_go": 0,
                       "events_left_out": 0}

    def __len__(self):
        return len(self._unmatched) + len(self._matched)

    def add(self, event: Event, matched=True):
        """File ``event``; its session's id (None for a loss reporter's heartbeat, and for a
        login's record that waits for its session)."""
        kind = event.get("kind")
        # The sender as the assembler tells them apart: hosts behind one relay by their node.
        hostkey = (event.get("address") or event.get("host") or "", event.get("node"))
        self._release_waited(hostkey, event.get("epoch"))
        if kind == "health":
            return None
        number = event.get("session")
        if number is None and kind == "user" and event.get("pid") is not None \
                and _PAM_RECORDS.intersection(_record_types(event)):
            # sshd's records before the kernel gives the login its session: they wait for it
            self._wait(hostkey, event, matched)
            return None
        if kind in ("loss", "windows") or (number is None and (
                kind == "user" or event.get("pid") is None)):
            session = self._host_session(event, hostkey)
        elif number is not None:
            session = self._login_session(event, hostkey, number)
        else:
            session = self._process_session(event, hostkey)
        self._file(session, event, matched)
        return session.id

    def _file(self, session, event, matched):
        session.note(event, matched)
        if session.kept >= self.max_session_events:
            session.left_out += 1
            self.counts["events_left_out"] += 1
        else:
            session.kept += 1
            self._kept += 1
            address = session.hostkey[0]
            self._kept_of_address[address] = self._kept_of_address.get(address, 0) + 1
            session.place(event)
            if session.kind == PROCESSES:
                self._note_process(session, event, session.hostkey)
        self._touch(session)

    def _wait(self, hostkey, event, matched):
        key = (hostkey, event["pid"])
        records = self._waiting.get(key)
        if records is None:
            records = self._waiting[key] = []
            self._waiting_of_sender.setdefault(hostkey, collections.OrderedDict())[key] = None
        else:
            self._waiting.move_to_end(key)
            self._waiting_of_sender[hostkey].move_to_end(key)
        records.append((event, matched))
        self._waiting_records += 1
        if len(records) > _MAX_WAITING_FOR_ONE:
            # no login has that many: the oldest goes with its sender's
            waited, waited_matched = records.pop(0)
            self._waiting_records -= 1
            self._file(self._host_session(waited, hostkey), waited, waited_matched)
        while self._waiting_records > _MAX_WAITING:
            self._release(next(iter(self._waiting)))

    def _release_waited(self, hostkey, now):
        """File with their sender's the records of ``hostkey`` that waited long enough for a
        session by that sender's own clock (``now``, its latest event's time): no other
        sender's dates decide when a login's records stop waiting."""
        keys = self._waiting_of_sender.get(hostkey)
        while keys and now is not None:
            key = next(iter(keys))
            if (self._waiting[key][-1][0].get("epoch") or 0) + _WAIT_SECONDS > now:
                break
            self._release(key)

    def _release(self, key):
        for waited, matched in self._unwait(key):
            self._file(self._host_session(waited, key[0]), waited, matched)

    def _unwait(self, key):
        """The records that wait under ``key`` (none when none do), no longer waiting."""
        records = self._waiting.pop(key, ())
        if records:
            self._waiting_records -= len(records)
            keys = self._waiting_of_sender[key[0]]
            del keys[key]
            if not keys:
                del self._waiting_of_sender[key[0]]
        return records

    def finish(self):
        """The end of the events: what waits for a session is filed with its sender."""
        while self._waiting:
            self._release(next(iter(self._waiting)))

    def _host_session(self, event, hostkey):
        session = self._by_key.get((HOST, hostkey, None))
        if session is None:
            session = self._start(_Session(HOST, event, hostkey))
        return session

    def _start(self, session):
        self._by_key[session.key] = session
        return session

    def _login_session(self, event, hostkey, number):
        session = self._by_key.get((LOGIN, hostkey, number))
        # A LOGIN record begins a session: the same number after the sender's reboot is
        # another session.  (One that comes after its session's events only waited longer
        # for records that never come: it has no EOE.)
        if session is None or ("LOGIN" in _record_types(event) and session.counts["events"]
                               and _epoch_of(event) > _epoch_of(session.last)):
            session = self._start(_Session(LOGIN, event, hostkey, number=number))
            self._claim_login_records(session, event, hostkey)
        return session

    def _claim_login_records(self, session, event, hostkey):
        """The records the login's program wrote before the kernel gave it the session
        (sshd's USER_AUTH, USER_ACCT, CRED_ACQ) are the session's."""
        for waited, matched in self._unwait((hostkey, event.get("pid"))):
            self._file(session, waited, matched)

    def _process_session(self, event, hostkey):
        pid = event.get("pid")
        ppid = event.get("ppid")
        found = self._processes.get((hostkey, pid)) if pid is not None else None
        parents = self._processes.get((hostkey, ppid)) if ppid not in _NO_PARENT else None
        if found is not None:
            node = found.pids.get(pid)
            if parents is not None and parents is not found:
                parent = parents.pids.get(ppid)
                if node is None or (parent is not None
                                    and _epoch_of(parent.event) > _epoch_of(node.event)):
                    # the unrecorded parent of that story's roots, or its parent was recorded
                    # after that story's process of this pid (the pid is another process's
                    # now): either way it is its own parent's child
                    return parents
            if node is None or node.ppid == ppid or ppid in _NO_PARENT:
                # the same process executing another program, or the unrecorded parent of
                # that story's roots
                return found
        if parents is not None:
            return parents
        if ppid in _NO_PARENT:
            root_pid, parent_pid = pid, None
        else:
            # Started by a process never recorded (a daemon started before the rules were
            # loaded): what that process starts is one story.
            root_pid, parent_pid = ppid, ppid
        session = self._start(_Session(PROCESSES, event, hostkey, root_pid=root_pid,
                                       parent_pid=parent_pid))
        if parent_pid is not None:
            self._processes[(hostkey, parent_pid)] = session
            session.host_pids.append(parent_pid)
        return session

    def _note_process(self, session, event, hostkey):
        pid = event.get("pid")
        if pid is not None and self._processes.get((hostkey, pid)) is not session:
            self._processes[(hostkey, pid)] = session
            session.host_pids.append(pid)

    def _touch(self, session):
        if session.matched:
            self._unmatched.pop(session.id, None)
            sessions = self._matched
        else:
            sessions = self._unmatched
        sessions[session.id] = session
        sessions.move_to_end(session.id)
        of_address = self._of_address.setdefault(session.hostkey[0], collections.OrderedDict())
        of_address[session.id] = session
        of_address.move_to_end(session.id)
        while self._kept > self.max_events or len(self) > self.max_sessions:
            if not self._let_go(by_events=self._kept > self.max_events):
                break

    def _let_go(self, by_events):
        """Let the least recently active session go: one without a matching event if any,
        else one of the address that holds the most events (``by_events``) or sessions, so
        that no sender's flood pushes the other senders' sessions out."""
        if self._unmatched:
            _session_id, session = self._unmatched.popitem(last=False)
        elif self._matched:
            def share(address):
                held = (self._kept_of_address.get(address, 0), len(self._of_address[address]))
                return held if by_events else held[::-1]
            crowded = max(self._of_address, key=share)
            session = next(iter(self._of_address[crowded].values()))
            del self._matched[session.id]
        else:
            return False
        self._forget(session)
        return True

    def _forget(self, session):
        address = session.hostkey[0]
        of_address = self._of_address[address]
        del of_address[session.id]
        if not of_address:
            del self._of_address[address]
        left = self._kept_of_address.pop(address, 0) - session.kept
        if left:
            self._kept_of_address[address] = left
        self._kept -= session.kept
        self.counts["sessions_let_go"] += 1
        self.counts["events_let_go"] += session.kept
        if session.matched:
            self.counts["matched_sessions_let_go"] += 1
        if self._by_key.get(session.key) is session:
            del self._by_key[session.key]
        for pid in session.host_pids:
            if self._processes.get((session.hostkey, pid)) is session:
                del self._processes[(session.hostkey, pid)]

    def get(self, session_id):
        """The session of that id, or None."""
        return self._matched.get(session_id) or self._unmatched.get(session_id)

    def sessions(self, matched_only=True):
        """The sessions held (those with a matching event, unless ``matched_only`` is
        false), least recently active first."""
        found = list(self._matched.values())
        if not matched_only:
            found = list(self._unmatched.values()) + found
            found.sort(key=_last_epoch)
        return found


def _last_epoch(session):
    return session.last.get("epoch") or 0


def _epoch_of(event):
    return (event.get("epoch") or 0, event.get("serial") or 0)


def _level(rank):
    return LEVELS[rank]


def _events_rank(events):
    return max([LEVEL_RANK.get(event.get("level") or "info", 0) for event in events] or [0])


def _login_facts(session):
    """Where the login came from: ``(remote address, terminal, service)`` of its records."""
    remote = terminal = service = None
    records = sorted(session.login, key=lambda event: (
        "USER_LOGIN" not in _record_types(event), _epoch_of(event)))
    for event in records:
        remote = remote or event.get("remote_address")
        terminal = terminal or event.get("tty")
        if service is None and event.get("exe"):
            service = posixpath.basename(event["exe"])
    first_command = next(iter(session.roots), None)
    if terminal is None and first_command is not None:
        terminal = first_command.event.get("tty")
    return remote, terminal, service


def session_summary(session):
    """What is known of a session, without its events (plain data, ready for JSON)."""
    first, last = session.first, session.last
    remote, terminal, service = _login_facts(session) if session.kind == LOGIN else (
        None, None, None)
    login_user = None
    for event in (first, last) if session.kind != HOST else ():
        if event.get("login_user") not in (None, "unset"):
            login_user = event["login_user"]
            break
    reasons = sorted(session.reasons, key=lambda reason: -session.reasons[reason])
    rules = sorted(session.rules, key=lambda rule: -session.rules[rule])
    root = next(iter(session.roots), None) if session.kind == PROCESSES else None
    return {
        "id": session.id,
        "kind": session.kind,
        "host": session.host,
        "address": session.address,
        "node": session.node,
        "session": session.number,
        "login_user": login_user,
        "users": list(session.users),
        "remote_address": remote,
        "terminal": terminal,
        "service": service,
        "root_pid": session.root_pid,
        "parent_pid": session.parent_pid,
        "program": _program(root.event) if root is not None else None,
        "start": first.get("time"),
        "start_epoch": first.get("epoch"),
        "last": last.get("time"),
        "last_epoch": last.get("epoch"),
        "end": session.end.get("time") if session.end else None,
        "open": session.end is None if session.kind == LOGIN else None,
        "level": _level(session.rank),
        "reasons": reasons,
        "rules": rules,
        "counts": dict(session.counts),
        "left_out": session.left_out,
    }


def _node_view(node, depth=0):
    folded = node.pam + node.files + node.calls
    children = sorted(node.children, key=lambda child: _epoch_of(child.event))
    views = _fold_repeats([_node_view(child, depth + 1) for child in children])
    return {
        "event": node.event,
        "level": _level(_events_rank([node.event] + folded)),
        "pam": node.pam,
        "files": node.files,
        "calls": node.calls,
        "repeated": [],
        "children": views,
    }


def _failed(events):
    return any(event.get("success") is False for event in events)


def _repeat_key(view):
    """What makes two commands the same failed command (None: never folded): the same
    command line, user and outcome, failed itself or in one of its calls."""
    event = view["event"]
    if view["children"] or view["files"] or not _failed([event] + view["calls"] + view["pam"]):
        return None
    return (event_text(event), event.get("user"), event.get("kind"), event.get("success"),
            tuple((_call_text(call), call.get("success")) for call in view["calls"]))


def _fold_repeats(views):
    """Identical failed commands one after another: the first, with the others (as nodes)
    in its ``repeated``."""
    folded = []
    last_key = None
    for view in views:
        key = _repeat_key(view)
        if key is not None and key == last_key:
            folded[-1]["repeated"].append(view)
            continue
        folded.append(view)
        last_key = key
    return folded


def session_view(session):
    """A session as plain data: :func:`session_summary`, the login's own records
    (``login``) and the commands as a tree (``tree``: each node's ``event``, its ``level``
    with what is folded into it, the PAM records (``pam``), the writes (``files``), other
    calls (``calls``), identical failed runs after it (``repeated``), and ``children``)."""
    view = session_summary(session)
    roots = sorted(session.roots, key=lambda node: _epoch_of(node.event))
    view["login"] = sorted(session.login, key=_epoch_of)
    view["tree"] = _fold_repeats([_node_view(node) for node in roots])
    return view


def group_sessions(events, keeps=None, limit=1000, book=None):
    """Sessions of ``events`` (classified), those with an event ``keeps`` keeps (all when
    None): at most ``limit`` (0: all), the most recently active, oldest first, as
    :func:`session_view`.  Returns ``(views, counts)``: ``sessions`` given, events
    ``matched``, ``truncated`` when sessions with a match were left out, and the book's."""
    book = book if book is not None else SessionBook()
    matched = 0
    for event in events:
        keep = keeps is None or keeps(event)
        matched += keep
        book.add(event, keep)
    book.finish()
    chosen = book.sessions()
    counts = dict(book.counts, sessions=len(chosen), matched=matched)
    counts["truncated"] = bool(book.counts["matched_sessions_let_go"]) or (
        bool(limit) and len(chosen) > limit)
    if limit and len(chosen) > limit:
        chosen = chosen[-limit:]
    chosen.sort(key=lambda session: _epoch_of(session.first))
    return [session_view(session) for session in chosen], counts


# ---------------------------------------------------------------- lines of a tree


def event_text(event):
    """What an event of a tree did, in one line: the command, or the record and what it
    names."""
    text = describe(event)
    if event.get("kind") == "user" and event.get("account"):
        text += " acct=%s" % event["account"]
    return text


def _file_text(event):
    """One write, as the line of its command shows it: the path (or the watch's key) and
    what was done, with its level when it has one."""
    what = event.get("path") or ("[%s]" % event["key"] if event.get("key") else "?")
    details = [event.get("operation") or event.get("syscall") or "write"]
    if event.get("path") and event.get("key"):
        details.append(event["key"])
    level = event.get("level") or "info"
    if level != "info":
        details.append(level)
    return "%s (%s)" % (what, ", ".join(details))


def _call_text(event):
    if event.get("kind") in ("file", "syscall"):
        what = event.get("path") or ("[%s]" % event["key"] if event.get("key") else "")
        return " ".join(part for part in (event.get("syscall") or event.get("operation"),
                                          what) if part)
    return event_text(event)


def _call_rows(calls, depth):
    """Calls folded into a command: those of one system call, key and outcome on one line
    with their count (a program's tries along the PATH are one line)."""
    groups = collections.OrderedDict()
    for event in calls:
        if event.get("kind") in ("file", "syscall"):
            key = (event.get("syscall") or event.get("operation"), event.get("key"),
                   event.get("success") is False, event.get("exit"))
        else:
            key = (event_text(event), None, event.get("success") is False, None)
        groups.setdefault(key, []).append(event)
    rows = []
    for (_what, _key, failed, _exit), events in groups.items():
        texts = []
        for event in events:
            text = _call_text(event)
            if text not in texts:
                texts.append(text)
        text = texts[0] if len(texts) == 1 else "%s, %s" % (
            texts[0], ", ".join(text.split(" ", 1)[-1] for text in texts[1:]))
        rows.append(_row(events[0], depth, text, count=len(events), failed=failed,
                         level=_level(_events_rank(events)), kind="call"))
    return rows


def _row(event, depth, text, count=1, failed=False, level=None, kind="command", user=None,
         files=(), pam_failed=False):
    return {
        "depth": depth,
        "time": event.get("time"),
        "epoch": event.get("epoch"),
        "level": level or event.get("level") or "info",
        "text": text,
        "user": user,
        "count": count,
        "failed": failed,
        "pam_failed": pam_failed,
        "files": list(files),
        "kind": kind,
        "pid": event.get("pid"),
    }


def _tree_rows(views, depth, parent_user, rows):
    for view in views:
        event = view["event"]
        user = event.get("user")
        rows.append(_row(
            event, depth, event_text(event), count=1 + len(view["repeated"]),
            failed=event.get("success") is False, level=view["level"],
            user=user if user not in (None, parent_user) else None,
            files=[_file_text(written) for written in view["files"]],
            pam_failed=_failed(view["pam"])))
        rows.extend(_call_rows(view["calls"] + [call for repeat in view["repeated"]
                                                for call in repeat["calls"]], depth + 1))
        _tree_rows(view["children"], depth + 1, user or parent_user, rows)


def session_rows(view):
    """The lines of a session's tree (see :func:`session_view`), in order: each with its
    ``depth``, ``time``, ``level``, ``text``, ``user`` (when it is not the parent's),
    ``count`` (identical failed runs or calls), ``failed``, ``files`` written, ``kind``
    (``command`` or ``call``).  The text is as recorded: sanitize it to show it."""
    rows = []
    users = view.get("users") or [None]
    _tree_rows(view["tree"], 0, view.get("login_user") or users[0], rows)
    if view["kind"] == HOST:
        # no process tree, no user to change from
        for row in rows:
            row["user"] = None
    return rows


def row_text(row):
    """The text of a line of a tree with what is folded into it, for people."""
    text = row["text"]
    if row["user"]:
        text += " (as %s)" % row["user"]
    if row["count"] > 1:
        text += " x%d" % row["count"]
    if row["failed"]:
        text += " [failed]"
    if row["pam_failed"]:
        text += " [refused]"
    if row["files"]:
        text += " -> " + ", ".join(row["files"])
    return text


def _clock(epoch):
    return time.strftime("%H:%M:%S", time.gmtime(epoch)) if epoch is not None else "--:--:--"


def _moment(epoch):
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(epoch)) if epoch is not None \
        else "?"


def session_title(view):
    """One line naming a session: who, where, which session."""
    where = view.get("host") or view.get("address") or "this host"
    if view.get("address") and view.get("address") != view.get("host") and view.get("host"):
        where += " (%s)" % view["address"]
    if view.get("node") and view.get("node") != view.get("host"):
        where += " node %s" % view["node"]
    who = view.get("login_user") or "/".join(view.get("users") or ()) or "?"
    if view["kind"] == LOGIN:
        return "%s on %s, session %s" % (who, where, view.get("session"))
    if view["kind"] == PROCESSES:
        started = "pid %s" % view.get("root_pid")
        if view.get("parent_pid") is not None:
            started = "children of pid %s, not recorded" % view["parent_pid"]
        return "%s on %s, no login session: %s (%s)" % (
            "/".join(view.get("users") or ()) or "?", where, view.get("program") or "?",
            started)
    return "%s: events outside any process" % where


def session_facts(view):
    """Where from and when, in one line."""
    parts = []
    if view["kind"] == LOGIN:
        origin = "from %s" % (view.get("remote_address") or "an unknown address")
        if view.get("service"):
            origin += " via %s" % view["service"]
        if view.get("terminal"):
            origin += " on %s" % view["terminal"]
        parts.append(origin)
    span = "%s to %s UTC" % (_moment(view.get("start_epoch")), _clock(view.get("last_epoch")))
    if view.get("open") is not None:
        span += " (open)" if view["open"] else " (closed)"
    parts.append(span)
    return ", ".join(parts)


def session_counts(view):
    """How much happened, and why it matters, in one line."""
    counts = view["counts"]
    line = "%s, %s written, %d failed" % (
        _plural(counts["commands"], "command"), _plural(counts["files"], "file"),
        counts["failed"])
    if view["reasons"]:
        line += "; why: " + "; ".join(view["reasons"])
    return line


def _plural(count, name):
    return "%d %s%s" % (count, name, "" if count == 1 else "s")


def _cut(line, width):
    return line if len(line) <= width else line[:width - 3] + "..."


def format_sessions(views, width=100):
    """Sessions as indented trees for people, each line at most ``width`` long; never
    carries control characters."""
    lines = []
    for view in views:
        title = "== [%s] %s" % (view["level"].upper(), session_title(view))
        lines.append(_cut(sanitize(title), width))
        lines.append(_cut("   " + sanitize(session_facts(view)), width))
        lines.append(_cut("   " + sanitize(session_counts(view)), width))
        for row in session_rows(view):
            indent = "  " * row["depth"]
            line = "   %s %-8s %s%s" % (
                _clock(row["epoch"]), row["level"], indent, sanitize(row_text(row)))
            lines.append(_cut(line, width))
        if view["left_out"]:
            lines.append("   (%d more events of this session not kept)" % view["left_out"])
        lines.append("")
    return lines[:-1] if lines else lines
