"""What the pipeline scenario's verifiers share: the two platforms, the kernel's records on
the client, bursts of numbered events and how many of them reached the server."""

import json
import os
import re
import shlex
import time
from collections import Counter
from pathlib import Path

from verify_support import as_logged_in_user, poll, run_playbook, unique  # noqa: F401

CLIENT = "pipeline-client"
SERVER = "pipeline-server"
# The client's ordinary login user (prepare.yml).
ALICE = 1001
SCENARIO_DIR = Path(__file__).resolve().parents[1]
SERVER_LOG_DIR = "/var/log/remote"
# auditd's log on the client: what the kernel recorded, and what the client's rsyslog reads.
CLIENT_AUDIT_LOG = "/var/log/audit/audit.log"
CLIENT_SPOOL = "/var/spool/rsyslog"
QUEUE_FILE = "whotouched_audit_fwd"
# The settings converge.yml leaves (group_vars/linux.yml and the role's defaults).
CONVERGED = {"protocol": "tcp", "queue_size": 50000, "queue_max_disk_space": "1g"}


def sender_directory(server):
    """The server's directory of the client's events: the address the client connects from,
    as the server resolves the client's container name on the scenario's network."""
    resolved = server.run("getent ahostsv4 %s", CLIENT)
    assert resolved.rc == 0, "the server does not resolve %s: %s" % (CLIENT, resolved.stderr)
    return "%s/%s" % (SERVER_LOG_DIR, resolved.stdout.split()[0])


# --- the kernel's own records on the client ------------------------------------------------

def run_on_client(client, command, **user):
    """Run ``command`` on the client as the logged-in user alice (``run_as=0``: through
    sudo, as in verify_support.as_logged_in_user); its process id."""
    result = client.run(as_logged_in_user(command, uid=ALICE, **user))
    assert result.rc == 0, result.stderr
    return int(result.stdout.split()[0])


def kernel_serial(client, pid, record_pattern, timeout=20):
    """The serial (``1700000000.123:42``) of the event whose SYSCALL record in the client's
    audit.log carries process id ``pid`` and matches ``record_pattern``."""
    pattern = re.compile(r"^type=SYSCALL msg=audit\(([0-9.]+:[0-9]+)\):.* pid=%d .*%s" % (pid, record_pattern))

    def probe():
        for line in client.run("grep -a -- ' pid=%s ' %s", str(pid), CLIENT_AUDIT_LOG).stdout.splitlines():
            match = pattern.search(line)
            if match:
                return match.group(1)
        return None

    serial = poll(probe, timeout)
    assert serial, "the kernel recorded no event of pid %d matching %r in %s" % (pid, record_pattern, CLIENT_AUDIT_LOG)
    return serial


def server_records(server, path, serial):
    """The lines of ``path`` on the server that belong to the audit event ``serial``."""
    result = server.run("grep -aF -- %s %s", "msg=audit(%s):" % serial, path)
    return result.stdout.splitlines()


# --- bursts of numbered events -------------------------------------------------------------

def burst_command(run_id, count, padding=0, per_second=0):
    """A shell loop the login user alice runs on the client: ``count`` programs, each its own
    execve that the kernel records (``/bin/true burst=RUN seq=N``, the numbered argument in
    its EXECVE record), each argument list ``padding`` bytes longer; at most ``per_second``
    programs a second when it is not 0."""
    pad = (" " + "x" * padding) if padding else ""
    pace = ("; [ $((n %% 100)) -eq 0 ] && sleep %.3f" % (100.0 / per_second)) if per_second else ""
    loop = "n=0; while [ $n -lt %d ]; do n=$((n + 1)); /bin/true burst=%s seq=$n%s%s; done" % (
        count, run_id, pad, pace)
    return as_logged_in_user("sh -c %s" % shlex.quote(loop), uid=ALICE)


def wait_until_forwarding(client, server, audit_file, timeout=60):
    """Run one numbered program on the client and wait until the server has stored it: the
    client's forwarding is connected and working."""
    run_id = unique("hello")
    send_burst(client, run_id, 1)
    assert poll(lambda: sequence_numbers(server, audit_file, run_id), timeout), \
        "the client's events do not reach %s" % audit_file


def send_burst(client, run_id, count):
    """Run ``count`` numbered programs on the client and wait until they have run."""
    client.run_expect([0], burst_command(run_id, count))


def sequence_numbers(host, path, run_id):
    """Every sequence number of burst ``run_id`` in the EXECVE records of ``path``,
    duplicates included."""
    result = host.run("grep -aoE -- %s %s", r'a1="burst=%s" a2="seq=[0-9]+"' % run_id, path)
    return [int(found.rsplit("=", 1)[1].strip('"')) for found in result.stdout.splitlines()]


def recorded_by_kernel(client, run_id):
    """The numbers of burst ``run_id`` auditd wrote to the client's logs (the kernel recorded)."""
    result = client.run("cat %s* | grep -aoE -- %s" % (
        CLIENT_AUDIT_LOG, shlex.quote(r'a1="burst=%s" a2="seq=[0-9]+"' % run_id)))
    return {int(found.rsplit("=", 1)[1].strip('"')) for found in result.stdout.splitlines()}


class Arrivals:
    """What of a burst reached a file: ``expected`` is the set of sequence numbers sent."""

    def __init__(self, numbers, expected):
        self.counts = Counter(numbers)
        self.expected = set(expected)

    @property
    def unique(self):
        return len(self.counts)

    @property
    def duplicates(self):
        return sum(self.counts.values()) - len(self.counts)

    @property
    def missing(self):
        return sorted(self.expected - set(self.counts))

    @property
    def foreign(self):
        """Numbers that were never sent (a garbled or foreign line)."""
        return sorted(set(self.counts) - self.expected)


def wait_for_burst(host, path, run_id, expected, timeout, settle=3.0, lossy=False):
    """The arrivals of a burst once every number of ``expected`` is there (or ``timeout``
    passed), and once the file has stopped growing for ``settle`` seconds, so that late
    duplicates are counted too.  ``lossy``: also stop when the file has stopped growing for
    ``settle`` seconds before everything came (udp).  Returns (arrivals, seconds from the
    call to the last new event)."""
    expected = set(expected)
    start = time.monotonic()
    deadline = start + timeout
    seen, last_growth = -1, start
    while True:
        numbers = sequence_numbers(host, path, run_id)
        now = time.monotonic()
        if len(numbers) != seen:
            seen, last_growth = len(numbers), now
        complete = expected <= set(numbers)
        if ((complete or (lossy and seen > 0)) and now - last_growth >= settle) or now >= deadline:
            return Arrivals(numbers, expected), round(last_growth - start, 1)
        time.sleep(0.5 if complete else 1.0)


def report(name, **figures):
    """Print the measured figures, and keep them in the scenario's ephemeral directory."""
    line = "pipeline figures %s: %s" % (name, json.dumps(figures, sort_keys=True))
    print("\n" + line)
    ephemeral = os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY")
    if ephemeral:
        with open(os.path.join(ephemeral, "pipeline-figures.jsonl"), "a", encoding="utf-8") as figures_file:
            figures_file.write(json.dumps(dict(figures, test=name), sort_keys=True) + "\n")


# --- the services ----------------------------------------------------------------------------

def stop_server(server):
    """Stop the server's rsyslog, and its socket: systemd would start it again on the next
    local log line through syslog.socket."""
    server.run_expect([0], "systemctl stop syslog.socket rsyslog.service")
    assert not server.service("rsyslog").is_running


def start_server(server):
    server.run_expect([0], "systemctl start rsyslog.service")


def client_rsyslog_pid(client):
    """The client's rsyslogd (no systemd there: the init script's pid file)."""
    result = client.run("cat /run/rsyslogd.pid")
    return int(result.stdout) if result.rc == 0 and result.stdout.strip().isdigit() else None


def restart_client_rsyslog(client):
    client.run_expect([0], "service rsyslog restart")


# --- the client's forwarding settings ----------------------------------------------------------

def client_settings(client):
    """The protocol, queue size and disk cap of the client's forwarding drop-in."""
    text = client.file("/etc/rsyslog.d/20-whotouched-audit-forward.conf").content_string
    protocol = "relp" if 'type="omrelp"' in text else re.search(r'protocol="(\w+)"', text).group(1)
    return {"protocol": protocol,
            "queue_size": int(re.search(r'queue\.size="(\d+)"', text).group(1)),
            "queue_max_disk_space": re.search(r'queue\.maxDiskSpace="([^"]+)"', text).group(1)}


def configure_client(client, **settings):
    """Re-run the rsyslog_client role on the client (client.yml, with the scenario's
    group_vars) with other settings, as a user would; only when they differ from the
    running ones.  Waits until the restarted rsyslog listens on /dev/log."""
    wanted = dict(CONVERGED, **settings)
    if client_settings(client) == wanted:
        return
    extra_vars = {"rsyslog_client_%s" % name: value for name, value in wanted.items()}
    run_playbook(SCENARIO_DIR / "client.yml", extra_vars)
    assert client_settings(client) == wanted
    assert poll(lambda: client.socket("unix:///dev/log").is_listening or client.file("/dev/log").exists, 30)
