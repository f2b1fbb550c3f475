#!/usr/bin/env bash
# tools/sim_sweep.sh — long simulator sweeps by hand, on every core.
#
#   tools/sim_sweep.sh [FIRST_SEED] [SEEDS] [STEPS]     (defaults: 1 100000 10000)
#
# Runs seeds FIRST..FIRST+SEEDS-1 in both modes, split into one slice per
# core; each slice stops at its first failure and prints the command that
# replays it. Exit status 1 if any slice failed or crashed (a slice that
# dies without its summary line, e.g. on a signal, counts as failed).
# Needs a release build
# (cmake --preset release && cmake --build --preset release).
set -euo pipefail
cd "$(dirname "$0")/.."
first=${1:-1}
seeds=${2:-100000}
steps=${3:-10000}
bin=build/release/tools/uepool
[[ -x $bin ]] || { echo "build first: cmake --preset release && cmake --build --preset release" >&2; exit 2; }
jobs=$(nproc)
slice=$(( (seeds + jobs - 1) / jobs ))
out=$(mktemp -d)
status=0
for mode in safety liveness; do
  pids=()
  names=()
  for ((j = 0; j < jobs; j++)); do
    a=$((first + j * slice))
    b=$((a + slice - 1))
    (( b > first + seeds - 1 )) && b=$((first + seeds - 1))
    (( a > b )) && continue
    "$bin" sim --mode "$mode" --seeds "$a..$b" --steps "$steps" --quiet >"$out/$mode.$j" 2>&1 &
    pids+=($!)
    names+=("$mode seeds $a..$b")
  done
  for k in "${!pids[@]}"; do
    rc=0
    wait "${pids[$k]}" || rc=$?
    if (( rc != 0 && rc != 1 )); then
      # 1 is an invariant failure (reported below); anything else is a crash or a usage error.
      echo "CRASHED: ${names[$k]} (exit status $rc)"
      status=1
    elif (( rc == 1 )); then
      status=1
    fi
  done
done
for f in "$out"/*; do
  if grep -q '^FAILED' "$f"; then
    grep -A1 '^FAILED' "$f"
    status=1
  fi
done
grep -h 'seeds passed' "$out"/* || true
rm -rf "$out"
exit $status
