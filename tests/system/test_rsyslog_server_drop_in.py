"""The rsyslog_server role's drop-in beside a configuration that loads a module the drop-in
needs: the role's look (its grep, run for real) finds the load, the drop-in then leaves the
module to that file or the role stops, and the real rsyslogd takes the configuration exactly
when the role goes on.

Each test works in a temporary directory with a private main configuration; the host's
/etc/rsyslog.conf is never read or written.
"""

from __future__ import annotations

import re
import shlex
import subprocess
from pathlib import Path

import pytest

from tests.support.collection_path import ROOT
from tests.support.role_vars import rendered
from tests.system import test_rsyslog_filter

RSYSLOGD = test_rsyslog_filter.RSYSLOGD
pytestmark = test_rsyslog_filter.pytestmark  # root and rsyslogd, as there

TASKS = ROOT / "roles" / "rsyslog_server" / "tasks" / "main.yml"
# what the role's distribution variables set, for a private rsyslogd run as root
DISTRIBUTION = {"rsyslog_server_log_group": "root", "rsyslog_server_rsyslog_user": "root",
                "rsyslog_server_file_owner": "root"}
ADMIN_UDP = 'module(load="imudp")\ninput(type="imudp" port="10514")\n'


def look(work: Path):
    """The lines of the role's look that name other files' loads, the look's own commands run
    on the configuration in ``work``."""
    found = re.search(r"\n\s*(for module in .*?\n\s*done\n\s*done)\n",
                      TASKS.read_text(encoding="utf-8"), re.S)
    assert found, "the look no longer greps for the modules other files load"
    command = found.group(1)
    for expression, value in (("rsyslog_server_main_config | dirname", work),
                              ("rsyslog_server_main_config", work / "rsyslog.conf"),
                              ("rsyslog_server_config_file", config_file(work))):
        command = command.replace("{{ %s | quote }}" % expression, shlex.quote(str(value)))
    assert "{{" not in command, command
    return subprocess.run(["sh", "-c", command], capture_output=True, text=True, check=True,
                          timeout=60).stdout.splitlines()


def config_file(work: Path):
    return work / "rsyslog.d" / "10-whotouched-server.conf"


def role(work: Path, name: str, **settings):
    """The role's variable ``name`` for the configuration in ``work``, after its look."""
    return rendered("rsyslog_server", name, rsyslog_server_main_config=str(work / "rsyslog.conf"),
                    rsyslog_server_config_file=str(config_file(work)),
                    rsyslog_server_log_dir=str(work / "remote"),
                    rsyslog_server_host={"stdout_lines": look(work)},
                    **dict(DISTRIBUTION, **settings))


def configuration(work: Path, main: str, drop_ins: dict):
    (work / "spool").mkdir(exist_ok=True)
    (work / "rsyslog.d").mkdir(exist_ok=True)
    (work / "rsyslog.conf").write_text(
        'global(workDirectory="%s")\n%s$IncludeConfig %s/rsyslog.d/*.conf\n'
        % (work / "spool", main, work), encoding="utf-8")
    for name, text in drop_ins.items():
        (work / "rsyslog.d" / name).write_text(text, encoding="utf-8")


def rsyslogd_check(work: Path, drop_in: str):
    config_file(work).write_text(drop_in, encoding="utf-8")
    return subprocess.run([RSYSLOGD, "-N1", "-f", str(work / "rsyslog.conf")],
                          capture_output=True, text=True, timeout=60, check=False)


@pytest.mark.parametrize("main, drop_ins", [
    (ADMIN_UDP, {}),
    ('$ModLoad imudp\n$UDPServerRun 10514\nmodule(load="imptcp")\n', {}),
    ("", {"05-udp.conf": ADMIN_UDP}),
])
def test_a_module_another_file_loads_first_is_left_to_it(tmp_path, main, drop_ins):
    configuration(tmp_path, main, drop_ins)
    assert role(tmp_path, "rsyslog_server_module_conflicts") == []
    text = role(tmp_path, "rsyslog_server_config_content")
    assert 'module(load="imudp")' not in text and 'input(type="imudp"' in text
    assert ('module(load="imptcp")' in text) is ("imptcp" not in main)
    checked = rsyslogd_check(tmp_path, text)
    assert checked.returncode == 0, checked.stderr
    # what the drop-in was before: a second load, refused
    again = rsyslogd_check(tmp_path, text.replace('input(type="imudp"',
                                                  'module(load="imudp")\ninput(type="imudp"'))
    assert "module 'imudp' already in this config" in again.stderr and again.returncode != 0


@pytest.mark.parametrize("main, drop_ins, settings, conflict", [
    ("", {"30-udp.conf": ADMIN_UDP}, {}, "rsyslog.d/30-udp.conf loads imudp"),
    ('module(load="imtcp")\n', {}, {"rsyslog_server_tls": True}, "rsyslog.conf loads imtcp"),
])
def test_a_load_the_drop_in_cannot_leave_to_another_file_stops_the_role(
        tmp_path, main, drop_ins, settings, conflict):
    configuration(tmp_path, main, drop_ins)
    settings.update({"rsyslog_server_tls_ca_file": "/ca.pem", "rsyslog_server_tls_cert_file":
                     "/cert.pem", "rsyslog_server_tls_key_file": "/key.pem"})
    assert role(tmp_path, "rsyslog_server_module_conflicts", **settings) == [
        "%s/%s" % (tmp_path, conflict)]
    if not settings.get("rsyslog_server_tls"):
        # left to the later file, rsyslogd would not know the module at the drop-in's input
        checked = rsyslogd_check(tmp_path, role(tmp_path, "rsyslog_server_config_content"))
        assert "input module name 'imudp' is unknown" in checked.stderr, checked.stderr


def test_the_role_stops_on_a_conflict_before_it_writes_anything():
    text = TASKS.read_text(encoding="utf-8")
    stop = text.index("rsyslog_server_module_conflicts | length > 0")
    assert stop < text.index("- name: Write the server drop-in and validate the whole configuration")
    assert stop < text.index("- name: Create the directory of the per-sender logs")
