# -*- coding: utf-8 -*-
# Copyright: whotouched.server_audit contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to whotouched.server_audit: it may change in any release. Do not import it from
# other collections or from code outside this collection.
"""Linux audit rules as ``auditctl`` understands them: parse, normalize, compare, merge.

A rule is read the way ``auditctl`` reads one line of a rules file (whitespace-separated
words, no shell quoting) and turned into an :class:`AuditRule` whose equality is equality
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
:class:`RuleContext`.
"""

from __future__ import annotations

import errno as _errno
import re
from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

AUDIT_MAX_KEY_LEN = 256
# auditctl joins several keys of one rule with this byte before sending them.
KEY_SEPARATOR = "\x01"

FILTER_LISTS = ("task", "exit", "user", "exclude", "filesystem", "io_uring")
ACTIONS = ("never", "always")
# Lists that take -S: the exit list takes syscalls, io_uring takes io_uring operations.
LISTS_WITH_SYSCALLS = ("exit", "io_uring")
# Fields that only make sense once a syscall has run (objects, results).
EXIT_ONLY_FIELDS = frozenset((
    "exit", "success", "path", "dir", "perm", "filetype", "inode", "devmajor", "devminor",
    "obj_user", "obj_role", "obj_type", "obj_lev_low", "obj_lev_high", "obj_uid", "obj_gid",
))

UID_FIELDS = frozenset(("uid", "euid", "suid", "fsuid", "auid", "obj_uid"))
GID_FIELDS = frozenset(("gid", "egid", "sgid", "fsgid", "obj_gid"))
NUMBER_FIELDS = frozenset((
    "pid", "ppid", "pers", "devmajor", "devminor", "inode", "sessionid", "saddr_fam",
    "loginuid_set", "success",
))
ARGUMENT_FIELDS = frozenset(("a0", "a1", "a2", "a3"))
PATH_FIELDS = frozenset(("path", "dir", "exe"))
LABEL_FIELDS = frozenset((
    "subj_user", "subj_role", "subj_type", "subj_sen", "subj_clr",
    "obj_user", "obj_role", "obj_type", "obj_lev_low", "obj_lev_high",
))
SPECIAL_FIELDS = frozenset(("arch", "msgtype", "exit", "perm", "filetype", "fstype", "key"))
# The order fields are written in a normalized rule: what is watched, then who, then
# how it ended, then the rest.  Only presentation: equality ignores field order.
FIELD_ORDER = (
    "arch", "path", "dir", "exe", "perm", "filetype", "fstype", "msgtype",
    "pid", "ppid", "uid", "euid", "suid", "fsuid", "auid", "gid", "egid", "sgid", "fsgid",
    "loginuid_set", "sessionid", "pers",
    "subj_user", "subj_role", "subj_type", "subj_sen", "subj_clr",
    "obj_user", "obj_role", "obj_type", "obj_lev_low", "obj_lev_high", "obj_uid", "obj_gid",
    "devmajor", "devminor", "inode", "saddr_fam", "a0", "a1", "a2", "a3", "exit", "success",
)
KNOWN_FIELDS = frozenset(FIELD_ORDER)
FIELD_ALIASES = {"loginuid": "auid"}
OPERATORS = ("!=", "<=", ">=", "&=", "=", "<", ">", "&")
EQUALITY_OPERATORS = ("=", "!=")
_FIELD_RANK = {name: rank for rank, name in enumerate(FIELD_ORDER)}

# -C compares two fields of the same kind; the kernel has one comparison per pair.
COMPARABLE_UIDS = frozenset(("uid", "euid", "suid", "fsuid", "auid", "obj_uid"))
COMPARABLE_GIDS = frozenset(("gid", "egid", "sgid", "fsgid", "obj_gid"))

FILE_TYPES = {
    "fifo": 0o010000, "character": 0o020000, "dir": 0o040000, "block": 0o060000,
    "file": 0o100000, "link": 0o120000, "socket": 0o140000,
}
FS_TYPES = {"debugfs": 0x64626720, "tracefs": 0x74726163}
PERMISSION_ORDER = "rwxa"

# Machine names auditctl accepts for -F arch=, by family and word size.  A name
# of the target's own family means the same as b32/b64 there.
MACHINE_FAMILIES = {
    "x86_64": ("x86", 64), "i386": ("x86", 32), "i486": ("x86", 32), "i586": ("x86", 32),
    "i686": ("x86", 32), "aarch64": ("arm", 64), "armeb": ("arm", 32),
    "armv5tejl": ("arm", 32), "armv5tel": ("arm", 32), "armv6l": ("arm", 32),
    "armv7l": ("arm", 32), "armv8l": ("arm", 32), "ppc64": ("ppc", 64),
    "ppc64le": ("ppc", 64), "ppc": ("ppc", 32), "s390x": ("s390", 64), "s390": ("s390", 32),
    "riscv64": ("riscv", 64), "riscv32": ("riscv", 32), "loongarch64": ("loongarch", 64),
}

# Message types known to libaudit 3.0 (audit_msg_type_to_name), for -F msgtype=.
_MESSAGE_TYPE_TABLE = (
    "USER=1005 LOGIN=1006 USER_AUTH=1100 USER_ACCT=1101 USER_MGMT=1102 CRED_ACQ=1103 "
    "CRED_DISP=1104 USER_START=1105 USER_END=1106 USER_AVC=1107 USER_CHAUTHTOK=1108 "
    "USER_ERR=1109 CRED_REFR=1110 USYS_CONFIG=1111 USER_LOGIN=1112 USER_LOGOUT=1113 "
    "ADD_USER=1114 DEL_USER=1115 ADD_GROUP=1116 DEL_GROUP=1117 DAC_CHECK=1118 "
    "CHGRP_ID=1119 TEST=1120 TRUSTED_APP=1121 USER_SELINUX_ERR=1122 USER_CMD=1123 "
    "USER_TTY=1124 CHUSER_ID=1125 GRP_AUTH=1126 SYSTEM_BOOT=1127 SYSTEM_SHUTDOWN=1128 "
    "SYSTEM_RUNLEVEL=1129 SERVICE_START=1130 SERVICE_STOP=1131 GRP_MGMT=1132 "
    "GRP_CHAUTHTOK=1133 MAC_CHECK=1134 ACCT_LOCK=1135 ACCT_UNLOCK=1136 USER_DEVICE=1137 "
    "SOFTWARE_UPDATE=1138 DAEMON_START=1200 DAEMON_END=1201 DAEMON_ABORT=1202 "
    "DAEMON_CONFIG=1203 DAEMON_RECONFIG=1204 DAEMON_ROTATE=1205 DAEMON_RESUME=1206 "
    "DAEMON_ACCEPT=1207 DAEMON_CLOSE=1208 DAEMON_ERR=1209 SYSCALL=1300 FS_WATCH=1301 "
    "PATH=1302 IPC=1303 SOCKETCALL=1304 CONFIG_CHANGE=1305 SOCKADDR=1306 CWD=1307 "
    "EXECVE=1309 IPC_SET_PERM=1311 MQ_OPEN=1312 MQ_SENDRECV=1313 MQ_NOTIFY=1314 "
    "MQ_GETSETATTR=1315 KERNEL_OTHER=1316 FD_PAIR=1317 OBJ_PID=1318 TTY=1319 EOE=1320 "
    "BPRM_FCAPS=1321 CAPSET=1322 MMAP=1323 NETFILTER_PKT=1324 NETFILTER_CFG=1325 "
    "SECCOMP=1326 PROCTITLE=1327 FEATURE_CHANGE=1328 REPLACE=1329 KERN_MODULE=1330 "
    "FANOTIFY=1331 TIME_INJOFFSET=1332 TIME_ADJNTPVAL=1333 BPF=1334 EVENT_LISTENER=1335 "
    "URINGOP=1336 OPENAT2=1337 DM_CTRL=1338 DM_EVENT=1339 AVC=1400 SELINUX_ERR=1401 "
    "AVC_PATH=1402 MAC_POLICY_LOAD=1403 MAC_STATUS=1404 MAC_CONFIG_CHANGE=1405 "
    "MAC_UNLBL_ALLOW=1406 MAC_CIPSOV4_ADD=1407 MAC_CIPSOV4_DEL=1408 MAC_MAP_ADD=1409 "
    "MAC_MAP_DEL=1410 MAC_IPSEC_ADDSA=1411 MAC_IPSEC_DELSA=1412 MAC_IPSEC_ADDSPD=1413 "
    "MAC_IPSEC_DELSPD=1414 MAC_IPSEC_EVENT=1415 MAC_UNLBL_STCADD=1416 "
    "MAC_UNLBL_STCDEL=1417 MAC_CALIPSO_ADD=1418 MAC_CALIPSO_DEL=1419 APPARMOR=1500 "
    "APPARMOR_AUDIT=1501 APPARMOR_ALLOWED=1502 APPARMOR_DENIED=1503 APPARMOR_HINT=1504 "
    "APPARMOR_STATUS=1505 APPARMOR_ERROR=1506 APPARMOR_KILL=1507 ANOM_PROMISCUOUS=1700 "
    "ANOM_ABEND=1701 ANOM_LINK=1702 ANOM_CREAT=1703 INTEGRITY_DATA=1800 "
    "INTEGRITY_METADATA=1801 INTEGRITY_STATUS=1802 INTEGRITY_HASH=1803 INTEGRITY_PCR=1804 "
    "INTEGRITY_RULE=1805 INTEGRITY_EVM_XATTR=1806 INTEGRITY_POLICY_RULE=1807 KERNEL=2000 "
    "ANOM_LOGIN_FAILURES=2100 ANOM_LOGIN_TIME=2101 ANOM_LOGIN_SESSIONS=2102 "
    "ANOM_LOGIN_ACCT=2103 ANOM_LOGIN_LOCATION=2104 ANOM_MAX_DAC=2105 ANOM_MAX_MAC=2106 "
    "ANOM_AMTU_FAIL=2107 ANOM_RBAC_FAIL=2108 ANOM_RBAC_INTEGRITY_FAIL=2109 "
    "ANOM_CRYPTO_FAIL=2110 ANOM_ACCESS_FS=2111 ANOM_EXEC=2112 ANOM_MK_EXEC=2113 "
    "ANOM_ADD_ACCT=2114 ANOM_DEL_ACCT=2115 ANOM_MOD_ACCT=2116 ANOM_ROOT_TRANS=2117 "
    "ANOM_LOGIN_SERVICE=2118 ANOM_LOGIN_ROOT=2119 ANOM_ORIGIN_FAILURES=2120 "
    "ANOM_SESSION=2121 RESP_ANOMALY=2200 RESP_ALERT=2201 RESP_KILL_PROC=2202 "
    "RESP_TERM_ACCESS=2203 RESP_ACCT_REMOTE=2204 RESP_ACCT_LOCK_TIMED=2205 "
    "RESP_ACCT_UNLOCK_TIMED=2206 RESP_ACCT_LOCK=2207 RESP_TERM_LOCK=2208 RESP_SEBOOL=2209 "
    "RESP_EXEC=2210 RESP_SINGLE=2211 RESP_HALT=2212 RESP_ORIGIN_BLOCK=2213 "
    "RESP_ORIGIN_BLOCK_TIMED=2214 RESP_ORIGIN_UNBLOCK_TIMED=2215 USER_ROLE_CHANGE=2300 "
    "ROLE_ASSIGN=2301 ROLE_REMOVE=2302 LABEL_OVERRIDE=2303 LABEL_LEVEL_CHANGE=2304 "
    "USER_LABELED_EXPORT=2305 USER_UNLABELED_EXPORT=2306 DEV_ALLOC=2307 DEV_DEALLOC=2308 "
    "FS_RELABEL=2309 USER_MAC_POLICY_LOAD=2310 ROLE_MODIFY=2311 USER_MAC_CONFIG_CHANGE=2312 "
    "USER_MAC_STATUS=2313 CRYPTO_TEST_USER=2400 CRYPTO_PARAM_CHANGE_USER=2401 "
    "CRYPTO_LOGIN=2402 CRYPTO_LOGOUT=2403 CRYPTO_KEY_USER=2404 CRYPTO_FAILURE_USER=2405 "
    "CRYPTO_REPLAY_USER=2406 CRYPTO_SESSION=2407 CRYPTO_IKE_SA=2408 CRYPTO_IPSEC_SA=2409 "
    "VIRT_CONTROL=2500 VIRT_RESOURCE=2501 VIRT_MACHINE_ID=2502 VIRT_INTEGRITY_CHECK=2503 "
    "VIRT_CREATE=2504 VIRT_DESTROY=2505 VIRT_MIGRATE_IN=2506 VIRT_MIGRATE_OUT=2507"
)
MESSAGE_TYPES = {name: int(number) for name, number in
                 (pair.split("=") for pair in _MESSAGE_TYPE_TABLE.split())}
_MESSAGE_TYPE_NAMES = {number: name for name, number in MESSAGE_TYPES.items()}

# Control options: name -> does it take a value.  Settings that take a value hold one
# value at a time, so a new value replaces the old line instead of adding a second.
CONTROL_OPTIONS = {
    "-D": False, "-b": True, "-f": True, "-r": True, "-e": True,
    "--backlog_wait_time": True, "--loginuid-immutable": False, "--reset-lost": False,
    "-i": False, "-c": False,
}
_LONG_OPTIONS = {"--backlog_wait_time": True, "--loginuid-immutable": False,
                 "--reset-lost": False}
# auditctl's own short options (getopt string "hicslDvtC:e:f:r:b:a:A:d:S:F:m:R:w:W:k:p:q:").
_SHORT_WITH_ARGUMENT = frozenset("CefrbaAdSFmRwWkpq")
_SHORT_FLAGS = frozenset("hicslDvt")
_NOT_IN_A_RULES_FILE = {
    "h": "-h prints help", "s": "-s reports status", "l": "-l lists rules",
    "v": "-v prints the version", "t": "-t trims subtrees", "m": "-m sends a user message",
    "R": "-R reads another rules file (nested rule files are not supported)",
    "q": "-q makes mount points equivalent",
}

_NUMBER_RE = re.compile(r"^-?(0[xX][0-9a-fA-F]+|[0-9]+)$")
_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.@-]*$")
_SYSCALL_RE = re.compile(r"^([a-z_][a-z0-9_]*|[0-9]+)$")
_FIELD_NAME_RE = re.compile(r"^[a-z_0-9]*")


class RuleSyntaxError(ValueError):
    """A rule ``auditctl`` would refuse; names the rule and the offending word."""

    def __init__(self, rule, token, reason):
        self.rule = rule
        self.token = token
        self.reason = reason
        super().__init__('invalid audit rule "%s": %s (at "%s")' % (rule, reason, token))


@dataclass(frozen=True)
class RuleContext:
    """What the target machine knows and a rule's meaning depends on.

    ``machine`` is the kernel's machine name (``uname -m``): it says what ``b64`` means
    and which table names syscalls of rules without ``-F arch=``.  ``syscall_tables``
    maps ``"b32"``/``"b64"`` to ``{name: number}`` (from ``ausyscall --dump``); without
    them syscall names are checked for shape only and numbers stay numbers.
    """

    machine: str = "x86_64"
    syscall_tables: Optional[Dict[str, Dict[str, int]]] = None

    @property
    def native_arch(self) -> str:
        family = MACHINE_FAMILIES.get(self.machine)
        return "b%d" % family[1] if family else "b64"


DEFAULT_CONTEXT = RuleContext()


@dataclass(frozen=True)
class AuditRule:
    """One line of a rules file, by meaning.

    ``kind`` is ``control`` (``-b 8192``), ``syscall`` (``-a``/``-A``/``-d``) or
    ``watch`` (``-w``/``-W``).  ``delete`` is true for ``-d`` and ``-W``.  Fields are
    ``(name, operator, canonical value)`` tuples kept in a fixed order, so equal rules
    compare equal.  ``prepend`` (``-A``) only decides where the kernel puts the rule
    and is not part of its meaning.
    """

    kind: str
    option: str = ""
    value: Optional[str] = None
    delete: bool = False
    action: str = ""
    filter_list: str = ""
    syscalls: Tuple[str, ...] = ()
    fields: Tuple[Tuple[str, str, str], ...] = ()
    comparisons: Tuple[Tuple[str, str, str], ...] = ()
    path: str = ""
    permissions: str = ""
    keys: Tuple[str, ...] = ()
    prepend: bool = field(default=False, compare=False)

    @property
    def arch(self) -> Optional[str]:
        """The ``-F arch=`` value the rule's syscalls are named in, if any."""
        for name, operator, value in self.fields:
            if name == "arch" and operator == "=":
                return value
        return None

    @property
    def setting(self) -> Optional[str]:
        """For control options that hold a value, the option name; else None."""
        if self.kind == "control" and CONTROL_OPTIONS.get(self.option):
            return self.option
        return None


# --------------------------------------------------------------------------- parsing

def _split_words(text: str) -> List[str]:
    # auditctl -R splits on whitespace and knows no quoting; so do we.
    return text.split()


def _options(rule_text: str, words: List[str]) -> List[Tuple[str, Optional[str], str]]:
    """(option, argument, word) triples the way getopt_long reads auditctl's options."""
    options = []
    index = 0
    while index < len(words):
        word = words[index]
        index += 1
        if word.startswith("--") and len(word) > 2:
            name, has_value, attached = word.partition("=")
            if name not in _LONG_OPTIONS:
                if name in ("--signal", "--reset_backlog_wait_time_actual"):
                    raise RuleSyntaxError(rule_text, word, "%s is a command, not a rule" % name)
                raise RuleSyntaxError(rule_text, word, "unknown option %s" % name)
            if _LONG_OPTIONS[name]:
                if has_value:
                    argument = attached
                elif index < len(words):
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
            if letter in _SHORT_WITH_ARGUMENT:
                if position < len(word):
                    argument = word[position:]
                elif index < len(words):
                    # getopt takes the next word even when it starts with "-".
                    argument = words[index]
                    index += 1
                else:
                    raise RuleSyntaxError(rule_text, word, "option -%s needs a value" % letter)
                # Errors about the value name the value, the word a user must fix.
                options.append(("-" + letter, argument, argument))
                break
            if letter in _SHORT_FLAGS:
                options.append(("-" + letter, None, word))
                continue
            raise RuleSyntaxError(rule_text, word, "unknown option -%s" % letter)
    return options


def _parse_number(text: str) -> Optional[int]:
    """strtol with base 0, as auditctl reads numbers; None when it is not one."""
    if not _NUMBER_RE.match(text):
        return None
    negative = text.startswith("-")
    digits = text[1:] if negative else text
    value = int(digits, 16) if digits[:2].lower() == "0x" else int(digits, 10)
    return -value if negative else value


def _canonical_uid(value: str, name: str, rule_text: str, token: str) -> str:
    if name in ("auid", "obj_uid") and value == "unset":
        return "-1"
    number = _parse_number(value)
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
    number = _parse_number(value)
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
    if name in (PATH_FIELDS | LABEL_FIELDS | {"arch", "perm", "filetype", "fstype"}) \
            and operator not in EQUALITY_OPERATORS:
        raise RuleSyntaxError(rule_text, token, "%s only takes = or != operators" % name)
    if name == "arch":
        return _canonical_arch(value, context, rule_text, token)
    if name in UID_FIELDS or name in GID_FIELDS:
        return _canonical_uid(value, name, rule_text, token)
    if name in NUMBER_FIELDS:
        number = _parse_number(value)
        if number is None:
            raise RuleSyntaxError(rule_text, token, "-F value should be number for %s" % name)
        return str(number)
    if name in ARGUMENT_FIELDS:
        number = _parse_number(value)
        if number is None:
            raise RuleSyntaxError(rule_text, token, "-F value should be number for %s" % name)
        return "0x%X" % (number & 0xFFFFFFFF)
    if name == "exit":
        return _canonical_errno(value, rule_text, token)
    if name == "msgtype":
        number = _parse_number(value)
        if number is not None:
            return _MESSAGE_TYPE_NAMES.get(number, str(number))
        if value.upper() in MESSAGE_TYPES:
            return value.upper()
        raise RuleSyntaxError(rule_text, token, "-F unknown message type - %s" % value)
    if name == "perm":
        if not value or any(letter not in PERMISSION_ORDER for letter in value):
            raise RuleSyntaxError(rule_text, token, "permission can only contain 'rwxa'")
        return "".join(letter for letter in PERMISSION_ORDER if letter in value)
    if name == "filetype":
        number = _parse_number(value)
        for type_name, type_number in FILE_TYPES.items():
            if value == type_name or number == type_number:
                return type_name
        raise RuleSyntaxError(rule_text, token, "-F unknown file type - %s" % value)
    if name == "fstype":
        number = _parse_number(value)
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


def _split_field(argument: str, option: str, rule_text: str, token: str) -> Tuple[str, str, str]:
    name = _FIELD_NAME_RE.match(argument).group(0)
    rest = argument[len(name):]
    operator = next((candidate for candidate in OPERATORS if rest.startswith(candidate)), None)
    if operator is None:
        raise RuleSyntaxError(rule_text, token, "%s missing operation for %s" % (option, argument))
    if not name:
        raise RuleSyntaxError(rule_text, token,
                              "%s missing field name before operator for %s" % (option, argument))
    value = rest[len(operator):]
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
    joined = len(KEY_SEPARATOR.join(keys + [key]))
    if joined > AUDIT_MAX_KEY_LEN:
        raise RuleSyntaxError(rule_text, token, "key option exceeds size limit")
    keys.append(key)


def _field_sort_key(item: Tuple[str, str, str]) -> Tuple[int, str, str, str]:
    name, operator, value = item
    return (_FIELD_RANK.get(name, len(FIELD_ORDER)), name, operator, value)


def _syscall_sort_key(name: str) -> Tuple[int, int, str]:
    return (1, int(name), "") if name.isdigit() else (0, 0, name)


def _canonical_syscalls(names: Iterable[str], arch: str, context: RuleContext) -> Tuple[str, ...]:
    table = (context.syscall_tables or {}).get(arch)
    by_number = {number: name for name, number in table.items()} if table else {}
    result = set()
    for name in names:
        if name.isdigit() and int(name) in by_number:
            name = by_number[int(name)]
        result.add(name)
    return tuple(sorted(result, key=_syscall_sort_key))


def parse_rule(text: str, context: RuleContext = DEFAULT_CONTEXT) -> AuditRule:
    """Parse one ``auditctl`` command line (without ``auditctl``) into an :class:`AuditRule`.

    Raises :class:`RuleSyntaxError` for anything ``auditctl`` would refuse before talking
    to the kernel, and for a few things it would send but the kernel refuses for sure
    (relative paths, ordering operators on strings).
    """
    rule_text = " ".join(_split_words(text))
    if not rule_text:
        raise RuleSyntaxError(text, text, "empty rule")
    options = _options(rule_text, _split_words(text))

    controls = [item for item in options if item[0] in CONTROL_OPTIONS]
    if controls:
        if len(options) != 1:
            other = next(item for item in options if item is not controls[0])
            raise RuleSyntaxError(rule_text, other[2], "a control option must be alone on its line")
        return _control_rule(rule_text, *controls[0])
    return _rule_from_options(rule_text, options, context)


def _control_rule(rule_text: str, option: str, argument: Optional[str], token: str) -> AuditRule:
    if not CONTROL_OPTIONS[option]:
        return AuditRule(kind="control", option=option)
    number = _parse_number(argument or "")
    if option in ("-e", "-f"):
        if argument not in ("0", "1", "2"):
            what = "Enable" if option == "-e" else "Failure"
            raise RuleSyntaxError(rule_text, token, "%s must be 0, 1, or 2 was %s" % (what, argument))
    elif number is None or number < 0:
        raise RuleSyntaxError(rule_text, token, "%s needs a non-negative number, was %s"
                              % (option, argument))
    return AuditRule(kind="control", option=option, value=str(number))


def _rule_from_options(rule_text: str, options, context: RuleContext) -> AuditRule:
    command = None          # "-a", "-A", "-d", "-w" or "-W"
    filter_list = action = ""
    syscalls: List[str] = []
    syscall_arch = None
    fields: List[Tuple[str, str, str]] = []
    comparisons: List[Tuple[str, str, str]] = []
    keys: List[str] = []
    path = ""
    permissions: Optional[str] = None
    # auditctl takes a key only after something that selects events: -S, a watch, a
    # path/dir/perm/exe field, or the filesystem list.
    key_anchor = False

    for option, argument, token in options:
        letter = option[1:]
        if letter in _NOT_IN_A_RULES_FILE:
            raise RuleSyntaxError(rule_text, token,
                                  "%s, it is not a rule" % _NOT_IN_A_RULES_FILE[letter])
        if option in ("-a", "-A", "-d"):
            if command in ("-w", "-W"):
                raise RuleSyntaxError(rule_text, token, "watch option can't be given with a syscall")
            if command:
                raise RuleSyntaxError(rule_text, token,
                                      "Multiple rule insert/delete operations are not allowed")
            filter_list, action = _parse_list_action(argument, rule_text, token)
            if filter_list == "task" and syscalls:
                raise RuleSyntaxError(rule_text, token, "Syscall auditing requested for task list")
            command = option
        elif option in ("-w", "-W"):
            if command:
                raise RuleSyntaxError(rule_text, token, "watch option can't be given with a syscall")
            if not argument.startswith("/"):
                raise RuleSyntaxError(rule_text, token, "The path must start with '/'")
            command, path = option, _canonical_path(argument)
            key_anchor = True
        elif option == "-S":
            if command in ("-w", "-W"):
                raise RuleSyntaxError(rule_text, token, "-S cannot be given with a watch")
            if not command:
                raise RuleSyntaxError(rule_text, token, "-S needs -a, -A or -d before it")
            if filter_list not in LISTS_WITH_SYSCALLS:
                raise RuleSyntaxError(rule_text, token,
                                      "syscall auditing cannot be added to the %s list" % filter_list)
            for name in argument.split(","):
                if not _SYSCALL_RE.match(name):
                    raise RuleSyntaxError(rule_text, token, "Syscall name unknown: %s" % name)
                syscalls.append(name)
            if syscall_arch is None:
                syscall_arch = _arch_of(fields) or context.native_arch
            key_anchor = True
        elif option == "-F":
            if command in ("-w", "-W"):
                raise RuleSyntaxError(rule_text, token, "-F after a watch is not supported: write "
                                      "the rule as -a always,exit -F path=... -F perm=...")
            if not command:
                raise RuleSyntaxError(rule_text, token, "List must be given before field")
            if argument.startswith("key="):
                if filter_list == "exclude":
                    raise RuleSyntaxError(rule_text, token, _EXCLUDE_FIELDS_MESSAGE)
                if not (key_anchor or filter_list == "filesystem"):
                    raise RuleSyntaxError(rule_text, token, "Key field needs a watch, syscall or "
                                          "exe path given prior to it")
                _add_key(keys, argument[4:], rule_text, token)
                continue
            name, operator, value = _split_field(argument, "-F", rule_text, token)
            name = FIELD_ALIASES.get(name, name)
            if name not in KNOWN_FIELDS:
                raise RuleSyntaxError(rule_text, token, "-F unknown field: %s" % name)
            if name == "arch" and syscalls:
                raise RuleSyntaxError(rule_text, token, "arch must be before -S")
            if name in EXIT_ONLY_FIELDS and filter_list not in LISTS_WITH_SYSCALLS:
                raise RuleSyntaxError(rule_text, token,
                                      "%s can only be used with exit filter list" % name)
            if name == "msgtype" and filter_list not in ("exclude", "user"):
                raise RuleSyntaxError(rule_text, token,
                                      "msgtype field can only be used with exclude or user filter list")
            if filter_list == "exclude" and not _allowed_on_exclude(name):
                raise RuleSyntaxError(rule_text, token, _EXCLUDE_FIELDS_MESSAGE)
            if name == "fstype" and filter_list != "filesystem":
                raise RuleSyntaxError(rule_text, token,
                                      "fstype can only be used with filesystem filter list")
            value = _canonical_field_value(name, operator, value, context, rule_text, token)
            fields.append((name, operator, value))
            key_anchor = key_anchor or name in ("path", "dir", "perm", "exe")
        elif option == "-C":
            if not command or command in ("-w", "-W"):
                raise RuleSyntaxError(rule_text, token, "List must be given before -C")
            comparisons.append(_parse_comparison(argument, rule_text, token))
        elif option == "-k":
            if not command or not (key_anchor or filter_list == "filesystem"):
                raise RuleSyntaxError(rule_text, token,
                                      "key option needs a watch or syscall given prior to it")
            _add_key(keys, argument, rule_text, token)
        elif option == "-p":
            if not command:
                raise RuleSyntaxError(rule_text, token,
                                      "permission option needs a watch given prior to it")
            letters = argument
            bad = [letter for letter in letters if letter not in PERMISSION_ORDER]
            if bad or not letters:
                raise RuleSyntaxError(rule_text, token, "Permission %s isn't supported"
                                      % ("".join(bad) or argument))
            permissions = "".join(letter for letter in PERMISSION_ORDER if letter in letters)
            if command not in ("-w", "-W"):
                if filter_list not in LISTS_WITH_SYSCALLS:
                    raise RuleSyntaxError(rule_text, token,
                                          "perm can only be used with exit filter list")
                fields.append(("perm", "=", permissions))
                permissions = None
                key_anchor = True
        else:  # pragma: no cover - _options only yields the options handled above
            raise RuleSyntaxError(rule_text, token, "unsupported option %s" % option)

    if not command:
        raise RuleSyntaxError(rule_text, rule_text, "no -a, -A, -d, -w or -W: not a rule")
    if command in ("-w", "-W"):
        return AuditRule(kind="watch", delete=command == "-W", path=path,
                         permissions=permissions or PERMISSION_ORDER, keys=tuple(keys))

    if "all" in syscalls and filter_list == "exit":
        syscalls = []
    elif "all" in syscalls:
        syscalls = [name for name in syscalls if name != "all"]
    if filter_list == "io_uring":
        canonical_syscalls = tuple(sorted(set(syscalls), key=_syscall_sort_key))
    else:
        canonical_syscalls = _canonical_syscalls(syscalls, syscall_arch or context.native_arch,
                                                 context)
    rule = AuditRule(
        kind="syscall", delete=command == "-d", action=action, filter_list=filter_list,
        syscalls=canonical_syscalls, fields=tuple(sorted(fields, key=_field_sort_key)),
        comparisons=tuple(sorted(comparisons)), keys=tuple(keys), prepend=command == "-A",
    )
    return rule


_EXCLUDE_FIELDS_MESSAGE = "Only msgtype, *uid, *gid, pid, and subj* fields can be used with exclude filter"


def _allowed_on_exclude(name: str) -> bool:
    return name in ("msgtype", "pid") or name in UID_FIELDS or name in GID_FIELDS \
        or name.startswith("subj_")


def _arch_of(fields: Sequence[Tuple[str, str, str]]) -> Optional[str]:
    for name, operator, value in fields:
        if name == "arch" and operator == "=":
            return value
    return None


def _parse_comparison(argument: str, rule_text: str, token: str) -> Tuple[str, str, str]:
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
    rule_text = " ".join(_split_words(text))
    for option, argument, _token in _options(rule_text, _split_words(text)):
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


# ----------------------------------------------------------------------- formatting

def format_rule(rule: AuditRule) -> str:
    """The normalized text of a rule: what ``auditctl`` accepts and ``auditctl -l`` prints."""
    if rule.kind == "control":
        return rule.option if rule.value is None else "%s %s" % (rule.option, rule.value)
    if rule.kind == "watch":
        words = ["-W" if rule.delete else "-w", rule.path, "-p", rule.permissions]
        for key in rule.keys:
            words += ["-k", key]
        return " ".join(words)
    command = "-d" if rule.delete else ("-A" if rule.prepend else "-a")
    words = [command, "%s,%s" % (rule.action, rule.filter_list)]
    # -F arch= must come before -S, because it decides which table names the syscalls.
    words += ["-F %s%s%s" % item for item in rule.fields if item[0] == "arch"]
    if rule.syscalls:
        words += ["-S", ",".join(rule.syscalls)]
    elif rule.filter_list == "exit":
        # Spelled out as auditctl -l does: a key needs -S (or a path) before it.
        words += ["-S", "all"]
    words += ["-F %s%s%s" % item for item in rule.fields if item[0] != "arch"]
    words += ["-C %s%s%s" % item for item in rule.comparisons]
    # "-F key=" is accepted on every list; "-k" needs a syscall, a watch or a perm first.
    words += ["-F key=%s" % key for key in rule.keys]
    return " ".join(words)


def normalize_rule(text: str, context: RuleContext = DEFAULT_CONTEXT) -> str:
    """Parse and format: the canonical spelling of a rule."""
    return format_rule(parse_rule(text, context))


def rules_equal(first: str, second: str, context: RuleContext = DEFAULT_CONTEXT) -> bool:
    """Do two rule texts mean the same to the kernel?"""
    return parse_rule(first, context) == parse_rule(second, context)


# ----------------------------------------------------------------------- checking

def rule_warnings(rule: AuditRule, context: RuleContext = DEFAULT_CONTEXT) -> List[str]:
    """Things that are legal but probably not what the author meant."""
    warnings = []
    if rule.kind == "syscall" and rule.filter_list == "exit" and rule.syscalls \
            and rule.arch is None and not rule.delete:
        warnings.append(
            '"%s" names syscalls without -F arch=: they are looked up in the %s table only, '
            "so calls made through the other word size (32-bit programs on a 64-bit kernel) "
            "are not audited; add one rule per arch" % (format_rule(rule), context.native_arch))
    return warnings


def unknown_syscalls(rule: AuditRule, context: RuleContext = DEFAULT_CONTEXT) -> List[str]:
    """Syscall names the target's table for the rule's arch does not know."""
    if rule.kind != "syscall" or rule.filter_list != "exit" or not context.syscall_tables:
        return []
    arch = rule.arch or context.native_arch
    table = context.syscall_tables.get(arch)
    if not table:
        return []
    return [name for name in rule.syscalls if not name.isdigit() and name not in table]


def check_rule(text: str, context: RuleContext = DEFAULT_CONTEXT) -> Tuple[AuditRule, List[str]]:
    """Parse and validate a rule against the target; returns the rule and its warnings.

    Raises :class:`RuleSyntaxError` for an unknown syscall (for the rule's arch) too.
    """
    rule = parse_rule(text, context)
    unknown = unknown_syscalls(rule, context)
    if unknown:
        raise RuleSyntaxError(" ".join(_split_words(text)), unknown[0],
                              "syscall %s is unknown for arch %s"
                              % (unknown[0], rule.arch or context.native_arch))
    return rule, rule_warnings(rule, context)


# --------------------------------------------------------------------- files, merging

@dataclass
class RuleLine:
    """One line of a rules file: its text, and its rule when it is one."""

    text: str
    rule: Optional[AuditRule] = None
    error: Optional[str] = None

    @property
    def is_rule(self) -> bool:
        return self.rule is not None


def parse_rules_text(text: Optional[str], context: RuleContext = DEFAULT_CONTEXT) -> List[RuleLine]:
    """Split a rules file into lines; comments, blanks and bad lines keep their text."""
    lines = []
    for line in (text or "").splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            lines.append(RuleLine(line))
            continue
        try:
            lines.append(RuleLine(line, rule=parse_rule(stripped, context)))
        except RuleSyntaxError as error:
            lines.append(RuleLine(line, error=str(error)))
    return lines


def render_lines(lines: Sequence[RuleLine]) -> str:
    """Join lines into file text ending with a newline (augenrules concatenates files)."""
    if not lines:
        return ""
    return "\n".join(line.text for line in lines) + "\n"


@dataclass
class MergeResult:
    """What a merge decided: the new text and the rules it added, removed or saw twice."""

    text: str
    rules: List[str]
    added: List[str]
    removed: List[str]
    duplicates: List[str]
    warnings: List[str]


EXCLUSIVE_HEADER = ("## Managed by whotouched.server_audit.audit_rules (exclusive): "
                    "other lines are removed")


def _is_control(rule: Optional[AuditRule], *options: str) -> bool:
    return rule is not None and rule.kind == "control" and (not options or rule.option in options)


def _control_rank(rule: AuditRule) -> int:
    # -D flushes, so it goes first; -e locks (2) or enables, so it goes last.
    if _is_control(rule, "-D"):
        return 0
    if _is_control(rule, "-e"):
        return 3
    if rule.kind == "control":
        return 1
    return 2


def _unique(rules: Iterable[AuditRule]) -> List[AuditRule]:
    seen = set()
    result = []
    for rule in rules:
        if rule not in seen:
            seen.add(rule)
            result.append(rule)
    return result


def _may_overlap(earlier: AuditRule, later: AuditRule) -> bool:
    """Could one event match both rules?  Errs on the side of yes."""
    def as_fields(rule):
        if rule.kind == "watch":
            return [("path", "=", rule.path)]
        return list(rule.fields)

    if earlier.kind == "syscall" and later.kind == "syscall" and earlier.syscalls \
            and later.syscalls and (earlier.arch or "") == (later.arch or "") \
            and not set(earlier.syscalls) & set(later.syscalls):
        return False
    first, second = as_fields(earlier), as_fields(later)
    for name, operator, value in first:
        for other_name, other_operator, other_value in second:
            if operator != "=" or other_operator != "=":
                continue
            if name == other_name == "dir" or {name, other_name} == {"path", "dir"}:
                if not (value + "/").startswith(other_value.rstrip("/") + "/") and \
                        not (other_value + "/").startswith(value.rstrip("/") + "/"):
                    return False
            elif name == other_name and value != other_value:
                return False
    return True


def _list_of(rule: AuditRule) -> str:
    return "exit" if rule.kind == "watch" else rule.filter_list


def shadowed_never_rules(rules: Sequence[AuditRule]) -> List[Tuple[AuditRule, AuditRule]]:
    """(never rule, earlier always rule) pairs where the never rule comes too late.

    The kernel stops at the first rule of a list that matches, so a ``never`` rule after
    an ``always`` rule that matches some of the same events does not suppress those.
    """
    pairs = []
    for index, rule in enumerate(rules):
        if rule.kind != "syscall" or rule.action != "never" or rule.delete or rule.prepend:
            continue
        for earlier in rules[:index]:
            if earlier.kind == "control" or earlier.delete or _list_of(earlier) != rule.filter_list:
                continue
            if (earlier.kind == "watch" or earlier.action == "always") and \
                    _may_overlap(earlier, rule):
                pairs.append((rule, earlier))
                break
    return pairs


def duplicate_rules(rules: Sequence[AuditRule]) -> List[AuditRule]:
    """Rules present more than once (the kernel refuses the second with "Rule exists")."""
    seen = set()
    duplicates = []
    for rule in rules:
        if rule.kind == "control":
            continue
        if rule in seen and rule not in duplicates:
            duplicates.append(rule)
        seen.add(rule)
    return duplicates


def conflicting_settings(rules: Sequence[AuditRule]) -> List[str]:
    """Control options given twice with different values (``-b 320`` and ``-b 8192``)."""
    values: Dict[str, List[AuditRule]] = {}
    for rule in _unique(rules):
        if rule.setting:
            values.setdefault(rule.setting, []).append(rule)
    return ["%s is given twice with different values: %s"
            % (setting, ", ".join(format_rule(rule) for rule in same))
            for setting, same in values.items() if len(same) > 1]


@dataclass
class _Anchors:
    """Where new lines go in a file, worked out once per merge (merges stay linear)."""

    first_rule: int
    after_controls: int
    after_last_rule: int
    end: int
    rule_indexes: List[int]

    @classmethod
    def of(cls, lines: Sequence[RuleLine]) -> "_Anchors":
        rule_indexes = [index for index, line in enumerate(lines) if line.is_rule]
        first_rule = rule_indexes[0] if rule_indexes else len(lines)
        after_controls = first_rule
        for index in rule_indexes:
            if lines[index].rule.kind != "control" or _is_control(lines[index].rule, "-e"):
                break
            after_controls = index + 1
        after_last_rule = len(lines)
        for index in reversed(rule_indexes):
            if not _is_control(lines[index].rule, "-e"):
                after_last_rule = index + 1
                break
            after_last_rule = index
        return cls(first_rule, after_controls, after_last_rule, len(lines), rule_indexes)


def _insert_position(lines: Sequence[RuleLine], anchors: _Anchors, rule: AuditRule) -> int:
    if _is_control(rule, "-e"):
        return anchors.end
    if _is_control(rule, "-D"):
        return anchors.first_rule
    if rule.kind == "control":
        # After the leading block of control options, before the first rule.
        return anchors.after_controls
    if rule.kind == "syscall" and rule.action == "never":
        # First match wins: put a new never rule before the first always rule it overlaps.
        for index in anchors.rule_indexes:
            other = lines[index].rule
            if other.kind != "control" and not other.delete and _list_of(other) == rule.filter_list \
                    and (other.kind == "watch" or other.action == "always") \
                    and _may_overlap(other, rule):
                return index
    # After the last rule, but before a final -e (which must stay last).
    return anchors.after_last_rule


def _new_line_rank(line: RuleLine) -> Tuple[int, int]:
    rule = line.rule
    return _control_rank(rule), 0 if rule.kind == "syscall" and rule.action == "never" else 1


def _merge_present(lines: List[RuleLine], wanted: Sequence[AuditRule], added: List[AuditRule],
                   removed: List[AuditRule]) -> List[RuleLine]:
    held = set(line.rule for line in lines if line.is_rule)
    setting_lines: Dict[str, List[int]] = {}
    for index, line in enumerate(lines):
        if line.is_rule and line.rule.setting:
            setting_lines.setdefault(line.rule.setting, []).append(index)
    anchors = _Anchors.of(lines)
    replaced: Dict[int, Optional[RuleLine]] = {}
    inserted: Dict[int, List[RuleLine]] = {}
    for rule in wanted:
        if rule in held:
            continue
        held.add(rule)
        added.append(rule)
        new_line = RuleLine(format_rule(rule), rule=rule)
        same_setting = setting_lines.get(rule.setting or "")
        if same_setting:
            # One value per setting: the new value takes the old line's place.
            for position, index in enumerate(same_setting):
                removed.append(lines[index].rule)
                replaced[index] = new_line if position == 0 else None
            continue
        inserted.setdefault(_insert_position(lines, anchors, rule), []).append(new_line)
    result: List[RuleLine] = []
    for index in range(len(lines) + 1):
        # Several new lines at one place: -D, other control options, never rules (first
        # match wins, so before the new always rules they may overlap), other rules, -e.
        result.extend(sorted(inserted.get(index, ()), key=_new_line_rank))
        if index < len(lines):
            line = replaced.get(index, lines[index])
            if line is not None:
                result.append(line)
    return result


def merge_rules(existing_text: Optional[str], wanted: Sequence[AuditRule], state: str = "present",
                exclusive: bool = False, context: RuleContext = DEFAULT_CONTEXT) -> MergeResult:
    """Compute the new rules file text.

    ``present`` keeps every line and adds the wanted rules not already there by meaning:
    control options replace an older value of the same setting in place (``-b 320``
    becomes ``-b 8192``), ``-D`` and other new control options go at the top, ``-e``
    last, a new ``never`` rule goes just before the first ``always`` rule of its list it
    may overlap (first match wins), any other new rule after the last rule.
    ``absent`` removes every line that means one of the wanted rules.  ``exclusive``
    makes the file exactly the wanted rules under one header comment.
    """
    lines = parse_rules_text(existing_text, context)
    before = [line.rule for line in lines if line.is_rule]
    wanted = _unique(wanted)
    warnings = ['line "%s" is not a valid rule and is left as it is: %s'
                % (line.text.strip(), line.error) for line in lines if line.error]
    added: List[AuditRule] = []
    removed: List[AuditRule] = []

    if exclusive:
        ordered = sorted(wanted, key=_control_rank)
        lines = [RuleLine(EXCLUSIVE_HEADER)]
        lines += [RuleLine(format_rule(rule), rule=rule) for rule in ordered]
        remaining = Counter(before)
        for rule in ordered:
            if remaining[rule] > 0:
                remaining[rule] -= 1
            else:
                added.append(rule)
        for rule in before:
            if remaining[rule] > 0:
                remaining[rule] -= 1
                removed.append(rule)
        warnings = []
    elif state == "present":
        lines = _merge_present(lines, wanted, added, removed)
    elif state == "absent":
        unwanted = set(wanted)
        removed = [line.rule for line in lines if line.is_rule and line.rule in unwanted]
        lines = [line for line in lines if not (line.is_rule and line.rule in unwanted)]
    else:
        raise ValueError("state must be present or absent, not %r" % state)

    after = [line.rule for line in lines if line.is_rule]
    for rule in duplicate_rules(after):
        warnings.append('"%s" is in the file more than once; the kernel refuses the second '
                        'copy with "Rule exists"' % format_rule(rule))
    for never, always in shadowed_never_rules(after):
        warnings.append('never rule "%s" comes after always rule "%s", which may match the same '
                        "events: the kernel uses the first rule that matches, so it does not "
                        "suppress those" % (format_rule(never), format_rule(always)))
    text = render_lines(lines)
    if existing_text is not None and not exclusive and not added and not removed:
        # Nothing to add or remove: the file stays byte for byte as it is.
        text = existing_text
    return MergeResult(
        text=text,
        rules=[format_rule(rule) for rule in after],
        added=[format_rule(rule) for rule in added],
        removed=[format_rule(rule) for rule in removed],
        duplicates=[format_rule(rule) for rule in duplicate_rules(after)],
        warnings=warnings,
    )


def replace_field_values(rule: AuditRule, lookup) -> AuditRule:
    """A copy of ``rule`` whose user and group names are replaced by ``lookup(field, name)``.

    auditctl resolves names on the target before loading; the kernel lists numbers.
    """
    if rule.kind != "syscall":
        return rule
    fields = []
    for name, operator, value in rule.fields:
        if (name in UID_FIELDS or name in GID_FIELDS) and not _NUMBER_RE.match(value):
            value = lookup(name, value)
        fields.append((name, operator, value))
    return replace(rule, fields=tuple(sorted(fields, key=_field_sort_key)))


def unresolved_names(rule: AuditRule, resolve) -> List[str]:
    """Warnings for the user and group names of ``rule`` that ``resolve(field, name)``
    finds no number for (None): auditctl refuses such a rule on this host."""
    if rule.kind != "syscall":
        return []
    return ['"%s": no %s named %s on this host (at "%s%s%s"), so auditctl refuses this rule '
            "here" % (format_rule(rule), "group" if name in GID_FIELDS else "user", value,
                      name, operator, value)
            for name, operator, value in rule.fields
            if (name in UID_FIELDS or name in GID_FIELDS) and not _NUMBER_RE.match(value)
            and resolve(name, value) is None]


def parse_syscall_table(dump: str) -> Dict[str, int]:
    """``{name: number}`` from ``ausyscall <arch> --dump`` output."""
    table = {}
    for line in dump.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0].isdigit():
            table[parts[1]] = int(parts[0])
    return table


def with_syscall_tables(context: RuleContext, tables: Dict[str, Dict[str, int]]) -> RuleContext:
    """A copy of ``context`` that knows the target's syscall tables."""
    return replace(context, syscall_tables=tables or None)


__all__ = [
    "AuditRule", "RuleContext", "RuleLine", "RuleSyntaxError", "MergeResult", "DEFAULT_CONTEXT",
    "parse_rule", "format_rule", "normalize_rule", "rules_equal", "check_rule", "rule_warnings",
    "unknown_syscalls", "parse_rules_text", "render_lines", "merge_rules", "duplicate_rules",
    "shadowed_never_rules", "conflicting_settings", "as_listed_watch", "parse_syscall_table", "replace_field_values", "unresolved_names", "with_syscall_tables",
]
