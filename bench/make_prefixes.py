#!/usr/bin/env python3
"""Synthetic Internet routing tables for bench/bench_lpm.cc.

    make_prefixes.py --v4 1000000 --v6 200000 --seed 1 --out /tmp/prefixes.txt

One prefix per line ("10.1.0.0/16", "2001:db8::/32"), distinct, host bits clear, IPv4 first.
The same seed gives the same file. A real table (a RIB dump) is the better input when one is
at hand; this one exists so that benchmarks are reproducible without one.

What it imitates, roughly after the 2024 global BGP table (bgp.potaroo.net):
- IPv4: ~60% /24, most of the rest /16-/23, a few /8-/15, nothing longer than /24 (filtered
  in the default-free zone). Prefixes of /16 and longer sit in ~45 active /16s per 1000
  prefixes (~45k of the 56k unicast /16s for a full table); shorter ones anywhere in unicast
  space. Clustering matters: it decides how many trie nodes a table needs.
- IPv6: mostly /48, then /32, /44, /40, /29, /36. Every prefix lies in or aggregates one of
  ~n/5 /32 allocations drawn from the RIRs' blocks (2001::/16, 2400::/12, 2600::/12,
  2800::/12, 2a00::/12, 2c00::/12), so /48s nest under /32s as they do in reality.

bench_lpm.cc generates the same distributions in-process when VCDN_PREFIXES is unset; keep
the two in step.
"""
import argparse
import random
import socket
import sys

# Prefix length -> relative weight.
V4_LENGTHS = {
    8: 2, 9: 1, 10: 3, 11: 8, 12: 25, 13: 50, 14: 100, 15: 150,
    16: 1350, 17: 800, 18: 1450, 19: 2600, 20: 4200, 21: 5000,
    22: 11000, 23: 9800, 24: 60000,
}
V6_LENGTHS = {
    19: 1, 20: 1, 22: 1, 24: 1, 28: 1, 29: 30, 30: 5, 31: 3, 32: 140,
    33: 8, 34: 8, 35: 5, 36: 30, 37: 5, 38: 8, 39: 5, 40: 60, 41: 5,
    42: 15, 43: 5, 44: 70, 45: 10, 46: 25, 47: 30, 48: 500, 56: 3, 64: 3, 128: 1,
}
# First octets of routed IPv4 unicast space: not 0, 10 (private), 127 (loopback), 224+.
V4_FIRST_OCTETS = [o for o in range(1, 224) if o not in (10, 127)]
# RIR blocks as (value, length) and their share of allocations.
V6_BLOCKS = [((0x2001 << 112), 16, 10), ((0x240 << 116), 12, 25), ((0x260 << 116), 12, 25),
             ((0x280 << 116), 12, 10), ((0x2a0 << 116), 12, 25), ((0x2c0 << 116), 12, 5)]
# Draws of a length whose space is used up before giving up on that length for this prefix.
MAX_TRIES = 64


def mask(value, length, width):
    return value & (((1 << length) - 1) << (width - length)) if length else 0


def distinct_prefixes(rng, n, lengths, draw, width):
    """n distinct (value, length) pairs; draw(length) proposes one address for a length."""
    seen = set()
    out = []
    choices = list(lengths)
    weights = [lengths[k] for k in choices]
    planned = rng.choices(choices, weights, k=n)
    i = 0
    while len(out) < n:
        length = planned[i] if i < n else rng.choices(choices, weights)[0]
        i += 1
        for _ in range(MAX_TRIES):
            key = (mask(draw(length), length, width), length)
            if key not in seen:
                seen.add(key)
                out.append(key)
                break
        if i > 20 * n + 1000:
            sys.exit(f"cannot find {n} distinct prefixes of width {width}; ask for fewer")
    return out


def ipv4_prefixes(rng, n):
    active = min(len(V4_FIRST_OCTETS) * 256, max(16, n * 45 // 1000))
    slash16s = rng.sample([o << 8 | b for o in V4_FIRST_OCTETS for b in range(256)], active)

    def draw(length):
        if length >= 16:
            return rng.choice(slash16s) << 16 | rng.getrandbits(16)
        return rng.choice(V4_FIRST_OCTETS) << 24 | rng.getrandbits(24)

    return distinct_prefixes(rng, n, V4_LENGTHS, draw, 32)


def ipv6_prefixes(rng, n):
    allocations = []
    blocks = [(v, l) for v, l, _ in V6_BLOCKS]
    shares = [s for _, _, s in V6_BLOCKS]
    for _ in range(max(1, n // 5)):
        value, length = rng.choices(blocks, shares)[0]
        allocations.append(value | rng.getrandbits(32 - length) << 96)

    def draw(length):
        alloc = rng.choice(allocations)
        return alloc | rng.getrandbits(96) if length > 32 else alloc

    return distinct_prefixes(rng, n, V6_LENGTHS, draw, 128)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--v4", type=int, default=1000000, help="IPv4 prefixes (default 1000000)")
    ap.add_argument("--v6", type=int, default=200000, help="IPv6 prefixes (default 200000)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", default="-", help="output file, - for stdout")
    args = ap.parse_args()
    if args.v4 < 0 or args.v6 < 0:
        ap.error("counts must be >= 0")

    rng = random.Random(args.seed)
    lines = []
    for value, length in ipv4_prefixes(rng, args.v4):
        lines.append(f"{socket.inet_ntop(socket.AF_INET, value.to_bytes(4, 'big'))}/{length}\n")
    for value, length in ipv6_prefixes(rng, args.v6):
        lines.append(f"{socket.inet_ntop(socket.AF_INET6, value.to_bytes(16, 'big'))}/{length}\n")
    out = sys.stdout if args.out == "-" else open(args.out, "w")
    with out:
        out.writelines(lines)


if __name__ == "__main__":
    main()
