"""The rsyslog_client role's end state, judged by meaning and by what rsyslogd really does."""

import uuid

import pytest
from verify_support import listening_ports, wait_for_line

from ansible_collections.whotouched.server_audit.plugins.filter.rsyslog_audit import (
    rsyslog_audit_selector,
    rsyslog_scoped_filters,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._rsyslog.model import (
    ExpressionFilter,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._rsyslog.parser import (
    parse_config,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._rsyslog.requested import (
    filter_rule_from_spec,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._rsyslog.seed_filters import (
    compact_noise_filters,
)

FILTER_FILE = "/etc/rsyslog.d/10-whotouched-audit-filter.conf"
FORWARD_FILE = "/etc/rsyslog.d/20-whotouched-audit-forward.conf"
SPOOL = "/var/spool/rsyslog"
AUDIT_SELECTOR = rsyslog_audit_selector(["audisp-syslog", "audispd"], "LOG_LOCAL6")


def _rules(text):
    chunks = parse_config(text)
    assert not [chunk.error for chunk in chunks if chunk.error]
    return [chunk.rule for chunk in chunks if chunk.rule is not None]


def _forward(host):
    """The forwarding rule of the forward drop-in and its action's parameters.

    The parser models omfwd (kind ``forward``, normalized parameters); an omrelp action is
    kept as written (kind ``other``), so its parameters are read as displayed.
    """
    rules = _rules(host.file(FORWARD_FILE).content_string)
    assert len(rules) == 1
    (rule,) = rules
    assert len(rule.actions) == 1
    (action,) = rule.actions
    if action.kind == "forward":
        return rule, dict(action.params, type="omfwd")
    assert action.kind == "other"
    return rule, {name.lower(): value for name, value in action.display}


def _marker():
    return "whotouched-" + uuid.uuid4().hex[:12]


def _audit(host, message):
    host.run_expect([0], "logger -t audisp-syslog -p local6.info %s", message)


def test_noise_filters_are_the_compact_seed_list_scoped_to_audit_events(host):
    expected = [filter_rule_from_spec(spec) for spec in
                rsyslog_scoped_filters(compact_noise_filters(keep=("cat",)), AUDIT_SELECTOR)]
    assert _rules(host.file(FILTER_FILE).content_string) == expected


def test_forwarding_selects_audit_events_through_a_reliable_queue(host):
    rule, params = _forward(host)
    assert rule.filter == filter_rule_from_spec("if %s then stop" % AUDIT_SELECTOR).filter
    assert isinstance(rule.filter, ExpressionFilter)
    assert params["queue.type"].lower() == "linkedlist"
    assert params["queue.saveonshutdown"] == "on"
    assert params["action.resumeretrycount"] == "-1"
    assert params["queue.maxdiskspace"] == "1g"
    assert params["queue.filename"] == "whotouched_audit_fwd"
    assert params["queue.spooldirectory"] == SPOOL


def test_the_running_rsyslogd_owns_the_spool_directory(host):
    # Ubuntu's rsyslogd drops its privileges: the queue must be writable by that user.
    users = set(host.run_expect([0], "ps -o user= -C rsyslogd").stdout.split())
    assert len(users) == 1, users
    assert host.file(SPOOL).user == users.pop()


def test_transport_and_tls_settings(host):
    _rule, params = _forward(host)
    if params["type"] == "omfwd":
        assert (params["target"], params["port"], params["protocol"]) == ("127.0.0.1", "10514", "tcp")
        assert "streamdriver" not in params
    else:
        assert params["type"] == "omrelp"
        assert (params["target"], params["port"]) == ("server.example.test", "2514")
        assert params["tls"] == "on"
        assert params["tls.authmode"] == "name"
        assert params["tls.permittedpeer"].replace(" ", "") == '["server.example.test"]'
        assert params["tls.cacert"] == "/etc/rsyslog-tls/ca.pem"
        assert 'module(load="omrelp" tls.tlslib="openssl")' in host.file(FORWARD_FILE).content_string


def test_complete_configuration_validates_and_rsyslog_runs(host):
    result = host.run("rsyslogd -N1")
    assert result.rc == 0, result.stderr
    assert host.service("rsyslog").is_running
    assert host.service("rsyslog").is_enabled


def test_a_client_listens_on_no_network_port(host):
    ss = host.run_expect([0], "ss -tulnpH")
    assert listening_ports(ss.stdout, "rsyslogd") == set()


def test_noise_is_dropped_and_the_rest_is_kept(host):
    noise = _marker()
    kept = _marker()
    other = _marker()
    _audit(host, 'type=SYSCALL syscall=59 comm="ls" exe="/usr/bin/ls" key="exec" %s' % noise)
    _audit(host, 'type=PATH item=0 name="/etc/shadow" %s' % noise)
    # quotes a noisy program name, but is not an audit event: the filters leave it alone
    host.run_expect([0], "logger -t cron -p cron.info %s", 'CMD ("sh" -c backup) %s' % other)
    _audit(host, 'type=SYSCALL syscall=59 comm="nc" exe="/usr/bin/nc.openbsd" key="exec" %s' % kept)
    wait_for_line(host, "/var/log/syslog", kept)
    wait_for_line(host, "/var/log/syslog", other)
    assert host.run("grep -F -- %s /var/log/syslog", noise).rc != 0


def _queue_event_across_a_restart(host):
    """Send an audit event while the server is away, stop rsyslog, and find it in the queue's file."""
    marker = _marker()
    _audit(host, 'type=EXECVE argc=2 a0="id" a1="%s"' % marker)
    host.run_expect([0], "systemctl stop rsyslog")
    saved = host.run("grep -lF -- %s %s/whotouched_audit_fwd.*", marker, SPOOL)
    host.run_expect([0], "systemctl start rsyslog")
    assert saved.rc == 0, "the queued event was not saved to the queue's file on shutdown"
    return marker


def test_events_wait_on_disk_while_the_server_is_away(host):
    # both platforms: nothing answers at 127.0.0.1:10514, and server.example.test does not resolve
    _queue_event_across_a_restart(host)


def test_queued_events_arrive_when_the_server_comes_back(host):
    _rule, params = _forward(host)
    if params["type"] != "omfwd":
        pytest.skip("delivery is checked on the platform forwarding over plain tcp (TLS delivery: pipeline scenario)")
    marker = _queue_event_across_a_restart(host)
    # now a server appears on the forwarding port and receives the event
    listener = ("import socket; s=socket.socket(); "
                "s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); "
                "s.bind(('127.0.0.1', 10514)); s.listen(1); c, _ = s.accept(); c.settimeout(30); "
                "data = b''\n"
                "while b'%s' not in data:\n"
                "    chunk = c.recv(65536)\n"
                "    if not chunk: break\n"
                "    data += chunk\n"
                "open('/tmp/received', 'wb').write(data)" % marker)
    host.run_expect([0], "rm -f /tmp/received; (timeout 60 python3 -c %s >/dev/null 2>&1 &); sleep 1",
                    listener)
    line = wait_for_line(host, "/tmp/received", marker, timeout=45)
    assert "audisp-syslog" in line
