"""The plain tcp input's allowed-sender check, run by this platform's own rsyslogd.

imptcp knows no $AllowedSender, so the role writes the allowed senders as RainerScript
(module_utils/_rsyslog/senders.py).  Loopback gives only 127.0.0.0/8 and ::1 as real
sender addresses; here a private rsyslogd (its own configuration, port and pid file) runs
the same check on addresses carried in the messages, and what it lets through must be
what Python's ipaddress says is in the list.
"""

import ipaddress

from verify_support import wait_for_line

from ansible_collections.whotouched.server_audit.plugins.module_utils._rsyslog.senders import (
    sender_check,
)

WORK = "/var/lib/whotouched-sender-check"
PORT = 10514
ALLOWED = ["127.0.0.0/29", "192.0.2.130/25", "10.0.0.1", "2.0.0.0/8", "::1", "[2001:DB8::]/33",
           "fe80::/10", "2001:db8:0:0:1::/80", "1:2:3:4:5:6:7:8", "abcd::/16"]
SENDERS = ["127.0.0.1", "127.0.0.7", "127.0.0.8", "192.0.2.128", "192.0.2.255", "192.0.2.127",
           "10.0.0.1", "10.0.0.2", "2.255.0.1", "::1", "::2", "::", "2001:db8::5",
           "2001:db8:7fff:ffff:ffff:ffff:ffff:ffff", "2001:db8:8000::", "2001:db9::",
           "fe80::1%eth0", "fe80::abcd:1234", "febf:ffff::1", "fec0::1", "2001:db8::1:0:0:5",
           "2001:db8::2:0:0:5", "1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7:9", "abcd::", "abce::",
           "::ffff:127.0.0.1", "::127.0.0.1"]
# the last message, from an allowed sender seen nowhere else: once it is stored, every
# earlier one was judged
LAST = "127.0.0.6"


def _expected(sender):
    if "." in sender and ":" in sender:
        return False  # IPv6 written with an embedded IPv4 address: never allowed (documented)
    address = ipaddress.ip_address(sender.split("%")[0])
    return any(address in network for network in
               (ipaddress.ip_network(entry.replace("[", "").replace("]", ""), strict=False)
                for entry in ALLOWED))


def test_rsyslogd_lets_through_exactly_the_allowed_senders(host):
    config = "\n".join([
        'global(workDirectory="%s")' % WORK,
        'module(load="imptcp")',
        'template(name="passed" type="string" string="%$.addr%\\n")',
        'ruleset(name="check") {',
        "    set $.addr = ltrim($msg);",
        sender_check(ALLOWED, source="$.addr"),
        '    action(type="omfile" file="%s/passed" template="passed")' % WORK,
        "}",
        'input(type="imptcp" address="127.0.0.1" port="%d" ruleset="check")' % PORT,
        "",
    ])
    host.run_expect([0], "rm -rf %s && mkdir -p %s", WORK, WORK)
    host.run_expect([0], "printf '%%s' %s > %s/rsyslog.conf", config, WORK)
    result = host.run("rsyslogd -N1 -f %s/rsyslog.conf", WORK)
    assert result.rc == 0, result.stdout + result.stderr
    host.run_expect([0], "rsyslogd -f %s/rsyslog.conf -i %s/rsyslogd.pid", WORK, WORK)
    try:
        lines = "".join("<13>Nov 27 10:00:00 sender check: %s\n" % sender for sender in SENDERS + [LAST])
        script = ("import socket,sys,time\n"
                  "for attempt in range(50):\n"
                  "    try:\n"
                  "        s = socket.create_connection(('127.0.0.1', %d)); break\n"
                  "    except OSError:\n"
                  "        time.sleep(0.2)\n"
                  "s.sendall(sys.argv[1].encode()); s.close()\n" % PORT)
        host.run_expect([0], "python3 -c %s %s", script, lines)
        wait_for_line(host, WORK + "/passed", LAST, timeout=30)
        passed = host.file(WORK + "/passed").content_string.splitlines()
        assert passed[-1] == LAST, passed
        passed = passed[:-1]
    finally:
        host.run("kill $(cat %s/rsyslogd.pid)", WORK)
    assert passed == [sender for sender in SENDERS if _expected(sender)]
    # the table holds both kinds
    assert 0 < len(passed) < len(SENDERS)
