"""Throughput of the event library against ausearch -i and aureport -x, side by side, on
three mixes of records of the real kernel.

  exec     - exec-heavy scripted work (short commands in a loop), a raw audit.log
  session  - an administrator's session (reading system files, useradd, usermod, userdel, a
             cron entry, sudo, su): more PATH records than EXECVE ones, a raw audit.log
  stored   - the log server's stored stream: the records of both that the rsyslog_client
             role's default noise filters pass, as runcmdformat lines of one sender, as the
             rsyslog_server role stores them under /var/log/remote/<address>/audit.log
             (ausearch reads none of those lines, so it reads the same records without the
             server's prefix: what auditd wrote)

The logs are recorded by record_audit_session.py into --recordings the first time (as root,
under the kernel lock), or given with --exec-log and --session-log; --source adds a log of
your own as a fourth mix.  Each is replicated with fresh serials and times until it holds
--records records, written once, then read by

  ours      - records to events (plugins/module_utils/_events/records.py)
  ours+risk - the same, each event classified by the shipped risk rules
  floor     - not a parser: each line decoded and split at spaces into a dict of its
              name=value words, nothing more (no quotes, hex or events): a plain reader in
              Python, to show how far the goals are from it
  ausearch  - ausearch -i (interpreted) over the same records
  aureport  - aureport -x (executables report) over the same records

each in a process of its own, interleaved over --rounds rounds; the median wall time gives
records/s and events/s, and the peak resident memory (wait4's ru_maxrss) of each process is
shown at half the size and at the full size, to show it does not grow with the log.  The
median CPU time (wait4's user + system, interpreter start included for ours) gives records per
CPU second as well: each reader is one single-threaded process, so on a machine busy with
other work that figure is the steadier estimate of what the wall time would be on an idle one.
Goals on every mix, in records per CPU second: ours at least 2x ausearch -i, ours+risk at
least 1x; memory flat as the log grows.

    python benchmarks/audit_events_throughput.py [--records 1000000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
STAMP = re.compile(r"msg=audit\((\d+)\.(\d+):(\d+)\)")
MIXES = ("exec", "session", "stored")
GOALS = {"ours": 2.0, "ours+risk": 1.0}


def replicate(source, target, records):
    """Copies of ``source`` with serials and times moved on, until ``records`` lines."""
    # split("\n"), not splitlines(): that would also cut at the 0x1d before ENRICHED names.
    lines = [line for line in Path(source).read_text(errors="replace").split("\n")
             if STAMP.search(line)]
    if not lines:
        sys.exit("no audit records in %s" % source)
    serials = [int(STAMP.search(line).group(3)) for line in lines]
    times = [int(STAMP.search(line).group(1)) for line in lines]
    serial_span = max(serials) - min(serials) + 1
    time_span = max(times) - min(times) + 1
    written = 0
    copy = 0
    with open(target, "w", encoding="utf-8") as out:
        while written < records:
            def moved(match, copy=copy):
                return "msg=audit(%d.%s:%d)" % (int(match.group(1)) + copy * time_span,
                                                match.group(2),
                                                int(match.group(3)) + copy * serial_span)
            for line in lines:
                out.write(STAMP.sub(moved, line, count=1) + "\n")
                written += 1
                if written >= records:
                    break
            copy += 1
    return written


WORKER = r"""
import json, sys, time
sys.path.insert(0, sys.argv[1])
from ansible_collections.whotouched.server_audit.plugins.module_utils._events.assembler import (
    EventAssembler, iter_events, iter_lines)
from ansible_collections.whotouched.server_audit.plugins.module_utils._events.risk import (
    classify, compile_risk_rules)
from ansible_collections.whotouched.server_audit.plugins.module_utils._events.risk_rules import (
    SHIPPED_RISK_RULES)
rules = compile_risk_rules(SHIPPED_RISK_RULES) if sys.argv[3] == "risk" else None
start = time.perf_counter()
assembler = EventAssembler()
events = 0
with open(sys.argv[2], "rb") as stream:
    for event in iter_events(iter_lines(stream, assembler.counts), assembler):
        if rules is not None:
            classify(event, rules)
        events += 1
print(json.dumps({"seconds": time.perf_counter() - start, "events": events,
                  "records": assembler.counts["records"]}))
"""


FLOOR_WORKER = r"""
import json, sys, time
start = time.perf_counter()
records = 0
with open(sys.argv[1], "rb") as stream:
    for raw in stream:
        dict(word.partition("=")[::2] for word in raw.decode("utf-8", "replace").split(" "))
        records += 1
print(json.dumps({"seconds": time.perf_counter() - start, "events": 0, "records": records}))
"""


def measure(command, work):
    """Wall seconds, CPU seconds, peak RSS (KiB) and stdout of one process.

    The output goes to a file, not into this process: a child's peak memory starts from its
    parent's, so this script must stay small.
    """
    output_path = os.path.join(work, "output")
    with open(output_path, "wb") as output:
        start = time.perf_counter()
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.DEVNULL)
        _pid, _status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - start
    with open(output_path, "rb") as output:
        head = output.read(4096)
    os.unlink(output_path)
    return seconds, usage.ru_utime + usage.ru_stime, usage.ru_maxrss, head


def stored_mix(logs, work):
    """The stored stream of the recorded logs, and the same records as auditd wrote them."""
    sys.path.insert(0, str(ROOT))
    from tests.support.collection_path import make_collection_importable
    make_collection_importable()
    from tests.support.audit_records import stored, through_default_filters
    records = []
    for path in logs:
        # split("\n"), not splitlines(): that would also cut at the 0x1d before ENRICHED names
        records.extend(line for line in Path(path).read_text(errors="replace").split("\n")
                       if STAMP.search(line))
    records = through_default_filters(records)
    stored_path, raw_path = os.path.join(work, "stored.log"), os.path.join(work, "stored-raw.log")
    with open(stored_path, "w", encoding="utf-8") as out:
        for line in records:
            stamp = time.strftime("%b %d %H:%M:%S", time.gmtime(float(
                STAMP.search(line).group(1)))).replace(" 0", "  ", 1)
            out.write(stored([line], "web01", "192.0.2.10", stamp)[0] + "\n")
    with open(raw_path, "w", encoding="utf-8") as out:
        out.write("".join(line + "\n" for line in records))
    return stored_path, raw_path


def record_mix(path):
    """Records, EXECVE and PATH records of a log."""
    counts = {"records": 0, "EXECVE": 0, "PATH": 0}
    with open(path, "rb") as log:
        for line in log:
            if b"msg=audit(" in line:
                counts["records"] += 1
                counts["EXECVE"] += b"type=EXECVE " in line
                counts["PATH"] += b"type=PATH " in line
    return counts


def main():
    from machine import machine_line
    from record_audit_session import RECORDINGS, recorded_log
    parser = argparse.ArgumentParser(description=__doc__.split("\n", maxsplit=1)[0])
    parser.add_argument("--records", type=int, default=1000000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--recordings", type=Path, default=RECORDINGS,
                        help="where the recorded logs are kept (recorded there when missing)")
    parser.add_argument("--exec-log", help="a recorded exec-heavy log instead")
    parser.add_argument("--session-log", help="a recorded session log instead")
    parser.add_argument("--source", help="a real audit.log of your own, as a fourth mix")
    parser.add_argument("--mix", nargs="+", choices=MIXES, default=list(MIXES))
    parser.add_argument("--replicate", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.replicate:
        replicate(args.replicate[0], args.replicate[1], int(args.replicate[2]))
        return
    if args.source and not os.path.isfile(args.source):
        sys.exit("--source %s is not a file" % args.source)
    logs = {"exec": args.exec_log or recorded_log("exec", args.recordings, 300),
            "session": args.session_log or recorded_log("session", args.recordings, 100)}
    sys.path.insert(0, str(ROOT))
    from tests.support.collection_path import collections_base
    base = str(collections_base())
    tools = {name: shutil.which(name) or "/sbin/" + name for name in ("ausearch", "aureport")}
    print(machine_line(subprocess.run([tools["ausearch"], "--version"], capture_output=True,
                                      text=True, check=False).stdout.strip()))
    summary = []
    with tempfile.TemporaryDirectory(prefix="audit-bench-") as work:
        # mix: (what ours reads, what ausearch and aureport read)
        sources = {name: (str(logs[name]), str(logs[name])) for name in ("exec", "session")}
        sources["stored"] = stored_mix([logs["session"], logs["exec"]], work)
        if args.source:
            sources["given"] = (args.source, args.source)
        for mix in [name for name in sources if name in args.mix or name == "given"]:
            summary.append((mix, measure_mix(mix, sources[mix], args, work, base, tools)))
    print("records per CPU second (goals: ours >= %.0fx ausearch -i, ours+risk >= %.0fx, on "
          "every mix)" % (GOALS["ours"], GOALS["ours+risk"]))
    print("%-8s %12s %12s %14s %10s %14s %11s" % ("mix", "ours", "ours+risk", "ausearch -i",
                                                  "ours/aus.", "ours+risk/aus.", "floor/aus."))
    for mix, cpu_rates in summary:
        ratios = {name: cpu_rates[name] / cpu_rates["ausearch -i"] for name in GOALS}
        print("%-8s %12.0f %12.0f %14.0f %10s %14s %11.2f" % (
            mix, cpu_rates["ours"], cpu_rates["ours+risk"], cpu_rates["ausearch -i"],
            *("%.2f %s" % (ratios[name], "met" if ratios[name] >= GOALS[name] else "MISSED")
              for name in ("ours", "ours+risk")),
            cpu_rates["floor"] / cpu_rates["ausearch -i"]))


def measure_mix(mix, source, args, work, base, tools):
    """Replicate one mix, read it with each reader, print its table; its records per CPU
    second by reader."""
    ours_source, their_source = source
    sizes = {"half": args.records // 2, "full": args.records}
    files = {}
    for label, count in sizes.items():
        for reader, path in (("ours", ours_source), ("theirs", their_source)):
            target = os.path.join(work, "%s-%s-%s.log" % (mix, reader, label))
            if reader == "theirs" and their_source == ours_source:
                target = files[("ours", label)]
            else:
                # In a process of its own: a child's peak memory starts from its parent's at fork.
                subprocess.run([sys.executable, __file__, "--replicate", path, target,
                                str(count)], check=True)
            files[(reader, label)] = target
    own_memory = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    commands = {
        "ours": lambda label: [sys.executable, "-c", WORKER, base, files[("ours", label)],
                               "plain"],
        "ours+risk": lambda label: [sys.executable, "-c", WORKER, base, files[("ours", label)],
                                    "risk"],
        "floor": lambda label: [sys.executable, "-c", FLOOR_WORKER, files[("ours", label)]],
        "ausearch -i": lambda label: [tools["ausearch"], "-i", "-if", files[("theirs", label)]],
        "aureport -x": lambda label: [tools["aureport"], "-x", "-if", files[("theirs", label)]],
    }
    results = {(name, label): [] for name in commands for label in sizes}
    events = {}
    for _round in range(args.rounds):
        for label in sizes:
            for name, command in commands.items():
                seconds, cpu, peak, output = measure(command(label), work)
                if name.startswith("ours") or name == "floor":
                    report = json.loads(output)
                    seconds = report["seconds"]
                    if name.startswith("ours"):
                        events[label] = report["events"]
                results[(name, label)].append((seconds, peak, cpu))
    for path in set(files.values()):
        os.unlink(path)
    mix_counts = record_mix(ours_source)
    print()
    print("mix %s: %s (%d records: %d EXECVE, %d PATH), replicated to %d records (half: %d)%s"
          % (mix, ours_source if mix != "stored" else "the recorded logs as stored",
             mix_counts["records"], mix_counts["EXECVE"], mix_counts["PATH"], sizes["full"],
             sizes["half"], "; ausearch and aureport read the same records as auditd wrote them"
             if their_source != ours_source else ""))
    print("(peak memory includes this script's own %.1f MiB, inherited at fork; load average "
          "%.2f)" % (own_memory, os.getloadavg()[0]))
    print("%-12s %14s %14s %12s %12s %16s" % (
        "reader", "records/s", "events/s", "peak MiB half", "peak MiB full", "records/CPU s"))
    rates = {}
    cpu_rates = {}
    for name in commands:
        seconds = statistics.median(run[0] for run in results[(name, "full")])
        rates[name] = sizes["full"] / seconds
        cpu_rates[name] = sizes["full"] / statistics.median(
            run[2] for run in results[(name, "full")])
        peak_half = max(run[1] for run in results[(name, "half")]) / 1024.0
        peak_full = max(run[1] for run in results[(name, "full")]) / 1024.0
        print("%-12s %14.0f %14s %12.1f %12.1f %16.0f" % (
            name, rates[name], "%.0f" % (events["full"] / seconds) if name.startswith("ours")
            else "-", peak_half, peak_full, cpu_rates[name]))
    for label, table in (("records/s", rates), ("records/CPU s", cpu_rates)):
        print("ours / ausearch -i %s: %.2f (goal >= %.0f); ours+risk / ausearch -i: %.2f "
              "(goal >= %.0f); ours / aureport -x: %.2f" % (
                  label, table["ours"] / table["ausearch -i"], GOALS["ours"],
                  table["ours+risk"] / table["ausearch -i"], GOALS["ours+risk"],
                  table["ours"] / table["aureport -x"]))
        print("floor (split into words, no parsing) / ausearch -i %s: %.2f" % (
            label, table["floor"] / table["ausearch -i"]))
    return cpu_rates


if __name__ == "__main__":
    main()
