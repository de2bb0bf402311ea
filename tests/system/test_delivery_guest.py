"""The whole path on a machine with a kernel of its own, as real servers run it.

The test guest (tests/support/guest.py: systemd as PID 1, journald owning /dev/log, auditd
on the guest's own kernel) gets ``playbooks/site.yml`` as a user would apply it: linux_audit
and rsyslog_client, forwarding to a log server in a container (rsyslog_server) that QEMU
reaches on this machine's loopback.  Then a login user types commands over SSH for a
minute, as many as the guest runs, and every one of them must be in the log server's file.

The same again with rsyslog set up as RHEL 8-10 ship it (imjournal, imuxsock's system
socket off: the real-world corpus's rsyslog.conf for Red Hat systems with RHEL's inputs)
and auditd's unit refusing a manual stop, as upstream audit ships it for RHEL: the role
must apply its auditd.conf changes without ``systemctl restart auditd``.

Last, the guest is started again through GRUB, with the kernel command line linux_audit had
update-grub write, and keeps booting so for the tests after these.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
import uuid
from pathlib import Path

import pytest
import yaml

from ansible_collections.whotouched.server_audit.plugins.module_utils._audit_rules.boot import (
    audit_parameters_lacking,
)
from tests.support.collection_path import ROOT, collections_base
from tests.support.corpus import rhel_shaped_rsyslog_conf
from tests.support.guest import LOG_SERVER_ADDRESS
from tests.support.process import run

pytestmark = [pytest.mark.needs_root]

IMAGE = os.environ.get("WHOTOUCHED_LOG_SERVER_IMAGE", "whotouched/debian-systemd:bookworm")
CONTAINER = "whotouched-guest-log-server"
SERVER_LOG_DIR = "/var/log/remote"
TYPING_SECONDS = 60
LOGIN_USER, LOGIN_UID = "alice", 1001
# RHEL's auditd unit (upstream audit's) refuses "systemctl stop" and so "restart".
REFUSE_MANUAL_STOP = "[Unit]\nRefuseManualStop=yes\n"


def docker(*args, check=True):
    result = run("docker", *args)
    assert not check or result.returncode == 0, "docker %s: %s%s" % (" ".join(args), result.stdout, result.stderr)
    return result


def server_shell(command):
    return docker("exec", CONTAINER, "sh", "-c", command, check=False)


@pytest.fixture(scope="module")
def log_server(unlocked_guest):
    """A systemd container for the log server, its tcp port where the guest's forward lands."""
    if run("docker", "image", "inspect", IMAGE).returncode != 0:
        pytest.fail("the image %s is missing: make images builds it" % IMAGE)
    docker("rm", "-f", CONTAINER, check=False)
    guest = unlocked_guest
    docker("run", "-d", "--name", CONTAINER, "--hostname", "logserver",
           "--cgroupns=host", "-v", "/sys/fs/cgroup:/sys/fs/cgroup:rw",
           "--tmpfs", "/run", "--tmpfs", "/tmp", "--cap-add", "SYS_ADMIN", "--cap-add", "NET_ADMIN",
           "--security-opt", "seccomp=unconfined", "--security-opt", "apparmor=unconfined",
           "-p", "127.0.0.1:%d:514/tcp" % guest.log_server_port, IMAGE, "/lib/systemd/systemd")
    try:
        yield CONTAINER
    finally:
        docker("rm", "-f", CONTAINER, check=False)


def site(guest, work: Path, name: str, linux_vars: dict | None = None):
    """``ansible-playbook playbooks/site.yml`` against the log server and the guest."""
    inventory = {
        "all": {"children": {
            "log_servers": {"hosts": {CONTAINER: {"ansible_connection": "community.docker.docker",
                                                  "ansible_python_interpreter": "/usr/bin/python3"}}},
            "linux": {"hosts": {"guest": dict(guest.inventory_vars(),
                                              rsyslog_client_target=LOG_SERVER_ADDRESS,
                                              rsyslog_client_resume_interval=2,
                                              **(linux_vars or {}))}},
        }},
    }
    path = work / ("inventory-%s.yml" % name)
    path.write_text(yaml.safe_dump(inventory), encoding="utf-8")
    result = ansible_playbook(path, ROOT / "playbooks" / "site.yml", name)
    assert result.returncode == 0, (result.stdout + result.stderr)[-6000:]
    return result.stdout


def ansible_playbook(inventory: Path, playbook: Path, name: str, *options: str):
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(collections_base()), ANSIBLE_HOST_KEY_CHECKING="false",
               ANSIBLE_PIPELINING="true", ANSIBLE_NOCOLOR="1")
    started = time.monotonic()
    result = run(str(Path(sys.executable).with_name("ansible-playbook")), "-i", str(inventory), *options,
                 str(playbook), env=env)
    print("guest delivery: %s (%s) took %.0f s" % (playbook.name, name, time.monotonic() - started))
    return result


def task_result(output: str, task: str, host: str = "guest") -> str:
    """What a task of linux_audit did on ``host`` (changed, ok, skipping, fatal), by the output."""
    found = re.search(r"TASK \[whotouched\.server_audit\.linux_audit : %s\][^\n]*\n(?:(?!TASK ).*\n)*?"
                      r"(changed|ok|skipping|fatal): \[%s\]" % (re.escape(task), host), output)
    return found.group(1) if found else "not run"


def next_boot_entries(guest) -> list:
    """The kernel command line of each entry of the guest's /boot/grub/grub.cfg: its linux
    lines, and the dom0 kernel's module2 line of each of Xen's entries (not the initrd's)."""
    return guest.check(r"sed -n -e 's/^[[:space:]]*linux[[:space:]]\{1,\}//p' "
                       r"-e 's/^[[:space:]]*module2[[:space:]]\{1,\}\([^-].* placeholder \)/\1/p' "
                       "/boot/grub/grub.cfg").splitlines()


def sender_file():
    """The log server's file of the guest's events (one sender: QEMU's connections through
    the container's published port)."""
    listed = server_shell("ls %s/*/audit.log" % SERVER_LOG_DIR)
    files = listed.stdout.split()
    assert len(files) == 1, "expected the guest's file alone: %r %s" % (files, listed.stderr)
    return files[0]


def type_commands(guest, run_id: str, seconds: int) -> int:
    """A login user runs one program after another for ``seconds``, each numbered; how many."""
    typed = guest.ssh(
        "su - %s -c 'end=$((SECONDS + %d)); n=0; while [ $SECONDS -lt $end ]; do n=$((n + 1)); "
        "/bin/true %s $n; done; echo $n'" % (LOGIN_USER, seconds, run_id), timeout=seconds + 300)
    assert typed.returncode == 0, typed.stdout + typed.stderr
    return int(typed.stdout.split()[-1])


def numbers_at_server(run_id: str) -> set:
    found = server_shell("grep -ahoE 'a1=\"%s\" a2=\"[0-9]+\"' %s/*/audit.log" % (run_id, SERVER_LOG_DIR))
    return {int(match) for match in re.findall(r'a2="([0-9]+)"', found.stdout)}


def wait_for_numbers(run_id: str, count: int, timeout: float = 300) -> set:
    deadline = time.monotonic() + timeout
    while True:
        numbers = numbers_at_server(run_id)
        if len(numbers) >= count or time.monotonic() >= deadline:
            return numbers
        time.sleep(2)


def login_user(guest):
    """alice, who logs in: her commands carry her login uid, as after an SSH login."""
    guest.check("id %s || useradd -m -u %d -s /bin/bash %s" % (LOGIN_USER, LOGIN_UID, LOGIN_USER))


@pytest.fixture(scope="module")
def debian_path(guest, log_server, tmp_path_factory):
    """site.yml on the guest as Debian ships it; what it printed."""
    work = tmp_path_factory.mktemp("guest-delivery")
    login_user(guest)
    return {"work": work, "output": site(guest, work, "debian")}


def check_every_command_arrives(guest, label):
    run_id = "typed-%s-%s" % (label, uuid.uuid4().hex[:8])
    started = time.monotonic()
    count = type_commands(guest, run_id, TYPING_SECONDS)
    typed_seconds = time.monotonic() - started
    numbers = wait_for_numbers(run_id, count)
    missing = sorted(set(range(1, count + 1)) - numbers)
    print("guest delivery figures %s: %s" % (label, json.dumps({
        "typed": count, "seconds_typing": round(typed_seconds), "arrived": len(numbers),
        "missing": len(missing)})))
    assert count > 100, "the guest ran only %d commands in %d s" % (count, TYPING_SECONDS)
    assert missing == [], "%d of %d commands never reached the log server, first %s" % (
        len(missing), count, missing[:10])


def test_every_command_typed_on_the_guest_reaches_the_log_server(guest, debian_path):
    check_every_command_arrives(guest, "debian")
    # journald owns /dev/log here, and the events did not pass through it
    assert guest.check("readlink -f /dev/log").strip() == "/run/systemd/journal/dev-log"


def test_the_loss_reporter_runs_and_reaches_the_log_server(guest, debian_path):
    assert guest.check("systemctl is-active whotouched-audit-health").strip() == "active"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if "op=whotouched-audit-health" in server_shell("grep -ah whotouched-audit-health %s" % sender_file()).stdout:
            return
        time.sleep(2)
    raise AssertionError("no report of the loss reporter reached the log server")


def test_the_next_boot_audits_from_the_first_process_on(guest, debian_path):
    """linux_audit put audit=1 and the boot-time backlog on every entry that GRUB's real
    update-grub wrote (Xen's among them), through a drop-in; the host's own audit=0 before
    them (which turns auditing off whatever follows) stops the role; check mode shows the
    drop-in's change and writes nothing."""
    output = debian_path["output"]
    assert task_result(output, "Write GRUB's boot entries again") == "changed", output[-3000:]
    assert "audit=1 audit_backlog_limit=8192" in guest.check("cat /etc/default/grub.d/60-whotouched-audit.cfg")
    entries = next_boot_entries(guest)
    assert entries and all("root=" in entry for entry in entries), entries
    assert any(" placeholder " in entry for entry in entries), entries  # Xen's too
    assert [entry for entry in entries if audit_parameters_lacking(entry, 8192)] == [], entries
    # a kernel update writes the entries again from the host's settings, here with audit=0
    # before the role's words: the role's next run writes them, finds them lacking, and stops
    guest.check("cp /etc/default/grub /root/grub.before && "
                "sed -i 's/^GRUB_CMDLINE_LINUX=\"/&audit=0 /' /etc/default/grub && update-grub")
    entries = next_boot_entries(guest)
    assert entries and all(" audit=0 " in entry and " audit=1 " in entry for entry in entries), entries
    assert all(audit_parameters_lacking(entry, 8192) == ["audit=1"] for entry in entries), entries
    playbook = debian_path["work"] / "linux-audit.yml"
    playbook.write_text(yaml.safe_dump([{"name": "linux_audit alone", "hosts": "linux", "become": True,
                                         "roles": [{"role": "whotouched.server_audit.linux_audit"}]}]))
    try:
        result = ansible_playbook(debian_path["work"] / "inventory-debian.yml", playbook, "audit=0")
        assert result.returncode != 0, result.stdout[-3000:]
        assert task_result(result.stdout, "Write GRUB's boot entries again") == "changed", result.stdout[-3000:]
        assert task_result(result.stdout, "Stop where a boot entry still starts a kernel without the audit "
                                          "parameters") == "fatal", result.stdout[-3000:]
        assert "audit=0 anywhere turns auditing off" in result.stdout, result.stdout[-3000:]
        assert "root=" in result.stdout.split("First: ", 1)[-1], result.stdout[-3000:]  # names the entry
        # every entry counted, Xen's among them
        assert "wrote %d boot entries" % len(entries) in result.stdout, (len(entries), result.stdout[-3000:])
    finally:
        guest.check("cp /root/grub.before /etc/default/grub && update-grub")
    # the host's settings mended: the next run finds the entries whole and writes nothing
    result = ansible_playbook(debian_path["work"] / "inventory-debian.yml", playbook, "mended")
    assert result.returncode == 0, result.stdout[-3000:]
    assert task_result(result.stdout, "Write GRUB's boot entries again") == "skipping", result.stdout[-3000:]
    assert task_result(result.stdout, "Put the audit parameters on GRUB's kernel command line (a drop-in)") \
        == "skipping", result.stdout[-3000:]
    assert [entry for entry in next_boot_entries(guest) if audit_parameters_lacking(entry, 8192)] == []
    # check mode on a host whose drop-in is gone: the drop-in's change shown, nothing written
    drop_in = "/etc/default/grub.d/60-whotouched-audit.cfg"
    guest.check("mv %s /root/drop-in.before && update-grub" % drop_in)
    try:
        grub_cfg = guest.check("sha256sum /boot/grub/grub.cfg")
        result = ansible_playbook(debian_path["work"] / "inventory-debian.yml", playbook, "check", "--check",
                                  "--diff")
        assert result.returncode == 0, result.stdout[-3000:]
        assert task_result(result.stdout, "Put the audit parameters on GRUB's kernel command line (a drop-in)") \
            == "changed", result.stdout[-3000:]
        assert '+GRUB_CMDLINE_LINUX="$GRUB_CMDLINE_LINUX audit=1 audit_backlog_limit=8192"' in result.stdout, \
            result.stdout[-3000:]
        assert task_result(result.stdout, "Write GRUB's boot entries again") == "skipping", result.stdout[-3000:]
        assert guest.check("sha256sum /boot/grub/grub.cfg") == grub_cfg
        assert guest.ssh("test -e %s" % drop_in).returncode != 0
    finally:
        guest.check("mv /root/drop-in.before %s && update-grub" % drop_in)


def server_report(work: Path, arguments: str) -> dict:
    """What audit_report answers on the log server, run there by Ansible."""
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(collections_base()), ANSIBLE_NOCOLOR="1",
               ANSIBLE_LOAD_CALLBACK_PLUGINS="1", ANSIBLE_STDOUT_CALLBACK="json")
    result = run(str(Path(sys.executable).with_name("ansible")), "-i", str(work / "inventory-debian.yml"),
                 CONTAINER, "-m", "whotouched.server_audit.audit_report", "-a", arguments, env=env)
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    return json.loads(result.stdout)["plays"][0]["tasks"][0]["hosts"][CONTAINER]


def _diagnostics(guest) -> str:
    return guest.ssh(
        "cat /run/auditd.state /run/whotouched-audit-health.json; df /var/log/audit; "
        "journalctl -u whotouched-audit-health -u auditd -u rsyslog --no-pager -n 40; "
        "grep -a whotouched-audit-health /var/log/audit/audit.log | tail -3").stdout[-6000:]


def test_a_full_disk_that_stopped_auditds_log_is_told_at_the_log_server(guest, debian_path):
    """auditd's log on a small file system filled up: auditd suspends its log (its
    disk_full_action, SUSPEND by default), every event meanwhile is lost, the loss reporter's
    records too.  Once there is room again and auditd resumes, the reporter's first record
    says since when nothing was written, and the log server tells it."""
    conf = "/etc/audit/auditd.conf"
    guest.check("cp %s /root/auditd.conf.before" % conf)
    # room for a few hundred events; the space warnings before "full" only write to syslog
    guest.check("mount -t tmpfs -o size=4m,mode=0700 tmpfs /var/log/audit && "
                "sed -i -E -e 's/^(space_left|admin_space_left)[[:space:]]*=.*//' "
                "-e 's/^(space_left_action|admin_space_left_action)[[:space:]]*=.*//' "
                "-e 's/^disk_full_action[[:space:]]*=.*//' %s && "
                "printf 'space_left = 2\\nadmin_space_left = 1\\nspace_left_action = SYSLOG\\n"
                "admin_space_left_action = SYSLOG\\ndisk_full_action = SUSPEND\\n' >> %s && "
                "systemctl restart auditd rsyslog" % (conf, conf))
    try:
        # the events of the log on the small file system reach the log server
        run_id = "disk-%s" % uuid.uuid4().hex[:8]
        guest.check("su - %s -c '/bin/true %s 1'" % (LOGIN_USER, run_id))
        assert wait_for_numbers(run_id, 1, timeout=120) == {1}, _diagnostics(guest)
        guest.check("avail=$(df --output=avail -k /var/log/audit | tail -1); "
                    "dd if=/dev/zero of=/var/log/audit/filler bs=1k count=$((avail - 128)) 2>/dev/null")
        filled = float(guest.check("date +%s.%N"))
        guest.check("su - %s -c 'for n in $(seq 1 400); do /bin/true disk-full $n; done'" % LOGIN_USER)
        guest.check("auditctl --signal cont")
        deadline = time.monotonic() + 60
        while "logging suspended = yes" not in guest.ssh("cat /var/run/auditd.state").stdout:
            assert time.monotonic() < deadline, "auditd did not suspend its log:\n" + guest.ssh(
                "cat /var/run/auditd.state; df /var/log/audit").stdout
            time.sleep(2)
        # the reporter (a look every 5 s) notes since when
        deadline = time.monotonic() + 60
        while '"unlogged_since"' not in guest.ssh("cat /run/whotouched-audit-health.json").stdout:
            assert time.monotonic() < deadline, "the reporter did not see the suspension:\n" + _diagnostics(guest)
            time.sleep(2)
        guest.check("rm -f /var/log/audit/filler && auditctl --signal USR2")
        resumed = float(guest.check("date +%s.%N"))
        deadline = time.monotonic() + 120
        while True:
            stored = server_shell("grep -ah logging_suspended_since= %s" % sender_file()).stdout
            found = re.findall(r"logging_suspended_since=([0-9.]+)", stored)
            if found or time.monotonic() > deadline:
                break
            time.sleep(2)
        assert found, "no report of the suspension reached the log server\n" + _diagnostics(guest)
        since = float(found[-1])
        print("guest delivery: auditd's log suspended from %.1f s after the disk filled, told at "
              "the log server" % (since - filled))
        assert filled - 1 <= since <= resumed, (filled, since, resumed)
        report = server_report(debian_path["work"], "path=%s since=1h min_level=high" % sender_file())
        told = [event for event in report["events"] if event["kind"] == "loss"
                and event["loss"].get("unlogged_since") is not None]
        assert told and abs(told[-1]["loss"]["unlogged_since"] - since) < 0.01, report["table"][-5:]
        assert any("auditd wrote no log between" in line for line in report["table"])
    finally:
        guest.ssh("cp /root/auditd.conf.before %s; umount -l /var/log/audit; "
                  "systemctl restart auditd rsyslog" % conf)


def test_rhel_shaped_rsyslog_and_auditd_unit_lose_nothing(guest, debian_path):
    rhel_conf = rhel_shaped_rsyslog_conf()
    guest.check("mkdir -p /var/lib/rsyslog /etc/systemd/system/auditd.service.d")
    guest.write_file("/etc/rsyslog.conf", rhel_conf)
    guest.write_file("/etc/systemd/system/auditd.service.d/rhel.conf", REFUSE_MANUAL_STOP)
    guest.check("systemctl daemon-reload")
    assert guest.ssh("systemctl restart auditd").returncode != 0, "the unit should refuse a manual restart"
    # a change of auditd.conf that auditd must take without a restart
    output = site(guest, debian_path["work"], "rhel", {"linux_audit_dispatcher_queue_depth": 9000})
    assert "RUNNING HANDLER [whotouched.server_audit.linux_audit : Reload auditd]" in output, output[-3000:]
    assert "imjournal" in guest.check("cat /etc/rsyslog.conf")
    check_every_command_arrives(guest, "rhel")


def test_booted_through_grub_the_guest_audits_from_its_first_process(guest, debian_path):
    """The entries linux_audit had update-grub write boot for real: started again through
    GRUB (BIOS, its own /boot/grub/grub.cfg), the guest's kernel audits from its start, with
    the role's backlog before auditd sets one.  (The guest keeps booting so.)"""
    assert "audit=1 audit_backlog_limit=8192" in guest.check("cat /etc/default/grub.d/60-whotouched-audit.cfg")
    started = time.monotonic()
    guest.boot_through_grub(debian_path["work"])
    print("guest delivery: booted through GRUB in %.0f s" % (time.monotonic() - started))
    command_line = guest.check("cat /proc/cmdline")
    assert command_line.startswith("BOOT_IMAGE=/boot/vmlinuz-"), command_line  # GRUB's, not QEMU's
    assert audit_parameters_lacking(command_line, 8192) == [], command_line
    kernel_log = guest.check("dmesg")
    assert "audit: audit_backlog_limit: 8192" in kernel_log, kernel_log[:3000]
    assert "audit: initializing netlink subsys (enabled)" in kernel_log, kernel_log[:3000]
    assert guest.check("auditctl -s").splitlines()[0] == "enabled 1"
