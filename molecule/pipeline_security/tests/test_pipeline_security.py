"""What a log server stores when valid, untrusted, outside and hostile senders talk to it.

Everything is judged on the server: which per-sender directories and lines exist, and what
rsyslogd itself logged about the connections it refused.  Every refusal is paired with a
control sent the same way by a valid client, so "nothing stored" never passes because
nothing worked.
"""

import base64
import re
import time
import uuid

import pytest
from verify_support import wait_for_line

# the tests run once, on the server; the other hosts come from the `machines` fixture
testinfra_hosts = ["ansible://pipeline_security-server"]

LOG_DIR = "/var/log/remote"
STORED_FILES = {"audit.log", "messages.log"}
TLS_PORT, RELP_PORT, PLAIN_PORT = 6514, 2514, 514
# "Nov 27 09:11:23" or "Nov  7 09:11:23"
TIMESTAMP = r"[A-Z][a-z]{2} [ \d]\d \d{2}:\d{2}:\d{2}"

# Sends bytes (base64 in argv) as one UDP datagram or over one plain TCP connection.
RAW_SENDER = (
    "import base64, socket, sys\n"
    "transport, address, port, data = sys.argv[1], sys.argv[2], int(sys.argv[3]), base64.b64decode(sys.argv[4])\n"
    "if transport == 'udp':\n"
    "    socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(data, (address, port))\n"
    "else:\n"
    "    s = socket.create_connection((address, port), timeout=10)\n"
    "    s.sendall(data)\n"
    "    s.close()\n"
)
# Logs one message (base64 in argv) through the host's own rsyslog, as the audit plugin does.
LOCAL_LOGGER = (
    "import base64, subprocess, sys\n"
    "subprocess.run(['logger', '-t', 'audisp-syslog', '-p', 'local6.info', '--',"
    " base64.b64decode(sys.argv[1]).decode()], check=True)\n"
)


def _marker():
    return "whotouched-" + uuid.uuid4().hex[:12]


def _b64(text):
    return base64.b64encode(text.encode()).decode()


def _audit_event(marker):
    return 'type=EXECVE msg=audit(1700000000.123:42): argc=2 a0="id" a1="%s"' % marker


def _log_locally(machine, message):
    """The message enters the client's rsyslog like the audit plugin's (program audisp-syslog, local6)."""
    machine.host.run_expect([0], "python3 -c %s %s", LOCAL_LOGGER, _b64(message))


def _send_raw(machine, transport, server, text, port=PLAIN_PORT):
    """Raw syslog text, whatever it claims, from ``machine`` to the server's plain inputs."""
    machine.host.run_expect([0], "python3 -c %s %s %s %s %s", RAW_SENDER, transport, server.address,
                            str(port), _b64(text))


def _send_tls(machine, server, text):
    """One syslog line over the TLS port with the certificate ``machine`` holds (openssl s_client).

    The exit code is not judged: a refused client may or may not see the server hang up.
    """
    return machine.host.run(
        "echo %s | base64 -d | timeout 15 openssl s_client -connect %s:%s -quiet -no_ign_eof "
        "-verify_return_error -verify_hostname server.example.test -CAfile /etc/rsyslog-tls/ca.pem "
        "-cert /etc/rsyslog-tls/cert.pem -key /etc/rsyslog-tls/key.pem",
        _b64(text + "\n"), server.address, str(TLS_PORT))


def _syslog_line(hostname, tag, message):
    return "<182>Nov 27 10:00:00 %s %s: %s" % (hostname, tag, message)


def _own_log(server):
    """The server's own log file, where rsyslogd reports the connections it refused."""
    for path in ("/var/log/syslog", "/var/log/messages"):
        if server.host.file(path).exists:
            return path
    raise AssertionError("the server has neither /var/log/syslog nor /var/log/messages")


def _own_log_mark(server):
    return int(server.host.check_output("wc -l < %s", _own_log(server)))


def _wait_for_own_log(server, mark, pattern, timeout=30.0, nudge=None):
    """The lines rsyslogd logged after line ``mark`` once one matches ``pattern`` (polls).

    ``nudge`` is called every few seconds meanwhile.
    """
    deadline = time.monotonic() + timeout
    next_nudge = time.monotonic() + 3
    path = _own_log(server)
    while True:
        lines = server.host.check_output("tail -n +%s %s", str(mark + 1), path).splitlines()
        if any(re.search(pattern, line) for line in lines):
            return lines
        if nudge is not None and time.monotonic() > next_nudge:
            nudge()
            next_nudge = time.monotonic() + 3
        assert time.monotonic() < deadline, "rsyslogd logged no line matching %r in %.0f s:\n%s" % (
            pattern, timeout, "\n".join(lines[-20:]))
        time.sleep(0.5)


def _stored_lines(server, marker):
    """Every stored line holding ``marker``, as ``path:line``."""
    result = server.host.run("grep -rF -- %s %s", marker, LOG_DIR)
    return result.stdout.splitlines()


def _audit_log(machine):
    return "%s/%s/audit.log" % (LOG_DIR, machine.address)


def _runcmd_fields(line):
    """(hostname claimed, sender address, message) of a runcmdformat line."""
    match = re.match(r"^%s (\S+) (\S+) (.*)$" % TIMESTAMP, line)
    assert match, line
    return match.groups()


def _established_peers(server, port):
    """Addresses with an established connection to the server's ``port``."""
    out = server.host.check_output("ss -tnH state established '( sport = :%s )'", str(port))
    return {line.split()[-1].rsplit(":", 1)[0] for line in out.splitlines() if line.strip()}


@pytest.mark.parametrize("client_name, port", [("client-tcp", TLS_PORT), ("client-relp", RELP_PORT)])
def test_a_client_with_a_valid_certificate_delivers_over_tls(machines, client_name, port):
    server, client = machines["server"], machines[client_name]
    marker = _marker()
    _log_locally(client, _audit_event(marker))
    line = wait_for_line(server.host, _audit_log(client), marker)
    hostname, sender, text = _runcmd_fields(line)
    assert (hostname, sender, text) == (client.host.check_output("hostname"), client.address, _audit_event(marker))
    # it came over the TLS connection of its protocol, not over the plain port
    assert client.address in _established_peers(server, port)
    assert client.address not in _established_peers(server, PLAIN_PORT)


def _refusal(rogue):
    """What rsyslogd (8.2302, GnuTLS) logs when it refuses ``rogue``: over tcp the certificate's
    fault (not always with the peer's address), over RELP the failed handshake with the address."""
    return {
        "selfsigned-tcp": r"certificate invalid: signer not found",
        "wrongname-tcp": r"peer name not authorized.*intruder\.example\.test",
    }.get(rogue.name, r"imrelp.*TLS handshake failed.*conn to clt %s/" % re.escape(rogue.address))


@pytest.mark.parametrize("rogue_name", ["selfsigned-tcp", "selfsigned-relp", "wrongname-tcp", "wrongname-relp"])
def test_a_client_with_an_untrusted_certificate_is_refused(machines, rogue_name):
    """The rogue runs the same rsyslog_client role (tcp or RELP with TLS) from an allowed address."""
    server, rogue, control = machines["server"], machines[rogue_name], machines["client-tcp"]
    mark = _own_log_mark(server)
    marker = _marker()
    _log_locally(rogue, _audit_event(marker))
    control_marker = _marker()
    _log_locally(control, _audit_event(control_marker))
    wait_for_line(server.host, _audit_log(control), control_marker)
    # Wait until the server has refused the rogue's certificate after the event.  With TLS 1.3
    # the client finishes its handshake before the server checks its certificate, so a rogue
    # may write an event into a connection the server has already closed, and only reconnect
    # (and be refused again) with its next event: more events, same marker, keep it trying.
    _wait_for_own_log(server, mark, _refusal(rogue),
                      nudge=lambda: _log_locally(rogue, _audit_event(marker + "-again")))
    assert _stored_lines(server, marker) == []
    assert not server.host.file("%s/%s" % (LOG_DIR, rogue.address)).exists


@pytest.mark.parametrize("rogue_name", ["selfsigned-tcp", "wrongname-tcp", "outsider"])
def test_the_tls_port_stores_nothing_from_untrusted_certificates_or_outside_addresses(machines, rogue_name):
    """openssl s_client as the client; the outsider holds a valid certificate but is not allowed."""
    server, rogue, control = machines["server"], machines[rogue_name], machines["client-tcp"]
    marker = _marker()
    _send_tls(rogue, server, _syslog_line("claimed", "audisp-syslog", _audit_event(marker)))
    control_marker = _marker()
    result = _send_tls(control, server, _syslog_line("claimed", "audisp-syslog", _audit_event(control_marker)))
    assert result.rc == 0, result.stderr
    wait_for_line(server.host, _audit_log(control), control_marker)
    assert _stored_lines(server, marker) == []
    assert not server.host.file("%s/%s" % (LOG_DIR, rogue.address)).exists


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_a_sender_outside_the_allowed_list_is_not_stored(machines, transport):
    server, outsider, control = machines["server"], machines["outsider"], machines["client-tcp"]
    marker = _marker()
    _send_raw(outsider, transport, server, _syslog_line("outsider", "audisp-syslog", _audit_event(marker)) + "\n")
    control_marker = _marker()
    _send_raw(control, transport, server,
              _syslog_line("control", "audisp-syslog", _audit_event(control_marker)) + "\n")
    wait_for_line(server.host, _audit_log(control), control_marker)
    assert _stored_lines(server, marker) == []
    assert not server.host.file("%s/%s" % (LOG_DIR, outsider.address)).exists


@pytest.mark.parametrize("transport", ["udp", "tcp", "tls"])
def test_a_claimed_hostname_is_stored_under_the_real_sender_address(machines, transport):
    """client-tcp claims to be client-relp (by address), then the server itself (by name)."""
    server, liar, victim = machines["server"], machines["client-tcp"], machines["client-relp"]
    for claimed in (victim.address, "pipelinesecurity-server"):
        marker = _marker()
        text = _syslog_line(claimed, "audisp-syslog", _audit_event(marker))
        if transport == "tls":
            assert _send_tls(liar, server, text).rc == 0
        else:
            _send_raw(liar, transport, server, text + "\n")
        line = wait_for_line(server.host, _audit_log(liar), marker)
        hostname, sender, _text = _runcmd_fields(line)
        # the claim is kept as the text it is; the address is the one the packets came from
        assert (hostname, sender) == (claimed, liar.address)
        assert _stored_lines(server, marker) == ["%s:%s" % (_audit_log(liar), line)]


HOSTILE_COMMAND = ('bash -c "{m} $(touch /tmp/pwned-{m}); `touch /tmp/pwned-{m}` | nc x 1 && rm -rf / '
                   '> ../../../etc/cron.d/{m}"\n\x1b[2J\x1b[31mforged line\x1b[0m ../../../../tmp/{m}/x')


def test_a_hostile_command_line_arrives_as_inert_data(machines):
    """Newlines, ANSI escapes, shell metacharacters and ../ through the client's rsyslog and TLS."""
    server, client = machines["server"], machines["client-tcp"]
    marker = _marker()
    command = HOSTILE_COMMAND.format(m=marker)
    _log_locally(client, 'type=EXECVE msg=audit(1700000000.123:43): argc=3 a0="bash" a1="-c" a2="%s"' % command)
    line = wait_for_line(server.host, _audit_log(client), marker)
    _hostname, sender, text = _runcmd_fields(line)
    assert sender == client.address
    # one line: the newline and the escape sequences are stored as rsyslog's #ooo escapes
    expected = command.replace("\n", "#012").replace("\x1b", "#033")
    assert text.endswith('a2="%s"' % expected), text
    assert len(_stored_lines(server, marker)) == 1
    _assert_nothing_named_after(machines, marker)


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_hostile_header_fields_cannot_name_a_path(machines, transport):
    """A hostname and a program name made of ../ and a forged runcmdformat line in the message."""
    server, client, victim = machines["server"], machines["client-tcp"], machines["client-relp"]
    marker = _marker()
    forged = "Nov 27 10:00:00 victim %s type=EXECVE argc=1 a0=\"forged-%s\"" % (victim.address, marker)
    for hostname, tag in (("../../../../etc/cron.d/" + marker, "audisp-syslog"),
                          ("host-" + marker, "../../../tmp/" + marker)):
        message = "%s \x1b[31m$(touch /tmp/pwned-%s)\n%s" % (marker, marker, forged)
        _send_raw(client, transport, server, _syslog_line(hostname, tag, message) + "\n")
    control_marker = _marker()
    _send_raw(client, transport, server, _syslog_line("control", "audisp-syslog", _audit_event(control_marker)) + "\n")
    wait_for_line(server.host, _audit_log(client), control_marker)
    stored = _stored_lines(server, marker)
    assert stored, "the hostile messages were not stored at all"
    # whatever the framing made of them, every piece is in the sender's own directory
    for path_and_line in stored:
        assert path_and_line.startswith("%s/%s/" % (LOG_DIR, client.address)), path_and_line
    assert server.host.run("grep -rF -- forged-%s %s/%s", marker, LOG_DIR, victim.address).rc != 0
    _assert_nothing_named_after(machines, marker)


def _assert_nothing_named_after(machines, marker):
    """No file anywhere on the server, and no command's trace on the client, carries ``marker``."""
    server = machines["server"]
    found = server.host.run("find / \\( -path /proc -o -path /sys -o -path /dev \\) -prune -o -name '*%s*' -print",
                            marker)
    assert found.stdout.strip() == "", found.stdout
    for name in ("server", "client-tcp"):
        assert not machines[name].host.file("/tmp/pwned-" + marker).exists


def test_storage_holds_only_the_valid_senders_directories_and_files(machines):
    """Run last: the whole tree the earlier tests wrote, checked entry by entry."""
    server = machines["server"]
    valid = {machines["client-tcp"].address, machines["client-relp"].address}
    entries = server.host.check_output("find %s -mindepth 1 -printf '%%y %%P\\n'", LOG_DIR).splitlines()
    directories = {path for kind, path in (entry.split(" ", 1) for entry in entries) if kind == "d"}
    files = {path for kind, path in (entry.split(" ", 1) for entry in entries) if kind == "f"}
    others = [entry for entry in entries if entry[0] not in "df"]
    assert directories == valid
    assert others == []
    assert all(path.count("/") == 1 and path.split("/")[0] in valid and path.split("/")[1] in STORED_FILES
               for path in files), files
    for path in files:
        address, name = path.split("/")
        raw = server.host.file("%s/%s" % (LOG_DIR, path)).content
        # no control character reaches the files: a terminal showing them cannot be driven
        assert not re.search(rb"[\x00-\x09\x0b-\x1f\x7f]", raw), path
        for line in raw.decode("utf-8", "replace").splitlines():
            if name == "audit.log":
                assert _runcmd_fields(line)[1] == address, line
            else:
                assert re.match(r"^%s %s " % (TIMESTAMP, re.escape(address)), line), line
