"""Messages per second through rsyslog's filter chain: no filters, the seed's chain, the role's defaults.

A real rsyslogd listens on loopback (imtcp on 127.0.0.1) and writes what it keeps to one file.
The same stream of audit-plugin messages (SYSCALL, EXECVE, CWD, PATH and PROCTITLE records of
routine and of interesting commands) goes through it under three filter drop-ins:
  none - no filters
  seed - the seed's regex chain, repaired (query rsyslog_seed_filters), acting on every
         message as the seed wrote it
  role - the rsyslog_client role's default filters, composed by the role's own defaults and
         vars (rsyslog_client_filters: the compact chain, each rule scoped to the audit plugin's messages)
  once, merged - for comparison, not what the role writes: the seed's rules in one block
         guarded by the role's audit selector (the scope tested once per message instead of
         per rule), and that block with the drops merged into two rules (PATH records
         first, then one regex)
Both drop-ins are written by the rsyslog_filter module, as the role writes them.  One main-queue
worker keeps the order, so the run ends when a final message that no filter drops is in the
file.  Rounds are interleaved and the medians compared.  Goal: role >= seed and role within
20% of none (rate ratio role/none >= 0.80).

    python benchmarks/rsyslog_filter_throughput.py [--messages 200000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.collection_path import make_collection_importable  # noqa: E402
from tests.support.ports import free_port  # noqa: E402

# programs the seed's chain drops, and programs it keeps (what an intruder would run)
ROUTINE_PROGRAMS = ("ls", "grep", "date", "cat", "sleep", "sed", "awk", "hostname")
INTERESTING_PROGRAMS = ("id", "ssh", "vim", "curl", "python3", "useradd", "passwd", "nc")
SENTINEL = "whotouched-benchmark-end"


def run(*command: str, check: bool = True, env: dict | None = None) -> subprocess.CompletedProcess:
    result = subprocess.run(command, capture_output=True, text=True, check=False, env=env)
    if check and result.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{result.stdout}\n{result.stderr}")
    return result


def run_playbook(play: dict, work: Path) -> None:
    """Run one play on localhost with the collection from this checkout."""
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(make_collection_importable()),
               ANSIBLE_LOCALHOST_WARNING="false", ANSIBLE_INVENTORY_UNPARSED_WARNING="false",
               ANSIBLE_NOCOLOR="1")
    path = work / "render.yml"
    path.write_text(json.dumps([dict({"hosts": "localhost", "connection": "local", "gather_facts": False}, **play)]))
    ansible_playbook = shutil.which("ansible-playbook", path=str(Path(sys.executable).parent)) or "ansible-playbook"
    run(ansible_playbook, "-i", "localhost,", "-e", f"ansible_python_interpreter={sys.executable}", str(path),
        env=env)


def role_files(role: str) -> list[str]:
    """The role's defaults, its composed vars and the Debian vars, in the order Ansible reads them."""
    return [str(ROOT / "roles" / role / "defaults/main.yml"), str(ROOT / "roles" / role / "vars/main.yml"),
            str(ROOT / "roles" / role / "vars/Debian.yml")]


def filter_task(path: Path, filters: str) -> dict:
    """A task writing ``filters`` (a Jinja expression) into ``path`` with the rsyslog_filter module."""
    return {"whotouched.server_audit.rsyslog_filter": {
        "path": str(path), "filters": "{{ %s }}" % filters, "exclusive": True, "validate": False}}


def render_filter_drop_ins(work: Path) -> dict[str, Path]:
    """The drop-in of each chain: none (empty), seed and role, written by the rsyslog_filter module.

    Two more are not what the role writes, to show where its time goes: ``once``, the seed's
    rules inside one block guarded by the role's audit selector (the scope tested once per
    message instead of per rule), and ``merged``, the same block holding the seed's drops as
    two rules (the lookup's compact form).
    """
    drop_ins = {name: work / f"filters-{name}.conf" for name in ("none", "seed", "role", "once", "merged")}
    selector = work / "audit-selector.txt"
    merged_rules = work / "merged-rules.conf"
    drop_ins["none"].write_text("")
    run_playbook({
        "vars_files": role_files("rsyslog_client"),
        "tasks": [filter_task(drop_ins["seed"], "query('whotouched.server_audit.rsyslog_seed_filters')"),
                  filter_task(drop_ins["role"], "rsyslog_client_filters"),
                  filter_task(merged_rules, "query('whotouched.server_audit.rsyslog_seed_filters', compact=true)"),
                  {"ansible.builtin.copy": {"content": "{{ rsyslog_client_audit_selector }}", "dest": str(selector),
                                            "mode": "0644"}}],
    }, work)
    guard = selector.read_text().strip()
    drop_ins["once"].write_text("if %s then {\n%s}\n" % (guard, drop_ins["seed"].read_text()))
    drop_ins["merged"].write_text("if %s then {\n%s}\n" % (guard, merged_rules.read_text()))
    return drop_ins


class Rsyslogd:
    """One rsyslogd of its own (no /dev/log, its own work directory), in the foreground."""

    def __init__(self, config: Path, ports: list[int]):
        self.config = config
        self.ports = ports
        self.process: subprocess.Popen | None = None

    def __enter__(self) -> "Rsyslogd":
        check = run("rsyslogd", "-N1", "-f", str(self.config), check=False)
        if check.returncode != 0:
            raise SystemExit(f"rsyslogd refused {self.config}:\n{check.stderr}\n{self.config.read_text()}")
        self.process = subprocess.Popen(
            ["rsyslogd", "-n", "-f", str(self.config), "-i", str(self.config.with_suffix(".pid"))],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 30
        for port in self.ports:
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    if self.process.poll() is not None:
                        raise SystemExit(f"rsyslogd stopped: {self.process.stderr.read()}")
                    if time.monotonic() > deadline:
                        raise SystemExit(f"rsyslogd does not listen on {port} after 30 s")
                    time.sleep(0.05)
        return self

    def __exit__(self, *exc_info) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def audit_stream(events: int, routine_share: float = 0.5) -> list[str]:
    """Syslog lines as the audit plugin writes them (local6.info, audisp-syslog), one event = 5 records.

    ``routine_share`` of the events run a program the seed's chain drops.
    """
    lines = []
    routine_every = max(1, round(1 / routine_share)) if routine_share else 0
    for number in range(events):
        routine = routine_every and number % routine_every == 0
        programs = ROUTINE_PROGRAMS if routine else INTERESTING_PROGRAMS
        program = programs[number % len(programs)]
        serial = f"1700000000.{number % 1000:03d}:{number}"
        records = [
            f'type=SYSCALL msg=audit({serial}): arch=c000003e syscall=59 success=yes exit=0 a0=55d0 a1=55d1 '
            f'a2=55d2 a3=0 items=2 ppid=1000 pid={2000 + number % 30000} auid=1000 uid=1000 gid=1000 euid=1000 '
            f'suid=1000 fsuid=1000 egid=1000 sgid=1000 fsgid=1000 tty=pts0 ses=3 comm="{program}" '
            f'exe="/usr/bin/{program}" key="exec"',
            f'type=EXECVE msg=audit({serial}): argc=2 a0="{program}" a1="--version"',
            f'type=CWD msg=audit({serial}): cwd="/home/user"',
            f'type=PATH msg=audit({serial}): item=0 name="/usr/bin/{program}" inode=1234 dev=08:01 '
            f'mode=0100755 ouid=0 ogid=0 rdev=00:00 nametype=NORMAL cap_fp=0 cap_fi=0 cap_fe=0 cap_fver=0',
            f'type=PROCTITLE msg=audit({serial}): proctitle=2F7573722F62696E2F{program.encode().hex().upper()}',
        ]
        lines.extend(f"<182>Nov 27 10:00:00 benchhost audisp-syslog: {record}" for record in records)
    return lines


def wait_until_written(path: Path, finished: Callable[[bytes], bool], timeout: float, what: str) -> float:
    """Follows ``path`` as it grows, handing each new chunk to ``finished`` until it says so;
    the monotonic time it did."""
    deadline = time.monotonic() + timeout
    offset = 0
    while True:
        if path.exists():
            with path.open("rb") as handle:
                handle.seek(offset)
                chunk = handle.read()
            offset += len(chunk)
            if finished(chunk):
                return time.monotonic()
        if time.monotonic() > deadline:
            raise SystemExit(f"{path}: {what} not written after {timeout:.0f} s")
        time.sleep(0.002)


def wait_for_text(path: Path, text: str, timeout: float) -> float:
    """The monotonic time ``text`` was written to ``path``."""
    needle = text.encode()
    tail = [b""]

    def finished(chunk: bytes) -> bool:
        found = needle in tail[0] + chunk
        tail[0] = (tail[0] + chunk)[-len(needle):]
        return found

    return wait_until_written(path, finished, timeout, repr(text))


def send(port: int, payload: bytes) -> None:
    with socket.create_connection(("127.0.0.1", port)) as connection:
        connection.sendall(payload)


def one_run(work: Path, name: str, drop_in: Path, payload: bytes, round_number: int) -> tuple[float, int]:
    """Seconds from the first byte sent to the final message written, and the lines kept."""
    port = free_port()
    run_dir = work / f"{name}-{round_number}"
    run_dir.mkdir()
    output = run_dir / "kept.log"
    config = run_dir / "rsyslog.conf"
    config.write_text(f"""
global(workDirectory="{run_dir}")
# one worker: messages are handled in the order they came, so the final one is written last
main_queue(queue.workerThreads="1")
module(load="imtcp")
input(type="imtcp" address="127.0.0.1" port="{port}")
include(file="{drop_in}")
action(type="omfile" file="{output}")
""")
    with Rsyslogd(config, [port]):
        start = time.monotonic()
        send(port, payload)
        end = wait_for_text(output, SENTINEL, timeout=600)
    with output.open("rb") as handle:
        kept = sum(1 for _line in handle) - 1
    return end - start, kept


def machine_line() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    version = run("rsyslogd", "-v").stdout.split("\n", 1)[0].replace("compiled with:", "").strip()
    return f"machine: {os.cpu_count()} cores, {cpu}, kernel {platform.release()}, {version}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=200000, help="audit records per run (5 per event)")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    if not shutil.which("rsyslogd"):
        print("needs rsyslogd (apt-get install rsyslog)", file=sys.stderr)
        return 2

    lines = audit_stream(max(1, args.messages // 5))
    sentinel = f'<182>Nov 27 10:00:00 benchhost audisp-syslog: type=EXECVE msg=audit(1.0:1): argc=1 a0="{SENTINEL}"'
    payload = ("\n".join(lines + [sentinel]) + "\n").encode()
    with tempfile.TemporaryDirectory(prefix="rsyslog-filter-bench-") as work_name:
        work = Path(work_name)
        drop_ins = render_filter_drop_ins(work)
        rules = {name: sum(1 for line in path.read_text().splitlines() if line.strip() and not line.startswith("#"))
                 for name, path in drop_ins.items()}
        timings: dict[str, list[float]] = {name: [] for name in drop_ins}
        kept: dict[str, int] = {}
        one_run(work, "warmup", drop_ins["none"], payload[: len(payload) // 10] + (sentinel + "\n").encode(), 0)
        for round_number in range(args.rounds):
            names = list(drop_ins)
            if round_number % 2:
                names.reverse()
            for name in names:
                seconds, kept[name] = one_run(work, name, drop_ins[name], payload, round_number)
                timings[name].append(seconds)

    print(machine_line())
    print(f"workload: {len(lines)} audit records ({len(lines) // 5} events, half of them routine programs) "
          f"over one TCP connection on loopback, {args.rounds} interleaved rounds, one main-queue worker")
    median = {name: statistics.median(values) for name, values in timings.items()}
    rate = {name: len(lines) / median[name] for name in median}
    for name in drop_ins:
        print(f"  {name:6s} {rules[name]:3d} rule lines  median {median[name]:7.3f} s  {rate[name]:9.0f} msg/s  "
              f"kept {kept[name]:7d}  rounds {', '.join(f'{v:.3f}' for v in timings[name])}")
    print(f"rate ratio role/seed  {rate['role'] / rate['seed']:.3f}  (goal >= 1.0)")
    print(f"rate ratio role/none  {rate['role'] / rate['none']:.3f}  (goal >= 0.80)")
    print(f"rate ratio seed/none  {rate['seed'] / rate['none']:.3f}")
    print("not what the role writes, for comparison:")
    print(f"rate ratio once/role    {rate['once'] / rate['role']:.3f}  (the scope tested once per message)")
    print(f"rate ratio merged/none  {rate['merged'] / rate['none']:.3f}  (scope once, PATH first, then one regex)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
