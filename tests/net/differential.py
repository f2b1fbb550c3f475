#!/usr/bin/env python3
"""Differential test of `uepool net parse|nth|index -` against Python's ipaddress.

Python's ipaddress is an implementation nobody here wrote. This script builds
N random and edge-case inputs per operation (both families, every prefix
length, the compression rules of RFC 5952, malformed text), computes what
Python says, feeds all of them through one `uepool net <op> -` process each,
and compares line by line. On a mismatch it prints the seed, the input, both
answers, and exits 1.

Where uepool deliberately differs from Python 3.11, the expectation is
written here, not skipped:
  * IPv4-mapped addresses (::ffff:0:0/96): Python 3.11 prints them in hex
    ("::ffff:a00:1"); RFC 5952 section 5 asks for the mixed form
    ("::ffff:10.0.0.1"), which uepool prints. The expected text is rebuilt
    from Python's value in the RFC form.
  * Zone ids ("fe80::1%eth0"): Python 3.9+ accepts them; a pool address has
    no scope, so uepool refuses them. Expected: error.
  * A prefix length in netmask form ("10.0.0.0/255.0.0.0") or with a leading
    zero ("10.0.0.0/08"): Python accepts them; uepool takes only plain
    decimal lengths. Expected: error.
"""
import argparse
import ipaddress
import random
import subprocess
import sys

MAPPED = ipaddress.ip_network("::ffff:0:0/96")


def rfc_address(addr):
    if addr.version == 6 and addr in MAPPED:
        return "::ffff:" + str(ipaddress.IPv4Address(int(addr) & 0xFFFFFFFF))
    return str(addr)


def rfc_network(net):
    return rfc_address(net.network_address) + "/" + str(net.prefixlen)


def make_net(family, value, length):
    cls = ipaddress.IPv4Network if family == 4 else ipaddress.IPv6Network
    return cls((value, length))


def expect_parse(text):
    if "%" in text:
        return None
    try:
        if "/" not in text:
            return rfc_address(ipaddress.ip_address(text))
        length = text.split("/", 1)[1]
        if not (length.isascii() and length.isdigit()) or (len(length) > 1 and length[0] == "0"):
            return None
        return rfc_network(ipaddress.ip_network(text, strict=True))
    except ValueError:
        return None


# ---- generators -------------------------------------------------------------

def v6_groups(rng):
    """Eight groups with runs of zeros, so that every compression rule is hit."""
    style = rng.randrange(4)
    groups = []
    for _ in range(8):
        r = rng.random()
        if style == 0:
            groups.append(rng.randrange(65536))
        elif r < 0.5:
            groups.append(0)
        elif r < 0.7:
            groups.append(rng.randrange(16))
        else:
            groups.append(rng.randrange(65536))
    if rng.random() < 0.1:
        groups[:6] = [0, 0, 0, 0, 0, 0xFFFF]  # IPv4-mapped
    return groups


def v6_text(rng, value):
    """Some valid, non-canonical spelling of a 128-bit value."""
    groups = [(value >> (16 * (7 - i))) & 0xFFFF for i in range(8)]
    parts = []
    for g in groups:
        s = format(g, "x")
        if rng.random() < 0.2:
            s = s.zfill(rng.randrange(len(s), 5))
        if rng.random() < 0.3:
            s = s.upper()
        parts.append(s)
    tail = None
    if rng.random() < 0.15:
        tail = str(ipaddress.IPv4Address(value & 0xFFFFFFFF))
        parts = parts[:6]
    # Compress some run of zero groups (not always the longest one).
    runs = []
    i = 0
    while i < len(parts):
        if groups[i] == 0:
            j = i
            while j < len(parts) and groups[j] == 0:
                j += 1
            runs.append((i, j))
            i = j
        else:
            i += 1
    if runs and rng.random() < 0.8:
        a, b = rng.choice(runs)
        a = rng.randrange(a, b)
        b = rng.randrange(a + 1, b + 1)
        left = ":".join(parts[:a])
        right = ":".join(parts[b:] + ([tail] if tail else []))
        return left + "::" + right
    return ":".join(parts + ([tail] if tail else []))


def random_v4(rng):
    r = rng.random()
    if r < 0.1:
        return rng.choice([0, 0xFFFFFFFF, 0x7F000001, 0x0A000000])
    return rng.getrandbits(32)


def random_v6(rng):
    groups = v6_groups(rng)
    v = 0
    for g in groups:
        v = (v << 16) | g
    return v


def mutate(rng, text):
    ops = [
        lambda t: t + rng.choice([":", ".", "::", ":0", "/", "x", "g", "%eth0", "/1", "."]),
        lambda t: rng.choice([":", ".", "::", "0", "00", "g"]) + t,
        lambda t: t.replace(":", ":::", 1),
        lambda t: t.replace("::", ":", 1),
        lambda t: t.replace(".", "..", 1),
        lambda t: t.replace(".", ".0", 1),
        lambda t: t.replace(".", ".256", 1),
        lambda t: t[: rng.randrange(len(t) + 1)],
        lambda t: t[rng.randrange(len(t) + 1):],
        lambda t: t + ":" + format(rng.randrange(65536), "x"),
        lambda t: t.replace(":", ":12345", 1),
        lambda t: t.replace("/", "//", 1),
        lambda t: t.replace("/", "/0", 1),
        lambda t: "".join(c for c in t if rng.random() > 0.1),
    ]
    return rng.choice(ops)(text)


def random_junk(rng):
    alphabet = "0123456789abcdefABCDEFg:./%"
    return "".join(rng.choice(alphabet) for _ in range(rng.randrange(1, 24)))


def random_prefix(rng, family=None):
    family = family or rng.choice([4, 6])
    width = 32 if family == 4 else 128
    length = rng.randrange(width + 1)
    value = random_v4(rng) if family == 4 else random_v6(rng)
    value &= ((1 << width) - 1) ^ ((1 << (width - length)) - 1)
    return family, value, length


def text_of(rng, family, value):
    return str(ipaddress.IPv4Address(value)) if family == 4 else v6_text(rng, value)


def gen_parse(rng, n):
    out = []
    while len(out) < n:
        r = rng.random()
        if r < 0.25:
            t = str(ipaddress.IPv4Address(random_v4(rng)))
        elif r < 0.5:
            t = v6_text(rng, random_v6(rng))
        elif r < 0.7:
            fam, value, length = random_prefix(rng)
            if rng.random() < 0.2:  # host bits set
                value |= rng.getrandbits(32 if fam == 4 else 128) & ((1 << ((32 if fam == 4 else 128) - length)) - 1)
            t = text_of(rng, fam, value) + "/" + str(length if rng.random() > 0.02 else length + 200)
        elif r < 0.92:
            base = rng.choice([str(ipaddress.IPv4Address(random_v4(rng))), v6_text(rng, random_v6(rng))])
            if rng.random() < 0.3:
                base += "/" + str(rng.randrange(129))
            t = mutate(rng, base)
        else:
            t = random_junk(rng)
        if t and " " not in t:
            out.append(t)
    return out, [expect_parse(t) for t in out]


def gen_nth(rng, n):
    cases, expected = [], []
    for _ in range(n):
        fam, value, length = random_prefix(rng)
        width = 32 if fam == 4 else 128
        r = rng.random()
        unit = rng.randrange(length, width + 1) if r < 0.95 else rng.choice([length - 1, width + 1, 200])
        bits = unit - length
        count = 1 << bits if 0 <= bits else 0
        r = rng.random()
        if r < 0.6:
            index = rng.randrange(min(count, 1 << 64)) if count else 0
        elif r < 0.8:
            index = min(count, 1 << 64) - 1 if count else 0
        elif r < 0.9:
            index = count  # one past the end
        else:
            index = rng.choice([0, (1 << 64) - 1, 1 << 64, 1 << 70])
        pool = text_of(rng, fam, value) + "/" + str(length)
        cases.append(f"{pool} {unit} {index}")
        if unit < 0 or unit < length or unit > width or index >= count or index >= 1 << 64:
            expected.append(None)
        else:
            addr = value | (index << (width - unit))
            expected.append(rfc_network(make_net(fam, addr, unit)))
    return cases, expected


def gen_index(rng, n):
    cases, expected = [], []
    for _ in range(n):
        fam, value, length = random_prefix(rng)
        width = 32 if fam == 4 else 128
        unit = rng.randrange(length, width + 1)
        bits = unit - length
        r = rng.random()
        sub_family, sub_unit = fam, unit
        if r < 0.75:
            index = rng.getrandbits(bits) if bits else 0
            if rng.random() < 0.1 and bits > 64:
                index = rng.choice([(1 << 64) - 1, 1 << 64])
            sub = value | (index << (width - unit))
        elif r < 0.85:  # outside the pool (may land inside by chance)
            sub = rng.getrandbits(width) & (((1 << width) - 1) ^ ((1 << (width - unit)) - 1))
        elif r < 0.92:  # wrong unit length
            sub_unit = rng.randrange(width + 1)
            sub = value & (((1 << width) - 1) ^ ((1 << (width - sub_unit)) - 1))
        else:  # other family
            sub_family = 10 - fam
            sub_width = 32 if sub_family == 4 else 128
            sub_unit = rng.randrange(sub_width + 1)
            sub = 0
        pool = text_of(rng, fam, value) + "/" + str(length)
        cases.append(f"{pool} {unit} {text_of(rng, sub_family, sub)}/{sub_unit}")
        if sub_family != fam or sub_unit != unit:
            expected.append(None)
            continue
        net = make_net(fam, value, length)
        subnet = make_net(sub_family, sub, sub_unit)
        if not subnet.subnet_of(net):
            expected.append(None)
            continue
        index = (sub - value) >> (width - unit)
        expected.append(None if index >= 1 << 64 else str(index))
    return cases, expected


def run(binary, op, cases):
    data = "".join(c + "\n" for c in cases)
    proc = subprocess.run([binary, "net", op, "-"], input=data, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        sys.exit(f"uepool net {op} - exited {proc.returncode}: {proc.stderr}")
    return proc.stdout.split("\n")[:-1]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--uepool", required=True)
    ap.add_argument("--cases", type=int, default=40000, help="cases per operation")
    ap.add_argument("--seed", type=int, default=None)
    args = ap.parse_args()
    seed = args.seed if args.seed is not None else random.randrange(1 << 32)
    rng = random.Random(seed)
    print(f"differential: seed {seed}, {args.cases} cases per operation (replay with --seed {seed})")
    failures = 0
    total = 0
    for op, gen in (("parse", gen_parse), ("nth", gen_nth), ("index", gen_index)):
        cases, expected = gen(rng, args.cases)
        got = run(args.uepool, op, cases)
        if len(got) != len(cases):
            sys.exit(f"{op}: {len(cases)} lines in, {len(got)} lines out")
        errors = 0
        for case, want, have in zip(cases, expected, got):
            ok = have.startswith("error: ") if want is None else have == want
            errors += want is None
            if not ok:
                failures += 1
                if failures <= 20:
                    print(f"MISMATCH {op} {case!r}: python {want!r}, uepool {have!r}")
        total += len(cases)
        print(f"  {op}: {len(cases)} cases, {errors} expected errors")
    print(f"differential: {total} cases, {failures} mismatches (seed {seed})")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
