"""The rsyslog_client role's look at the host: which files of the configuration load imfile
already (the role then does not load it a second time, which rsyslogd refuses).  The grep the
role runs is taken from its tasks and run on files written here."""

from __future__ import annotations

import re
import subprocess

import pytest

from tests.support.collection_path import ROOT

TASKS = ROOT / "roles" / "rsyslog_client" / "tasks" / "main.yml"


def loaders(tmp_path, text):
    grep = re.search(r"for loader in \$\((grep [^\n]*?) \\\n", TASKS.read_text(encoding="utf-8"))
    assert grep, "the look no longer greps for imfile's loaders"
    config = tmp_path / "rsyslog.conf"
    config.write_text(text, encoding="utf-8")
    found = subprocess.run("%s %s" % (grep.group(1), config), shell=True, capture_output=True,
                           text=True, check=False)
    return found.stdout.split()


@pytest.mark.parametrize("text, loads", [
    ('module(load="imfile")\n', True),
    ('module(Load="imfile" mode="polling")\n', True),
    ('MODULE(LOAD = "imfile")\n', True),
    ("$ModLoad imfile\n", True),
    ("$modload imfile\n", True),
    ('# module(load="imfile")\n', False),
    ('module(load="imuxsock")\n$ModLoad imklog\n', False),
])
def test_a_load_of_imfile_is_found_however_it_is_written(tmp_path, text, loads):
    assert (loaders(tmp_path, text) == [str(tmp_path / "rsyslog.conf")]) is loads
