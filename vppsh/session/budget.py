"""Fifo memory budgets: each app's (VPP's segment size) inside the engine's (Linux's tcp_mem).

A fifo's ring is an anonymous mapping whose pages are committed when first written, so the
memory a fifo holds is how far into its ring data has ever reached (its high-water mark), until
the fifo is freed. A fifo may move that mark only while its app's budget and the engine's have
room; beyond it, what the fifo offers producers (TCP's receive window, an app's writes) stays
within the pages it already has. So under pressure windows close and writers wait instead of
the engine growing, and new connections are refused. A budget is a hard bound: what a peer
sends inside a window offered before the budget ran out is dropped, as Linux drops segments
when tcp_mem is exhausted (TCPRcvQDrop), and sent again once there is room.
"""

from __future__ import annotations

from typing import Callable

from ..wire.format import format_memory_size

MAX_FIFO_SIZE = 32 << 20  # bytes per fifo: VPP's TCP max-rx-fifo, Linux's tcp_rmem maximum
DEFAULT_SEGMENT_SIZE = 256 << 20  # bytes per app: VPP's default segment-size
PAGE = 4096


def engine_limit() -> int:
    """The engine's default budget: what Linux lets all TCP sockets hold (tcp_mem's maximum)."""
    try:
        with open("/proc/sys/net/ipv4/tcp_mem") as f:
            return int(f.read().split()[2]) * PAGE
    except (OSError, ValueError, IndexError):
        return 1 << 30


class Budget:
    """Bytes of fifo memory a holder may commit; an app's budget has the engine's as parent."""

    __slots__ = ("limit", "used", "parent", "on_release", "on_pressure")

    def __init__(self, limit: int, parent: "Budget | None" = None) -> None:
        self.limit = limit
        self.used = 0
        self.parent = parent
        # the engine's hooks: room was made (wake what waits for it); a budget passed its low
        # watermark (start giving back the pages of data already read)
        self.on_release: Callable[[], None] | None = None
        self.on_pressure: Callable[[], None] | None = None

    def room(self) -> int:
        r = self.limit - self.used
        p = self.parent
        return r if p is None else min(r, p.limit - p.used)

    def charge(self, n: int) -> None:
        self.used += n
        p = self.parent
        if p is None:
            if self.used << 1 >= self.limit and self.on_pressure is not None:
                self.on_pressure()
            return
        p.used += n
        if (self.used << 1 >= self.limit or p.used << 1 >= p.limit) and p.on_pressure is not None:
            p.on_pressure()

    def pressured(self) -> bool:
        """Past the low watermark (VPP's 50%), here or in the parent."""
        p = self.parent
        return self.used << 1 >= self.limit or (p is not None and p.used << 1 >= p.limit)

    def release(self, n: int) -> None:
        self.used -= n
        p = self.parent
        if p is not None:
            p.used -= n
            if p.on_release is not None:
                p.on_release()
        elif self.on_release is not None:
            self.on_release()

    def usage(self, fifos) -> str:
        """format_fifo_segment's usage line, for the fifos this budget pays for."""
        ms = format_memory_size
        pct = 100 * self.used / self.limit if self.limit else 0
        return f"segment usage: {pct:.2f}% ({ms(self.used)} / {ms(self.limit)}) " \
               f"virt: {ms(sum(f.nitems for f in fifos))} status: {self.status()}"

    def status(self) -> str:
        """VPP's segment memory status, by its default watermarks (50% low, 80% high)."""
        pct = 100 * self.used / self.limit if self.limit else 100
        return "No memory" if pct >= 100 else "High pressure" if pct >= 80 else \
            "Low pressure" if pct >= 50 else "No pressure"
