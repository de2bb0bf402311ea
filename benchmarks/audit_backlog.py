"""The kernel's audit backlog in a burst: what each backlog limit and wait time loses.

linux_audit sets the kernel's queue of records for auditd (``-b``) and how long a process
waits when it is full (``--backlog_wait_time``).  This runs a burst of processes from two
shells at once (both cores) with an auditd of its own writing the log, under the role's rule
set, for several limits, with the role's wait time and with none, and prints what the kernel
counted as lost, how long processes waited for room (``backlog_wait_time_actual``), and the
burst's wall time.  A second round does the same while auditd is held back (SIGSTOP for a
moment, as when the disk stalls) to show what the wait buys.

Needs root in the initial PID namespace, the audit userspace and no other auditd running;
restores the kernel's settings and rules afterwards.  Run it under the kernel lock:

    flock /run/whotouched-kernel.lock python benchmarks/audit_backlog.py [--processes 20000]
"""

from __future__ import annotations

import argparse
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from linux_audit_exec_cost import Auditd, log_sink, role_configuration, run  # noqa: E402

LIMITS = (64, 320, 1024, 8192, 32768)
WAITS = (0, 60000)
STALL_SECONDS = 1.0


def kernel_status() -> dict[str, int]:
    text = run("auditctl", "-s").stdout
    return {line.split()[0]: int(line.split()[1]) for line in text.splitlines()
            if len(line.split()) >= 2 and line.split()[1].isdigit()}


def burst(processes: int, stall: Auditd | None) -> float:
    """``processes`` runs of /bin/true from two shells at once; the wall seconds.  With
    ``stall``, that auditd is stopped for STALL_SECONDS in the middle."""
    script = f"i=0; while [ $i -lt {processes // 2} ]; do /bin/true; i=$((i+1)); done"
    start = time.perf_counter()
    shells = [subprocess.Popen(["sh", "-c", script]) for _shell in range(2)]
    if stall:
        time.sleep(0.2)
        stall.process.send_signal(signal.SIGSTOP)
        time.sleep(STALL_SECONDS)
        stall.process.send_signal(signal.SIGCONT)
    for shell in shells:
        shell.wait()
    return time.perf_counter() - start


def measure(work: Path, rules: list[str], auditd: dict, limit: int, wait: int, processes: int,
            stalled: bool) -> dict:
    daemon = Auditd(work, auditd, syslog_plugin=False)
    try:
        run("auditctl", "-D")
        for rule in rules:
            if not rule.startswith(("-b", "--backlog_wait_time")):
                run("auditctl", *rule.split(), check=False)
        run("auditctl", "-b", str(limit), "--backlog_wait_time", str(wait))
        run("auditctl", "--reset_backlog_wait_time_actual", check=False)
        before = kernel_status()
        wall = burst(processes, daemon if stalled else None)
        time.sleep(0.5)
        after = kernel_status()
        run("auditctl", "-D")
        return {"lost": after["lost"] - before["lost"], "wall": wall,
                "waited": after.get("backlog_wait_time_actual", 0)}
    finally:
        daemon.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", type=int, default=20000)
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("needs root and the audit userspace", file=sys.stderr)
        return 2
    status = kernel_status()
    if status.get("enabled") == 2 or status.get("pid", 0) != 0:
        print("the kernel's rules are locked or an auditd is running: this needs its own", file=sys.stderr)
        return 2
    rules_before = run("auditctl", "-l").stdout
    results = {}
    with tempfile.TemporaryDirectory(prefix="audit-backlog-") as work_dir:
        work = Path(work_dir)
        sink, port = log_sink(work)
        try:
            configured = role_configuration(work, port)
            settings = {key: str(value) for key, value in configured["auditd"].items()}
            run("auditctl", "-e", "1")
            for stalled in (False, True):
                for wait in WAITS:
                    for limit in LIMITS:
                        results[stalled, wait, limit] = measure(
                            work, configured["rules"], settings, limit, wait, args.processes, stalled)
        finally:
            sink.stop()
            run("auditctl", "-D", check=False)
            for line in rules_before.splitlines():
                if line.strip() and line.strip() != "No rules":
                    run("auditctl", *line.split(), check=False)
            run("auditctl", "-b", str(status["backlog_limit"]), "--backlog_wait_time",
                str(status.get("backlog_wait_time", 60000)), "-e", str(status["enabled"]), check=False)
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    print(f"machine: {os.cpu_count()} cores, {cpu}, kernel {platform.release()}")
    print(f"{args.processes} processes of /bin/true from two shells, the role's rules and auditd settings")
    print(f"{'auditd':9s} {'wait':>6s} {'backlog':>7s} {'lost':>7s} {'waited':>7s} {'wall s':>7s}")
    for (stalled, wait, limit), figures in results.items():
        print(f"{'stalled' if stalled else 'running':9s} {wait:6d} {limit:7d} {figures['lost']:7d} "
              f"{figures['waited']:7d} {figures['wall']:7.2f}")
    print("lost: records the kernel dropped; waited: the kernel's backlog_wait_time_actual")
    return 0


if __name__ == "__main__":
    sys.exit(main())
