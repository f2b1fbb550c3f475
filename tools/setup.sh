#!/usr/bin/env bash
# tools/setup.sh — install every Debian 12 package that uepool's build, tests,
# benchmarks and profiling scripts need. Idempotent, non-interactive; run as root.
set -euo pipefail

packages=(
  # toolchain
  build-essential g++ clang clang-14 libclang-rt-14-dev lld cmake ninja-build pkg-config git clang-format clang-tidy
  # libraries (DESIGN.md: the design's own choices)
  libtbb-dev libbenchmark-dev libgtest-dev libgmock-dev libjemalloc-dev
  libzmq3-dev cppzmq-dev libroaring-dev libcli11-dev libfmt-dev libyaml-cpp-dev libcpp-httplib-dev
  # tests, benchmarks and profiling
  python3 gnuplot-nox linux-perf valgrind relacy-dev
  # the node's tests: promtool (Prometheus) checks /metrics; socat speaks to the
  # control socket; iproute2 and iptables make the multi-host test's hosts and faults
  prometheus socat iproute2 iptables
  # the PFCP test: Wireshark's own dissector reads the UE IP Address IEs back
  tshark
  # the Go binding (bindings/go, cgo) and its tests
  golang-go
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if ((${#missing[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "setup.sh: missing packages (${missing[*]}); run as root" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update
  apt-get install -y --no-install-recommends "${missing[@]}"
fi
