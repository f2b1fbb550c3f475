#!/usr/bin/env bash
# `uepool check` and `uepool node` as a user runs them: three node processes
# on 127.0.0.1 with CurveZMQ keys from `uepool node --keygen`. They come up on
# the set's first start; SIGKILL of one and a restart (with --fresh again:
# ignored, its generation file says it ran) recovers it at a higher
# generation; SIGTERM stops each cleanly. Waits are liveness bounds.
set -euo pipefail
bin=$1
dir=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done; rm -rf "$dir"; }
trap cleanup EXIT
base=$((10000 + $$ % 10000))  # ports 10001..20003: below the ephemeral range, apart from node_test's

{
  echo "epoch: 1"
  echo "lease_ms: 1000"
  echo "pools:"
  echo "  - {name: v4, prefix: 10.45.0.0/22, unit_length: 32, block_units: 64}"
  echo "members:"
  for i in 1 2 3; do
    keys=$("$bin" node --keygen)
    pub=$(echo "$keys" | sed -n 's/^public_key: "\(.*\)"$/\1/p')
    echo "$keys" | sed -n 's/^secret_key: "\(.*\)"$/\1/p' > "$dir/smf$i.key"
    echo "  - {name: smf$i, id: $i, endpoint: \"tcp://127.0.0.1:$((base + i))\", public_key: \"$pub\", secret_key_file: \"$dir/smf$i.key\"}"
  done
} > "$dir/set.yaml"

out=$("$bin" check --config "$dir/set.yaml")
grep -q "ok: 1 pools, 3 members" <<<"$out" && ! grep -q warning <<<"$out" || { echo "check of a good file: $out"; exit 1; }
# Valid, but smf2's only block of v4 (10.45.3.64/26) lies in the static range: a warning, exit 0.
sed 's|block_units: 64}|block_units: 64, static: [10.45.3.0/24]}|' "$dir/set.yaml" > "$dir/lumpy.yaml"
out=$("$bin" check --config "$dir/lumpy.yaml") || { echo "check of a valid file failed: $out"; exit 1; }
grep -q "warning: member 'smf2' owns 64 units of pool 'v4', none of them dynamic" <<<"$out" || {
  echo "no warning for a member without dynamic units: $out"; exit 1; }
sed 's/block_units: 64/block_units: 100/' "$dir/set.yaml" > "$dir/bad.yaml"
rc=0; out=$("$bin" check --config "$dir/bad.yaml") || rc=$?
[[ $rc == 1 ]] || { echo "check of a bad file: exit $rc, want 1"; exit 1; }
grep -q "line 4, key 'block_units': must be a power of two" <<<"$out" || { echo "unexpected: $out"; exit 1; }

start() {  # start NAME [OPTION...]
  mkdir -p "$dir/$1"
  "$bin" node --config "$dir/set.yaml" --id "$1" --data-dir "$dir/$1" --fresh "${@:2}" >>"$dir/$1.log" 2>&1 &
  pids+=($!)
  eval "pid_$1=$!"
}
wait_for() {  # wait_for NAME TEXT
  for _ in $(seq 1 400); do grep -q "$2" "$dir/$1.log" && return 0; sleep 0.05; done
  echo "$1 never printed '$2':"
  for n in smf1 smf2 smf3; do eval "p=\${pid_$n:-}"; [[ -n $p ]] && kill -TERM "$p" 2>/dev/null; done
  sleep 1; cat "$dir"/*.log; exit 1
}

start smf1 --control "$dir/smf1.sock"
for n in smf2 smf3; do start $n; done
for n in smf1 smf2 smf3; do wait_for $n "ready (generation 1)"; done
# Killed before its peers hold its replica, a member without a session store
# could not recover (member.hpp): wait for that first.
wait_for smf2 "every peer holds its replica"

kill -9 "$pid_smf2"
start smf2
wait_for smf2 "recovering from its peers' replicas (generation 2)"
wait_for smf2 "ready (generation 2)"
[[ $(cat "$dir/smf2/generation") == 2 ]]

# The node's debug dump through its control socket, read by `uepool inspect`:
# an allocated unit shows in smf1's snapshot; a corrupted dump is refused.
ctl() { echo "$1" | socat -t 5 - "UNIX-CONNECT:$dir/smf1.sock"; }
lease=$(ctl "allocate v4")
[[ $lease == ok* ]] || { echo "allocate at smf1: $lease"; exit 1; }
for _ in $(seq 1 100); do
  ctl dump | cut -d' ' -f2 > "$dir/dump.hex"
  "$bin" inspect "$dir/dump.hex" > "$dir/dump.txt"
  grep -q "pool 0: 1 units in use" "$dir/dump.txt" && break
  sleep 0.05
done
grep -q "^RecoverAnswer from member 1 (generation 1" "$dir/dump.txt" || { cat "$dir/dump.txt"; exit 1; }
grep -q "pool 0: 1 units in use" "$dir/dump.txt" || { echo "the allocation is not in the dump:"; cat "$dir/dump.txt"; exit 1; }
sed 's/^\(.\{120\}\)./\1f/; s/^\(.\{121\}\)./\10/' "$dir/dump.hex" > "$dir/bad.hex"
cmp -s "$dir/dump.hex" "$dir/bad.hex" && { echo "the corruption changed nothing"; exit 1; }
rc=0; err=$("$bin" inspect "$dir/bad.hex" 2>&1 >/dev/null) || rc=$?
[[ $rc == 2 && $err == *refused* ]] || { echo "a corrupt dump: exit $rc, $err"; exit 1; }

for n in smf1 smf2 smf3; do
  eval "p=\$pid_$n"
  kill -TERM "$p"
  wait "$p"
  grep -q "$n: stopped" "$dir/$n.log"
done
echo "node cli: ok"
