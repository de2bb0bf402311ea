#!/usr/bin/env bash
# Build the local systemd base images the Molecule scenarios run on, from the host's own
# Debian package sources (no registry needed).  An image whose recipe is unchanged is
# not rebuilt: the recipe's hash is stored in the image's labels.
#
#   scripts/build-images.sh [SUITE ...]     default: bookworm trixie
set -euo pipefail

PACKAGES="systemd,systemd-sysv,dbus,python3,python3-apt,sudo,procps,iproute2,ca-certificates"
REPOSITORY="${WHOTOUCHED_IMAGE_REPOSITORY:-whotouched/debian-systemd}"

die() { echo "build-images: $*" >&2; exit 1; }

command -v mmdebstrap >/dev/null 2>&1 || {
  [ -r /etc/debian_version ] || die "mmdebstrap is missing and this is not a Debian host."
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mmdebstrap >/dev/null || die "apt-get install mmdebstrap failed."
}

recipe_hash() {
  { echo "$1 $PACKAGES"; cat "$0"; } | sha256sum | cut -c1-16
}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

build() {
  local suite=$1 tag hash current
  tag="$REPOSITORY:$suite"
  hash=$(recipe_hash "$suite")
  current=$(docker image inspect -f '{{ index .Config.Labels "org.whotouched.recipe" }}' "$tag" 2>/dev/null || true)
  if [ "$current" = "$hash" ]; then
    echo "build-images: $tag is up to date"
    return
  fi
  echo "build-images: building $tag"
  # The container's own sources come from the host's, so the images reach the same mirror.
  # Keep the package lists, as an installed system has them.  The hooks' "$1" is the
  # new root, expanded by mmdebstrap, not by this shell.
  # shellcheck disable=SC2016
  mmdebstrap --quiet --variant=apt --include="$PACKAGES" --skip=cleanup/apt/lists \
    --customize-hook='chroot "$1" systemctl mask getty.target systemd-logind.service console-getty.service' \
    --customize-hook='rm -f "$1"/etc/machine-id; touch "$1"/etc/machine-id' \
    "$suite" "$work/rootfs.tar" || die "mmdebstrap $suite failed: see the messages above."
  docker import \
    --change 'CMD ["/lib/systemd/systemd"]' \
    --change "LABEL org.whotouched.recipe=$hash" \
    "$work/rootfs.tar" "$tag" >/dev/null || die "docker import of $tag failed."
  rm -f "$work/rootfs.tar"
}

[ $# -gt 0 ] || set -- bookworm trixie
for suite in "$@"; do
  build "$suite"
done
