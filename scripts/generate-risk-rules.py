#!/usr/bin/env python
"""Write the shipped risk rules as Python data: _events/risk_rules.yml -> _events/risk_rules.py.

Only Python travels to the log server with the audit_report module, so the YAML file (the one
to read and edit) has a generated Python twin.  Run it after editing the YAML:

    .venv/bin/python scripts/generate-risk-rules.py           # rewrite risk_rules.py
    .venv/bin/python scripts/generate-risk-rules.py --check   # exit 1 when it is stale

A unit test runs the check.
"""

from __future__ import annotations

import pprint
import sys
from pathlib import Path

import yaml

EVENTS = Path(__file__).resolve().parents[1] / "plugins" / "module_utils" / "_events"
YAML_FILE = EVENTS / "risk_rules.yml"
PYTHON_FILE = EVENTS / "risk_rules.py"

HEADER = '''# -*- coding: utf-8 -*-
# Copyright: whotouched.server_audit contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to whotouched.server_audit: it may change in any release. Do not import it from
# other collections or from code outside this collection.
"""The shipped risk rules as Python data, so that they travel to the log server with the module.

Generated from ``risk_rules.yml`` (the file to read and edit) by
``scripts/generate-risk-rules.py``; a unit test keeps the two equal.  Do not edit by hand.
"""

from __future__ import annotations

SHIPPED_RISK_RULES = '''


def shipped_rules():
    """The rules of the YAML file."""
    return yaml.safe_load(YAML_FILE.read_text(encoding="utf-8"))


def render_python(rules) -> str:
    """One rule per block, each laid out by pprint and indented as a list item (pep8-clean)."""
    items = []
    for rule in rules:
        text = pprint.pformat(rule, width=95, sort_dicts=False)
        items.append("    " + text.replace("\n", "\n    ") + ",")
    return HEADER + "[\n" + "\n".join(items) + "\n]\n"


def main(argv):
    wanted = render_python(shipped_rules())
    if argv == ["--check"]:
        if PYTHON_FILE.read_text(encoding="utf-8") != wanted:
            print("%s is stale: run %s" % (PYTHON_FILE, sys.argv[0]), file=sys.stderr)
            return 1
        return 0
    if argv:
        print("usage: %s [--check]" % sys.argv[0], file=sys.stderr)
        return 2
    PYTHON_FILE.write_text(wanted, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
