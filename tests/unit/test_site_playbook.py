"""playbooks/site.yml: the fleet play parses and maps groups to roles as documented."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
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


def _client_targets(tmp_path: Path, inventory: dict) -> dict:
    """rsyslog_client_target per Linux host as site.yml's play sets it for ``inventory``.

    The Linux play is site.yml's own (its vars, pre_tasks and roles, whose defaults apply);
    only its roles are skipped and a task that prints the target is added after them.
    """
    play = next(play for play in yaml.safe_load(SITE.read_text()) if play["hosts"] == "linux")
    play = dict(play, gather_facts=False, become=False,
                roles=[dict(role, when=False) for role in play["roles"]],
                post_tasks=[{"name": "Print the target", "ansible.builtin.debug": {
                    "msg": "TARGET {{ inventory_hostname }}={{ rsyslog_client_target }}="}}])
    (tmp_path / "play.yml").write_text(yaml.safe_dump([play], sort_keys=False))
    (tmp_path / "inventory.yml").write_text(yaml.safe_dump(inventory, sort_keys=False))
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(collections_base()))
    result = subprocess.run([str(Path(sys.executable).with_name("ansible-playbook")), "-i", "inventory.yml",
                             "-c", "local", "play.yml"],
                            capture_output=True, text=True, check=False, cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    return dict(line.split("TARGET ", 1)[1].split("=")[:2]
                for line in result.stdout.splitlines() if "TARGET " in line)


def _inventory(log_servers: dict, linux: dict, linux_vars: dict | None = None) -> dict:
    local = {"ansible_python_interpreter": sys.executable}
    return {"all": {"vars": local, "children": {
        "log_servers": {"hosts": log_servers},
        "linux": {"hosts": linux, "vars": linux_vars or {}}}}}


def test_clients_send_to_the_first_log_servers_address_when_the_inventory_names_none(tmp_path):
    inventory = _inventory({"logs01.example.com": {"ansible_host": "192.0.2.5"}, "logs02.example.com": {}},
                           {"web01.example.com": {}})
    assert _client_targets(tmp_path, inventory) == {"web01.example.com": "192.0.2.5"}


def test_clients_send_to_the_first_log_servers_name_when_it_has_no_address(tmp_path):
    inventory = _inventory({"logs01.example.com": {}}, {"web01.example.com": {}})
    assert _client_targets(tmp_path, inventory) == {"web01.example.com": "logs01.example.com"}


def test_the_inventorys_target_wins_over_the_first_log_server(tmp_path):
    inventory = _inventory({"logs01.example.com": {"ansible_host": "192.0.2.5"}},
                           {"web01.example.com": {},
                            "db01.example.com": {"rsyslog_client_target": "relay.example.com"}},
                           {"rsyslog_client_target": "logs.example.net"})
    assert _client_targets(tmp_path, inventory) == {"web01.example.com": "logs.example.net",
                                                    "db01.example.com": "relay.example.com"}


def test_without_log_servers_the_target_stays_empty_for_the_role_to_refuse(tmp_path):
    inventory = _inventory({}, {"web01.example.com": {}})
    assert _client_targets(tmp_path, inventory) == {"web01.example.com": ""}


def test_linux_clients_send_to_the_first_log_server():
    result = ansible("ansible", "-i", str(INVENTORY), "web01.example.com", "-m", "ansible.builtin.debug",
                     "-a", "msg={{ groups['log_servers'] | first }}", "-c", "local")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "logs01.example.com" in result.stdout


@pytest.mark.parametrize("hosts", ["log_servers", "linux"])
def test_each_play_gathers_once_the_facts_its_roles_read(hosts):
    # The roles gather their facts only when the play has not: with the play's subset they
    # find every fact they read, so the host is asked once.
    play = next(play for play in yaml.safe_load(SITE.read_text()) if play["hosts"] == hosts)
    result = ansible("ansible", "localhost", "-c", "local", "-e", "ansible_python_interpreter=" + sys.executable,
                     "-m", "ansible.builtin.setup", "-a", json.dumps({"gather_subset": play["gather_subset"]}))
    assert result.returncode == 0, result.stdout + result.stderr
    gathered = {name.removeprefix("ansible_")
                for name in json.loads(result.stdout.split("=>", 1)[1])["ansible_facts"]}
    for role in play["roles"]:
        name = role["role"].rsplit(".", 1)[1]
        read = yaml.safe_load((ROOT / "roles" / name / "vars" / "main.yml").read_text())[name + "_facts"]
        assert set(read) <= gathered, (name, set(read) - gathered)
    assert "hardware" not in play["gather_subset"] and "!all" in play["gather_subset"]
