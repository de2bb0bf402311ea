"""playbooks/site.yml: the fleet play parses and maps groups to roles as documented."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml

from tests.support.collection_path import collections_base

ROOT = Path(__file__).resolve().parents[2]
SITE = ROOT / "playbooks" / "site.yml"
INVENTORY = ROOT / "playbooks" / "inventory.example.yml"


def ansible(tool: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(Path(sys.executable).with_name(tool)), *args],
                          capture_output=True, text=True, check=False, cwd=ROOT)


def test_site_play_passes_syntax_check_with_the_example_inventory():
    result = ansible("ansible-playbook", "--syntax-check", "-i", str(INVENTORY), str(SITE))
    assert result.returncode == 0, result.stdout + result.stderr


def test_site_play_runs_by_its_collection_name_outside_the_checkout(tmp_path):
    # As a user runs it once the collection is installed: by name, from any directory.
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(collections_base()))
    result = subprocess.run([str(Path(sys.executable).with_name("ansible-playbook")), "--syntax-check",
                             "-i", str(INVENTORY), "whotouched.server_audit.site"],
                            capture_output=True, text=True, check=False, cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "server_audit/playbooks/site.yml" in result.stdout


def test_each_group_gets_its_roles():
    plays = {play["hosts"]: [role["role"] for role in play["roles"]]
             for play in yaml.safe_load(SITE.read_text())}
    assert plays == {
        "log_servers": ["whotouched.server_audit.rsyslog_server"],
        "linux": ["whotouched.server_audit.linux_audit", "whotouched.server_audit.rsyslog_client"],
        "windows": ["whotouched.server_audit.windows_evtsys_policy"],
    }


def test_example_inventory_has_the_groups_site_uses():
    result = ansible("ansible-inventory", "-i", str(INVENTORY), "--graph")
    assert result.returncode == 0, result.stderr
    for group in ("@log_servers", "@linux", "@windows"):
        assert group in result.stdout


def test_linux_clients_send_to_the_first_log_server():
    result = ansible("ansible", "-i", str(INVENTORY), "web01.example.com", "-m", "ansible.builtin.debug",
                     "-a", "msg={{ groups['log_servers'] | first }}", "-c", "local")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "logs01.example.com" in result.stdout
