# -*- coding: utf-8 -*-
# Copyright: whotouched.server_audit contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Linux audit records and Windows evtsys messages, turned into one event per action.

One command run on a Linux host is four to eight audit records (SYSCALL, EXECVE with
hex-encoded arguments, CWD, PATH, PROCTITLE, EOE) that share one ``msg=audit(time:serial)``
stamp, interleaved with other events and, on the log server, with other hosts.  This module
reads lines as a stream and yields one event (a dict) per action:

* raw ``audit.log`` lines (audit 2.x, 3.x, 4.x; ``log_format=RAW`` or ``ENRICHED``, whose
  names follow a 0x1d separator; an optional ``node=`` prefix);
* the log server's stored forms (``roles/rsyslog_server``): ``runcmdformat``
  (``TIMESTAMP HOSTNAME FROMHOST-IP record``), ``pipeformat`` (``TIMESTAMP FROMHOST-IP tag:
  record``), where rsyslog has written the 0x1d separator as ``#035``;
* ``evtsysformat`` lines of Windows Security events forwarded by evtsys.

Records are grouped by sender and stamp.  An event is complete at its EOE record, at once for
the record types that always stand alone (user-space messages such as USER_CMD), or when the
same sender's clock has moved ``wait_seconds`` past it.  Memory stays bounded on endless
input: lines, records per event and pending events are all capped, and what goes over a cap
is counted, never kept.  Malformed, truncated or hostile lines are counted and skipped.

A *fragment* is what is left of an action whose records that say who acted (SYSCALL and the
like) never arrived: the client's noise filters drop a routine command's SYSCALL and EXECVE
records (``ls``), and its CWD, PATH, PROCTITLE or BPRM_FCAPS records come alone.  Such an
event has kind ``fragment`` and no user; the assembler counts it as ``fragments`` and does not
give it out unless asked (``EventAssembler(fragments=True)``), so that no reader of the stream
shows a nameless half of a command that was meant to be filtered out.

Standard library only: this runs on the log server inside the ``audit_report`` module.
"""

from __future__ import annotations

import posixpath
import re
import time

from ansible_collections.whotouched.server_audit.plugins.module_utils.windows_events import (
    read_security_event,
)

UNSET_ID = 4294967295
"""The kernel's "not set" value of auid, ses and other ids."""

# Record types the kernel or user space emits as a one-record event, with no EOE after it.
_STANDALONE_TYPES = frozenset((
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
    "VIRT_CONTROL", "VIRT_RESOURCE", "VIRT_MACHINE_ID", "VIRT_INTEGRITY_CHECK",
))

# Fields whose value is text: quoted when plain, hex-encoded when it holds a blank, a quote,
# a control or a non-ASCII byte (the kernel's audit_string_contains_control, libaudit's
# audit_encode_value).
_TEXT_FIELDS = frozenset(("comm", "exe", "cwd", "name", "cmd", "acct", "proctitle", "key",
                          "grp", "new_group", "old-auid", "id", "data"))

# Syscall numbers for the architectures seen in practice, for logs without ENRICHED names.
_SYSCALLS = {
    "c000003e": {  # x86_64
        59: "execve", 322: "execveat", 2: "open", 257: "openat", 437: "openat2", 85: "creat",
        87: "unlink", 263: "unlinkat", 82: "rename", 264: "renameat", 316: "renameat2",
        90: "chmod", 91: "fchmod", 268: "fchmodat", 92: "chown", 93: "fchown", 94: "lchown",
        260: "fchownat", 188: "setxattr", 189: "lsetxattr", 190: "fsetxattr",
        197: "removexattr", 198: "lremovexattr", 199: "fremovexattr", 76: "truncate",
        77: "ftruncate", 86: "link", 265: "linkat", 88: "symlink", 266: "symlinkat",
        83: "mkdir", 258: "mkdirat", 84: "rmdir", 44: "sendto", 46: "sendmsg", 132: "utime",
        235: "utimes", 280: "utimensat", 161: "chroot", 165: "mount", 166: "umount2",
        175: "init_module", 313: "finit_module", 176: "delete_module", 62: "kill",
        105: "setuid", 113: "setreuid", 117: "setresuid",
    },
    "40000003": {  # i386
        11: "execve", 358: "execveat", 5: "open", 295: "openat", 8: "creat", 10: "unlink",
        301: "unlinkat", 38: "rename", 302: "renameat", 353: "renameat2", 15: "chmod",
        94: "fchmod", 306: "fchmodat", 182: "chown", 212: "chown32", 95: "fchown",
        207: "fchown32", 16: "lchown", 198: "lchown32", 298: "fchownat", 92: "truncate",
        93: "ftruncate", 9: "link", 83: "symlink", 39: "mkdir", 40: "rmdir",
    },
    "c00000b7": {  # aarch64
        221: "execve", 281: "execveat", 56: "openat", 437: "openat2", 35: "unlinkat",
        38: "renameat", 276: "renameat2", 52: "fchmod", 53: "fchmodat", 55: "fchown",
        54: "fchownat", 5: "setxattr", 6: "lsetxattr", 7: "fsetxattr", 14: "removexattr",
        45: "truncate", 46: "ftruncate", 37: "linkat", 36: "symlinkat", 34: "mkdirat",
    },
}

_OPERATION_BY_SYSCALL = {
    "execve": "execute", "execveat": "execute", "open": "write", "openat": "write",
    "openat2": "write", "creat": "create", "unlink": "delete", "unlinkat": "delete",
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

_MONTHS = {name: number for number, name in enumerate(
    ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1)}

# Nested fields of a user-space record: msg='op=... acct="alice" res=success'.
_FIELD = re.compile(r"""([^\s=]+)=('[^']*'?|"[^"]*"?|[^\s\x1d]*)""")
# rsyslog's %pri-text%: "daemon.notice", and before 8.2302 "daemon.notice<29>".
_PRI_TEXT = re.compile(r"[a-z0-9]+\.[a-z]+(?:<[0-9]{1,3}>)?\Z")
# Control characters (C0, DEL, C1) and the bidirectional overrides that make text lie.
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def sanitize(text):
    """``text`` safe to show a person: control characters written as ``\\xNN`` escapes."""
    if text is None:
        return ""
    text = str(text)
    if _UNPRINTABLE.search(text) is None:
        return text
    return _UNPRINTABLE.sub(lambda match: "\\x%02x" % ord(match.group())
                            if ord(match.group()) < 0x100 else "\\u%04x" % ord(match.group()),
                            text)


# ---------------------------------------------------------------- reading lines, bounded

def iter_lines(stream, counts=None, max_line=65536, chunk_size=1 << 20):
    """Text lines of a binary ``stream``, without their line ends, in bounded memory.

    A line longer than ``max_line`` bytes is skipped whole (counted as ``oversized`` in
    ``counts``), however long it goes on, so one endless line cannot exhaust memory.
    Bytes that are not UTF-8 become U+FFFD.
    """
    tail = b""
    skipping = False
    while True:
        chunk = stream.read(chunk_size)
        if not chunk:
            break
        data = tail + chunk
        cut = data.rfind(b"\n")
        tail = data[cut + 1:]
        start = 0
        if cut >= 0 and skipping:  # the end of an overlong line
            start = data.find(b"\n") + 1
            skipping = False
        if start <= cut:
            yield from _block_lines(data[start:cut], counts, max_line)
        if len(tail) > max_line:
            if not skipping:
                _count(counts, "oversized")
            skipping = True
            tail = b""
    if tail and not skipping:
        yield tail.decode("utf-8", "replace").rstrip("\r")


def _block_lines(block, counts, max_line):
    """The lines of ``block`` (whole lines, no line end after the last), decoded at once."""
    # A newline is never part of a UTF-8 sequence: decoding the block at once decodes each
    # line as on its own, in one call instead of one per line.
    lines = block.decode("utf-8", "replace").split("\n")
    if max(map(len, lines)) * 4 > max_line:  # a line may be over max_line bytes: measure
        lines = []
        for piece in block.split(b"\n"):
            if len(piece) > max_line:
                _count(counts, "oversized")
            else:
                lines.append(piece.decode("utf-8", "replace"))
    if b"\r" in block:
        lines = [line.rstrip("\r") for line in lines]
    return lines


def _count(counts, name, amount=1):
    if counts is not None:
        counts[name] = counts.get(name, 0) + amount


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
        return value.encode("utf-8")


def decode_text(value):
    """An audit text field as a string: quoted as is, hex decoded (UTF-8), ``(null)`` as None."""
    if value and value[0] == '"' and value[-1] == '"' and len(value) > 1 and value.isascii():
        return value[1:-1]  # the common case, what encoding and decoding would give back
    raw = _raw_bytes(value)
    if raw is None:
        return None
    return raw.decode("utf-8", "backslashreplace")


def _number(value, default=None):
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
    if "#035" not in body:
        return body, ""
    for match in _QUOTED_OR_ESCAPED_SEPARATOR.finditer(body):
        if match.group() == "#035":
            return body[:match.start()], body[match.end():]
    return body, ""


# A kernel record's field: no blank in the name or the value (the loop runs in C).
_KERNEL_FIELD = re.compile(r"([^\s=]+)=(\S*)")


def parse_fields(body):
    """The ``name=value`` fields of a record body (values as logged), and its ENRICHED names.

    Kernel records never hold a blank inside a value, so splitting on blanks is exact and
    fast; user-space records nest a quoted ``msg='...'`` whose fields are merged in.
    """
    head, enriched = _split_enriched(body)
    if "'" in head:
        fields = {}
        for name, value in _FIELD.findall(head):
            if name == "msg" and value.startswith("'"):
                for inner_name, inner_value in _FIELD.findall(value.strip("'")):
                    fields[inner_name] = inner_value
            else:
                fields[name] = value
    else:
        fields = dict(_KERNEL_FIELD.findall(head))
    names = {}
    if enriched:
        for name, value in _FIELD.findall(enriched):
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
    r" a0=\S* a1=\S* a2=\S* a3=\S* items=\S* ppid=(?P<ppid>\S*) pid=(?P<pid>\S*)"
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
                      "MMAP", "FD_PAIR", "OBJ_PID", "SECCOMP", "KERN_MODULE", "NETFILTER_CFG"))


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


# A PATH record as the kernel writes it (audit_log_name): its name (quoted, hex, or "(null)")
# and its nametype matched in one pass.  Matched, they are exactly what _one_field finds for
# each; anything else goes through _one_field.
_PATH_RECORD = re.compile(
    r'item=\S* name=("[^"\s]*"|[^\s"#]*) (?:inode=\S* dev=\S* mode=\S* ouid=\S* ogid=\S*'
    r' rdev=\S* )?(?:obj=\S* )?nametype=([A-Z]*)(?=[ \x1d]|#035|\Z)')


def _path_fields(body):
    """The name and nametype of a PATH record: ``_one_field`` of each, in one pass."""
    match = _PATH_RECORD.match(body)
    if match is not None:
        return match.groups()
    return _one_field(body, "name"), _one_field(body, "nametype")


def _stamp_epoch(stamp):
    seconds, _dot, rest = stamp.partition(".")
    millis, _colon, _serial = rest.partition(":")
    return int(seconds) + int(millis or 0) / 1000.0


# The last whole second formatted: events come in bursts within one second.
_LAST_SECOND = (None, "")


def format_time(epoch):
    """ISO 8601 UTC with milliseconds: ``2023-11-14T22:13:20.123Z``."""
    global _LAST_SECOND  # pylint: disable=global-statement
    seconds = int(epoch)
    last, text = _LAST_SECOND
    if seconds != last:
        text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
        _LAST_SECOND = (seconds, text)
    return "%s.%03dZ" % (text, int(round((epoch - seconds) * 1000)) % 1000)


def _person(number, name, local_names):
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
        count = _number(fields.get("argc"))
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
                argc = _number(value, argc)
            elif name[:1] == "a" and not name.endswith("_len"):
                bracket = name.find("[")
                if bracket < 0:
                    index = _number(name[1:])
                    if index is not None:
                        whole[index] = value
                else:
                    index = _number(name[1:bracket])
                    part = _number(name[bracket + 1:-1])
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
            if names == _EXECVE_NAMES[:len(names)] and _number(values[0]) == len(names) - 1:
                return [_argument(value) for value in values[1:]], True
    return _argv_from_execve([parse_fields(body)[0]])


def _syscall_name(fields, names):
    if "SYSCALL" in names:
        return names["SYSCALL"]
    number = _number(fields.get("syscall"))
    if number is None:
        return None
    return _SYSCALLS.get(fields.get("arch", ""), {}).get(number, str(number))


def build_event(stamp, records, host=None, address=None, node=None, complete=True,
                local_names=None):
    """One event from the records ``[(type, body), ...]`` that share ``stamp``.

    ``host`` is the name the sender claims, ``address`` the address it really came from (the
    stored form's FROMHOST-IP), ``node`` the ``node=`` name in the records.  ``local_names``
    maps uids to names for logs without ENRICHED names written on this very machine.
    """
    epoch = _stamp_epoch(stamp)
    serial = stamp.rpartition(":")[2]
    serial = int(serial) if serial.isdecimal() else _number(serial)
    types = []
    main = {}
    main_names = {}
    main_type = None
    execve = []
    cwd = None
    paths = []
    proctitle = None
    for record_type, body in records:
        types.append(record_type)
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
    if not execve:
        argv, argv_complete = [], True
    elif len(execve) == 1:
        argv, argv_complete = _execve_argv(execve[0])
    else:
        argv, argv_complete = _argv_from_execve([parse_fields(body)[0] for body in execve])
    if not argv and proctitle:
        proctitle = _one_field(proctitle, "proctitle")
    if not argv and proctitle:
        # PROCTITLE keeps the first 128 bytes of the NUL-separated argv.
        title = _raw_bytes(proctitle) or b""
        argv = [part.decode("utf-8", "backslashreplace") for part in title.split(b"\x00")]
    if not argv and main.get("cmd"):
        # sudo's USER_CMD: the command as one line.
        argv = (decode_text(main["cmd"]) or "").split(" ")
    syscall = _syscall_name(main, main_names)
    get = main.get
    try:  # all at once in the common case, one by one when any is missing or not a number
        auid, uid, euid, session, exit_code, pid, ppid = (
            int(get("auid")), int(get("uid")), int(get("euid")), int(get("ses")),
            int(get("exit")), int(get("pid")), int(get("ppid")))
    except (TypeError, ValueError):
        auid = _number(get("auid"))
        uid = _number(get("uid"))
        euid = _number(get("euid"), uid)
        session = _number(get("ses"))
        exit_code = _number(get("exit"))
        pid = _number(get("pid"))
        ppid = _number(get("ppid"))
    if session == UNSET_ID:
        session = None
    tty = main.get("tty") or main.get("terminal")
    if tty in ("(none)", "?", "", None):
        tty = None
    cwd = cwd if cwd is not None else decode_text(main.get("cwd")) if "cwd" in main else None
    key_text = decode_text(main.get("key")) if "key" in main else None
    keys = [key for key in key_text.split("\x01") if key] if key_text else []
    success = main.get("success") or main.get("res")
    success = None if success is None else success in ("yes", "success", "1")
    path_entries = []
    interesting = []
    for raw_name, nametype in paths:
        name = decode_text(raw_name)
        if name is None:
            continue
        absolute = name if name.startswith("/") or cwd is None else posixpath.normpath(
            posixpath.join(cwd, name))
        entry = {"name": name, "path": absolute, "nametype": nametype}
        path_entries.append(entry)
        if nametype != "PARENT":
            interesting.append(entry)
    interesting = interesting or path_entries
    operation = None
    if interesting:
        operation = _OPERATION_BY_SYSCALL.get(syscall)
        if operation not in ("rename", "execute"):
            nametypes = {entry["nametype"] for entry in path_entries}
            if "CREATE" in nametypes:
                operation = "create"
            elif "DELETE" in nametypes:
                operation = "delete"
    if not main and _NOT_WHO.issuperset(types):
        record_kind = "fragment"
    else:
        record_kind = "EXECVE" in types and "exec" or interesting and "file" or \
            (main and main_type != "SYSCALL" and "user") or "syscall"
    exe = decode_text(main.get("exe")) if "exe" in main else None
    return {
        "time": format_time(epoch),
        "epoch": epoch,
        "serial": serial,
        "host": host or node,
        "address": address,
        "node": node,
        "kind": record_kind,
        "record_types": types,
        "login_user": _person(auid, main_names.get("AUID"), local_names),
        "auid": None if auid == UNSET_ID else auid,
        "user": _person(euid, main_names.get("EUID") or main_names.get("UID"), local_names),
        "uid": uid,
        "euid": euid,
        "session": session,
        "tty": tty,
        "cwd": cwd,
        "exe": exe,
        "comm": decode_text(main.get("comm")) if "comm" in main else None,
        "argv": argv,
        "key": keys[0] if keys else None,
        "keys": keys,
        "syscall": syscall,
        "success": success,
        "exit": exit_code,
        "pid": pid,
        "ppid": ppid,
        "paths": path_entries,
        "path": interesting[0]["path"] if interesting else None,
        "operation": operation,
        "account": decode_text(main["acct"]) if "acct" in main else None,
        "remote_address": main.get("addr") if main.get("addr") not in (None, "?") else None,
        "complete": complete and argv_complete,
    }


# ---------------------------------------------------------------- Windows (evtsys)

_EVTSYS_BODY = re.compile(
    r"(?P<computer>\S+) (?:(?P<tag>\S+): )??(?P<source>[^\s:]+): (?P<id>\d{1,5}): ?(?P<text>.*)$")


def parse_evtsys(stored_time, address, pri, rest, now=None):
    """An event from an ``evtsysformat`` line's parts, or None when it is not evtsys' shape."""
    match = _EVTSYS_BODY.match(rest)
    if match is None:
        return None
    text = match.group("text")
    success = None
    if text.startswith("AUDIT_SUCCESS "):
        success, text = True, text[14:]
    elif text.startswith("AUDIT_FAILURE "):
        success, text = False, text[14:]
    event_id = int(match.group("id"))
    # Labels in any display language the reader knows; truncated: evtsys cut the message.
    fields = read_security_event(event_id, pri, rest[match.end("computer") + 1:], text)
    account, target, source = fields["account"], fields["target_account"], fields["source_address"]
    command = fields["command"]
    epoch = syslog_epoch(stored_time, now)
    return {
        "time": format_time(epoch) if epoch is not None else None,
        "epoch": epoch,
        "serial": None,
        "host": match.group("computer"),
        "address": address,
        "node": None,
        "kind": "windows",
        "record_types": ["WINDOWS"],
        "event_id": event_id,
        "source": match.group("source"),
        "priority": pri,
        "account": account,
        "target_account": target,
        "group": fields["group"],
        "source_address": source,
        "workstation": fields["workstation"],
        "login_user": account or target,
        "auid": None,
        "user": target or account,
        "uid": None,
        "euid": None,
        "session": None,
        "tty": None,
        "cwd": None,
        "exe": fields["exe"],
        "comm": None,
        "argv": command.split(" ") if command else [],
        "key": None,
        "keys": [],
        "syscall": None,
        "success": success,
        "exit": None,
        "pid": None,
        "ppid": None,
        "paths": [],
        "path": None,
        "operation": None,
        "remote_address": source,
        "ticket_encryption": fields["ticket_encryption"],
        "message": text,
        "truncated": fields["truncated"],
        "complete": not fields["truncated"],
    }


def syslog_epoch(stamp, now=None):
    """Epoch seconds of an RFC 3164 ``Mmm dd hh:mm:ss`` (local time) in the most recent year.

    The stored form has no year: the year is the one that puts the time no more than a day
    after ``now``.
    """
    try:
        month = _MONTHS[stamp[:3]]
        day = int(stamp[4:6])
        hours, minutes, seconds = (int(part) for part in stamp[7:15].split(":"))
    except (KeyError, ValueError):
        return None
    now = time.time() if now is None else now
    year = time.localtime(now).tm_year
    for candidate in (year, year - 1):
        try:
            epoch = time.mktime((candidate, month, day, hours, minutes, seconds, 0, 0, -1))
        except (OverflowError, ValueError):
            return None
        if epoch <= now + 86400:
            return float(epoch)
    return float(epoch)


# ---------------------------------------------------------------- the stream

class EventAssembler:
    """Groups records into events, by sender and stamp, in bounded memory.

    ``feed(line)`` returns the events that line completed (usually none); ``flush()`` returns
    the rest at the end of input.  ``counts`` holds how many lines, records and events were
    seen, and how many lines were malformed or went over a limit.  Fragments (see the module's
    description) are counted as ``fragments``, not as ``events``, and given out only with
    ``fragments=True``.
    """

    def __init__(self, wait_seconds=5.0, wait_events=256, max_pending=4096,
                 max_event_records=1024, max_event_bytes=4 << 20, local_names=None, now=None,
                 fragments=False):
        self.wait_seconds = wait_seconds
        self.wait_records = wait_events
        self.max_pending = max_pending
        self.max_event_records = max_event_records
        self.max_event_bytes = max_event_bytes
        self.local_names = local_names
        self.now = now
        self.fragments = fragments
        self.counts = {"lines": 0, "records": 0, "events": 0, "malformed": 0, "other": 0,
                       "incomplete": 0, "evicted": 0, "dropped_records": 0, "windows": 0,
                       "fragments": 0}
        # sender -> {stamp: [records, host, address, node, seconds, bytes]}, oldest first
        self._pending = {}
        # (sender, stamp) -> its number among the events opened, oldest first over all
        # senders: what to evict at the cap, what release() gives out
        self._order = {}
        self._opened = 0
        # Events begun so far per sender: an event that wait_events newer events of the
        # same sender have passed is taken as complete (kernels before 3.17 write no PROCTITLE).
        self._begun = {}
        # The event the last record went to, as (stamp, address, node, entry, the text
        # " msg=audit(stamp):"): the next record usually belongs to it too, and then needs no
        # look-up.  None once any waiting event is given out.
        self._last = None

    def feed(self, line):
        """Take one stored or raw line; return the events it completed."""
        counts = self.counts
        counts["lines"] += 1
        prefix = line[:5]
        if prefix == "type=" or prefix == "node=":
            host = address = None
            record = line
        else:
            # Stored form: "Mmm dd hh:mm:ss" then two words, then the message.
            if len(line) < 20 or line[3] != " " or line[15] != " ":
                counts["malformed"] += 1
                return ()
            first, _space, rest = line[16:].partition(" ")
            second, _space, record = rest.partition(" ")
            if record[:5] == "type=" or record[:5] == "node=":
                if second[-1:] == ":" and ":" not in second[:-1]:  # pipeformat: address, tag
                    host, address = None, first
                else:  # runcmdformat: claimed name, then the real address
                    host, address = first, second
            elif _PRI_TEXT.match(second):  # evtsysformat: address, priority, then the sender
                event = parse_evtsys(line[:15], first, second, record, self.now)
                if event is None:
                    counts["malformed"] += 1
                    return ()
                counts["windows"] += 1
                counts["events"] += 1
                return (event,)
            else:
                # A well-formed stored line that is not an audit record (the plugin's own
                # start message, say): skipped, counted apart from malformed ones.
                counts["other"] += 1
                return ()
        node = None
        if record[:5] == "node=":
            node, _space, record = record[5:].partition(" ")
            if record[:5] != "type=":
                counts["malformed"] += 1
                return ()
        space = record.find(" ", 5)
        close = record.find("):", space)
        if space < 0 or close < 0 or not record.startswith(" msg=audit(", space):
            counts["malformed"] += 1
            return ()
        record_type = record[5:space]
        stamp = record[space + 11:close]
        body = record[close + 2:].lstrip(" ")
        counts["records"] += 1
        last = self._last
        if last is not None and last[0] == stamp and last[1] == address and last[2] == node:
            entry = last[3]
            if record_type != "EOE" and record_type != "PROCTITLE":
                if len(entry[0]) >= self.max_event_records or entry[5] > self.max_event_bytes:
                    return self._drop(entry)
                entry[0].append((record_type, body))
                entry[5] += len(body)
                return ()
            return self._complete((address, node), stamp, record_type, body, entry)
        sender = (address, node)
        waiting = self._pending.get(sender)
        if waiting is None:
            waiting = self._pending[sender] = {}
        entry = waiting.get(stamp)
        if entry is None:
            if record_type == "EOE":
                return ()  # the end of an event already completed by its PROCTITLE
            try:
                dot = stamp.index(".")
                seconds = int(stamp[:dot])
                int(stamp[dot + 1:stamp.index(":")] or 0)  # the milliseconds build_event reads
                int(stamp[stamp.index(":") + 1:])
            except ValueError:
                counts["records"] -= 1
                counts["malformed"] += 1
                return ()
            done = self._expire(sender, waiting, seconds) if waiting else ()
            if record_type in _STANDALONE_TYPES or record_type == "PROCTITLE":
                # A PROCTITLE with nothing before it: its event began before this input did,
                # or the filters dropped the rest of it.
                complete = record_type != "PROCTITLE"
                event = build_event(stamp, [(record_type, body)], host, address, node,
                                    complete=complete, local_names=self.local_names)
                if not self._given(event, "events" if complete else "incomplete"):
                    return done
                return (event,) if not done else done + [event]
            sequence = self._begun[sender] = self._begun.get(sender, 0) + 1
            entry = waiting[stamp] = [[(record_type, body)], host, address, node, seconds,
                                      len(body), sequence]
            self._last = (stamp, address, node, entry, " msg=audit(%s):" % stamp)
            self._opened += 1
            self._order[(sender, stamp)] = self._opened
            if len(self._order) > self.max_pending:
                evicted = self._evict_oldest()
                if evicted is not None:
                    done = list(done)
                    done.append(evicted)
            return done
        self._last = (stamp, address, node, entry, " msg=audit(%s):" % stamp)
        if record_type == "EOE" or record_type == "PROCTITLE":
            return self._complete(sender, stamp, record_type, body, entry)
        if len(entry[0]) >= self.max_event_records or entry[5] > self.max_event_bytes:
            return self._drop(entry)
        entry[0].append((record_type, body))
        entry[5] += len(body)
        return ()

    def feed_lines(self, lines):
        """The events that ``lines`` complete, as :meth:`feed` gives them line by line (empty
        lines skipped, a line that makes feed fail counted as malformed); no flush."""
        feed = self.feed
        counts = self.counts
        for line in lines:
            if not line:
                continue
            last = self._last
            if last is not None and last[1] is None and last[2] is None and line[:5] == "type=":
                # A raw record of the event the last one went to, the usual case: what feed
                # does with it, without the call and the look-ups.  The stamp holds no ")",
                # so the first "):" after the type is the one that ends the marker.
                space = line.find(" ", 5)
                marker = last[4]
                if space >= 0 and line.startswith(marker, space):
                    record_type = line[5:space]
                    entry = last[3]
                    if record_type != "EOE" and record_type != "PROCTITLE" and \
                            len(entry[0]) < self.max_event_records and \
                            entry[5] <= self.max_event_bytes:
                        body = line[space + len(marker):].lstrip(" ")
                        counts["lines"] += 1
                        counts["records"] += 1
                        entry[0].append((record_type, body))
                        entry[5] += len(body)
                        continue
            try:
                done = feed(line)
            except (ValueError, IndexError, KeyError, TypeError, OverflowError):
                # A hostile line that got past the cheap checks: counted, never fatal.
                counts["malformed"] += 1
                continue
            if done:
                yield from done

    def _complete(self, sender, stamp, record_type, body, entry):
        """The event of a waiting entry that its PROCTITLE or EOE record ends."""
        # The kernel ends every syscall event with PROCTITLE (then EOE, which auditd does
        # not write to its log), so either one completes it.
        if record_type == "PROCTITLE":
            entry[0].append((record_type, body))
        del self._pending[sender][stamp]
        del self._order[(sender, stamp)]
        self._last = None
        event = build_event(stamp, entry[0], entry[1], entry[2], entry[3],
                            local_names=self.local_names)
        return (event,) if self._given(event, "events") else ()

    def _drop(self, entry):
        """Count a record that goes over an event's limits; mark the event once."""
        self.counts["dropped_records"] += 1
        if entry[0][-1][0] != "DROPPED":
            entry[0].append(("DROPPED", ""))  # one marker, the records are not kept
        return ()

    def _expire(self, sender, waiting, seconds):
        """Events of ``sender`` that its clock has left ``wait_seconds`` behind."""
        done = ()
        limit = seconds - self.wait_seconds
        oldest_kept = self._begun.get(sender, 0) - self.wait_records
        while waiting:
            stamp = next(iter(waiting))
            entry = waiting[stamp]
            if entry[4] >= limit and entry[6] >= oldest_kept:
                break
            del waiting[stamp]
            self._last = None
            del self._order[(sender, stamp)]
            event = self._finish(stamp, entry, "incomplete")
            if event is not None:
                if not done:
                    done = []
                done.append(event)
        return done

    def _evict_oldest(self):
        sender, stamp = next(iter(self._order))
        del self._order[(sender, stamp)]
        self._last = None
        entry = self._pending[sender].pop(stamp)
        return self._finish(stamp, entry, "evicted")

    def _finish(self, stamp, entry, reason):
        """The event of a waiting entry given out incomplete, or None for a fragment kept in."""
        records = [record for record in entry[0] if record[0] != "DROPPED"]
        event = build_event(stamp, records, entry[1], entry[2], entry[3],
                            complete=False, local_names=self.local_names)
        return event if self._given(event, reason) else None

    def _given(self, event, reason):
        """Count ``event`` under ``reason`` (and as an event, when given out); whether it is
        given out: not when it is a fragment and fragments were not asked for."""
        counts = self.counts
        if event["kind"] == "fragment":
            counts["fragments"] += 1
            if not self.fragments:
                return False
        if reason != "events":
            counts[reason] += 1
        counts["events"] += 1
        return True

    @property
    def opened(self):
        """How many multi-record events have been opened so far: a mark for :meth:`release`."""
        return self._opened

    def release(self, opened_before):
        """The events still waiting that were opened before the mark ``opened_before`` (a
        value of :attr:`opened` read earlier), oldest first, as incomplete.

        For a reader that waits on a live stream: an event whose last record has not come
        within a while (its sender went quiet, so its clock cannot expire it) is given out.
        """
        done = []
        order = self._order
        while order:
            key = next(iter(order))
            if order[key] > opened_before:
                break
            del order[key]
            self._last = None
            sender, stamp = key
            event = self._finish(stamp, self._pending[sender].pop(stamp), "incomplete")
            if event is not None:
                done.append(event)
        return done

    def flush(self):
        """Every event still waiting (the input ended before its EOE), oldest first."""
        done = []
        for sender, stamp in list(self._order):
            event = self._finish(stamp, self._pending[sender].pop(stamp), "incomplete")
            if event is not None:
                done.append(event)
        self._order.clear()
        self._pending.clear()
        self._last = None
        return done

    @property
    def pending(self):
        """How many events are waiting for more records."""
        return len(self._order)


def iter_events(lines, assembler=None, **options):
    """Events from an iterable of lines (stored, raw or evtsys), as a stream.

    ``options`` go to :class:`EventAssembler` when no ``assembler`` is given; pass one to
    read its ``counts`` afterwards.
    """
    assembler = assembler or EventAssembler(**options)
    yield from assembler.feed_lines(lines)
    yield from assembler.flush()
