# -*- coding: utf-8 -*-
# Copyright: whotouched.server_audit contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to whotouched.server_audit: it may change in any release. Do not import it from
# other collections or from code outside this collection.
"""Windows advanced audit policy by subcategory GUID, in every display language.

``auditpol`` prints subcategory names and setting words in the display language of the
host ("Credential Validation" / "Überprüfen der Anmeldeinformationen", "Success and
Failure" / "Erfolg und Fehler").  Matching on them is why English-only tooling fails on a
German or Japanese Windows.  Everything here keys on what does not change with the
language: the subcategory GUID and the numeric setting (0 none, 1 success, 2 failure,
3 both) that ``auditpol /backup`` writes in its ``Setting Value`` column.

This file is the one place in the collection that knows the subcategory GUIDs.
It is pure: no Ansible, no I/O, so the planner is tested on recorded ``auditpol`` output.
"""

from __future__ import annotations

import csv
import difflib
import io
import re
from collections import namedtuple

Subcategory = namedtuple("Subcategory", "guid name category")
"""One audit subcategory: braced upper-case GUID, English name, English category name."""

SettingChange = namedtuple("SettingChange", "guid name before after")
"""A planned change: numeric setting ``before`` (None: not reported by the host) -> ``after``."""

NO_AUDITING = 0
SUCCESS = 1
FAILURE = 2
SUCCESS_AND_FAILURE = 3

_GUID_SUFFIX = "-69AE-11D9-BED3-505054503030}"


def _table(category, rows):
    return [Subcategory("{%s%s" % (prefix, _GUID_SUFFIX), name, category) for prefix, name in rows]


# Names as ``auditpol /list /subcategory:* /v`` prints them on an English Windows; GUIDs
# as [MS-GPAC] and ntsecapi.h define them (identical on every language edition).
SUBCATEGORIES = tuple(
    _table("System", [
        ("0CCE9210", "Security State Change"),
        ("0CCE9211", "Security System Extension"),
        ("0CCE9212", "System Integrity"),
        ("0CCE9213", "IPsec Driver"),
        ("0CCE9214", "Other System Events"),
    ])
    + _table("Logon/Logoff", [
        ("0CCE9215", "Logon"),
        ("0CCE9216", "Logoff"),
        ("0CCE9217", "Account Lockout"),
        ("0CCE9218", "IPsec Main Mode"),
        ("0CCE9219", "IPsec Quick Mode"),
        ("0CCE921A", "IPsec Extended Mode"),
        ("0CCE921B", "Special Logon"),
        ("0CCE921C", "Other Logon/Logoff Events"),
        ("0CCE9243", "Network Policy Server"),
        ("0CCE9247", "User / Device Claims"),
        ("0CCE9249", "Group Membership"),
    ])
    + _table("Object Access", [
        ("0CCE921D", "File System"),
        ("0CCE921E", "Registry"),
        ("0CCE921F", "Kernel Object"),
        ("0CCE9220", "SAM"),
        ("0CCE9221", "Certification Services"),
        ("0CCE9222", "Application Generated"),
        ("0CCE9223", "Handle Manipulation"),
        ("0CCE9224", "File Share"),
        ("0CCE9225", "Filtering Platform Packet Drop"),
        ("0CCE9226", "Filtering Platform Connection"),
        ("0CCE9227", "Other Object Access Events"),
        ("0CCE9244", "Detailed File Share"),
        ("0CCE9245", "Removable Storage"),
        ("0CCE9246", "Central Policy Staging"),
    ])
    + _table("Privilege Use", [
        ("0CCE9228", "Sensitive Privilege Use"),
        ("0CCE9229", "Non Sensitive Privilege Use"),
        ("0CCE922A", "Other Privilege Use Events"),
    ])
    + _table("Detailed Tracking", [
        ("0CCE922B", "Process Creation"),
        ("0CCE922C", "Process Termination"),
        ("0CCE922D", "DPAPI Activity"),
        ("0CCE922E", "RPC Events"),
        ("0CCE9248", "Plug and Play Events"),
        ("0CCE924A", "Token Right Adjusted Events"),
    ])
    + _table("Policy Change", [
        ("0CCE922F", "Audit Policy Change"),
        ("0CCE9230", "Authentication Policy Change"),
        ("0CCE9231", "Authorization Policy Change"),
        ("0CCE9232", "MPSSVC Rule-Level Policy Change"),
        ("0CCE9233", "Filtering Platform Policy Change"),
        ("0CCE9234", "Other Policy Change Events"),
    ])
    + _table("Account Management", [
        ("0CCE9235", "User Account Management"),
        ("0CCE9236", "Computer Account Management"),
        ("0CCE9237", "Security Group Management"),
        ("0CCE9238", "Distribution Group Management"),
        ("0CCE9239", "Application Group Management"),
        ("0CCE923A", "Other Account Management Events"),
    ])
    + _table("DS Access", [
        ("0CCE923B", "Directory Service Access"),
        ("0CCE923C", "Directory Service Changes"),
        ("0CCE923D", "Directory Service Replication"),
        ("0CCE923E", "Detailed Directory Service Replication"),
    ])
    + _table("Account Logon", [
        ("0CCE923F", "Credential Validation"),
        ("0CCE9240", "Kerberos Service Ticket Operations"),
        ("0CCE9241", "Other Account Logon Events"),
        ("0CCE9242", "Kerberos Authentication Service"),
    ])
)

BY_GUID = {sub.guid: sub for sub in SUBCATEGORIES}


def _name_key(name):
    # "Audit Credential Validation" is how Group Policy titles the same setting.
    key = " ".join(name.split()).casefold()
    return key[len("audit "):] if key.startswith("audit ") else key


BY_NAME = {_name_key(sub.name): sub for sub in SUBCATEGORIES}

_GUID_RE = re.compile(
    r"^\{?([0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12})\}?$")


class AuditPolicyError(ValueError):
    """Input or ``auditpol`` output that cannot be used; the message says what and where."""


def normalize_guid(text):
    """Return ``text`` as a braced upper-case GUID, or None when it is not a GUID."""
    match = _GUID_RE.match(text.strip()) if isinstance(text, str) else None
    return "{%s}" % match.group(1).upper() if match else None


def resolve_subcategory(reference):
    """Find a subcategory by GUID (braces optional) or English name (any case).

    Raises :class:`AuditPolicyError` naming the closest known names when nothing matches.
    """
    if not isinstance(reference, str) or not reference.strip():
        raise AuditPolicyError("a subcategory must be named by its English name or GUID, got %r"
                               % (reference,))
    guid = normalize_guid(reference)
    if guid is not None:
        if guid not in BY_GUID:
            raise AuditPolicyError("unknown audit subcategory GUID %s" % guid)
        return BY_GUID[guid]
    found = BY_NAME.get(_name_key(reference))
    if found is None:
        close = difflib.get_close_matches(_name_key(reference), list(BY_NAME), n=3, cutoff=0.6)
        hint = (" (did you mean: %s?)" % ", ".join(BY_NAME[key].name for key in close)) if close else ""
        raise AuditPolicyError("unknown audit subcategory %r%s; give the English name as "
                               "'auditpol /list /subcategory:*' prints it on an English "
                               "Windows, or its GUID" % (reference, hint))
    return found


def setting_value(success, failure):
    """The numeric setting for the two flags."""
    return (SUCCESS if success else 0) | (FAILURE if failure else 0)


def describe_setting(value):
    """``{"success": bool, "failure": bool}`` for a numeric setting."""
    return {"success": bool(value & SUCCESS), "failure": bool(value & FAILURE)}


def decode_auditpol_output(data):
    """Text of a file or stream written by ``auditpol``, whatever its encoding.

    ``auditpol /backup`` writes UTF-16 with a byte-order mark on current Windows, while
    policy files copied from Group Policy are UTF-8.  Only GUIDs and digits are needed,
    which are ASCII in every encoding, so undecodable bytes in localized names are
    replaced rather than fatal.
    """
    if isinstance(data, str):
        return data.lstrip("\ufeff")
    if data.startswith(b"\xff\xfe") or data.startswith(b"\xfe\xff"):
        return data.decode("utf-16", errors="replace").lstrip("\ufeff")
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8", errors="replace")
    if len(data) > 1 and data[1:2] == b"\x00":
        return data.decode("utf-16-le", errors="replace")
    return data.decode("utf-8", errors="replace")


# Only ``auditpol /get /r`` needs these: its report has no numeric column, so its
# setting words are read through this table.  ``/backup`` needs no words at all.
REPORT_SETTING_WORDS = {
    # English
    "no auditing": NO_AUDITING, "success": SUCCESS, "failure": FAILURE,
    "success and failure": SUCCESS_AND_FAILURE,
    # German
    "keine überwachung": NO_AUDITING, "erfolg": SUCCESS, "fehler": FAILURE,
    "erfolg und fehler": SUCCESS_AND_FAILURE,
    # Japanese
    "監査なし": NO_AUDITING, "成功": SUCCESS, "失敗": FAILURE,
    "成功および失敗": SUCCESS_AND_FAILURE,
}

_PER_USER_TARGET = re.compile(r"^S-1-|\\")


def _backup_setting(raw, line_number):
    try:
        number = int(raw.strip())
    except ValueError:
        raise AuditPolicyError("line %d: setting value %r is not a number" % (line_number, raw))
    # [MS-GPAC] 2.2.1.3.1: 0 is "not configured" and 4 "none"; both audit nothing.
    if number in (0, 4):
        return NO_AUDITING
    if number in (SUCCESS, FAILURE, SUCCESS_AND_FAILURE):
        return number
    raise AuditPolicyError("line %d: setting value %d is not a system audit setting" % (line_number, number))


def _report_setting(raw, line_number):
    key = " ".join(raw.split()).casefold()
    if key in REPORT_SETTING_WORDS:
        return REPORT_SETTING_WORDS[key]
    raise AuditPolicyError(
        "line %d: the setting %r of 'auditpol /get /r' is in a language this collection "
        "cannot read; read the policy with 'auditpol /backup', whose numeric Setting Value "
        "column needs no translation" % (line_number, raw))


def parse_auditpol_csv(text):
    """Parse ``auditpol /backup`` CSV or ``auditpol /get /category:* /r`` output.

    Returns ``{guid: {"guid", "name", "english_name", "setting"}}`` for the system policy,
    where ``name`` is what the host printed (possibly localized) and ``setting`` the
    numeric value.  The header line is recognised by position, not by its words, since
    ``/r`` localizes it.  Audit options, global SACL rows and per-user rows are skipped.
    Unknown GUIDs (a newer Windows) are kept with ``english_name`` None.
    """
    policy = {}
    reader = csv.reader(io.StringIO(text))
    for line_number, row in enumerate(reader, start=1):
        if len(row) < 5 or not any(cell.strip() for cell in row):
            continue
        guid = normalize_guid(row[3])
        if guid is None:
            continue  # header, "Option:..." rows, FileGlobalSacl/RegistryGlobalSacl rows
        target = row[1].strip()
        if _PER_USER_TARGET.search(target):
            continue
        if len(row) >= 7 and row[6].strip():
            setting = _backup_setting(row[6], line_number)
        else:
            setting = _report_setting(row[4], line_number)
        known = BY_GUID.get(guid)
        policy[guid] = {
            "guid": guid,
            "name": row[2].strip(),
            "english_name": known.name if known else None,
            "setting": setting,
        }
    if not policy:
        raise AuditPolicyError("the auditpol output holds no subcategory settings")
    return policy


def resolve_desired(entries):
    """Turn ``[{"name": ..., "success": bool, "failure": bool}]`` into ``{guid: setting}``.

    Every entry is checked before anything is returned, so one bad name stops the whole
    run with all problems listed; naming one subcategory twice is refused too.
    """
    desired = {}
    problems = []
    for index, entry in enumerate(entries):
        try:
            sub = resolve_subcategory(entry.get("name"))
        except AuditPolicyError as exc:
            problems.append("subcategories[%d]: %s" % (index, exc))
            continue
        if sub.guid in desired:
            problems.append("subcategories[%d]: %s (%s) is listed more than once"
                            % (index, sub.name, sub.guid))
            continue
        desired[sub.guid] = setting_value(entry.get("success", False), entry.get("failure", False))
    if problems:
        raise AuditPolicyError("; ".join(problems))
    return desired


def plan_changes(current, desired, mode):
    """The changes that bring ``current`` to ``desired``, sorted by GUID.

    ``mode`` ``exact``: each listed subcategory ends with exactly the listed flags (a
    false flag is switched off).  ``include``: flags are only added, never removed, so a
    stricter policy set by someone else survives.  Subcategories not listed are never
    touched in either mode.  A desired subcategory the host does not report is an error:
    setting it would fail or, worse, seem to succeed on a Windows that lacks it.
    """
    if mode not in ("exact", "include"):
        raise AuditPolicyError("mode must be 'exact' or 'include', got %r" % (mode,))
    missing = sorted(guid for guid in desired if guid not in current)
    if missing:
        raise AuditPolicyError("the host does not report the subcategories %s; nothing was set"
                               % ", ".join("%s (%s)" % (BY_GUID[g].name, g) if g in BY_GUID else g
                                           for g in missing))
    changes = []
    for guid in sorted(desired):
        before = current[guid]["setting"]
        after = desired[guid] if mode == "exact" else before | desired[guid]
        if after != before:
            changes.append(SettingChange(guid, BY_GUID[guid].name, before, after))
    return changes


def auditpol_set_commands(changes):
    """``auditpol /set`` argument vectors applying ``changes``, by GUID only.

    Subcategories that end with the same setting share one command, so a plan needs at
    most four commands.
    """
    by_setting = {}
    for change in changes:
        by_setting.setdefault(change.after, []).append(change.guid)
    commands = []
    for value in sorted(by_setting):
        flags = describe_setting(value)
        commands.append([
            "auditpol.exe", "/set", "/subcategory:%s" % ",".join(sorted(by_setting[value])),
            "/success:%s" % ("enable" if flags["success"] else "disable"),
            "/failure:%s" % ("enable" if flags["failure"] else "disable"),
        ])
    return commands


def policy_view(policy, guids):
    """``{guid: {"name", "success", "failure"}}`` for ``guids``, English names, for results."""
    view = {}
    for guid in sorted(guids):
        entry = policy.get(guid)
        if entry is None:
            continue
        item = {"name": BY_GUID[guid].name if guid in BY_GUID else entry["name"],
                "localized_name": entry["name"]}
        item.update(describe_setting(entry["setting"]))
        view[guid] = item
    return view


def policy_text(view):
    """Stable text of a :func:`policy_view`, one line per subcategory, for diff mode."""
    lines = []
    for guid in sorted(view):
        item = view[guid]
        flags = [flag for flag in ("success", "failure") if item[flag]]
        lines.append("%s %s: %s" % (guid, item["name"], " and ".join(flags) or "no auditing"))
    return "\n".join(lines) + ("\n" if lines else "")


def unmet_settings(policy, desired, mode):
    """GUIDs whose setting in ``policy`` does not satisfy ``desired`` (after an apply)."""
    unmet = []
    for guid, wanted in sorted(desired.items()):
        have = policy.get(guid, {}).get("setting")
        ok = have == wanted if mode == "exact" else have is not None and have & wanted == wanted
        if not ok:
            unmet.append(guid)
    return unmet
