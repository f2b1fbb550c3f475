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

if failures:
    print("\n".join(failures))
    sys.exit(1)
print("sim CLI contract holds")
