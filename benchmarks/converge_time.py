"""How long a converge takes, and how many times it reaches the host: first run and rerun.

Each side is applied with the real ``ansible-playbook`` to fresh systemd containers of the
project's image (the ``community.docker.docker`` connection, Ansible's defaults otherwise), on
which the packages every side installs are there beforehand (auditd, audispd-plugins,
rsyslog, logrotate), as the comparison in the README measured its anchors:

  linux_audit            the role alone, its default rules (over 40 watches)
  linux_audit 5 watches  the same with only the first 5 watches: the time is flat in the watches
  rsyslog_client         the role alone, forwarding to 127.0.0.1
  rsyslog_server         the role alone, its default inputs
  site.yml               playbooks/site.yml for one Linux server (linux_audit + rsyslog_client),
                         as the README's table measured it

The single-role plays leave fact gathering to the role (``gather_facts: false``: it gathers
the subset it reads); site.yml gathers its own subset.  For each side and round a container
of its own; the rounds interleave the sides, so that a noisy neighbour slows them alike.
Printed per side, as medians: wall time of ``ansible-playbook`` for the first converge and
the rerun (which must change nothing), the tasks that ran and were skipped, the modules run on
the host and the commands sent into the container (``docker exec``, each one a round trip to
the host; Ansible without pipelining sends about five per module).  Needs root, Docker and the
local images (make images).

    python benchmarks/converge_time.py [--rounds 3] [--sides linux_audit site] [--pipelining]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.collection_path import collections_base  # noqa: E402

IMAGE = os.environ.get("MOLECULE_IMAGE_1", "whotouched/debian-systemd:bookworm")
PREFIX = "whotouched-converge"
PACKAGES = "auditd audispd-plugins rsyslog logrotate"
DEFAULT_WATCHES = [rule for rule in (ROOT / "roles/linux_audit/defaults/main.yml").read_text().splitlines()
                   if rule.strip().startswith("- -w ")]


def role_play(role: str) -> list:
    return [{"name": "Converge " + role, "hosts": "all", "gather_facts": False,
             "roles": ["whotouched.server_audit." + role]}]


# name: (playbook, inventory group, extra vars)
SIDES = {
    "linux_audit": (role_play("linux_audit"), "linux", {}),
    "linux_audit 5 watches": (role_play("linux_audit"), "linux", {
        "linux_audit_watch_rules": [rule.strip()[2:] for rule in DEFAULT_WATCHES[:5]]}),
    "rsyslog_client": (role_play("rsyslog_client"), "linux", {"rsyslog_client_target": "127.0.0.1"}),
    "rsyslog_server": (role_play("rsyslog_server"), "log_servers", {}),
    "site.yml": (str(ROOT / "playbooks" / "site.yml"), "linux", {"rsyslog_client_target": "127.0.0.1"}),
}
SHORT = {"linux_audit": "linux_audit", "linux_audit 5 watches": "linux_audit5",
         "rsyslog_client": "rsyslog_client", "rsyslog_server": "rsyslog_server", "site.yml": "site"}

# Every docker command the connection runs, one line each, through a wrapper first on PATH.
DOCKER_WRAPPER = """#!/bin/sh
printf '%s\\n' "$*" >> "$WHOTOUCHED_DOCKER_LOG"
exec {docker} "$@"
"""


# The command that runs a module: its AnsiballZ file, or (pipelining) Python reading stdin;
# with become, inside the quoted sudo command line.
MODULE_RUN = re.compile(r"/usr/bin/python3(?: \S*AnsiballZ_\w+\.py)?['\"]*\s*&& sleep 0")


def sh(*command: str, check: bool = True, **options) -> subprocess.CompletedProcess:
    result = subprocess.run(command, capture_output=True, text=True, check=False, **options)
    if check and result.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return result


def start_container(name: str) -> None:
    """A fresh systemd container with the packages every side installs already there."""
    sh("docker", "rm", "-f", name, check=False)
    sh("docker", "run", "-d", "--name", name, "--hostname", name, "--cgroupns=host",
       "-v", "/sys/fs/cgroup:/sys/fs/cgroup:rw", "--tmpfs", "/run", "--tmpfs", "/tmp",
       "--cap-add", "SYS_ADMIN", "--cap-add", "NET_ADMIN", "--security-opt", "seccomp=unconfined",
       "--security-opt", "apparmor=unconfined", IMAGE, "/lib/systemd/systemd")
    deadline = time.monotonic() + 90
    while sh("docker", "exec", name, "systemctl", "is-system-running", check=False).stdout.strip() \
            not in ("running", "degraded"):
        if time.monotonic() > deadline:
            raise SystemExit(f"{name} did not boot")
        time.sleep(1)
    sh("docker", "exec", name, "sh", "-c",
       f"apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq {PACKAGES} >/dev/null")


def converge(work: Path, side: str, container: str, pipelining: bool) -> dict:
    playbook, group, extra = SIDES[side]
    if isinstance(playbook, list):
        path = work / f"{SHORT[side]}.json"
        path.write_text(json.dumps(playbook), encoding="utf-8")
        playbook = str(path)
    inventory = work / f"{container}.json"
    inventory.write_text(json.dumps({"all": {
        "children": {group: {"hosts": {container: {}}}},
        "vars": {"ansible_connection": "community.docker.docker",
                 "ansible_python_interpreter": "/usr/bin/python3"}}}), encoding="utf-8")
    log = work / f"{container}.docker.log"
    log.write_text("")
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(collections_base()), ANSIBLE_NOCOLOR="1",
               ANSIBLE_PIPELINING=str(pipelining), WHOTOUCHED_DOCKER_LOG=str(log),
               PATH=f"{work / 'bin'}{os.pathsep}{os.environ['PATH']}")
    started = time.monotonic()
    result = sh(str(Path(sys.executable).with_name("ansible-playbook")), "-i", str(inventory), playbook,
                "-e", json.dumps(extra), env=env, check=False)
    seconds = time.monotonic() - started
    if result.returncode != 0:
        raise SystemExit(f"{side} on {container} failed:\n{result.stdout[-4000:]}")
    recap = re.search(r"ok=(\d+)\s+changed=(\d+)\s+unreachable=\d+\s+failed=\d+\s+skipped=(\d+)", result.stdout)
    calls = log.read_text().splitlines()
    execs = [call for call in calls if call.startswith("exec ")]
    return {"seconds": seconds, "ran": int(recap.group(1)), "changed": int(recap.group(2)),
            "skipped": int(recap.group(3)), "execs": len(execs),
            "modules": sum(1 for call in execs if MODULE_RUN.search(call))}


def median(runs: list, key: str) -> float:
    return statistics.median(run[key] for run in runs)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--sides", nargs="+", choices=list(SIDES), default=list(SIDES))
    parser.add_argument("--pipelining", action="store_true",
                        help="run every side a second time with Ansible's pipelining on")
    args = parser.parse_args()
    if os.geteuid() != 0 or sh("docker", "info", check=False).returncode != 0:
        print("needs root and a Docker engine that answers (make engine)", file=sys.stderr)
        return 2
    variants = [(side, False) for side in args.sides]
    if args.pipelining:
        variants += [(side, True) for side in args.sides]
    runs = {variant: {"first": [], "rerun": []} for variant in variants}
    names = {(variant, number): f"{PREFIX}-{SHORT[variant[0]]}{'-p' if variant[1] else ''}-{number}"
             for variant in variants for number in range(args.rounds)}
    with tempfile.TemporaryDirectory(prefix="converge-time-") as work_dir:
        work = Path(work_dir)
        (work / "bin").mkdir()
        wrapper = work / "bin" / "docker"
        wrapper.write_text(DOCKER_WRAPPER.format(docker=shutil.which("docker")))
        wrapper.chmod(0o755)
        try:
            print(f"starting {len(names)} containers of {IMAGE} with the packages installed ...", flush=True)
            with ThreadPoolExecutor(max_workers=2) as pool:
                list(pool.map(start_container, names.values()))
            for number in range(args.rounds):
                for variant in variants:
                    container = names[variant, number]
                    for step in ("first", "rerun"):
                        outcome = converge(work, variant[0], container, variant[1])
                        runs[variant][step].append(outcome)
                        print(f"  round {number + 1} {variant[0]}{' (pipelining)' if variant[1] else ''} "
                              f"{step}: {outcome['seconds']:.1f} s, changed={outcome['changed']}", flush=True)
                    sh("docker", "rm", "-f", container, check=False)
        finally:
            for container in names.values():
                sh("docker", "rm", "-f", container, check=False)

    print(f"\nconverge time on {IMAGE}, medians of {args.rounds} fresh containers "
          "(tasks run/skipped, modules run on the host, docker exec round trips):")
    print(f"{'side':<34} {'first converge':>15} {'rerun':>8} {'changed':>8} {'tasks':>9} {'modules':>8} {'execs':>6}")
    for variant in variants:
        first, rerun = runs[variant]["first"], runs[variant]["rerun"]
        label = variant[0] + (" (pipelining)" if variant[1] else "")
        print(f"{label:<34} {median(first, 'seconds'):>13.1f} s {median(rerun, 'seconds'):>6.1f} s "
              f"{median(rerun, 'changed'):>8.0f} {median(rerun, 'ran'):>4.0f}/{median(rerun, 'skipped'):<4.0f} "
              f"{median(rerun, 'modules'):>8.0f} {median(rerun, 'execs'):>6.0f}")
    print("(tasks, modules and execs are the rerun's; a rerun must report changed 0)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
