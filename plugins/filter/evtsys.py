# -*- coding: utf-8 -*-
# Copyright: whotouched.server_audit contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Jinja filters through which the windows_evtsys_policy role renders evtsys settings.

Thin wrappers: the logic and its tests live in ``module_utils/_windows/evtsys_config.py``.
"""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.whotouched.server_audit.plugins.module_utils._windows.evtsys_config import (
    EvtsysConfigError,
    evtsys_registry_values,
    render_evtsys_cfg,
)


def evtsys_cfg(subcategories, extra_event_ids=None, extra_queries=None):
    """Text of evtsys.cfg forwarding the Security events of ``subcategories``."""
    if isinstance(subcategories, str):
        raise AnsibleFilterError("evtsys_cfg takes a list of audit subcategories, not the "
                                 "string %r (write [%r])" % (subcategories, subcategories))
    try:
        return render_evtsys_cfg(list(subcategories), list(extra_event_ids or ()),
                                 list(extra_queries or ()))
    except EvtsysConfigError as exc:
        raise AnsibleFilterError("evtsys_cfg: %s" % exc)


def evtsys_registry(log_hosts, port=514, facility="daemon", tag="", log_level=0,
                    status_interval=0, tcp=False):
    """The EvtSys registry values as a list of win_regedit items."""
    try:
        return evtsys_registry_values(log_hosts, port=port, facility=facility, tag=tag,
                                      log_level=log_level, status_interval=status_interval,
                                      tcp=tcp)
    except EvtsysConfigError as exc:
        raise AnsibleFilterError("evtsys_registry: %s" % exc)


class FilterModule:
    """evtsys configuration filters."""

    def filters(self):
        return {"evtsys_cfg": evtsys_cfg, "evtsys_registry": evtsys_registry}
