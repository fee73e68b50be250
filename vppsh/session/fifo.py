"""Fifo: VPP's svm_fifo — a bounded byte ring with out-of-order segments.

One preallocated bytearray; copies are memoryview slices (at most two pieces on wrap), so a
64 KB TCP segment costs two memcpy-sized operations. Out-of-order data is written into the ring
beyond the tail, where it will end up anyway, and only its ranges are tracked (as VPP does), so
when the hole fills the data is already in place.
"""

from __future__ import annotations

import mmap


class Fifo:
    def __init__(self, size: int) -> None:
        self.nitems = size
        # an anonymous mapping, not a bytearray: pages are only committed when written, and
        # freed fifos go back to the OS (malloc keeps freed 64 KB+ bytearrays resident)
        self.buf = mmap.mmap(-1, size) if size >= 1 << 16 else bytearray(size)
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
        return self.nitems - (self.tail - self.head)

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
        """Append in order; returns how far the tail moved (written + absorbed ooo bytes)."""
        n = min(len(data), self.free)
        if n <= 0:
            return 0
        self._write(self.tail, memoryview(data)[:n] if n < len(data) else data)
        old = self.tail
        self.tail += n
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
        limit = self.head + self.nitems  # first byte that would overwrite unread data
        start = self.tail + offset
        end = min(start + len(data), limit)
        if end <= start:
            return 0
        self._write(start, memoryview(data)[:end - start])
        # merge [start, end) into the sorted range list
        out, placed = [], False
        s0, e0 = start, end
        for s, e in self.ooo:
            if e < s0 or s > e0:
                if s > e0 and not placed:
                    out.append([s0, e0])
                    placed = True
                out.append([s, e])
            else:
                s0, e0 = min(s, s0), max(e, e0)
        if not placed:
            out.append([s0, e0])
        self.ooo = out
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
        return bytes(out)

    def dequeue_into(self, dst) -> int:
        n = min(len(dst), self.size)
        if n > 0:
            self._read_into(self.head, memoryview(dst)[:n])
            self.head += n
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
        if self.ooo:
            self._absorb()

    def read_view(self) -> memoryview:
        """The data at the head, up to the ring's end: send() it, then drop() what went."""
        i = self.head % self.nitems
        return self.mv[i:i + min(self.size, self.nitems - i)]

    def drop(self, n: int) -> int:
        n = max(0, min(n, self.size))
        self.head += n
        return n

    def clear(self) -> None:
        self.head = self.tail = 0
        self.ooo = []
        self.newest = None
