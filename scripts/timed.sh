#!/usr/bin/env bash
# How long each step of `make test` takes.
#
#   scripts/timed.sh STEP COMMAND...   run COMMAND; when WHOTOUCHED_TIMINGS names a file, add
#                                      "STEP SECONDS ok|FAILED" to it.  Exits as COMMAND does.
#   scripts/timed.sh --report FILE     print the steps of FILE, their times and the total.
#
# Steps named "molecule:SCENARIO" (written by scripts/molecule.sh) are shown under
# "molecule", the step that ran them.
set -uo pipefail

if [ "${1:-}" = "--report" ]; then
  [ -s "${2:-}" ] || exit 0
  awk '
    function clock(s) { return sprintf("%d:%02d:%02d", s / 3600, (s % 3600) / 60, s % 60) }
    function line(indent, name, seconds, status) {
      printf "%s%-40s %9s  %s\n", indent, name, clock(seconds), status
    }
    # A step is written when it ends, after the scenarios it ran: they are shown under it.
    $1 ~ /^molecule:/ { inner[++held] = $0; next }
    {
      line("  ", $1, $2, $3); total += $2
      for (i = 1; i <= held; i++) { split(inner[i], part, " "); sub(/^molecule:/, "", part[1]); line("      ", part[1], part[2], part[3]) }
      held = 0
    }
    END {
      for (i = 1; i <= held; i++) { split(inner[i], part, " "); sub(/^molecule:/, "", part[1]); line("      ", part[1], part[2], part[3]) }
      line("  ", "total", total, "")
    }
  ' "$2" | { echo "make test: how long each step took"; cat; }
  exit 0
fi

step=$1
shift
start=$SECONDS
"$@"
status=$?
if [ -n "${WHOTOUCHED_TIMINGS:-}" ]; then
  echo "$step $((SECONDS - start)) $([ $status -eq 0 ] && echo ok || echo FAILED)" >>"$WHOTOUCHED_TIMINGS"
fi
exit $status
