"""Which files rsyslog reads after a drop-in: the test the roles find late module loads with."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.whotouched.server_audit.plugins.test import rsyslog as rsyslog_tests
from ansible_collections.whotouched.server_audit.plugins.test.rsyslog import rsyslog_reads_after

DROP_IN = "/etc/rsyslog.d/60-whotouched.conf"


@pytest.mark.parametrize("path, after", [
    ("/etc/rsyslog.d/90-local.conf", True),
    ("/etc/rsyslog.d/10-early.conf", False),
    # glob's order is the names' bytes: "9" after "6", capitals before small letters
    ("/etc/rsyslog.d/9-x.conf", True),
    ("/etc/rsyslog.d/600.conf", True),
    ("/etc/rsyslog.d/60-Whotouched.conf", False),
    ("/etc/rsyslog.d/60-whotouched.conf", False),
    # another directory is another include, read wherever it stands in the main file
    ("/etc/rsyslog.d/sub/90-local.conf", False),
    ("/etc/rsyslog.conf", False),
    ("/etc/rsyslog.dx/90.conf", False),
])
def test_files_of_the_drop_ins_directory_sorting_after_it(path, after):
    assert rsyslog_reads_after(path, DROP_IN) is after


@pytest.mark.parametrize("path, drop_in", [
    ("rsyslog.d/90.conf", DROP_IN), ("/etc/rsyslog.d/90.conf", "60.conf"), (None, DROP_IN)])
def test_paths_that_are_not_absolute_are_named(path, drop_in):
    with pytest.raises(AnsibleFilterError, match="expects two absolute paths"):
        rsyslog_reads_after(path, drop_in)


def test_the_plugin_offers_the_test():
    assert rsyslog_tests.TestModule().tests()["rsyslog_reads_after"] is rsyslog_reads_after
