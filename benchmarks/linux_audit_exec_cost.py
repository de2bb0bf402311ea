"""What auditing every command costs: an exec-heavy workload under three rule sets.

Runs N short processes (a shell loop of /bin/true) with auditd writing the events, under
  none  - auditing on, no rules
  seed  - the article's plain execve rules and file watches
  role  - the linux_audit role's default rule set (composed by the role's own variables)
in interleaved rounds, and prints the median time of each and the ratios.  Needs root in
the initial PID namespace and the audit userspace; restores the kernel's rules and
enabled flag afterwards.  Goal: role <= seed, and role < 1.10 x none.

    python benchmarks/linux_audit_exec_cost.py [--processes 20000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

SEED_RULES = [
    "-a always,exit -F arch=b64 -S execve -k exec",
    "-a always,exit -F arch=b32 -S execve -k exec",
    "-w /etc/crontab -p wa -k crontab",
    "-w /etc/hosts -p wa -k hosts",
    "-w /etc/hosts.allow -p wa -k hosts-allow",
    "-w /etc/hosts.deny -p wa -k hosts-deny",
    "-w /etc/fstab -p wa -k fstab",
    "-w /etc/passwd -p wa -k passwd",
    "-w /etc/shadow -p wa -k shadow",
    "-w /etc/group -p wa -k group",
]


def run(*command: str, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if check and result.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{result.stdout}\n{result.stderr}")
    return result


def role_default_rules() -> list[str]:
    """The role's default rule set, composed by the role's own defaults and vars."""
    with tempfile.TemporaryDirectory() as work:
        out = Path(work) / "rules.json"
        play = Path(work) / "play.yml"
        play.write_text(json.dumps([{
            "hosts": "localhost", "connection": "local", "gather_facts": False,
            "vars_files": [str(ROOT / "roles/linux_audit/defaults/main.yml"),
                           str(ROOT / "roles/linux_audit/vars/main.yml")],
            "tasks": [{"ansible.builtin.copy": {"content": "{{ linux_audit_rules | to_json }}",
                                                "dest": str(out), "mode": "0600"}}],
        }]))
        ansible_playbook = shutil.which("ansible-playbook", path=str(Path(sys.executable).parent)) \
            or "ansible-playbook"
        run(ansible_playbook, "-i", "localhost,", "-e", f"ansible_python_interpreter={sys.executable}",
            str(play))
        return json.loads(out.read_text())


def load(rules: list[str]) -> None:
    run("auditctl", "-D")
    for rule in rules:
        # A watch on a path missing here is refused by the kernel; the rest still load.
        run("auditctl", *rule.split(), check=False)


def workload(processes: int) -> float:
    script = f"i=0; while [ $i -lt {processes} ]; do /bin/true; i=$((i+1)); done"
    start = time.perf_counter()
    run("sh", "-c", script)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    if os.geteuid() != 0 or not shutil.which("auditctl") or not shutil.which("auditd"):
        print("needs root and the audit userspace (auditctl, auditd)", file=sys.stderr)
        return 2

    status = run("auditctl", "-s").stdout
    enabled_before = status.split("enabled ")[1].split()[0]
    if enabled_before == "2":
        print("the kernel's audit rules are immutable (-e 2): reboot first", file=sys.stderr)
        return 2
    rules_before = run("auditctl", "-l").stdout
    rule_sets = {"none": [], "seed": SEED_RULES, "role": role_default_rules()}
    timings: dict[str, list[float]] = {name: [] for name in rule_sets}
    started_daemon = None
    try:
        if int(status.split("pid ")[1].split()[0]) == 0:
            started_daemon = subprocess.Popen(["auditd", "-n"], stdout=subprocess.DEVNULL,
                                              stderr=subprocess.DEVNULL)
            time.sleep(1.5)
        run("auditctl", "-e", "1")
        workload(min(2000, args.processes))  # warm the page cache
        for round_number in range(args.rounds):
            names = list(rule_sets)
            if round_number % 2:
                names.reverse()
            for name in names:
                load(rule_sets[name])
                timings[name].append(workload(args.processes))
    finally:
        run("auditctl", "-D", check=False)
        for line in rules_before.splitlines():
            if line.strip() and line.strip() != "No rules":
                run("auditctl", *line.split(), check=False)
        run("auditctl", "-e", enabled_before, check=False)
        if started_daemon is not None:
            started_daemon.send_signal(signal.SIGTERM)
            started_daemon.wait(timeout=20)

    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    print(f"machine: {os.cpu_count()} cores, {cpu}, kernel {platform.release()}")
    print(f"workload: {args.processes} processes (/bin/true from a shell loop), "
          f"{args.rounds} interleaved rounds, auditd writing the events")
    median = {name: statistics.median(values) for name, values in timings.items()}
    for name in rule_sets:
        rate = args.processes / median[name]
        print(f"  {name:5s} {len(rule_sets[name]):3d} rules  median {median[name]:7.3f} s  "
              f"{rate:8.0f} processes/s  rounds {', '.join(f'{v:.3f}' for v in timings[name])}")
    print(f"ratio role/seed  {median['role'] / median['seed']:.3f}  (goal <= 1.0 within noise)")
    print(f"ratio role/none  {median['role'] / median['none']:.3f}  (goal < 1.10)")
    print(f"ratio seed/none  {median['seed'] / median['none']:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
