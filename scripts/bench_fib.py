#!/usr/bin/env python3
"""FIB benchmarks: bulk route add rate, and ip4 lookup rate at 10 vs 1,000,000 routes.

1. `ip route add 1.0.0.0/32 count N`: Mtrie16_8_8.add_many alone, then FibTable.add_many
   (entries + trie), and single `add` calls for comparison.
2. Lookups of 256-address frames (VLIB_FRAME_SIZE) in a trie of 10 /32s vs 1M /32s, each
   destination hitting a route so every lookup walks all three levels; printed side by side
   with their ratio (the mtrie's cost should not depend on the route count).

Usage: .venv/bin/python scripts/bench_fib.py [--quick]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from vppsh.vnet.fib.mtrie import Mtrie16_8_8
from vppsh.vnet.fib.table import FibTable
from vppsh.wire.format import format_memory_size

BASE = 0x01000000  # 1.0.0.0


def build(n: int) -> tuple[Mtrie16_8_8, float]:
    m = Mtrie16_8_8()
    addrs = np.arange(BASE, BASE + n, dtype=np.uint32)
    t0 = time.perf_counter()
    m.add_many(addrs, 32, np.arange(n, dtype=np.uint32) + 1)
    return m, time.perf_counter() - t0


def lookup_rate(m: Mtrie16_8_8, n_routes: int, seconds: float) -> float:
    rng = np.random.default_rng(1)
    frames = (BASE + rng.integers(0, n_routes, (1024, 256))).astype(np.uint32)
    want = frames - BASE + 1
    for f, w in zip(frames[:8], want[:8]):
        assert (m.lookup(f) == w).all()
    done, t0 = 0, time.perf_counter()
    while True:
        for f in frames:
            m.lookup(f)
        done += len(frames)
        dt = time.perf_counter() - t0
        if dt >= seconds:
            return done * 256 / dt


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="100k routes, shorter timing")
    args = ap.parse_args()
    n = 100_000 if args.quick else 1_000_000
    secs = 0.5 if args.quick else 2.0

    big, dt = build(n)
    print(f"mtrie add_many {n:,} /32s: {dt:.3f} s ({n / dt:.3e} routes/sec), "
          f"{big.n_plies} plies, memory {format_memory_size(big.memory())}")

    t = FibTable.default(0)
    t0 = time.perf_counter()
    t.add_many(np.arange(BASE, BASE + n, dtype=np.uint32), 32, "CLI", np.arange(n) + 1)
    dt = time.perf_counter() - t0
    print(f"FibTable add_many {n:,} /32s (entries + trie): {dt:.3f} s ({n / dt:.3e} routes/sec)")

    m, k = Mtrie16_8_8(), 20_000
    t0 = time.perf_counter()
    for i in range(k):
        m.add(BASE + i, 32, i + 1)
    dt = time.perf_counter() - t0
    print(f"mtrie add one at a time, {k:,} /32s: {dt:.3f} s ({k / dt:.3e} routes/sec)")

    small, _ = build(10)
    r_small = lookup_rate(small, 10, secs)
    r_big = lookup_rate(big, n, secs)
    print(f"lookup, 256-address frames: {r_small:.3e}/s at 10 routes, {r_big:.3e}/s at "
          f"{n:,} routes; ratio 10:{n:,} = {r_small / r_big:.2f}")


if __name__ == "__main__":
    main()
