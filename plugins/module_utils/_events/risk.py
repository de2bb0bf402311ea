# -*- coding: utf-8 -*-
# Copyright: whotouched.server_audit contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to whotouched.server_audit: it may change in any release. Do not import it from
# other collections or from code outside this collection.
"""Risk levels for events, from rules a user can read and extend.

A rule is a mapping::

    id: reverse-shell-netcat
    level: critical            # info, low, medium, high, critical
    reason: netcat handing a shell to a remote host
    match:                     # every condition given must hold
      program: [nc, ncat, netcat]
      args: '(^| )-(e|c) '
    unless:                    # optional: the rule does not fire when all of these hold
      args: '-e /bin/true'

Conditions (each optional; a list means "any of"):

``key``         audit keys, exact (``exec``, ``passwd``)
``program``     program names, shell-style patterns on the executable's (or argv[0]'s) base name
``exe``         regular expression searched in the executable's path
``args``        regular expression searched in the arguments (argv[1:] joined by blanks)
``command``     regular expression searched in the whole command line (argv joined by blanks)
``user``        effective user names, shell-style patterns
``login_user``  login (audit) user names, shell-style patterns
``path``        regular expression searched in each path the event touched
``operation``   file operations (``write``, ``delete``, ``chmod``, ...)
``event_id``    Windows event IDs
``kind``        event kinds (``exec``, ``file``, ``user``, ``syscall``, ``windows``; a write to
                a watched file is ``file`` with its PATH records, ``syscall`` without them)
``success``     true or false
``field``       ``{name: regular expression}`` on any other event field (``ticket_encryption``)
``any``         a list of condition blocks, each written like ``match``: at least one of them
                must hold (every condition inside one block must hold)

``any`` says "this or that" where the conditions alone say "this and that".  A file watch,
for example, is known by its path where the PATH records reach the log server, and only by
its audit key where the client's noise filters drop them (the default)::

    id: cron-written
    level: high
    reason: scheduled jobs changed
    match:
      kind: [file, syscall]    # a write, never the execution of a program in that directory
      any:
        - path: '^/etc/cron\\.d/'
        - key: [crontab]

Which events a rule judges.  Every event of a Linux process carries its program and its
command line, the latter rebuilt from the PROCTITLE record: ``usermod -aG sudo bob`` is one
execution and then a write of ``/etc/passwd``, ``/etc/shadow``, ``/etc/group`` and
``/etc/gshadow``, each an event naming ``usermod -aG sudo bob``.  So that a command is
reported once, at its execution:

* a rule that judges a command, by ``program``, ``exe``, ``args`` or ``command``, and says
  nothing of the files or events (no ``key``, ``path``, ``operation`` or ``kind``), fires only
  on the command's execution: kind ``exec``, the event with the EXECVE record.  It stays quiet
  on the process's writes of watched files, on its other system calls, and on the records
  programs write of themselves (kind ``user``: sudo's USER_CMD naming the command it runs,
  useradd's ADD_USER);
* a rule that names a watched file (``key``, ``path`` or ``operation``) fires on the events
  of that file; next to it, ``program``, ``args`` or ``command`` say which command wrote the
  file (the shipped ``authorized-keys-written``: root's ``.ssh`` watch, written by a command
  line that names ``authorized_keys``);
* a rule that names ``kind`` fires on the kinds it names, judging the command there too
  (``kind: [exec, user]`` with ``program: [usermod]`` adds sudo's USER_CMD of usermod);
* within ``any``, each way the rule can hold is judged so: one block of the list together
  with the conditions around it (``program: [vi]`` with ``any: [{key: [passwd]}, {args: x}]``
  fires on vi's writes of the passwd watch, and on ``vi x`` only at its execution);
* ``unless`` is judged on every event, as written: ``key: [passwd]`` unless
  ``program: [usermod]`` is quiet on usermod's writes;
* Windows events are judged as they are (a command line comes only with a process creation).

Conditions on who acted (``user``, ``login_user``) and on ``success``, ``field`` or
``event_id`` neither restrict a rule to the execution nor widen it.

An event gets the highest level of the rules that fire (``info`` when none does) and the
reasons of all of them, highest first.
"""

from __future__ import annotations

import fnmatch
import posixpath
import re

from ansible_collections.whotouched.server_audit.plugins.module_utils._events.risk_rules import (
    SHIPPED_RISK_RULES,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._events.schema import (
    Event,
)

LEVELS = ("info", "low", "medium", "high", "critical")
LEVEL_RANK = {name: rank for rank, name in enumerate(LEVELS)}

_LIST_CONDITIONS = ("key", "program", "user", "login_user", "operation", "event_id", "kind")
_REGEX_CONDITIONS = ("exe", "args", "command", "path")
_GLOB_CONDITIONS = frozenset(("program", "user", "login_user"))
_CONDITIONS = frozenset(_LIST_CONDITIONS + _REGEX_CONDITIONS + ("success", "field", "any"))
# Conditions that judge a command, and those that say which files or events a rule is about.
_COMMAND_CONDITIONS = frozenset(("program", "exe", "args", "command"))
_EVENT_CONDITIONS = frozenset(("key", "path", "operation", "kind"))
# Where a command is judged: its execution (the event with the EXECVE record); and Windows
# events, whose only command line is that of a process creation.
_COMMAND_KINDS = frozenset(("exec", "windows"))


class RiskRuleError(ValueError):
    """A rule that cannot be used; the message names the rule and what is wrong."""


class _Condition(object):
    """The compiled conditions of one ``match`` or ``unless`` mapping.

    ``around`` is ``(judges_command, names_events)`` of the blocks around this one in a
    ``match`` (``(False, False)`` at its top), None in an ``unless``, which is judged on
    every event.  A block that ends a way through the rule (no ``any`` of its own) and that,
    with the blocks around it, judges a command without naming files or events holds only
    on a command's execution.
    """

    __slots__ = ("checks", "exec_only")

    def __init__(self, rule_id, spec, around=None):
        if not isinstance(spec, dict) or not spec:
            raise RiskRuleError("rule %s: a condition block must be a non-empty mapping"
                                % rule_id)
        unknown = sorted(set(spec) - _CONDITIONS)
        if unknown:
            raise RiskRuleError("rule %s: unknown condition %s (known: %s)"
                                % (rule_id, ", ".join(unknown), ", ".join(sorted(_CONDITIONS))))
        if around is not None:
            around = (around[0] or not _COMMAND_CONDITIONS.isdisjoint(spec),
                      around[1] or not _EVENT_CONDITIONS.isdisjoint(spec))
        self.exec_only = around is not None and "any" not in spec and around[0] and \
            not around[1]
        self.checks = []
        for name in _LIST_CONDITIONS:
            if name in spec:
                values = spec[name] if isinstance(spec[name], list) else [spec[name]]
                if not values:
                    raise RiskRuleError("rule %s: %s is an empty list" % (rule_id, name))
                if name == "event_id":
                    try:
                        values = frozenset(int(value) for value in values)
                    except (TypeError, ValueError):
                        raise RiskRuleError("rule %s: event_id must be numbers" % rule_id)
                elif name in _GLOB_CONDITIONS:
                    values = _Globs(str(value) for value in values)
                else:
                    values = tuple(str(value) for value in values)
                self.checks.append((name, values))
        for name in _REGEX_CONDITIONS:
            if name in spec:
                self.checks.append((name, _compile(rule_id, name, spec[name])))
        if "success" in spec:
            if not isinstance(spec["success"], bool):
                raise RiskRuleError("rule %s: success must be true or false" % rule_id)
            self.checks.append(("success", spec["success"]))
        if "field" in spec:
            if not isinstance(spec["field"], dict) or not spec["field"]:
                raise RiskRuleError("rule %s: field must map field names to expressions"
                                    % rule_id)
            self.checks.append(("field", tuple(
                (str(name), _compile(rule_id, "field " + str(name), pattern))
                for name, pattern in sorted(spec["field"].items()))))
        if "any" in spec:
            blocks = spec["any"]
            if not isinstance(blocks, list) or not blocks:
                raise RiskRuleError("rule %s: any must be a non-empty list of condition blocks"
                                    % rule_id)
            self.checks.append(("any", tuple(_Condition(rule_id, block, around)
                                             for block in blocks)))

    def holds(self, event, facts):
        if self.exec_only and not facts["command_event"]:
            return False
        for name, expected in self.checks:
            if not _check(name, expected, event, facts):
                return False
        return True


def _gate(condition):
    """:meth:`RiskRule.gate` of one condition block."""
    gate = {"program": None, "key": None, "kind": None}
    for name, expected in condition.checks:  # "any" comes last
        if name == "program" and expected.wildcards is None:
            gate["program"] = expected.names
        elif name in ("key", "kind"):
            gate[name] = frozenset(expected)
        elif name == "any":
            # a gate every block has, if the block around has none of its own
            blocks = [_gate(block) for block in expected]
            for dimension, values in gate.items():
                if values is None and all(block[dimension] is not None for block in blocks):
                    gate[dimension] = frozenset().union(*(block[dimension] for block in blocks))
    if condition.exec_only:
        gate["kind"] = _COMMAND_KINDS.intersection(gate["kind"] or _COMMAND_KINDS)
    return gate


def _compile(rule_id, name, pattern):
    try:
        if isinstance(pattern, list):
            return re.compile("|".join("(?:%s)" % str(item) for item in pattern))
        return re.compile(str(pattern))
    except re.error as exc:
        raise RiskRuleError("rule %s: %s is not a valid regular expression: %s"
                            % (rule_id, name, exc))


class _Globs(object):
    """Shell-style patterns (``fnmatch.fnmatchcase``), asked at once: the names without a
    wildcard in a set, the others in one regular expression."""

    __slots__ = ("names", "wildcards")

    def __init__(self, patterns):
        patterns = tuple(patterns)
        self.names = frozenset(pattern for pattern in patterns
                               if not any(letter in pattern for letter in "*?["))
        wild = [fnmatch.translate(pattern) for pattern in patterns if pattern not in self.names]
        self.wildcards = re.compile("|".join(wild)) if wild else None

    def matches(self, value):
        if value is None:
            return False
        return value in self.names or (self.wildcards is not None
                                       and self.wildcards.match(value) is not None)


def _check(name, expected, event, facts):
    if name == "key":
        return any(key in expected for key in event.get("keys") or ())
    if name == "program":
        return any(expected.matches(program) for program in facts["programs"])
    if name == "user":
        return expected.matches(event.get("user"))
    if name == "login_user":
        return expected.matches(event.get("login_user"))
    if name == "operation":
        return event.get("operation") in expected
    if name == "event_id":
        return event.get("event_id") in expected
    if name == "kind":
        return event.get("kind") in expected
    if name == "exe":
        return event.get("exe") is not None and expected.search(event["exe"]) is not None
    if name == "args":
        return expected.search(facts["args"]) is not None
    if name == "command":
        return expected.search(facts["command"]) is not None
    if name == "path":
        return any(expected.search(path) is not None for path in facts["paths"])
    if name == "success":
        return event.get("success") is expected
    if name == "field":
        for field, pattern in expected:
            value = event.get(field)
            if value is None or pattern.search(str(value)) is None:
                return False
        return True
    if name == "any":
        return any(block.holds(event, facts) for block in expected)
    return False


class RiskRule(object):
    """One compiled rule: ``id``, ``level``, ``reason`` and its conditions."""

    __slots__ = ("rule_id", "level", "rank", "reason", "match", "unless", "windows_only")

    def __init__(self, spec):
        if not isinstance(spec, dict):
            raise RiskRuleError("a rule must be a mapping, got %r" % (spec,))
        rule_id = spec.get("id")
        if not isinstance(rule_id, str) or not rule_id.strip():
            raise RiskRuleError("a rule needs an id: %r" % (spec,))
        unknown = sorted(set(spec) - {"id", "level", "reason", "match", "unless"})
        if unknown:
            raise RiskRuleError("rule %s: unknown key %s" % (rule_id, ", ".join(unknown)))
        level = spec.get("level")
        if level not in LEVEL_RANK:
            raise RiskRuleError("rule %s: level must be one of %s, got %r"
                                % (rule_id, ", ".join(LEVELS), level))
        reason = spec.get("reason")
        if not isinstance(reason, str) or not reason.strip():
            raise RiskRuleError("rule %s: a reason is required" % rule_id)
        self.rule_id = rule_id
        self.level = level
        self.rank = LEVEL_RANK[level]
        self.reason = reason.strip()
        self.match = _Condition(rule_id, spec.get("match"), (False, False))
        self.unless = _Condition(rule_id, spec["unless"]) if "unless" in spec else None
        # Only Windows events have an event ID: such a rule is skipped for the others.
        self.windows_only = "event_id" in spec["match"]

    def gate(self):
        """``{"program": names, "key": keys, "kind": kinds}``: for the rule to fire, one of
        the event's programs must be one of ``names``, one of its keys one of ``keys``, its
        kind one of ``kinds`` (None: any)."""
        gate = _gate(self.match)
        if self.windows_only:
            gate["kind"] = frozenset(("windows",)).intersection(gate["kind"] or ("windows",))
        return gate

    def fires(self, event, facts):
        """Whether the rule holds for ``event`` (``facts`` from :func:`event_facts`)."""
        if not self.match.holds(event, facts):
            return False
        return self.unless is None or not self.unless.holds(event, facts)


# What an expression of a rule's match is asked of: (event, facts) -> the texts.
_SCREENED_FACTS = {
    "exe": lambda event, facts: () if event.get("exe") is None else (event["exe"],),
    "args": lambda event, facts: (facts["args"],),
    "command": lambda event, facts: (facts["command"],),
    "path": lambda event, facts: facts["paths"],
}
# A pattern that refers to its groups by number, or sets flags for the whole pattern, means
# something else inside another one (a name is refused twice by re.compile).
_NOT_COMBINABLE = re.compile(r"\\[1-9]|\(\?\(|\(\?[aiLmsux]+\)")


def _necessary(condition):
    """``[(fact, expression) or ("key", keys), ...]``: one of these holds whenever
    ``condition`` does (the rule's compiled expression finds something in that fact, or the
    event has one of those keys); None when no such list is known."""
    for name, expected in condition.checks:
        if name in _SCREENED_FACTS and not _NOT_COMBINABLE.search(expected.pattern):
            return [(name, expected)]
        if name == "key":
            return [(name, expected)]
        if name == "any":
            alternatives = [_necessary(block) for block in expected]
            if None not in alternatives:
                return [alternative for block in alternatives for alternative in block]
    return None


def _screens(rules, positions):
    """``(unscreened, screens, keyed)`` of the rules at ``positions``: the positions of the
    rules judged on every event of their kind; ``[(fact, expression, [(pattern,
    positions)])]``, the rules that cannot fire unless ``pattern`` finds something in that
    fact (``expression`` is all the patterns of that fact in one, asked first);
    ``{key: positions}``, those that cannot unless the event has that key.  A rule is judged
    when one of its screens lets it through."""
    unscreened, patterns, keyed = set(), {}, {}
    for position in positions:
        alternatives = _necessary(rules[position].match)
        if alternatives is None:
            unscreened.add(position)
            continue
        for fact, wanted in alternatives:
            if fact == "key":
                for key in wanted:
                    keyed.setdefault(key, set()).add(position)
            else:
                patterns.setdefault(fact, {}).setdefault(wanted, set()).add(position)
    screens = []
    for fact, by_pattern in patterns.items():
        try:
            expression = re.compile("|".join("(?:%s)" % pattern.pattern
                                             for pattern in by_pattern))
        except re.error:  # judged on every event
            unscreened.update(*by_pattern.values())
            continue
        screens.append((fact, expression, tuple((pattern, tuple(sorted(screened)))
                                                for pattern, screened in by_pattern.items())))
    return (tuple(sorted(unscreened)), tuple(screens),
            {key: tuple(sorted(keys)) for key, keys in keyed.items()})


class RiskRules(tuple):
    """Compiled rules in their order, and which of them can fire on an event: a rule that
    names its programs (without wildcards) is judged only on those programs' events, one
    that names audit keys only on events with one of them, one that names kinds (or holds
    only at an execution) only on events of those kinds.  Of the rules left, those that
    ask a regular expression of the command line, the program or the paths (or a key) are
    judged only when one expression made of all of theirs finds something there (or the
    event has that key).  An event of an ordinary command is judged by a few rules instead
    of every one.  ``judgements`` keeps recent judgements of Linux events by what the rules
    read of them (None when a rule asks an arbitrary ``field``), for :func:`classify`."""

    def __new__(cls, rules):
        self = super().__new__(cls, rules)
        # positions of the rules to judge: by program name, by key, by kind, on every event
        self._named = {"program": {}, "key": {}}
        by_kind, self._anywhere = {}, []
        for position, rule in enumerate(self):
            gate = rule.gate()
            dimension = next((name for name in ("program", "key") if gate[name] is not None),
                             None)
            if dimension is not None:
                for value in gate[dimension]:
                    self._named[dimension].setdefault(value, []).append(position)
            elif gate["kind"] is not None:
                for kind in gate["kind"]:
                    by_kind.setdefault(kind, []).append(position)
            else:
                self._anywhere.append(position)
        self._by_kind = {kind: _screens(self, sorted(self._anywhere + positions))
                         for kind, positions in by_kind.items()}
        self._anywhere = _screens(self, self._anywhere)
        # Judgements of Linux events by what the rules read of them (see _judged): kept
        # only when no rule that can fire on one asks an arbitrary field
        self.judgements = None if any(
            _asks_fields(rule.match) or rule.unless is not None and _asks_fields(rule.unless)
            for rule in self if not rule.windows_only) else {}
        return self

    def candidates(self, event, facts):
        """The rules that may fire on ``event``, in their order; the others cannot."""
        positions, screens, keyed = self._by_kind.get(event.get("kind"), self._anywhere)
        by_program, by_key = self._named["program"], self._named["key"]
        more = [position for program in facts["programs"]
                for position in by_program.get(program, ())]
        for key in event.get("keys") or ():
            more += by_key.get(key, ())
            more += keyed.get(key, ())
        for fact, expression, parts in screens:
            texts = _SCREENED_FACTS[fact](event, facts)
            if any(expression.search(text) is not None for text in texts):
                for pattern, screened in parts:
                    if any(pattern.search(text) is not None for text in texts):
                        more += screened
        if more:
            positions = sorted(set(positions).union(more))
        return [self[position] for position in positions]


def compile_risk_rules(specs):
    """Compiled rules (:class:`RiskRules`) from their mappings; later rules with an earlier
    rule's id replace it.

    Raises :class:`RiskRuleError` naming the first bad rule.
    """
    if not isinstance(specs, list):
        raise RiskRuleError("rules must be a list of mappings")
    by_id = {}
    for spec in specs:
        rule = RiskRule(spec)
        by_id[rule.rule_id] = rule
    return RiskRules(by_id.values())


def load_risk_rules(specs=(), shipped=True):
    """The compiled rules to classify with: the shipped ones (unless ``shipped`` is false),
    then ``specs``, whose rules replace shipped ones of the same id.

    Raises :class:`RiskRuleError` naming the first bad rule.
    """
    return compile_risk_rules((list(SHIPPED_RISK_RULES) if shipped else []) + list(specs))


def event_facts(event: Event):
    """What rules look at, computed once per event."""
    argv = event.get("argv") or []
    programs = set()
    if event.get("exe"):
        programs.add(posixpath.basename(event["exe"]))
    if argv and argv[0]:
        programs.add(posixpath.basename(argv[0]))
    paths = [entry.get("path") or entry.get("name") for entry in event.get("paths") or ()]
    return {
        "programs": programs,
        "args": " ".join(argv[1:]),
        "command": " ".join(argv),
        "paths": [path for path in paths if path],
        "command_event": event.get("kind") in _COMMAND_KINDS,
    }


def _asks_fields(condition):
    """Whether a condition block asks ``field`` (any field of the event) of the event."""
    return any(name == "field" or name == "any" and any(map(_asks_fields, expected))
               for name, expected in condition.checks)


# Judgements kept (a full table starts again) and the longest text of a kept one: a sender's
# endless distinct or huge commands only miss.
_KEPT_JUDGEMENTS = 4096
_JUDGED_TEXT = 4096


def _judged(event):
    """All that rules without ``field`` conditions read of a Linux event (see _check and
    event_facts), or None when it is too long to keep."""
    argv = event.get("argv") or ()
    paths = tuple(entry.get("path") or entry.get("name") for entry in event.get("paths") or ())
    exe = event.get("exe")
    if len(argv) + len(paths) > 64 or sum(map(len, argv)) + sum(
            len(path) for path in paths if path) + len(exe or "") > _JUDGED_TEXT:
        return None
    success = event.get("success")
    return (event.get("kind"), exe, tuple(argv), paths, tuple(event.get("keys") or ()),
            event.get("user"), event.get("login_user"), event.get("operation"),
            success is True, success is False, event.get("event_id"))  # as rules ask it


def classify(event: Event, rules):
    """Set ``level``, ``reasons`` and ``rules`` on ``event`` (and return it).  ``rules`` from
    :func:`compile_risk_rules` are judged through their index, and a Linux event that looks
    the same to them as one judged recently gets the same judgement; any other sequence of
    compiled rules, every one of them."""
    judgements = rules.judgements if isinstance(rules, RiskRules) else None
    if judgements is not None and event.get("kind") != "windows":
        try:
            key = _judged(event)
            judged = judgements.get(key) if key is not None else None
        except TypeError:  # not an event of the parser's: judged in full
            key = judged = None
        if judged is not None:
            event["level"], reasons, rule_ids = judged
            event["reasons"], event["rules"] = list(reasons), list(rule_ids)
            return event
        _judge(event, rules)
        if key is not None:
            if len(judgements) >= _KEPT_JUDGEMENTS:
                judgements.clear()
            judgements[key] = (event["level"], tuple(event["reasons"]), tuple(event["rules"]))
        return event
    return _judge(event, rules)


def _judge(event, rules):
    facts = event_facts(event)
    windows = event.get("kind") == "windows"
    if isinstance(rules, RiskRules):
        rules = rules.candidates(event, facts)
    fired = [rule for rule in rules
             if (windows or not rule.windows_only) and rule.fires(event, facts)]
    fired.sort(key=lambda rule: -rule.rank)
    event["level"] = fired[0].level if fired else "info"
    event["reasons"] = [rule.reason for rule in fired]
    event["rules"] = [rule.rule_id for rule in fired]
    return event


def at_least(level, minimum):
    """Whether ``level`` is ``minimum`` or higher."""
    return LEVEL_RANK[level] >= LEVEL_RANK[minimum]
