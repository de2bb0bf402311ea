#!/usr/bin/env bash
# Build the local systemd base images the Molecule scenarios run on, from package
# archives (no registry needed): Debian suites from the host's own package sources,
# Ubuntu suites (focal, jammy, noble) from the Ubuntu archive.  An image whose recipe is
# unchanged is not rebuilt: the recipe's hash is stored in the image's labels.
#
#   scripts/build-images.sh [SUITE ...]     default: bookworm trixie bullseye focal jammy noble
#
# Images: whotouched/debian-systemd:SUITE and whotouched/ubuntu-systemd:SUITE.
set -euo pipefail

PACKAGES="systemd,systemd-sysv,dbus,python3,python3-apt,sudo,procps,iproute2,ca-certificates,passwd"
REPOSITORY="${WHOTOUCHED_IMAGE_REPOSITORY:-whotouched/debian-systemd}"
UBUNTU_REPOSITORY="${WHOTOUCHED_UBUNTU_IMAGE_REPOSITORY:-whotouched/ubuntu-systemd}"
UBUNTU_MIRROR="${WHOTOUCHED_UBUNTU_MIRROR:-http://archive.ubuntu.com/ubuntu}"
# The Ubuntu archive keyring, pinned by the hash of the package that carries it: the
# trust anchor for every Ubuntu package these images get.
UBUNTU_KEYRING_DEB="pool/main/u/ubuntu-keyring/ubuntu-keyring_2023.11.28.1_all.deb"
UBUNTU_KEYRING_SHA256="36de43b15853ccae0028e9a767613770c704833f82586f28eb262f0311adb8a8"

die() { echo "build-images: $*" >&2; exit 1; }

command -v mmdebstrap >/dev/null 2>&1 || {
  [ -r /etc/debian_version ] || die "mmdebstrap is missing and this is not a Debian host."
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mmdebstrap >/dev/null || die "apt-get install mmdebstrap failed."
}

work=$(mktemp -d)
chmod 0755 "$work"  # apt's sandbox user reads the Ubuntu keyring from here
trap 'rm -rf "$work"' EXIT

UBUNTU_KEYRING="$work/ubuntu-archive-keyring.gpg"
fetch_ubuntu_keyring() {
  if [ ! -s "$UBUNTU_KEYRING" ]; then
    curl -fsS -o "$work/ubuntu-keyring.deb" "$UBUNTU_MIRROR/$UBUNTU_KEYRING_DEB" \
      || die "cannot download the Ubuntu keyring from $UBUNTU_MIRROR."
    echo "$UBUNTU_KEYRING_SHA256  $work/ubuntu-keyring.deb" | sha256sum --check --status \
      || die "the Ubuntu keyring package from $UBUNTU_MIRROR does not have the pinned SHA-256."
    dpkg-deb -x "$work/ubuntu-keyring.deb" "$work/ubuntu-keyring"
    cp "$work/ubuntu-keyring/usr/share/keyrings/ubuntu-archive-keyring.gpg" "$UBUNTU_KEYRING"
  fi
}

is_ubuntu() { case "$1" in focal|jammy|noble) return 0 ;; *) return 1 ;; esac; }

image_tag() {
  if is_ubuntu "$1"; then echo "$UBUNTU_REPOSITORY:$1"; else echo "$REPOSITORY:$1"; fi
}

# The recipe: the root file system of SUITE as a tarball at OUT.
rootfs() {
  local suite=$1 out=$2
  local -a sources=() options=()
  if is_ubuntu "$suite"; then
    options=("--components=main,universe" "--keyring=$UBUNTU_KEYRING")
    sources=("deb $UBUNTU_MIRROR $suite main universe"
             "deb $UBUNTU_MIRROR $suite-updates main universe"
             "deb $UBUNTU_MIRROR $suite-security main universe")
  fi
  # A Debian container's own sources come from the host's, so it reaches the same mirror;
  # an Ubuntu container's are the archive lines above.  Keep the package lists, as an
  # installed system has them.  The hooks' "$1" is the new root, expanded by mmdebstrap,
  # not by this shell.
  # shellcheck disable=SC2016
  mmdebstrap --quiet --variant=apt --include="$PACKAGES" --skip=cleanup/apt/lists "${options[@]}" \
    --customize-hook='chroot "$1" systemctl mask getty.target systemd-logind.service console-getty.service' \
    --customize-hook='rm -f "$1"/etc/machine-id; touch "$1"/etc/machine-id' \
    "$suite" "$out" "${sources[@]}"
}

# An image is rebuilt when its recipe changes: the suite, the packages, the sources and
# the rootfs function above (not the rest of this script).
recipe_hash() {
  { echo "$1 $PACKAGES $UBUNTU_MIRROR $UBUNTU_KEYRING_SHA256"; declare -f rootfs; } \
    | sha256sum | cut -c1-16
}

build() {
  local suite=$1 tag=$2 hash=$3
  rootfs "$suite" "$work/$suite.tar" || { echo "build-images: mmdebstrap $suite failed: see the messages above." >&2; return 1; }
  docker import \
    --change 'CMD ["/lib/systemd/systemd"]' \
    --change "LABEL org.whotouched.recipe=$hash" \
    "$work/$suite.tar" "$tag" >/dev/null || { echo "build-images: docker import of $tag failed." >&2; return 1; }
  rm -f "$work/$suite.tar"
  echo "build-images: built $tag"
}

[ $# -gt 0 ] || set -- bookworm trixie bullseye focal jammy noble
# Several images are built at once (their packages mostly come over the network).
jobs=${WHOTOUCHED_IMAGE_JOBS:-3}
failed=0
running=0
for suite in "$@"; do
  tag=$(image_tag "$suite")
  hash=$(recipe_hash "$suite")
  current=$(docker image inspect -f '{{ index .Config.Labels "org.whotouched.recipe" }}' "$tag" 2>/dev/null || true)
  if [ "$current" = "$hash" ]; then
    echo "build-images: $tag is up to date"
    continue
  fi
  if is_ubuntu "$suite"; then fetch_ubuntu_keyring; fi
  if [ "$running" -ge "$jobs" ]; then
    wait -n || failed=1
    running=$((running - 1))
  fi
  echo "build-images: building $tag"
  build "$suite" "$tag" "$hash" &
  running=$((running + 1))
done
while [ "$running" -gt 0 ]; do
  wait -n || failed=1
  running=$((running - 1))
done
[ "$failed" = 0 ] || die "an image was not built: see the messages above."
