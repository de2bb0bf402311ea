"""The modules' work at two revisions of the collection, side by side: did a change make it slower?

For a change meant to keep behaviour and speed (a move of files, a refactoring), each case runs a
module as Ansible runs it on a host (one process: ``python plugins/modules/NAME.py args.json``)
from a copy of each revision (``git archive``), on the same inputs, the revisions interleaved over
--rounds rounds.  Printed per case: the median wall time and peak memory of each revision, and
head / base.  Every case uses only options both revisions have; nothing is loaded into the
kernel, and a file a module writes is put back as it was before the next run.

  audit_rules corpus   the corpus's two public rule sets (their valid rules) merged into an
                       empty file
  audit_rules 5 MB     one rule added to a 5 MB file of the corpus's rules repeated
  rsyslog_filter       20 filters merged into a drop-in of 2,000 filters
  audit_report         min_level=high over the corpus's audit logs repeated to --records records

Needs ../shared/corpus beside the checkout (the public rule sets and audit logs).

    python benchmarks/compare_revisions.py --base REV [--head REV] [--rounds 5] [--records 200000]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "corpus"
sys.path.insert(0, str(ROOT))

from tests.support.collection_path import make_collection_importable  # noqa: E402

make_collection_importable()

from ansible_collections.whotouched.server_audit.plugins.module_utils._audit_rules.parser import (  # noqa: E402
    parse_rule,
)


def revision_tree(revision: str, into: Path) -> Path:
    """A copy of ``revision`` importable as ansible_collections.whotouched.server_audit."""
    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", revision],
                            capture_output=True, text=True, check=True).stdout.strip()
    tree = into / commit / "ansible_collections" / "whotouched" / "server_audit"
    tree.mkdir(parents=True)
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", commit, "plugins"],
                             capture_output=True, check=True).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(tree)
    return tree


# Runs one module process and prints its wall seconds and peak resident KB.  A process of its
# own, so that the module's peak is not this benchmark's (a child's peak starts at its
# parent's size).
LAUNCHER = """
import json, os, subprocess, sys, time
start = time.perf_counter()
process = subprocess.Popen(sys.argv[1:], stdout=subprocess.PIPE)
output = process.stdout.read()
_pid, _status, usage = os.wait4(process.pid, 0)
sys.stderr.write(json.dumps([time.perf_counter() - start, usage.ru_maxrss]) + "\\n")
sys.stdout.buffer.write(output)
"""


def run_module(tree: Path, module: str, arguments: dict) -> tuple:
    """Wall seconds and peak resident MB of one module process; refuses a failed run."""
    args_file = tree.parents[2] / (module + ".json")
    args_file.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": arguments}))
    env = dict(os.environ, PYTHONPATH=str(tree.parents[2]))
    process = subprocess.run([sys.executable, "-c", LAUNCHER, sys.executable,
                              str(tree / "plugins" / "modules" / (module + ".py")), str(args_file)],
                             capture_output=True, env=env, check=False)
    elapsed, peak_kb = json.loads(process.stderr.decode().splitlines()[-1])
    result = json.loads(process.stdout)
    if result.get("failed"):
        raise SystemExit("%s at %s failed: %s" % (module, tree.parents[2].name, result.get("msg")))
    return elapsed, peak_kb / 1024


def corpus_rules() -> list:
    """The corpus's rules that auditctl would take (a few in it are broken), each once."""
    rules = []
    for name in ("neo23x0-audit.rules", "bfuzzy-auditd-attack.rules"):
        for line in (CORPUS / name).read_text().splitlines():
            line = line.strip()
            if line.startswith(("-a", "-w")) and line not in rules and valid_rule(line):
                rules.append(line)
    return rules


def valid_rule(text: str) -> bool:
    try:
        parse_rule(text)
    except ValueError:
        return False
    return True


def audit_log(records: int) -> str:
    lines = []
    for path in sorted((CORPUS / "audit-logs").rglob("*.log")):
        lines += [line for line in path.read_text(errors="replace").splitlines() if "msg=audit(" in line]
    repeated = (lines * (records // len(lines) + 1))[:records]
    return "\n".join(repeated) + "\n"


def cases(work: Path, records: int) -> dict:
    rules = corpus_rules()
    empty = work / "empty.rules"
    empty.write_text("")
    big = work / "big.rules"
    text = "\n".join(rules) + "\n"
    big.write_text(text * (5 * 2 ** 20 // len(text) + 1))
    drop_in = work / "filters.conf"
    drop_in.write_text("".join(':msg, contains, "noise-%d" stop\n' % number for number in range(2000)))
    log = work / "audit.log"
    log.write_text(audit_log(records))
    filters = [':msg, ereregex, "(bin|sbin)/(sleep|ls|date|cat)" stop'] + [
        {"property": "msg", "operator": "contains", "value": "type=PATH-%d" % number, "action": "stop"}
        for number in range(19)]
    return {
        "audit_rules corpus": ("audit_rules", {"path": str(empty), "rules": rules, "load": False}),
        "audit_rules 5 MB": ("audit_rules", {"path": str(big), "rules": ["-w /etc/whotouched -p wa -k x"],
                                             "load": False}),
        "rsyslog_filter": ("rsyslog_filter", {"path": str(drop_in), "filters": filters, "validate": False}),
        "audit_report": ("audit_report", {"path": str(log), "min_level": "high", "limit": 50}),
    }


def with_revision_options(tree: Path, module: str, arguments: dict) -> dict:
    """audit_report reads the files at both: a revision with an event store is told so."""
    source = (tree / "plugins" / "modules" / (module + ".py")).read_text()
    if module == "audit_report" and "\n  source:" in source:
        return dict(arguments, source="files")
    return arguments


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", required=True)
    parser.add_argument("--head", default="HEAD")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--records", type=int, default=200000)
    args = parser.parse_args()
    if not CORPUS.is_dir():
        raise SystemExit("the corpus is not at %s: this benchmark reads its rule sets and logs" % CORPUS)
    with tempfile.TemporaryDirectory(prefix="whotouched-revisions-") as temporary:
        work = Path(temporary)
        trees = {"base": revision_tree(args.base, work), "head": revision_tree(args.head, work)}
        print("base %s, head %s, %d rounds, python %s" % (
            trees["base"].parents[2].name, trees["head"].parents[2].name, args.rounds,
            sys.version.split()[0]))
        print("%-20s %12s %12s %8s %10s %10s %8s" % (
            "case", "base s", "head s", "head/base", "base MB", "head MB", "head/base"))
        for name, (module, arguments) in cases(work, args.records).items():
            figures = {"base": [], "head": []}
            target = Path(arguments["path"])
            original = target.read_bytes()
            for round_number in range(args.rounds):
                order = ("base", "head") if round_number % 2 == 0 else ("head", "base")
                for side in order:
                    target.write_bytes(original)
                    figures[side].append(run_module(
                        trees[side], module, with_revision_options(trees[side], module, arguments)))
            wall = {side: statistics.median(run[0] for run in runs) for side, runs in figures.items()}
            memory = {side: statistics.median(run[1] for run in runs) for side, runs in figures.items()}
            print("%-20s %12.3f %12.3f %8.2fx %10.1f %10.1f %8.2fx" % (
                name, wall["base"], wall["head"], wall["head"] / wall["base"],
                memory["base"], memory["head"], memory["head"] / memory["base"]))


if __name__ == "__main__":
    main()
