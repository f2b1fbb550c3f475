#!/usr/bin/env bash
# perf/profile.sh — profile one benchmark of uepool-bench.
#
#   perf/profile.sh [FILTER] [SECONDS]
#     FILTER   a --benchmark_filter regex (default: 'churn_dense/uepool/real_time/threads:1$')
#     SECONDS  --benchmark_min_time per benchmark (default 2)
#
# Builds the `profile` preset (Release -O2 with frame pointers and debug
# info), then runs the benchmark under
#   1. perf stat   — hardware counters (cycles, instructions, IPC) where the
#                    machine has them; software events (task-clock, context
#                    switches, page faults) always;
#   2. perf record — call graphs through frame pointers; prints the top
#                    symbols (perf report --stdio --no-children);
#   3. callgrind   — only where hardware counters are "not supported" (virtual
#                    machines): instruction counts per function, repeatable
#                    whatever else the machine is doing. Run with a short
#                    fixed iteration count, since valgrind is ~50x slower.
# Output goes to build/profile-out/.
set -euo pipefail
cd "$(dirname "$0")/.."
filter=${1:-'churn_dense/uepool/real_time/threads:1$'}
seconds=${2:-2}
out=build/profile-out
mkdir -p "$out"

cmake --preset profile >/dev/null
cmake --build --preset profile --target uepool-bench >/dev/null
bench=build/profile/bench/uepool-bench
args=(--benchmark_filter="$filter" --benchmark_min_time="$seconds")

hw=yes
if ! perf stat -e cycles,instructions true 2>&1 | grep -q instructions || \
     perf stat -e cycles,instructions true 2>&1 | grep -q "not supported"; then
  hw=no
fi

echo "=== perf stat ($([[ $hw == yes ]] && echo 'hardware and software events' || echo 'software events only: hardware counters not supported here')) ==="
events=task-clock,context-switches,cpu-migrations,page-faults
[[ $hw == yes ]] && events="$events,cycles,instructions,branches,branch-misses,cache-misses"
perf stat -e "$events" "$bench" "${args[@]}" 2>&1 | tee "$out/perf-stat.txt" | grep -vE '^\s*$' | tail -n 25

echo "=== perf record (frame-pointer call graphs) ==="
perf record -q -g --call-graph fp -o "$out/perf.data" "$bench" "${args[@]}" >/dev/null 2>&1
perf report -i "$out/perf.data" --stdio --no-children --percent-limit 1 2>/dev/null \
  | grep -E '^ +[0-9]+\.[0-9]+%' | head -n 20 | tee "$out/perf-top.txt"

if [[ $hw == no ]]; then
  echo "=== callgrind (instruction counts; hardware counters unavailable) ==="
  valgrind --tool=callgrind --callgrind-out-file="$out/callgrind.out" \
    "$bench" --benchmark_filter="$filter" --benchmark_min_time=0.05 >/dev/null 2>"$out/callgrind.log" || true
  callgrind_annotate "$out/callgrind.out" 2>/dev/null | grep -E '^\s*[0-9,]+ ' | head -n 15 | tee "$out/callgrind-top.txt"
fi
echo "outputs in $out/"
