#!/usr/bin/env bash
# tools/run.sh — set up, build (Release) and run uepool's main job on its
# built-in defaults. Until the SMF-set demo exists (a later issue), that is:
#   1. `uepool example`: a walk through the allocator on a built-in pool
#      configuration (pools, workers, static claims, hold-down, lookup, errors);
#   2. `uepool sim`: the SMF-set protocol in the deterministic simulator, five
#      seeds in liveness mode (faults, crashes, recoveries, then a quiet phase
#      and the end checks), each with its derived parameters and results.
set -euo pipefail
cd "$(dirname "$0")/.."
"$(pwd)/tools/setup.sh"
cmake --preset release >/dev/null
cmake --build --preset release -j "$(nproc)" --target uepool
build/release/tools/uepool example
echo
echo "=== the SMF-set protocol in the simulator: uepool sim --mode liveness --seeds 1..5 ==="
exec build/release/tools/uepool sim --mode liveness --seeds 1..5
