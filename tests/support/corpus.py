"""Where the project's real-world test data lives, and a clear skip when it is absent.

The rule sets and rsyslog configurations are public third-party files kept beside the
checkout (``../shared/corpus``), not copied into the collection.  ``WHOTOUCHED_CORPUS``
names another place.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# Lines of the corpus that auditctl itself refuses (checked against the real auditctl in
# tests/system/test_audit_rules_kernel.py), with the reason this parser gives.
CORPUS_LINES_AUDITCTL_REFUSES = {
    "-a always,exit -F path=/usr/bin/setfiles -F perm=x -F auid>=500 -F auid!=4294967295 "
    "-k -F T1078_Valid_Accounts": "parameter passed without an option given",
    "-a always,exit -F path=/usr/sbin/setfiles -F perm=x -F auid>=500 -F auid!=4294967295 "
    "-k -F T1078_Valid_Accounts": "parameter passed without an option given",
    "-a always,exit -F arch=b32 -S connect -F dir=+ -F obj=/opt/CrowdStrike/falcon-sensor "
    "-F key=crowdstrike_network": "dir must be an absolute path",
    "-a always,exit -F arch=b64 -S connect -F dir=+ -F obj=/opt/CrowdStrike/falcon-sensor "
    "-F key=crowdstrike_network": "dir must be an absolute path",
}


def corpus_dir() -> Path:
    return Path(os.environ.get("WHOTOUCHED_CORPUS", ROOT.parent / "shared" / "corpus"))


def corpus_file(name: str) -> Path:
    """Path of a corpus file; skips the test, naming what is missing, when it is absent."""
    path = corpus_dir() / name
    if not path.is_file():
        pytest.skip(f"real-world corpus file {name} not found in {corpus_dir()} "
                    "(set WHOTOUCHED_CORPUS to the folder holding it)")
    return path


def corpus_audit_logs():
    """``(folder, paths)``: every log file of the corpus's audit-logs folder (the test data of
    audit-userspace's auparse, go-libaudit and laurel; not its READMEs), or a skip."""
    folder = corpus_dir() / "audit-logs"
    if not folder.is_dir():
        pytest.skip("the real-world corpus folder %s is not there (set WHOTOUCHED_CORPUS to the "
                    "folder holding audit-logs/)" % folder)
    return folder, sorted(path for path in folder.rglob("*")
                          if path.is_file() and not path.name.startswith("README"))


# RHEL 8-10's rsyslog.conf reads local messages from the journal (imjournal, with its rate
# limit) and keeps imuxsock only for its API socket; rsyslog's sample for Red Hat systems in
# the corpus predates that.  These lines take the place of its input modules.
RHEL_INPUTS = ('global(workDirectory="/var/lib/rsyslog")\n'
               'module(load="imuxsock" SysSock.Use="off")\n'
               'module(load="imjournal" StateFile="imjournal.state" UsePid="system")\n')


def rhel_shaped_rsyslog_conf() -> str:
    """The corpus's rsyslog.conf for Red Hat systems with the inputs RHEL 8-10 ship."""
    text = corpus_file("rhel-rsyslog.conf").read_text(encoding="utf-8")
    text = re.sub(r'(?m)^module\(load="imuxsock"\)[^\n]*\n', RHEL_INPUTS, text)
    return re.sub(r'(?m)^module\(load="imklog"\)[^\n]*\n', "", text)
