#!/usr/bin/env python3
"""Foundation benchmarks, each beside its reference in the same run (issue: vppsh foundation).

1. `vppsh -f` of a 10-line script, start to exit (median of N runs), beside `python3 -c pass`
   and `python3 -c "import numpy"` (the floor any Python shell pays).
2. TAB completion with 1,000 interfaces, through the engine thread as the REPL does it.
3. pg -> null-node at full frames (packets/s), beside a straightforward per-packet Python loop
   doing the same bookkeeping (buffer alloc, copy, metadata, counters, enqueue, count, free).

Usage: .venv/bin/python scripts/bench_foundation.py [--quick]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time


SCRIPT = """create loopback interface
create loopback interface
set interface state loop0 up
show interface
show hardware-interfaces brief
show version
show runtime
show errors
show buffers
echo done
"""


def median_run(cmd: list[str], n: int) -> float:
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def bench_startup(n: int) -> None:
    with tempfile.NamedTemporaryFile("w", suffix=".cli", delete=False) as f:
        f.write(SCRIPT)
    try:
        py = sys.executable
        vpp = median_run([py, "-m", "vppsh", "-f", f.name], n)
        bare = median_run([py, "-c", "pass"], n)
        npy = median_run([py, "-c", "import numpy"], n)
    finally:
        os.unlink(f.name)
    print(f"startup: vppsh -f (10 lines) median {vpp * 1000:.0f} ms  (goal <= 500 ms)"
          f" | python -c pass {bare * 1000:.0f} ms | python -c 'import numpy' {npy * 1000:.0f} ms"
          f" | ratio vppsh/import-numpy {vpp / npy:.1f}x")


def bench_completion(n_if: int, n: int) -> None:
    from vppsh.cli.complete import complete
    from vppsh.engine import Engine

    out: list[str] = []
    e = Engine(write=out.append)
    try:
        for _ in range(n_if):
            e.run("create loopback interface")
        ctx = e.session.ctx
        cases = ["show interface loop5", "show interface ", "set interface state loop99", "sh hard lo"]
        for text in cases:
            times = []
            for _ in range(n):
                t0 = time.perf_counter()
                cands = e.call(lambda: complete(e.tree, ctx, text))
                times.append(time.perf_counter() - t0)
            print(f"completion: {n_if} interfaces, '{text}' -> {len(cands)} candidates, "
                  f"median {statistics.median(times) * 1000:.2f} ms (goal <= 20 ms)")
    finally:
        e.stop()


def bench_pg(n_pkts: int) -> None:
    from vppsh.engine import make_vm
    from vppsh.vnet.pg.spec import parse_stream

    vm = make_vm()
    vm.pg.create_interface(0, None)
    spec = parse_stream(f"name b limit {n_pkts} size 64-64 interface pg0 node null-node "
                        "data { IP4: 1.2.3 -> 4.5.6 UDP: 192.168.1.10 - 192.168.1.254 -> 192.168.2.10 "
                        "UDP: 1234 -> 2345 incrementing 22 }")
    stream = vm.pg.add(spec)
    vm.pg.set_enabled("b", True)
    t0 = time.perf_counter()
    while stream.enabled:
        vm.run_once(0)
    dt = time.perf_counter() - t0
    assert vm.errors.value("null-node", "blackholed packets") == n_pkts
    engine_pps = n_pkts / dt

    # The reference: the same graph written the straightforward way, one packet at a time
    # through node objects (generate, enqueue, count, free), same buffers and counters.
    rows, lengths = spec.data.generate(0, 245, spec.sizes(0, 245))
    ref = PerPacketEngine([bytes(r[: int(l)]) for r, l in zip(rows, lengths)])
    m = n_pkts // 4
    t0 = time.perf_counter()
    ref.run(m)
    loop_pps = m / (time.perf_counter() - t0)
    assert ref.null.blackholed == m
    print(f"pg -> null-node, 64-byte packets: engine {engine_pps / 1e6:.2f} Mpps | per-packet Python "
          f"{loop_pps / 1e6:.2f} Mpps | ratio {engine_pps / loop_pps:.1f}x")


class PerPacketEngine:
    """pg-input -> null-node, per packet: what a non-vectorised Python stack would do."""

    class Pool:
        def __init__(self, n=16384, size=2048):
            self.data = bytearray(n * size)
            self.size = size
            self.free = list(range(n))
            self.length = [0] * n
            self.rx = [0] * n

    class NullNode:
        def __init__(self, pool):
            self.pool, self.blackholed = pool, 0

        def process(self, b):
            self.blackholed += 1
            self.pool.free.append(b)

    def __init__(self, packets):
        self.pool = self.Pool()
        self.packets = packets
        self.null = self.NullNode(self.pool)
        self.rx_packets = self.rx_bytes = 0

    def pg_input(self, seq):
        pool = self.pool
        b = pool.free.pop()
        p = self.packets[seq % len(self.packets)]
        off = b * pool.size
        pool.data[off:off + len(p)] = p
        pool.length[b] = len(p)
        pool.rx[b] = 1
        self.rx_packets += 1
        self.rx_bytes += len(p)
        return b

    def run(self, n):
        for seq in range(n):
            self.null.process(self.pg_input(seq))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="fewer repetitions (for CI smoke runs)")
    a = ap.parse_args()
    bench_startup(5 if a.quick else 21)
    bench_completion(1000, 20 if a.quick else 100)
    bench_pg(200_000 if a.quick else 2_000_000)


if __name__ == "__main__":
    main()
