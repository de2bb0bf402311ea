"""Audit events in a burst, from the audit daemon's side of a sender to the log server's file:
the old path and the new one side by side, on systemd hosts.

Three systemd containers of the project's image: a log server (rsyslog_server) and two
audited hosts set up by linux_audit and rsyslog_client, one with Debian's rsyslog.conf and
one shaped as RHEL 8-10 ship it (imjournal, imuxsock's system socket off; from the corpus
beside the checkout).  Each path gets the same burst of real recorded audit events
(molecule/delivery/tests/audit_burst.py), as fast as it takes them:

  syslog plugin   auditd's syslog plugin program (audisp-syslog) run as a unit, the events on
                  its standard input as auditd hands them over; syslog(3) -> journald ->
                  rsyslog (journald's forwarding on Debian, imjournal on RHEL) -> the server
  auditd's log    the events written into auditd's log as auditd writes them (one write per
                  record, rotated at 16 MB); rsyslog reads the file (imfile) -> the server
                  (the writer stands in for auditd, which writes the log on both paths: its
                  CPU is not the path's)

For each it prints what arrived, the events per second from the first write to the last
arrival, and the CPU each sender process spent per event (the writer or plugin, journald,
rsyslogd).  Needs root, Docker and the local images (make images).  Not while the Molecule
scenario "delivery" runs (it uses the same image and ports, not the same names).

    python benchmarks/delivery_burst.py [--events 30000] [--paths syslog file]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import re
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.collection_path import collections_base  # noqa: E402
from tests.support.corpus import rhel_shaped_rsyslog_conf  # noqa: E402

IMAGE = os.environ.get("MOLECULE_IMAGE_1", "whotouched/debian-systemd:bookworm")
NETWORK = "whotouched-bench"
SERVER = "whotouched-bench-server"
CLIENTS = {"debian": "whotouched-bench-debian", "rhel": "whotouched-bench-rhel"}
TOOL = ROOT / "molecule" / "delivery" / "tests" / "audit_burst.py"
SCENARIO = ROOT / "molecule" / "delivery"
AUDIT_LOG = "/var/log/audit/audit.log"
TICKS_PER_SECOND = 100  # USER_HZ in /proc/PID/stat on Linux


def sh(*command: str, check: bool = True, **options) -> subprocess.CompletedProcess:
    result = subprocess.run(command, capture_output=True, text=True, check=False, **options)
    if check and result.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return result


def inside(container: str, command: str, check: bool = True) -> str:
    return sh("docker", "exec", container, "sh", "-c", command, check=check).stdout


def start_containers() -> None:
    sh("docker", "network", "create", NETWORK, check=False)
    for name in [SERVER, *CLIENTS.values()]:
        sh("docker", "rm", "-f", name, check=False)
        sh("docker", "run", "-d", "--name", name, "--hostname", name, "--network", NETWORK,
           "--cgroupns=host", "-v", "/sys/fs/cgroup:/sys/fs/cgroup:rw", "--tmpfs", "/run", "--tmpfs", "/tmp",
           "--cap-add", "SYS_ADMIN", "--cap-add", "NET_ADMIN", "--security-opt", "seccomp=unconfined",
           "--security-opt", "apparmor=unconfined", IMAGE, "/lib/systemd/systemd")
    for name in [SERVER, *CLIENTS.values()]:
        deadline = time.monotonic() + 60
        while inside(name, "systemctl is-system-running", check=False).strip() not in ("running", "degraded"):
            if time.monotonic() > deadline:
                raise SystemExit(f"{name} did not boot")
            time.sleep(1)
        # /tmp is a tmpfs in the container, where docker cp does not reach
        sh("docker", "exec", "-i", name, "sh", "-c", "cat > /tmp/audit_burst.py", input=TOOL.read_text())


def stop_containers() -> None:
    for name in [SERVER, *CLIENTS.values()]:
        sh("docker", "rm", "-f", name, check=False)
    sh("docker", "network", "rm", NETWORK, check=False)


def make_rhel_shaped(container: str, work: Path) -> None:
    conf = work / "rhel-rsyslog.conf"
    conf.write_text(rhel_shaped_rsyslog_conf(), encoding="utf-8")
    inside(container, "apt-get install -y -qq rsyslog >/dev/null && mkdir -p /var/lib/rsyslog")
    sh("docker", "cp", str(conf), f"{container}:/etc/rsyslog.conf")
    inside(container, "systemctl restart rsyslog")


def converge(work: Path, source: str) -> None:
    """The scenario's converge.yml and group_vars, with one audit source for the clients."""
    inventory = {"all": {"children": {
        "log_servers": {"hosts": {SERVER: {}}},
        "linux": {"hosts": {name: {} for name in CLIENTS.values()}},
    }, "vars": {"ansible_connection": "community.docker.docker",
                "ansible_python_interpreter": "/usr/bin/python3"}}}
    path = work / "inventory.json"
    path.write_text(json.dumps(inventory), encoding="utf-8")
    extra = {"rsyslog_client_target": SERVER, "rsyslog_client_audit_source": source,
             "linux_audit_syslog_plugin": source == "syslog"}
    playbook = Path(sys.executable).with_name("ansible-playbook")
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(collections_base()), ANSIBLE_NOCOLOR="1")
    sh(str(playbook), "-i", str(path), str(SCENARIO / "converge.yml"), "-e", json.dumps(extra), env=env)


def cpu_seconds(container: str, program: str) -> float:
    """CPU so far of the processes called ``program`` in the container."""
    text = inside(container, f"for pid in $(pidof {program}); do cat /proc/$pid/stat; done", check=False)
    total = 0
    for line in text.splitlines():
        fields = line.rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / TICKS_PER_SECOND


def stored_file(client: str) -> str:
    address = inside(SERVER, f"getent ahostsv4 {client}").split()[0]
    return f"/var/log/remote/{address}/audit.log"


def arrived(base: int, events: int, path: str) -> dict:
    return json.loads(inside(SERVER, f"python3 /tmp/audit_burst.py count {base} {events} {path}"))


# Runs a command and writes the CPU seconds it and its children used (the unit's journald
# identity stays the command's own: it is exec'd by Python as a child).
MEASURED = ("import resource, subprocess, sys; "
            "subprocess.run(sys.argv[2:], stdin=open(sys.argv[1]) if sys.argv[1] != '-' else None, check=True); "
            "usage = resource.getrusage(resource.RUSAGE_CHILDREN); "
            "print(usage.ru_utime + usage.ru_stime)")


def burst(client: str, source: str, events: int) -> dict:
    """One burst through one path; the figures."""
    base = 1900000000 + random.randrange(0, 90000000, 1000)
    path = stored_file(client)
    if source == "syslog":
        inside(client, f"python3 /tmp/audit_burst.py stdout {base} {events} > /tmp/burst.log")
        command = "/tmp/burst.log /sbin/audisp-syslog LOG_INFO LOG_LOCAL6"
        writer_program = "audisp-syslog"
    else:
        command = f"- python3 /tmp/audit_burst.py file {base} {events} {AUDIT_LOG} {16 << 20} 5"
        writer_program = "the writer"
    inside(client, f"printf '%s' {shlex.quote(MEASURED)} > /tmp/measured.py")
    writer = (f"systemd-run --wait --collect --unit=bench-{base} -p StandardOutput=file:/tmp/cpu-{base} "
              f"python3 /tmp/measured.py {command}")
    before = {name: cpu_seconds(client, name) for name in ("systemd-journald", "rsyslogd")}
    started = time.monotonic()
    inside(client, writer)
    writer_cpu = inside(client, f"cat /tmp/cpu-{base}", check=False).strip()
    last, last_change = None, time.monotonic()
    while True:
        found = arrived(base, events, path)
        now = time.monotonic()
        if found != last:
            last, last_change = found, now
        if (found["missing"] == 0 and now - last_change > 2) or now - last_change > 20:
            break
        time.sleep(1)
    after = {name: cpu_seconds(client, name) for name in ("systemd-journald", "rsyslogd")}
    kept = events - found["missing"]
    seconds = last_change - started
    return {
        "events": events, "arrived": kept, "lost_percent": round(100.0 * found["missing"] / events, 2),
        "events_per_second": round(kept / seconds) if seconds > 0 else None,
        "writer_us": float(writer_cpu) * 1e6 / events if re.fullmatch(r"[0-9.]+", writer_cpu) else None,
        "writer": writer_program,
        "journald_us": (after["systemd-journald"] - before["systemd-journald"]) * 1e6 / events,
        "rsyslogd_us": (after["rsyslogd"] - before["rsyslogd"]) * 1e6 / events,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=30000, help="events per burst (7 records each)")
    parser.add_argument("--paths", nargs="+", choices=["syslog", "file"], default=["syslog", "file"])
    args = parser.parse_args()
    if os.geteuid() != 0 or sh("docker", "info", check=False).returncode != 0:
        print("needs root and a Docker engine that answers (make engine)", file=sys.stderr)
        return 2
    results = {}
    with tempfile.TemporaryDirectory(prefix="delivery-burst-") as work_dir:
        work = Path(work_dir)
        try:
            start_containers()
            make_rhel_shaped(CLIENTS["rhel"], work)
            for source in args.paths:
                converge(work, source)
                for shape, client in CLIENTS.items():
                    results[source, shape] = burst(client, source, args.events)
        finally:
            stop_containers()
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    print(f"machine: {os.cpu_count()} cores, {cpu}, kernel {platform.release()}, "
          f"load average {os.getloadavg()[0]:.2f} at the end")
    print(f"{args.events} events of 7 records per burst (PATH records dropped by the noise filters)")
    print(f"{'path':14s} {'rsyslog.conf':12s} {'arrived':>8s} {'lost %':>7s} {'events/s':>9s} "
          f"{'plugin us':>9s} {'journald us':>11s} {'rsyslogd us':>11s}  (CPU per event)")
    names = {"syslog": "syslog plugin", "file": "auditd's log"}
    for (source, shape), figures in results.items():
        writer = (f"{figures['writer_us']:9.1f}" if source == "syslog" and figures["writer_us"] is not None
                  else f"{'-':>9s}")
        print(f"{names[source]:14s} {shape:12s} {figures['arrived']:8d} {figures['lost_percent']:7.2f} "
              f"{figures['events_per_second'] or 0:9d} {writer} {figures['journald_us']:11.1f} "
              f"{figures['rsyslogd_us']:11.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
