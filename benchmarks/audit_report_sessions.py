"""What audit_report's sessions view costs on top of reading events: time and memory.

A login session written as the kernel, sshd and sudo write it (sshd's records, a shell, sudo
with its PAM records, a watched file written, refused reads, a pipeline: 14 events) is
classified once, then replayed as --sessions sessions of --hosts senders, with fresh pids,
session numbers, serials and times, until --events events; a web server's shells (no
login session) are mixed in.  Each size runs in a process of its own, which groups the events
(SessionBook.add), then builds every session's tree and its table (group_sessions,
format_sessions).  It prints events per second of each step and the process's peak resident
memory (ru_maxrss) at each size: the grouping holds at most 20,000 events, so memory must
stay flat once the events outnumber that.

    python benchmarks/audit_report_sessions.py [--events 1000000] [--sessions 20000]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

WORKER = r"""
import copy, json, resource, sys, time
sys.path.insert(0, sys.argv[1])
from tests.support.collection_path import make_collection_importable
make_collection_importable()
from ansible_collections.whotouched.server_audit.plugins.module_utils._events.assembler import iter_events
from ansible_collections.whotouched.server_audit.plugins.module_utils._events.risk import classify, load_risk_rules
from ansible_collections.whotouched.server_audit.plugins.module_utils._events.sessions import (
    SessionBook, format_sessions, group_sessions)
from tests.support.audit_records import exec_records, file_records, login_records, stored, user_record

total, sessions, hosts = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
rules = load_risk_rules()
lines = login_records(500, 1)
lines.append(user_record("USER_LOGIN", 500, 2, addr="203.0.113.7", terminal="/dev/pts/1",
                         exe="/usr/sbin/sshd", op="login"))
lines += exec_records(["-bash"], serial=3, pid=600, ppid=500)
lines += exec_records(["sudo", "tee", "/etc/cron.d/x"], serial=4, pid=601, ppid=600)
for serial, kind in enumerate(("USER_ACCT", "USER_CMD", "USER_START"), 5):
    lines.append(user_record(kind, 601, serial))
lines += exec_records(["tee", "/etc/cron.d/x"], serial=8, pid=603, ppid=602)
lines += file_records("/etc/cron.d/x", serial=9, pid=603, ppid=602, key="crontab")
lines.append(user_record("USER_END", 601, 10))
lines += exec_records(["cat", "/etc/shadow"], serial=11, pid=610, ppid=600, success="no")
lines += exec_records(["curl", "http://203.0.113.9/x"], serial=12, pid=620, ppid=600)
lines += exec_records(["sh"], serial=13, pid=621, ppid=600)
lines += exec_records(["sh", "-c", "id"], serial=14, pid=900, ppid=812, auid=4294967295, ses=4294967295)
template = [classify(event, rules) for event in iter_events(stored(lines))]

def replay():
    made = 0
    round_ = 0
    while made < total:
        for number in range(sessions):
            for event in template:
                event = dict(event)
                event["address"] = "192.0.2.%d" % (number % hosts)
                if event["session"] is not None:
                    event["session"] = round_ * sessions + number
                if event["pid"] is not None:
                    event["pid"] += 1000 * number
                if event["ppid"] not in (None, 1):
                    event["ppid"] += 1000 * number
                event["epoch"] += round_ * 3600 + number
                event["serial"] += 100 * (round_ * sessions + number)
                yield event
                made += 1
                if made >= total:
                    return
        round_ += 1

started = time.process_time()
book = SessionBook()
for event in replay():
    book.add(event)
book.finish()
grouped = time.process_time() - started
started = time.process_time()
views, counts = group_sessions((), limit=0, book=book)
table = format_sessions(views)
told = time.process_time() - started
print(json.dumps({"events": total, "group_s": grouped, "tell_s": told, "sessions": len(views),
                  "lines": len(table), "let_go": counts["sessions_let_go"],
                  "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0}))
"""


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--events", type=int, default=1000000)
    parser.add_argument("--sessions", type=int, default=20000)
    parser.add_argument("--hosts", type=int, default=50)
    options = parser.parse_args()
    print("machine: %s, %d CPUs, Python %s, load %.1f" % (
        platform.processor() or platform.machine(), os.cpu_count(), platform.python_version(),
        os.getloadavg()[0]))
    print("%10s %12s %12s %10s %10s %10s" % (
        "events", "group ev/s", "tell ev/s", "sessions", "let go", "peak MiB"))
    for size in (options.events // 10, options.events // 2, options.events):
        done = subprocess.run([sys.executable, "-c", WORKER, str(ROOT), str(size),
                               str(options.sessions), str(options.hosts)],
                              capture_output=True, text=True, check=True)
        figures = json.loads(done.stdout)
        kept = min(size, 20000)
        print("%10d %12.0f %12.0f %10d %10d %10.1f" % (
            size, size / figures["group_s"], kept / max(figures["tell_s"], 1e-9),
            figures["sessions"], figures["let_go"], figures["rss_mb"]))
    print("(CPU time of each step; `tell` builds the trees and the table of what is held)")


if __name__ == "__main__":
    main()
