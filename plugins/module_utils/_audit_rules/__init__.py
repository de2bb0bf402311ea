# -*- coding: utf-8 -*-
# Copyright: whotouched.server_audit contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to whotouched.server_audit: it may change in any release. Do not import it from
# other collections or from code outside this collection.
"""Linux audit rules in ``auditctl``'s grammar: parsed, checked, merged by meaning into a rules
file and loaded into the kernel.  Runs on managed Linux hosts (the ``audit_rules`` module) and
on the controller (the ``audit_rule_directory`` filter).
"""
