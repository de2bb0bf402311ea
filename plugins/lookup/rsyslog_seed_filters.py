# -*- coding: utf-8 -*-
# Copyright: whotouched.server_audit contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
name: rsyslog_seed_filters
version_added: 0.1.0
short_description: The project's audit-noise filters, as rsyslog_filter takes them
description:
  - Returns the seed's list of rsyslog drop rules for routine read-only programs (C(ping), C(top),
    C(ls), C(grep), C(sleep), C(date) and others) and for audit PATH records, repaired from the
    article the project grew from, as mappings for M(whotouched.server_audit.rsyslog_filter).
  - The list is kept in one place, the collection's C(rsyslog_seed_filters) module utility; roles
    and playbooks take it from here rather than copying it.
author:
  - whotouched.server_audit contributors (@whotouched)
options:
  compact:
    description:
      - Return the same drops as two rules (PATH records first, then one regex for both families)
        instead of the seed's thirteen, so rsyslog tests two rules per message.
    type: bool
    default: false
  keep:
    description:
      - With O(compact), programs of the seed's list not to drop (for example C(cat), so that
        C(cat /etc/shadow) reaches the log server).
    type: list
    elements: str
    default: []
"""

EXAMPLES = r"""
- name: Drop the seed's audit noise
  whotouched.server_audit.rsyslog_filter:
    path: /etc/rsyslog.d/10-audit-filter.conf
    filters: "{{ query('whotouched.server_audit.rsyslog_seed_filters') }}"

- name: The same drops, in two rules
  whotouched.server_audit.rsyslog_filter:
    path: /etc/rsyslog.d/10-audit-filter.conf
    filters: "{{ query('whotouched.server_audit.rsyslog_seed_filters', compact=true) }}"
"""

RETURN = r"""
_raw:
  description: The drop rules, in order, each a mapping with C(property), C(operator), C(value) and C(action).
  type: list
  elements: dict
"""

from ansible.plugins.lookup import LookupBase

from ansible_collections.whotouched.server_audit.plugins.module_utils._rsyslog.seed_filters import (
    compact_noise_filters,
    seed_noise_filters,
)


class LookupModule(LookupBase):
    """The seed noise filters (terms are not used)."""

    def run(self, terms, variables=None, **kwargs):
        self.set_options(var_options=variables, direct=kwargs)
        if self.get_option("compact"):
            return compact_noise_filters(keep=self.get_option("keep"))
        return seed_noise_filters()
