#!/usr/bin/env bash
# Run a list of Molecule scenario runs, two at a time where they cannot disturb each other.
#
#   scripts/molecule-matrix.sh RUN ...     a RUN is SCENARIO or SCENARIO@PLATFORMS, where
#                                          PLATFORMS names an entry of the matrix below
#
# Two runs never share a scenario (Molecule keeps one state directory per scenario), and only
# one run at a time uses the kernel's audit subsystem: a scenario whose molecule.yml has a
# container in the host's PID namespace ("pid_mode: host") loads audit rules and runs auditd,
# and there is one audit rule table per kernel.  Such a run holds the kernel lock
# (/run/whotouched-kernel.lock) for its whole length; the others run beside it.
# Each run is scripts/molecule.sh with the platform's variables.  MOLECULE_JOBS sets how many
# runs go at once (default 2).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
jobs=${MOLECULE_JOBS:-2}
lock=/run/whotouched-kernel.lock

# The platforms: the variables of .config/molecule/config.yml for each.
platform_env() {
  case "$1" in
    default) echo "" ;;
    ubuntu) echo "MOLECULE_IMAGE_1=whotouched/ubuntu-systemd:focal MOLECULE_PLATFORM_1=ubuntu2004 MOLECULE_IMAGE_2=whotouched/ubuntu-systemd:noble MOLECULE_PLATFORM_2=ubuntu2404" ;;
    older) echo "MOLECULE_IMAGE_1=whotouched/debian-systemd:bullseye MOLECULE_PLATFORM_1=debian11 MOLECULE_IMAGE_2=whotouched/ubuntu-systemd:jammy MOLECULE_PLATFORM_2=ubuntu2204" ;;
    debian13) echo "MOLECULE_PLATFORM_1=debian13 MOLECULE_IMAGE_1=whotouched/debian-systemd:trixie" ;;
    ubuntu2404) echo "MOLECULE_PLATFORM_1=ubuntu2404 MOLECULE_IMAGE_1=whotouched/ubuntu-systemd:noble" ;;
    *) echo "molecule-matrix: unknown platforms $1" >&2; exit 2 ;;
  esac
}

uses_kernel() {
  grep -qE '^\s*pid_mode:\s*host\b' "molecule/$1/molecule.yml"
}

pending=("$@")
declare -A running=()      # pid -> "scenario@platforms"
declare -A busy=()         # scenario -> 1 while one of its runs goes
kernel_busy=""
failed=()

start_run() {
  local run=$1 scenario=${1%@*} platforms=default
  [[ $run == *@* ]] && platforms=${run#*@}
  local env
  env=$(platform_env "$platforms")
  if uses_kernel "$scenario"; then
    # shellcheck disable=SC2086
    env $env flock "$lock" scripts/molecule.sh "$scenario" &
    kernel_busy=$!
  else
    # shellcheck disable=SC2086
    env $env scripts/molecule.sh "$scenario" &
  fi
  running[$!]=$run
  busy[$scenario]=1
}

# The first pending run that may start now, or "".
next_run() {
  local run scenario
  for run in "${pending[@]}"; do
    scenario=${run%@*}
    [ -n "${busy[$scenario]:-}" ] && continue
    if uses_kernel "$scenario" && [ -n "$kernel_busy" ]; then
      continue
    fi
    echo "$run"
    return
  done
}

while [ ${#pending[@]} -gt 0 ] || [ ${#running[@]} -gt 0 ]; do
  while [ ${#running[@]} -lt "$jobs" ] && [ ${#pending[@]} -gt 0 ]; do
    run=$(next_run)
    [ -n "$run" ] || break
    start_run "$run"
    for index in "${!pending[@]}"; do
      if [ "${pending[$index]}" = "$run" ]; then
        unset 'pending[index]'
        break
      fi
    done
    pending=("${pending[@]}")
  done
  # Wait for any run to end.
  status=0
  wait -n -p ended || status=$?
  run=${running[$ended]}
  unset 'running[$ended]'
  unset 'busy[${run%@*}]'
  [ "$ended" = "$kernel_busy" ] && kernel_busy=""
  [ "$status" -eq 0 ] || failed+=("$run")
done

if [ ${#failed[@]} -gt 0 ]; then
  echo "molecule-matrix: failed runs: ${failed[*]}"
  exit 1
fi
