#!/usr/bin/env bash
# ansible-test must run from an ansible_collections/NAMESPACE/NAME tree: copy the
# project's files (tracked and new, not ignored) into one and run sanity there.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
# Outside the checkout: inside it, ansible-test would see an ignored folder of its git.
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
tree="$work/ansible_collections/whotouched/server_audit"
mkdir -p "$tree"
cd "$root"
git ls-files -z --cached --others --exclude-standard | xargs -0 cp --parents -t "$tree"
# ansible-test downloads its pip bootstrap from a host outside the package registries;
# give it the offline stand-in under the name it looks for.
pip_version=$(python -c 'import re, ansible_test._internal.python_requirements as r, inspect; print(re.search(r"pip=.(\d+\.\d+)", inspect.getsource(r)).group(1))')
cache="$HOME/.ansible/test/cache/get_pip_${pip_version//./_}.py"
if ! cmp -s "$root/scripts/ansible-test/get_pip.py" "$cache"; then
  mkdir -p "$(dirname "$cache")"
  cp "$root/scripts/ansible-test/get_pip.py" "$cache"
fi
cd "$tree"
ansible-test sanity --color no --requirements --python "${SANITY_PYTHON:-3.11}" "$@"
