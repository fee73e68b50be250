"""Fifo: VPP's svm_fifo — a bounded byte ring with out-of-order segments.

One preallocated bytearray; copies are memoryview slices (at most two pieces on wrap), so a
64 KB TCP segment costs two memcpy-sized operations. Out-of-order data is written into the ring
beyond the tail, where it will end up anyway, and only its ranges are tracked (as VPP does), so
when the hole fills the data is already in place.

What a fifo's memory costs is charged to a Budget (session/budget.py): its committed pages span
the ring positions [lo, hi), charged as data first reaches them and given back (madvise) by
trim() once read, under pressure. `free`, what producers may add, stays within the budget's
room; `space` is the ring's own room.
"""

from __future__ import annotations

import mmap

from .budget import PAGE, Budget
from .intervals import insert

TRIM_MIN = 1 << 16  # bytes read before a fifo under pressure gives pages back (one madvise)


class Fifo:
    def __init__(self, size: int, budget: Budget | None = None) -> None:
        self.nitems = size
        self.budget = budget
        # an anonymous mapping, not a bytearray: pages are only committed when written, and
        # freed fifos go back to the OS (malloc keeps freed 64 KB+ bytearrays resident)
        self.lo = 0  # committed pages hold the ring positions [lo, hi) (absolute, as head/tail)
        if size >= 1 << 16:
            self.buf = mmap.mmap(-1, size)
            self.hi = 0
        else:  # (a small ring is committed whole at once, and kept)
            self.buf = bytearray(size)
            self.hi = size
            if budget is not None:
                budget.charge(size)
        self.mv = memoryview(self.buf)
        self.head = 0  # bytes ever dequeued
        self.tail = 0  # bytes ever enqueued in order
        # sorted [start, end) ranges, absolute (like head/tail); a shared empty tuple until the
        # first out-of-order write (one container less for the garbage collector per fifo)
        self.ooo: list[list[int]] | tuple = ()
        self.newest: tuple[int, int] | None = None

    @property
    def size(self) -> int:
        return self.tail - self.head

    @property
    def free(self) -> int:
        """What a producer may add now: the ring's room, within the budget's."""
        f = self.nitems - (self.tail - self.head)
        hi = self.hi
        if hi - self.lo < self.nitems and self.budget is not None:
            end = hi + self.budget.room()  # as far as new pages can be paid for
            if end < self.lo + self.nitems:  # (from there on the ring wraps onto its own pages)
                r = end - self.tail
                if r < f:
                    return r if r > 0 else 0
        return f

    @property
    def space(self) -> int:
        """The ring's own room (what a window already advertised may fill)."""
        return self.nitems - (self.tail - self.head)

    def _grow(self, end: int) -> None:
        """Data reached `end` (absolute, past hi): charge what it committed."""
        lo, n = self.lo, self.nitems
        held = self.hi - lo
        if held < n and self.budget is not None:
            self.budget.charge(min(end - lo, n) - held)
        self.hi = end
        if end - lo > n:  # wrapped onto its own pages
            self.lo = end - n

    def trim(self) -> int:
        """Give back the pages before the unread data (the budget is under pressure); returns
        the bytes released. Only whole pages are discarded: the accounting may be off by a page
        at each end, never by live data."""
        lo, head, n = self.lo, self.head, self.nitems
        if head - lo < PAGE or not isinstance(self.buf, mmap.mmap):
            return 0
        i, j = lo % n, head % n
        for a, b in ((i, j),) if i < j else ((i, n), (0, j)):
            a = -(-a // PAGE) * PAGE
            b = -(-b // PAGE) * PAGE if b == n else b // PAGE * PAGE
            if b > a:
                self.buf.madvise(mmap.MADV_DONTNEED, a, b - a)
        self.lo = head
        if self.budget is not None:
            self.budget.release(head - lo)
        return head - lo

    def __del__(self) -> None:
        if self.budget is not None and self.hi > self.lo:
            self.budget.release(self.hi - self.lo)
            self.lo = self.hi

    @property
    def ooo_bytes(self) -> int:
        return sum(e - s for s, e in self.ooo)

    @property
    def newest_ooo(self) -> tuple[int, int] | None:
        if self.newest is None:
            return None
        s, e = self.newest
        s, e = max(s, self.tail), e
        return (s - self.tail, e - self.tail) if e > s else None

    def ooo_segments(self) -> list[tuple[int, int]]:
        t = self.tail
        return [(s - t, e - t) for s, e in self.ooo]

    # ------------------------------------------------------------ copies in and out of the ring
    def _write(self, pos: int, data) -> None:
        n = len(data)
        i = pos % self.nitems
        first = min(n, self.nitems - i)
        self.mv[i:i + first] = data[:first]
        if first < n:
            self.mv[0:n - first] = data[first:]

    def _read_into(self, pos: int, dst) -> None:
        n = len(dst)
        i = pos % self.nitems
        first = min(n, self.nitems - i)
        dst[:first] = self.mv[i:i + first]
        if first < n:
            dst[first:] = self.mv[0:n - first]

    # ------------------------------------------------------------ producer
    def enqueue(self, data) -> int:
        """Append in order, as far as `free` allows; returns how far the tail moved (written +
        absorbed ooo bytes)."""
        n = min(len(data), self.free)
        if n <= 0:
            return 0
        self._write(self.tail, memoryview(data)[:n] if n < len(data) else data)
        old = self.tail
        self.tail += n
        if self.tail > self.hi:
            self._grow(self.tail)
        if self.ooo:
            self._absorb()
        return self.tail - old

    def _absorb(self) -> None:
        t = self.tail
        keep = []
        for s, e in self.ooo:
            if s <= t:
                if e > t:
                    t = e
            else:
                keep.append([s, e])
        self.tail = t
        self.ooo = keep
        if not keep:
            self.newest = None

    def enqueue_at(self, offset: int, data) -> int:
        """Out-of-order write `offset` bytes past the tail; clipped to the ring's room."""
        if offset <= 0:
            skip = -offset
            return self.enqueue(memoryview(data)[skip:]) if skip < len(data) else 0
        limit = self.tail + self.free  # unread data, or pages the budgets cannot pay for, beyond
        start = self.tail + offset
        end = min(start + len(data), limit)
        if end <= start:
            return 0
        self._write(start, memoryview(data)[:end - start])
        if end > self.hi:
            self._grow(end)
        self.ooo, s0, e0 = insert(self.ooo, start, end)
        self.newest = (s0, e0)
        return end - start

    # ------------------------------------------------------------ consumer
    def dequeue(self, n: int) -> bytes:
        n = min(n, self.size)
        if n <= 0:
            return b""
        out = bytearray(n)
        self._read_into(self.head, memoryview(out))
        self.head += n
        if self.head - self.lo >= TRIM_MIN and self.budget is not None:
            self._consumed()
        return bytes(out)

    def dequeue_into(self, dst) -> int:
        n = min(len(dst), self.size)
        if n > 0:
            self._read_into(self.head, memoryview(dst)[:n])
            self.head += n
            if self.head - self.lo >= TRIM_MIN and self.budget is not None:
                self._consumed()
        return max(n, 0)

    def peek(self, offset: int, n: int) -> bytes:
        n = min(n, self.size - offset)
        if n <= 0:
            return b""
        out = bytearray(n)
        self._read_into(self.head + offset, memoryview(out))
        return bytes(out)

    def peek_into(self, offset: int, dst) -> int:
        n = min(len(dst), self.size - offset)
        if n > 0:
            self._read_into(self.head + offset, memoryview(dst)[:n])
        return max(n, 0)

    def write_view(self) -> memoryview:
        """The free space right after the tail, up to the ring's end: recv_into() it, then
        commit() what arrived (no copy through Python bytes)."""
        i = self.tail % self.nitems
        return self.mv[i:i + min(self.free, self.nitems - i)]

    def commit(self, n: int) -> None:
        self.tail += n
        if self.tail > self.hi:
            self._grow(self.tail)
        if self.ooo:
            self._absorb()

    def read_view(self) -> memoryview:
        """The data at the head, up to the ring's end: send() it, then drop() what went."""
        i = self.head % self.nitems
        return self.mv[i:i + min(self.size, self.nitems - i)]

    def drop(self, n: int) -> int:
        n = max(0, min(n, self.size))
        self.head += n
        if self.head - self.lo >= TRIM_MIN and self.budget is not None:
            self._consumed()
        return n

    def _consumed(self) -> None:
        """Read data under memory pressure: its pages go back at once, for this fifo's next
        data or anyone else's (otherwise the engine's reclaim tick gets them)."""
        if self.budget.pressured():
            self.trim()
