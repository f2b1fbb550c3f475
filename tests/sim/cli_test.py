#!/usr/bin/env python3
"""The `uepool sim` contract: one trace-hash line per seed, exit 0/1/2, replay line."""
import re
import subprocess
import sys

uepool = sys.argv[1]


def run(*args):
    p = subprocess.run([uepool, "sim", *args], capture_output=True, text=True, timeout=300)
    return p.returncode, p.stdout, p.stderr


failures = []


def check(cond, what):
    if not cond:
        failures.append(what)


rc, out, _ = run("--mode", "safety", "--seed", "3", "--steps", "500")
check(rc == 0, f"one seed: exit {rc}")
hashes = re.findall(r"^trace-hash: [0-9a-f]{16}$", out, re.M)
check(len(hashes) == 1, f"one seed: {len(hashes)} trace-hash lines")
check("params: seed 3 mode safety" in out, "the derived parameters are printed")

rc, out2, _ = run("--mode", "safety", "--seed", "3", "--steps", "500")
check(re.findall(r"^trace-hash: .*$", out2, re.M) == hashes, "the same seed gives the same trace hash")

rc, out, _ = run("--mode", "liveness", "--seeds", "4..7", "--steps", "500", "--quiet")
check(rc == 0, f"seed range: exit {rc}")
check(len(re.findall(r"^trace-hash: [0-9a-f]{16}$", out, re.M)) == 4, "a range prints one hash per seed")
check(out.count("\n") == 4, "--quiet prints only the hash lines")

for bad in (["--mode", "chaos", "--seed", "1"], ["--seed", "x"], ["--seeds", "5..2"], ["--seeds", "3"],
            ["--seed", "1", "--seeds", "1..2"], [], ["--seed", "1", "--steps", "0"], ["--seed", "1", "--watch", "a"]):
    rc, _, err = run(*bad)
    check(rc == 2, f"usage error {bad}: exit {rc}")
    check("error" in err.lower() or rc == 2, f"usage error {bad}: no message")

# --exhaustive: a complete search reports what it searched; a broken rule
# fails with the schedule and a --replay line that fails the same way.
rc, out, _ = run("--exhaustive", "--members", "2", "--blocks", "1", "--depth", "2")
check(rc == 0, f"exhaustive: exit {rc}")
check(re.search(r"^searched: [1-9][0-9]* schedules .* distinct states", out, re.M) is not None,
      "exhaustive: the searched line")
check("ok: no violation" in out, "exhaustive: the ok line")
rc, out, _ = run("--exhaustive", "--members", "2", "--blocks", "1", "--depth", "6", "--rule-off",
                 "peers_only_answers")
check(rc == 1, f"exhaustive with a broken rule: exit {rc}")
failed = re.search(r"^FAILED: (.*)$", out, re.M)
replay = re.search(r"^replay: uepool sim (.*)$", out, re.M)
check(failed is not None and replay is not None, "exhaustive failure: FAILED and replay lines")
if failed and replay:
    rc, out2, _ = run(*replay.group(1).split())
    check(rc == 1, f"the replay: exit {rc}")
    again = re.search(r"^FAILED: (.*)$", out2, re.M)
    check(again is not None and again.group(1) == failed.group(1), "the replay fails the same way")
for bad in (["--exhaustive", "--seed", "1"], ["--exhaustive", "--replay", "1.x"], ["--exhaustive", "--depth", "0"],
            ["--exhaustive", "--members", "5"], ["--seed", "1", "--replay", "1"],
            ["--exhaustive", "--depth", "1", "--replay", "99"], ["--exhaustive", "--members", "2", "--retires", "1"]):
    rc, _, err = run(*bad)
    check(rc == 2, f"usage error {bad}: exit {rc}")
    check(err.strip() != "", f"usage error {bad}: no message")

if failures:
    print("\n".join(failures))
    sys.exit(1)
print("sim CLI contract holds")
