#!/usr/bin/env bash
# tools/run.sh — set up, build (Release) and run uepool's main job on its
# built-in defaults. Until the SMF-set demo exists, that is `uepool example`:
# a walk through the engine on a built-in pool configuration.
set -euo pipefail
cd "$(dirname "$0")/.."
"$(pwd)/tools/setup.sh"
cmake --preset release >/dev/null
cmake --build --preset release -j "$(nproc)" --target uepool
exec build/release/tools/uepool example "$@"
