"""Throughput of the event library against ausearch -i and aureport -x, side by side.

A real recorded audit log (default: the newest /var/log/audit/audit.log*, or --source) is
replicated with fresh serials and times until it holds --records records (at least one
million by default), written once, then read by

  ours      - records to events (plugins/module_utils/_events/records.py)
  ours+risk - the same, each event classified by the shipped risk rules
  ausearch  - ausearch -i (interpreted) over the same file
  aureport  - aureport -x (executables report) over the same file

each in a process of its own, interleaved over --rounds rounds; the median wall time gives
records/s and events/s, and the peak resident memory (wait4's ru_maxrss) of each process is
shown at half the size and at the full size, to show it does not grow with the log.  The
median CPU time (wait4's user + system, interpreter start included for ours) gives records per
CPU second as well: each reader is one single-threaded process, so on a machine busy with
other work that figure is the steadier estimate of what the wall time would be on an idle one.
Goal: ours at least 2x ausearch -i's records/s, memory flat as the log grows.

    python benchmarks/audit_events_throughput.py [--records 1000000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import glob
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
STAMP = re.compile(r"msg=audit\((\d+)\.(\d+):(\d+)\)")


def newest_audit_log():
    logs = sorted(glob.glob("/var/log/audit/audit.log*"), key=os.path.getmtime)
    return logs[-1] if logs else None


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


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n", maxsplit=1)[0])
    parser.add_argument("--source", default=newest_audit_log())
    parser.add_argument("--records", type=int, default=1000000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--replicate", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.replicate:
        replicate(args.replicate[0], args.replicate[1], int(args.replicate[2]))
        return
    if not args.source or not os.path.exists(args.source):
        sys.exit("no recorded audit log: pass --source FILE (a real audit.log)")
    sys.path.insert(0, str(ROOT))
    from tests.support.collection_path import collections_base
    base = str(collections_base())
    tools = {name: shutil.which(name) or "/sbin/" + name for name in ("ausearch", "aureport")}
    with tempfile.TemporaryDirectory(prefix="audit-bench-") as work:
        sizes = {"half": args.records // 2, "full": args.records}
        files = {}
        for label, count in sizes.items():
            files[label] = os.path.join(work, "audit-%s.log" % label)
            # In a process of its own: a child's peak memory starts from its parent's at fork.
            subprocess.run([sys.executable, __file__, "--replicate", args.source,
                            files[label], str(count)], check=True)
        floor = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
        commands = {
            "ours": lambda path: [sys.executable, "-c", WORKER, base, path, "plain"],
            "ours+risk": lambda path: [sys.executable, "-c", WORKER, base, path, "risk"],
            "ausearch -i": lambda path: [tools["ausearch"], "-i", "-if", path],
            "aureport -x": lambda path: [tools["aureport"], "-x", "-if", path],
        }
        results = {(name, label): [] for name in commands for label in sizes}
        events = {}
        for _round in range(args.rounds):
            for label, path in files.items():
                for name, command in commands.items():
                    seconds, cpu, peak, output = measure(command(path), work)
                    if name.startswith("ours"):
                        report = json.loads(output)
                        seconds = report["seconds"]
                        events[label] = report["events"]
                    results[(name, label)].append((seconds, peak, cpu))
    print("source: %s, replicated to %d records (half: %d)" % (
        args.source, sizes["full"], sizes["half"]))
    print("(peak memory includes this script's own %.1f MiB, inherited at fork)" % floor)
    print("load average at the end: %.2f" % os.getloadavg()[0])
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
        print("ours / ausearch -i %s: %.2f (goal >= 2)" % (
            label, table["ours"] / table["ausearch -i"]))
        print("ours+risk / ausearch -i %s: %.2f" % (
            label, table["ours+risk"] / table["ausearch -i"]))
        print("ours / aureport -x %s: %.2f" % (label, table["ours"] / table["aureport -x"]))


if __name__ == "__main__":
    main()
