"""The rsyslog_server role's end state, judged by what rsyslogd really does."""

import re
import time
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


def _send_tcp(host, source, message):
    """A syslog message over plain tcp from ``source`` (an address of the container's loopback)."""
    script = ("import socket,sys; s = socket.socket(); s.bind((sys.argv[1], 0)); "
              "s.connect(('127.0.0.1', 514)); s.sendall(sys.argv[2].encode() + b'\\n'); s.close()")
    host.run_expect([0], "python3 -c %s %s %s", script, source, message)


def test_complete_configuration_validates(host):
    result = host.run("rsyslogd -N1")
    assert result.rc == 0, result.stderr


def test_service_runs_and_starts_at_boot(host):
    service = host.service("rsyslog")
    assert service.is_running
    assert service.is_enabled


def _listening(host):
    """Every (protocol, port) something listens on in the container."""
    ports = set()
    for line in host.check_output("ss -tulnH").splitlines():
        fields = line.split()
        ports.add((fields[0], int(fields[4].rsplit(":", 1)[1])))
    return ports


def rsyslogd_listening(host, rsyslogd_identity):
    """The (protocol, port) pairs rsyslogd listens on.

    ``ss -p`` names the process of a socket by reading its /proc/PID/fd, which for a process
    of another user needs CAP_SYS_PTRACE, which the container lacks: when rsyslogd has
    dropped its privileges, its ports are those that close when it stops.
    """
    if rsyslogd_identity[0] == "root":
        return listening_ports(host.check_output("ss -tulnpH"), "rsyslogd")
    before = _listening(host)
    # syslog.socket would start rsyslog again at the first local message
    host.run_expect([0], "systemctl stop syslog.socket rsyslog.service")
    try:
        after = _listening(host)
    finally:
        host.run_expect([0], "systemctl start rsyslog.service")
    for _attempt in range(40):
        if _listening(host) >= before:
            break
        time.sleep(0.5)
    assert _listening(host) >= before
    return before - after


def test_listens_on_exactly_the_configured_ports(host, rsyslogd_identity):
    assert rsyslogd_listening(host, rsyslogd_identity) == EXPECTED_PORTS


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


def test_rsyslogd_keeps_the_distributions_privilege_drop(host, rsyslogd_identity):
    # Ubuntu's rsyslog.conf drops rsyslogd's privileges to syslog; Debian's keeps root
    expected = "syslog" if host.system_info.distribution == "ubuntu" else "root"
    assert rsyslogd_identity == (expected, expected)


def test_per_sender_files_are_private_and_belong_to_rsyslogds_user(host, rsyslogd_identity):
    marker = _marker()
    host.run_expect([0], "logger -n 127.0.0.1 -P 514 -d -t audisp-syslog -p local6.info %s", marker)
    wait_for_line(host, LOG_DIR + "/127.0.0.1/audit.log", marker)
    user, _group = rsyslogd_identity
    for path in (LOG_DIR, LOG_DIR + "/127.0.0.1"):
        directory = host.file(path)
        assert (directory.mode, directory.user, directory.group) == (0o750, user, "adm"), path
    log = host.file(LOG_DIR + "/127.0.0.1/audit.log")
    assert (log.mode, log.user, log.group) == (0o640, user, "adm")


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


# udp: imudp's $AllowedSender; plain tcp: imptcp knows none, the role's check in its ruleset.
# (Docker gives the container no IPv6 loopback to send from: test_sender_check.py runs the
# IPv6 entries.)
@pytest.mark.parametrize("send", [_send_udp, _send_tcp], ids=["udp", "tcp"])
def test_senders_outside_the_allowed_list_are_refused(host, send):
    marker = _marker()
    send(host, "127.0.0.9", "<30>Nov 27 10:00:00 intruder evil: %s" % marker)
    # a message from an allowed sender (127.0.0.0/29) sent after it is stored; the refused one never is
    allowed = _marker()
    send(host, "127.0.0.4", "<30>Nov 27 10:00:00 friend good: %s" % allowed)
    wait_for_line(host, LOG_DIR + "/127.0.0.4/messages.log", allowed)
    assert not host.file(LOG_DIR + "/127.0.0.9").exists
    assert host.run("grep -rF -- %s %s", marker, LOG_DIR).rc != 0


def test_the_seed_pipe_gets_its_senders_events(host, rsyslogd_identity):
    marker = _marker()
    user, group = rsyslogd_identity
    pipe = host.file(PIPE)
    assert pipe.is_pipe and (pipe.mode, pipe.user, pipe.group) == (0o600, user, group)
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


def test_tls_input_refuses_senders_outside_the_allowed_list(host):
    # the TLS input is imtcp's: $AllowedSender TCP closes the connection
    marker = _marker()
    script = ("import socket,ssl,sys; c = ssl.create_default_context(cafile='/etc/rsyslog-tls/ca.pem'); "
              "c.load_cert_chain('/etc/rsyslog-tls/client.pem', '/etc/rsyslog-tls/client-key.pem'); "
              "s = socket.socket(); s.bind(('127.0.0.9', 0)); s.connect(('127.0.0.1', 6514))\n"
              "try:\n"
              "    t = c.wrap_socket(s, server_hostname='server.example.test'); "
              "t.sendall(sys.argv[1].encode() + b'\\n'); t.close()\n"
              "except (OSError, ssl.SSLError) as error:\n"
              "    print('refused:', error)")
    host.run_expect([0], "python3 -c %s %s", script,
                    "<182>Nov 27 10:00:00 tlsclient audisp-syslog: type=EXECVE a0=\"%s\"" % marker)
    # an allowed TLS sender's event after it is stored; the refused one never is
    test_tls_input_presents_the_server_certificate_and_takes_events(host)
    assert not host.file(LOG_DIR + "/127.0.0.9").exists
    assert host.run("grep -rF -- %s %s", marker, LOG_DIR).rc != 0


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
