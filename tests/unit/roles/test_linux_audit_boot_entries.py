"""Which boot entries of GRUB's configuration the linux_audit role checks for audit=1 and the
boot-time backlog: those of this system's kernels (10_linux, in and out of its submenu) and
the dom0 kernels of Xen's entries (20_linux_xen: multiboot2, multiboot and Arm's xen_module;
not their initrd or XSM policy lines), not memtest86+'s, another system's (os-prober) or a
custom entry's.  The sed expression is
the role's own (vars/main.yml), run by the real sed on a grub.cfg in the shape Debian 12's
grub-mkconfig writes it."""

from __future__ import annotations

import subprocess

from tests.support.role_vars import rendered

GRUB_CFG = """\
### BEGIN /etc/grub.d/00_header ###
set default="0"
### END /etc/grub.d/00_header ###

### BEGIN /etc/grub.d/10_linux ###
menuentry 'Debian GNU/Linux' --class debian --class gnu-linux $menuentry_id_option 'gnulinux-simple-1' {
\tload_video
\techo\t'Loading Linux 6.1.0-28-amd64 ...'
\tlinux\t/boot/vmlinuz-6.1.0-28-amd64 root=UUID=1 ro audit=1 audit_backlog_limit=8192 quiet
\tinitrd\t/boot/initrd.img-6.1.0-28-amd64
}
submenu 'Advanced options for Debian GNU/Linux' $menuentry_id_option 'gnulinux-advanced-1' {
\tmenuentry 'Debian GNU/Linux, with Linux 6.1.0-28-amd64 (recovery mode)' {
\t\tlinux\t/boot/vmlinuz-6.1.0-28-amd64 root=UUID=1 ro single audit=1 audit_backlog_limit=8192
\t}
\tmenuentry 'Debian GNU/Linux, with Linux 6.1.0-27-amd64' {
\t\tlinux\t/boot/vmlinuz-6.1.0-27-amd64 root=UUID=1 ro audit=1 audit_backlog_limit=8192 audit=0
\t}
}
### END /etc/grub.d/10_linux ###

### BEGIN /etc/grub.d/20_linux_xen ###
menuentry 'Debian GNU/Linux, with Xen hypervisor' {
\techo\t'Loading Xen 4.17-amd64 ...'
\tmultiboot2\t/boot/xen-4.17-amd64.gz placeholder   ${xen_rm_opts}
\techo\t'Loading Linux 6.1.0-28-amd64 ...'
\tmodule2\t/boot/vmlinuz-6.1.0-28-amd64 placeholder root=UUID=1 ro audit=1 audit_backlog_limit=8192 quiet
\techo\t'Loading initial ramdisk ...'
\tmodule2\t--nounzip   /boot/initrd.img-6.1.0-28-amd64
}
submenu 'Xen hypervisor, version 4.17-amd64' {
\tmenuentry 'Debian GNU/Linux, with Xen 4.17-amd64 and Linux 6.1.0-28-amd64 (XSM enabled)' {
\t\tmultiboot2\t/boot/xen-4.17-amd64.gz placeholder  flask=enforcing ${xen_rm_opts}
\t\tmodule2\t/boot/vmlinuz-6.1.0-28-amd64 placeholder root=UUID=1 ro console=hvc0
\t\tmodule2\t--nounzip   /boot/initrd.img-6.1.0-28-amd64
\t\tmodule2     /boot/xenpolicy-4.17-amd64
\t}
\tmenuentry 'Debian GNU/Linux, with Xen 4.17-amd64 and Linux 6.1.0-28-amd64 (multiboot)' {
\t\tmultiboot\t/boot/xen-4.17-amd64.gz placeholder
\t\tmodule\t/boot/vmlinuz-6.1.0-28-amd64 placeholder
\t\tmodule\t--nounzip   /boot/initrd.img-6.1.0-28-amd64
\t}
\tmenuentry 'Debian GNU/Linux, with Xen 4.17 and Linux 6.1.0-28-arm64' {
\t\txen_hypervisor\t/boot/xen-4.17-arm64.efi placeholder
\t\txen_module\t/boot/vmlinuz-6.1.0-28-arm64 placeholder root=UUID=1 ro audit=1 audit_backlog_limit=8192
\t}
}
### END /etc/grub.d/20_linux_xen ###

### BEGIN /etc/grub.d/20_memtest86+ ###
menuentry 'Memory test (memtest86+x64.bin)' {
\tlinux\t/boot/memtest86+x64.bin
}
### END /etc/grub.d/20_memtest86+ ###

### BEGIN /etc/grub.d/30_os-prober ###
menuentry 'Fedora Linux (on /dev/sdb2)' {
\tlinux /boot/vmlinuz-6.11.4-301.fc41.x86_64 root=/dev/sdb2 rhgb
}
### END /etc/grub.d/30_os-prober ###

### BEGIN /etc/grub.d/40_custom ###
menuentry 'Rescue kernel' {
\tlinux /rescue/vmlinuz root=/dev/sda3
}
### END /etc/grub.d/40_custom ###
"""


def test_only_the_entries_of_this_systems_kernels_are_read(tmp_path):
    grub_cfg = tmp_path / "grub.cfg"
    grub_cfg.write_text(GRUB_CFG, encoding="utf-8")
    expression = rendered("linux_audit", "linux_audit_grub_entries_sed")
    read = subprocess.run(["sed", "-n", expression, str(grub_cfg)], capture_output=True, text=True, check=True)
    entries = [line.removeprefix("boot-args ") for line in read.stdout.splitlines()]
    assert entries == [
        "/boot/vmlinuz-6.1.0-28-amd64 root=UUID=1 ro audit=1 audit_backlog_limit=8192 quiet",
        "/boot/vmlinuz-6.1.0-28-amd64 root=UUID=1 ro single audit=1 audit_backlog_limit=8192",
        "/boot/vmlinuz-6.1.0-27-amd64 root=UUID=1 ro audit=1 audit_backlog_limit=8192 audit=0",
        # Xen's dom0 kernels (the word after the image is Xen's, the rest the kernel's)
        "/boot/vmlinuz-6.1.0-28-amd64 placeholder root=UUID=1 ro audit=1 audit_backlog_limit=8192 quiet",
        "/boot/vmlinuz-6.1.0-28-amd64 placeholder root=UUID=1 ro console=hvc0",
        "/boot/vmlinuz-6.1.0-28-amd64 placeholder",
        "/boot/vmlinuz-6.1.0-28-arm64 placeholder root=UUID=1 ro audit=1 audit_backlog_limit=8192",
    ]
    seen = {"stdout_lines": ["boot update-grub", "cmdline root=/dev/vda audit=1"] + read.stdout.splitlines()}
    # the role reads them through its variables: the third entry is the one that lacks audit=1
    # (audit=0 last), and two of Xen's lack both words
    assert rendered("linux_audit", "linux_audit_boot_entries", linux_audit_host=seen) == entries
    assert rendered("linux_audit", "linux_audit_boot_entries_lacking", linux_audit_host=seen) == [
        entries[2], entries[4], entries[5]]
    assert rendered("linux_audit", "linux_audit_running_lacks", linux_audit_host=seen) == [
        "audit_backlog_limit=8192"]
