#!/usr/bin/env bash
# perf/node.sh — the set over the real transport (ZeroMQ, TCP on 127.0.0.1),
# nodes in one process (bench/node_bench.cpp): release throughput between two
# nodes, and the recovery of a node whose blocks hold N units in use, with 3
# peers holding its replica. Each figure RUNS times (default 5), both with
# CurveZMQ off and on; prints every run and the range.
#   perf/node.sh [RUNS] [UNITS]
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}
units=${2:-1000000}
bin=build/release/bench/uepool-node-bench
[[ -x $bin ]] || { cmake --preset release >/dev/null && cmake --build --preset release --target uepool-node-bench; }
for mode in release recovery; do
  for curve in 0 1; do
    out=$(for _ in $(seq 1 "$runs"); do "$bin" "$mode" --units "$units" --curve "$curve"; done)
    echo "$out"
    key=$([[ $mode == release ]] && echo applied_per_second || echo seconds_to_ready)
    echo "$out" | sed -n "s/.* $key=\([0-9.]*\).*/\1/p" | sort -g |
      awk -v m="$mode" -v c="$curve" -v k="$key" '{v[NR]=$1} END {printf "== %s curve=%s: %s from %s to %s (median %s) over %d runs\n", m, c, k, v[1], v[NR], v[int((NR+1)/2)], NR}'
  done
done
