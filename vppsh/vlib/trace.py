"""Packet trace (`trace add`, `show trace`): per-packet node path with each node's view of it.

Input nodes mark up to their budget of new buffers as traced; the dispatcher then records, for
every traced buffer in a frame, the time, the node and the node's `format_trace` text.
"""

from __future__ import annotations

import numpy as np

from .buffer import F_TRACED


class Trace:
    def __init__(self, vm) -> None:
        self.vm = vm
        self.packets: list[list[tuple[float, str, str]]] = []
        self.active = False  # any traced buffer possibly in flight (cheap check on the hot path)

    def add_budget(self, node, count: int) -> None:
        node.trace_budget = 0 if count == 0 else node.trace_budget + count
        self.active = self.active or count > 0

    def mark_input(self, node, bi: np.ndarray) -> None:
        """Called by input nodes on the buffers they just produced."""
        k = min(node.trace_budget, len(bi))
        if k <= 0:
            return
        node.trace_budget -= k
        buf = self.vm.buffers
        sel = bi[:k]
        buf.flags[sel] |= F_TRACED
        base = len(self.packets)
        buf.trace_index[sel] = np.arange(base, base + k, dtype=np.int32)
        now = self.vm.now()
        for b in sel:
            self.packets.append([(now, node.name, node.format_trace(int(b)))])
        self.active = True

    def record_frame(self, node, frame: np.ndarray) -> None:
        buf = self.vm.buffers
        traced = frame[(buf.flags[frame] & F_TRACED) != 0]
        for b in traced:
            self.add(node, int(b), node.format_trace(int(b)))

    def add(self, node, b: int, text: str) -> None:
        ti = int(self.vm.buffers.trace_index[b])
        if 0 <= ti < len(self.packets):
            self.packets[ti].append((self.vm.now(), node.name, text))

    def clear(self) -> None:
        self.packets = []
        buf = self.vm.buffers
        buf.flags &= ~np.uint32(F_TRACED)
        buf.trace_index[:] = -1
        self.active = any(n.trace_budget for n in self.vm.input_nodes)

    def format(self, max_packets: int = 50) -> str:
        out = ["------------------- Start of thread 0 vpp_main -------------------"]
        if not self.packets:
            out.append("No packets in trace buffer")
            return "\n".join(out)
        shown = self.packets[:max_packets]
        for i, steps in enumerate(shown, 1):
            out.append(f"Packet {i}\n")
            for t, name, text in steps:
                out.append(f"{_hms(t)}: {name}")
                for line in text.splitlines():
                    out.append("  " + line)
            out.append("")
        if len(self.packets) > max_packets:
            out.append(f"Limiting display to {max_packets} packets. To display more specify max.")
        return "\n".join(out)


def _hms(t: float) -> str:
    us = int(round(t * 1e6))
    s, us = divmod(us, 1_000_000)
    m, s = divmod(s, 60)
    h, m = divmod(m, 60)
    return f"{h:02d}:{m:02d}:{s:02d}:{us:06d}"
