"""How long audit_rules takes to merge real-world rule sets, and how that grows.

Run with the project's Python from the checkout root:

    python benchmarks/audit_rules_merge.py [corpus folder]

It measures, side by side in one run:

* the module_utils path (parse the wanted rules, read the file, merge, serialize) merging
  the corpus into an empty file and into a file that already holds it, at 1x and 10x size;
* one end-to-end module process (``python plugins/modules/audit_rules.py args.json``, as
  Ansible runs it on the target, without the SSH/controller overhead), 1x and 10x.

* one module process over rules files of 5, 16 and 50 MB, in check mode, adding one rule:
  the corpus repeated (a careless concatenation: every rule a thousand times) and the corpus
  scaled to distinct rules; wall time, CPU time and the process's peak memory.  A file over
  the modules' 16 MiB limit is refused before it is read: its row shows what the refusal costs.

Goals: well under half a second for the corpus, linear growth, and any file the module reads
(16 MiB at most, about 250,000 rules) in seconds and a few hundred MB.  A 50 MB file took
51 s and 1.27 GB; with option arguments read once, rules in slots and no cycle collection
while reading, 12 s and 650 MB (3 s of it Ansible returning the file's 800,000 rules); it is
refused now.  The figures are printed, never asserted.  ``--sizes=5,16,50`` chooses the large
files (MB).
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
# The checkout's conftest makes ansible_collections.whotouched.server_audit importable.
__import__("conftest")

from ansible_collections.whotouched.server_audit.plugins.module_utils._audit_rules.merge import (
    merge_rules,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._audit_rules.model import (
    RuleSyntaxError,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils._audit_rules.parser import (
    parse_rule,
)
from ansible_collections.whotouched.server_audit.plugins.module_utils.managed_file import (
    MAX_FILE_BYTES,
)

CORPUS_FILES = ("neo23x0-audit.rules", "bfuzzy-auditd-attack.rules")


def machine() -> str:
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return "%d CPUs (%s), %s, Python %s" % (
        os.cpu_count() or 0, model, platform.platform(), platform.python_version())


def corpus_rules(folder: Path, name: str) -> list:
    rules = []
    for line in (folder / name).read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        try:
            parse_rule(line)
        except RuleSyntaxError:
            continue  # the few lines auditctl itself refuses
        rules.append(line)
    return rules


def _distinct_copy(rule: str, copy: int) -> str:
    """The rule made different by a key, or by a pid test where a key is not allowed."""
    for extra in (" -k copy%d" % copy, " -F pid!=%d" % (100000 + copy)):
        try:
            parse_rule(rule + extra)
            return rule + extra
        except RuleSyntaxError:
            continue
    raise ValueError("cannot make a distinct copy of %s" % rule)


def scaled(rules: list, factor: int) -> list:
    """``factor`` distinct copies of the rule set (control options once)."""
    result = [rule for rule in rules if not rule.startswith(("-a", "-w"))]
    for copy in range(factor):
        result += [rule if copy == 0 else _distinct_copy(rule, copy)
                   for rule in rules if rule.startswith(("-a", "-w"))]
    return result


def best_of(repeat: int, function) -> float:
    times = []
    for _attempt in range(repeat):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times)


def merge_path(rule_texts: list, existing: str) -> str:
    """What the module does in memory: parse the wanted rules, merge, serialize."""
    wanted = [parse_rule(text) for text in rule_texts]
    return merge_rules(existing, wanted).text


def module_process(rule_texts: list, path: Path) -> float:
    args = Path(tempfile.mkstemp(suffix=".json")[1])
    args.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": {"path": str(path), "rules": rule_texts}}))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, str(ROOT / "plugins" / "modules" / "audit_rules.py"),
                           str(args)], capture_output=True, text=True, env=env, check=False)
    elapsed = time.perf_counter() - start
    args.unlink()
    result = json.loads(proc.stdout)
    if result.get("failed"):
        raise SystemExit("module failed: %s" % result.get("msg"))
    return elapsed


def large_file(rules: list, megabytes: int, distinct: bool) -> str:
    """A rules file of about ``megabytes`` MB: the rule set repeated, or scaled to distinct
    rules, with a comment before each copy."""
    size = megabytes * 1_000_000
    copy = "# a copy of the site's rules\n" + "\n".join(rules) + "\n"
    copies = max(1, size // len(copy))
    if not distinct:
        return copy * copies
    # what _distinct_copy appends, worked out once per rule: {n} is the copy's number
    templates = [_distinct_copy(rule, 1).replace("copy1", "copy{n}").replace(
        "100001", "{pid}") for rule in rules if rule.startswith(("-a", "-w"))]
    lines = [rule for rule in rules if not rule.startswith(("-a", "-w"))]
    written = sum(len(line) + 1 for line in lines)
    for number in range(10 * copies):  # the copies are longer: as many as fit in ``size``
        batch = [template.format(n=number, pid=100000 + number) for template in templates]
        written += sum(len(line) + 1 for line in batch)
        if written > size:
            break
        lines += batch
    return "\n".join(lines) + "\n"


# Starts the module and prints its wall time, CPU time and peak memory.  A process this
# benchmark starts itself would count the benchmark's own memory as its peak (the high-water
# mark of the memory it is forked from is kept through exec), so a small process starts it.
_LAUNCHER = """
import json, os, subprocess, sys, time
start = time.perf_counter()
process = subprocess.Popen(sys.argv[1:])
_pid, status, usage = os.wait4(process.pid, 0)
elapsed = time.perf_counter() - start
sys.stderr.write("\\n" + json.dumps([status, elapsed, usage.ru_utime + usage.ru_stime, usage.ru_maxrss]))
"""


def process_cost(args_json: Path, refused: bool = False) -> tuple:
    """``(wall, cpu, peak RSS MB)`` of one module process run with ``args_json``; it must fail
    as too large when ``refused``, and succeed otherwise."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    process = subprocess.run([sys.executable, "-c", _LAUNCHER, sys.executable,
                              str(ROOT / "plugins" / "modules" / "audit_rules.py"), str(args_json)],
                             capture_output=True, env=env, check=False)
    result = json.loads(process.stdout)
    status, elapsed, cpu, peak = json.loads(process.stderr.decode().splitlines()[-1])
    if refused != (" is too large for a rules file" in result.get("msg", "")) or (
            not refused and (result.get("failed") or status or process.returncode)):
        raise SystemExit("module %s: %s" % ("failed" if result.get("failed") else "succeeded",
                                            result.get("msg")))
    return elapsed, cpu, peak / 1024


def large_files(rules: list, sizes: list) -> None:
    print("\nwhole module process over a large rules file (check mode, one new rule):")
    print("%-28s %8s %12s %12s %12s" % ("file", "size", "wall", "CPU", "peak RSS"))
    with tempfile.TemporaryDirectory() as work:
        for distinct in (False, True):
            label = "corpus scaled, distinct" if distinct else "corpus repeated"
            for megabytes in sizes:
                path = Path(work) / "large.rules"
                path.write_text(large_file(rules, megabytes, distinct))
                args = Path(work) / "args.json"
                args.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": {
                    "path": str(path), "rules": ["-w /etc/benchmark-new -p wa -k bench"],
                    "_ansible_check_mode": True}}))
                refused = path.stat().st_size > MAX_FILE_BYTES
                wall, cpu, peak = process_cost(args, refused)
                print("%-28s %5.1f MB %10.1f s %10.1f s %9.0f MB%s"
                      % (label, path.stat().st_size / 1e6, wall, cpu, peak,
                         "  refused: over 16 MiB" if refused else ""))


def main() -> None:
    arguments = [argument for argument in sys.argv[1:] if not argument.startswith("--sizes")]
    sizes = [int(size) for option in sys.argv[1:] if option.startswith("--sizes=")
             for size in option.split("=", 1)[1].split(",")] or [5, 16, 50]
    folder = Path(arguments[0]) if arguments else Path(
        os.environ.get("WHOTOUCHED_CORPUS", ROOT.parent / "shared" / "corpus"))
    if not all((folder / name).is_file() for name in CORPUS_FILES):
        raise SystemExit("corpus files %s not found in %s" % (", ".join(CORPUS_FILES), folder))
    print("machine: %s" % machine())
    sets = {"neo23x0 (%d rules)": corpus_rules(folder, CORPUS_FILES[0])}
    sets["both files (%d rules)"] = sets["neo23x0 (%d rules)"] + corpus_rules(folder, CORPUS_FILES[1])

    print("\nin-memory merge + serialize (best of 5):")
    print("%-28s %8s %14s %14s" % ("rule set", "size", "into empty", "into itself"))
    for label, rules in sets.items():
        rows = []
        for factor in (1, 10):
            texts = scaled(rules, factor)
            full = merge_path(texts, "")
            empty = best_of(5, lambda: merge_path(texts, ""))
            itself = best_of(5, lambda: merge_path(texts, full))
            rows.append((empty, itself))
            print("%-28s %7dx %11.1f ms %11.1f ms" % (label % len(rules), factor, empty * 1000,
                                                      itself * 1000))
        print("%-28s %8s %13.1fx %13.1fx" % (
            "  growth 10x / 1x", "", rows[1][0] / rows[0][0], rows[1][1] / rows[0][1]))

    print("\nwhole module process, as run on the target (best of 3):")
    rules = sets["both files (%d rules)"]
    with tempfile.TemporaryDirectory() as work:
        for factor in (1, 10):
            texts = scaled(rules, factor)
            empty_path = Path(work) / ("empty-%d.rules" % factor)
            full_path = Path(work) / ("full-%d.rules" % factor)
            full_path.write_text(merge_path(texts, ""))

            def into_empty():
                if empty_path.exists():
                    empty_path.unlink()
                module_process(texts, empty_path)

            empty = best_of(3, into_empty)
            itself = best_of(3, lambda: module_process(texts, full_path))
            print("%-28s %7dx %11.1f ms %11.1f ms" % ("both files (%d rules)" % len(rules), factor,
                                                      empty * 1000, itself * 1000))
    baseline = best_of(3, lambda: subprocess.run(
        [sys.executable, "-c", "import ansible.module_utils.basic"], check=True,
        env=dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))))
    print("%-28s %8s %11.1f ms  (Python start + AnsibleModule import, for scale)"
          % ("interpreter baseline", "", baseline * 1000))
    large_files(rules, sizes)


if __name__ == "__main__":
    main()
