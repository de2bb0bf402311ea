#!/usr/bin/env bash
# The host packages the tests run for real: the audit userspace (real kernel tests),
# rsyslog with its TCP/RELP/TLS modules (real rsyslogd tests), the image builder,
# chromium (the wall screen tested in a real headless browser), QEMU and socat (the test
# guest: a kernel of its own, see scripts/build-guest.sh) with an SSH client, GRUB's BIOS
# images and xorriso (the guest booted through GRUB, by grub-mkrescue), Python's venv,
# and Debian's ClickHouse server (18.16, with the time zones it needs; the event store's tests
# start their own server process).
# Installs only what is missing, so a re-run costs nothing.
set -euo pipefail

PACKAGES=(python3-venv auditd rsyslog rsyslog-relp rsyslog-gnutls rsyslog-openssl mmdebstrap gnutls-bin openssl shellcheck sudo chromium openssh-client qemu-system-x86 qemu-utils socat grub-pc-bin xorriso clickhouse-server tzdata)

die() { echo "host-packages: $*" >&2; exit 1; }

[ -r /etc/debian_version ] || die "this test platform needs a Debian or Ubuntu host (found: $(grep -s '^PRETTY_NAME=' /etc/os-release || uname -sr))."

missing=()
for package in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
[ ${#missing[@]} -eq 0 ] && exit 0

[ "$(id -u)" = 0 ] || die "missing packages ${missing[*]}: install them as root (apt-get install ${missing[*]})."
echo "host-packages: installing ${missing[*]}"
apt-get update -qq
# Installing auditd, rsyslog or clickhouse-server must not start them here: tests start their own.
printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
chmod +x /usr/sbin/policy-rc.d
trap 'rm -f /usr/sbin/policy-rc.d' EXIT
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null \
  || die "apt-get install ${missing[*]} failed: see the messages above."
