"""Every module and plugin of the collection documents itself through ansible-doc."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
PLUGIN_TYPES = {"modules": "module", "filter": "filter", "lookup": "lookup", "test": "test"}


def documented_plugins():
    for folder, plugin_type in PLUGIN_TYPES.items():
        for path in sorted((ROOT / "plugins" / folder).glob("*")):
            if path.name.startswith("_") or path.suffix not in (".py", ".yml"):
                continue
            # Filter and test files holding several plugins document each one in its own .yml.
            if plugin_type in ("filter", "test") and path.suffix == ".py":
                continue
            yield plugin_type, path.stem


def test_the_plugins_documented_here_are_those_ansible_lists():
    ansible_doc = Path(sys.executable).with_name("ansible-doc")
    listed = set()
    for plugin_type in PLUGIN_TYPES.values():
        result = subprocess.run([str(ansible_doc), "-t", plugin_type, "-l", "--json",
                                 "whotouched.server_audit"], capture_output=True, text=True,
                                check=False)
        assert result.returncode == 0, result.stderr
        listed |= {(plugin_type, name.rsplit(".", 1)[1]) for name in json.loads(result.stdout)}
    assert set(documented_plugins()) == listed
    assert {name for plugin_type, name in listed if plugin_type == "module"} == {
        "audit_report", "audit_rules", "auditd_conf", "rsyslog_filter", "win_audit_policy"}


def test_the_merged_file_fragment_documents_the_options_of_the_scaffold():
    """The merge modules take these options from managed_file and their docs from the
    fragment: type, default, choices and required must say the same in both."""
    from ansible_collections.whotouched.server_audit.plugins.doc_fragments.merged_file import (
        ModuleDocFragment,
    )
    from ansible_collections.whotouched.server_audit.plugins.module_utils.managed_file import (
        MERGED_FILE_OPTIONS,
    )

    def contract(option):
        return {key: option.get(key) for key in ("type", "default", "choices", "required")
                if option.get(key) not in (None, False) or key == "default"}

    documented = yaml.safe_load(ModuleDocFragment.DOCUMENTATION)["options"]
    assert {name: contract(option) for name, option in documented.items()} == {
        name: contract(option) for name, option in MERGED_FILE_OPTIONS.items()}


@pytest.mark.parametrize("plugin_type,name", list(documented_plugins()))
def test_ansible_doc_renders(plugin_type, name):
    ansible_doc = Path(sys.executable).with_name("ansible-doc")
    fqcn = f"whotouched.server_audit.{name}"
    result = subprocess.run([str(ansible_doc), "-t", plugin_type, "--json", fqcn],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)[fqcn]["doc"]
    assert doc["short_description"]
    assert doc.get("description")
    text = subprocess.run([str(ansible_doc), "-t", plugin_type, fqcn],
                          capture_output=True, text=True, check=False)
    assert text.returncode == 0 and fqcn in text.stdout


ROLES = sorted(path.parent.parent.name for path in ROOT.glob("roles/*/meta/argument_specs.yml"))


def test_every_role_has_argument_specs():
    assert sorted(path.name for path in (ROOT / "roles").iterdir() if path.is_dir()) == ROLES


@pytest.mark.parametrize("role", ROLES)
def test_role_documentation_renders(role):
    ansible_doc = Path(sys.executable).with_name("ansible-doc")
    fqcn = f"whotouched.server_audit.{role}"
    result = subprocess.run([str(ansible_doc), "-t", "role", "--json", fqcn],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    entry = json.loads(result.stdout)[fqcn]["entry_points"]["main"]
    assert entry["short_description"]
    assert entry["options"]
