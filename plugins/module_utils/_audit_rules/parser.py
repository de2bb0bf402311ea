# -*- coding: utf-8 -*-
# Copyright: whotouched.server_audit contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to whotouched.server_audit: it may change in any release. Do not import it from
# other collections or from code outside this collection.
"""Reading Linux audit rules as ``auditctl`` reads them, into rules compared by meaning.

A rule is read the way ``auditctl`` reads one line of a rules file (words separated by spaces,
no shell quoting; ``rules_file`` says what a line is) and turned into an :class:`AuditRule` whose equality is equality
of meaning:

* ``-a exit,always`` and ``-a always,exit`` are the same; ``-a`` and ``-A`` add the same
  rule (only its place in the kernel list differs);
* ``-k x`` and ``-F key=x`` are the same key; several keys are kept in their order because
  the kernel logs them joined in that order;
* repeated ``-S`` and comma lists, syscall order, ``-S all`` and no ``-S`` on the exit list;
* ``-F`` order (the kernel ANDs the fields), ``auid!=4294967295`` / ``-1`` / ``unset``,
  ``a0=2`` / ``0x2``, ``exit=-EPERM`` / ``-1``, ``msgtype=1300`` / ``SYSCALL``,
  ``filetype=file`` / ``32768``, ``-C auid!=uid`` / ``-C uid!=auid``;
* ``-w /etc/ -p wa`` and ``-w /etc -p aw``.

``-w /etc -p wa`` and ``-a always,exit -F dir=/etc -F perm=wa`` stay different rules in a
file (a watch on a missing path or a file is not a ``dir`` rule), but
:func:`as_listed_watch` shows the second as ``auditctl -l`` does, for comparing with the
kernel's list.

It does not hide differences the kernel sees: the same syscall names under
``arch=b32`` and ``arch=b64`` are different rules.

Everything here is a pure function of its arguments; nothing runs commands.  What the
target machine knows (its syscall tables, its users) is passed in through
:class:`RuleContext`.  Writing rules back is ``formatting``, merging them into a file
``merge``.
"""

from __future__ import annotations

import errno as _errno
import re
from typing import Dict, Iterable, List, NoReturn, Optional, Tuple

from ansible_collections.whotouched.server_audit.plugins.module_utils._audit_rules.grammar import (
    ACTIONS,
    ARGUMENT_FIELDS,
    AUDIT_MAX_KEY_LEN,
    COMPARABLE_GIDS,
    COMPARABLE_UIDS,
    CONTROL_OPTIONS,
    EQUALITY_OPERATORS,
    EXIT_ONLY_FIELDS,
    FIELD_ALIASES,
    FILE_TYPES,
    FILTER_LISTS,
    FS_TYPES,
    GID_FIELDS,
    KEY_SEPARATOR,
    KNOWN_FIELDS,
    LABEL_FIELDS,
    LISTS_WITH_SYSCALLS,
    LONG_OPTIONS,
    MACHINE_FAMILIES,
    MESSAGE_TYPE_NAMES,
    MESSAGE_TYPES,
    NOT_IN_A_RULES_FILE,
    NUMBER_FIELDS,
    OPERATORS,
    PATH_FIELDS,
    PERMISSION_ORDER,
    SHORT_FLAGS,
    SHORT_OPTIONS_WITH_VALUE,
    UID_FIELDS,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._audit_rules.model import (
    DEFAULT_CONTEXT,
    AuditRule,
    Field,
    RuleContext,
    RuleSyntaxError,
    arch_of,
    field_sort_key,
)

_NUMBER_RE = re.compile(r"^-?(0[xX][0-9a-fA-F]+|[0-9]+)$")
_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.@-]*$")
_SYSCALL_RE = re.compile(r"^([a-z_][a-z0-9_]*|[0-9]+)$")
# Fields compared only for (in)equality: paths, labels and names of kinds.
_EQUALITY_ONLY_FIELDS = PATH_FIELDS | LABEL_FIELDS | {"arch", "perm", "filetype", "fstype"}
# A field's name, its operator (the first of OPERATORS it begins with) and its value.
_FIELD_RE = re.compile(r"([a-z_0-9]*)(%s)?(.*)\Z" % "|".join(map(re.escape, OPERATORS)),
                       re.DOTALL)
# How many values the tables below keep before they start again (a long process reads many
# files).
_MEMO_LIMIT = 100000


class _Shared(dict):
    """Equal values as one object: a long file repeats the same words, fields and syscall lists,
    and its rules then share them instead of holding a copy each."""

    def __missing__(self, value):
        if len(self) >= _MEMO_LIMIT:
            self.clear()
        self[value] = value
        return value


_SHARED = _Shared()
# "-F", "-S" ...: the option words that take the next word as their value.
_VALUE_OPTION_WORDS = frozenset("-" + letter for letter in SHORT_OPTIONS_WITH_VALUE)
# What an option's argument was read as, for arguments read before (long files repeat them):
# per machine name (what ``-F arch=`` values mean) the ``-F`` argument's canonical field;
# ``-S``, ``-p`` and ``-a`` arguments; syscall lists (without numbers) and fields in their
# canonical order.
_FIELD_MEMOS: Dict[str, Dict[str, Field]] = {}
_SYSCALL_MEMO: Dict[str, Tuple[List[str], bool]] = {}
_PERMISSIONS_MEMO: Dict[str, str] = {}
_LIST_ACTION_MEMO: Dict[str, Tuple[str, str]] = {}
_SORTED_SYSCALLS_MEMO: Dict[Tuple[str, ...], Tuple[str, ...]] = {}
_SORTED_FIELDS_MEMO: Dict[Tuple[Field, ...], Tuple[Field, ...]] = {}


def _remember(memo: Dict, key, value):
    """``value``, stored in ``memo`` under ``key`` (a full memo starts again)."""
    if len(memo) >= _MEMO_LIMIT:
        memo.clear()
    memo[key] = value
    return value


def rule_words(text: str) -> List[str]:
    """The words of a rule as ``auditctl -R`` reads a line: separated by spaces, and by nothing
    else (a tab or a carriage return is part of the word it is in); there is no quoting."""
    return [word for word in text.split(" ") if word]


def joined_words(text: str) -> str:
    """The rule's words joined by one blank; errors quote the rule in this form."""
    return " ".join(rule_words(text))


def _options(rule_text: str, words: List[str]) -> List[Tuple[str, Optional[str], str]]:
    """(option, argument, word) triples the way getopt_long reads auditctl's options."""
    options = []
    index = 0
    count = len(words)
    while index < count:
        word = words[index]
        index += 1
        if word in _VALUE_OPTION_WORDS and index < count:
            # The common case, "-F arch=b64": what the loop below does with it, in short.
            argument = words[index]
            index += 1
            options.append((word, argument, argument))
            continue
        if word.startswith("--") and len(word) > 2:
            name, has_value, attached = word.partition("=")
            if name not in LONG_OPTIONS:
                if name in ("--signal", "--reset_backlog_wait_time_actual"):
                    raise RuleSyntaxError(rule_text, word, "%s is a command, not a rule" % name)
                raise RuleSyntaxError(rule_text, word, "unknown option %s" % name)
            if LONG_OPTIONS[name]:
                if has_value:
                    argument = attached
                elif index < count:
                    argument = words[index]
                    index += 1
                else:
                    raise RuleSyntaxError(rule_text, word, "option %s needs a value" % name)
                options.append((name, argument, argument))
            else:
                if has_value:
                    raise RuleSyntaxError(rule_text, word, "option %s takes no value" % name)
                options.append((name, None, word))
            continue
        if not word.startswith("-") or word == "-":
            raise RuleSyntaxError(rule_text, word, "parameter passed without an option given")
        position = 1
        while position < len(word):
            letter = word[position]
            position += 1
            if letter in SHORT_OPTIONS_WITH_VALUE:
                if position < len(word):
                    argument = word[position:]
                elif index < count:
                    # getopt takes the next word even when it starts with "-".
                    argument = words[index]
                    index += 1
                else:
                    raise RuleSyntaxError(rule_text, word, "option -%s needs a value" % letter)
                # Errors about the value name the value, the word a user must fix.
                options.append(("-" + letter, argument, argument))
                break
            if letter in SHORT_FLAGS:
                options.append(("-" + letter, None, word))
                continue
            raise RuleSyntaxError(rule_text, word, "unknown option -%s" % letter)
    return options


def parse_number(text: str) -> Optional[int]:
    """strtol with base 0, as auditctl reads numbers; None when it is not one."""
    if not _NUMBER_RE.match(text):
        return None
    negative = text.startswith("-")
    digits = text[1:] if negative else text
    value = int(digits, 16) if digits[:2].lower() == "0x" else int(digits, 10)
    return -value if negative else value


def names_an_id(name: str, value: str) -> bool:
    """Whether the field ``name`` holds a user or group name, which auditctl resolves to a
    number on the target, rather than a number."""
    return (name in UID_FIELDS or name in GID_FIELDS) and parse_number(value) is None


def _canonical_uid(value: str, name: str, rule_text: str, token: str) -> str:
    if name in ("auid", "obj_uid") and value == "unset":
        return "-1"
    number = parse_number(value)
    if number is not None:
        number &= 0xFFFFFFFF
        # 4294967295 is "unset" (-1) for every id field.
        return "-1" if number == 0xFFFFFFFF else str(number)
    if _NAME_RE.match(value):
        return value
    raise RuleSyntaxError(rule_text, token, "-F value should be a number or a name for %s" % name)


def _canonical_arch(value: str, context: RuleContext, rule_text: str, token: str) -> str:
    if value in ("b32", "b64"):
        return value
    family = MACHINE_FAMILIES.get(value)
    if family is None:
        raise RuleSyntaxError(rule_text, token, "arch %s: machine type not found" % value)
    native = MACHINE_FAMILIES.get(context.machine)
    if native and native[0] == family[0]:
        return "b%d" % family[1]
    return value


def _canonical_errno(value: str, rule_text: str, token: str) -> str:
    number = parse_number(value)
    if number is not None:
        return str(number)
    negative = value.startswith("-")
    name = value[1:] if negative else value
    code = getattr(_errno, name, None) if name.isupper() else None
    if not isinstance(code, int):
        raise RuleSyntaxError(rule_text, token, "-F unknown errno - %s" % value)
    return str(-code if negative else code)


def _canonical_path(value: str) -> str:
    # "/etc/" and "/etc" name the same directory; auditctl -l prints watches without "/".
    stripped = value.rstrip("/")
    return stripped or "/"


def _canonical_field_value(name: str, operator: str, value: str, context: RuleContext,
                           rule_text: str, token: str) -> str:
    if name in _EQUALITY_ONLY_FIELDS and operator not in EQUALITY_OPERATORS:
        raise RuleSyntaxError(rule_text, token, "%s only takes = or != operators" % name)
    if name == "arch":
        return _canonical_arch(value, context, rule_text, token)
    if name in UID_FIELDS or name in GID_FIELDS:
        return _canonical_uid(value, name, rule_text, token)
    if name in NUMBER_FIELDS:
        number = parse_number(value)
        if number is None:
            raise RuleSyntaxError(rule_text, token, "-F value should be number for %s" % name)
        return str(number)
    if name in ARGUMENT_FIELDS:
        number = parse_number(value)
        if number is None:
            raise RuleSyntaxError(rule_text, token, "-F value should be number for %s" % name)
        return "0x%X" % (number & 0xFFFFFFFF)
    if name == "exit":
        return _canonical_errno(value, rule_text, token)
    if name == "msgtype":
        number = parse_number(value)
        if number is not None:
            return MESSAGE_TYPE_NAMES.get(number, str(number))
        if value.upper() in MESSAGE_TYPES:
            return value.upper()
        raise RuleSyntaxError(rule_text, token, "-F unknown message type - %s" % value)
    if name == "perm":
        if not value or any(letter not in PERMISSION_ORDER for letter in value):
            raise RuleSyntaxError(rule_text, token, "permission can only contain 'rwxa'")
        return "".join(letter for letter in PERMISSION_ORDER if letter in value)
    if name == "filetype":
        number = parse_number(value)
        for type_name, type_number in FILE_TYPES.items():
            if value == type_name or number == type_number:
                return type_name
        raise RuleSyntaxError(rule_text, token, "-F unknown file type - %s" % value)
    if name == "fstype":
        number = parse_number(value)
        for type_name, type_number in FS_TYPES.items():
            if value == type_name or number == type_number:
                return type_name
        if number is not None:
            return str(number)
        raise RuleSyntaxError(rule_text, token, "-F unknown file system type - %s" % value)
    if name in PATH_FIELDS:
        if not value.startswith("/"):
            raise RuleSyntaxError(rule_text, token, "%s must be an absolute path" % name)
        return _canonical_path(value)
    return value


def _split_field(argument: str, option: str, rule_text: str, token: str) -> Field:
    name, operator, value = _FIELD_RE.match(argument).groups()
    if operator is None:
        raise RuleSyntaxError(rule_text, token, "%s missing operation for %s" % (option, argument))
    if not name:
        raise RuleSyntaxError(rule_text, token,
                              "%s missing field name before operator for %s" % (option, argument))
    if not value:
        raise RuleSyntaxError(rule_text, token,
                              "%s missing value after operation for %s" % (option, argument))
    return name, operator, value


def _parse_list_action(argument: str, rule_text: str, token: str) -> Tuple[str, str]:
    words = argument.split(",")
    lists = [word for word in words if word in FILTER_LISTS]
    actions = [word for word in words if word in ACTIONS]
    if "possible" in words:
        raise RuleSyntaxError(rule_text, token, "the possible action is deprecated")
    if "entry" in words:
        raise RuleSyntaxError(rule_text, token, "the entry list is deprecated, use exit")
    if len(words) != 2 or len(lists) != 1 or len(actions) != 1:
        raise RuleSyntaxError(rule_text, token, "bad list,action keyword %s" % argument)
    return lists[0], actions[0]


def _add_key(keys: List[str], key: str, rule_text: str, token: str) -> None:
    if not key:
        raise RuleSyntaxError(rule_text, token, "key option needs a value")
    if KEY_SEPARATOR in key:
        raise RuleSyntaxError(rule_text, token, "key %s has an illegal character" % key)
    joined = len(KEY_SEPARATOR.join(keys + [key])) if keys else len(key)
    if joined > AUDIT_MAX_KEY_LEN:
        raise RuleSyntaxError(rule_text, token, "key option exceeds size limit")
    keys.append(_SHARED[key])


def _syscall_sort_key(name: str) -> Tuple[int, int, str]:
    return (1, int(name), "") if name.isdigit() else (0, 0, name)


def _canonical_syscalls(names: Iterable[str], arch: str, context: RuleContext) -> Tuple[str, ...]:
    table = (context.syscall_tables or {}).get(arch)
    by_number = None  # built only for a rule that names a syscall by number
    result = set()
    for name in names:
        if name.isdigit() and table:
            if by_number is None:
                by_number = {number: known for known, number in table.items()}
            name = by_number.get(int(name), name)
        result.add(name)
    return tuple(sorted(result, key=_syscall_sort_key))


def parse_rule(text: str, context: RuleContext = DEFAULT_CONTEXT) -> AuditRule:
    """Parse one ``auditctl`` command line (without ``auditctl``) into an :class:`AuditRule`.

    Raises :class:`RuleSyntaxError` for anything ``auditctl`` would refuse before talking
    to the kernel, and for a few things it would send but the kernel refuses for sure
    (relative paths, ordering operators on strings).
    """
    words = text.split(" ")
    joined = text
    if "" in words:
        words = [word for word in words if word]  # rule_words
        joined = " ".join(words)
    if not words:
        raise RuleSyntaxError(text, text, "empty rule")
    options = _options(joined, words)

    controls = [item for item in options if item[0] in CONTROL_OPTIONS]
    if controls:
        if len(options) != 1:
            other = next(item for item in options if item is not controls[0])
            raise RuleSyntaxError(joined, other[2], "a control option must be alone on its line")
        return _control_rule(joined, *controls[0])
    return _rule_from_options(joined, options, context)


def _control_rule(rule_text: str, option: str, argument: Optional[str], token: str) -> AuditRule:
    if not CONTROL_OPTIONS[option]:
        return AuditRule(kind="control", option=option)
    number = parse_number(argument or "")
    if option in ("-e", "-f"):
        if argument not in ("0", "1", "2"):
            what = "Enable" if option == "-e" else "Failure"
            raise RuleSyntaxError(rule_text, token, "%s must be 0, 1, or 2 was %s" % (what, argument))
    elif number is None or number < 0:
        raise RuleSyntaxError(rule_text, token, "%s needs a non-negative number, was %s"
                              % (option, argument))
    return AuditRule(kind="control", option=option, value=str(number))


class _Draft:
    """What the options of one rule have said so far, each checked as auditctl checks it."""

    __slots__ = ("text", "context", "command", "watch", "filter_list", "action", "syscalls",
                 "syscall_arch", "fields", "comparisons", "keys", "path", "permissions",
                 "key_anchor", "numbered", "field_memo")

    def __init__(self, text: str, context: RuleContext):
        self.text = text
        self.context = context
        self.command: Optional[str] = None  # "-a", "-A", "-d", "-w" or "-W"
        self.watch = False  # the command is -w or -W
        self.filter_list = ""
        self.action = ""
        self.syscalls: List[str] = []
        self.syscall_arch: Optional[str] = None
        self.fields: List[Field] = []
        self.comparisons: List[Field] = []
        self.keys: List[str] = []
        self.path = ""
        self.permissions: Optional[str] = None
        # auditctl takes a key only after something that selects events: -S, a watch, a
        # path/dir/perm/exe field, or the filesystem list.
        self.key_anchor = False
        self.numbered = False  # a syscall is given by its number
        self.field_memo = _FIELD_MEMOS.get(context.machine)
        if self.field_memo is None:
            self.field_memo = _FIELD_MEMOS[context.machine] = {}

    @property
    def takes_key(self) -> bool:
        return self.key_anchor or self.filter_list == "filesystem"

    def refuse(self, token: str, reason: str) -> NoReturn:
        raise RuleSyntaxError(self.text, token, reason)


def _take_list(draft: _Draft, option: str, argument: str, token: str) -> None:
    """``-a``, ``-A`` or ``-d LIST,ACTION``."""
    if draft.watch:
        draft.refuse(token, "watch option can't be given with a syscall")
    if draft.command:
        draft.refuse(token, "Multiple rule insert/delete operations are not allowed")
    list_action = _LIST_ACTION_MEMO.get(argument)
    if list_action is None:
        list_action = _remember(_LIST_ACTION_MEMO, argument,
                                _parse_list_action(argument, draft.text, token))
    draft.filter_list, draft.action = list_action
    if draft.filter_list == "task" and draft.syscalls:
        draft.refuse(token, "Syscall auditing requested for task list")
    draft.command = option


def _take_watch(draft: _Draft, option: str, argument: str, token: str) -> None:
    """``-w`` or ``-W PATH``."""
    if draft.command:
        draft.refuse(token, "watch option can't be given with a syscall")
    if not argument.startswith("/"):
        draft.refuse(token, "The path must start with '/'")
    draft.command, draft.path = option, _SHARED[_canonical_path(argument)]
    draft.watch = draft.key_anchor = True


def _take_syscalls(draft: _Draft, option: str, argument: str, token: str) -> None:
    """``-S NAME[,NAME...]``."""
    if draft.watch:
        draft.refuse(token, "-S cannot be given with a watch")
    if not draft.command:
        draft.refuse(token, "-S needs -a, -A or -d before it")
    if draft.filter_list not in LISTS_WITH_SYSCALLS:
        draft.refuse(token, "syscall auditing cannot be added to the %s list" % draft.filter_list)
    names = _SYSCALL_MEMO.get(argument)
    if names is None:
        names = argument.split(",")
        for name in names:
            if not _SYSCALL_RE.match(name):
                draft.refuse(token, "Syscall name unknown: %s" % name)
        names = _remember(_SYSCALL_MEMO, argument,
                          ([_SHARED[name] for name in names], any(map(str.isdigit, names))))
    draft.syscalls += names[0]
    draft.numbered = draft.numbered or names[1]
    if draft.syscall_arch is None:
        draft.syscall_arch = arch_of(draft.fields) or draft.context.native_arch
    draft.key_anchor = True


_EXCLUDE_FIELDS_MESSAGE = "Only msgtype, *uid, *gid, pid, and subj* fields can be used with exclude filter"


def _take_field(draft: _Draft, option: str, argument: str, token: str) -> None:
    """``-F NAME OPERATOR VALUE``, ``-F key=KEY`` among them."""
    if draft.watch:
        draft.refuse(token, "-F after a watch is not supported: write the rule as "
                            "-a always,exit -F path=... -F perm=...")
    if not draft.command:
        draft.refuse(token, "List must be given before field")
    if argument.startswith("key="):
        if draft.filter_list == "exclude":
            draft.refuse(token, _EXCLUDE_FIELDS_MESSAGE)
        if not draft.takes_key:
            draft.refuse(token, "Key field needs a watch, syscall or exe path given prior to it")
        _add_key(draft.keys, argument[4:], draft.text, token)
        return
    item = draft.field_memo.get(argument)
    if item is None:
        name, operator, value = _split_field(argument, "-F", draft.text, token)
        name = FIELD_ALIASES.get(name, name)
        problem = _field_problem(draft, name)
        if problem:
            draft.refuse(token, problem)
        value = _canonical_field_value(name, operator, value, draft.context, draft.text, token)
        item = _remember(draft.field_memo, argument,
                         _SHARED[(_SHARED[name], _SHARED[operator], _SHARED[value])])
    else:
        problem = _field_problem(draft, item[0])
        if problem:
            draft.refuse(token, problem)
    draft.fields.append(item)
    draft.key_anchor = draft.key_anchor or item[0] in ("path", "dir", "perm", "exe")


def _field_problem(draft: _Draft, name: str) -> Optional[str]:
    """Why the field ``name`` cannot be used in this rule, in auditctl's words; None if it can."""
    filter_list = draft.filter_list
    if name not in KNOWN_FIELDS:
        return "-F unknown field: %s" % name
    if name == "arch" and draft.syscalls:
        return "arch must be before -S"
    if name in EXIT_ONLY_FIELDS and filter_list not in LISTS_WITH_SYSCALLS:
        return "%s can only be used with exit filter list" % name
    if name == "msgtype" and filter_list not in ("exclude", "user"):
        return "msgtype field can only be used with exclude or user filter list"
    if filter_list == "exclude" and not _allowed_on_exclude(name):
        return _EXCLUDE_FIELDS_MESSAGE
    if name == "fstype" and filter_list != "filesystem":
        return "fstype can only be used with filesystem filter list"
    return None


def _allowed_on_exclude(name: str) -> bool:
    return name in ("msgtype", "pid") or name in UID_FIELDS or name in GID_FIELDS \
        or name.startswith("subj_")


def _take_comparison(draft: _Draft, option: str, argument: str, token: str) -> None:
    """``-C FIELD OPERATOR FIELD``."""
    if not draft.command or draft.watch:
        draft.refuse(token, "List must be given before -C")
    draft.comparisons.append(_parse_comparison(argument, draft.text, token))


def _take_key(draft: _Draft, option: str, argument: str, token: str) -> None:
    """``-k KEY``."""
    if not draft.command or not (draft.key_anchor or draft.filter_list == "filesystem"):
        # (not draft.takes_key, spelled out: a long file has a key on most lines)
        draft.refuse(token, "key option needs a watch or syscall given prior to it")
    _add_key(draft.keys, argument, draft.text, token)


def _take_permissions(draft: _Draft, option: str, argument: str, token: str) -> None:
    """``-p rwxa``: a watch's permissions, or a ``perm`` field of a syscall rule."""
    if not draft.command:
        draft.refuse(token, "permission option needs a watch given prior to it")
    permissions = _PERMISSIONS_MEMO.get(argument)
    if permissions is None:
        bad = [letter for letter in argument if letter not in PERMISSION_ORDER]
        if bad or not argument:
            draft.refuse(token, "Permission %s isn't supported" % ("".join(bad) or argument))
        permissions = _remember(_PERMISSIONS_MEMO, argument, "".join(
            letter for letter in PERMISSION_ORDER if letter in argument))
    if draft.watch:
        draft.permissions = permissions
        return
    if draft.filter_list not in LISTS_WITH_SYSCALLS:
        draft.refuse(token, "perm can only be used with exit filter list")
    draft.fields.append(("perm", "=", permissions))
    draft.key_anchor = True


# What each option of a rule (not a control option) does to the rule being read.
_TAKE_OPTION = {
    "-a": _take_list, "-A": _take_list, "-d": _take_list, "-w": _take_watch, "-W": _take_watch,
    "-S": _take_syscalls, "-F": _take_field, "-C": _take_comparison, "-k": _take_key,
    "-p": _take_permissions,
}


def _rule_from_options(text: str, options, context: RuleContext) -> AuditRule:
    draft = _Draft(text, context)
    for option, argument, token in options:
        take = _TAKE_OPTION.get(option)
        if take is None:
            if option[1:] in NOT_IN_A_RULES_FILE:
                draft.refuse(token, "%s, it is not a rule" % NOT_IN_A_RULES_FILE[option[1:]])
            # _options only yields the options handled above
            draft.refuse(token, "unsupported option %s" % option)  # pragma: no cover
        take(draft, option, argument, token)
    return _finished_rule(draft)


def _finished_rule(draft: _Draft) -> AuditRule:
    """The rule the options describe, syscalls and fields in their canonical order."""
    if not draft.command:
        draft.refuse(draft.text, "no -a, -A, -d, -w or -W: not a rule")
    if draft.watch:
        return AuditRule(kind="watch", delete=draft.command == "-W", path=draft.path,
                         permissions=draft.permissions or PERMISSION_ORDER,
                         keys=_SHARED[tuple(draft.keys)])
    syscalls = draft.syscalls
    if "all" in syscalls and draft.filter_list == "exit":
        syscalls = []
    elif "all" in syscalls:
        syscalls = [name for name in syscalls if name != "all"]
    if draft.filter_list == "io_uring" or not draft.numbered:
        # Names alone do not depend on the syscall tables: their order is worked out once.
        names = tuple(syscalls)
        canonical_syscalls = _SORTED_SYSCALLS_MEMO.get(names)
        if canonical_syscalls is None:
            canonical_syscalls = _remember(_SORTED_SYSCALLS_MEMO, names, _SHARED[
                tuple(sorted(set(syscalls), key=_syscall_sort_key))])
    else:
        canonical_syscalls = _canonical_syscalls(
            syscalls, draft.syscall_arch or draft.context.native_arch, draft.context)
    fields = tuple(draft.fields)
    canonical_fields = _SORTED_FIELDS_MEMO.get(fields)
    if canonical_fields is None:
        canonical_fields = _remember(_SORTED_FIELDS_MEMO, fields,
                                     _SHARED[tuple(sorted(fields, key=field_sort_key))])
    return AuditRule(
        kind="syscall", delete=draft.command == "-d", action=draft.action,
        filter_list=draft.filter_list, syscalls=canonical_syscalls, fields=canonical_fields,
        comparisons=tuple(sorted(draft.comparisons)), keys=_SHARED[tuple(draft.keys)],
        prepend=draft.command == "-A",
    )


def _parse_comparison(argument: str, rule_text: str, token: str) -> Field:
    left, operator, right = _split_field(argument, "-C", rule_text, token)
    left = FIELD_ALIASES.get(left, left)
    right = FIELD_ALIASES.get(right, right)
    if operator not in EQUALITY_OPERATORS:
        raise RuleSyntaxError(rule_text, token, "-C only takes = or != operators")
    for group in (COMPARABLE_UIDS, COMPARABLE_GIDS):
        if left in group:
            if right not in group or right == left:
                raise RuleSyntaxError(rule_text, token,
                                      "-C unknown right hand value for comparison with: %s" % left)
            # The kernel has one comparison per pair, whichever side is written first.
            first, second = sorted((left, right))
            return (first, operator, second)
    raise RuleSyntaxError(rule_text, token, "-C unknown field: %s" % left)


def as_listed_watch(rule: AuditRule) -> AuditRule:
    """The rule as ``auditctl -l`` shows it: ``-a always,exit -F path=X -F perm=P`` as ``-w X``.

    Only for comparing with the kernel's list.  In a file the two spellings differ: ``-w``
    on a missing path or on a file is not what ``-F dir=`` asks for.
    """
    if rule.filter_list != "exit" or rule.action != "always" or rule.syscalls \
            or rule.comparisons:
        return rule
    names = sorted(name for name, _operator, _value in rule.fields)
    if names not in (["path", "perm"], ["dir", "perm"]):
        return rule
    if any(operator != "=" for _name, operator, _value in rule.fields):
        return rule
    values = dict((name, value) for name, _operator, value in rule.fields)
    return AuditRule(kind="watch", delete=rule.delete, path=values.get("path") or values["dir"],
                     permissions=values["perm"], keys=rule.keys, prepend=rule.prepend)


def required_directory(text: str, context: RuleContext = DEFAULT_CONTEXT) -> Optional[str]:
    """The directory that must exist for the kernel to take the rule, or None if it names no path.

    ``-w PATH`` and ``-F path=PATH`` need the directory PATH is in (the kernel refuses a watch
    whose parent is missing, and accepts one on a missing file); written with a trailing
    ``/``, PATH is meant as a directory and must exist itself, or the watch would wait for
    its creation instead of seeing what is written in it.  ``-F dir=DIR`` needs DIR.  Raises
    :class:`RuleSyntaxError` for a rule ``auditctl`` would refuse.
    """
    rule = parse_rule(text, context)
    if rule.kind not in ("watch", "syscall"):
        return None
    words = rule_words(text)
    for option, argument, _token in _options(" ".join(words), words):
        if option in ("-w", "-W"):
            written, tree = argument, False
        elif option == "-F" and argument.startswith(("path=", "dir=")):
            name, _equals, written = argument.partition("=")
            tree = name == "dir"
        else:
            continue
        if tree or written.endswith("/"):
            return _canonical_path(written)
        return _canonical_path(written).rsplit("/", 1)[0] or "/"
    return None


def parse_syscall_table(dump: str) -> Dict[str, int]:
    """``{name: number}`` from ``ausyscall <arch> --dump`` output."""
    table = {}
    for line in dump.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0].isdigit():
            table[parts[1]] = int(parts[0])
    return table
