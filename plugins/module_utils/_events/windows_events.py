# -*- coding: utf-8 -*-
# Copyright: whotouched.server_audit contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to whotouched.server_audit: it may change in any release. Do not import it from
# other collections or from code outside this collection.
"""Windows Security event messages as evtsys sends them, read in the host's display language.

evtsys sends each event's message as Windows renders it, in the host's display language,
with its white space collapsed into single blanks (``support.c`` CollapseExpandMessageW): one
line of ``Label: value`` pairs whose labels are German on a German server, French on a French
one.  Here every label is read into its English name through ``LABELS``, per-language tables
taken from real localized messages (the test data's README cites each); a French ``Label :``
and the typographic apostrophe are read too.  A field's meaning then comes from its English
name and its section, as on an English server.  Where a language's name of the section is not
known, the position in Microsoft's message template decides: in the events of
``SUBJECT_THEN_TARGET`` the account acting comes first and the account acted on in the next
``Security ID`` block, an order the translations keep.

evtsys cuts a message at its buffer (1023 UTF-16 units in the standard build, 4095 in the "LP"
build, ``syslog.c`` SyslogSendW), and on a non-English host its UTF-8 conversion into a buffer
of the same size in bytes can fail.  ``evtsys_cut`` recognises both from the stored line; such
an event is marked truncated and its last field, which the cut may have shortened, is dropped.

Pure functions, standard library only: this runs on the log server inside audit_report and the
alert processor.  A sender is a client and its text hostile: nothing here trusts its length.
"""

from __future__ import annotations

import re

# The English names, as Windows writes them on an English host.  The sections are the labels
# that stand before a group of fields.
SECTIONS = (
    "Subject", "New Logon", "Account For Which Logon Failed", "New Account", "Target Account",
    "Member", "Account Information", "Group", "Network Information", "Service Information",
    "Logon Information", "Additional Information", "Process Information",
    "Detailed Authentication Information", "Attributes", "Account Whose Credentials Were Used",
    "Target Server", "Failure Information", "Creator Subject", "Target Subject",
    "Changed Attributes", "Target Account Information",
)
FIELDS = (
    "Security ID", "Account Name", "Account Domain", "Logon ID", "Logon Type",
    "Source Network Address", "Source Port", "Client Address", "Client Port",
    "Workstation Name", "Source Workstation", "Logon Account", "Service Name", "Service ID",
    "Group Name", "Group Domain", "Ticket Encryption Type", "Ticket Options", "Failure Code",
    "Result Code", "Status", "Sub Status", "Failure Reason", "Process Name",
    "New Process Name", "Process Command Line", "Authentication Package", "Error Code",
    "Supplied Realm Name", "User ID", "Pre-Authentication Type", "Old Account Name",
    "New Account Name", "Caller Computer Name", "Domain Name",
    # only as the end of the field before them
    "Caller Process ID", "Caller Process Name", "Process ID", "New Process ID", "Logon GUID",
    "Logon Process", "Transited Services", "Package Name (NTLM only)", "Key Length",
    "Impersonation Level", "Token Elevation Type", "Mandatory Label", "Creator Process ID",
    "Creator Process Name", "SAM Account Name", "Privileges",
)

# Localized labels by language, each read as its English name.  Every entry comes from a real
# message or message template of that language, named in the README of the unit tests'
# fixtures/windows_events/, and a unit test holds the tables to them.  Apostrophes are written
# ', which also stands for the typographic one Windows uses.
LABELS = {
    "de": {
        "Antragsteller": "Subject",
        "Zielantragsteller": "Target Subject",
        "Konto, für das die Anmeldung fehlgeschlagen ist": "Account For Which Logon Failed",
        "Fehlerinformationen": "Failure Information",
        "Prozessinformationen": "Process Information",
        "Netzwerkinformationen": "Network Information",
        "Detaillierte Authentifizierungsinformationen": "Detailed Authentication Information",
        "Sicherheits-ID": "Security ID",
        "Kontoname": "Account Name",
        "Kontodomäne": "Account Domain",
        "Anmelde-ID": "Logon ID",
        "Anmeldetyp": "Logon Type",
        "Fehlerursache": "Failure Reason",
        "Status": "Status",
        "Unterstatus:": "Sub Status",  # written so, with its own colon, on German hosts
        "Aufrufprozess-ID": "Caller Process ID",
        "Aufrufprozessname": "Caller Process Name",
        "Arbeitsstationsname": "Workstation Name",
        "Quellnetzwerkadresse": "Source Network Address",
        "Quellport": "Source Port",
        "Anmeldeprozess": "Logon Process",
        "Authentifizierungspaket": "Authentication Package",
        "Übertragene Dienste": "Transited Services",
        "Paketname (nur NTLM)": "Package Name (NTLM only)",
        "Schlüssellänge": "Key Length",
        "ID des neuen Prozesses": "New Process ID",
        "Neuer Prozessname": "New Process Name",
        "Tokenerhöhungstyp": "Token Elevation Type",
        "Verbindliche Beschriftung": "Mandatory Label",
        "Erstellerprozess-ID": "Creator Process ID",
        "Erstellerprozessname": "Creator Process Name",
        "Prozessbefehlszeile": "Process Command Line",
    },
    "fr": {
        "Sujet": "Subject",
        "Compte pour lequel l'ouverture de session a échoué": "Account For Which Logon Failed",
        "Nouvelle ouverture de session": "New Logon",
        "Compte cible": "Target Account",
        "Attributs modifiés": "Changed Attributes",
        "Informations supplémentaires": "Additional Information",
        "Informations sur l'échec": "Failure Information",
        "Informations sur le processus": "Process Information",
        "Informations sur le réseau": "Network Information",
        "Informations détaillées sur l'authentification": "Detailed Authentication Information",
        "ID de sécurité": "Security ID",
        "Nom du compte": "Account Name",
        "Domaine du compte": "Account Domain",
        "ID d'ouverture de session": "Logon ID",
        "Type d'ouverture de session": "Logon Type",
        "GUID d'ouverture de session": "Logon GUID",
        "Raison de l'échec": "Failure Reason",
        "État": "Status",
        "Sous-état": "Sub Status",
        "ID du processus de l'appelant": "Caller Process ID",
        "Nom du processus de l'appelant": "Caller Process Name",
        "ID du processus": "Process ID",
        "Nom du processus": "Process Name",
        "Nom de la station de travail": "Workstation Name",
        "Adresse du réseau source": "Source Network Address",
        "Port source": "Source Port",
        "Processus d'ouverture de session": "Logon Process",
        "Package d'authentification": "Authentication Package",
        "Services en transit": "Transited Services",
        "Nom du package (NTLM uniquement)": "Package Name (NTLM only)",
        "Longueur de clé": "Key Length",
        "Longueur de la clé": "Key Length",
        "Nom du compte SAM": "SAM Account Name",
        "Privilèges": "Privileges",
    },
    "es": {
        "Sujeto": "Subject",
        "Firmante": "Subject",
        "Nuevo inicio de sesión": "New Logon",
        "Información de proceso": "Process Information",
        "Información de red": "Network Information",
        "Información de autenticación detallada": "Detailed Authentication Information",
        "Id. de seguridad": "Security ID",
        "Nombre de cuenta": "Account Name",
        "Dominio de cuenta": "Account Domain",
        "Id. de inicio de sesión": "Logon ID",
        "Tipo de inicio de sesión": "Logon Type",
        "Nivel de suplantación": "Impersonation Level",
        "GUID de inicio de sesión": "Logon GUID",
        "Id. de proceso": "Process ID",
        "Nombre de proceso": "Process Name",
        "Nombre de estación de trabajo": "Workstation Name",
        "Dirección de red de origen": "Source Network Address",
        "Puerto de origen": "Source Port",
        "Proceso de inicio de sesión": "Logon Process",
        "Paquete de autenticación": "Authentication Package",
        "Servicios transitados": "Transited Services",
        "Nombre de paquete (solo NTLM)": "Package Name (NTLM only)",
        "Longitud de clave": "Key Length",
    },
    "ja": {
        "サブジェクト": "Subject",
        "ログオンを失敗したアカウント": "Account For Which Logon Failed",
        "新しいログオン": "New Logon",
        "エラー情報": "Failure Information",
        "プロセス情報": "Process Information",
        "ネットワーク情報": "Network Information",
        "詳細な認証情報": "Detailed Authentication Information",
        "セキュリティ ID": "Security ID",
        "アカウント名": "Account Name",
        "アカウント ドメイン": "Account Domain",
        "ログオン ID": "Logon ID",
        "ログオン タイプ": "Logon Type",
        "ログオンの種類": "Logon Type",
        "ログオン GUID": "Logon GUID",
        "失敗の原因": "Failure Reason",
        "状態": "Status",
        "サブ ステータス": "Sub Status",
        "呼び出し側プロセス ID": "Caller Process ID",
        "呼び出し側プロセス名": "Caller Process Name",
        "プロセス ID": "Process ID",
        "プロセス名": "Process Name",
        "ワークステーション名": "Workstation Name",
        "ソース ネットワーク アドレス": "Source Network Address",
        "ソース ポート": "Source Port",
        "ログオン プロセス": "Logon Process",
        "認証パッケージ": "Authentication Package",
        "移行されたサービス": "Transited Services",
        "パッケージ名 (NTLM のみ)": "Package Name (NTLM only)",
        "キーの長さ": "Key Length",
    },
}

# Events whose message template names the account acting first (Subject) and the account acted
# on in the next Security ID block (Microsoft's templates of these event IDs).
SUBJECT_THEN_TARGET = frozenset((
    4624, 4625, 4720, 4722, 4723, 4724, 4725, 4726, 4728, 4729, 4732, 4733, 4738, 4740, 4741,
    4742, 4743, 4756, 4757, 4767, 4781))

_TARGET_SECTIONS = frozenset((
    "New Logon", "Account For Which Logon Failed", "New Account", "Target Account", "Member",
    "Account Whose Credentials Were Used", "Target Subject", "Target Account Information"))
_SECTION_SET = frozenset(SECTIONS)
_MEANINGLESS = ("-", "NULL SID", "N/A")

# Same-length replacements, so that positions in the normalized text are positions in the text:
# the typographic apostrophe of French hosts, no-break spaces, the full-width colon.
_SAME_LENGTH = (("\u2019", "'"), ("\u00a0", " "), ("\u202f", " "), ("\uff1a", ":"))


def normalized(text):
    """``text`` with the apostrophe, blanks and colon the labels are written with."""
    for variant, plain in _SAME_LENGTH:
        if variant in text:
            text = text.replace(variant, plain)
    return text


def _names():
    names = {name: name for name in SECTIONS + FIELDS}
    for table in LABELS.values():
        for label, name in table.items():
            names[normalized(label)] = name
    return names


_NAMES = _names()
# A colon followed by a blank or the end; French puts a blank before it.
_LABEL_END = re.compile(r" ?:(?= |$)")
_LABEL_WORDS_MAX = max(len(label.split(" ")) for label in _NAMES)

MESSAGE_CHARS_READ = 16384
"""Labels are looked for in this much of a message: evtsys sends at most 4095 characters."""

BUFFER_SIZES = (1024, 4096)
"""SYSLOG_DEF_SZ of evtsys's standard and "LP" builds (syslog.h)."""
COMPUTER_NAME_MAX = 15
"""The NetBIOS computer name evtsys writes before the source (UseIPAddress 0): 1 to 15 characters."""

FACILITY_NAMES = ("kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp",
                  "cron", "authpriv", "ftp", "ntp", "audit", "alert", "clock", "local0", "local1",
                  "local2", "local3", "local4", "local5", "local6", "local7")
SEVERITY_NAMES = ("emerg", "alert", "crit", "err", "warning", "notice", "info", "debug")
"""How rsyslog's ``%pri-text%`` names facilities and severities, by number."""


def _label_before(text, floor, end):
    """``(start, English name)`` of the longest known label ending at ``end`` and starting
    after ``floor`` at the start of a word, or None."""
    found = None
    start = end
    for _word in range(_LABEL_WORDS_MAX):
        space = text.rfind(" ", floor, start)
        start = space + 1 if space >= 0 else floor
        name = _NAMES.get(text[start:end])
        if name is not None:
            found = start, name
        if space < 0:
            break
        start = space
    return found


def read_fields(text):
    """``(section, label, value)`` of a collapsed message, labels and sections in English.

    A label is a known label (of any language in LABELS) followed by ``:`` (or `` :``) and a
    blank or the end; its value runs to the next label.  A section is a label with no value.
    """
    plain = normalized(text[:MESSAGE_CHARS_READ])
    tokens = []
    floor = 0
    for match in _LABEL_END.finditer(plain):
        colon = match.end() - 1
        end = match.start() if match.start() >= floor else colon
        found = _label_before(plain, floor, end)
        if found is not None:
            tokens.append((found[0], colon + 1, found[1]))
            floor = colon + 1
    triples = []
    section = None
    for index, (_start, end, name) in enumerate(tokens):
        value_end = tokens[index + 1][0] if index + 1 < len(tokens) else len(text)
        value = text[end:value_end].strip()
        if name in _SECTION_SET and (not value or name == "Group"):
            section = name
        else:
            triples.append((section, name, value))
    return triples


# Fields whose values never end in ":" (Windows refuses the colon in account and group
# names): one that does ran into the label of a section this reader does not know.
_NAMES_WITHOUT_COLON = frozenset(("Account Name", "New Account Name", "Logon Account", "Group Name"))


def _meaningful(value, name=None):
    if not value or value in _MEANINGLESS or (name in _NAMES_WITHOUT_COLON and value.endswith(":")):
        return None
    return value


def _first(fields, names, sections=None):
    for section, name, value in fields:
        if name in names and (sections is None or section in sections):
            found = _meaningful(value, name)
            if found:
                return found
    return None


def _name_by_position(fields, block):
    """The account name in the ``block``-th Security ID block (0: the subject), as the
    templates of SUBJECT_THEN_TARGET order them."""
    blocks = -1
    for _section, name, value in fields:
        if name == "Security ID":
            blocks += 1
        elif blocks == block and name in ("Account Name", "New Account Name"):
            found = _meaningful(value, name)
            if found:
                return found
    return None


def security_event_fields(event_id, fields):
    """Who and what a Security event names, from its ``read_fields`` triples.

    Returns ``{"account", "target_account", "group", "source_address", "workstation", "exe",
    "command", "ticket_encryption"}``, None where the message does not say.
    """
    by_position = event_id in SUBJECT_THEN_TARGET and any(
        name == "Security ID" for _section, name, _value in fields)
    if by_position:
        account = _name_by_position(fields, 0)
    else:
        account = _first(fields, ("Account Name",), ("Subject", "Creator Subject", None)) or _first(
            fields, ("Logon Account",)) or _first(fields, ("Account Name",), ("Account Information",))
    target = _first(fields, ("Account Name", "New Account Name"), _TARGET_SECTIONS)
    if target is None and by_position:
        target = _name_by_position(fields, 1)
    elif target is None and _first(fields, ("Account Name",), ("Subject",)):
        target = _first(fields, ("Account Name",), ("Account Information",))
    source = _first(fields, ("Source Network Address", "Client Address"))
    if source and source.startswith("::ffff:"):
        source = source[7:]
    return {
        "account": account,
        "target_account": target,
        "group": _first(fields, ("Group Name",)),
        "source_address": _meaningful(source),
        "workstation": _first(fields, ("Workstation Name", "Source Workstation")),
        "exe": _first(fields, ("New Process Name", "Process Name")),
        "command": _first(fields, ("Process Command Line",)),
        "ticket_encryption": _first(fields, ("Ticket Encryption Type",)),
    }


def _pri_lengths(pri_text):
    """The lengths ``<PRI>`` can have had for a stored ``%pri-text%`` (daemon.notice<29>)."""
    if pri_text.endswith(">") and "<" in pri_text:
        return (len(pri_text) - pri_text.index("<"),)
    facility, _dot, severity = pri_text.partition(".")
    if facility in FACILITY_NAMES and severity in SEVERITY_NAMES:
        return (len("<%d>" % (FACILITY_NAMES.index(facility) * 8 + SEVERITY_NAMES.index(severity))),)
    return (3, 4, 5)


def evtsys_cut(pri_text, body):
    """Whether evtsys may have cut the message whose stored text after the host is ``body``.

    evtsys sends ``<PRI>Mmm dd hh:mm:ss COMPUTER body``; the computer name is not stored (the log
    server keeps the name of the sender's address), so its 1 to 15 characters are allowed for.
    A message is taken as cut when its length reaches a build's buffer in UTF-16 units (the cut
    of ``_snwprintf_s``/``wcsncat_s``) or in UTF-8 bytes (a conversion that filled the buffer),
    or when it holds U+FFFD (a character cut in two, or what a failed conversion left).
    """
    if "\ufffd" in body:
        return True
    units = len(body.encode("utf-16-le")) // 2
    octets = len(body.encode("utf-8", "surrogatepass"))
    for pri in _pri_lengths(pri_text):
        fixed = pri + len("Mmm dd hh:mm:ss ") + len(" ")
        for size in BUFFER_SIZES:
            if 1 <= size - 1 - (fixed + units) <= COMPUTER_NAME_MAX:
                return True
            # A UTF-8 character of up to 3 bytes may not fit at the end of a full buffer.
            if 1 <= size - (fixed + octets) <= COMPUTER_NAME_MAX + 3:
                return True
    return False


def read_security_event(event_id, pri_text, body, text):
    """Fields of one evtsys Security message (``text``, after its AUDIT_ prefix) and whether it
    was cut; ``body`` is the stored line after the host (see evtsys_cut).

    Returns the dict of security_event_fields plus ``"truncated"``; the last field of a cut
    message is not read, as the cut may have shortened it.
    """
    truncated = evtsys_cut(pri_text, body)
    fields = read_fields(text)
    if truncated:
        fields = fields[:-1]
    result = security_event_fields(event_id, fields)
    result["truncated"] = truncated
    return result
