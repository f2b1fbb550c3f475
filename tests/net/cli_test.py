#!/usr/bin/env python3
"""The `uepool net` command-line contract: one-shot results and exit
statuses, and the stdin mode's one-line-out-per-line-in rule (empty lines
and stray spaces are error lines, nothing trimmed or skipped)."""
import subprocess
import sys

UEPOOL = sys.argv[1]
failures = []


def run(args, stdin=None):
    p = subprocess.run([UEPOOL] + args, input=stdin, capture_output=True, text=True, check=False)
    return p.returncode, p.stdout, p.stderr


def expect(name, got, want):
    if got != want:
        failures.append(f"{name}: got {got!r}, want {want!r}")


expect("nth v6", run(["net", "nth", "2001:db8::/32", "64", "5"]), (0, "2001:db8:0:5::/64\n", ""))
expect("nth v4", run(["net", "nth", "10.0.0.0/8", "32", "257"]), (0, "10.0.1.1/32\n", ""))
expect("index", run(["net", "index", "2001:db8::/32", "64", "2001:db8:0:5::/64"]), (0, "5\n", ""))
expect("parse", run(["net", "parse", "2001:DB8::1"]), (0, "2001:db8::1\n", ""))
rc, out, err = run(["net", "parse", "010.0.0.1"])
expect("parse error status", (rc, out), (2, ""))
expect("parse error text", err, "uepool: error: leading zero in IPv4 octet at offset 0\n")
rc, out, err = run(["net", "nth", "10.0.0.0/24", "32", "256"])
expect("nth beyond", (rc, err), (2, "uepool: error: index beyond the last unit of the prefix (units: 256)\n"))
rc, out, err = run(["net", "nth", "10.0.0.0/24", "32", "18446744073709551616"])
expect("nth 2^64", (rc, err), (2, "uepool: error: index above 2^64-1\n"))
rc, out, err = run(["net", "nth", "10.0.0.0/8", "032", "1"])
expect("unit length leading zero", (rc, err), (2, "uepool: error: leading zero in unit length\n"))
expect("no subcommand", run(["net"])[0], 2)
expect("unknown subcommand", run(["bogus"])[0], 2)

lines = "10.0.0.1\n\n 10.0.0.1\n10.0.0.1 \n::ffff:a00:1\n1.2.3.4 5\n"
rc, out, err = run(["net", "parse", "-"], lines)
expect("stdin status", rc, 0)
expect("stdin lines", out.split("\n")[:-1], [
    "10.0.0.1",
    "error: empty operand (empty line or stray space)",
    "error: empty operand (empty line or stray space)",
    "error: empty operand (empty line or stray space)",
    "::ffff:10.0.0.1",
    "error: expected one operand: TEXT",
])
rc, out, err = run(["net", "nth", "-"], "10.0.0.0/8 32 257\n10.0.0.0/8  32 1\n10.0.0.0/8 32\n")
expect("stdin nth", out.split("\n")[:-1], [
    "10.0.1.1/32",
    "error: empty operand (empty line or stray space)",
    "error: expected three operands: POOL UNITLEN INDEX",
])
rc, out, err = run(["net", "parse", "-"], "10.0.0.1")  # no final newline: still one line
expect("stdin no newline", (rc, out), (0, "10.0.0.1\n"))

for f in failures:
    print("FAIL", f)
print(f"cli_test: {len(failures)} failures")
sys.exit(1 if failures else 0)
