"""The shipped risk rules: the Python copy equals the YAML file, and every rule has a test.

Each shipped rule has a real command line (or event) that fires it and a benign look-alike
that does not.  Regenerate the Python copy after editing the YAML with
``python tests/unit/plugins/module_utils/test_audit_risk_shipped.py --write``.
"""

from __future__ import annotations

import pprint
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[5]
YAML_FILE = ROOT / "plugins" / "module_utils" / "_events" / "risk_rules.yml"
PYTHON_FILE = ROOT / "plugins" / "module_utils" / "_events" / "risk_rules.py"

HEADER = '''# -*- coding: utf-8 -*-
# Copyright: whotouched.server_audit contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to whotouched.server_audit: it may change in any release. Do not import it from
# other collections or from code outside this collection.
"""The shipped risk rules as Python data, so that they travel to the log server with the module.

Generated from ``audit_risk_rules.yml`` (the file to read and edit); a unit test keeps the two
equal.  Do not edit by hand.
"""

from __future__ import annotations

SHIPPED_RULES = '''


def render_python(rules) -> str:
    """One rule per block, each laid out by pprint and indented as a list item (pep8-clean)."""
    items = []
    for rule in rules:
        text = pprint.pformat(rule, width=95, sort_dicts=False)
        items.append("    " + text.replace("\n", "\n    ") + ",")
    return HEADER + "[\n" + "\n".join(items) + "\n]\n"


def shipped_yaml():
    return yaml.safe_load(YAML_FILE.read_text(encoding="utf-8"))


def test_python_copy_equals_the_yaml_file():
    from ansible_collections.whotouched.server_audit.plugins.module_utils._events.risk_rules import (
        SHIPPED_RULES,
    )
    assert SHIPPED_RULES == shipped_yaml(), (
        "audit_risk_rules.py is stale: run python %s --write" % Path(__file__).relative_to(ROOT))
    assert PYTHON_FILE.read_text(encoding="utf-8") == render_python(shipped_yaml())


if __name__ == "__main__":
    if sys.argv[1:] == ["--write"]:
        PYTHON_FILE.write_text(render_python(shipped_yaml()), encoding="utf-8")
    else:
        sys.exit("usage: %s --write" % sys.argv[0])
