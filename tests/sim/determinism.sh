#!/usr/bin/env bash
# determinism.sh UEPOOL [OTHER_UEPOOL] — the simulator's trace hashes over
# seeds 1..100 (both modes) are identical on two runs of one binary, and,
# given a second binary (another compiler), identical across the two.
set -euo pipefail
a=$1
b=${2:-$1}
seeds=${UEPOOL_DETERMINISM_SEEDS:-100}
for mode in safety liveness; do
  x=$("$a" sim --mode "$mode" --seeds "1..$seeds" --steps 2000 --quiet 2>/dev/null)
  y=$("$b" sim --mode "$mode" --seeds "1..$seeds" --steps 2000 --quiet 2>/dev/null)
  n=$(grep -c '^trace-hash: [0-9a-f]\{16\}$' <<<"$x" || true)
  if [[ $n -ne $seeds ]]; then
    echo "expected $seeds trace-hash lines in $mode mode, got $n" >&2
    exit 1
  fi
  if [[ "$x" != "$y" ]]; then
    echo "trace hashes differ between runs ($a vs $b), mode $mode:" >&2
    diff <(echo "$x") <(echo "$y") | head -n 5 >&2
    exit 1
  fi
done
echo "trace hashes identical over seeds 1..$seeds in both modes ($a vs $b)"
