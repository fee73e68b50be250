#!/usr/bin/env python3
"""FIB benchmarks: bulk route adds and lookup rates, IPv4 and IPv6 side by side in one run.

1. `ip route add 1.0.0.0/32 count N` (1,000,000): Mtrie16_8_8.add_many alone, then
   FibTable.add_many (entries + trie), and single `add` calls for comparison.
2. 200,000 prefixes per family, in two shapes: a `count` range (IPv4 /24s from 1.0.0.0, IPv6
   /48s from 2001:db8::) and a table resembling the Internet's (holders' /16 or /32 blocks in
   the registries' ranges, more-specifics below them down to /24 or /48, lengths weighted as in
   today's tables, numbered from the start of the holder's block as deaggregation is), added
   length by length. Times for the trie alone and for FibTable, and IPv6/IPv4.
3. Lookups of 256-address frames (VLIB_FRAME_SIZE), every destination inside a route (random
   host bits) so each walks as deep as its prefix: 10 routes of the longest length against the
   full table for each family and shape (the trie's cost should not depend on the route count),
   and IPv6/IPv4.
   Each rate is the best of passes taken in turn with the others it is compared to: the
   machine is shared and its speed moves within seconds.

Usage: .venv/bin/python scripts/bench_fib.py [--quick]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from tabulate import tabulate

from vppsh.vnet.fib.mtrie import Ip6Mtrie, Mtrie16_8_8, ip6_ints
from vppsh.vnet.fib.table import FibTable
from vppsh.wire.format import format_memory_size

BASE = 0x01000000  # 1.0.0.0
U = np.uint64
TRIE = {32: Mtrie16_8_8, 128: Ip6Mtrie}
# Prefixes are made in a 64-bit "top" domain: the address for IPv4, its top 64 bits for IPv6
# (every prefix here is /64 or shorter).
TOP = {32: 32, 128: 64}
COUNT = {32: (BASE, 24), 128: (0x20010DB8 << 32, 48)}  # the count range's first prefix
# family: (registry blocks as (top-domain value, length), holder length, {length: weight})
REAL = {
    32: ([(b << 24, 8) for b in range(1, 224) if b not in (10, 127)], 16,
         {16: 2, 17: 1, 18: 2, 19: 3, 20: 5, 21: 5, 22: 12, 23: 10, 24: 60}),
    128: ([(0x2001 << 48, 16)] + [(b << 52, 12) for b in (0x240, 0x260, 0x280, 0x2A0, 0x2C0)], 32,
          {32: 14, 33: 1, 34: 1, 35: 1, 36: 4, 37: 1, 38: 1, 39: 1, 40: 7, 41: 1, 42: 2, 43: 1,
           44: 9, 45: 2, 46: 4, 47: 3, 48: 47}),
}


def vector(bits: int, top: np.ndarray) -> np.ndarray:
    """Top-domain values to the family's vector form: uint32, or (n, 16) uint8 rows."""
    if bits == 32:
        return top.astype(np.uint32)
    rows = np.zeros((len(top), 16), np.uint8)
    rows[:, :8] = top.astype(">u8").view(np.uint8).reshape(-1, 8)
    return rows


def count_range(bits: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    first, plen = COUNT[bits]
    return U(first) + (np.arange(n, dtype=U) << U(TOP[bits] - plen)), np.full(n, plen)


def real_table(bits: int, n: int, rng) -> tuple[np.ndarray, np.ndarray]:
    """n distinct prefixes (top-domain values, lengths) shaped like an Internet table."""
    w = TOP[bits]
    blocks, hlen, weights = REAL[bits]
    bval = np.array([b for b, _ in blocks], U)
    blen = np.array([ln for _, ln in blocks])
    nh = n // 6
    i = rng.integers(0, len(blocks), nh)
    holders = bval[i] | (rng.integers(0, 1 << (hlen - blen[i])).astype(U) << U(w - hlen))
    m = n * 3 // 2
    lens = rng.choice(np.array(list(weights)), m,
                      p=np.array(list(weights.values())) / sum(weights.values()))
    h = holders[(nh * rng.random(m) ** 2).astype(np.int64)]  # a few holders announce many
    sub = rng.integers(0, 1 << rng.integers(0, lens - hlen + 1)).astype(U)  # from the start
    val = h | (sub << (w - lens).astype(U))
    _, first = np.unique(np.stack([val, lens.astype(U)], 1), axis=0, return_index=True)
    keep = rng.permutation(first)[:n]
    return val[keep], lens[keep]


def frames(bits: int, top: np.ndarray, lens: np.ndarray, rng, k: int = 256) -> list:
    """k frames of 256 destinations, each inside a random one of the prefixes (or inside a
    more specific one within it)."""
    w = TOP[bits]
    j = rng.integers(0, len(top), (k, 256)).ravel()
    host = (U(1) << (w - lens[j]).astype(U)) - U(1)
    d = top[j] | (rng.integers(0, 1 << 62, len(j)).astype(U) & host)
    v = vector(bits, d)
    if bits == 128:
        v[:, 8:] = rng.integers(0, 256, (len(v), 8), dtype=np.uint8)  # below /64: host bits
    return [v[i * 256:(i + 1) * 256] for i in range(k)]


def add_by_length(target, bits: int, top: np.ndarray, lens: np.ndarray, table: bool) -> float:
    """Add every prefix, one bulk call per length, shortest first; the DPO of prefix i is i + 1."""
    vec = vector(bits, top)
    t0 = time.perf_counter()
    for plen in np.unique(lens).tolist():
        sel = np.flatnonzero(lens == plen)
        if table:
            target.add_many(vec[sel], plen, "CLI", sel + 1)
        else:
            target.add_many(vec[sel], plen, sel + 1)
    return time.perf_counter() - t0


def best_rates(cases: list, seconds: float) -> list[float]:
    """Addresses/s of each (trie, frames) case: the best of passes taken in turn."""
    best = [float("inf")] * len(cases)
    end = time.perf_counter() + seconds * len(cases)
    while time.perf_counter() < end:
        for i, (m, fr) in enumerate(cases):
            t0 = time.perf_counter()
            for f in fr:
                m.lookup(f)
            best[i] = min(best[i], time.perf_counter() - t0)
    return [len(fr) * 256 / b for b, (_, fr) in zip(best, cases)]


def ipv4_million(n: int, secs: float) -> None:
    """Part 1: the 16-8-8 trie at a million /32s."""
    addrs = np.arange(BASE, BASE + n, dtype=np.uint32)
    big = Mtrie16_8_8()
    t0 = time.perf_counter()
    big.add_many(addrs, 32, np.arange(n, dtype=np.uint32) + 1)
    dt = time.perf_counter() - t0
    print(f"mtrie add_many {n:,} /32s: {dt:.3f} s ({n / dt:.3e} routes/sec), "
          f"{big.n_plies} plies, memory {format_memory_size(big.memory())}")
    t = FibTable.default(0)
    t0 = time.perf_counter()
    t.add_many(addrs, 32, "CLI", np.arange(n) + 1)
    dt = time.perf_counter() - t0
    print(f"FibTable add_many {n:,} /32s (entries + trie): {dt:.3f} s ({n / dt:.3e} routes/sec)")
    m, k = Mtrie16_8_8(), 20_000
    t0 = time.perf_counter()
    for i in range(k):
        m.add(BASE + i, 32, i + 1)
    dt = time.perf_counter() - t0
    print(f"mtrie add one at a time, {k:,} /32s: {dt:.3f} s ({k / dt:.3e} routes/sec)")
    small = Mtrie16_8_8()
    small.add_many(addrs[:10], 32, np.arange(10) + 1)
    rng = np.random.default_rng(1)
    cases = [(m, [BASE + rng.integers(0, nr, 256).astype(np.uint32) for _ in range(256)])
             for m, nr in ((small, 10), (big, n))]
    for m, fr in cases:
        assert (m.lookup(fr[0]) == fr[0] - BASE + 1).all()
    r_small, r_big = best_rates(cases, secs)
    print(f"lookup, 256-address frames: {r_small:.3e}/s at 10 routes, {r_big:.3e}/s at "
          f"{n:,} routes; ratio 10:{n:,} = {r_small / r_big:.2f}")


def add_times(made: dict, reps: int) -> tuple[dict, dict, dict]:
    """Best-of-reps seconds to add each family's prefixes to a fresh trie and to a fresh
    FibTable, the families in turn; and the last tables built."""
    t_trie, t_table, tables = {}, {}, {}
    for _ in range(reps):
        for bits, (top, lens) in made.items():
            tables.pop(bits, None)  # (a real-like IPv6 trie is ~170 MB: one at a time)
            dt = add_by_length(TRIE[bits](), bits, top, lens, table=False)
            t_trie[bits] = min(dt, t_trie.get(bits, dt))
            tables[bits] = FibTable.default(0, bits=bits)
            dt = add_by_length(tables[bits], bits, top, lens, table=True)
            t_table[bits] = min(dt, t_table.get(bits, dt))
    return t_trie, t_table, tables


def lookup_rates(made: dict, tables: dict, rng, secs: float, longest: bool) -> dict:
    """Per family: rates at 10 of the longest prefixes, at all of them, and (`longest`) at all
    of them with destinations only in the longest prefixes: walks as deep as the 10 routes',
    so the difference is the table's size alone; the whole table adds the cost of frames whose
    destinations stop at different depths."""
    cases = []
    for bits, (top, lens) in made.items():
        pick = rng.choice(np.flatnonzero(lens == lens.max()), 10, replace=False)
        small = FibTable.default(0, bits=bits)
        add_by_length(small, bits, top[pick], lens[pick], table=True)
        sets = [(small, top[pick], lens[pick]), (tables[bits], top, lens)]
        if longest:
            deep = lens == lens.max()
            sets.append((tables[bits], top[deep], lens[deep]))
        for t, p_top, p_lens in sets:
            fr = frames(bits, p_top, p_lens, rng)
            dst = fr[0].tolist() if bits == 32 else ip6_ints(fr[0])
            want = [t.longest_match(a).dpo for a in dst]  # the control plane's own answer
            assert t.lookup(fr[0]).tolist() == want and min(want) > 0
            cases.append((t.forwarding, fr))
    rates = best_rates(cases, secs)
    k = len(rates) // 2
    return {32: rates[:k], 128: rates[k:]}


def both_families(n: int, secs: float, reps: int) -> None:
    """Parts 2 and 3: IPv4 against IPv6 at n prefixes, a count range and a real-like table."""
    rng = np.random.default_rng(7)
    add_rows, look_rows = [], []
    for shape in ("count range", "real-like table"):
        made = {bits: count_range(bits, n) if shape == "count range" else real_table(bits, n, rng)
                for bits in (32, 128)}
        lens = {b: f"/{made[b][1].min()}" + (f"-/{made[b][1].max()}" if shape != "count range" else "")
                for b in made}
        t_trie, t_table, tables = add_times(made, reps)
        for what, t in (("trie add_many", t_trie), ("FibTable add_many", t_table)):
            add_rows.append([f"{shape}: {what}", f"{t[32]:.3f} s ({lens[32]})",
                             f"{t[128]:.3f} s ({lens[128]})", f"{t[128] / t[32]:.2f}"])
        add_rows.append([f"{shape}: trie size"] + [
            f"{tables[b].forwarding.n_plies:,} plies, {format_memory_size(tables[b].forwarding.memory())}"
            for b in (32, 128)] + [""])
        r = lookup_rates(made, tables, rng, secs, longest=shape != "count range")
        (r4s, r4b, *r4d), (r6s, r6b, *r6d) = r[32], r[128]
        look_rows.append([shape, f"{r4s:.3e}", f"{r4b:.3e}", f"{r4s / r4b:.2f}", f"{r6s:.3e}",
                          f"{r6b:.3e}", f"{r6s / r6b:.2f}", f"{r6b / r4b:.2f}"])
        if r4d:
            look_rows.append([f"{shape}, into its {lens[32][-3:]} | {lens[128][-3:]} only", "",
                              f"{r4d[0]:.3e}", f"{r4s / r4d[0]:.2f}", "", f"{r6d[0]:.3e}",
                              f"{r6s / r6d[0]:.2f}", f"{r6d[0] / r4d[0]:.2f}"])
        del tables
    print(f"\nadding {n:,} prefixes, one bulk call per length (shortest first), best of {reps}")
    print(tabulate(add_rows, headers=["", "IPv4", "IPv6", "IPv6/IPv4 time"]))
    print(f"\nlookup rate, addresses/s in 256-address frames, 10 routes vs {n:,}")
    print(tabulate(look_rows, headers=["", "IPv4 10", f"IPv4 {n:,}", "10:all", "IPv6 10",
                                       f"IPv6 {n:,}", "10:all", "IPv6/IPv4 (all)"]))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true",
                    help="100k /32s, 50k prefixes, shorter timing")
    args = ap.parse_args()
    secs = 0.5 if args.quick else 2.0
    ipv4_million(100_000 if args.quick else 1_000_000, secs)
    both_families(50_000 if args.quick else 200_000, secs, 2 if args.quick else 3)


if __name__ == "__main__":
    main()
