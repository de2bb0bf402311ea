"""The shipped risk rules: the generated Python copy is up to date with the YAML file."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.support.scripts import load_script

ROOT = Path(__file__).resolve().parents[5]
GENERATOR = ROOT / "scripts" / "generate-risk-rules.py"


def _generator():
    return load_script("generate-risk-rules.py")


def test_the_python_copy_is_what_the_generator_writes_from_the_yaml_file():
    from ansible_collections.whotouched.server_audit.plugins.module_utils._events.risk_rules import (
        SHIPPED_RISK_RULES,
    )
    generator = _generator()
    assert SHIPPED_RISK_RULES == generator.shipped_rules(), (
        "risk_rules.py is stale: run %s" % GENERATOR.relative_to(ROOT))
    assert generator.PYTHON_FILE.read_text(encoding="utf-8") == \
        generator.render_python(generator.shipped_rules())


def test_the_generator_check_fails_on_a_stale_copy(tmp_path):
    generator = _generator()
    stale = tmp_path / "risk_rules.py"
    stale.write_text(generator.render_python(generator.shipped_rules()[1:]), encoding="utf-8")
    generator.PYTHON_FILE = stale
    assert generator.main(["--check"]) == 1
    generator.main([])
    assert generator.main(["--check"]) == 0
    assert stale.read_text(encoding="utf-8") == \
        (ROOT / "plugins/module_utils/_events/risk_rules.py").read_text(encoding="utf-8")


def test_the_generator_runs_as_a_script_in_check_mode():
    result = subprocess.run([sys.executable, str(GENERATOR), "--check"], capture_output=True,
                            text=True, check=False)
    assert result.returncode == 0, result.stderr
