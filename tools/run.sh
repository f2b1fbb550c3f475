#!/usr/bin/env bash
# tools/run.sh — set up, build (Release) and run uepool's main job on its
# built-in defaults: `uepool demo`, a local SMF set of 4 `uepool node`
# processes on loopback (CurveZMQ) with dual-stack session churn, takeovers
# between SMFs, one SMF killed and recovered, an audit, a report and an SVG
# chart (./uepool-demo.svg); it exits 0 only when no unit was held twice,
# every SMF is ready and nothing leaked. Joining and leaving SMFs are not in
# it yet (re-division is not built). Then, shorter: the allocator's walk
# through (`uepool example`) and the protocol in the deterministic simulator
# (`uepool sim`, five seeds with faults, crashes and recoveries).
set -euo pipefail
cd "$(dirname "$0")/.."
"$(pwd)/tools/setup.sh"
cmake --preset release >/dev/null
cmake --build --preset release -j "$(nproc)" --target uepool
build/release/tools/uepool demo
echo
echo "=== the allocator on its own: uepool example ==="
build/release/tools/uepool example
echo
echo "=== the SMF-set protocol in the simulator: uepool sim --mode liveness --seeds 1..5 ==="
exec build/release/tools/uepool sim --mode liveness --seeds 1..5
