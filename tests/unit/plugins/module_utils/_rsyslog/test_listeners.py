"""The ports a configuration's inputs listen on, as the log server's role reads them."""

from __future__ import annotations

import pytest

from ansible_collections.whotouched.server_audit.plugins.filter.rsyslog_listeners import (
    rsyslog_listeners,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._rsyslog.listeners import (
    listeners,
    numbered_texts,
)
from tests.support.corpus import corpus_file


def addresses(text):
    return [(each["line"], each["module"], "%s/%s" % (each["protocol"], each["port"]))
            for each in listeners(text)]


@pytest.mark.parametrize("text, expected", [
    ('input(type="imudp" port="514")\n', [(1, "imudp", "udp/514")]),
    ('input(type="imudp")\n', [(1, "imudp", "udp/514")]),  # imudp's default port
    ('input(type="imudp" port=["514", "10514"])\n',
     [(1, "imudp", "udp/514"), (1, "imudp", "udp/10514")]),
    ('Input ( Type="IMPTCP"  # plain tcp\n   port="601" ruleset="r")\n', [(1, "imptcp", "tcp/601")]),
    ('input(type="imtcp" port="6514")\ninput(type="imrelp" port="2514" tls="on")\n',
     [(1, "imtcp", "tcp/6514"), (2, "imrelp", "tcp/2514")]),
    ('input(type="imptcp" path="/run/app.sock")\n', []),  # a socket, no port
    ('input(type="imfile" file="/var/log/app.log" tag="app")\n', []),
    ('$ModLoad imudp\n$UDPServerRun 514\n$InputTCPServerRun 10514\n', [
        (2, "imudp", "udp/514"), (3, "imtcp", "tcp/10514")]),
    ('$InputPTCPServerRun 601 # plain\n$InputRELPServerRun 2514\n$UDPServerRun\n', [
        (1, "imptcp", "tcp/601"), (2, "imrelp", "tcp/2514"), (3, "imudp", "udp/514")]),
    # no statement in comments and strings
    ('#input(type="imudp" port="514")\n/* input(type="imtcp" port="1") */\n'
     'template(name="t" type="string" string="input(type=\\"imudp\\" port=\\"9\\")")\n', []),
    # broken statements are rsyslogd's to refuse: passed over, the others still read
    ('input(type="imudp" port=514)\ninput(type="imudp" port="515")\n', [(2, "imudp", "udp/515")]),
    ('input(type="imudp" port="516"\n', []),
])
def test_the_ports_inputs_listen_on(text, expected):
    assert addresses(text) == expected


@pytest.mark.parametrize("name", ["debian12-rsyslog.conf", "rhel-rsyslog.conf"])
def test_the_distributions_configurations_listen_once_their_examples_are_enabled(name):
    """Debian and RHEL ship their network inputs commented out."""
    text = corpus_file(name).read_text(encoding="utf-8")
    assert listeners(text) == []
    enabled = text.replace('#module(load="im', 'module(load="im').replace(
        '#input(type="im', 'input(type="im')
    assert [address for _line, _module, address in addresses(enabled)] == ["udp/514", "tcp/514"]


def test_files_are_read_from_grep_output_with_their_line_numbers():
    lines = ["/etc/rsyslog.conf:2:module(load=\"imudp\")", "ii rsyslog 8.2302",
             "/etc/rsyslog.conf:4:input(type=\"imudp\"", "/etc/rsyslog.conf:6:  port=\"10514\")",
             "/etc/rsyslog.d/a:b.conf:1:$UDPServerRun 7", "Binary file /x matches",
             "/etc/rsyslog.d/far.conf:99999999:$UDPServerRun 8"]
    assert numbered_texts(lines)["/etc/rsyslog.conf"] == (
        '\nmodule(load="imudp")\n\ninput(type="imudp"\n\n  port="10514")\n')
    found = rsyslog_listeners(lines)
    assert [(each["where"], each["address"]) for each in found] == [
        ("/etc/rsyslog.conf:4", "udp/10514"), ("/etc/rsyslog.d/a:b.conf:1", "udp/7")]
