"""A role's variables as Ansible renders them (its defaults, then its vars/main.yml), and the
alert processor installed the way the rsyslog_server role installs it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.support.collection_path import ROOT, collections_base

ROLES = ROOT / "roles"


_RENDER = """
import json, sys
from ansible.parsing.dataloader import DataLoader
from ansible.plugins.loader import init_plugin_loader
from ansible.template import Templar
role, name, overrides = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
init_plugin_loader()
loader = DataLoader()
variables = {}
for part in ("defaults", "vars"):
    variables.update(loader.load_from_file("%s/%s/main.yml" % (role, part),
                                           trusted_as_template=True) or {})
variables.update(overrides, role_path=role)
print(json.dumps(Templar(loader=loader, variables=variables).template(variables[name])))
"""


def rendered(role: str, name: str, **overrides):
    """The value of variable ``name`` of ``role``, templated by Ansible itself, as JSON data.

    In a process of its own: Ansible's plugin loader, once set up, stays in the process."""
    result = subprocess.run(
        [sys.executable, "-c", _RENDER, str(ROLES / role), name, json.dumps(overrides)],
        capture_output=True, text=True, check=False,
        env=dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(collections_base())))
    if result.returncode != 0:
        raise AssertionError("cannot render %s of role %s: %s" % (name, role, result.stderr))
    return json.loads(result.stdout)


def install_processor(root: Path) -> Path:
    """The alert processor as the rsyslog_server role installs it, under ``root``: the files
    its ``rsyslog_server_processor_tree`` selects, in the collection's layout, beside the entry
    script.  Returns the entry script."""
    source = ROOT / "plugins" / "module_utils"
    target = root / "ansible_collections" / "whotouched" / "server_audit" / "plugins" / \
        "module_utils"
    target.mkdir(parents=True)
    tree = rendered("rsyslog_server", "rsyslog_server_processor_tree")
    for item in sorted(tree, key=lambda item: item["path"]):
        if item["state"] == "directory":
            (target / item["path"]).mkdir()
        else:
            shutil.copyfile(source / item["path"], target / item["path"])
    entry = root / "whotouched-alert-processor.py"
    shutil.copyfile(ROLES / "rsyslog_server" / "files" / "whotouched-alert-processor.py", entry)
    return entry
