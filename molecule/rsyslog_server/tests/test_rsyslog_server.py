"""The rsyslog_server role's end state, judged by what rsyslogd really does."""

import re
import uuid

import pytest
from verify_support import listening_ports, wait_for_line

DROP_IN = "/etc/rsyslog.d/10-whotouched-server.conf"
LOG_DIR = "/var/log/remote"
PIPE = "/var/spool/whotouched/audit.pipe"
# udp and tcp 514, TLS 6514 and RELP 2514, as the scenario configures them
EXPECTED_PORTS = {("udp", 514), ("tcp", 514), ("tcp", 6514), ("tcp", 2514)}
# "Nov 27 09:11:23" or "Nov  7 09:11:23"
TIMESTAMP = r"[A-Z][a-z]{2} [ \d]\d \d{2}:\d{2}:\d{2}"


def _marker():
    return "whotouched-" + uuid.uuid4().hex[:12]


def _send_udp(host, source, message):
    """A syslog datagram from ``source`` (an address of the container's loopback)."""
    script = ("import socket,sys; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); "
              "s.bind((sys.argv[1], 0)); s.sendto(sys.argv[2].encode(), ('127.0.0.1', 514))")
    host.run_expect([0], "python3 -c %s %s %s", script, source, message)


def test_complete_configuration_validates(host):
    result = host.run("rsyslogd -N1")
    assert result.rc == 0, result.stderr


def test_service_runs_and_starts_at_boot(host):
    service = host.service("rsyslog")
    assert service.is_running
    assert service.is_enabled


def test_listens_on_exactly_the_configured_ports(host):
    ss = host.run_expect([0], "ss -tulnpH")
    assert listening_ports(ss.stdout, "rsyslogd") == EXPECTED_PORTS


def test_every_input_is_bound_to_a_ruleset_of_its_own(host):
    text = host.file(DROP_IN).content_string
    inputs = re.findall(r'input\(type="(\w+)"[^)]*?ruleset="([^"]+)"', text, re.S)
    assert len(inputs) == 4
    rulesets = [ruleset for _type, ruleset in inputs]
    assert len(set(rulesets)) == 4
    for ruleset in rulesets:
        assert 'ruleset(name="%s")' % ruleset in text
    # every input object names a ruleset: none falls into the default one
    assert text.count("input(type=") == 4


@pytest.mark.parametrize("transport", ["-d", "-T"])
def test_audit_event_lands_in_the_senders_directory_in_runcmdformat(host, transport):
    marker = _marker()
    message = 'type=EXECVE msg=audit(1700000000.123:42): argc=2 a0="id" a1="%s"' % marker
    host.run_expect([0], "logger -n 127.0.0.1 -P 514 %s -t audisp-syslog -p local6.info %s",
                    transport, message)
    line = wait_for_line(host, LOG_DIR + "/127.0.0.1/audit.log", marker)
    match = re.match(r"^(%s) (\S+) (\S+) (.*)$" % TIMESTAMP, line)
    assert match, line
    _timestamp, hostname, sender, text = match.groups()
    assert sender == "127.0.0.1"
    assert hostname == host.check_output("hostname")
    assert text == message
    # the server's own logs never see remote events
    assert host.run("grep -rF -- %s /var/log/syslog /var/log/messages", marker).rc != 0


def test_per_sender_files_are_private(host):
    marker = _marker()
    host.run_expect([0], "logger -n 127.0.0.1 -P 514 -d -t audisp-syslog -p local6.info %s", marker)
    wait_for_line(host, LOG_DIR + "/127.0.0.1/audit.log", marker)
    directory = host.file(LOG_DIR + "/127.0.0.1")
    assert directory.mode == 0o750 and directory.user == "root" and directory.group == "adm"
    log = host.file(LOG_DIR + "/127.0.0.1/audit.log")
    assert log.mode == 0o640 and log.user == "root" and log.group == "adm"


def test_other_messages_are_kept_in_pipeformat(host):
    marker = _marker()
    host.run_expect([0], "logger -n 127.0.0.1 -P 514 -d -t cron -p cron.info %s", marker)
    line = wait_for_line(host, LOG_DIR + "/127.0.0.1/messages.log", marker)
    # logger sends RFC 5424 to the network: the tag is the APP-NAME, without a colon
    assert re.match(r"^%s 127\.0\.0\.1 cron:? %s$" % (TIMESTAMP, marker), line), line


def test_windows_senders_are_kept_in_evtsysformat(host):
    marker = _marker()
    _send_udp(host, "127.0.0.2", "<29>Nov 27 10:00:00 WINHOST Security-Auditing: 4624: %s" % marker)
    line = wait_for_line(host, LOG_DIR + "/127.0.0.2/windows.log", marker)
    # timestamp, sender address, facility.priority (rsyslog 8.2302 and later drop the
    # <number> of pri-text), sender name, tag, message
    assert re.match(r"^%s 127\.0\.0\.2 daemon\.notice(<29>)? \S+ Security-Auditing: 4624: %s$"
                    % (TIMESTAMP, marker), line), line


def test_senders_outside_the_allowed_list_are_refused(host):
    marker = _marker()
    _send_udp(host, "127.0.0.9", "<30>Nov 27 10:00:00 intruder evil: %s" % marker)
    # a message from an allowed sender sent after it is stored; the refused one never is
    allowed = _marker()
    _send_udp(host, "127.0.0.4", "<30>Nov 27 10:00:00 friend good: %s" % allowed)
    wait_for_line(host, LOG_DIR + "/127.0.0.4/messages.log", allowed)
    assert not host.file(LOG_DIR + "/127.0.0.9").exists
    assert host.run("grep -rF -- %s %s", marker, LOG_DIR).rc != 0


def test_the_seed_pipe_gets_its_senders_events(host):
    marker = _marker()
    assert host.file(PIPE).is_pipe and host.file(PIPE).mode == 0o600
    host.run_expect([0], "rm -f /tmp/pipe.out; (timeout 45 head -n1 %s > /tmp/pipe.out &) ; sleep 1", PIPE)
    _send_udp(host, "127.0.0.3", "<30>Nov 27 10:00:00 piped tool: %s" % marker)
    # the pipe action retries every 5 s until a reader is there
    line = wait_for_line(host, "/tmp/pipe.out", marker, timeout=40)
    assert re.match(r"^%s 127\.0\.0\.3 tool: %s$" % (TIMESTAMP, marker), line), line


def test_tls_input_presents_the_server_certificate_and_takes_events(host):
    marker = _marker()
    message = "<182>Nov 27 10:00:00 tlsclient audisp-syslog: type=EXECVE argc=1 a0=\"%s\"" % marker
    host.run_expect(
        [0],
        "printf '%%s\\n' %s | timeout 10 openssl s_client -connect 127.0.0.1:6514 -quiet -no_ign_eof "
        "-verify_return_error -verify_hostname server.example.test -CAfile /etc/rsyslog-tls/ca.pem "
        "-cert /etc/rsyslog-tls/client.pem -key /etc/rsyslog-tls/client-key.pem",
        message)
    line = wait_for_line(host, LOG_DIR + "/127.0.0.1/audit.log", marker)
    assert line.endswith('type=EXECVE argc=1 a0="%s"' % marker)


def test_logrotate_accepts_the_rotation(host):
    result = host.run("logrotate -d /etc/logrotate.d/whotouched-remote")
    assert result.rc == 0, result.stderr
    assert LOG_DIR + "/*/*.log" in result.stderr + result.stdout


# The ports the scenario configures (group_vars/all.yml) and the senders it allows.
FIREWALL_PORTS = {("514", "udp"), ("514", "tcp"), ("6514", "tcp"), ("2514", "tcp")}
FIREWALL_SENDERS = {"127.0.0.0/29", "::1"}


def ufw_allow_rules(host):
    """(port, proto, source) of every ALLOW rule in ufw's numbered status."""
    status = host.run("ufw status")
    assert status.rc == 0 and "Status: active" in status.stdout, status.stdout
    rules = set()
    for line in status.stdout.splitlines():
        match = re.match(r"^(\d+)/(tcp|udp)(?: \(v6\))?\s+ALLOW(?: IN)?\s+(\S+)", line.strip())
        if match:
            rules.add(match.groups())
    return rules


def firewalld_allow_rules(host):
    """(port, proto, source) of every rich rule that accepts a port from a source."""
    listing = host.run("firewall-cmd --list-rich-rules")
    assert listing.rc == 0, listing.stderr
    pattern = r'source address="([^"]+)" port port="(\d+)" protocol="(tcp|udp)" accept'
    return {(port, proto, source) for source, port, proto in re.findall(pattern, listing.stdout)}


def test_firewall_opens_each_port_for_the_allowed_senders_only(host):
    firewalld = host.run("systemctl is-active firewalld").stdout.strip() == "active"
    rules = firewalld_allow_rules(host) if firewalld else ufw_allow_rules(host)
    assert rules == {(port, proto, sender) for port, proto in FIREWALL_PORTS for sender in FIREWALL_SENDERS}
    # Nothing opened to anyone.
    assert not any(source.startswith("Anywhere") for _port, _proto, source in rules)
