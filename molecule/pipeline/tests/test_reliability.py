"""Reliability of the forwarding, measured with bursts of numbered programs run on the
audited client by a login user: each is an execve the kernel records and auditd writes to
its log, where the client's rsyslog reads it (each number run once, so what arrived can be
counted exactly, duplicates included).

The client's protocol and queue are switched by re-running the rsyslog_client role with
other variables (client.yml), the way a user changes them; each test sets what it needs.
The tests run in file order so that the role runs as few times as possible.
"""

import time

import pytest

from pipeline_support import (
    CLIENT_SPOOL,
    QUEUE_FILE,
    burst_command,
    client_rsyslog_pid,
    configure_client,
    poll,
    recorded_by_kernel,
    report,
    restart_client_rsyslog,
    send_burst,
    sequence_numbers,
    start_server,
    stop_server,
    unique,
    wait_for_burst,
    wait_until_forwarding,
)

BURST = 10000
# the client's queue cap in the disk cap test, and what rsyslog may write beyond it (it
# never writes part of a queue record; "4m" is read as 4 * 10^6 or 4 * 2^20 bytes).  The cap
# is several of the queue's 1 MiB files: rsyslog frees disk space a whole file at a time.
DISK_CAP = "4m"
DISK_CAP_BYTES = (4 * 1000 * 1000, 4 * 1024 * 1024)
DISK_CAP_SLACK = 64 * 1024


@pytest.fixture(autouse=True)
def server_running(server):
    """Every test starts with the server's rsyslog up (a failed test may have stopped it)."""
    start_server(server)
    yield
    start_server(server)


def in_background(client, command, name):
    """Start ``command`` on the client detached from the test's shell; its process id.
    Its output goes to /tmp/<name>.out."""
    result = client.run_expect([0], "setsid sh -c %s >/tmp/%s.out 2>&1 </dev/null & echo $!", command, name)
    return int(result.stdout.split()[-1])


def running(client, pid):
    return client.run("kill -0 %s", str(pid)).rc == 0


def recorded(client, run_id, expected, timeout=60):
    """The numbers of the burst auditd wrote to the client's log."""
    return poll(lambda: expected <= recorded_by_kernel(client, run_id) and recorded_by_kernel(client, run_id),
                timeout) or recorded_by_kernel(client, run_id)


@pytest.mark.parametrize("protocol", ["tcp", "relp"])
def test_events_logged_while_the_server_is_away_all_arrive(client, server, audit_file, protocol):
    configure_client(client, protocol=protocol)
    run_id = unique("away-" + protocol)
    expected = set(range(1, BURST + 1))

    wait_until_forwarding(client, server, audit_file)
    stop_server(server)
    send_burst(client, run_id, BURST)
    assert recorded(client, run_id, expected) == expected, "the kernel and auditd did not record the whole burst"
    assert not server.service("rsyslog").is_running, "the server came back during the burst"
    assert sequence_numbers(server, audit_file, run_id) == []

    start_server(server)
    arrivals, seconds = wait_for_burst(server, audit_file, run_id, expected, timeout=180)
    report("server-away-" + protocol, sent=BURST, arrived=arrivals.unique, missing=len(arrivals.missing),
           duplicates=arrivals.duplicates, seconds_to_drain=seconds)
    assert arrivals.missing == [], "lost over %s: %d events, first %s" % (
        protocol, len(arrivals.missing), arrivals.missing[:10])
    assert arrivals.foreign == []


@pytest.mark.parametrize("protocol", ["relp", "tcp"])
def test_a_client_restart_in_the_middle_of_a_burst_loses_nothing(client, server, audit_file, protocol):
    configure_client(client, protocol=protocol)
    run_id = unique("restart-" + protocol)
    expected = set(range(1, BURST + 1))
    before = client_rsyslog_pid(client)

    runner = in_background(client, burst_command(run_id, BURST, per_second=1000), "paced_burst")
    assert poll(lambda: len(set(sequence_numbers(server, audit_file, run_id))) >= 2000, 60), \
        "the burst did not start arriving"
    at_restart = len(set(sequence_numbers(server, audit_file, run_id)))
    assert running(client, runner), "the burst ended before the restart: nothing was tested"
    restart_client_rsyslog(client)
    assert client_rsyslog_pid(client) not in (None, before)
    assert poll(lambda: not running(client, runner), 120), "the burst did not finish"

    kernel = recorded(client, run_id, expected, timeout=10)
    arrivals, seconds = wait_for_burst(server, audit_file, run_id, expected, timeout=120)
    report("client-restart-" + protocol, sent=BURST, arrived_before_restart=at_restart,
           recorded_by_kernel=len(kernel), arrived=arrivals.unique, missing=len(arrivals.missing),
           duplicates=arrivals.duplicates, seconds_to_drain=seconds)
    # rsyslog reads auditd's log from where it stopped: a restart loses nothing at all.
    assert kernel == expected, "the kernel and auditd did not record the whole burst"
    assert arrivals.missing == [], "lost across the restart: %d, first %s" % (
        len(arrivals.missing), arrivals.missing[:10])


def test_a_burst_while_the_server_is_away_waits_within_the_disk_cap_and_arrives_whole(client, server, audit_file):
    # the role's in-memory part (rsyslog does not support queues much under 100 events) and a
    # small disk cap
    configure_client(client, protocol="relp", queue_max_disk_space=DISK_CAP)
    run_id = unique("cap")
    count = 6000
    queue_bytes = ("find %s -maxdepth 1 -name '%s.*' -printf '%%s\\n' | awk '{s += $1} END {print s + 0}'"
                   % (CLIENT_SPOOL, QUEUE_FILE))

    def spool_size():
        return int(client.run_expect([0], queue_bytes).stdout)

    wait_until_forwarding(client, server, audit_file)
    stop_server(server)
    # 6000 events of about 1 KB, about 1.9 KB each in a queue's files: more than twice the cap
    client.run_expect([0], burst_command(run_id, count, padding=1000))
    expected = set(range(1, count + 1))
    assert recorded(client, run_id, expected) == expected, "the kernel and auditd did not record the whole burst"
    # rsyslog reads auditd's log only as fast as its queue takes the events: while the server
    # is away they wait in auditd's log, and the queue stays within its cap
    largest = 0
    for _sample in range(20):
        largest = max(largest, spool_size())
        time.sleep(1)
    assert not server.service("rsyslog").is_running

    start_server(server)
    arrivals, seconds = wait_for_burst(server, audit_file, run_id, expected, timeout=180, settle=5.0)
    left = spool_size()
    report("disk-cap", cap=DISK_CAP, largest_queue_bytes=largest, queue_bytes_after_drain=left, sent=count,
           arrived=arrivals.unique, missing=len(arrivals.missing), duplicates=arrivals.duplicates,
           seconds_to_drain=seconds)
    assert largest <= DISK_CAP_BYTES[1] + DISK_CAP_SLACK, "the queue grew past its cap: %d bytes" % largest
    # the burst (more than twice the cap) arrives whole once the server is back
    assert arrivals.missing == [], "lost while the server was away: %d, first %s" % (
        len(arrivals.missing), arrivals.missing[:10])
    # the queue's files are given back once read
    assert left < DISK_CAP_BYTES[0] / 2, "%d bytes still queued after the drain" % left


def test_udp_loss_is_measured(client, server, audit_file):
    configure_client(client, protocol="udp")
    run_id = unique("udp")
    expected = set(range(1, BURST + 1))
    send_burst(client, run_id, BURST)
    accepted = recorded(client, run_id, expected)
    # nothing says when UDP is done: wait until the file stops growing
    arrivals, seconds = wait_for_burst(server, audit_file, run_id, expected, timeout=60, settle=5.0, lossy=True)
    lost = len(arrivals.missing)
    report("udp-loss", sent=BURST, recorded_by_kernel=len(accepted), arrived=arrivals.unique, lost=lost,
           loss_percent=round(100.0 * lost / BURST, 2), duplicates=arrivals.duplicates, seconds_to_arrive=seconds)
    assert accepted == expected
    assert arrivals.unique > 0, "nothing arrived over udp"
    assert arrivals.foreign == []
