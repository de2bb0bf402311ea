"""End to end through the real kernel: what a user does on the audited client is written,
seconds later, into the log server's file for that client, in the command template."""

import re
import time

from pipeline_support import (ALICE, CLIENT, client_rsyslog_pid, kernel_serial, poll, report, run_on_client,
                              server_records, unique)
from verify_support import rules_file_rules, rules_missing_from_kernel

RULES_FILE = "/etc/audit/rules.d/50-whotouched.rules"
# How long an event may take from the kernel to the server's file.
DELIVERY_BOUND = 30
# runcmdformat: %TIMESTAMP% %HOSTNAME% %FROMHOST-IP%%msg% (the message starts with a space)
RUNCMD_LINE = re.compile(r"^(?P<timestamp>[A-Z][a-z]{2} [ 0-9]\d \d\d:\d\d:\d\d) (?P<hostname>\S+) "
                         r"(?P<address>[0-9.]+) (?P<record>type=\w+ msg=audit\((?P<serial>[0-9.:]+)\):.*)$")


def arriving_records(server, audit_file, serial, types):
    """The server's lines of event ``serial``, once it holds a record of each of ``types``."""
    def probe():
        lines = server_records(server, audit_file, serial)
        held = {RUNCMD_LINE.match(line).group("record").split()[0] for line in lines if RUNCMD_LINE.match(line)}
        return lines if {"type=" + name for name in types} <= held else None

    lines = poll(probe, DELIVERY_BOUND)
    assert lines, "event %s (%s) did not reach %s within %d s" % (serial, ", ".join(types), audit_file, DELIVERY_BOUND)
    return lines


def test_the_audit_chain_runs_on_the_client(client):
    status = client.run_expect([0], "auditctl -s").stdout
    assert re.search(r"^enabled 1$", status, re.M), status
    assert not re.search(r"^pid 0$", status, re.M), "auditd is not running: " + status
    rules_file = client.file(RULES_FILE).content_string
    keys = {key for rule in rules_file_rules(rules_file) for key in rule.keys}
    assert {"exec", "passwd"} <= keys, keys
    assert rules_missing_from_kernel(rules_file, client.run_expect([0], "auditctl -l").stdout) == []
    pid = client_rsyslog_pid(client)
    assert pid and client.file("/proc/%d/exe" % pid).linked_to == "/usr/sbin/rsyslogd"


def test_the_server_listens_on_udp_tcp_and_relp(server):
    for socket in ("udp://0.0.0.0:514", "tcp://0.0.0.0:514", "tcp://0.0.0.0:2514"):
        assert server.socket(socket).is_listening, socket


def test_a_command_of_a_login_user_reaches_the_server_in_the_command_template(client, server, audit_file):
    marker = unique("typed")
    started = time.monotonic()
    pid = run_on_client(client, "/usr/bin/echo " + marker)
    serial = kernel_serial(client, pid, r'comm="echo" exe="/usr/bin/echo"')
    lines = arriving_records(server, audit_file, serial, ["SYSCALL", "EXECVE"])
    report("command", seconds_to_arrive=round(time.monotonic() - started, 1))

    parsed = {RUNCMD_LINE.match(line).group("record").split()[0]: RUNCMD_LINE.match(line) for line in lines}
    execve, syscall = parsed["type=EXECVE"], parsed["type=SYSCALL"]
    # who, from which address, ran what
    assert execve.group("record").endswith('argc=2 a0="/usr/bin/echo" a1="%s"' % marker)
    assert " auid=%d uid=%d " % (ALICE, ALICE) in syscall.group("record")
    assert syscall.group("record").endswith('key="exec"') or ' key="exec"' in syscall.group("record")
    assert execve.group("hostname") == CLIENT
    assert audit_file.split("/")[-2] == execve.group("address")


def test_cat_etc_shadow_by_a_login_user_reaches_the_server(client, server, audit_file):
    # The first thing an intruder types, run with root's rights (as after sudo) by the login
    # user alice: who, from which address, ran what must be on the log server.
    pid = run_on_client(client, "/usr/bin/cat /etc/shadow >/dev/null", run_as=0)
    serial = kernel_serial(client, pid, r'comm="cat" exe="/usr/bin/cat"')
    lines = arriving_records(server, audit_file, serial, ["SYSCALL", "EXECVE"])
    records = {RUNCMD_LINE.match(line).group("record").split()[0]: RUNCMD_LINE.match(line).group("record")
               for line in lines}
    assert records["type=EXECVE"].endswith('argc=2 a0="/usr/bin/cat" a1="/etc/shadow"')
    assert " auid=%d uid=0 " % ALICE in records["type=SYSCALL"]
    assert audit_file.split("/")[-2] == RUNCMD_LINE.match(lines[0]).group("address")


def test_a_noise_command_is_recorded_by_the_kernel_but_not_forwarded(client, server, audit_file):
    noise = unique("noise")
    noise_pid = run_on_client(client, "/usr/bin/date +" + noise)
    noise_serial = kernel_serial(client, noise_pid, r'comm="date" exe="/usr/bin/date"')
    # A command sent after it over the same connection: once it is there, the noise would be too.
    fence_pid = run_on_client(client, "/usr/bin/echo " + unique("fence"))
    fence_serial = kernel_serial(client, fence_pid, r'comm="echo"')
    arriving_records(server, audit_file, fence_serial, ["SYSCALL", "EXECVE"])

    forwarded = [line for line in server_records(server, audit_file, noise_serial)
                 if " type=SYSCALL " in line or " type=EXECVE " in line]
    assert forwarded == []
    assert client.run("grep -aF -- %s %s", noise, "/var/log/audit/audit.log").rc == 0


def test_a_write_to_etc_passwd_arrives_with_its_key(client, server, audit_file):
    # root after "sudo" by alice: the login uid still says who; tee -a opens for writing and adds nothing
    pid = run_on_client(client, "/usr/bin/tee -a /etc/passwd </dev/null", run_as=0)
    serial = kernel_serial(client, pid, r'comm="tee" .*key="passwd"')
    lines = arriving_records(server, audit_file, serial, ["SYSCALL"])
    syscall = next(line for line in lines if " type=SYSCALL " in line)
    assert re.search(r' auid=%d uid=0 .*comm="tee" exe="/usr/bin/tee".* key="passwd"' % ALICE, syscall), syscall
