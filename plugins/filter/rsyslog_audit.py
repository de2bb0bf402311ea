# -*- coding: utf-8 -*-
# Copyright: whotouched.server_audit contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Jinja filters through which the rsyslog roles select audit events and scope filters.

Thin wrappers: the rule grammar and its tests live in ``module_utils/_rsyslog/parser.py``.
"""

from __future__ import annotations

import re
from typing import List, Sequence, Union

from ansible.errors import AnsibleFilterError

from ansible_collections.whotouched.server_audit.plugins.module_utils._rsyslog.model import (
    FilterSyntaxError,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._rsyslog.rainerscript import (
    scoped_filter_rule,
    script_string,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._rsyslog.requested import (
    checked_filter_rules,
    filter_rule_from_spec,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._rsyslog.serializer import (
    serialize_filter_rule,
)

AUDIT_MATCHES = ("program", "facility", "both", "either")
_FACILITIES = ("kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp",
               "cron", "authpriv", "ftp") + tuple("local%d" % n for n in range(8))


def facility_name(facility: str) -> str:
    """rsyslog's name of a syslog facility given as auditd writes it (``LOG_LOCAL6``) or not."""
    name = re.sub(r"^log_", "", str(facility).strip().lower())
    if name not in _FACILITIES:
        raise AnsibleFilterError("%r is not a syslog facility (one of %s)"
                                 % (facility, ", ".join(_FACILITIES)))
    return name


def rsyslog_audit_selector(programs: Sequence[str], facility: str = "local6",
                           match: str = "both") -> str:
    """The RainerScript condition that selects the audit syslog plugin's messages.

    ``match``: ``program`` (program name only), ``facility`` (facility only), ``both``
    (program name and facility) or ``either`` (program name or facility).
    """
    if match not in AUDIT_MATCHES:
        raise AnsibleFilterError("match %r is not one of %s" % (match, ", ".join(AUDIT_MATCHES)))
    if isinstance(programs, str):
        raise AnsibleFilterError("rsyslog_audit_selector takes a list of program names, not the "
                                 "string %r (write [%r])" % (programs, programs))
    programs = [str(name) for name in programs or ()]
    by_program = " or ".join("$programname == %s" % script_string(name) for name in programs)
    by_facility = "$syslogfacility-text == %s" % script_string(facility_name(facility))
    if match == "facility":
        return by_facility
    if not programs:
        raise AnsibleFilterError("selecting audit events by program needs at least one program name")
    if match == "program":
        return by_program
    return "(%s) %s %s" % (by_program, "and" if match == "both" else "or", by_facility)


def rsyslog_scoped_filters(filters: Sequence[Union[str, dict]], scope: str) -> List[Union[str, dict]]:
    """Each mapping filter restricted to the messages matching ``scope``, as a rule string.

    Strings are the user's own rsyslog text and pass unchanged; an empty ``scope`` leaves
    every filter as it is.
    """
    if not scope:
        return list(filters)
    scoped: List[Union[str, dict]] = []
    for number, spec in enumerate(filters, start=1):
        if not isinstance(spec, dict):
            scoped.append(spec)
            continue
        try:
            rule = scoped_filter_rule(filter_rule_from_spec(dict(spec)), scope)
            scoped.append(serialize_filter_rule(rule).rstrip("\n"))
        except FilterSyntaxError as exc:
            raise AnsibleFilterError("rsyslog_scoped_filters: filter %d: %s" % (number, exc))
    return scoped


def rsyslog_filter_problems(filters: Sequence[Union[str, dict]], drop_only: bool = False
                            ) -> List[str]:
    """What the rsyslog_filter module would refuse in ``filters``, one message per filter;
    with ``drop_only``, also each filter that does anything but drop."""
    if isinstance(filters, (str, dict)) or not isinstance(filters, (list, tuple)):
        raise AnsibleFilterError("rsyslog_filter_problems: expects a list of filters, got %s"
                                 % type(filters).__name__)
    return checked_filter_rules(filters, drop_only=bool(drop_only))[1]


class FilterModule:
    """rsyslog audit selection filters."""

    def filters(self):
        return {"rsyslog_audit_selector": rsyslog_audit_selector,
                "rsyslog_facility": facility_name,
                "rsyslog_filter_problems": rsyslog_filter_problems,
                "rsyslog_scoped_filters": rsyslog_scoped_filters}
