"""What rsyslog's configuration files load and where their inputs listen, as the rsyslog
roles read them (each case checked against rsyslogd 8.2302)."""

from __future__ import annotations

import pytest

from ansible_collections.whotouched.server_audit.plugins.filter.rsyslog_config import (
    rsyslog_listeners,
    rsyslog_module_loads,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._rsyslog.statements import (
    listeners,
    module_loads,
    numbered_files,
)
from tests.support.corpus import corpus_file


def addresses(text):
    return [(each["line"], each["module"], "%s/%s" % (each["protocol"], each["port"]))
            for each in listeners(text)]


@pytest.mark.parametrize("text, expected", [
    ('input(type="imudp" port="514")\n', [(1, "imudp", "udp/514")]),
    ('input(type="imudp" port=["514", "10514"])\n',
     [(1, "imudp", "udp/514"), (1, "imudp", "udp/10514")]),
    ('input(type="imudp" port="")\n', [(1, "imudp", "udp/514")]),  # empty: syslog's port
    ('input(type="imudp")\n', []),  # rsyslogd refuses it: imudp's port is required
    ('input(type="imudp" port="syslog")\n', []),  # imudp binds numbers only
    ('input(type="imudp" port="514" config.enabled="off")\n', []),
    ('Input ( Type="IMPTCP"  # plain tcp\n   port="601" ruleset="r")\n', [(1, "imptcp", "tcp/601")]),
    ('input(type="imtcp" port="6514")\ninput(type="imrelp" port="2514" tls="on")\n',
     [(1, "imtcp", "tcp/6514"), (2, "imrelp", "tcp/2514")]),
    ('input(type="imudp" address="127.0.0.1" port="514")\n', [(1, "imudp", "udp/514")]),
    ('input(type="imptcp" path="/run/app.sock")\n', []),  # a socket, no port
    ('input(type="imfile" file="/var/log/app.log" tag="app")\n', []),
    ('$ModLoad imudp\n$UDPServerRun 514\n$InputTCPServerRun 10514\n', [
        (2, "imudp", "udp/514"), (3, "imtcp", "tcp/10514")]),
    ('$InputPTCPServerRun 601 # plain\n$InputRELPServerRun 2514\n$UDPServerRun\n'
     '$InputGSSServerRun 1514\n', [(1, "imptcp", "tcp/601"), (2, "imrelp", "tcp/2514"),
                                   (3, "imudp", "udp/514"), (4, "imgssapi", "tcp/1514")]),
    # no statement in comments and strings
    ('#input(type="imudp" port="514")\n/* input(type="imtcp" port="1") */\n'
     'template(name="t" type="string" string="input(type=\\"imudp\\" port=\\"9\\")")\n', []),
    # rsyslog reads legacy and selector lines whole: "/*" and "'" there open nothing
    ('$IncludeConfig /etc/rsyslog.d/*.conf\n*.* /var/log/o\'brien.log\n$InputFileName /var/log/*.log\n'
     'input(type="imtcp" port="514")\n', [(4, "imtcp", "tcp/514")]),
    # broken statements are rsyslogd's to refuse: passed over, the others still read
    ('input(type="imudp" port=514)\ninput(type="imudp" port="515")\n', [(2, "imudp", "udp/515")]),
    ('input(type="imudp" port="516"\n', []),
])
def test_the_ports_inputs_listen_on(text, expected):
    assert addresses(text) == expected


@pytest.mark.parametrize("text, expected", [
    ('module(load="imudp")\nmodule(load="imtcp" StreamDriver.Name="gtls")\n',
     [(1, "imudp"), (2, "imtcp")]),
    ('$ModLoad imuxsock # local messages\n$ModLoad /usr/lib/x86_64-linux-gnu/rsyslog/imfile.so\n',
     [(1, "imuxsock"), (2, "imfile")]),
    ('MODULE ( LOAD="ImFile"\n  mode="inotify")\n', [(1, "imfile")]),
    ('#module(load="imudp")\nmodule(load="imudp" config.enabled="off")\n'
     'template(name="t" type="string" string="module(load=\\"imfile\\")")\n', []),
    ('$IncludeConfig /etc/rsyslog.d/*.conf\nmodule(load="omprog")\n', [(2, "omprog")]),
])
def test_the_modules_loaded(text, expected):
    assert [(each["line"], each["module"]) for each in module_loads(text)] == expected


@pytest.mark.parametrize("name, loads", [
    ("debian12-rsyslog.conf", ["imuxsock", "imklog"]), ("rhel-rsyslog.conf", ["imuxsock", "imklog"])])
def test_the_distributions_configurations_listen_once_their_examples_are_enabled(name, loads):
    """Debian and RHEL ship their network inputs commented out."""
    text = corpus_file(name).read_text(encoding="utf-8")
    assert listeners(text) == []
    assert [each["module"] for each in module_loads(text)] == loads
    enabled = text.replace('#module(load="im', 'module(load="im').replace(
        '#input(type="im', 'input(type="im')
    assert [address for _line, _module, address in addresses(enabled)] == ["udp/514", "tcp/514"]


def test_files_are_read_from_grep_output_with_their_line_numbers():
    lines = ["/etc/rsyslog.conf:2:module(load=\"imudp\")", "ii rsyslog 8.2302",
             "/etc/rsyslog.conf:4:input(type=\"imudp\"", "/etc/rsyslog.conf:6:  port=\"10514\")",
             "/etc/rsyslog.d/a:b.conf:1:$UDPServerRun 7", "Binary file /x matches",
             "/etc/rsyslog.d/far.conf:99999999:$UDPServerRun 8"]
    assert numbered_files(lines)[0] == (
        "/etc/rsyslog.conf", 'module(load="imudp")\ninput(type="imudp"\n  port="10514")\n', [2, 4, 6])
    assert [(each["where"], each["address"]) for each in rsyslog_listeners(lines)] == [
        ("/etc/rsyslog.conf:4", "udp/10514"), ("/etc/rsyslog.d/a:b.conf:1", "udp/7"),
        ("/etc/rsyslog.d/far.conf:99999999", "udp/8")]
    assert [(each["where"], each["module"]) for each in rsyslog_module_loads(lines)] == [
        ("/etc/rsyslog.conf:2", "imudp")]
