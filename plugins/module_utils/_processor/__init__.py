# -*- coding: utf-8 -*-
# Copyright: whotouched.server_audit contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to whotouched.server_audit: it may change in any release. Do not import it from
# other collections or from code outside this collection.
"""The log server's alert processor, the program rsyslog's ``omprog`` feeds with every stored
event: its settings, the alert policy and sinks, and the wall screen with its page (``wall/``).
No module uses it: the rsyslog_server role copies it, with ``_events`` and ``_store``, to the
log server.
"""
