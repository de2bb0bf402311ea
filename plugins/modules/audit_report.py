#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: whotouched.server_audit contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: audit_report
short_description: Who did what - audit records on the log server as one event per action, with a risk level
version_added: 0.1.0
description:
  - Reads the audit logs stored on the central log server (or a host's own C(audit.log)) and
    turns them into one event per action - a command run, a watched file written, a login, a
    Windows account or Kerberos event - with the login user behind it, the effective user,
    terminal, session, working directory, program and decoded arguments.
  - On a log server whose alert processor keeps an event store (the
    P(whotouched.server_audit.rsyslog_server#role) role's default), asks the store - indexed, so
    a question over millions of events takes seconds instead of the minutes a scan of the
    stored files takes - and otherwise reads the stored files.
    O(source) chooses.
  - When the log servers' processors share one ClickHouse store (the role's C(clickhouse)
    backend), the question asked on any one log server answers for all of them.
  - Reads the log server's stored forms written by the P(whotouched.server_audit.rsyslog_server#role)
    role (C(runcmdformat) audit files, C(evtsysformat) Windows files, C(pipeformat)) and raw
    C(audit.log) files of audit 2.x, 3.x and 4.x, C(log_format=RAW) or C(ENRICHED); rotated
    and gzip-compressed files included, oldest first.
  - Reads the records as the audit userspace's own C(ausearch -i) reads them, event by event
    (the collection's README lists the record types and audit versions compared with it).
  - Gives every event a risk level (C(info), C(low), C(medium), C(high), C(critical)) and the
    reasons, from the rules shipped with the collection and your own.
  - Malformed, truncated or hostile lines never stop the report - they are counted in
    RV(counts) and skipped. The table for people never carries control characters.
  - Reads only; it never changes anything on the host.
options:
  source:
    description:
      - Where the events come from.
      - C(store) asks the alert processor's event store named by O(store_config), and fails
        when there is none or it cannot be read.
      - C(files) reads the files at O(path).
      - C(auto) asks the store when there is one that answers questions and O(path) is not
        given, and reads the files otherwise (with a warning when a store is there but cannot
        be read).
      - Both give the same events with the same fields. The store holds what the processor
        received since it was set up (or what its rebuild read from the files), for as long as
        its retention keeps it; the files hold what their rotation keeps.
      - O(view=sessions) reads the files (the store answers lists of events).
    type: str
    choices: [auto, store, files]
    default: auto
  store_config:
    description:
      - The alert processor's configuration (written by the
        P(whotouched.server_audit.rsyslog_server#role) role), which names its event store.
    type: path
    default: /etc/whotouched/alert-processor.json
  path:
    description:
      - A log file, or a directory whose C(*.log) files and their rotations are read
        (each sender's directory below it included); C(/var/log/remote) when not given.
      - A raw C(audit.log) works too (for example C(/var/log/audit/audit.log)).
      - Only regular files are read. A FIFO, a device or a socket among them (or a link to one)
        would hang the report or never end; it is counted in RV(counts) as C(unreadable) and
        named in a warning.
      - Giving it reads the files (unless O(source=store), which refuses it).
    type: path
  since:
    description:
      - Only events at or after this time - C(90s), C(15m), C(1h), C(2d), C(1w) ago, epoch
        seconds, or C(YYYY-MM-DD[ HH:MM[:SS]]) in the log server's local time, or in UTC or
        another zone when it ends with C(Z) or an offset (C(2024-05-01T11:00:00Z),
        C(2024-05-01 13:00+02:00)).
      - A time before 1970 or after 9999, or one that is no number (C(nan), C(inf)), is refused.
      - Files last written before it are not opened.
    type: str
  until:
    description:
      - Only events at or before this time, written as for O(since).
      - O(since) after O(until) is refused, since no event could match.
      - When not given, events dated more than a day after now are left out, counted in
        C(later) of RV(counts) and warned about with their senders. A sender's clock may run a
        little ahead, but events it dates far in the future would otherwise be the newest in
        every report until they are pruned. Set O(until) to see them.
    type: str
  host:
    description:
      - Only events of senders whose host name or address matches this shell-style pattern
        (C(web*), C(192.0.2.*)).
    type: str
  user:
    description:
      - Only events whose login user, effective user or Windows account matches this
        shell-style pattern.
    type: str
  min_level:
    description:
      - Only events at this risk level or higher.
    type: str
    choices: [info, low, medium, high, critical]
    default: info
  key:
    description:
      - Only events carrying this audit key (C(exec), C(passwd), ...).
    type: str
  search:
    description:
      - Only events whose command line, program, paths or Windows message contain this text
        (case-insensitive).
    type: str
  session:
    description:
      - Only events of this audit session (the C(ses=) of the login), usually with O(host)
        naming the sender, since each host numbers its own sessions.
    type: int
  rules:
    description:
      - More risk rules, as a list of mappings (see the collection's
        C(plugins/module_utils/_events/risk.py) for the rule language). A rule with the id of a
        shipped rule replaces it.
      - The conditions of a rule's C(match) must all hold; its C(any), a list of condition
        blocks, holds when at least one of them does (for example a path OR a watch's key,
        as the shipped rules on watched files do, because the client's default noise
        filters drop the C(PATH) records).
      - A rule on the program, its arguments or its command line alone (C(program), C(exe),
        C(args), C(command)) fires on the command's execution only, not again on each file the
        process writes; with C(key), C(path), C(operation) or C(kind) beside them, it fires
        on the events those name.
    type: list
    elements: dict
    default: []
  rules_file:
    description:
      - A file of more risk rules on the log server, JSON, or YAML when PyYAML is installed there.
        Read before O(rules).
      - It must be a regular file of at most 16 MiB; a FIFO or a device (or a link to one) is
        refused without being read.
    type: path
  shipped_rules:
    description:
      - Use the rules shipped with the collection (tampering with auditing and logging,
        accounts and privileges, persistence, download-and-execute and reverse shells, history
        and log wiping, firewall and SELinux off, service accounts running shells, Windows
        account management and Kerberos events).
    type: bool
    default: true
  view:
    description:
      - C(events) returns one entry per action (RV(events)), oldest first.
      - C(sessions) returns one entry per login session (RV(sessions)) - the host and its
        address, the session number, the login user, where they came from (the source
        address and terminal of the login records), start, end or still open, the highest
        level, the reasons and counts - with its commands as a tree by parent process.
        Folded into the line of the command that made them - the PAM records of C(sudo) and
        C(su) (kept in the C(pam) of each node of RV(sessions[].tree)), the files it wrote
        (with their watch keys and levels), identical failed commands and calls (one line
        with a count).
      - Commands without a login session (daemons, a web server's shell) are grouped by the
        process that started them; a sender's loss reports, Windows events and user-space
        records of no session (failed logins) by their sender.
      - The filters select the sessions that hold at least one matching event; each is given
        with all its events that were read.
    type: str
    choices: [events, sessions]
    default: events
  limit:
    description:
      - Return at most this many events, the newest that match; C(0) returns all.
        A negative number is refused.
      - Memory stays bounded by it however large the logs are.
      - From the files, the newest are the last read (files in the order of their senders'
        directories, each oldest first); from the store, the newest by the time of the event.
      - With O(view=sessions), at most this many sessions, the most recently active.
      - Memory stays bounded by it however large the logs are (with O(view=sessions), by
        the number of events held, 20,000; a session keeps its first 2,000 events and
        counts the others in RV(sessions[].left_out)).
    type: int
    default: 1000
  count_limit:
    description:
      - From the store (RV(source) C(store)), count the matching events up to this many, or
        up to O(limit) if that is larger; when more match, C(matched) in RV(counts) is that
        number and C(count_stopped) is true. With O(limit=0) every match is counted.
      - A search checks the text of each event it counts, so counting half a million matches
        takes seconds where the newest O(limit) take a fraction of one; C(0) counts them all.
        A negative number is refused.
      - The files are read whole whatever the question, so their count is always exact.
    type: int
    default: 10000
  wait_seconds:
    description:
      - How long, by the sender's own clock, records of an unfinished event are waited for.
      - C(0) or more; a negative number is refused.
    type: float
    default: 5.0
notes:
  - Login and effective users are named when the sender's auditd writes C(log_format = ENRICHED)
    (the default of audit 3 and later); otherwise they are uids, named from this host's user
    database only for a local C(audit.log) whose records name no C(node=); never for what a
    sender sent, whose uids are not this host's users.
  - An event is C(complete) unless records are missing that its sender writes (the
    C(PROCTITLE) of a system call, once the sender has sent one; kernels before 3.17 write
    none) or a limit cut it short.
  - Everything a client sends is taken as hostile - a malformed, forged (a stamp no clock can
    show) or truncated line is counted and skipped, never stops the report and never hides other
    events; see the collection's C(docs/security.md).
  - The time of a Linux event is the kernel's own, in UTC; Windows events carry the log
    server's syslog time, which has no year (the most recent one is assumed).
  - The store holds each event with the level the processor's rules gave it; when the rules of
    this task (O(rules), O(rules_file), O(shipped_rules)) differ from the processor's, the
    events are classified again by this task's rules, which is slower with O(min_level).
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: The module only reads; check mode returns the same report.
  diff_mode:
    support: none
    details: The module changes nothing, so there is nothing to show a difference of.
  platform:
    platforms: posix
seealso:
  - name: ausearch(8)
    description: The audit userspace's own search tool.
    link: https://man7.org/linux/man-pages/man8/ausearch.8.html
author:
  - whotouched.server_audit contributors (@whotouched)
"""

EXAMPLES = r"""
- name: What happened in the last hour that deserves attention
  whotouched.server_audit.audit_report:
    since: 1h
    min_level: high
  register: report

- name: Show it as a table
  ansible.builtin.debug:
    var: report.table

- name: Everything alice did on the web servers yesterday, with a site rule
  whotouched.server_audit.audit_report:
    since: 2d
    until: 1d
    host: "web*"
    user: alice
    rules:
      - id: deploy-outside-pipeline
        level: medium
        reason: deployment script run by hand
        match:
          program: [deploy.sh]

- name: A host's own audit log
  whotouched.server_audit.audit_report:
    path: /var/log/audit/audit.log
    search: authorized_keys

- name: The login sessions of the last day that did something risky, as command trees
  whotouched.server_audit.audit_report:
    since: 1d
    min_level: high
    view: sessions
  register: sessions

- name: Who logged in from where, and what they ran
  ansible.builtin.debug:
    var: sessions.table
"""

RETURN = r"""
events:
  description:
    - One event per action, oldest first (at most O(limit), the newest matching).
    - Empty with O(view=sessions), whose events are in RV(sessions).
    - Linux events also carry C(auid), C(uid), C(euid), C(comm), C(keys), C(syscall), C(exit),
      C(paths) (name, absolute path and name type of each file touched), C(path) and
      C(operation) for file watches (C(read) or C(write) for an open, by its flags),
      C(account) (the C(acct=) of login and account records),
      C(record_types), C(serial) and C(complete) (false when records were missing or cut short -
      a truncated SYSCALL record, an EXECVE record over 64 KiB that was skipped, in which case the
      event is still the command, its arguments from the PROCTITLE record). Windows
      events carry C(event_id), C(source), C(priority), C(account), C(target_account), C(group),
      C(source_address), C(workstation), C(ticket_encryption), C(message) and C(truncated) (true when
      evtsys cut the message at its buffer, so that the fields after the cut are missing and
      C(complete) is false). Their labels are read in English, German, French, Spanish and Japanese.
  returned: always
  type: list
  elements: dict
  contains:
    time: {description: UTC time of the event (ISO 8601)., type: str}
    epoch: {description: "The same time in epoch seconds (none for a Windows event whose time cannot be read).", type: float}
    host: {description: "Host name the sender gave (or the C(node=) name, or the Windows computer).", type: str}
    address: {description: Address the event really came from (none for a local audit.log)., type: str}
    node: {description: "The C(node=) name the sender's auditd wrote (its C(name_format)); none when it writes none, and for Windows events.", type: str}
    remote_address:
      description:
        - The remote end of a login or authentication (the record's C(addr=)), or a Windows
          event's source network address; none when there is none.
      type: str
    login_user: {description: "The login (audit) user behind the action, even after sudo or su.", type: str}
    user: {description: The effective user that acted., type: str}
    tty: {description: "Terminal, in one form: C(pts/1) where records write C(pts1) or C(/dev/pts/1); none for none.", type: str}
    session: {description: Audit session number., type: int}
    cwd: {description: Working directory., type: str}
    exe: {description: Program executed or acting., type: str}
    argv: {description: "The argument vector, decoded; for C(TTY) and C(USER_TTY) records, the keystrokes typed, as one text.", type: list, elements: str}
    key: {description: First audit key of the rule that recorded it., type: str}
    success: {description: Whether the action succeeded., type: bool}
    pid: {description: Process id., type: int}
    ppid: {description: Parent process id., type: int}
    kind:
      description:
        - C(exec), C(file), C(user), C(syscall) or C(windows); C(loss) when the sender's loss
          reporter says its kernel lost events, auditd stopped writing its log, or auditd's
          plugin queue overflowed (see RV(events[].loss)).
      type: str
    loss:
      description:
        - For C(loss) events, what the sender's loss reporter said; none for other events.
      type: dict
      contains:
        lost: {description: "Audit records the sender's kernel lost between C(since) and the event's time.", type: int}
        lost_total: {description: The kernel's count since its boot., type: int}
        since: {description: "The previous report's time, in epoch seconds.", type: float}
        logging_suspended: {description: auditd was not writing its log (a full disk)., type: bool}
        unlogged_since:
          description:
            - "When auditd stopped writing its log (epoch seconds), told by the first report
              after it wrote again: every event between then and this event's time is lost.
              None otherwise."
          type: float
        plugin_overflow: {description: "auditd's queue to its plugins overflowed since the previous report.", type: bool}
        lost_total_reset:
          description:
            - "The kernel's count went back to 0 since the previous report: reset by someone with
              C(auditctl --reset-lost), or past 2^32. C(lost) is then what it counted since, and
              more may have been lost."
          type: bool
        boot: {description: "The sender's boot that counted (the first 8 characters of its boot id); none when not said.", type: str}
        era:
          description:
            - "How many times the sender's reporter saw the kernel's count go back to 0 in that
              boot; none when not said. The log server counts each loss of a boot and era once,
              from the totals, whichever reports arrive and in whatever order."
          type: int
    level: {description: "Risk level: info, low, medium, high or critical.", type: str}
    reasons: {description: "Why, highest level first.", type: list, elements: str}
    rules: {description: Ids of the rules that fired., type: list, elements: str}
  sample:
    - time: "2024-05-01T09:11:23.123Z"
      epoch: 1714554683.123
      host: web01
      address: 192.0.2.10
      node: web01
      remote_address: null
      login_user: alice
      user: root
      tty: pts/0
      session: 3
      cwd: /root
      exe: /usr/bin/curl
      argv: [curl, -fsSL, "http://203.0.113.9/x.sh"]
      key: exec
      success: true
      level: info
      reasons: []
source:
  description: Where the events came from - C(store) or C(files).
  returned: always
  type: str
  sample: store
sessions:
  description:
    - With O(view=sessions), the sessions that hold a matching event (at most O(limit), the
      most recently active), oldest first; empty with O(view=events).
  returned: always
  type: list
  elements: dict
  contains:
    id: {description: "The session's id, the same wherever its events are read (the wall screen's too).", type: str}
    kind:
      description:
        - C(login) for a login session; C(processes) for commands run outside any login
          session, grouped by the process that started them; C(host) for what a sender sent
          that belongs to no process (loss reports, Windows events, failed logins).
      type: str
    host: {description: Host name the sender gave., type: str}
    address: {description: Address the events really came from., type: str}
    node: {description: "The node the records name (C(node=), auditd's C(name_format)): hosts behind one relay are told apart by it.", type: str}
    session: {description: "The audit session number (C(ses=)) of a login session.", type: int}
    login_user: {description: The login user., type: str}
    users: {description: "The effective users its commands ran as, first seen first.", type: list, elements: str}
    remote_address: {description: "Where the login came from - the C(addr=) of its login records (sshd's); none when they name none.", type: str}
    terminal: {description: "The terminal of the login (C(/dev/pts/0), C(ssh), C(cron)).", type: str}
    service: {description: "The program that logged the user in (C(sshd), C(login), C(cron)).", type: str}
    program: {description: "For C(processes), the program at the root of the tree.", type: str}
    root_pid: {description: "For C(processes), the pid at the root of the tree.", type: int}
    parent_pid: {description: "For C(processes) started by a process never recorded (a daemon started before the rules were loaded), its pid.", type: int}
    start: {description: "Time of its first event read (ISO 8601 UTC).", type: str}
    last: {description: "Time of its last event read.", type: str}
    end: {description: "Time the login ended (its USER_END or USER_LOGOUT record); none while it is open.", type: str}
    open: {description: "For a login session, whether it was still open in the records read.", type: bool}
    level: {description: The highest risk level of its events., type: str}
    reasons: {description: "The reasons of its events, highest level first.", type: list, elements: str}
    rules: {description: "The rules that fired on its events.", type: list, elements: str}
    counts: {description: "Its C(events), C(commands), C(files) written, C(failed) events, and C(matched) events.", type: dict}
    left_out: {description: "Events of the session read but not kept (over 2,000).", type: int}
    login: {description: "The records of the login itself (sshd's USER_AUTH, USER_START, USER_LOGIN, USER_END...), as events.", type: list, elements: dict}
    tree:
      description:
        - The commands, each a node - C(event) (the execution, or for a process never seen
          executing, its first event), C(level) (the highest of the node and what is folded
          into it), C(pam) (the PAM records of sudo or su), C(files) (the writes it made),
          C(calls) (its other audited calls), C(repeated) (identical failed runs right after
          it, as nodes) and C(children) (nodes started by it).
        - A command started from a child of sudo that sudo never executed (sudo's own
          terminal, C(use_pty)) is shown under that sudo.
      type: list
      elements: dict
table:
  description:
    - The events as a table for people, one line each, control characters escaped.
    - With O(view=sessions), each session as a title, where from and when, what it did and
      why it matters, then its commands as an indented tree - one line each, at most 100
      characters.
  returned: always
  type: list
  elements: str
counts:
  description:
    - What was read - C(files), C(lines), C(records), C(events), C(windows) events, C(matched)
      events, and what was skipped - C(malformed), C(oversized) and C(other) (not audit) lines, C(incomplete) and
      C(evicted) events, C(dropped_records), C(unreadable) files; C(truncated) is true when
      more events matched than O(limit).
    - C(fragments) counts what arrived of commands whose records saying who acted were
      dropped by the client's noise filters (a working directory or process title record
      alone); they are not events and not in RV(events).
    - C(duplicates) counts events a sender sent a second time (rsyslog reading part of
      auditd's log again after a rotation or a crash); each event is returned once.
    - C(health_reports) counts the heartbeats of the senders' loss reporters (linux_audit's
      C(whotouched-audit-health)) that said nothing was lost; a report that says something
      was lost is an event of kind C(loss).
    - From the store (RV(source) C(store)), only C(matched), C(truncated),
      C(health_reports) (those of the time and O(host) asked) and C(count_stopped) are given;
      C(count_stopped) is true when more events matched than O(count_limit) (or O(limit),
      if larger) and counting stopped there (C(matched) is then that number, a lower bound).
    - C(later) counts the events that match but are dated more than a day after now, left out
      when O(until) is not given (from the store, up to O(count_limit)).
    - With O(view=sessions), C(sessions) counts the sessions given; C(truncated) is true when
      sessions with a matching event were left out (more than O(limit), or let go to keep
      memory bounded - C(matched_sessions_let_go)); C(sessions_let_go) and C(events_let_go)
      count what was let go, C(events_left_out) the events over a session's 2,000.
  returned: always
  type: dict
"""

import pwd
import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.whotouched.server_audit.plugins.module_utils._events.report import (
    FUTURE_SKEW,
    EventFilter,
    ReportError,
    build_report,
    check_limits,
    classified_events,
    format_table,
    log_files,
    new_counts,
    read_rules_file,
    time_window,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._events.risk import (
    RiskRuleError,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._processor.settings import (
    read_store_config,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._store.backends import (
    open_store,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._store.base import (
    Ruleset,
    StoreUnavailable,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._text.printable import (
    sanitize,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._events.sessions import (
    format_sessions,
    group_sessions,
)

DEFAULT_PATH = "/var/log/remote"

ARGUMENT_SPEC = dict(
    source=dict(type="str", default="auto", choices=["auto", "store", "files"]),
    store_config=dict(type="path", default="/etc/whotouched/alert-processor.json"),
    path=dict(type="path"),
    since=dict(type="str"),
    until=dict(type="str"),
    host=dict(type="str"),
    user=dict(type="str"),
    min_level=dict(type="str", default="info",
                   choices=["info", "low", "medium", "high", "critical"]),
    key=dict(type="str", no_log=False),
    search=dict(type="str"),
    session=dict(type="int"),
    rules=dict(type="list", elements="dict", default=[]),
    rules_file=dict(type="path"),
    shipped_rules=dict(type="bool", default=True),
    view=dict(type="str", default="events", choices=["events", "sessions"]),
    limit=dict(type="int", default=1000),
    count_limit=dict(type="int", default=10000),
    wait_seconds=dict(type="float", default=5.0),
)


# Files named in warnings one by one; the rest are counted.
MAX_FILE_WARNINGS = 20


def _local_names():
    try:
        return {entry.pw_uid: entry.pw_name for entry in pwd.getpwall()}
    except (KeyError, OSError):
        return None


def _event_store(module):
    """The store to ask (None: read the files), as ``source`` and ``path`` say."""
    params = module.params
    if params["source"] == "files" or (params["source"] == "auto" and params["path"]):
        return None
    if params["path"]:
        module.fail_json(msg="path names files to read, and source=store asks the store: "
                             "leave one of them out")
    try:
        return open_store(read_store_config(params["store_config"]), readonly=True)
    except (OSError, ValueError) as exc:
        # OSError covers StoreUnavailable; ValueError a configuration that is not one
        if params["source"] == "store":
            module.fail_json(msg="no event store to ask: %s" % _reason(exc))
        if not isinstance(exc, FileNotFoundError) and not (
                isinstance(exc, StoreUnavailable) and "answers no questions" in str(exc)):
            module.warn("the event store cannot be asked (%s): the stored files are read"
                        % _reason(exc))
    return None


def _tell_later(module, event_filter, counts):
    """Count, and say, the events left out for being dated far after now."""
    counts["later"] = event_filter.later
    message = event_filter.later_message()
    if message:
        module.warn(message)


def _reason(exc):
    if isinstance(exc, FileNotFoundError):
        return "%s does not exist" % (exc.filename,)
    return str(exc)


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    params = module.params
    try:
        check_limits(params["limit"], params["wait_seconds"], params["count_limit"])
        now = time.time()
        since, until = time_window(params["since"], params["until"], now)
        # no end asked: up to a day ahead, unless the window itself begins after that
        defaulted = until is None and (since is None or since <= now + FUTURE_SKEW)
        if defaulted:
            until = now + FUTURE_SKEW
        specs = read_rules_file(params["rules_file"]) if params["rules_file"] else []
        ruleset = Ruleset.load(specs + params["rules"], params["shipped_rules"])
        event_filter = EventFilter(
            since=since, until=until, host=params["host"], user=params["user"],
            min_level=params["min_level"], key=params["key"], search=params["search"],
            session=params["session"], later=defaulted)
    except (RiskRuleError, ReportError, IOError, OSError) as exc:
        module.fail_json(msg=str(exc))
    # the store answers lists of events; sessions are grouped from the files
    store = _event_store(module) if params["view"] == "events" else None
    if store is not None:
        try:
            events, counts = store.find(event_filter, ruleset, params["limit"],
                                        params["count_limit"])
            if event_filter.counts_later:
                later, later_counts = store.find(event_filter.after_window(), ruleset, 5,
                                                 params["count_limit"])
                for event in later:
                    event_filter.note_later(event)
                event_filter.later = later_counts["matched"]
        except StoreUnavailable as exc:
            module.fail_json(msg=str(exc))
        finally:
            store.close()
        _tell_later(module, event_filter, counts)
        module.exit_json(changed=False, events=events, sessions=[], table=format_table(events),
                         counts=counts, source="store")
    try:
        paths = log_files(params["path"] or DEFAULT_PATH)
    except (ReportError, IOError, OSError) as exc:
        module.fail_json(msg=str(exc))
    unread = []
    reading = {"local_names": _local_names(), "unread": unread,
               "assembler_options": {"wait_seconds": params["wait_seconds"]}}
    if params["view"] == "sessions":
        counts = new_counts()
        sessions, grouped = group_sessions(
            classified_events(paths, ruleset.rules, since, counts,
                              heartbeat_counted=event_filter.counts_heartbeat, **reading),
            event_filter.keeps, params["limit"])
        counts.update(grouped)
        table, events = format_sessions(sessions), []
    else:
        events, counts = build_report(paths, ruleset.rules, event_filter, limit=params["limit"],
                                      **reading)
        sessions, table = [], format_table(events)
    _tell_later(module, event_filter, counts)
    for problem in unread[:MAX_FILE_WARNINGS]:
        module.warn(sanitize(problem))
    if len(unread) > MAX_FILE_WARNINGS:
        module.warn("%d more files were not read (see counts.unreadable)"
                    % (len(unread) - MAX_FILE_WARNINGS))
    module.exit_json(changed=False, events=events, sessions=sessions, table=table,
                     counts=counts, source="files")


if __name__ == "__main__":
    main()
