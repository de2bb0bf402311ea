"""What auditing every command costs: exec-heavy workloads under several rule sets.

Runs N short processes with an auditd of its own (the host's auditd.conf, but writing to a
private directory and with its own plugins) writing the events.  Two workloads:
  true       - a shell loop of /bin/true: nothing but starting processes, the worst case
  commands   - a shell loop of ordinary short commands that do a little work on real files
               (grep, sort, sed, wc, md5sum, ls, date, id), as cron jobs and scripts run them
under
  none         - auditing on, no rules
  seed         - the article's plain execve rules and file watches
  role         - the linux_audit role's default rule set (composed by the role's own variables)
  role+syslog  - the same with the audit syslog plugin on (the old way to rsyslog)
  deployed     - the whole sender path as linux_audit and rsyslog_client set it up: the
                 role's rules, auditd with the role's settings (flush INCREMENTAL_ASYNC,
                 freq 50, its queues), and rsyslogd reading auditd's log (imfile) through
                 the noise filters and forwarding it over tcp to a log server on loopback
  role floor   - every record the kernel can leave out excluded (PROCTITLE, PATH, CWD,
                 BPRM_FCAPS) and write_logs=no: the least an execve rule that matches costs
and with --breakdown, variants that take the cost apart:
  role RAW        - auditd log_format RAW instead of the host's (ENRICHED on Debian)
  role nowrite    - auditd write_logs=no: what writing the log costs
  role -fcaps     - BPRM_FCAPS records excluded (the event library does not read them)
  role prio0      - auditd priority_boost 0 instead of the host's
  deployed f1     - deployed, with auditd syncing its log to disk after every record
                    instead of every 50 (readers see each record at once either way)
  deployed poll   - deployed, with imfile polling the log once a second instead of waking
                    for every line written (inotify)
  deployed nofilt - deployed, without rsyslog_client's noise filters
  exec nomatch    - execve rules that match nothing: the kernel's per-syscall audit cost alone
  watches only    - the role's file watches without the execve rules
in interleaved rounds.  It prints the median wall time of each, its ratio to none, and where
the CPU went: the workload itself (the exec'ing tasks, kernel record formatting included),
auditd, the kauditd kernel thread, the syslog plugin, the rsyslogd reading the log, and the
benchmark's own log server on loopback (sink: an rsyslogd that a real host does not run, on the
same cores here).  Needs root in the initial PID
namespace, the audit userspace, rsyslog and no other auditd running; restores the kernel's
rules and enabled flag afterwards and stops its auditd and rsyslogds.  Goals: role <= seed,
deployed within 1.05 x role floor.
Run it under the kernel lock:

    flock /run/whotouched-kernel.lock python benchmarks/linux_audit_exec_cost.py \
        [--processes 20000] [--rounds 3] [--workload true commands] [--breakdown]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.collection_path import collections_base  # noqa: E402
from tests.support.ports import free_port  # noqa: E402

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


def role_configuration(work: Path, sink_port: int) -> dict:
    """What the roles would set up on this host, composed by their own defaults, vars and
    templates: linux_audit's rules and auditd.conf keys, and rsyslog_client's filter and
    forwarding drop-ins, written under ``work`` (auditd's log there too) and forwarding to
    ``sink_port`` on loopback."""
    out = work / "role.json"
    version = run("dpkg-query", "-W", "-f", "${Version}", "auditd").stdout.split(":")[-1].split("-")[0]
    roles = ROOT / "roles"
    settings = {
        "linux_audit_version": version,
        "rsyslog_client_target": "127.0.0.1", "rsyslog_client_port": sink_port,
        "rsyslog_client_filter_file": str(work / "filter.conf"),
        "rsyslog_client_forward_file": str(work / "forward.conf"),
        "rsyslog_client_spool_dir": str(work / "spool"),
        "rsyslog_client_audit_log": str(work / "logs" / "audit.log"),
    }
    play = work / "role.yml"
    play.write_text(json.dumps([{
        "hosts": "localhost", "connection": "local", "gather_facts": True, "gather_subset": ["min"],
        "vars_files": [str(roles / "linux_audit/defaults/main.yml"), str(roles / "linux_audit/vars/main.yml"),
                       str(roles / "rsyslog_client/defaults/main.yml"), str(roles / "rsyslog_client/vars/main.yml"),
                       str(roles / "rsyslog_client/vars/Debian.yml")],
        "tasks": [
            {"ansible.builtin.copy": {"content": "{{ {'rules': linux_audit_rules, "
                                                 "'auditd': linux_audit_auditd_settings} | to_json }}",
                                      "dest": str(out), "mode": "0600"}},
            {"whotouched.server_audit.rsyslog_filter": {"path": settings["rsyslog_client_filter_file"],
                                                        "filters": "{{ rsyslog_client_filters }}",
                                                        "exclusive": True, "validate": False}},
            {"ansible.builtin.template": {"src": str(roles / "rsyslog_client/templates/forward.conf.j2"),
                                          "dest": settings["rsyslog_client_forward_file"], "mode": "0644"}},
        ],
    }]))
    ansible_playbook = shutil.which("ansible-playbook", path=str(Path(sys.executable).parent)) \
        or "ansible-playbook"
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(collections_base()))
    # extra vars: they win over the roles' files read as vars_files
    settings["ansible_python_interpreter"] = sys.executable
    result = subprocess.run([ansible_playbook, "-i", "localhost,", "-e", json.dumps(settings), str(play)],
                            capture_output=True, text=True, check=False, env=env)
    if result.returncode != 0:
        raise SystemExit("composing the roles' configuration failed:\n" + result.stdout[-3000:])
    (work / "spool").mkdir(exist_ok=True)
    filters, forward = settings["rsyslog_client_filter_file"], settings["rsyslog_client_forward_file"]
    text = Path(forward).read_text()
    # the breakdown's readers: imfile polling once a second; no noise filters
    polling = text.replace('module(load="imfile" ', 'module(load="imfile" mode="polling" '
                           'pollingInterval="1" ')
    unfiltered = re.sub(r'include\(file="%s"[^)]*\)' % re.escape(filters), "", text)
    if text in (polling, unfiltered):
        raise SystemExit("rsyslog_client's forwarding template changed: the polling and "
                         "unfiltered readers of --breakdown need updating")
    Path(forward + ".poll").write_text(polling)
    Path(forward + ".nofilter").write_text(unfiltered)
    for name, forward_file, filter_include in (
            ("rsyslog.conf", forward, True), ("rsyslog-poll.conf", forward + ".poll", True),
            ("rsyslog-nofilter.conf", forward + ".nofilter", False)):
        (work / name).write_text(
            f'global(workDirectory="{work / "spool"}")\n'
            + (f'include(file="{filters}")\n' if filter_include else "")
            + f'include(file="{forward_file}")\n')
    return json.loads(out.read_text())


class Rsyslogd:
    """An rsyslogd of the benchmark's own, on its configuration file."""

    def __init__(self, conf: Path) -> None:
        self.pidfile = conf.with_suffix(".pid")
        self.process = subprocess.Popen(["rsyslogd", "-n", "-f", str(conf), "-i", str(self.pidfile)],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.5)
        if self.process.poll() is not None:
            raise SystemExit("rsyslogd did not start with " + str(conf))

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout=30)


def log_sink(work: Path) -> tuple[Rsyslogd, int]:
    """A log server on loopback that takes everything and keeps nothing."""
    port = free_port()
    conf = work / "sink.conf"
    (work / "sink").mkdir(exist_ok=True)
    conf.write_text(f'global(workDirectory="{work / "sink"}")\nmodule(load="imptcp")\n'
                    f'ruleset(name="sink") {{ action(type="omfile" file="/dev/null") }}\n'
                    f'input(type="imptcp" address="127.0.0.1" port="{port}" ruleset="sink")\n')
    return Rsyslogd(conf), port


def load(rules: list[str]) -> None:
    run("auditctl", "-D")
    for rule in rules:
        # A watch on a path missing here is refused by the kernel; the rest still load.
        run("auditctl", *rule.split(), check=False)


# Records the event library does not read: an exclusion that loses nothing the report needs.
EXCLUDE_FCAPS = ["-a always,exclude -F msgtype=BPRM_FCAPS"]
# Every record of an exec event but SYSCALL and EXECVE (and the end-of-event marker).
EXCLUDE_OPTIONAL = [f"-a always,exclude -F msgtype={kind}"
                    for kind in ("PROCTITLE", "PATH", "CWD", "BPRM_FCAPS")]
# Execve rules that match nothing here: every syscall is audited, no record is written.
EXEC_NOMATCH = [
    "-a always,exit -F arch=b64 -S execve,execveat -F auid=7777 -k exec",
    "-a always,exit -F arch=b32 -S execve,execveat -F auid=7777 -k exec",
]
# The plugin file the role writes (tasks/daemon.yml), with the role's default arguments.
SYSLOG_PLUGIN = ("active = yes\ndirection = out\npath = /sbin/audisp-syslog\ntype = always\n"
                 "args = LOG_INFO LOG_LOCAL6\nformat = string\n")
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User and system CPU of one process or kernel thread so far (0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICKS


def pids_named(name: str, parent: int | None = None) -> list[int]:
    """Processes (or kernel threads) called ``name``, children of ``parent`` when given."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            command, rest = stat[stat.index("(") + 1:].rsplit(")", 1)
            if command == name and (parent is None or int(rest.split()[1]) == parent):
                found.append(int(entry))
    return found


class Auditd:
    """An auditd of the benchmark's own: the host's auditd.conf with some keys changed."""

    def __init__(self, work: Path, settings: dict[str, str], syslog_plugin: bool) -> None:
        conf = work / "conf"
        plugins = conf / "plugins.d"
        shutil.rmtree(conf, ignore_errors=True)
        plugins.mkdir(parents=True)
        if syslog_plugin:
            (plugins / "syslog.conf").write_text(SYSLOG_PLUGIN)
        self.logs = work / "logs"
        shutil.rmtree(self.logs, ignore_errors=True)
        self.logs.mkdir()
        keys = {"log_file": str(self.logs / "audit.log"), "plugin_dir": str(plugins),
                "max_log_file": "50", "num_logs": "4", "max_log_file_action": "ROTATE",
                **settings}
        lines = [line for line in Path("/etc/audit/auditd.conf").read_text().splitlines()
                 if line.split("=")[0].strip() not in keys]
        (conf / "auditd.conf").write_text(
            "\n".join(lines + [f"{key} = {value}" for key, value in keys.items()]) + "\n")
        (conf / "auditd.conf").chmod(0o640)
        self.process = subprocess.Popen(["auditd", "-n", "-c", str(conf)],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while f"pid {self.process.pid}" not in run("auditctl", "-s").stdout:
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("auditd did not start with " + str(conf / "auditd.conf"))
            time.sleep(0.1)
        time.sleep(0.5)  # its plugin starting

    def log_bytes(self) -> int:
        return sum(path.stat().st_size for path in self.logs.iterdir())

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout=20)


# One command per iteration, in turn; each reads a real file or asks the system something.
COMMANDS = ["grep -c root /etc/passwd", "sort /etc/services", "sed -n 5p /etc/services",
            "wc -l /etc/services", "md5sum /etc/services", "ls -l /etc", "date +%s", "id -un"]
WORKLOADS = {
    "true": "/bin/true",
    "commands": 'case $((i % {n})) in {cases} esac >/dev/null'.format(
        n=len(COMMANDS), cases=" ".join(f"{index}) {command};;"
                                        for index, command in enumerate(COMMANDS))),
}


def workload(processes: int, kind: str = "true") -> tuple[float, float]:
    """Wall seconds and the CPU seconds of the shell loop and its processes."""
    script = f"i=0; while [ $i -lt {processes} ]; do {WORKLOADS[kind]}; i=$((i+1)); done"
    start = time.perf_counter()
    process = subprocess.Popen(["sh", "-c", script])
    _pid, status, usage = os.wait4(process.pid, 0)
    if status != 0:
        raise SystemExit("the workload failed")
    return time.perf_counter() - start, usage.ru_utime + usage.ru_stime


def measure(variant: dict, processes: int, kind: str, work: Path,
            kauditd: list[int], sink: int) -> dict[str, float]:
    daemon = Auditd(work, variant.get("auditd", {}), variant.get("syslog", False))
    reader = None
    try:
        load(variant["rules"])
        if variant.get("reader"):
            shutil.rmtree(work / "spool", ignore_errors=True)
            (work / "spool").mkdir()
            reader = Rsyslogd(work / variant.get("reader_conf", "rsyslog.conf"))
        plugin = pids_named("audisp-syslog", parent=daemon.process.pid)
        watched = {"auditd": [daemon.process.pid], "kauditd": kauditd, "plugin": plugin,
                   "reader": [reader.process.pid] if reader else [], "sink": [sink]}
        before = {name: sum(map(cpu_seconds, pids)) for name, pids in watched.items()}
        wall, cpu = workload(processes, kind)
        # what auditd, its plugin and the reader still had to take in (a polling reader
        # reads once a second)
        time.sleep(1.5)
        result = {name: sum(map(cpu_seconds, pids)) - before[name]
                  for name, pids in watched.items()}
        run("auditctl", "-D")
        result.update(wall=wall, workload=cpu, log=daemon.log_bytes())
        return result
    finally:
        if reader:
            reader.stop()
        daemon.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workload", nargs="+", choices=list(WORKLOADS),
                        default=list(WORKLOADS), help="which workloads (default: both)")
    parser.add_argument("--breakdown", action="store_true",
                        help="also the variants that take the cost apart")
    args = parser.parse_args()
    if os.geteuid() != 0 or not shutil.which("auditctl") or not shutil.which("auditd"):
        print("needs root and the audit userspace (auditctl, auditd)", file=sys.stderr)
        return 2

    status = run("auditctl", "-s").stdout
    enabled_before = status.split("enabled ")[1].split()[0]
    if enabled_before == "2":
        print("the kernel's audit rules are immutable (-e 2): reboot first", file=sys.stderr)
        return 2
    if int(status.split("pid ")[1].split()[0]) != 0:
        print("an auditd is running: this benchmark runs its own (stop it, take the kernel "
              "lock)", file=sys.stderr)
        return 2
    rules_before = run("auditctl", "-l").stdout
    status_before = {name: status.split(name + " ")[1].split()[0]
                     for name in ("backlog_limit", "backlog_wait_time")}
    work = Path(tempfile.mkdtemp(prefix="exec-cost-"))
    sink, sink_port = log_sink(work)
    try:
        configured = role_configuration(work, sink_port)
    except BaseException:
        sink.stop()
        raise
    role = configured["rules"]
    deployed_auditd = {key: str(value) for key, value in configured["auditd"].items()}
    variants = {
        "none": {"rules": []},
        "seed": {"rules": SEED_RULES},
        "role": {"rules": role},
        "role+syslog": {"rules": role, "syslog": True},
        "deployed": {"rules": role, "auditd": deployed_auditd, "reader": True},
        "role floor": {"rules": EXCLUDE_OPTIONAL + role, "auditd": {"write_logs": "no"}},
    }
    if args.breakdown:
        variants.update({
            "role RAW": {"rules": role, "auditd": {"log_format": "RAW"}},
            "role nowrite": {"rules": role, "auditd": {"write_logs": "no"}},
            "role -fcaps": {"rules": EXCLUDE_FCAPS + role},
            "role prio0": {"rules": role, "auditd": {"priority_boost": "0"}},
            "deployed f1": {"rules": role, "reader": True, "auditd": dict(deployed_auditd, freq="1")},
            "deployed poll": {"rules": role, "reader": True, "reader_conf": "rsyslog-poll.conf",
                              "auditd": deployed_auditd},
            "deployed nofilt": {"rules": role, "reader": True, "reader_conf": "rsyslog-nofilter.conf",
                                "auditd": deployed_auditd},
            "exec nomatch": {"rules": EXEC_NOMATCH},
            "watches only": {"rules": [rule for rule in role if rule.startswith("-w ")]},
        })
    runs = [(kind, name) for kind in args.workload for name in variants]
    results: dict[tuple[str, str], list[dict[str, float]]] = {run_: [] for run_ in runs}
    kauditd = pids_named("kauditd")
    try:
        run("auditctl", "-e", "1")
        for kind in args.workload:
            workload(min(2000, args.processes), kind)  # warm the page cache
        for round_number in range(args.rounds):
            for kind, name in (runs if round_number % 2 == 0 else runs[::-1]):
                results[kind, name].append(
                    measure(variants[name], args.processes, kind, work, kauditd, sink.process.pid))
    finally:
        run("auditctl", "-D", check=False)
        for line in rules_before.splitlines():
            if line.strip() and line.strip() != "No rules":
                run("auditctl", *line.split(), check=False)
        run("auditctl", "-b", status_before["backlog_limit"], "--backlog_wait_time",
            status_before["backlog_wait_time"], check=False)
        run("auditctl", "-e", enabled_before, check=False)
        sink.stop()
        shutil.rmtree(work, ignore_errors=True)

    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    print(f"machine: {os.cpu_count()} cores, {cpu}, kernel {platform.release()}, "
          f"load average {os.getloadavg()[0]:.2f} at the end")
    print(f"{args.processes} processes per run, {args.rounds} interleaved rounds, "
          "auditd writing the events")
    print("CPU seconds are medians too; 'extra' is the workload's own CPU over none's: the")
    print("kernel's audit work in the exec'ing tasks.  auditd, kauditd and the plugin compete")
    print("for the same cores.")
    for kind in args.workload:
        report(kind, variants, {name: results[kind, name] for name in variants}, args.processes)
    return 0


def report(kind: str, variants: dict, results: dict[str, list[dict[str, float]]],
           processes: int) -> None:
    median = {name: {key: statistics.median(run_[key] for run_ in runs) for key in runs[0]}
              for name, runs in results.items()}
    none = median["none"]
    print(f"\nworkload {kind}: {WORKLOADS[kind] if kind == 'true' else ', '.join(COMMANDS)}")
    print(f"  no rules: {none['wall'] / processes * 1e6:.0f} us of wall time per process")
    print(f"  {'variant':15s} {'rules':>5s} {'wall s':>7s} {'x none':>7s} {'workload':>8s} "
          f"{'extra':>6s} {'auditd':>6s} {'kauditd':>7s} {'plugin':>6s} {'reader':>6s} {'sink':>6s} {'log MB':>6s}  rounds")
    for name, variant in variants.items():
        m = median[name]
        print(f"  {name:15s} {len(variant['rules']):5d} {m['wall']:7.2f} {m['wall'] / none['wall']:7.3f} "
              f"{m['workload']:8.2f} {m['workload'] - none['workload']:6.2f} {m['auditd']:6.2f} "
              f"{m['kauditd']:7.2f} {m['plugin']:6.2f} {m['reader']:6.2f} {m['sink']:6.2f} {m['log'] / 1e6:6.1f}  "
              + ", ".join(f"{r['wall']:.2f}" for r in results[name]))
    role_cost = median["role"]["wall"] - none["wall"]
    print(f"  per process: role adds {role_cost / processes * 1e6:.0f} us of wall time, "
          f"{(median['role']['workload'] - none['workload']) / processes * 1e6:.0f} us in the "
          f"exec'ing tasks, {median['role']['auditd'] / processes * 1e6:.0f} us of auditd, "
          f"{median['role']['kauditd'] / processes * 1e6:.0f} us of kauditd")
    print(f"  ratio role/seed  {median['role']['wall'] / median['seed']['wall']:.3f}  "
          f"(goal <= 1.0 within noise)")
    print(f"  ratio role/none  {median['role']['wall'] / none['wall']:.3f}")
    print(f"  ratio role+syslog/none  {median['role+syslog']['wall'] / none['wall']:.3f}")
    print(f"  ratio deployed/none  {median['deployed']['wall'] / none['wall']:.3f}")
    print(f"  ratio deployed/role floor  {median['deployed']['wall'] / median['role floor']['wall']:.3f}  "
          f"(goal <= 1.05)")
    print(f"  ratio seed/none  {median['seed']['wall'] / none['wall']:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
