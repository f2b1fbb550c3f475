#!/usr/bin/env bash
# perf/scaling.sh — multicore scaling: the churn families at 1..N threads
# (N = the machine's cores, at most 16), medians of 3, into
# build/compare/scaling.json; then the table via perf/compare --json.
set -euo pipefail
cd "$(dirname "$0")/.."
reps=${UEPOOL_SCALING_REPETITIONS:-3}
filter=${UEPOOL_SCALING_FILTER:-'ceiling|churn_dense|churn_full95|churn_sparse|lookup'}
mkdir -p build/compare
build/release/bench/uepool-bench --benchmark_filter="$filter" --benchmark_min_time="${UEPOOL_SCALING_MIN_TIME:-0.2}" \
  --benchmark_repetitions="$reps" --benchmark_report_aggregates_only=true \
  --benchmark_out=build/compare/scaling.json --benchmark_out_format=json >/dev/null
perf/compare --json build/compare/scaling.json --repetitions "$reps" --out build/compare
