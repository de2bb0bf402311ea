#!/usr/bin/env bash
# Build the collection tarball and install it into an empty directory, the way a user
# would.  Dependencies come from the toolchain's `ansible` package (--offline).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
out="$root/build"
rm -rf "$out"
mkdir -p "$out"
ansible-galaxy collection build --output-path "$out" "$root"
tarball=$(ls "$out"/whotouched-server_audit-*.tar.gz)
target=$(mktemp -d)
trap 'rm -rf "$target"' EXIT
ANSIBLE_COLLECTIONS_PATH="$target" ansible-galaxy collection install --offline -p "$target" "$tarball"
test -f "$target/ansible_collections/whotouched/server_audit/MANIFEST.json"
echo "build-collection: $(basename "$tarball") installs into an empty directory"
