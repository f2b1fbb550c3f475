#!/usr/bin/env bash
# tools/test.sh — set up, build and run every test suite of uepool.
#
#   release : unit tests, the differential test against Python's ipaddress,
#             fuzz corpora replayed                                  (g++, -O2)
#   debug   : unit tests and stress under AddressSanitizer + UBSan  (g++)
#   tsan    : unit tests and concurrency stress under ThreadSanitizer (g++)
#   fuzz    : the whole tree under clang++ 14 -Werror, corpora replayed, then
#             each libFuzzer target for UEPOOL_FUZZ_SECONDS           (clang++)
#
# Scale with environment settings (CI keeps the defaults; run long versions by hand):
#   UEPOOL_STRESS_SECONDS  seconds per stress test        (default 2)
#   UEPOOL_FUZZ_SECONDS    seconds per fuzz target        (default 20)
#   UEPOOL_DIFFERENTIAL_CASES  cases per net operation    (default 40000; x3 operations)
#   UEPOOL_PRESETS         which presets to run           (default "release debug tsan fuzz")
set -euo pipefail
cd "$(dirname "$0")/.."

"$(pwd)/tools/setup.sh"

stress_seconds=${UEPOOL_STRESS_SECONDS:-2}
fuzz_seconds=${UEPOOL_FUZZ_SECONDS:-20}
differential_cases=${UEPOOL_DIFFERENTIAL_CASES:-40000}
presets=${UEPOOL_PRESETS:-release debug tsan fuzz}
jobs=$(nproc)

for preset in $presets; do
  echo "=== preset: $preset ==="
  cmake --preset "$preset" -DUEPOOL_STRESS_SECONDS="$stress_seconds" \
        -DUEPOOL_DIFFERENTIAL_CASES="$differential_cases" >/dev/null
  cmake --build --preset "$preset" -j "$jobs"
  ctest --preset "$preset" -j "$jobs"
  if [[ $preset == fuzz ]]; then
    for target in build/fuzz/tests/*_fuzz; do
      name=$(basename "$target" _fuzz)
      corpus=$(mktemp -d)
      cp tests/fuzz/corpus/"$name"/* "$corpus"/
      echo "--- fuzzing $name for ${fuzz_seconds}s ---"
      "$target" -max_total_time="$fuzz_seconds" -print_final_stats=1 "$corpus" 2>&1 | tail -n 3
      rm -rf "$corpus"
    done
  fi
done
echo "=== all test suites passed ==="
