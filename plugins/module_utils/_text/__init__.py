# -*- coding: utf-8 -*-
# Copyright: whotouched.server_audit contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to whotouched.server_audit: it may change in any release. Do not import it from
# other collections or from code outside this collection.
"""Text from files and senders: files named in options opened only when they are regular files,
and text made safe to show a person.  Runs on managed hosts (the modules) and on the log server
(the report, the alert processor)."""
