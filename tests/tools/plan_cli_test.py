#!/usr/bin/env python3
"""`uepool plan`: the table adds up to every block of each pool, the CIDR
prefixes of a member cover exactly its units, a join moves blocks only to the
joiner (and about its weighted share of them), a leave only from the leaver,
and bad input exits 2 with a message and prints no table."""
import ipaddress
import os
import re
import subprocess
import sys
import tempfile

BIN = sys.argv[1]
CONFIG = """epoch: 1
curve: false
pools:
  - {name: v4, prefix: 10.45.0.0/16, unit_length: 32, block_units: 64}
  - {name: v6, prefix: "2001:db8::/44", unit_length: 64, block_units: 1024}
members:
  - {name: smf1, id: 1, endpoint: "tcp://127.0.0.1:7101"}
  - {name: smf2, id: 2, endpoint: "tcp://127.0.0.1:7102"}
  - {name: smf3, id: 3, endpoint: "tcp://127.0.0.1:7103", weight: 2}
"""
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)


def run(*args):
    return subprocess.run([BIN, "plan", *args], capture_output=True, text=True)


def tables(out):
    """{section: {pool: {member: (weight, blocks, units, prefixes)}}}"""
    result, section, pool = {}, "before", None
    for line in out.splitlines():
        if line.startswith("after"):
            section = "after"
        m = re.match(r"pool (\S+) (\S+): ([\d,]+) units of /(\d+), blocks of ([\d,]+) units", line)
        if m:
            pool = m.group(1)
            result.setdefault(section, {})[pool] = {"_units": int(m.group(3).replace(",", "")),
                                                    "_block": int(m.group(5).replace(",", ""))}
            continue
        m = re.match(r"  (smf\d+)\s+(\d+)\s+([\d,]+)\s+([\d,]+)\s+[\d.]+%\s+(\d+)\s+(.*)$", line)
        if m and pool:
            prefixes = [p for p in m.group(6).split(", ") if "/" in p and "..." not in p]
            result[section][pool][m.group(1)] = (int(m.group(2)), int(m.group(3).replace(",", "")),
                                                 int(m.group(4).replace(",", "")), prefixes)
    return result


with tempfile.TemporaryDirectory() as d:
    path = os.path.join(d, "set.yaml")
    with open(path, "w") as f:
        f.write(CONFIG)
    r = run("--config", path, "--prefixes", "100000")
    check(r.returncode == 0, f"plan exits 0 ({r.returncode}: {r.stderr})")
    t = tables(r.stdout)["before"]
    for pool, rows in t.items():
        members = {k: v for k, v in rows.items() if not k.startswith("_")}
        check(sum(v[2] for v in members.values()) == rows["_units"], f"{pool}: the members' units add up to the pool")
        check(sum(v[1] for v in members.values()) * rows["_block"] == rows["_units"], f"{pool}: blocks add up")
        for name, v in members.items():
            covered = sum(ipaddress.ip_network(p).num_addresses for p in v[3])
            unit = 1 if pool == "v4" else 2 ** 64
            check(covered == v[2] * unit, f"{pool} {name}: its prefixes cover exactly its {v[2]} units")
    check(t["v4"]["smf3"][2] > t["v4"]["smf1"][2], "weight 2 owns more than weight 1")

    r = run("--config", path, "--join", "smf4:2")
    check(r.returncode == 0, f"--join exits 0 ({r.stderr})")
    after = tables(r.stdout)["after"]
    moves = re.findall(r"^\s+(smf\d+)\s+-> (smf\d+)\s+([\d,]+) blocks", r.stdout, re.M)
    check(moves and all(to == "smf4" for _, to, _ in moves), f"a join moves blocks only to the joiner: {moves}")
    for pool in ("v4", "v6"):
        joiner = after[pool]["smf4"][1]
        total = after[pool]["_units"] // after[pool]["_block"]
        check(joiner > 0 and abs(joiner / total - 2 / 6) < 0.1, f"{pool}: the joiner's share is near 2/6 ({joiner}/{total})")
    total_moved = sum(int(n.replace(",", "")) for _, _, n in moves)
    check(total_moved == after["v4"]["smf4"][1] + after["v6"]["smf4"][1], "what moves is what the joiner owns")

    r = run("--config", path, "--leave", "smf2")
    moves = re.findall(r"^\s+(smf\d+)\s+-> (smf\d+)\s+([\d,]+) blocks", r.stdout, re.M)
    check(r.returncode == 0 and moves and all(fr == "smf2" for fr, _, _ in moves),
          f"a leave moves only the leaver's blocks: {moves}")
    check("membership 2 smf1=1 smf2=0 smf3=2" in r.stdout,
          f"a leave prints the control-socket line that applies it (smf2=0): {r.stdout[-300:]}")
    # The leaver, now a standby, joins back: its blocks come back to it.
    with open(path) as f:
        standby = f.read().replace('name: smf2, id: 2, endpoint: "tcp://127.0.0.1:7102"',
                                   'name: smf2, id: 2, endpoint: "tcp://127.0.0.1:7102", weight: 0')
    check("weight: 0" in standby, "the test configuration names smf2 as expected")
    spath = os.path.join(d, "standby.yaml")
    with open(spath, "w") as f:
        f.write(standby)
    r = run("--config", spath, "--join", "smf2")
    moves = re.findall(r"^\s+(smf\d+)\s+-> (smf\d+)\s+([\d,]+) blocks", r.stdout, re.M)
    check(r.returncode == 0 and moves and all(to == "smf2" for _, to, _ in moves) and
          "membership 2 smf1=1 smf2=1 smf3=2" in r.stdout, f"a standby joins: {moves} {r.stderr}")

    # A member gone for good: retired, its blocks to the others, the line names it retired.
    r = run("--config", path, "--retire", "smf2")
    moves = re.findall(r"^\s+(smf\d+)\s+-> (smf\d+)\s+([\d,]+) blocks", r.stdout, re.M)
    check(r.returncode == 0 and moves and all(fr == "smf2" for fr, _, _ in moves) and
          "membership 2 smf1=1 smf2=retired smf3=2" in r.stdout and "never run again" in r.stdout,
          f"a retirement: {moves} {r.stdout[-400:]} {r.stderr}")
    rpath = os.path.join(d, "retired.yaml")
    with open(rpath, "w") as f:
        f.write(standby.replace("weight: 0", "weight: 0, retired: true"))
    r = run("--config", rpath, "--join", "smf2")
    check(r.returncode == 2 and "cannot come back" in r.stderr, f"a retired member cannot join: {r.stderr}")
    for bad, msg in ((["--leave", "smf9"], "not a member"), (["--join", "smf1"], "already a member"),
                     (["--retire", "smf9"], "not a member"),
                     (["--weight", "smf1:x"], "NAME:WEIGHT"), (["--join", "smf5:0"], "positive integer"),
                     (["--leave", "smf1", "--leave", "smf2", "--leave", "smf3"], "nobody owns a block")):
        r = run("--config", path, *bad)
        check(r.returncode == 2 and msg in r.stderr and r.stdout == "", f"{bad}: exit 2 naming '{msg}', no table "
              f"({r.returncode}: {r.stderr.strip()})")
    # The README's example set: valid, and its standby's join is a real one.
    example = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools", "examples", "set.yaml")
    r = subprocess.run([sys.argv[1], "check", "--config", example], capture_output=True, text=True)
    check(r.returncode == 0 and "ok: 2 pools, 4 members, epoch 1" in r.stdout and "warning" not in r.stdout,
          f"tools/examples/set.yaml checks clean ({r.stdout} {r.stderr})")
    r = run("--config", example, "--join", "smf4")
    moves = re.findall(r"^\s+(smf\d+)\s+-> (smf\d+)\s+([\d,]+) blocks", r.stdout, re.M)
    check(r.returncode == 0 and moves and all(to == "smf4" for _, to, _ in moves) and
          "membership 2 smf1=1 smf2=1 smf3=2 smf4=1" in r.stdout, f"the example's standby joins: {r.stdout[-400:]}")
    with open(path, "a") as f:
        f.write("bogus_key: 1\n")
    r = run("--config", path)
    check(r.returncode == 2 and "bogus_key" in r.stderr, f"a configuration error is named ({r.stderr.strip()})")

for f in failures:
    print("FAILED:", f)
print("plan_cli:", "ok" if not failures else f"{len(failures)} failures")
sys.exit(1 if failures else 0)
