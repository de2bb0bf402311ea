# -*- coding: utf-8 -*-
# Copyright: whotouched.server_audit contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to whotouched.server_audit: it may change in any release. Do not import it from
# other collections or from code outside this collection.
"""Windows advanced audit policy (the subcategory table, ``auditpol`` output, the change planner),
the evtsys configuration and which evtsys.exe a file is.  Runs on the controller (the
``win_audit_policy`` action, the evtsys filters and the ``evtsys_binary`` lookup).
"""
