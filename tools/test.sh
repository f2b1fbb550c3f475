#!/usr/bin/env bash
# tools/test.sh — set up, build and run every test suite of uepool.
#
#   release : clang-format and clang-tidy (tools/lint.sh), unit tests, the
#             differential test against Python's ipaddress, fuzz corpora
#             replayed, the simulator's sweeps, the Relacy model check (g++, -O2)
#   debug   : unit tests and stress under AddressSanitizer + UBSan  (g++)
#   tsan    : unit tests and concurrency stress under ThreadSanitizer (g++)
#   fuzz    : the whole tree under clang++ 14 -Werror, corpora replayed, then
#             each libFuzzer target for UEPOOL_FUZZ_SECONDS           (clang++)
#
# Scale with environment settings (CI keeps the defaults; run long versions by hand):
#   UEPOOL_STRESS_SECONDS  seconds per stress test        (default 2)
#   UEPOOL_FUZZ_SECONDS    seconds per fuzz target        (default 20)
#   UEPOOL_DIFFERENTIAL_CASES  cases per net operation    (default 40000; x3 operations)
#   UEPOOL_SIM_SEEDS       simulator seeds per mode       (default 500)
#   UEPOOL_SIM_STEPS       steps per simulated seed       (default 5000)
#   UEPOOL_SIM_FIRST_SEED  first seed of the sweeps       (default: drawn at random, printed)
#   UEPOOL_MULTIHOST_SECONDS  faults in the multi-host test (default 60; release, as root)
#   UEPOOL_PRESETS         which presets to run           (default "release debug tsan fuzz")
# After release and fuzz: the simulator's trace hashes must be identical
# under g++ and clang++ (tests/sim/determinism.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

"$(pwd)/tools/setup.sh"

stress_seconds=${UEPOOL_STRESS_SECONDS:-2}
fuzz_seconds=${UEPOOL_FUZZ_SECONDS:-20}
differential_cases=${UEPOOL_DIFFERENTIAL_CASES:-40000}
presets=${UEPOOL_PRESETS:-release debug tsan fuzz}
sim_seeds=${UEPOOL_SIM_SEEDS:-500}
sim_steps=${UEPOOL_SIM_STEPS:-5000}
sim_first=${UEPOOL_SIM_FIRST_SEED:-$(( (RANDOM << 15 | RANDOM) + 1 ))}
echo "simulator sweeps: seeds $sim_first..$((sim_first + sim_seeds - 1)) per mode, $sim_steps steps each"
jobs=$(nproc)

for preset in $presets; do
  echo "=== preset: $preset ==="
  cmake --preset "$preset" -DUEPOOL_STRESS_SECONDS="$stress_seconds" \
        -DUEPOOL_DIFFERENTIAL_CASES="$differential_cases" -DUEPOOL_SIM_SEEDS="$sim_seeds" \
        -DUEPOOL_SIM_STEPS="$sim_steps" -DUEPOOL_SIM_FIRST_SEED="$sim_first" \
        -DUEPOOL_MULTIHOST_SECONDS="${UEPOOL_MULTIHOST_SECONDS:-60}" >/dev/null
  cmake --build --preset "$preset" -j "$jobs"
  if [[ $preset == release ]]; then
    tools/lint.sh build/release  # clang-format and clang-tidy: a finding fails the run
  fi
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
if [[ " $presets " == *" release "* && " $presets " == *" fuzz "* ]]; then
  echo "=== simulator determinism: g++ against clang++ ==="
  tests/sim/determinism.sh build/release/tools/uepool build/fuzz/tools/uepool
fi
echo "=== all test suites passed ==="
