"""Run one of the collection's modules through the real ``ansible-playbook``.

Tests that exercise a module end to end go through Ansible itself (argument spec,
check mode, diff mode, module transport), never by calling ``main()`` directly.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

COLLECTION = "whotouched.server_audit"


def _ansible_playbook() -> str:
    candidate = Path(sys.executable).with_name("ansible-playbook")
    return str(candidate) if candidate.exists() else "ansible-playbook"


def run_module(module: str, args: dict, check: bool = False, diff: bool = False,
               extra_env: dict | None = None, beside: dict | None = None) -> dict:
    """Run ``whotouched.server_audit.<module>`` (or a fully qualified module) on localhost.

    The result is the registered task result (``failed``, ``msg``, ``changed``,
    ``diff`` and the module's own return values).  ``beside``: files (relative path: bytes)
    written beside the playbook first.
    """
    with tempfile.TemporaryDirectory(prefix="module-run-") as work:
        for name, data in (beside or {}).items():
            (Path(work) / name).parent.mkdir(parents=True, exist_ok=True)
            (Path(work) / name).write_bytes(data)
        out = Path(work) / "result.json"
        play = [{
            "name": "Run " + module,
            "hosts": "localhost",
            "connection": "local",
            "gather_facts": False,
            "tasks": [
                {
                    "name": "Module under test",
                    module if "." in module else f"{COLLECTION}.{module}": args,
                    "register": "module_result",
                    "ignore_errors": True,
                    "check_mode": check,
                    "diff": diff,
                },
                {
                    "name": "Save the result",
                    "ansible.builtin.copy": {
                        "content": "{{ module_result | to_json }}",
                        "dest": str(out),
                        "mode": "0600",
                    },
                    "check_mode": False,
                    "diff": False,
                },
            ],
        }]
        playbook = Path(work) / "play.yml"
        playbook.write_text(yaml.safe_dump(play), encoding="utf-8")
        env = dict(os.environ)
        env.update({
            "ANSIBLE_LOCALHOST_WARNING": "false",
            "ANSIBLE_INVENTORY_UNPARSED_WARNING": "false",
            "ANSIBLE_PYTHON_INTERPRETER": sys.executable,
            "ANSIBLE_NOCOLOR": "1",
        })
        env.update(extra_env or {})
        proc = subprocess.run(
            [_ansible_playbook(), "-i", "localhost,", str(playbook)],
            capture_output=True, text=True, env=env, check=False,
        )
        if not out.exists():
            raise AssertionError(
                f"ansible-playbook did not run the module:\n{proc.stdout}\n{proc.stderr}")
        return json.loads(out.read_text(encoding="utf-8"))


def assert_missing_directory_handled(module: str, args: dict, directory: Path) -> None:
    """A missing directory fails the real run and is only warned about in check mode
    (an earlier task that check mode skipped may create it); nothing is created."""
    message = "directory %s does not exist" % directory
    result = run_module(module, args)
    assert result["failed"] is True and message in result["msg"], result
    predicted = run_module(module, args, check=True)
    assert not predicted.get("failed") and predicted["changed"] is True, predicted
    assert any(message in warning for warning in predicted["warnings"])
    assert not directory.exists()
