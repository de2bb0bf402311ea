"""linux_audit against a kernel whose audit rules are locked (-e 2), for real.

Locking the audit rules of this machine's own kernel would freeze every other test's rules
until the machine reboots, so the locked kernel belongs to a small virtual machine: a
user-mode Linux kernel (Debian's user-mode-linux, Linux 6.1 with the audit subsystem, run as
an ordinary process) booting a Debian root file system built with mmdebstrap, with systemd,
auditd and sshd.  Ansible reaches it over SSH on a veth pair, as it reaches any server.

The machine boots the way a hardened server does: auditd's unit loads rules.d through
augenrules, and the last file there sets -e 2.  Then the role's rules tasks run with
linux_audit_immutable_action fail, warn and reboot (the real ansible.builtin.reboot, a real
reboot of that kernel), and once more after the reboot.  The host kernel is not touched.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.collection_path import collections_base
from tests.support.process import run

UML_KERNEL = shutil.which("linux.uml") or "/usr/bin/linux.uml"
MMDEBSTRAP = shutil.which("mmdebstrap") or "/usr/bin/mmdebstrap"
SUITE = "bookworm"
PACKAGES = "systemd,systemd-sysv,dbus,python3,procps,iproute2,openssh-server,auditd"
HOST_LINK, GUEST_LINK = "wtuml0", "wtuml1"
HOST_ADDRESS, GUEST_ADDRESS = "10.213.7.1", "10.213.7.2"
ROLE_RULES_FILE = "/etc/audit/rules.d/50-whotouched.rules"
BASELINE_RULE = "-w /etc/hostname -p wa -k baseline"
BOOT_SECONDS = 180

pytestmark = [
    pytest.mark.needs_root,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root (builds a root file system, adds a veth pair)"),
    pytest.mark.skipif(not os.path.exists(UML_KERNEL),
                       reason="user-mode-linux is not installed (apt-get install user-mode-linux)"),
    pytest.mark.skipif(not os.path.exists(MMDEBSTRAP),
                       reason="mmdebstrap is not installed (apt-get install mmdebstrap)"),
]

# A oneshot unit gives the guest its address: systemd-networkd waits for udev, which this
# root file system does not run.
NETWORK_UNIT = f"""\
[Unit]
Description=Address on the link to the test host
Before=ssh.service

[Service]
Type=oneshot
ExecStart=/sbin/ip link set lo up
ExecStart=/sbin/ip link set vec0 up
ExecStart=/sbin/ip addr add {GUEST_ADDRESS}/30 dev vec0
RemainAfterExit=yes

[Install]
WantedBy=multi-user.target
"""

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


def build_root(work: Path) -> Path:
    """A Debian root file system for the guest, with the test's SSH key and a locking baseline."""
    tar = work / "root.tar"
    # The hook's "$1" is the new root, expanded by mmdebstrap.
    built = run(MMDEBSTRAP, "--quiet", "--variant=apt", "--include=" + PACKAGES,
                '--customize-hook=chroot "$1" systemctl mask getty.target console-getty.service',
                SUITE, str(tar))
    assert built.returncode == 0, "mmdebstrap failed:\n" + built.stdout + built.stderr
    root = work / "root"
    root.mkdir()
    extracted = run("tar", "-xf", str(tar), "-C", str(root), "--numeric-owner")
    assert extracted.returncode == 0, extracted.stderr
    tar.unlink()
    (root / "etc/hostname").write_text("locked\n", encoding="utf-8")
    unit = root / "etc/systemd/system/uml-network.service"
    unit.write_text(NETWORK_UNIT, encoding="utf-8")
    (root / "etc/systemd/system/multi-user.target.wants/uml-network.service").symlink_to(
        "/etc/systemd/system/uml-network.service")
    key = work / "ssh_key"
    assert run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)).returncode == 0
    ssh_dir = root / "root/.ssh"
    ssh_dir.mkdir(mode=0o700, exist_ok=True)
    shutil.copy(str(key) + ".pub", ssh_dir / "authorized_keys")
    (work / "play.yml").write_text(PLAY, encoding="utf-8")
    rules_d = root / "etc/audit/rules.d"
    (rules_d / "10-baseline.rules").write_text(BASELINE_RULE + "\n", encoding="utf-8")
    (rules_d / "99-finalize.rules").write_text("-e 2\n", encoding="utf-8")
    return root


class Guest:
    def __init__(self, work: Path, root: Path):
        self.work = work
        self.root = root
        self.key = work / "ssh_key"
        self.console = work / "console.log"
        self.process = None

    def boot(self):
        with open(self.console, "wb") as console:
            self.process = subprocess.Popen(  # pylint: disable=consider-using-with
                [UML_KERNEL, "mem=512M", "root=/dev/root", "rootfstype=hostfs",
                 "rootflags=" + str(self.root), "rw", "uml_dir=" + str(self.work),
                 f"vec0:transport=raw,ifname={GUEST_LINK},gro=1", "con=null", "con0=null,fd:1"],
                stdin=subprocess.DEVNULL, stdout=console, stderr=subprocess.STDOUT,
                cwd=self.work, start_new_session=True,
                env={"PATH": os.environ.get("PATH", ""), "HOME": str(self.work),
                     "TMPDIR": "/dev/shm" if os.path.isdir("/dev/shm") else "/tmp"})
        self.wait_until_up()

    def ssh(self, command):
        return run("ssh", "-q", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no",
                   "-o", "UserKnownHostsFile=/dev/null", "-o", "ConnectTimeout=3",
                   "-i", str(self.key), "root@" + GUEST_ADDRESS, command)

    def wait_until_up(self):
        deadline = time.monotonic() + BOOT_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            if self.ssh("systemctl is-system-running --wait").stdout.strip() in ("running", "degraded"):
                return
            time.sleep(2)
        raise AssertionError("the guest did not come up:\n" + self.console.read_text(errors="replace")[-6000:])

    def snapshot(self):
        """The kernel's audit state: status, rules, boot id."""
        return {
            "status": self.ssh("auditctl -s").stdout,
            "rules": [line for line in self.ssh("auditctl -l").stdout.splitlines() if line.startswith("-")],
            "boot_id": self.ssh("cat /proc/sys/kernel/random/boot_id").stdout.strip(),
        }

    def run_role(self, action, step):
        result_file = self.work / (step + ".json")
        env = dict(os.environ)
        env.update({
            "ANSIBLE_COLLECTIONS_PATH": str(collections_base()),
            "ANSIBLE_HOST_KEY_CHECKING": "false",
            "ANSIBLE_PIPELINING": "true",
            "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_PYTHON_INTERPRETER": "/usr/bin/python3",
        })
        ansible_playbook = Path(sys.executable).with_name("ansible-playbook")
        proc = run(str(ansible_playbook), "-i", GUEST_ADDRESS + ",", "-u", "root",
                   "--private-key", str(self.key),
                   "--ssh-common-args", "-o UserKnownHostsFile=/dev/null",
                   "-e", "linux_audit_immutable_action=" + action,
                   "-e", "result_file=" + str(result_file), str(self.work / "play.yml"), env=env)
        result = json.loads(result_file.read_text(encoding="utf-8")) if result_file.exists() else {}
        return {"rc": proc.returncode, "log": proc.stdout + proc.stderr, **result,
                "kernel": self.snapshot()}

    def stop(self):
        if self.process and self.process.poll() is None:
            self.ssh("systemctl poweroff")
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


@pytest.fixture(scope="module")
def locked_guest_runs(tmp_path_factory):
    """Boots the guest, runs the role with each action; returns what each step saw."""
    work = tmp_path_factory.mktemp("uml-immutable")
    root = build_root(work)
    run("ip", "link", "del", HOST_LINK)
    added = run("ip", "link", "add", HOST_LINK, "type", "veth", "peer", "name", GUEST_LINK)
    assert added.returncode == 0, added.stderr
    guest = Guest(work, root)
    try:
        for command in (["ip", "addr", "add", HOST_ADDRESS + "/30", "dev", HOST_LINK],
                        ["ip", "link", "set", HOST_LINK, "up"],
                        ["ip", "link", "set", GUEST_LINK, "up"]):
            assert run(*command).returncode == 0, command
        guest.boot()
        steps = {"boot": guest.snapshot()}
        steps["fail"] = guest.run_role("fail", "fail")
        steps["warn"] = guest.run_role("warn", "warn")
        steps["reboot"] = guest.run_role("reboot", "reboot")
        steps["after"] = guest.run_role("fail", "after")
        steps["rules_file"] = guest.ssh("cat " + ROLE_RULES_FILE).stdout
        yield steps
    finally:
        guest.stop()
        run("ip", "link", "del", HOST_LINK)
        shutil.rmtree(root, ignore_errors=True)


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
