"""linux_audit against a kernel whose audit rules are locked (-e 2), for real.

Locking the audit rules of this machine's own kernel would freeze every other test's rules
until the machine reboots, so the locked kernel belongs to the test guest (a Debian machine
with its own kernel under QEMU, tests/support/guest.py), which Ansible reaches over SSH as it
reaches any server.

The guest reboots the way a hardened server does: auditd's unit loads rules.d through
augenrules, and the last file there sets -e 2.  Then the role's rules tasks run with
linux_audit_immutable_action fail, warn and reboot (the real ansible.builtin.reboot, a real
reboot of that kernel), and once more after the reboot.  The host kernel is not touched.
These tests run after the other tests of the guest (locks_guest); a later one that needs the
rules unlocked reboots the guest without the lock (tests/system/conftest.py).
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import pytest

from tests.support.collection_path import collections_base
from tests.support.process import run

ROLE_RULES_FILE = "/etc/audit/rules.d/50-whotouched.rules"
BASELINE_FILE = "/etc/audit/rules.d/10-baseline.rules"
FINALIZE_FILE = "/etc/audit/rules.d/99-finalize.rules"
BASELINE_RULE = "-w /etc/hostname -p wa -k baseline"

pytestmark = [pytest.mark.needs_root, pytest.mark.locks_guest]

PLAY = """\
- name: The role's rules tasks on a locked kernel
  hosts: all
  gather_facts: false
  vars:
    linux_audit_kernel_usable: true
  tasks:
    - name: Rules, with the action chosen for an immutable kernel
      block:
        - name: Run the role's rules tasks
          ansible.builtin.include_role:
            name: whotouched.server_audit.linux_audit
            tasks_from: rules
      always:
        - name: Keep what the module said, and the reboot's result
          ansible.builtin.copy:
            content: "{{ {'rules': linux_audit_rules_result | default({}),
                          'after_reboot': linux_audit_rules_after_reboot | default({})} | to_json }}"
            dest: "{{ result_file }}"
            mode: "0600"
          delegate_to: localhost
"""


def snapshot(guest):
    """The kernel's audit state: status, rules, boot id."""
    return {
        "status": guest.ssh("auditctl -s").stdout,
        "rules": [line for line in guest.ssh("auditctl -l").stdout.splitlines() if line.startswith("-")],
        "boot_id": guest.ssh("cat /proc/sys/kernel/random/boot_id").stdout.strip(),
    }


def run_role(guest, work: Path, action: str, step: str):
    result_file = work / (step + ".json")
    inventory = work / "inventory.json"
    inventory.write_text(json.dumps({"all": {"hosts": {"locked": guest.inventory_vars()}}}), encoding="utf-8")
    env = dict(os.environ)
    env.update({
        "ANSIBLE_COLLECTIONS_PATH": str(collections_base()),
        "ANSIBLE_HOST_KEY_CHECKING": "false",
        "ANSIBLE_PIPELINING": "true",
        "ANSIBLE_NOCOLOR": "1",
    })
    ansible_playbook = Path(sys.executable).with_name("ansible-playbook")
    proc = run(str(ansible_playbook), "-i", str(inventory),
               "-e", "linux_audit_immutable_action=" + action,
               "-e", "result_file=" + str(result_file), str(work / "play.yml"), env=env)
    result = json.loads(result_file.read_text(encoding="utf-8")) if result_file.exists() else {}
    return {"rc": proc.returncode, "log": proc.stdout + proc.stderr, **result, "kernel": snapshot(guest)}


@pytest.fixture(scope="module")
def locked_guest_runs(guest, tmp_path_factory):
    """Locks the guest's audit rules at boot, runs the role with each action; returns what
    each step saw."""
    work = tmp_path_factory.mktemp("immutable")
    (work / "play.yml").write_text(PLAY, encoding="utf-8")
    guest.check("rm -f %s && echo '%s' > %s && printf '%%s\\n' '-e 2' > %s"
                % (ROLE_RULES_FILE, BASELINE_RULE, BASELINE_FILE, FINALIZE_FILE))
    guest.lock_files = [BASELINE_FILE, FINALIZE_FILE]
    guest.reboot()
    steps = {"boot": snapshot(guest)}
    for action, step in (("fail", "fail"), ("warn", "warn"), ("reboot", "reboot"), ("fail", "after")):
        started = time.monotonic()
        steps[step] = run_role(guest, work, action, step)
        print("immutable: %s took %.0f s" % (step, time.monotonic() - started))
    steps["rules_file"] = guest.ssh("cat " + ROLE_RULES_FILE).stdout
    # the guest's next user finds the role's rules file gone (the lock goes with unlocked_guest)
    guest.ssh("rm -f " + ROLE_RULES_FILE)
    return steps


def test_the_baseline_locked_the_kernel_at_boot(locked_guest_runs):
    boot = locked_guest_runs["boot"]
    assert "enabled 2" in boot["status"], boot
    assert boot["rules"] == [BASELINE_RULE]


def test_fail_stops_the_play_and_says_why(locked_guest_runs):
    step = locked_guest_runs["fail"]
    assert step["rc"] != 0, step["log"]
    assert "immutable (-e 2)" in step["log"], step["log"]
    assert "Set linux_audit_immutable_action to warn or reboot" in step["log"], step["log"]
    assert step["rules"]["reboot_required"] is True and step["rules"]["loaded"] is False, step["rules"]
    # Nothing was loaded: the kernel holds the baseline only.
    assert step["kernel"]["rules"] == [BASELINE_RULE]


def test_the_rules_file_waits_for_the_next_boot(locked_guest_runs):
    text = locked_guest_runs["rules_file"]
    assert "-w /etc/passwd -p wa -k passwd" in text, text
    assert "-S execve" in text, text


def test_warn_goes_on_and_still_reports_the_reboot(locked_guest_runs):
    step = locked_guest_runs["warn"]
    assert step["rc"] == 0, step["log"]
    # The file is unchanged since the failed run, yet the kernel still lacks its rules.
    assert step["rules"]["changed"] is False and step["rules"]["reboot_required"] is True, step["rules"]
    assert "reboot required to load " + ROLE_RULES_FILE in step["log"], step["log"]
    assert step["kernel"]["rules"] == [BASELINE_RULE]
    assert step["kernel"]["boot_id"] == locked_guest_runs["boot"]["boot_id"]


def test_reboot_reboots_and_checks_the_rules_are_in_the_kernel(locked_guest_runs):
    step = locked_guest_runs["reboot"]
    assert step["rc"] == 0, step["log"]
    assert step["kernel"]["boot_id"] != locked_guest_runs["warn"]["kernel"]["boot_id"], step["kernel"]
    assert step["after_reboot"]["reboot_required"] is False, step["after_reboot"]
    assert "enabled 2" in step["kernel"]["status"], step["kernel"]
    rules = step["kernel"]["rules"]
    assert BASELINE_RULE in rules and "-w /etc/passwd -p wa -k passwd" in rules, rules
    assert any("-S execve" in rule and "-F key=exec" in rule for rule in rules), rules


def test_after_the_reboot_the_role_finds_nothing_to_do(locked_guest_runs):
    step = locked_guest_runs["after"]
    assert step["rc"] == 0, step["log"]
    assert step["rules"]["changed"] is False and step["rules"]["reboot_required"] is False, step["rules"]
    assert "reboot required" not in step["log"], step["log"]
    assert step["kernel"]["boot_id"] == locked_guest_runs["reboot"]["kernel"]["boot_id"]
