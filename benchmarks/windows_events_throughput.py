"""Throughput of the event library on Windows Security events in their display languages.

The real localized messages of the unit tests' fixtures (German, French, Spanish, Japanese
and English; tests/unit/plugins/module_utils/_events/fixtures/windows_events/README.md cites
them) are stored as the log server stores evtsys's datagrams, repeated to --events lines,
written once, then read by the event library (plugins/module_utils/_events/, whose evtsys.py
reads each message through windows_events.py) over --rounds rounds.  Prints events/s per
language and overall, and the peak resident memory.  Goal: a log server keeps up with
thousands of Windows events a second in any of these languages, in memory that does not grow
with the file.

    python benchmarks/windows_events_throughput.py [--events 200000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.collection_path import make_collection_importable  # noqa: E402

make_collection_importable()

from ansible_collections.whotouched.server_audit.plugins.module_utils._events.assembler import (  # noqa: E402
    iter_events,
    iter_lines,
)

SAMPLES = (ROOT / "tests" / "unit" / "plugins" / "module_utils" / "_events" / "fixtures" / "windows_events"
           / "samples.json")


def stored_line(sample):
    """The sample as the rsyslog_server role stores an evtsys datagram (evtsysformat)."""
    text = re.sub(r"[\r\n\t ]+", " ", sample["text"])
    outcome = "AUDIT_SUCCESS" if sample["success"] else "AUDIT_FAILURE"
    return "Nov 14 22:13:20 192.0.2.20 daemon.notice DC01 Security-Auditing: %d: %s %s" % (
        sample["event_id"], outcome, text)


def read_file(path):
    start = time.perf_counter()
    with open(path, "rb") as stream:
        count = sum(1 for _event in iter_events(iter_lines(stream)))
    return count, time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200000)
    parser.add_argument("--rounds", type=int, default=3)
    options = parser.parse_args()
    messages = [sample for sample in json.loads(SAMPLES.read_text(encoding="utf-8"))
                if sample["kind"] == "message"]
    print("machine: %s, %d cores, Python %s" % (platform.platform(), os.cpu_count(),
                                                platform.python_version()))
    with tempfile.TemporaryDirectory() as work:
        results = {}
        for language in sorted({sample["language"] for sample in messages}) + ["all"]:
            chosen = [sample for sample in messages if language in ("all", sample["language"])]
            path = Path(work) / ("%s.log" % language)
            lines = [stored_line(sample) for sample in chosen]
            with open(path, "w", encoding="utf-8") as out:
                for index in range(options.events):
                    out.write(lines[index % len(lines)] + "\n")
            timings = []
            for _round in range(options.rounds):
                count, seconds = read_file(path)
                assert count == options.events, (count, options.events)
                timings.append(seconds)
            results[language] = options.events / statistics.median(timings)
            print("%-4s %8d events  %9.0f events/s  (%s)" % (
                language, options.events, results[language],
                ", ".join(sample["id"] for sample in chosen)))
    print("peak resident memory: %.1f MiB" % (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024))


if __name__ == "__main__":
    main()
