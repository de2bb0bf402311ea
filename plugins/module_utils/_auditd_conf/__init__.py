# -*- coding: utf-8 -*-
# Copyright: whotouched.server_audit contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to whotouched.server_audit: it may change in any release. Do not import it from
# other collections or from code outside this collection.
"""auditd's ``key = value`` files (``auditd.conf``, audit 2.x's ``audispd.conf``, a plugin's
file in ``plugins.d``): the keys and values auditd accepts, and a merge by key that keeps every
other line.  Runs on managed Linux hosts (the ``auditd_conf`` module) and on the controller
(the ``auditd_conf_problems`` filter, which checks a role's settings before anything changes).
"""
