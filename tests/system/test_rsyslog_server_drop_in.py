"""The rsyslog_server role's drop-in beside a configuration that loads a module the drop-in
needs, or listens where the drop-in would: the role's look (its grep, run for real) finds the
load or the input, the drop-in then leaves the module to that file or the role stops, and the
real rsyslogd takes the configuration, and stores every sender's events, exactly when the
role goes on.

Each test works in a temporary directory with a private main configuration; the host's
/etc/rsyslog.conf is never read or written.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

from tests.support.collection_path import ROOT
from tests.support.ports import free_port
from tests.support.role_look import configuration_lines
from tests.support.role_vars import rendered
from tests.system import test_rsyslog_filter
from tests.system.private_rsyslogd import private_rsyslogd
from tests.system.test_audit_events_kernel import wait_for

RSYSLOGD = test_rsyslog_filter.RSYSLOGD
pytestmark = test_rsyslog_filter.pytestmark  # root and rsyslogd, as there

TASKS = ROOT / "roles" / "rsyslog_server" / "tasks" / "main.yml"
# what the role's distribution variables set, for a private rsyslogd run as root
DISTRIBUTION = {"rsyslog_server_log_group": "root", "rsyslog_server_rsyslog_user": "root",
                "rsyslog_server_file_owner": "root"}
ADMIN_UDP = 'module(load="imudp")\ninput(type="imudp" port="10514")\n'


def look(work: Path):
    """The lines of the role's look that show the configuration in ``work``."""
    return configuration_lines("rsyslog_server", work / "rsyslog.conf")


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
    for conflicts in ("rsyslog_server_module_conflicts", "rsyslog_server_port_conflicts"):
        stop = text.index("when: %s | length > 0" % conflicts)
        assert stop < text.index("- name: Write the server drop-in and validate the whole configuration")
        assert stop < text.index("- name: Create the directory of the per-sender logs")


def _send(port, protocol, count, tag):
    for number in range(count):
        subprocess.run(["logger", "--%s" % protocol, "-n", "127.0.0.1", "-P", str(port),
                        "-t", "audisp-syslog", "-p", "local6.info",
                        "type=EXECVE msg=audit(1764928000.%03d:%d): argc=1 a0=\"%s-%d\""
                        % (number, number, tag, number)],
                       check=True, timeout=30)


def _stored(work: Path, tag):
    return sum(path.read_text(errors="replace").count(tag + "-")
               for path in (work / "remote").rglob("*") if path.is_file())


@pytest.mark.parametrize("same_port", [True, False])
def test_another_files_input_on_the_drop_ins_port_stops_the_role_where_events_would_go_astray(
        tmp_path, same_port):
    """An input of the admin's on one of the drop-in's ports takes the senders' events: the
    role finds it and stops.  On another port, every event reaches the role's store."""
    port = free_port()
    admin_port = port if same_port else free_port()
    configuration(tmp_path, 'module(load="imudp")\nmodule(load="imptcp")\n', {
        "30-listen.conf": 'input(type="imudp" port="%d")\ninput(type="imptcp"  # plain tcp\n'
                          '      port="%d")\n*.* action(type="omfile" file="%s")\n'
                          % (admin_port, admin_port, tmp_path / "admin.log")})
    settings = {"rsyslog_server_udp_port": port, "rsyslog_server_tcp_port": port,
                "rsyslog_server_processor": False}
    conflicts = role(tmp_path, "rsyslog_server_port_conflicts", **settings)
    listen = tmp_path / "rsyslog.d" / "30-listen.conf"
    assert [(each["where"], each["address"]) for each in conflicts] == (
        [("%s:1" % listen, "udp/%d" % port), ("%s:2" % listen, "tcp/%d" % port)]
        if same_port else [])
    config_file(tmp_path).write_text(role(tmp_path, "rsyslog_server_config_content", **settings),
                                     encoding="utf-8")
    main = (tmp_path / "rsyslog.conf").read_text(encoding="utf-8")
    count = 20
    with private_rsyslogd(tmp_path, main, port):
        _send(port, "udp", count, "udp")
        _send(port, "tcp", count, "tcp")
        if same_port:
            # what the admin's input took never reaches the role's store
            wait_for(lambda: (tmp_path / "admin.log").exists() and "tcp-%d" % (count - 1) in
                     (tmp_path / "admin.log").read_text(errors="replace"), 30,
                     "the events in the admin's file")
            time.sleep(1)
        else:
            wait_for(lambda: _stored(tmp_path, "udp") + _stored(tmp_path, "tcp") == 2 * count, 30,
                     "every event in the role's store")
    stored = (_stored(tmp_path, "udp"), _stored(tmp_path, "tcp"))
    print("events in the role's store, admin's input on %s port: udp %d, tcp %d of %d each"
          % ("the same" if same_port else "another", stored[0], stored[1], count))
    assert (stored != (count, count)) is same_port


def test_the_look_reads_every_file_and_never_waits_on_a_fifo(tmp_path):
    """rsyslogd reads regular files alone: a FIFO named like a drop-in would have held the
    look forever.  A name with a space is read whole, and an input after the main file's
    include line (whose "/*" opens no comment) is found."""
    port = free_port()
    configuration(tmp_path, "", {"50 admin.conf": 'input(type="imudp" port="%d")\n' % port})
    main = tmp_path / "rsyslog.conf"
    main.write_text(main.read_text(encoding="utf-8")
                    + 'module(load="imptcp")\ninput(type="imptcp" port="%d")\n' % port,
                    encoding="utf-8")
    os.mkfifo(tmp_path / "rsyslog.d" / "60-fifo.conf")
    (tmp_path / "rsyslog.d" / "70-dir.conf").mkdir()
    conflicts = role(tmp_path, "rsyslog_server_port_conflicts", rsyslog_server_udp_port=port,
                     rsyslog_server_tcp_port=port)
    assert sorted((each["where"], each["address"]) for each in conflicts) == [
        ("%s:4" % main, "tcp/%d" % port),
        ("%s:1" % (tmp_path / "rsyslog.d" / "50 admin.conf"), "udp/%d" % port)]
    assert role(tmp_path, "rsyslog_server_loaded_elsewhere", rsyslog_server_udp_port=port,
                rsyslog_server_tcp_port=port) == ["imptcp"]
