# -*- coding: utf-8 -*-
# Copyright: whotouched.server_audit contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to whotouched.server_audit: it may change in any release. Do not import it from
# other collections or from code outside this collection.
"""The alert processor's settings: each with its default, read from the JSON configuration
the rsyslog_server role writes and checked before the processor starts.

:data:`DEFAULTS` (and the defaults of each webhook, ``smtp`` and ``sms``) is the one place a
default is written; :func:`read_config` fills in what a configuration leaves out and names
the first setting it cannot use.

Standard library only: this runs on the log server.
"""

from __future__ import annotations

import json
import os
import re
import stat
import urllib.parse

from ansible_collections.whotouched.server_audit.plugins.module_utils._processor.alert_policy import (
    AlertConfigError,
    check_level,
    check_placeholders,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._text.regular_file import (
    FileTooLarge,
    NotARegularFile,
    read_regular,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._store.backends import (
    BACKENDS,
)

# More than a configuration holds (its rules included): a larger file is refused.
MAX_CONFIG_BYTES = 16 << 20
_TOKEN = re.compile(r"[\x21-\x7e]+\Z")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


# Every setting and its default: the one place they are written.  The rsyslog_server role's
# defaults and argument specs say the same (a unit test compares them); what the role's
# configuration leaves out, the processor takes from here.
DEFAULTS = {
    # max_age_days: SQLite and ClickHouse (0: none; ClickHouse drops whole days); max_bytes:
    # the whole store (0: none; SQLite and the JSON lines); keep and fsync_seconds: the JSON
    # lines only; url to writer: ClickHouse only (credentials_file: the user on its first
    # line, the password on its second, '' for the default user; cluster: the cluster of the
    # replicated form, '' for one server; writer: this log server's name, '' for its host
    # name).
    "store": {"backend": BACKENDS[0], "path": "/var/lib/whotouched/events.db",
              "max_age_days": 90, "max_bytes": 10 << 30, "keep": 5, "fsync_seconds": 1.0,
              "url": "", "database": "whotouched", "cluster": "", "credentials_file": "",
              "ca_file": None, "timeout": 10.0, "writer": ""},
    # The processor's input journal: every line, written before it is confirmed to rsyslog.
    "journal": "/var/lib/whotouched/processor.journal",
    # The per-sender files that hold what the processor is fed: what --rebuild reads.
    "rebuild_files": ["audit.log", "windows.log"],
    "rules": [],
    "shipped_rules": True,
    "wait_seconds": 5.0,
    "dedup_window": 300.0,
    "rate_limit": 20,
    "queue_size": 100,
    "retries": 3,
    "retry_delay": 2.0,
    "webhooks": [],
    "smtp": None,
    "sms": None,
    "wall": {"enabled": False, "address": "127.0.0.1", "port": 8088, "token": "",
             "max_events": 500},
}
# Each webhook, and smtp and sms when set; None: required (but ca_file: the system's CAs).
WEBHOOK_DEFAULTS = {"url": None, "min_level": "high", "secret": "", "timeout": 10.0,
                    "ca_file": None}
SMTP_DEFAULTS = {"host": None, "port": 25, "starttls": True, "username": "", "password": "",
                 "from": None, "to": None, "min_level": "high", "timeout": 30.0, "ca_file": None}
SMS_DEFAULTS = {"min_level": "critical", "gateway_url": "", "gateway_params": {}, "command": [],
                "timeout": 30.0, "max_text": 160, "ca_file": None}

_TOP_SETTINGS = frozenset(DEFAULTS)


class ProcessorConfigError(ValueError):
    """A configuration the processor cannot use; the message names the setting."""


def _section(value, defaults, where):
    if not isinstance(value, dict):
        raise ProcessorConfigError("%s must be a mapping, got %r" % (where, value))
    unknown = sorted(set(value) - set(defaults))
    if unknown:
        raise ProcessorConfigError("%s: unknown setting %s (known: %s)"
                                   % (where, ", ".join(unknown), ", ".join(sorted(defaults))))
    merged = dict(defaults)
    merged.update((name, item) for name, item in value.items() if item is not None)
    for name, item in merged.items():
        if item is None and defaults[name] is None and name != "ca_file":
            raise ProcessorConfigError("%s.%s is required" % (where, name))
    return merged


# a timeout longer than an hour is a mistake (and past about 49 days, one no timer takes)
_LONGEST_WAIT = 3600


def _check_number(value, where, minimum=0.0, whole=False, maximum=None):
    kinds = (int,) if whole else (int, float)
    # NaN and infinity fail the comparison too
    if isinstance(value, bool) or not isinstance(value, kinds) or \
            not minimum <= value < float("inf") or maximum is not None and value > maximum:
        raise ProcessorConfigError("%s must be a %s of at least %s%s, got %r"
                                   % (where, "whole number" if whole else "number", minimum,
                                      "" if maximum is None else " and at most %s" % maximum,
                                      value))
    return value


def _url(value, where):
    if not isinstance(value, str) or not value.startswith(("http://", "https://")):
        raise ProcessorConfigError("%s must be an http:// or https:// URL, got %r"
                                   % (where, value))
    try:
        parts = urllib.parse.urlsplit(value)
        port = parts.port
    except ValueError:
        port = 0
    if port == 0:
        raise ProcessorConfigError("%s must name a port of 1 to 65535 (or none), got %r"
                                   % (where, value))
    if not parts.hostname:
        raise ProcessorConfigError("%s must name a host, got %r" % (where, value))
    if parts.username is not None or parts.password is not None:
        raise ProcessorConfigError("%s must not hold credentials (they would not be sent), "
                                   "got %s" % (where, _without_credentials(parts)))
    return value


def _without_credentials(parts):
    return urllib.parse.urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


def _ca_file(value, where):
    """A CA file must be a regular file (a link to one is fine, as in /etc/ssl/certs): a FIFO
    would hang the sink that reads it at each delivery."""
    if value is None:
        return
    try:
        mode = os.stat(value).st_mode
    except (OSError, TypeError, ValueError) as exc:
        raise ProcessorConfigError("%s %r cannot be read: %s"
                                   % (where, value, getattr(exc, "strerror", None) or exc))
    if not stat.S_ISREG(mode):
        raise ProcessorConfigError("%s %r is not a regular file" % (where, value))


def _level(value, where):
    try:
        return check_level(value, where)
    except AlertConfigError as exc:
        raise ProcessorConfigError(str(exc))


def read_config(mapping):
    """The processor's settings from ``mapping`` (the JSON file), checked, defaults filled.

    Raises :class:`ProcessorConfigError` naming the first setting that cannot be used.
    """
    if not isinstance(mapping, dict):
        raise ProcessorConfigError("the configuration must be a JSON object")
    unknown = sorted(set(mapping) - _TOP_SETTINGS)
    if unknown:
        raise ProcessorConfigError("unknown setting %s (known: %s)"
                                   % (", ".join(unknown), ", ".join(sorted(_TOP_SETTINGS))))
    config = dict(DEFAULTS)
    config.update((name, value) for name, value in mapping.items() if value is not None)
    config["store"] = read_store_settings(config["store"])
    _absolute(config["journal"], "journal")
    if config["journal"] == config["store"]["path"]:
        raise ProcessorConfigError("journal must be another file than store.path")
    if not isinstance(config["rebuild_files"], list) or not all(
            isinstance(name, str) and name and "/" not in name
            for name in config["rebuild_files"]):
        raise ProcessorConfigError("rebuild_files must be a list of file names (no directory)")
    if not isinstance(config["rules"], list):
        raise ProcessorConfigError("rules must be a list of rule mappings")
    if not isinstance(config["shipped_rules"], bool):
        raise ProcessorConfigError("shipped_rules must be true or false")
    _check_number(config["wait_seconds"], "wait_seconds", 0.1)
    _check_number(config["dedup_window"], "dedup_window", 1)
    _check_number(config["rate_limit"], "rate_limit", 1, whole=True)
    _check_number(config["queue_size"], "queue_size", 1, whole=True)
    _check_number(config["retries"], "retries", 0, whole=True)
    _check_number(config["retry_delay"], "retry_delay", 0)
    if not isinstance(config["webhooks"], list):
        raise ProcessorConfigError("webhooks must be a list of mappings")
    hooks = []
    for index, hook in enumerate(config["webhooks"]):
        where = "webhooks[%d]" % index
        hook = _section(hook, WEBHOOK_DEFAULTS, where)
        _url(hook["url"], where + ".url")
        _level(hook["min_level"], where + ".min_level")
        _check_number(hook["timeout"], where + ".timeout", 0.1, maximum=_LONGEST_WAIT)
        _ca_file(hook["ca_file"], where + ".ca_file")
        hooks.append(hook)
    config["webhooks"] = hooks
    if config["smtp"]:
        smtp = config["smtp"] = _section(config["smtp"], SMTP_DEFAULTS, "smtp")
        _check_number(smtp["port"], "smtp.port", 1, whole=True)
        _level(smtp["min_level"], "smtp.min_level")
        _check_number(smtp["timeout"], "smtp.timeout", 0.1, maximum=_LONGEST_WAIT)
        _ca_file(smtp["ca_file"], "smtp.ca_file")
        if not isinstance(smtp["to"], list) or not smtp["to"] or not all(
                isinstance(address, str) and "@" in address for address in smtp["to"]):
            raise ProcessorConfigError("smtp.to must be a non-empty list of mail addresses")
        if not isinstance(smtp["from"], str) or "@" not in smtp["from"]:
            raise ProcessorConfigError("smtp.from must be a mail address, got %r"
                                       % (smtp["from"],))
        if not isinstance(smtp["starttls"], bool):
            raise ProcessorConfigError("smtp.starttls must be true or false")
    else:
        config["smtp"] = None
    if config["sms"]:
        sms = config["sms"] = _section(config["sms"], SMS_DEFAULTS, "sms")
        _level(sms["min_level"], "sms.min_level")
        _check_number(sms["timeout"], "sms.timeout", 0.1, maximum=_LONGEST_WAIT)
        _check_number(sms["max_text"], "sms.max_text", 20, whole=True)
        _ca_file(sms["ca_file"], "sms.ca_file")
        if bool(sms["gateway_url"]) == bool(sms["command"]):
            raise ProcessorConfigError("sms needs exactly one of gateway_url and command")
        if sms["gateway_url"]:
            _url(sms["gateway_url"], "sms.gateway_url")
            if not isinstance(sms["gateway_params"], dict) or not sms["gateway_params"]:
                raise ProcessorConfigError("sms.gateway_params must be a non-empty mapping")
            for name, value in sms["gateway_params"].items():
                _placeholders(str(value), "sms.gateway_params.%s" % name)
        else:
            if not isinstance(sms["command"], list) or not all(
                    isinstance(argument, str) for argument in sms["command"]):
                raise ProcessorConfigError("sms.command must be a list of strings (an "
                                           "argument vector, no shell)")
            if not os.path.isabs(sms["command"][0]):
                raise ProcessorConfigError("sms.command[0] must be an absolute path, got %r"
                                           % (sms["command"][0],))
            for index, argument in enumerate(sms["command"]):
                _placeholders(argument, "sms.command[%d]" % index)
    else:
        config["sms"] = None
    wall = config["wall"] = _section(config["wall"], DEFAULTS["wall"], "wall")
    if not isinstance(wall["enabled"], bool):
        raise ProcessorConfigError("wall.enabled must be true or false")
    _check_number(wall["port"], "wall.port", 1, whole=True)
    _check_number(wall["max_events"], "wall.max_events", 1, whole=True)
    if wall["token"]:
        if not valid_token(wall["token"]):
            raise ProcessorConfigError("wall.token must be printable ASCII characters without "
                                       "blanks")
    return config


def _absolute(path, where):
    if not isinstance(path, str) or not os.path.isabs(path):
        raise ProcessorConfigError("%s must be an absolute path, got %r" % (where, path))


def read_store_settings(mapping):
    """The ``store`` section of a configuration, checked, defaults filled (what
    ``audit_report`` reads of the processor's configuration to find its store)."""
    store = _section(mapping, DEFAULTS["store"], "store")
    if store["backend"] not in BACKENDS:
        raise ProcessorConfigError("store.backend must be one of %s, got %r"
                                   % (", ".join(BACKENDS), store["backend"]))
    _absolute(store["path"], "store.path")
    _check_number(store["max_age_days"], "store.max_age_days")
    _check_number(store["max_bytes"], "store.max_bytes", whole=True)
    if store["backend"] == "jsonl":
        _check_number(store["max_bytes"], "store.max_bytes (jsonl)", 1 << 20, whole=True)
    _check_number(store["keep"], "store.keep", 1, whole=True)
    _check_number(store["fsync_seconds"], "store.fsync_seconds")
    if store["backend"] == "clickhouse":
        _url(store["url"], "store.url")
        for name in ("database", "cluster"):
            if not isinstance(store[name], str) or not _NAME.match(store[name] or "x"):
                raise ProcessorConfigError("store.%s must be a ClickHouse name (letters, digits "
                                           "and _), got %r" % (name, store[name]))
        if store["credentials_file"]:
            _absolute(store["credentials_file"], "store.credentials_file")
        _ca_file(store["ca_file"], "store.ca_file")
        _check_number(store["timeout"], "store.timeout", 0.1, maximum=_LONGEST_WAIT)
        if not isinstance(store["writer"], str) or (store["writer"] and not valid_token(
                store["writer"])):
            raise ProcessorConfigError("store.writer must be printable ASCII characters without "
                                       "blanks, got %r" % (store["writer"],))
    return store


def load_config_file(path):
    """The mapping of the processor's configuration file at ``path``, not yet checked.

    Raises ``FileNotFoundError`` when there is no such file, ``OSError`` when it cannot be
    read, and :class:`ProcessorConfigError` when it is not a regular file (a FIFO would hang
    the reader), is larger than :data:`MAX_CONFIG_BYTES` or is not a JSON object.
    """
    try:
        data = read_regular(path, "a processor configuration file", MAX_CONFIG_BYTES)
    except (NotARegularFile, FileTooLarge) as exc:
        raise ProcessorConfigError(str(exc))
    try:
        mapping = json.loads(data.decode("utf-8"))
    except ValueError as exc:
        raise ProcessorConfigError("%s is not a processor configuration (JSON): %s"
                                   % (path, exc))
    if not isinstance(mapping, dict):
        raise ProcessorConfigError("%s is not a processor configuration (a JSON object)" % path)
    return mapping


def read_store_config(path):
    """The store settings of the processor's configuration file at ``path`` (what
    ``audit_report`` reads to find the store); raises as :func:`load_config_file` does."""
    mapping = load_config_file(path)
    try:
        return read_store_settings(mapping.get("store") or {})
    except ProcessorConfigError as exc:
        raise ProcessorConfigError("%s: %s" % (path, exc))


def _placeholders(template, where):
    try:
        check_placeholders(template, where)
    except AlertConfigError as exc:
        raise ProcessorConfigError(str(exc))


def valid_token(token):
    """Whether ``token`` can guard the wall screen: printable ASCII, no blanks, not empty."""
    return isinstance(token, str) and _TOKEN.match(token) is not None
