"""Process nodes: cooperative generators (VPP's vlib processes) and the timer queue that wakes them.

A process yields `Wait(seconds)` to sleep or `WaitEvent(timeout)` to sleep until `vm.signal()`
(the yield then returns the list of (event, data) received, empty on timeout).
"""

from __future__ import annotations

import heapq
import itertools
from dataclasses import dataclass

from .node import Node, NodeType


@dataclass
class Wait:
    seconds: float


@dataclass
class WaitEvent:
    timeout: float | None = None


class Process(Node):
    type = NodeType.PROCESS

    def __init__(self, vm, name: str, gen) -> None:
        super().__init__(vm, name)
        self.gen = gen
        self.state = "active"
        self.events: list = []
        self.wait_token = 0  # bumps on every resume: stale timers/events are ignored
        self.waiting_event = False
        self.req = None  # what the process last yielded (Wait / WaitEvent / None)
        self.pending_exc: BaseException | None = None
        self.done = False


class Timers:
    """A deadline heap with lazy cancellation; O(log n) add, O(1) cancel."""

    def __init__(self) -> None:
        self.heap: list = []
        self.seq = itertools.count()

    def add(self, deadline: float, fn) -> list:
        entry = [deadline, next(self.seq), fn]
        heapq.heappush(self.heap, entry)
        return entry

    @staticmethod
    def cancel(entry: list) -> None:
        entry[2] = None

    def next_deadline(self) -> float | None:
        h = self.heap
        while h and h[0][2] is None:
            heapq.heappop(h)
        return h[0][0] if h else None

    def expired(self, now: float):
        h = self.heap
        while h and h[0][0] <= now:
            _d, _s, fn = heapq.heappop(h)
            if fn is not None:
                yield fn

    def __len__(self) -> int:
        return sum(1 for e in self.heap if e[2] is not None)
