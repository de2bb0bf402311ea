# -*- coding: utf-8 -*-
# Copyright: whotouched.server_audit contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to whotouched.server_audit: it may change in any release. Do not import it from
# other collections or from code outside this collection.
"""Audit records and evtsys lines turned into events, the event schema, the risk rules and the
report.  Runs on the log server, in the ``audit_report`` module and in the alert processor.
"""
