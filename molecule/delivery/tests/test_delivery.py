"""Bursts of audit events on systemd hosts reach the log server whole.

auditd's part is played by audit_burst.py: a real recorded event, renumbered, written into
auditd's log one record per write (as auditd's line-buffered log does) as fast as Python writes,
the log rotated the way auditd rotates it; and, where the audit syslog plugin is on, handed
to the plugin's program (audisp-syslog, run as a unit) as auditd hands events to it.  With
rsyslog_client's defaults rsyslog reads the log, on a host with Debian's rsyslog.conf and on
one with RHEL's (imjournal): the journal is not on the path, so its rate limits cannot drop
an event.  The server's stored file is counted by serial: every event must be there.
(Converged with rsyslog_client_audit_source=syslog and linux_audit_syslog_plugin=true, the
old path, the same tests fail with the count of what the journal dropped.)
"""

import base64
import json
import random
import time
from pathlib import Path

import pytest

from verify_support import platform_host as platform, poll

TOOL = Path(__file__).with_name("audit_burst.py")
AUDIT_LOG = "/var/log/audit/audit.log"
SERVER_LOG_DIR = "/var/log/remote"
# 30,000 events, 210,000 records, about 55 MB: auditd's log rotates a few times on the way
# (at 16 MB), and with 5 logs no file is removed before rsyslog has read it.
BURST = 30000
ROTATE_BYTES = 16 * 1024 * 1024
NUM_LOGS = 5
# Records of the template event the client's noise filters let through, and the one they drop.
KEPT_TYPES = ("SYSCALL", "BPRM_FCAPS", "EXECVE", "CWD", "PROCTITLE")
CLIENTS = ("delivery-debian", "delivery-rhel")


def install_tool(host):
    encoded = base64.b64encode(TOOL.read_bytes()).decode()
    host.run_expect([0], "echo %s | base64 -d > /tmp/audit_burst.py", encoded)


def burst_base():
    """A time no other burst (nor the real clock) uses: the burst's events are told by it."""
    return 1900000000 + random.randrange(0, 90000000, 1000)


def stored_file(server, client_name):
    """The server's file of the client's audit events, named by the address it connects from."""
    resolved = server.run("getent ahostsv4 %s", client_name)
    assert resolved.rc == 0, resolved.stderr
    return "%s/%s/audit.log" % (SERVER_LOG_DIR, resolved.stdout.split()[0])


def arrivals(server, base, count, path):
    result = server.run("python3 /tmp/audit_burst.py count %d %d %s" % (base, count, path))
    assert result.rc == 0, result.stderr
    return json.loads(result.stdout)


def wait_for(server, base, count, path, timeout=300, settle=3.0):
    """What of the burst reached the server, once all of it did (or ``timeout`` passed) and
    the file has not grown for ``settle`` seconds; and the seconds until the last arrival."""
    start = time.monotonic()
    last, last_change = None, start
    while True:
        found = arrivals(server, base, count, path)
        now = time.monotonic()
        if found != last:
            last, last_change = found, now
        if (found["missing"] == 0 and now - last_change >= settle) or now - start >= timeout:
            return found, round(last_change - start, 1)
        time.sleep(1.0)


def plugin_active(client):
    """Whether auditd's syslog plugin is on (audit 3's path; the role writes "active = ...")."""
    found = client.run("grep -hE '^\\s*active\\s*=' /etc/audit/plugins.d/syslog.conf")
    return found.stdout.split("=")[-1].strip() == "yes"


def play_auditd(client, base, count, background=False, per_second=0):
    """What auditd does with a burst of ``count`` events (at most ``per_second`` a second when
    not 0): write them to its log and, when the syslog plugin is on, hand them to it.  The
    seconds the writing took (None in the background)."""
    if plugin_active(client):
        client.run_expect([0], "python3 /tmp/audit_burst.py stdout %d %d > /tmp/burst-%d.log" % (base, count, base))
        client.run_expect([0], "systemd-run --unit=audisp-burst-%d --collect -p StandardInput=file:/tmp/burst-%d.log "
                               "/sbin/audisp-syslog LOG_INFO LOG_LOCAL6" % (base, base))
    command = "python3 /tmp/audit_burst.py file %d %d %s %d %d %d" % (
        base, count, AUDIT_LOG, ROTATE_BYTES, NUM_LOGS, per_second)
    if background:
        client.run_expect([0], "systemd-run --unit=audit-burst-%d --collect %s" % (base, command))
        return None
    written = client.run(command)
    assert written.rc == 0, written.stderr
    return float(written.stderr.split("=")[-1])


def report(name, **figures):
    print("\ndelivery figures %s: %s" % (name, json.dumps(figures, sort_keys=True)))


@pytest.fixture(scope="module")
def clients(request, server):
    """The audited hosts by name, each (and the server) with the burst tool installed."""
    hosts = {name: platform(request, name) for name in CLIENTS}
    for host in [server, *hosts.values()]:
        install_tool(host)
    return hosts


def check_whole(found, count):
    assert found["missing"] == 0, "lost on the way: %d of %d events, first %s" % (
        found["missing"], count, found["first_missing"])
    for record_type in KEPT_TYPES:
        assert found["types"].get(record_type, {}).get("unique") == count, (record_type, found)
    # the noise filters acted on the events read from the file
    assert "PATH" not in found["types"], found


@pytest.mark.parametrize("client_name", CLIENTS)
def test_a_burst_written_by_auditd_reaches_the_server_whole(server, clients, client_name):
    client = clients[client_name]
    path = stored_file(server, client_name)
    base = burst_base()
    write_seconds = play_auditd(client, base, BURST)
    found, seconds = wait_for(server, base, BURST, path)
    duplicates = max(entry["duplicates"] for entry in found["types"].values()) if found["types"] else 0
    report("burst-" + client_name, events=BURST, records=BURST * len(KEPT_TYPES),
           write_seconds=write_seconds, seconds_to_arrive=seconds,
           missing=found["missing"], duplicates=duplicates)
    check_whole(found, BURST)


@pytest.mark.parametrize("client_name", CLIENTS)
def test_a_restart_of_rsyslog_in_the_middle_of_a_burst_loses_nothing(server, clients, client_name):
    client = clients[client_name]
    path = stored_file(server, client_name)
    base = burst_base()
    # paced, so that the restart falls in the middle of the burst
    play_auditd(client, base, BURST, background=True, per_second=5000)
    assert poll(lambda: arrivals(server, base, BURST, path)["types"].get("SYSCALL", {}).get("unique", 0) > 1000,
                120), "the burst did not start arriving"
    at_restart = arrivals(server, base, BURST, path)["types"]["SYSCALL"]["unique"]
    client.run_expect([0], "systemctl restart rsyslog")
    found, seconds = wait_for(server, base, BURST, path)
    report("restart-" + client_name, events=BURST, arrived_before_restart=at_restart,
           seconds_to_arrive=seconds, missing=found["missing"],
           duplicates=found["types"].get("SYSCALL", {}).get("duplicates"))
    assert at_restart < BURST, "the burst had arrived before the restart: nothing was tested"
    check_whole(found, BURST)


@pytest.mark.parametrize("client_name", CLIENTS)
def test_the_journal_is_not_on_the_way(clients, client_name):
    client = clients[client_name]
    forward = client.file("/etc/rsyslog.d/20-whotouched-audit-forward.conf").content_string
    assert 'type="imfile"' in forward and AUDIT_LOG in forward
    assert not plugin_active(client)
