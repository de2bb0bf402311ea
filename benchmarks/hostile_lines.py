"""What one crafted line costs the log server: long words a sender writes, read and judged.

A sender controls every byte of its records up to the 64 KiB line limit.  Each shape below
is one stored line, fed to the event assembler and the event classified by the shipped risk
rules, as the alert processor and audit_report do.  Printed: the CPU time of a line whose long
part is 16 KiB and 64 KiB, and their ratio (4 when the cost grows with the line, 16 when it
grows with its square).  Beside them, in the same run, the field expressions and rules as
first written (plain ``([^\\s=]+)=`` and ``(?=.*a)(?=.*b)``) at 4 KiB and 16 KiB: one 64 KiB
line took them 20 to 35 s.

    python benchmarks/hostile_lines.py
"""

from __future__ import annotations

import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tests.support.collection_path import make_collection_importable  # noqa: E402

make_collection_importable()
from ansible_collections.whotouched.server_audit.plugins.module_utils._events.assembler import (  # noqa: E402
    EventAssembler,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._events.risk import (  # noqa: E402
    classify,
    compile_risk_rules,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._events.risk_rules import (  # noqa: E402
    SHIPPED_RISK_RULES,
)

PREFIX = "Dec  6 10:00:00 web01 192.0.2.10 "


def execve(*argv):
    return "argc=%d " % len(argv) + " ".join('a%d="%s"' % item for item in enumerate(argv))


SHAPES = {
    "user record, one word without '='": lambda size: [
        "type=USER_CMD msg=audit(1700000000.000:1): pid=1 uid=0 msg='cmd=x " + "a" * size + "'"],
    "kernel record, one word without '='": lambda size: [
        "type=CWD msg=audit(1700000000.000:1): cwd=/ " + "a" * size],
    "systemctl, one long argument": lambda size: [
        "type=SYSCALL msg=audit(1700000000.000:1): arch=c000003e syscall=59 success=yes exit=0 "
        "ppid=1 pid=2 auid=0 uid=0 euid=0 tty=pts0 ses=1 comm=\"systemctl\" "
        "exe=\"/usr/bin/systemctl\" key=\"exec\"",
        "type=EXECVE msg=audit(1700000000.000:1): " + execve("systemctl", "x" * size)],
    "many words a rule looks for": lambda size: [
        "type=SYSCALL msg=audit(1700000000.000:1): arch=c000003e syscall=59 success=yes exit=0 "
        "ppid=1 pid=2 auid=0 uid=0 euid=0 tty=pts0 ses=1 comm=\"bash\" "
        "exe=\"/usr/bin/bash\" key=\"exec\"",
        "type=EXECVE msg=audit(1700000000.000:1): " + execve(
            "bash", "-c", "curl|tee socket " * (size // 16))],
}
RULES = compile_risk_rules(SHIPPED_RISK_RULES)


def cpu_seconds(lines):
    start = time.process_time()
    assembler = EventAssembler()
    events = []
    for line in lines:
        events.extend(assembler.feed(PREFIX + line))
    events.extend(assembler.flush())
    for event in events:
        classify(event, RULES)
    return time.process_time() - start


PLAIN = {
    "plain field expression, a word without '='": (
        re.compile(r"""([^\s=]+)=('[^']*'?|"[^"]*"?|[^\s\x1d]*)"""), lambda size: "a" * size),
    "plain rule (?=.*stop)(?=.*auditd)": (
        re.compile(r"(?=.*\b(stop|disable|mask|kill)\b)(?=.*\b(auditd|rsyslog)\b)"),
        lambda size: "x " * (size // 2)),
}


def main():
    print("one line, read and judged (CPU ms): 16 KiB, 64 KiB, ratio (4: linear, 16: square)")
    for name, shape in SHAPES.items():
        small, large = cpu_seconds(shape(16384)), cpu_seconds(shape(65536))
        print("  %-40s %8.1f %8.1f %6.1f"
              % (name, small * 1e3, large * 1e3, large / max(small, 1e-6)))
    print("as first written, side by side (CPU ms): 4 KiB, 16 KiB, ratio")
    for name, (expression, text) in PLAIN.items():
        timings = []
        for size in (4096, 16384):
            start = time.process_time()
            expression.findall(text(size)) if "field" in name else expression.search(text(size))
            timings.append(time.process_time() - start)
        print("  %-40s %8.1f %8.1f %6.1f"
              % (name, timings[0] * 1e3, timings[1] * 1e3, timings[1] / max(timings[0], 1e-6)))


if __name__ == "__main__":
    main()
