# -*- coding: utf-8 -*-
# Copyright: whotouched.server_audit contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to whotouched.server_audit: it may change in any release. Do not import it from
# other collections or from code outside this collection.
"""Linux audit records turned into one event per action.

One command run on a Linux host is four to eight audit records (SYSCALL, EXECVE with
hex-encoded arguments, CWD, PATH, PROCTITLE, EOE) that share one ``msg=audit(time:serial)``
stamp.  :func:`build_event` makes the event (see ``schema``) of the records of one stamp,
read as the kernel and auditd write them: audit 2.x, 3.x, 4.x; ``log_format=RAW`` or
``ENRICHED``, whose names follow a 0x1d separator (``#035`` once rsyslog has escaped it).
Grouping records by sender and stamp is the ``assembler``'s work.

A *fragment* is what is left of an action whose records that say who acted (SYSCALL and the
like) never arrived: the client's noise filters drop a routine command's SYSCALL and EXECVE
records (``ls``), and its CWD, PATH, PROCTITLE or BPRM_FCAPS records come alone.  Such an
event has kind ``fragment`` and no user.

Standard library only: this runs on the log server inside the ``audit_report`` module and
the alert processor.
"""

from __future__ import annotations

import posixpath
import re

from ansible_collections.whotouched.server_audit.plugins.module_utils._events.loss import (
    loses,
    read_loss_report,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._events.schema import (
    LATEST_EPOCH,
    Event,
    format_second,
    format_time,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._events.syscalls import (
    syscall_name,
)

UNSET_ID = 4294967295
"""The kernel's "not set" value of auid, ses and other ids."""

# Record types the kernel or user space emits as a one-record event, with no EOE after it.

STANDALONE_TYPES = frozenset((
    "USER_AUTH", "USER_ACCT", "USER_MGMT", "CRED_ACQ", "CRED_DISP", "USER_START", "USER_END",
    "USER_AVC", "USER_CHAUTHTOK", "USER_ERR", "CRED_REFR", "USER_LOGIN", "USER_LOGOUT",
    "USER_CMD", "USER_TTY", "USER_ROLE_CHANGE", "USER_LABELED_EXPORT", "USER_UNLABELED_EXPORT",
    "USER_DEVICE", "USER_SELINUX_ERR", "ADD_USER", "DEL_USER", "ADD_GROUP", "DEL_GROUP",
    "GRP_MGMT", "GRP_CHAUTHTOK", "GRP_AUTH", "ACCT_LOCK", "ACCT_UNLOCK", "USYS_CONFIG",
    "DAEMON_START", "DAEMON_END", "DAEMON_ABORT", "DAEMON_CONFIG", "DAEMON_RECONFIG",
    "DAEMON_ROTATE", "DAEMON_RESUME", "DAEMON_ACCEPT", "DAEMON_CLOSE", "DAEMON_ERR",
    "SERVICE_START", "SERVICE_STOP", "SYSTEM_BOOT", "SYSTEM_SHUTDOWN", "SYSTEM_RUNLEVEL",
    "TRUSTED_APP", "SOFTWARE_UPDATE", "ANOM_LOGIN_FAILURES", "ANOM_LOGIN_TIME",
    "ANOM_LOGIN_SESSIONS", "ANOM_LOGIN_ACCT", "ANOM_LOGIN_LOCATION", "ANOM_MAX_DAC",
    "ANOM_MAX_MAC", "ANOM_AMTU_FAIL", "ANOM_RBAC_FAIL", "ANOM_RBAC_INTEGRITY_FAIL",
    "ANOM_CRYPTO_FAIL", "ANOM_ACCESS_FS", "ANOM_EXEC", "ANOM_MK_EXEC", "ANOM_ADD_ACCT",
    "ANOM_DEL_ACCT", "ANOM_MOD_ACCT", "ANOM_ROOT_TRANS", "ANOM_LOGIN_SERVICE",
    "CRYPTO_KEY_USER", "CRYPTO_SESSION", "CRYPTO_LOGIN", "CRYPTO_LOGOUT", "CRYPTO_IKE_SA",
    "CRYPTO_IPSEC_SA", "CRYPTO_PARAM_CHANGE_USER", "CRYPTO_REPLAY_USER", "CRYPTO_TEST_USER",
    "VIRT_CONTROL", "VIRT_RESOURCE", "VIRT_MACHINE_ID", "VIRT_INTEGRITY_CHECK", "USER",
))

_OPERATION_BY_SYSCALL = {
    "execve": "execute", "execveat": "execute", "open": "open", "openat": "open",
    "openat2": "open", "creat": "create", "unlink": "delete", "unlinkat": "delete",
    "rmdir": "delete", "rename": "rename", "renameat": "rename", "renameat2": "rename",
    "chmod": "chmod", "fchmod": "chmod", "fchmodat": "chmod", "chown": "chown",
    "chown32": "chown", "fchown": "chown", "fchown32": "chown", "lchown": "chown",
    "lchown32": "chown", "fchownat": "chown", "setxattr": "attribute",
    "lsetxattr": "attribute", "fsetxattr": "attribute", "removexattr": "attribute",
    "lremovexattr": "attribute", "fremovexattr": "attribute", "truncate": "truncate",
    "ftruncate": "truncate", "link": "link", "linkat": "link", "symlink": "link",
    "symlinkat": "link", "mkdir": "create", "mkdirat": "create", "utime": "attribute",
    "utimes": "attribute", "utimensat": "attribute",
}

# Nested fields of a user-space record: msg='op=... acct="alice" res=success'.  A word with
# no "=" is matched whole with empty groups (dropped by the caller), so that no later offset
# of it is tried again: a hostile 64 KiB word would cost quadratic time.
_FIELD = re.compile(r"""([^\s=]+)=('[^']*'?|"[^"]*"?|[^\s\x1d]*)|[^\s=]+""")
# Where that message begins; it ends at the record's last quote, since its values may hold
# single quotes (acct="system-property('xsl:vendor')/>").
_MESSAGE = re.compile(r"(?:^|(?<=\s))msg='")


# ---------------------------------------------------------------- field values

def _raw_bytes(value):
    """The bytes an audit text field stands for, or None for ``(null)``, ``?`` and the like."""
    if not value:
        return b""
    first = value[0]
    if first == '"' or first == "'":
        return value[1:-1].encode("utf-8") if len(value) > 1 and value[-1] == first \
            else value[1:].encode("utf-8")
    if value[0] == "(" or value == "?":
        return None
    try:
        return bytes.fromhex(value)
    except ValueError:
        pass
    if value[-1] == '"':
        try:  # a hex value with a stray closing quote (Ubuntu 17.10's keys: 65786563"), as
            return bytes.fromhex(value[:-1])  # ausearch reads it
        except ValueError:
            pass
    return value.encode("utf-8")


def decode_text(value):
    """An audit text field as a string: quoted as is, hex decoded (UTF-8), ``(null)`` as None."""
    if value and value[0] == '"' and value[-1] == '"' and len(value) > 1 and value.isascii():
        return value[1:-1]  # the common case, what encoding and decoding would give back
    raw = _raw_bytes(value)
    if raw is None:
        return None
    return raw.decode("utf-8", "backslashreplace")


def _whole_number(value, default=None):
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


# A quoted value (to its closing quote, or to the end when it has none) or a #035 outside one.
_QUOTED_OR_ESCAPED_SEPARATOR = re.compile(r"""'[^']*'?|"[^"]*"?|#035""")


def _split_enriched(body):
    """Split a record body at the ENRICHED separator: (raw fields, interpreted names).

    The separator is 0x1d in audit.log and ``#035`` once rsyslog has escaped it; a ``#035``
    inside a quoted value is text and does not count.
    """
    position = body.find("\x1d")
    if position >= 0:
        return body[:position], body[position + 1:]
    position = body.find("#035")
    if position < 0:
        return body, ""
    head = body[:position]
    if "'" not in head and not head.count('"') % 2:
        # Only double quotes before it, each one opened and closed: outside them.
        return head, body[position + 4:]
    for match in _QUOTED_OR_ESCAPED_SEPARATOR.finditer(body):
        if match.group() == "#035":
            return body[:match.start()], body[match.end():]
    return body, ""


# A kernel record's field: no blank in the name or the value (the loop runs in C).  A name
# begins a word or follows "=": where else one could begin, it would already have matched
# from the word's start, and a word with no "=" is scanned once, not from every offset.
_KERNEL_FIELD = re.compile(r"(?<![^\s=])([^\s=]+)=(\S*)")


def parse_fields(body):
    """The ``name=value`` fields of a record body (values as logged), and its ENRICHED names.

    Kernel records never hold a blank inside a value, so splitting on blanks is exact and
    fast; user-space records nest a quoted ``msg='...'`` whose fields are merged in, where
    the record has no field of that name (``pid=1 uid=0 msg='pam_tally2 uid=1004'``: the
    message's uid is the account it is about, not the one who acted).
    """
    head, enriched = _split_enriched(body)
    if "'" in head:
        message = _MESSAGE.search(head)
        inner = ()
        if message is not None:
            end = head.rfind("'")
            end = end if end >= message.end() else len(head)
            inner = _FIELD.findall(head[message.end():end])
            head = head[:message.start()] + head[end + 1:]
        fields = dict(_FIELD.findall(head))
        fields.pop("", None)  # the words with no "="
        for name, value in inner:
            if name and name not in fields:
                # old PAM messages separate some fields by commas: "(hostname=?, addr=?, ..."
                fields[name] = value[:-1] if value[-1:] == "," else value
    else:
        fields = dict(_KERNEL_FIELD.findall(head))
    names = {}
    if enriched:
        for name, value in _FIELD.findall(enriched):
            if name:
                names[name] = value[1:-1] if value[:1] == '"' and value[-1:] == '"' else value
    return fields, names


# ---------------------------------------------------------------- events from records

# The SYSCALL record as the kernel writes it (audit_log_exit, audit_log_task_info), then the
# names auditd adds after 0x1d (or after a blank, as audisp-syslog of audit 3.0 sends them).
# Matched whole, its fields are exactly those parse_fields would find; anything else (other
# kernels' layouts, quotes, hostile text) goes through parse_fields.
_NAME_VALUE = r"[^\s\"']*"
_SYSCALL_RECORD = re.compile((
    r"arch=(?P<arch>\S*) syscall=(?P<syscall>\S*)(?: per=\S*)?"
    r"(?: success=(?P<success>\S*) exit=(?P<exit>\S*))?"
    r" a0=\S* a1=(?P<a1>\S*) a2=(?P<a2>\S*) a3=\S* items=\S* ppid=(?P<ppid>\S*) pid=(?P<pid>\S*)"
    r" auid=(?P<auid>\S*) uid=(?P<uid>\S*) gid=\S* euid=(?P<euid>\S*) suid=\S* fsuid=\S*"
    r" egid=\S* sgid=\S* fsgid=\S* tty=(?P<tty>\S*) ses=(?P<ses>\S*) comm=(?P<comm>\S*)"
    r" exe=(?P<exe>\S*)(?: subj=\S*)? key=(?P<key>\S*)"
    r'(?:[\x1d ]ARCH={v} SYSCALL=(?P<SYSCALL>{v}) AUID="(?P<AUID>{v})" UID="(?P<UID>{v})"'
    r' GID="{v}" EUID="(?P<EUID>{v})" SUID="{v}" FSUID="{v}" EGID="{v}" SGID="{v}"'
    r' FSGID="{v}")?').format(v=_NAME_VALUE))


def _who_fields(body):
    """The fields and the names of a record that says who acted."""
    fields, names = parse_fields(body)
    if fields and not names:
        # audisp-syslog writes the ENRICHED separator as a blank: the names are then fields
        # of their own, told apart by their upper-case names (the kernel's are lower case).
        names = {name: value.strip('"') for name, value in fields.items()
                 if name in _ENRICHED_NAMES}
    return fields, names


def _syscall_fields(body):
    """``_who_fields(body)`` for what build_event reads of a SYSCALL record, cheaply."""
    if "'" not in body:
        record = body
        if "#035" in body:  # rsyslog's escape of 0x1d: where _split_enriched finds it
            head, enriched = _split_enriched(body)
            record = head + "\x1d" + enriched if enriched else head
        shape = _SYSCALL_RECORD.fullmatch(record)
        if shape is not None:
            fields = shape.groupdict()
            # The names are the upper-case groups, matched only all together.
            return fields, fields if fields["AUID"] is not None else {}
    return _who_fields(body)


_ENRICHED_NAMES = frozenset(("AUID", "UID", "EUID", "SYSCALL", "ARCH"))

# Records that belong to an event but never say who acted.
_NOT_WHO = frozenset(("EXECVE", "CWD", "PATH", "PROCTITLE", "EOE", "BPRM_FCAPS", "SOCKADDR",
                      "MMAP", "FD_PAIR", "OBJ_PID", "KERN_MODULE"))


def _one_field(body, name):
    """The value of one field of a kernel record (values hold no blanks), or None."""
    start = body.find(name + "=")
    while start > 0 and body[start - 1] != " ":
        start = body.find(name + "=", start + 1)
    if start < 0:
        return None
    start += len(name) + 1
    end = body.find(" ", start)
    value = body[start:] if end < 0 else body[start:end]
    if value[:1] == '"':
        close = value.find('"', 1)
        return value if close < 0 else value[:close + 1]
    for separator in ("\x1d", "#035"):
        cut = value.find(separator)
        if cut >= 0:
            value = value[:cut]
    return value


# A PATH record as the kernel writes it (audit_log_name): its item, its name (quoted, hex, or
# "(null)") and its nametype matched in one pass.  Matched, they are exactly what _one_field
# finds for each; anything else goes through _one_field.
_PATH_RECORD = re.compile(
    r'item=([^\s"#]*) name=("[^"\s]*"|[^\s"#]*) (?:inode=\S* dev=\S* mode=\S* ouid=\S* ogid=\S*'
    r' rdev=\S* )?(?:obj=\S* )?nametype=([A-Z]*)(?=[ \x1d]|#035|\Z)')


def _path_fields(body):
    """The item, name and nametype of a PATH record: ``_one_field`` of each, in one pass; RHEL
    7's kernels write the nametype as ``objtype=``."""
    match = _PATH_RECORD.match(body)
    if match is not None:
        return match.groups()
    nametype = _one_field(body, "nametype")
    return _one_field(body, "item"), _one_field(body, "name"), \
        nametype if nametype is not None else _one_field(body, "objtype")


# SECONDS.MILLIS:SERIAL as the kernel writes it (%llu.%03lu:%u), in digits a time can hold.
_STAMP = re.compile(r"([0-9]{1,12})\.[0-9]{0,3}:[0-9]{1,20}\Z")


def stamp_seconds(stamp):
    """The whole seconds of an audit stamp, or None when it is not one: digits only, and a time
    from 1970 to 9999 (a forged ``99999999999999999999999.0:1`` cannot be an event's time)."""
    match = _STAMP.match(stamp)
    if match is None:
        return None
    seconds = int(match.group(1))
    return seconds if seconds <= LATEST_EPOCH else None


def stamp_serial(stamp):
    """The serial of an audit stamp ``SECONDS.MILLIS:SERIAL``, or None."""
    serial = stamp.rpartition(":")[2]
    return int(serial) if serial.isdecimal() else _whole_number(serial)


def stamp_epoch(stamp):
    """The time of an audit stamp in seconds, as an event's ``epoch``."""
    return _stamp_time(stamp)[0]


def _stamp_time(stamp):
    """``(epoch, time)`` of an audit stamp ``SECONDS.MILLIS:SERIAL``."""
    seconds, _dot, rest = stamp.partition(".")
    millis, _colon, _serial = rest.partition(":")
    epoch = int(seconds) + int(millis or 0) / 1000.0
    if len(millis) == 3 and millis.isascii() and millis.isdigit() and seconds.isdigit():
        # What format_time(epoch) writes, from the stamp's own digits.
        return epoch, "%s.%sZ" % (format_second(int(seconds)), millis)
    return epoch, format_time(epoch)


def _terminal(value):
    """A terminal in one form, as ``who`` writes it: ``pts/1`` for the kernel's ``pts1`` and
    PAM's ``/dev/pts/1``; None for none (``(none)``, ``?``, quoted or not)."""
    if value is None:
        return None
    if value[:1] == '"':
        value = value.strip('"')
    if value in ("(none)", "?", ""):
        return None
    if value[:5] == "/dev/":
        value = value[5:]
    if value[:3] == "pts" and value[3:].isdecimal() and value.isascii():
        value = "pts/" + value[3:]
    return value


def _user_name(number, name, local_names):
    """A user id as a person reads it: the ENRICHED name, a local name, ``unset``, or the id."""
    if name:
        return name
    if number is None:
        return None
    if number == UNSET_ID or number == -1:
        return "unset"
    if local_names and number in local_names:
        return local_names[number]
    return str(number)


def _argument(value):
    """One whole argument of an EXECVE record; ``(null)`` and the like as an empty string."""
    if value and value[0] == '"' and value[-1] == '"' and len(value) > 1 and value.isascii():
        return value[1:-1]
    return (_raw_bytes(value) or b"").decode("utf-8", "backslashreplace")


def _argv_from_execve(execve_fields):
    """The argument vector of one or more EXECVE records (hex, quoted and split arguments)."""
    if len(execve_fields) == 1:
        # The common case: one record holding argc and a0 ... a<argc-1>, nothing else.
        fields = execve_fields[0]
        count = _whole_number(fields.get("argc"))
        if count is not None and count == len(fields) - 1:
            try:
                values = [fields["a%d" % index] for index in range(count)]
            except KeyError:
                values = None
            if values is not None:
                return [_argument(value) for value in values], True
    argc = None
    whole = {}
    chunks = {}
    for fields in execve_fields:
        for name, value in fields.items():
            if name == "argc":
                argc = _whole_number(value, argc)
            elif name[:1] == "a" and not name.endswith("_len"):
                bracket = name.find("[")
                if bracket < 0:
                    index = _whole_number(name[1:])
                    if index is not None:
                        whole[index] = value
                else:
                    index = _whole_number(name[1:bracket])
                    part = _whole_number(name[bracket + 1:-1])
                    if index is not None and part is not None:
                        chunks.setdefault(index, {})[part] = value
    count = argc if argc is not None else (
        max(list(whole) + list(chunks)) + 1 if whole or chunks else 0)
    argv = []
    complete = True
    # argc comes from the record itself; never trust it to size anything beyond what is present.
    for index in range(min(count, len(whole) + len(chunks))):
        if index in whole:
            raw = _raw_bytes(whole[index])
        elif index in chunks:
            parts = chunks[index]
            raw = b"".join((_raw_bytes(parts[number]) or b"") for number in sorted(parts))
            complete = complete and sorted(parts) == list(range(len(parts)))
        else:
            complete = False
            break
        argv.append((raw or b"").decode("utf-8", "backslashreplace"))
    if argc is not None and len(argv) < argc:
        complete = False
    return argv, complete


_EXECVE_NAMES = ("argc",) + tuple("a%d" % index for index in range(256))


def _execve_argv(body):
    """``_argv_from_execve([parse_fields(body)[0]])`` of one EXECVE record, read straight
    from its text when it is the common ``argc=N a0=... a<N-1>=...`` with nothing else."""
    if "'" not in body and "\x1d" not in body and "#035" not in body:
        pairs = _KERNEL_FIELD.findall(body)  # what parse_fields makes its dict of
        if pairs and pairs[0][0] == "argc":
            names, values = zip(*pairs)
            if names == _EXECVE_NAMES[:len(names)] and _whole_number(values[0]) == len(names) - 1:
                return [_argument(value) for value in values[1:]], True
    return _argv_from_execve([parse_fields(body)[0]])


def _syscall_name(fields, names):
    if "SYSCALL" in names:
        return names["SYSCALL"]
    number = _whole_number(fields.get("syscall"))
    if number is None:
        return None
    return syscall_name(fields.get("arch", ""), number) or str(number)


def _read_records(records):
    """One pass over the records of an event: their types; the fields, names and type of the
    record that says who acted; the EXECVE bodies; the working directory; the PATH records'
    names and nametypes; the PROCTITLE record."""
    types = [record_type for record_type, _body in records]
    main = {}
    main_names = {}
    main_type = None
    execve = []
    cwd = None
    paths = []
    proctitle = None
    for record_type, body in records:
        # Only the records that say who did what are parsed whole; the rest are looked into
        # for their one field, or not at all (BPRM_FCAPS, SOCKADDR, ...): this is the hot loop.
        if record_type == "SYSCALL":
            main, main_names = _syscall_fields(body)
            main_type = record_type
        elif not main and record_type not in _NOT_WHO:
            fields, names = _who_fields(body)
            if "auid" in fields or "pid" in fields:
                main = fields
                main_names = names
                main_type = record_type
        elif record_type == "EXECVE":
            execve.append(body)
        elif record_type == "CWD":
            cwd = decode_text(_one_field(body, "cwd"))
        elif record_type == "PATH":
            paths.append(_path_fields(body))
        elif record_type == "PROCTITLE":
            proctitle = body  # looked into only when there is no EXECVE
    return types, main, main_names, main_type, execve, cwd, paths, proctitle


# Records of the keystrokes typed at a terminal (pam_tty_audit): TTY from the kernel,
# USER_TTY from a shell.
_KEYSTROKE_TYPES = frozenset(("TTY", "USER_TTY"))


def _command_line(execve, proctitle, main, main_type):
    """``(argv, whole)``: from the EXECVE records, else the PROCTITLE record, else the
    command a user-space record names (sudo's USER_CMD), else the keystrokes a TTY record
    holds (one text, control characters and all)."""
    if not execve:
        argv, whole = [], True
    elif len(execve) == 1:
        argv, whole = _execve_argv(execve[0])
    else:
        argv, whole = _argv_from_execve([parse_fields(body)[0] for body in execve])
    if not argv and proctitle:
        proctitle = _one_field(proctitle, "proctitle")
    if not argv and proctitle:
        # PROCTITLE keeps the first 128 bytes of the NUL-separated argv.
        title = _raw_bytes(proctitle) or b""
        argv = [part.decode("utf-8", "backslashreplace") for part in title.split(b"\x00")]
    if not argv and main.get("cmd"):
        # sudo's USER_CMD: the command as one line.
        argv = (decode_text(main["cmd"]) or "").split(" ")
    if not argv and main_type in _KEYSTROKE_TYPES and main.get("data"):
        argv = [decode_text(main["data"]) or ""]
    return argv, whole


def _ids(main):
    """``(auid, uid, euid, session, exit, pid, ppid)`` as numbers (None where missing)."""
    get = main.get
    try:  # all at once in the common case, one by one when any is missing or not a number
        auid, uid, euid, session, exit_code, pid, ppid = (
            int(get("auid")), int(get("uid")), int(get("euid")), int(get("ses")),
            int(get("exit")), int(get("pid")), int(get("ppid")))
    except (TypeError, ValueError):
        auid = _whole_number(get("auid"))
        uid = _whole_number(get("uid"))
        euid = _whole_number(get("euid"), uid)
        session = _whole_number(get("ses"))
        exit_code = _whole_number(get("exit"))
        pid = _whole_number(get("pid"))
        ppid = _whole_number(get("ppid"))
    if session == UNSET_ID:
        session = None
    return auid, uid, euid, session, exit_code, pid, ppid


# Where open(2) and openat(2) take their flags.  The access mode (O_ACCMODE, 3) and O_TRUNC
# (0x200) are the same on every architecture of the syscall tables.
_OPEN_FLAGS = {"open": "a1", "openat": "a2"}


def _open_operation(syscall, main):
    """``read`` or ``write`` for an open, by its flags (hex, as the SYSCALL record writes
    them); ``open`` when the record does not hold them (openat2 passes a structure)."""
    try:
        flags = int(main.get(_OPEN_FLAGS.get(syscall)) or "", 16)
    except ValueError:
        return "open"
    return "write" if flags & 0x203 else "read"


def _touched_paths(paths, cwd, syscall, main):
    """``(entries, interesting, operation)``: each PATH as a :class:`PathEntry` in the kernel's
    order (by item), those that are no parent directory (else all), and what the syscall did
    to them."""
    entries = []
    interesting = []
    if len(paths) > 1:
        items = [_whole_number(item) for item, _name, _nametype in paths]
        if None not in items and items != sorted(items):
            paths = [path for _item, path in sorted(zip(items, paths), key=lambda pair: pair[0])]
    for _item, raw_name, nametype in paths:
        name = decode_text(raw_name)
        if name is None:
            continue
        absolute = name if name.startswith("/") or cwd is None else posixpath.normpath(
            posixpath.join(cwd, name))
        entry = {"name": name, "path": absolute, "nametype": nametype}
        entries.append(entry)
        if nametype != "PARENT":
            interesting.append(entry)
    interesting = interesting or entries
    operation = None
    if interesting:
        operation = _OPERATION_BY_SYSCALL.get(syscall)
        if operation == "open":
            operation = _open_operation(syscall, main)
        if operation not in ("rename", "execute"):
            nametypes = {entry["nametype"] for entry in entries}
            if "CREATE" in nametypes:
                operation = "create"
            elif "DELETE" in nametypes:
                operation = "delete"
    return entries, interesting, operation


_EXEC_SYSCALLS = frozenset(("execve", "execveat"))
# The end of a whole SYSCALL record: the kernel writes key= last, auditd's ENRICHED names end
# with FSGID (after 0x1d, rsyslog's #035, or a blank).  Each word is to begin a word, as \b
# would say; written as a look behind its first letter, the search skips to a "k" or an "F".
_SYSCALL_END = re.compile(r'(?:k(?<!\wk)ey=(?:"[^"]*"|[^\s"]+)|F(?<!\wF)SGID="[^"]*")\s*\Z')


def _syscall_whole(records):
    """Whether the event's SYSCALL record reached its end (a truncated one says less than it
    seems: no key, no names, a cut program name)."""
    body = next(body for record_type, body in records if record_type == "SYSCALL")
    floor = max(0, len(body) - 640)
    if body[-1:] == '"':  # the usual end, FSGID="root" or key="exec", found from the end
        value = body.rfind('"', floor, len(body) - 1)
        for word in ('FSGID="', 'key="'):
            start = value + 1 - len(word)
            if start >= floor and body.startswith(word, start) and (
                    start == 0 or not (body[start - 1].isalnum() or body[start - 1] == "_")):
                return True
    return _SYSCALL_END.search(body, floor) is not None


def is_fragment(record_types):
    """Whether an event of these record types is a fragment: none of them says who acted."""
    return _NOT_WHO.issuperset(record_types)


def _event_kind(types, main, main_type, interesting):
    """``fragment``, ``exec``, ``file``, ``user`` or ``syscall`` (see :class:`Event`)."""
    if not main and is_fragment(types):
        return "fragment"
    return "EXECVE" in types and "exec" or interesting and "file" or \
        (main and main_type != "SYSCALL" and "user") or "syscall"


def build_event(stamp, records, host=None, address=None, node=None, complete=True,
                local_names=None) -> Event:
    """One event from the records ``[(type, body), ...]`` that share ``stamp``.

    ``host`` is the name the sender claims, ``address`` the address it really came from (the
    stored form's FROMHOST-IP), ``node`` the ``node=`` name in the records.  ``local_names``
    maps uids to names for logs without ENRICHED names written on this very machine: it is
    used only for records that came from no sender and name no node.
    """
    if address is not None or node is not None:
        local_names = None  # another machine's uids are not this one's users
    epoch, event_time = _stamp_time(stamp)
    serial = stamp_serial(stamp)
    types, main, main_names, main_type, execve, cwd, paths, proctitle = _read_records(records)
    argv, argv_complete = _command_line(execve, proctitle, main, main_type) \
        if execve or proctitle or "cmd" in main or main_type in _KEYSTROKE_TYPES else ([], True)
    syscall = _syscall_name(main, main_names)
    auid, uid, euid, session, exit_code, pid, ppid = _ids(main)
    if cwd is None and "cwd" in main:
        cwd = decode_text(main["cwd"])
    path_entries, interesting, operation = _touched_paths(paths, cwd, syscall, main) if paths \
        else ([], [], None)
    get = main.get
    success = get("success") or get("res")
    # A record the event must have is missing or cut short (a line over the reader's limit
    # skipped, a message rsyslog truncated): the event says so, and an execution stays one.
    lost_execve = syscall in _EXEC_SYSCALLS and success == "yes" and "EXECVE" not in types
    whole = not lost_execve and (main_type != "SYSCALL" or _syscall_whole(records))
    tty = get("tty") or get("terminal")
    key_text = get("key")
    key_text = decode_text(key_text) if key_text is not None else None
    keys = [key for key in key_text.split("\x01") if key] if key_text else []
    exe = get("exe")
    comm = get("comm")
    address_field = get("addr")
    loss = None
    kind = "exec" if lost_execve else _event_kind(types, main, main_type, interesting)
    if main_type == "USER":
        loss = read_loss_report(next(body for record_type, body in records if record_type == "USER"))
        if loss is not None:
            kind = "loss" if loses(loss) else "health"
    return {
        "time": event_time,
        "epoch": epoch,
        "serial": serial,
        "host": host or node,
        "address": address,
        "node": node,
        "kind": kind,
        "record_types": types,
        "login_user": _user_name(auid, main_names.get("AUID"), local_names),
        "auid": None if auid in (UNSET_ID, -1) else auid,
        "user": _user_name(euid, main_names.get("EUID") or main_names.get("UID"), local_names),
        "uid": uid,
        "euid": euid,
        "session": session,
        "tty": _terminal(tty),
        "cwd": cwd,
        "exe": decode_text(exe) if exe is not None else None,
        "comm": decode_text(comm) if comm is not None else None,
        "argv": argv,
        "key": keys[0] if keys else None,
        "keys": keys,
        "syscall": syscall,
        # old PAM messages end "(hostname=?, addr=?, terminal=cron res=success)"
        "success": None if success is None else success in ("yes", "success", "1", "success)"),
        "exit": exit_code,
        "pid": pid,
        "ppid": ppid,
        "paths": path_entries,
        "path": interesting[0]["path"] if interesting else None,
        "operation": operation,
        "account": decode_text(main["acct"]) if "acct" in main else None,
        "remote_address": address_field if address_field not in (None, "?") else None,
        "complete": complete and argv_complete and whole,
        "loss": loss,
    }
