# -*- coding: utf-8 -*-
# Copyright: whotouched.server_audit contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to whotouched.server_audit: it may change in any release. Do not import it from
# other collections or from code outside this collection.
"""The keys of auditd's configuration files and the values auditd accepts for them.

From auditd.conf(5) and auditd-plugins(5) of audit 2.8 to 4.0.  auditd stops at a key it does
not know ("Unknown keyword") or a value it cannot read, and refuses to start or to reload, so
a value is checked here before it is written.  Keys and the words of a choice are case
insensitive to auditd.
"""

from __future__ import annotations

import re
from typing import Callable, Dict, List, Mapping, Optional, Tuple

# auditd reads lines into a 160-byte buffer (newline and terminator included) and skips a
# longer line with only a log message: its key would silently keep its default.
MAX_LINE_LENGTH = 158

Check = Callable[[str], Optional[str]]


class SettingError(ValueError):
    """A key or value auditd would refuse; the message names the file kind, key and value."""


def _choice(*words: str) -> Check:
    def check(value):
        if value.lower() in words:
            return None
        return "must be one of %s" % ", ".join(words)
    check.words = words  # type: ignore[attr-defined]
    return check


YES_NO = _choice("yes", "no")


# auditd refuses a number it reads past INT_MAX ("is too large"), and digits other than ASCII.
_INT_MAX = 2 ** 31 - 1
_DIGITS = re.compile(r"[0-9]{1,10}\Z")


def _number(low: int = 0, high: int = _INT_MAX) -> Check:
    def check(value):
        if not _DIGITS.match(value) or not low <= int(value) <= high:
            return "must be a whole number from %d to %d" % (low, high)
        return None
    return check


def _path(value: str) -> Optional[str]:
    return None if value.startswith("/") else "must be an absolute path"


def _word(value: str) -> Optional[str]:
    return None if value else "must not be empty"


def _size_or_percent(value: str) -> Optional[str]:
    if _DIGITS.match(value) and int(value) <= _INT_MAX:
        return None
    if re.match(r"([1-9]|[1-9][0-9])%\Z", value):
        return None
    return "must be a size in MiB (75) or a percentage from 1% to 99% (25%)"


def _port_range(value: str) -> Optional[str]:
    match = re.match(r"^([0-9]+)(?:-([0-9]+))?$", value)
    if match:
        low, high = int(match.group(1)), int(match.group(2) or match.group(1))
        if 1 <= low <= high <= 65535:
            return None
    return "must be a port or a range of ports from 1 to 65535 (1-1023)"


def _action(*words: str) -> Check:
    """A *_action key: one of ``words``, or ``exec`` followed by the program's absolute path."""
    def check(value):
        words_given = value.split()
        if words_given[0].lower() == "exec":
            if len(words_given) == 2 and words_given[1].startswith("/"):
                return None
            return "needs the program's absolute path after exec (exec /usr/local/sbin/alert)"
        if value.lower() in words:
            return None
        return "must be one of %s, or exec /path/to/program" % ", ".join(words)
    check.words = words  # type: ignore[attr-defined]
    check.several_words = True  # type: ignore[attr-defined]
    return check


def _plugin_args(value: str) -> Optional[str]:
    return None if len(value.split()) <= 2 else "takes at most 2 arguments"


_plugin_args.several_words = True  # type: ignore[attr-defined]


_DISPATCHER_KEYS: Dict[str, Check] = {
    "q_depth": _number(1, 99999),
    "overflow_action": _choice("ignore", "syslog", "suspend", "single", "halt"),
    "priority_boost": _number(),
    "max_restarts": _number(),
    "name_format": _choice("none", "hostname", "fqd", "numeric", "user"),
    "name": _word,
    "plugin_dir": _path,
}

_SPACE_ACTIONS = ("ignore", "syslog", "rotate", "email", "suspend", "single", "halt")

KEYS: Dict[str, Dict[str, Check]] = {
    # /etc/audit/auditd.conf
    "auditd": dict(_DISPATCHER_KEYS, **{
        "local_events": YES_NO,
        "write_logs": YES_NO,
        "log_file": _path,
        "log_format": _choice("raw", "enriched", "nolog"),
        "log_group": _word,
        "flush": _choice("none", "incremental", "incremental_async", "data", "sync"),
        "freq": _number(),
        "num_logs": _number(0, 999),
        "max_log_file": _number(),
        "max_log_file_action": _choice("ignore", "syslog", "suspend", "rotate", "keep_logs"),
        "verify_email": YES_NO,
        "action_mail_acct": _word,
        "space_left": _size_or_percent,
        "space_left_action": _action(*_SPACE_ACTIONS),
        "admin_space_left": _size_or_percent,
        "admin_space_left_action": _action(*_SPACE_ACTIONS),
        "disk_full_action": _action("ignore", "syslog", "rotate", "suspend", "single", "halt"),
        "disk_error_action": _action("ignore", "syslog", "suspend", "single", "halt"),
        "tcp_listen_port": _number(1, 65535),
        "tcp_listen_queue": _number(1),
        "tcp_max_per_addr": _number(1, 1024),
        "use_libwrap": YES_NO,
        "tcp_client_ports": _port_range,
        "tcp_client_max_idle": _number(),
        "transport": _choice("tcp", "krb5"),
        "enable_krb5": YES_NO,
        "krb5_principal": _word,
        "krb5_key_file": _path,
        "distribute_network": YES_NO,
        "end_of_event_timeout": _number(),
        # audit 2.x only: the dispatcher program and its queue's policy
        "dispatcher": _path,
        "disp_qos": _choice("lossy", "lossless"),
    }),
    # /etc/audisp/audispd.conf (audit 2.x)
    "audispd": dict(_DISPATCHER_KEYS),
    # a plugin's file in plugins.d
    "plugin": {
        "active": YES_NO,
        # auditd knows "in" as a word and skips the plugin that says it (not supported)
        "direction": _choice("out"),
        "path": _word,
        "type": _choice("builtin", "always"),
        "args": _plugin_args,
        "format": _choice("binary", "string"),
    },
}

SYNTAXES = tuple(KEYS)
_FILE_OF = {"auditd": "auditd.conf", "audispd": "audispd.conf", "plugin": "a plugin's file"}


def skipped_plugin_file(path: str) -> Optional[str]:
    """Why auditd would skip ``path`` as a plugin's file, or None: a name with more than one
    ``.`` is taken for a backup copy."""
    name = path.rstrip("/").rsplit("/", 1)[-1]
    if name.count(".") > 1:
        return ("auditd skips %s: a plugin file whose name holds more than one '.' is taken for "
                "a backup copy" % path)
    return None


def value_text(value) -> str:
    """The text auditd reads for a setting given as YAML: booleans are yes/no."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value).strip()


def canonical_key(key: str) -> str:
    return str(key).strip().lower()


def _is_choice(check: Check) -> bool:
    return hasattr(check, "words")


def check_key(syntax: str, key) -> str:
    """The key as written (lower case), or :class:`SettingError` for a key auditd lacks."""
    name = canonical_key(key)
    if name not in KEYS[syntax]:
        raise SettingError("%s has no key %s (the keys audit 2.8 to 4.0 know: %s)"
                           % (_FILE_OF[syntax], key, ", ".join(sorted(KEYS[syntax]))))
    return name


def check_setting(syntax: str, key, value) -> Tuple[str, str]:
    """The setting as written (``key``, ``value`` text), or :class:`SettingError`."""
    keys = KEYS[syntax]
    name = check_key(syntax, key)
    if value is None:
        raise SettingError("%s: %s has no value" % (_FILE_OF[syntax], name))
    text = value_text(value)
    if not text:
        raise SettingError("%s: %s has no value" % (_FILE_OF[syntax], name))
    check = keys[name]
    if "\n" in text or (len(text.split()) > 1 and not getattr(check, "several_words", False)):
        raise SettingError("%s: %s = %s is not one word on one line, which auditd reads"
                           % (_FILE_OF[syntax], name, text))
    problem = check(text)
    if problem:
        raise SettingError("%s: %s = %s %s" % (_FILE_OF[syntax], name, text, problem))
    line = "%s = %s" % (name, text)
    if len(line) > MAX_LINE_LENGTH:
        raise SettingError("%s: the line %s... is longer than the %d characters auditd reads"
                           % (_FILE_OF[syntax], line[:40], MAX_LINE_LENGTH))
    return name, text


def same_value(syntax: str, key: str, first: str, second: str) -> bool:
    """Whether two values of ``key`` mean the same to auditd (choices ignore case)."""
    check = KEYS[syntax].get(key)
    if check is not None and _is_choice(check) and first.lower() in check.words:  # type: ignore[attr-defined]
        return first.lower() == second.lower()
    return first.split() == second.split()


def combination_problems(settings: Mapping[str, str], syntax: str = "auditd") -> List[str]:
    """What auditd refuses in settings taken together (keys in lower case, values as
    written), of those given: an incremental flush every ``freq`` records with ``freq`` 0, and
    a ``space_left`` not above ``admin_space_left`` (both in MiB)."""
    if syntax != "auditd":
        return []
    problems = []
    flush, freq = settings.get("flush"), settings.get("freq")
    if flush is not None and flush.lower() in ("incremental", "incremental_async") and \
            freq is not None and _DIGITS.match(freq) and int(freq) == 0:
        problems.append("auditd.conf: flush = %s writes every freq records, and freq = 0: auditd "
                        "refuses it" % flush)
    space, admin = settings.get("space_left"), settings.get("admin_space_left")
    if space is not None and admin is not None and _DIGITS.match(space) and \
            _DIGITS.match(admin) and int(space) <= int(admin):
        problems.append("auditd.conf: space_left = %s must be larger than admin_space_left = %s"
                        % (space, admin))
    return problems


def setting_problems(settings: Mapping, syntax: str = "auditd",
                     keys_only: bool = False) -> List[str]:
    """What auditd would refuse in ``settings`` (a mapping of key to value), as messages;
    with ``keys_only`` (settings to remove), only the keys are read."""
    if syntax not in KEYS:
        return ["syntax must be one of %s, not %s" % (", ".join(SYNTAXES), syntax)]
    problems = []
    seen: Dict[str, str] = {}
    given: Dict[str, str] = {}
    for key, value in (settings or {}).items():
        try:
            name = check_key(syntax, key) if keys_only else check_setting(syntax, key, value)[0]
        except SettingError as error:
            problems.append(str(error))
            continue
        if name in seen:
            problems.append("%s: %s is given twice (as %s and %s)"
                            % (_FILE_OF[syntax], name, seen[name], key))
        seen[name] = str(key)
        given[name] = value_text(value)
    if not keys_only:
        problems += combination_problems(given, syntax)
    return problems
