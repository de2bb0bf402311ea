"""The rsyslog_client role's look at the host: which files of the configuration load imfile
already (the role then does not load it a second time, which rsyslogd refuses).  The grep the
role runs is taken from its tasks and run on files written here; the role's variables read
its output."""

from __future__ import annotations

import pytest

from tests.support.role_look import configuration_lines
from tests.support.role_vars import rendered


def loaders(tmp_path, text):
    config = tmp_path / "rsyslog.conf"
    config.write_text(text, encoding="utf-8")
    return rendered("rsyslog_client", "rsyslog_client_imfile_loaders",
                    rsyslog_client_main_config=str(config),
                    rsyslog_client_host={"stdout_lines": configuration_lines("rsyslog_client", config)})


@pytest.mark.parametrize("text, loads", [
    ('module(load="imfile")\n', True),
    ('module(Load="imfile" mode="polling")\n', True),
    ('MODULE(LOAD = "imfile")\n', True),
    ("$ModLoad imfile\n", True),
    ("$modload imfile\n", True),
    ("$ModLoad imfile.so\n", True),
    ('module(\n  load="imfile"\n  mode="inotify")\n', True),
    ('# module(load="imfile")\n', False),
    ('module(load="imfile" config.enabled="off")\n', False),
    ('template(name="t" type="string" string="module(load=\\"imfile\\")")\n', False),
    ('module(load="imuxsock")\n$ModLoad imklog\n', False),
])
def test_a_load_of_imfile_is_found_however_it_is_written(tmp_path, text, loads):
    assert (loaders(tmp_path, text) == [str(tmp_path / "rsyslog.conf")]) is loads
