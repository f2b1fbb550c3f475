#!/usr/bin/env bash
# perf/memory.sh — the memory report: bytes per unit for the dense, near-full
# and sparse cases and the process's peak RSS (uepool-memreport), from a
# Release build.
set -euo pipefail
cd "$(dirname "$0")/.."
cmake --preset release >/dev/null
cmake --build --preset release --target uepool-memreport >/dev/null
build/release/bench/uepool-memreport
