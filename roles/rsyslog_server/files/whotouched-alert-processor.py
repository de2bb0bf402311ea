# -*- coding: utf-8 -*-
# Copyright: whotouched.server_audit contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""rsyslog's omprog runs this: the collection's alert processor, from the tree beside it.

The rsyslog_server role installs this file at the root of a copy of the collection's
module_utils (ROOT/ansible_collections/whotouched/server_audit/plugins/module_utils), so the
processor runs with no Ansible on the log server.
Usage: python3 -s whotouched-alert-processor.py [--user USER] CONFIG.json
"""

import os
import pwd
import sys

sys.path.insert(0, os.path.dirname(os.path.realpath(__file__)))

# pylint: disable=wrong-import-position
from ansible_collections.whotouched.server_audit.plugins.module_utils._processor.processor import (  # noqa: E402
    main,
)


def run_as(user):
    """Become ``user`` (its group and supplementary groups, as rsyslogd's own privilege drop
    does) when started as root.

    rsyslog 8.2001 starts the processor before it drops its own privileges, so as root;
    later rsyslog versions, and every restart, start it as the user rsyslogd runs as.  The
    processor runs as that user either way, and writes its store as that user.
    """
    entry = pwd.getpwnam(user)
    if os.geteuid() == entry.pw_uid:
        return
    if os.geteuid() != 0:
        sys.exit("whotouched-alert-processor: running as uid %d, cannot become %s" % (os.geteuid(), user))
    os.initgroups(user, entry.pw_gid)
    os.setgid(entry.pw_gid)
    os.setuid(entry.pw_uid)


if __name__ == "__main__":
    ARGS = sys.argv[1:]
    if ARGS[:1] == ["--user"] and len(ARGS) > 1:
        run_as(ARGS[1])
        ARGS = ARGS[2:]
    sys.exit(main(ARGS))
