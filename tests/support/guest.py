"""A machine with a kernel of its own for the tests that need one: QEMU without KVM.

The host's kernel is shared by every test, so what must not happen to it (audit rules locked
with ``-e 2``, a reboot) or what needs the whole production path (systemd as PID 1,
journald owning ``/dev/log``, auditd on the same kernel) happens in this guest.  The image
comes from ``scripts/build-guest.sh`` (cached by its recipe); each boot runs on a
copy-on-write overlay, so the image stays as built.

QEMU's software emulation (``-accel tcg``) boots on every x86-64 machine, including those
whose CPU user-mode Linux cannot run on.  It is slow for commands (tens of milliseconds per
``execve``), so tests share one boot (``tests/system/conftest.py``).

The guest's network is QEMU's user network with ``restrict=on``: it reaches nothing but
what is forwarded.  Its SSH server is forwarded to a port on the host's loopback, and the
address ``LOG_SERVER_ADDRESS`` inside the guest to ``log_server_port`` on the host's
loopback, where a test puts its log server.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

from tests.support.collection_path import ROOT
from tests.support.ports import free_port
from tests.support.process import run

BUILD_SCRIPT = ROOT / "scripts" / "build-guest.sh"
QEMU = "qemu-system-x86_64"
# Inside the guest: the address its log server answers on (QEMU forwards it to the host).
LOG_SERVER_ADDRESS = "10.0.2.100"
LOG_SERVER_PORTS = (514, 2514)
# Under emulation on a busy machine a boot has been seen to take four minutes.
BOOT_SECONDS = 600
SSH_OPTIONS = ("-q", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no",
               "-o", "UserKnownHostsFile=/dev/null", "-o", "ConnectTimeout=5",
               "-o", "ServerAliveInterval=5", "-o", "ServerAliveCountMax=6")


def grub_iso(work: Path) -> Path:
    """A CD image of GRUB for BIOS (grub-mkrescue) whose configuration reads the guest's own:
    the guest's disk has no partition table, its whole first disk is the root file system."""
    for tool in ("grub-mkrescue", "xorriso"):
        assert shutil.which(tool), "%s is missing (scripts/host-packages.sh installs it)" % tool
    tree = work / "grub-iso"
    (tree / "boot" / "grub").mkdir(parents=True, exist_ok=True)
    (tree / "boot" / "grub" / "grub.cfg").write_text("set root=(hd0)\nconfigfile /boot/grub/grub.cfg\n")
    iso = work / "grub.iso"
    made = run("grub-mkrescue", "-o", str(iso), str(tree))
    assert made.returncode == 0, made.stdout + made.stderr
    return iso


def build_image(suite: str = "bookworm") -> Path:
    """The guest's image directory, built when its recipe changed."""
    built = run(str(BUILD_SCRIPT), suite)
    if built.returncode != 0:
        raise RuntimeError("scripts/build-guest.sh failed:\n" + built.stdout + built.stderr)
    return Path(built.stdout.strip().splitlines()[-1])


class Guest:
    """One QEMU machine booted from the guest image, reached over SSH as root."""

    def __init__(self, image: Path, work: Path, memory_mb: int = 1536):
        self.image = image
        self.work = work
        self.memory_mb = memory_mb
        self.key = image / "ssh_key"
        self.console = work / "console.log"
        self.disk = work / "overlay.qcow2"
        self.ssh_port = free_port()
        # host loopback port of each LOG_SERVER_PORTS port inside the guest
        self.log_server_ports = {port: free_port() for port in LOG_SERVER_PORTS}
        self.process: subprocess.Popen | None = None
        # files that lock the audit rules at the next boot (a test that set them says so)
        self.lock_files: list[str] = []

    @property
    def log_server_port(self) -> int:
        """The host port behind LOG_SERVER_ADDRESS:514 (plain tcp)."""
        return self.log_server_ports[514]

    def boot(self, grub_cd: Path | None = None) -> None:
        """Start the guest: its kernel booted by QEMU itself, or with ``grub_cd`` (see
        :func:`grub_iso`) through GRUB, which boots what the guest's own /boot/grub/grub.cfg
        says.  The disk overlay is made at the first boot and kept by the next ones."""
        if not self.disk.exists():
            created = run("qemu-img", "create", "-q", "-f", "qcow2", "-F", "raw",
                          "-b", str(self.image / "disk.img"), str(self.disk))
            assert created.returncode == 0, created.stderr
        forwards = "".join(
            # a connection of the guest's, one socat to the host's loopback
            ",guestfwd=tcp:%s:%d-cmd:socat - TCP:127.0.0.1:%d" % (LOG_SERVER_ADDRESS, inside, outside)
            for inside, outside in self.log_server_ports.items())
        started_by = ["-cdrom", str(grub_cd), "-boot", "order=d"] if grub_cd else [
            "-kernel", str(self.image / "vmlinuz"), "-initrd", str(self.image / "initrd"),
            # init_on_alloc=0 and mitigations=off: zeroing every page and the speculation
            # barriers cost much more under emulation than they protect a test machine (the
            # image's GRUB_CMDLINE_LINUX has the same)
            "-append", "root=/dev/vda rw console=ttyS0 net.ifnames=0 audit=1 init_on_alloc=0 mitigations=off"]
        command = [
            QEMU, "-accel", "tcg", "-cpu", "max", "-smp", "2", "-m", str(self.memory_mb), *started_by,
            "-drive", "file=%s,if=virtio,format=qcow2" % self.disk,
            "-netdev", "user,id=net0,restrict=on,hostfwd=tcp:127.0.0.1:%d-:22%s" % (self.ssh_port, forwards),
            "-device", "virtio-net-pci,netdev=net0",
            "-display", "none", "-monitor", "none", "-serial", "file:" + str(self.console),
        ]
        self.process = subprocess.Popen(  # pylint: disable=consider-using-with
            command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            cwd=self.work, start_new_session=True)
        self.wait_until_up()
        # No network in the guest: the image's package lists are all apt has, so they count
        # as fresh for the roles' "refresh when older than a day".
        self.ssh("mkdir -p /var/lib/apt/periodic && touch /var/lib/apt/periodic/update-success-stamp")

    def boot_through_grub(self, work: Path) -> None:
        """Power the guest off and start it again through GRUB; it keeps booting so (its
        reboots too)."""
        self.stop()
        self.boot(grub_iso(work))

    def ssh(self, command: str, timeout: float = 600) -> subprocess.CompletedProcess:
        return run("ssh", *SSH_OPTIONS, "-i", str(self.key), "-p", str(self.ssh_port),
                   "root@127.0.0.1", command, timeout=timeout)

    def check(self, command: str, timeout: float = 600) -> str:
        """``command``'s output; an assertion error with its output when it fails."""
        result = self.ssh(command, timeout=timeout)
        assert result.returncode == 0, "on the guest: %s\n%s%s" % (command, result.stdout, result.stderr)
        return result.stdout

    def write_file(self, path: str, text: str) -> None:
        result = run("ssh", *SSH_OPTIONS, "-i", str(self.key), "-p", str(self.ssh_port),
                     "root@127.0.0.1", "cat > '%s'" % path, input=text, timeout=120)
        assert result.returncode == 0, "on the guest: cannot write %s: %s" % (path, result.stderr)

    def wait_until_up(self, timeout: float = BOOT_SECONDS) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            try:
                state = self.ssh("systemctl is-system-running --wait", timeout=60).stdout.strip()
            except subprocess.TimeoutExpired:
                continue
            if state in ("running", "degraded"):
                return
            time.sleep(2)
        raise AssertionError("the guest did not come up:\n" + self.console_tail())

    def boot_id(self) -> str:
        return self.ssh("cat /proc/sys/kernel/random/boot_id", timeout=60).stdout.strip()

    def reboot(self) -> str:
        """Reboot the guest's kernel and wait until it is up again; the new boot id."""
        before = self.boot_id()
        self.ssh("systemctl reboot", timeout=30)
        deadline = time.monotonic() + BOOT_SECONDS
        while time.monotonic() < deadline:
            self.wait_until_up(timeout=deadline - time.monotonic())
            now = self.boot_id()
            if now and now != before:
                return now
            time.sleep(2)
        raise AssertionError("the guest did not reboot:\n" + self.console_tail())

    def console_tail(self, size: int = 6000) -> str:
        text = self.console.read_text(errors="replace") if self.console.exists() else ""
        if self.process and self.process.poll() is not None and self.process.stderr:
            text += "\nqemu: " + self.process.stderr.read().decode(errors="replace")
        return text[-size:]

    def inventory_vars(self) -> dict:
        """How Ansible reaches the guest."""
        return {
            "ansible_host": "127.0.0.1",
            "ansible_port": self.ssh_port,
            "ansible_user": "root",
            "ansible_ssh_private_key_file": str(self.key),
            "ansible_ssh_common_args": "-o UserKnownHostsFile=/dev/null -o StrictHostKeyChecking=no",
            "ansible_python_interpreter": "/usr/bin/python3",
        }

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            try:
                self.ssh("systemctl poweroff", timeout=30)
            except subprocess.TimeoutExpired:
                pass
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
