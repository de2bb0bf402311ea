# -*- coding: utf-8 -*-
# Copyright: whotouched.server_audit contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to whotouched.server_audit: it may change in any release. Do not import it from
# other collections or from code outside this collection.
"""rsyslog filters and forwarding actions (parsed, merged by meaning, written), the senders a log
server allows, validation by the real ``rsyslogd`` and the seed's noise filters.  Runs on managed
hosts (the ``rsyslog_filter`` module) and on the controller (the rsyslog roles' filters).
"""
