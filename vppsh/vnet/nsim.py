"""Network impairment on an interface, both directions: loss, duplication, corruption,
reordering and delay — netem's knobs, in the spirit of VPP's nsim plugin.

It exists because TCP must be proven under bad networks and this machine's kernel has no
sch_netem: the faults are applied where packets enter (after the device read) and leave (just
before the device write) the engine, so they hit exactly what the kernel peer and vppsh's stack
exchange. Corruption flips one bit past the ethernet header after finishing any partial
checksum (as netem does with skb_checksum_help), so it is caught by checksums, not waved through.
"""

from __future__ import annotations

import heapq
import itertools

import numpy as np

from .devices.offload import finish_in_place

RX, TX = "rx", "tx"


class Nsim:
    def __init__(self, vm, sw, delay: float = 0.0, loss: float = 0.0, reorder: float = 0.0,
                 duplicate: float = 0.0, corrupt: float = 0.0, seed: int | None = None) -> None:
        self.vm, self.sw = vm, sw
        self.delay, self.loss, self.reorder = delay, loss / 100, reorder / 100
        self.duplicate, self.corrupt = duplicate / 100, corrupt / 100
        self.rng = np.random.default_rng(seed)
        self.held: list = []  # heap of (release time, seq, direction, node, buffers)
        self.seq = itertools.count()
        self.counts = dict(dropped=0, duplicated=0, corrupted=0, reordered=0, delayed=0)
        self.timer = None

    def describe(self) -> str:
        c = self.counts
        return (f"{self.sw.name}: delay {self.delay * 1000:g} ms loss {self.loss * 100:g}% "
                f"reorder {self.reorder * 100:g}% duplicate {self.duplicate * 100:g}% "
                f"corrupt {self.corrupt * 100:g}%\n  dropped {c['dropped']} duplicated {c['duplicated']} "
                f"corrupted {c['corrupted']} reordered {c['reordered']} delayed {c['delayed']} "
                f"held {sum(len(h[4]) for h in self.held)}")

    # ------------------------------------------------------------ the faults
    def apply(self, direction: str, node, bi: np.ndarray) -> np.ndarray:
        """Buffers to pass on now; the rest are freed or held for later release."""
        pool = self.vm.buffers
        rnd = self.rng.random
        if self.loss and len(bi):
            lost = rnd(len(bi)) < self.loss
            if lost.any():
                self.counts["dropped"] += int(lost.sum())
                pool.free(bi[lost])
                bi = bi[~lost]
        if self.duplicate and len(bi):
            dup = bi[rnd(len(bi)) < self.duplicate]
            if len(dup):
                new = pool.alloc(len(dup))
                src = dup[:len(new)]
                pool.data[new] = pool.data[src]
                for a in (pool.current_data, pool.current_length, pool.flags, pool.aux, pool.error):
                    a[new] = a[src]
                pool.vnet[new] = pool.vnet[src]
                pool.sw_if_index[:, new] = pool.sw_if_index[:, src]
                self.counts["duplicated"] += len(new)
                bi = np.concatenate([bi, new])
        if self.corrupt and len(bi):
            hit = rnd(len(bi)) < self.corrupt
            if hit.any():
                victims = finish_in_place(self.sw.hw.device, node, pool, bi[hit])
                bi = np.concatenate([bi[~hit], victims])
                for b in victims.tolist():
                    n = int(pool.current_length[b])
                    if n > 14:
                        off = pool.start(b) + 14 + int(self.rng.integers(0, n - 14))
                        pool.mv[off] ^= 1 << int(self.rng.integers(0, 8))
                        self.counts["corrupted"] += 1
        if self.reorder and len(bi):
            late = rnd(len(bi)) < self.reorder
            if late.any():
                self.counts["reordered"] += int(late.sum())
                self._hold(direction, node, bi[late], self.delay + 0.002)
                bi = bi[~late]
        if self.delay and len(bi):
            self.counts["delayed"] += len(bi)
            self._hold(direction, node, bi, self.delay)
            return bi[:0]
        return bi

    def _hold(self, direction: str, node, bi: np.ndarray, delay: float) -> None:
        at = self.vm.now() + delay
        heapq.heappush(self.held, (at, next(self.seq), direction, node, bi))
        if self.timer is None or self.timer[0] > at:
            if self.timer is not None:
                self.vm.timers.cancel(self.timer)
            self.timer = self.vm.timer(delay, self._release)

    def _release(self) -> None:
        self.timer = None
        now = self.vm.now()
        h = self.held
        while h and h[0][0] <= now + 1e-4:
            _t, _s, direction, node, bi = heapq.heappop(h)
            self._deliver(direction, node, bi)
        if h:
            self.timer = self.vm.timer(max(0.0, h[0][0] - now), self._release)

    def _deliver(self, direction: str, node, bi: np.ndarray) -> None:
        vm = self.vm
        if vm.interfaces.get(self.sw.sw_if_index) is not self.sw:  # deleted meanwhile
            vm.buffers.free(bi)
        elif direction == RX:
            vm.stage("ethernet-input", bi)
        else:
            self.sw.hw.device.tx(node, bi)

    def flush(self) -> None:
        """Free whatever is held (the interface is going, or the impairment is removed)."""
        for _t, _s, _d, _n, bi in self.held:
            self.vm.buffers.free(bi)
        self.held = []
        if self.timer is not None:
            self.vm.timers.cancel(self.timer)
            self.timer = None


def remove(vm, sw_if_index: int) -> None:
    imp = vm.nsim.pop(sw_if_index, None)
    if imp is not None:
        imp.flush()
