#!/usr/bin/env bash
# Build the test guest: a Debian machine with a kernel of its own (Debian's linux-image-amd64),
# systemd as PID 1, journald owning /dev/log, auditd and rsyslog, booted by QEMU without KVM
# (tests/support/guest.py).  It runs on every machine that runs the tests: user-mode Linux
# does not start on CPUs with AMX, QEMU's software emulation does.
#
#   scripts/build-guest.sh [SUITE]      default: bookworm; prints the guest's directory
#
# The guest's directory holds vmlinuz, initrd, disk.img (ext4, raw) and ssh_key (root's key).
# A guest whose recipe is unchanged is not rebuilt: its directory is named by the recipe's
# hash.  Tests boot copy-on-write overlays of disk.img, so the image stays as built.
#
# The guest has no network of its own (QEMU's user network with restrict=on): every package
# the roles install is in the image, and the package lists are kept so apt can answer.
set -euo pipefail

SUITE="${1:-bookworm}"
PACKAGES="linux-image-amd64,systemd,systemd-sysv,udev,kmod,dbus,auditd,audispd-plugins,rsyslog,rsyslog-relp,rsyslog-gnutls,openssh-server,python3,python3-apt,sudo,procps,iproute2,ca-certificates,passwd,curl,grub-common,grub2-common,xen-hypervisor-4.17-amd64"
CACHE="${WHOTOUCHED_GUEST_CACHE:-/var/cache/whotouched/guest}"
DISK_SIZE=3G

die() { echo "build-guest: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "needs root (builds a root file system)."
for tool in mmdebstrap mkfs.ext4 qemu-system-x86_64 qemu-img; do
  command -v "$tool" >/dev/null 2>&1 || die "$tool is missing (scripts/host-packages.sh installs it)."
done

hash=$({ echo "$SUITE $PACKAGES $DISK_SIZE"; cat "$0"; } | sha256sum | cut -c1-16)
guest="$CACHE/$SUITE-$hash"
if [ -s "$guest/disk.img" ] && [ -s "$guest/vmlinuz" ] && [ -s "$guest/ssh_key" ]; then
  echo "$guest"
  exit 0
fi

mkdir -p "$CACHE"
work=$(mktemp -d "$CACHE/.build.XXXXXX")
trap 'rm -rf "$work"' EXIT
echo "build-guest: building $SUITE into $guest" >&2

# The hook's "$1" is the new root, expanded by mmdebstrap.
# shellcheck disable=SC2016
mmdebstrap --quiet --variant=apt --include="$PACKAGES" --skip=cleanup/apt/lists \
  --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-exclude=/usr/share/man/*' \
  --dpkgopt='path-exclude=/usr/share/locale/*' \
  --customize-hook='chroot "$1" systemctl mask getty.target console-getty.service serial-getty@ttyS0.service' \
  "$SUITE" "$work/root.tar" >&2 || die "mmdebstrap failed."
root="$work/root"
mkdir "$root"
tar -xf "$work/root.tar" -C "$root" --numeric-owner
rm "$work/root.tar"

echo guest > "$root/etc/hostname"
# QEMU boots the kernel itself, but the guest is set up as installing GRUB leaves it:
# Debian's /etc/default/grub (grub-pc's postinst copies it so) and a configuration in
# /boot/grub, which linux_audit writes again with the real update-grub.  Xen's hypervisor
# is there too (never booted), so that update-grub also writes Xen's entries.  A test boots
# the guest through GRUB (tests/support/guest.py): the kernel parameters QEMU gives it
# otherwise are its GRUB_CMDLINE_LINUX, and GRUB does not wait.
mkdir -p "$root/boot/grub" "$root/etc/default/grub.d"
sed -e 's/^GRUB_TIMEOUT=.*/GRUB_TIMEOUT=0/' \
  -e 's/^GRUB_CMDLINE_LINUX=""/GRUB_CMDLINE_LINUX="console=ttyS0 net.ifnames=0 init_on_alloc=0 mitigations=off"/' \
  "$root/usr/share/grub/default/grub" > "$root/etc/default/grub"
grep -q '^GRUB_CMDLINE_LINUX="console=ttyS0' "$root/etc/default/grub" || die "Debian's /etc/default/grub changed shape."
: > "$root/boot/grub/grub.cfg"
echo "/dev/vda / ext4 defaults 0 1" > "$root/etc/fstab"
# QEMU's user network: the guest is 10.0.2.15, QEMU's own side 10.0.2.2 (no DHCP client in
# the image, and systemd-networkd would wait for udev rules this image does not need).
cat > "$root/etc/systemd/system/guest-network.service" <<'EOF'
[Unit]
Description=The guest's address on QEMU's user network
Before=network.target ssh.service rsyslog.service
Wants=network.target

[Service]
Type=oneshot
ExecStart=/sbin/ip link set lo up
ExecStart=/sbin/ip link set eth0 up
ExecStart=/sbin/ip addr add 10.0.2.15/24 dev eth0
ExecStart=/sbin/ip route add default via 10.0.2.2
RemainAfterExit=yes

[Install]
WantedBy=multi-user.target
EOF
ln -s /etc/systemd/system/guest-network.service \
  "$root/etc/systemd/system/multi-user.target.wants/guest-network.service"

ssh-keygen -q -t ed25519 -N "" -C "whotouched test guest" -f "$work/ssh_key"
install -d -m 0700 "$root/root/.ssh"
install -m 0600 "$work/ssh_key.pub" "$root/root/.ssh/authorized_keys"

cp "$root"/boot/vmlinuz-* "$work/vmlinuz"
cp "$root"/boot/initrd.img-* "$work/initrd"
mkfs.ext4 -q -F -L root -d "$root" "$work/disk.img" "$DISK_SIZE" || die "mkfs.ext4 failed."
rm -rf "$root"

# Older builds of this suite are of no use once the recipe has changed.
find "$CACHE" -mindepth 1 -maxdepth 1 -type d -name "$SUITE-*" ! -name "$SUITE-$hash" -exec rm -rf {} +
mv "$work" "$guest"
trap - EXIT
echo "$guest"
