# -*- coding: utf-8 -*-
# Copyright: whotouched.server_audit contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""rsyslog's omprog runs this: the collection's alert processor, from the tree beside it.

The rsyslog_server role installs this file at the root of a copy of the collection's
module_utils (ROOT/ansible_collections/whotouched/server_audit/plugins/module_utils), so the
processor runs with no Ansible on the log server.
Usage: python3 -s whotouched-alert-processor.py CONFIG.json
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.realpath(__file__)))

# pylint: disable=wrong-import-position
from ansible_collections.whotouched.server_audit.plugins.module_utils.alert_processor import (  # noqa: E402
    main,
)

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
