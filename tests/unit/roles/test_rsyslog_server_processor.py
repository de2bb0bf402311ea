"""The alert processor as the rsyslog_server role deploys and configures it.

The role copies whole packages of module_utils: everything the processor imports must be in
them.  Its settings have one source (module_utils/_processor/settings.py): the role's
defaults, argument specs and configuration template must say the same.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys

import pytest
import yaml

from ansible_collections.whotouched.server_audit.plugins.module_utils._processor.settings import (
    DEFAULTS,
    SMS_DEFAULTS,
    SMTP_DEFAULTS,
    WEBHOOK_DEFAULTS,
    read_config,
)
from tests.support.clickhouse import WRITER_PASSWORD
from tests.support.collection_path import ROOT
from tests.support.role_vars import install_processor, rendered

ROLE = ROOT / "roles" / "rsyslog_server"
MODULE_UTILS = "ansible_collections.whotouched.server_audit.plugins.module_utils."
ENTRY = ROLE / "files" / "whotouched-alert-processor.py"


def _collection_imports(path):
    """The collection's module_utils modules ``path`` imports, anywhere in it (a function's
    own imports too)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(MODULE_UTILS):
            module = node.module[len(MODULE_UTILS):]
            found.add(module)
            # "from ..._events import records" names a module, not a function
            found.update("%s.%s" % (module, alias.name) for alias in node.names
                         if (ROOT / "plugins" / "module_utils" / module.replace(".", "/")
                             / (alias.name + ".py")).is_file())
        elif isinstance(node, ast.Import):
            found.update(alias.name[len(MODULE_UTILS):] for alias in node.names
                         if alias.name.startswith(MODULE_UTILS))
    return found


def _imported_by_the_processor():
    """Every module_utils module the processor imports, directly or through another."""
    seen = set()
    todo = list(_collection_imports(ENTRY))
    while todo:
        module = todo.pop()
        if module in seen:
            continue
        seen.add(module)
        path = ROOT / "plugins" / "module_utils" / (module.replace(".", "/") + ".py")
        if path.is_file():
            todo.extend(_collection_imports(path))
    return seen


def test_the_copied_packages_hold_everything_the_processor_imports():
    packages = set(yaml.safe_load((ROLE / "vars" / "main.yml").read_text())[
        "rsyslog_server_processor_packages"])
    imported = _imported_by_the_processor()
    assert "_processor.processor" in imported and "_processor.wall_screen" in imported
    assert {module for module in imported if module.split(".")[0] not in packages} == set()
    # and no package is copied for nothing
    assert {module.split(".")[0] for module in imported} == packages


def test_the_installed_processor_runs_from_the_copied_tree_alone(tmp_path):
    """Every module of the tree imports, and the page's files are there, in a Python that sees
    nothing but the tree and the standard library (no site-packages, no Ansible)."""
    entry = install_processor(tmp_path / "lib")
    config = tmp_path / "alert-processor.json"
    config.write_text(json.dumps(dict(rendered("rsyslog_server", "rsyslog_server_processor_settings"),
                                      wall={"enabled": True})))
    checked = subprocess.run([sys.executable, "-I", "-S", str(entry), "--check", str(config)],
                             capture_output=True, text=True, check=False)
    assert checked.returncode == 0, checked.stderr
    probe = (
        "import pathlib, sys, importlib\n"
        "root = pathlib.Path(sys.argv[1])\n"
        "sys.path.insert(0, str(root))\n"
        "utils = root / 'ansible_collections/whotouched/server_audit/plugins/module_utils'\n"
        "for path in sorted(utils.rglob('*.py')):\n"
        "    name = '.'.join(path.relative_to(root).with_suffix('').parts)\n"
        "    importlib.import_module(name[:-len('.__init__')] if name.endswith('__init__') else name)\n"
        "from ansible_collections.whotouched.server_audit.plugins.module_utils._processor import wall_screen\n"
        "print(sorted(wall_screen.page_files()))\n"
        "print(sorted(name for name in sys.modules if name.startswith('ansible') and '.' in name"
        " and 'whotouched' not in name))\n")
    result = subprocess.run([sys.executable, "-I", "-S", "-c", probe, str(tmp_path / "lib")],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["['index.html', 'wall.css', 'wall.js']", "[]"]


# ---------------------------------------------------------------- one source for each default

def test_the_roles_configuration_with_its_defaults_is_the_processors_defaults():
    settings = rendered("rsyslog_server", "rsyslog_server_processor_settings")
    assert read_config(settings) == read_config({})


def _spec_options():
    specs = yaml.safe_load((ROLE / "meta" / "argument_specs.yml").read_text())
    return specs["argument_specs"]["main"]["options"]


def _spec_default(option, role_default):
    """An option's documented default; for a mapping the role sets without one (the wall
    screen's), its suboptions' defaults."""
    if "default" not in option and isinstance(role_default, dict) and "options" in option:
        return {name: sub.get("default") for name, sub in option["options"].items()}
    return option.get("default")


def test_every_documented_default_is_the_roles_default():
    defaults = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())
    options = _spec_options()
    assert sorted(options) == sorted(defaults)
    assert {name: _spec_default(option, defaults[name])
            for name, option in options.items()} == defaults


@pytest.mark.parametrize("variable, processor_defaults", [
    ("rsyslog_server_processor_webhooks", WEBHOOK_DEFAULTS),
    ("rsyslog_server_processor_smtp", SMTP_DEFAULTS),
    ("rsyslog_server_processor_sms", SMS_DEFAULTS),
    ("rsyslog_server_processor_wall", DEFAULTS["wall"]),
])
def test_the_suboption_defaults_are_the_processors(variable, processor_defaults):
    suboptions = _spec_options()[variable]["options"]
    assert set(suboptions) <= set(processor_defaults)
    assert {name: option.get("default") for name, option in suboptions.items()} == {
        name: processor_defaults[name] for name in suboptions}


def test_the_clickhouse_settings_reach_the_processor_and_its_schema_is_created_once(
        tmp_path, clickhouse_server):
    """The role's variables for a ClickHouse store make a configuration the processor takes;
    the role's schema task (the installed processor's --create-schema, from the copied tree
    with the standard library alone) creates the tables once, on Debian's ClickHouse."""
    credentials = tmp_path / "credentials"
    credentials.write_text("writer\n%s\n" % WRITER_PASSWORD)
    settings = rendered(
        "rsyslog_server", "rsyslog_server_processor_settings",
        rsyslog_server_processor_store_backend="clickhouse",
        rsyslog_server_processor_store_clickhouse_url=clickhouse_server.url,
        rsyslog_server_processor_store_clickhouse_database="from_the_role",
        rsyslog_server_processor_store_clickhouse_user="writer",
        rsyslog_server_processor_store_clickhouse_credentials_file=str(credentials),
        rsyslog_server_processor_store_clickhouse_timeout=5)
    store = read_config(settings)["store"]
    assert (store["backend"], store["url"], store["database"], store["credentials_file"],
            store["ca_file"], store["timeout"], store["cluster"]) == (
        "clickhouse", clickhouse_server.url, "from_the_role", str(credentials), None, 5.0, "")
    entry = install_processor(tmp_path / "lib")
    config = tmp_path / "alert-processor.json"
    config.write_text(json.dumps(settings))
    created = []
    for _run in range(2):
        result = subprocess.run([sys.executable, "-I", "-S", str(entry), "--create-schema",
                                 str(config)], capture_output=True, text=True, check=False)
        assert result.returncode == 0, result.stderr
        created.append(json.loads(result.stdout)["created"])
    assert created == [["events", "writers"], []]
    without_user = rendered("rsyslog_server", "rsyslog_server_processor_settings",
                            rsyslog_server_processor_store_backend="clickhouse",
                            rsyslog_server_processor_store_clickhouse_url="http://ch:8123/")
    assert read_config(without_user)["store"]["credentials_file"] == ""
