"""Every role's README documents every variable its argument specs accept, by its full
name (so that searching the README for a variable finds it), and names no variable of the
role that the specs do not know (a renamed or removed variable)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]
ROLES = sorted(path.parent.parent for path in ROOT.glob("roles/*/meta/argument_specs.yml"))


def spec_variables(role: Path) -> set[str]:
    specs = yaml.safe_load((role / "meta" / "argument_specs.yml").read_text())["argument_specs"]
    return {name for entry in specs.values() for name in (entry.get("options") or {})}


def readme_names(role: Path) -> set[str]:
    """The role's variable names the README mentions (``rsyslog_server_tcp_port``, ...)."""
    text = (role / "README.md").read_text()
    return set(re.findall(r"\b%s_[a-z0-9_]*[a-z0-9]\b" % re.escape(role.name), text))


def test_every_role_has_specs_and_a_readme():
    expected = {"linux_audit", "rsyslog_client", "rsyslog_server", "windows_evtsys_policy"}
    assert {role.name for role in ROLES} >= expected
    for role in ROLES:
        assert (role / "README.md").is_file(), role.name


@pytest.mark.parametrize("role", ROLES, ids=lambda role: role.name)
def test_the_readme_names_every_variable_of_the_specs(role):
    missing = sorted(spec_variables(role) - readme_names(role))
    assert missing == [], "%s/README.md does not name: %s" % (role.name, ", ".join(missing))


def other_names(role: Path) -> set[str]:
    """Names of the role's kind that are no variables of the specs: the per-platform values
    of vars/ (documented, not to be set), the variables of earlier releases the role refuses
    (``__<role>_removed_variables``, documented for those upgrading), the facts its tasks set
    (for the plays after it), Molecule scenarios and benchmarks."""
    names = {path.stem for path in ROOT.glob("benchmarks/*.py")}
    for path in (role / "tasks").glob("*.yml"):
        for task in yaml.safe_load(path.read_text()) or []:
            names |= set(task.get("ansible.builtin.set_fact") or {})
    names |= {path.parent.name for path in ROOT.glob("molecule/*/molecule.yml")}
    for path in (role / "vars").glob("*.yml"):
        values = yaml.safe_load(path.read_text()) or {}
        names |= set(values)
        names |= set(values.get("__%s_removed_variables" % role.name) or {})
    return names


@pytest.mark.parametrize("role", ROLES, ids=lambda role: role.name)
def test_the_readme_names_no_variable_the_specs_do_not_know(role):
    unknown = sorted(readme_names(role) - spec_variables(role) - other_names(role))
    assert unknown == [], "%s/README.md names variables the specs do not know: %s" % (
        role.name, ", ".join(unknown))


def test_the_windows_platform_row_agrees_with_the_role_readme():
    """What the README's platform table says of Windows hosts, the role README's table of what
    was tested where says too: the same target, the model of evtsys, the real rsyslogd, the
    languages read."""
    row = next(line for line in (ROOT / "README.md").read_text().splitlines()
               if line.startswith("| Windows managed hosts |"))
    role = (ROOT / "roles" / "windows_evtsys_policy" / "README.md").read_text()
    for phrase in ("Windows Server 2016 and newer, 64-bit, with evtsys 4.5.1's 64-Bit-LP build",
                   "model of evtsys 4.5.1 written from its C source", "real rsyslogd",
                   "German", "French", "Spanish", "Japanese", "English"):
        assert phrase in row, phrase
        assert phrase in role, phrase


@pytest.mark.parametrize("role", ROLES, ids=lambda role: role.name)
def test_the_specs_give_each_variable_the_default_the_role_has(role):
    """What ansible-doc shows as a variable's default is the one the role uses: a value the
    role computes (a template) and a required variable have none."""
    options = yaml.safe_load((role / "meta" / "argument_specs.yml").read_text())[
        "argument_specs"]["main"]["options"]
    defaults = yaml.safe_load((role / "defaults" / "main.yml").read_text()) or {}
    wrong = sorted(name for name, value in defaults.items()
                   if options[name].get("default") != value
                   and not (value is None or "{{" in str(value) or options[name].get("required")))
    assert wrong == [], "%s: the specs' default is not the role's: %s" % (role.name, wrong)
    assert sorted(name for name, option in options.items()
                  if "default" in option and name not in defaults) == []
