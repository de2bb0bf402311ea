"""The demo's who-did-what report: the audit_report module run ad hoc against the log
server, exactly as a user would type it, and its table.

    python3 report.py [--wait-for TEXT] [--timeout SECONDS] [MODULE ARGS]   default: since=1h

``make demo`` prints the report this way; the scenario's verifier judges the events of the
same command.  ``--wait-for`` repeats the command until an event holds TEXT (the events
take a second or two from the kernel to the log server's file).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

SCENARIO = Path(__file__).resolve().parent
ROOT = SCENARIO.parents[1]
INVENTORY = SCENARIO / "inventory.yml"
LOG_SERVER = "demo-logs"
MODULE = "whotouched.server_audit.audit_report"

sys.path.insert(0, str(ROOT))
from tests.support.collection_path import collections_base  # noqa: E402


class ReportFailed(RuntimeError):
    """The ad hoc command did not give a report; the message says what it printed."""


def command(module_args: str) -> list[str]:
    """The ad hoc command, as a user types it from the checkout."""
    return ["ansible", "-i", str(INVENTORY.relative_to(ROOT)), "log_servers",
            "-m", MODULE, "-a", module_args]


def run_report(module_args: str = "since=1h") -> dict:
    """The module's result (``events``, ``table``, ``counts``) on the log server."""
    env = dict(os.environ,
               ANSIBLE_COLLECTIONS_PATH=str(collections_base()),
               ANSIBLE_LOAD_CALLBACK_PLUGINS="1", ANSIBLE_STDOUT_CALLBACK="ansible.builtin.json",
               ANSIBLE_NOCOLOR="1")
    argv = command(module_args)
    argv[0] = str(Path(sys.executable).with_name("ansible"))
    done = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    try:
        result = json.loads(done.stdout)["plays"][0]["tasks"][0]["hosts"][LOG_SERVER]
    except (ValueError, KeyError, IndexError) as exc:
        raise ReportFailed("%s gave no report (%s): %s %s" % (
            shlex.join(command(module_args)), exc, done.stdout[-2000:], done.stderr[-2000:])) from None
    if result.get("failed") or result.get("unreachable"):
        raise ReportFailed("%s failed: %s" % (shlex.join(command(module_args)), result.get("msg")))
    return result


def event_text(event: dict) -> str:
    """What an event says, as one string to look for a word in."""
    return " ".join([event.get("exe") or "", " ".join(event.get("argv") or []), event.get("path") or ""])


def _node_events(nodes):
    for node in nodes:
        yield node["event"]
        for name in ("pam", "files", "calls"):
            yield from node[name]
        yield from _node_events(node["repeated"] + node["children"])


def report_events(result: dict) -> list:
    """Every event of the report: its list, or those of its sessions (``view=sessions``)."""
    events = list(result["events"])
    for session in result.get("sessions") or ():
        events += session["login"] + list(_node_events(session["tree"]))
    return events


def summary(result: dict) -> str:
    """The line under the table: what was shown, and what was left out and why."""
    counts = result.get("counts", {})
    shown = "%d events" % len(report_events(result))
    if result.get("sessions"):
        shown = "%d sessions of %s" % (len(result["sessions"]), shown)
    if result.get("source") == "store":
        return "(%s from the event store the alert processor fills as events arrive)" % shown
    return ("(%s from %d files; %s lines skipped as not audit; %s fragments of "
            "filtered commands left out)" % (
                shown, counts.get("files", 0), counts.get("other", 0),
                counts.get("fragments", 0)))


def wait_for_report(module_args: str, wait_for: str | None, timeout: float) -> dict:
    """The report, once an event holds ``wait_for`` (or after ``timeout`` seconds)."""
    deadline = time.monotonic() + timeout
    while True:
        result = run_report(module_args)
        if not wait_for or any(wait_for in event_text(event) for event in report_events(result)):
            return result
        if time.monotonic() >= deadline:
            return result
        time.sleep(2)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("module_args", nargs="?", default="since=1h")
    parser.add_argument("--wait-for", help="repeat until an event holds this text")
    parser.add_argument("--timeout", type=float, default=60.0)
    options = parser.parse_args()
    print("$ " + shlex.join(command(options.module_args)))
    try:
        result = wait_for_report(options.module_args, options.wait_for, options.timeout)
    except ReportFailed as exc:
        print(exc, file=sys.stderr)
        return 1
    for line in result["table"]:
        print(line)
    print(summary(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
