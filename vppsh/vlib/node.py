"""Graph nodes: a class per node, `process(frame)` works on a whole numpy frame of buffer indices.

A node names its next nodes; `self.next(slot, bi)` hands a group of buffers on, `self.nexts(v, frame)`
splits a frame by a per-packet next vector, `self.drop(bi, code)` counts an error and sends the
buffers to error-drop. Enqueues are staged and only committed when `process` returns, so a node
that raises loses exactly its own frame and nothing downstream sees half its work.
"""

from __future__ import annotations

from enum import Enum

import numpy as np


class NodeType(Enum):
    INTERNAL = "internal"
    INPUT = "input"
    PRE_INPUT = "pre-input"
    PROCESS = "process"


class Node:
    name = ""
    type = NodeType.INTERNAL
    next_nodes: tuple[str, ...] = ()
    errors: tuple = ()  # reason strings, or (reason, severity) pairs
    output = False  # counts toward `vector rates ... out` (device tx nodes)
    # `fast1(b) -> bool`: the common case for one packet in plain Python (VPP's single-packet
    # tail loop). Used for frames of up to SCALAR_MAX packets, where numpy's fixed cost per call
    # dominates; it returns False to leave a packet to `process`, which handles every case.
    fast1 = None
    trace_in_process = False  # the node records its own trace text (e.g. after a rewrite)
    backlog = False  # input nodes: packets are still queued after this poll (see VlibMain.run_once)

    def __init__(self, vm, name: str | None = None) -> None:
        self.vm = vm
        if name is not None:
            self.name = name
        self.index = -1
        self.next_names: list[str] = []
        self.next_index: dict[str, int] = {}
        self.err: dict[str, int] = {}
        self.state = "polling" if self.type in (NodeType.INPUT, NodeType.PRE_INPUT) else "active"
        self.interrupt_pending = False
        self.trace_budget = 0
        self.clear_stats()

    def clear_stats(self) -> None:
        self.calls = self.vectors = self.suspends = self.clocks = 0
        self.max_clocks = self.vectors_at_max = 0

    # -- graph wiring
    def add_next(self, name: str) -> int:
        """Slot of next node `name`, added on first use (vlib_node_add_next)."""
        slot = self.next_index.get(name)
        if slot is None:
            slot = len(self.next_names)
            self.next_names.append(name)
            self.next_index[name] = slot
        return slot

    # -- data path helpers
    def next(self, slot: int, bi: np.ndarray) -> None:
        if len(bi):
            self.vm.stage(self.next_names[slot], bi)

    def nexts(self, next_vec: np.ndarray, frame: np.ndarray) -> None:
        """Split `frame` by per-packet next slots; one enqueue per distinct slot."""
        if len(frame) == 0:
            return
        first = next_vec[0]
        if (next_vec == first).all():
            self.next(int(first), frame)
            return
        for slot in np.flatnonzero(np.bincount(next_vec)).tolist():  # the slots present, in order
            self.next(slot, frame[next_vec == slot])

    def next1(self, slot: int, b: int) -> None:
        self.vm.stage(self.next_names[slot], np.array((b,), np.uint32))

    def drop(self, bi: np.ndarray, code: int) -> None:
        """Count error `code` (a global error index from `self.err`) and drop the buffers."""
        if len(bi):
            self.vm.buffers.error[bi] = code
            self.vm.stage("error-drop", bi)

    def count(self, code: int, n: int = 1) -> None:
        self.vm.errors.counts[code] += n

    # -- overridables
    def process(self, frame: np.ndarray) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def poll(self) -> int:
        """Input nodes: produce packets, return how many."""
        return 0

    def format_trace(self, b: int) -> str:
        return ""


class NullNode(Node):
    """null-node: the graph's sink; packets are counted as blackholed and freed."""

    name = "null-node"
    errors = (("blackholed packets", "error"),)

    def process(self, frame):
        self.count(self.err["blackholed packets"], len(frame))
        self.vm.buffers.free(frame)

    def format_trace(self, b):
        return ""


class ErrorDrop(Node):
    """error-drop: counts each buffer's error code, shows the frame to vm.drop_hooks (vnet's
    interface drop counters and pcap), then frees."""

    name = "error-drop"

    def process(self, frame):
        vm = self.vm
        vm.errors.count_buffers(vm.buffers.error[frame])
        for hook in vm.drop_hooks:
            hook(frame)
        vm.buffers.free(frame)

    def format_trace(self, b):
        code = int(self.vm.buffers.error[b])
        node, reason, _sev = self.vm.errors.info[code]
        return f"{node}: {reason}"


class ErrorPunt(ErrorDrop):
    name = "error-punt"
