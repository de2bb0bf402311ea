"""Reliability of the forwarding, measured with bursts of numbered events logged under the
audit plugin's program name and facility (each number sent once, so what arrived can be
counted exactly, duplicates included).

The client's protocol and queue are switched by re-running the rsyslog_client role with
other variables (client.yml), the way a user changes them; each test sets what it needs.
The tests run in file order so that the role runs as few times as possible.
"""

import time

import pytest

from pipeline_support import (
    CLIENT_LOCAL_LOG,
    CLIENT_SPOOL,
    QUEUE_FILE,
    burst_command,
    client_rsyslog_pid,
    configure_client,
    poll,
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
# is several of the queue's 1 MiB files: rsyslog frees disk space a whole file at a time,
# so a cap of one file leaves the disk part full for good once it has been reached.
DISK_CAP = "4m"
DISK_CAP_BYTES = (4 * 1000 * 1000, 4 * 1024 * 1024)
DISK_CAP_SLACK = 64 * 1024

# a sender on the client that retries until /dev/log takes each event, paced, so that a
# restart of rsyslog falls in the middle of the burst
PACED_SENDER = r'''
import socket, sys, time
run_id, count, rate = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
sock, retries, start = None, 0, time.monotonic()
for number in range(1, count + 1):
    data = ("<182>%s audisp-syslog: burst=%s seq=%d" % (time.strftime("%b %e %H:%M:%S"), run_id, number)).encode()
    while True:
        try:
            if sock is None:
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
                sock.connect("/dev/log")
            sock.send(data)
            break
        except OSError:
            retries += 1
            if sock is not None:
                sock.close()
            sock = None
            time.sleep(0.01)
    delay = start + number / rate - time.monotonic()
    if delay > 0:
        time.sleep(delay)
print("done retries=%d" % retries, flush=True)
'''


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


def accepted_by_client(client, run_id, expected, timeout=60):
    """The numbers of the burst the client's rsyslog has taken (written to its local log)."""
    return set(poll(lambda: expected <= set(sequence_numbers(client, CLIENT_LOCAL_LOG, run_id))
                    and sequence_numbers(client, CLIENT_LOCAL_LOG, run_id), timeout)
               or sequence_numbers(client, CLIENT_LOCAL_LOG, run_id))


@pytest.mark.parametrize("protocol", ["tcp", "relp"])
def test_events_logged_while_the_server_is_away_all_arrive(client, server, audit_file, protocol):
    configure_client(client, protocol=protocol)
    run_id = unique("away-" + protocol)
    expected = set(range(1, BURST + 1))

    wait_until_forwarding(client, server, audit_file)
    stop_server(server)
    send_burst(client, run_id, BURST)
    assert accepted_by_client(client, run_id, expected) == expected, "the client's rsyslog did not take the whole burst"
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
def test_a_client_restart_in_the_middle_of_a_burst_loses_nothing_it_had_taken(client, server, audit_file, protocol):
    configure_client(client, protocol=protocol)
    run_id = unique("restart-" + protocol)
    expected = set(range(1, BURST + 1))
    client.run_expect([0], "printf %s %s > /tmp/paced_sender.py", "%s", PACED_SENDER)
    before = client_rsyslog_pid(client)

    sender = in_background(client, "python3 /tmp/paced_sender.py %s %d 2000" % (run_id, BURST), "paced_sender")
    assert poll(lambda: len(set(sequence_numbers(server, audit_file, run_id))) >= 2000, 60), \
        "the burst did not start arriving"
    at_restart = len(set(sequence_numbers(server, audit_file, run_id)))
    assert running(client, sender), "the burst ended before the restart: nothing was tested"
    restart_client_rsyslog(client)
    assert client_rsyslog_pid(client) not in (None, before)
    assert poll(lambda: not running(client, sender), 120), "the sender did not finish"
    assert "done" in client.file("/tmp/paced_sender.out").content_string

    accepted = accepted_by_client(client, run_id, expected, timeout=10)
    arrivals, seconds = wait_for_burst(server, audit_file, run_id, accepted, timeout=120)
    report("client-restart-" + protocol, sent=BURST, arrived_before_restart=at_restart, taken_by_client=len(accepted),
           lost_at_dev_log=BURST - len(accepted), arrived=arrivals.unique, missing=len(arrivals.missing),
           duplicates=arrivals.duplicates, seconds_to_drain=seconds)
    # What rsyslog had taken (in memory or in its queue) survives the restart.  Datagrams
    # still in /dev/log's buffer when rsyslogd closes it are lost before rsyslog sees them:
    # counted above, not a loss of the forwarding.
    assert arrivals.missing == [], "taken by the client but lost: %d, first %s" % (
        len(arrivals.missing), arrivals.missing[:10])
    assert len(accepted) >= BURST * 0.95


def test_the_queue_stops_at_its_disk_cap_and_drains_when_the_server_returns(client, server, audit_file):
    # a small in-memory part, so the queue spills to disk at once
    configure_client(client, protocol="relp", queue_size=100, queue_max_disk_space=DISK_CAP)
    run_id = unique("cap")
    count = 6000
    queue_bytes = ("find %s -maxdepth 1 -name '%s.*' -printf '%%s\\n' | awk '{s += $1} END {print s + 0}'"
                   % (CLIENT_SPOOL, QUEUE_FILE))

    def spool_size():
        return int(client.run_expect([0], queue_bytes).stdout)

    wait_until_forwarding(client, server, audit_file)
    stop_server(server)
    # 6000 events of about 1 KB, about 1.9 KB each in the queue's files: more than twice the cap
    sender = in_background(client, burst_command(run_id, count, padding=1000), "cap_sender")
    assert poll(lambda: spool_size() >= DISK_CAP_BYTES[0] * 0.9, 120), \
        "the queue never reached its cap: %d bytes" % spool_size()
    largest = 0
    for _sample in range(6):
        largest = max(largest, spool_size())
        time.sleep(1)
    assert not server.service("rsyslog").is_running
    held_back = count - len(set(sequence_numbers(client, CLIENT_LOCAL_LOG, run_id)))

    start_server(server)
    assert poll(lambda: not running(client, sender), 180), "the sender did not finish after the server returned"
    arrivals, seconds = wait_for_burst(server, audit_file, run_id, range(1, count + 1), timeout=120, settle=5.0, lossy=True)
    accepted = set(sequence_numbers(client, CLIENT_LOCAL_LOG, run_id))
    left = spool_size()
    report("disk-cap", cap=DISK_CAP, largest_queue_bytes=largest, queue_bytes_after_drain=left, sent=count, waiting_in_memory_at_cap=held_back,
           taken_by_client=len(accepted), arrived=arrivals.unique, dropped_at_cap=len(accepted - set(arrivals.counts)),
           duplicates=arrivals.duplicates, seconds_to_drain=seconds)
    assert largest <= DISK_CAP_BYTES[1] + DISK_CAP_SLACK, "the queue grew past its cap: %d bytes" % largest
    # Past the cap, events wait in memory until the server returns: most of the burst
    # arrives, although the queue refuses one event each time an enqueue times out.
    assert held_back > 0, "the whole burst went through: the cap was never binding"
    # the queue's files are given back once read
    assert left < DISK_CAP_BYTES[0] / 2, "%d bytes still queued after the drain" % left
    assert arrivals.unique >= count / 2, "only %d of %d arrived" % (arrivals.unique, count)


def test_udp_loss_is_measured(client, server, audit_file):
    configure_client(client, protocol="udp")
    run_id = unique("udp")
    expected = set(range(1, BURST + 1))
    send_burst(client, run_id, BURST)
    accepted = accepted_by_client(client, run_id, expected)
    # nothing says when UDP is done: wait until the file stops growing
    arrivals, seconds = wait_for_burst(server, audit_file, run_id, expected, timeout=60, settle=5.0, lossy=True)
    lost = len(arrivals.missing)
    report("udp-loss", sent=BURST, taken_by_client=len(accepted), arrived=arrivals.unique, lost=lost,
           loss_percent=round(100.0 * lost / BURST, 2), duplicates=arrivals.duplicates, seconds_to_arrive=seconds)
    assert accepted == expected
    assert arrivals.unique > 0, "nothing arrived over udp"
    assert arrivals.foreign == []
