#!/usr/bin/env bash
# Run Molecule scenarios in turn (scripts/molecule-matrix.sh runs several of these side by
# side).  A verifier that finds no tests counts as a failure, not a pass.
#
#   scripts/molecule.sh [SCENARIO ...]     default: all scenarios under molecule/
#
# The platforms come from MOLECULE_IMAGE_1/2 (see .config/molecule/config.yml); a run on
# other images than the default ones keeps its logs apart.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export NO_COLOR=1 PY_COLORS=0 ANSIBLE_FORCE_COLOR=0
# The scenarios use the collection of this checkout, through a link (tests/support/collection_path.py).
ANSIBLE_COLLECTIONS_PATH=$(python3 -c 'from tests.support.collection_path import collections_base; print(collections_base())')
export ANSIBLE_COLLECTIONS_PATH
logs="$root/.cache/molecule-logs"
mkdir -p "$logs"

if [ $# -eq 0 ]; then
  for file in molecule/*/molecule.yml; do
    set -- "$@" "$(basename "$(dirname "$file")")"
  done
fi

# Under `make test`, each scenario's time goes to the step timings (scripts/timed.sh).
record() {
  if [ -n "${WHOTOUCHED_TIMINGS:-}" ]; then
    echo "molecule:$scenario${MOLECULE_PLATFORM_1:+@$MOLECULE_PLATFORM_1${MOLECULE_PLATFORM_2:++$MOLECULE_PLATFORM_2}} $((SECONDS - start)) $1" >>"$WHOTOUCHED_TIMINGS"
  fi
}

failed=()
for scenario in "$@"; do
  log="$logs/$scenario${MOLECULE_PLATFORM_1:+-$MOLECULE_PLATFORM_1}.log"
  echo "molecule: scenario $scenario on ${MOLECULE_IMAGE_1:-the default images}${MOLECULE_IMAGE_2:+ and $MOLECULE_IMAGE_2} (log: $log)"
  start=$SECONDS
  if molecule test -s "$scenario" >"$log" 2>&1 && ! grep -q "Skipping, no tests found" "$log"; then
    echo "molecule: $scenario passed in $((SECONDS - start)) s"
    record ok
    grep -aE '^\s*(│\s*)?=+ .*(passed|failed).* =+\s*$' "$log" | sed 's/^[│ ]*/  /' || true
  else
    echo "molecule: $scenario FAILED in $((SECONDS - start)) s; its last lines:"
    record FAILED
    tail -n 60 "$log"
    failed+=("$scenario")
  fi
done

if [ ${#failed[@]} -gt 0 ]; then
  echo "molecule: failed scenarios: ${failed[*]}"
  exit 1
fi
