"""The buffer pool: struct-of-arrays in numpy, a buffer is an index (vlib_buffer_t, vectorised).

`data[bi, PRE_DATA + current_data[bi]:...]` is the packet; PRE_DATA bytes of headroom let
nodes prepend headers (ethernet rewrite) without copying.
"""

from __future__ import annotations

import numpy as np

PRE_DATA = 128
F_TRACED = 1 << 0
F_LOCALLY_ORIGINATED = 1 << 1  # made by this host (ping, ICMP replies): ip4-rewrite keeps the TTL
F_OFFLOAD = 1 << 2  # carries a virtio-net header in `vnet` (partial checksum and/or GSO)
F_GSO = 1 << 3  # a GSO super-frame: segmented by whoever finally sends it, exempt from MTU
VNET_HDR_LEN = 12
RX, TX = 0, 1
INVALID = 0xFFFFFFFF


class BufferPool:
    def __init__(self, n_buffers: int = 16384, data_size: int = 2048) -> None:
        self.n = n_buffers
        self.data_size = data_size
        self.data = np.zeros((n_buffers, PRE_DATA + data_size), np.uint8)
        self.current_data = np.zeros(n_buffers, np.int16)
        self.current_length = np.zeros(n_buffers, np.uint32)
        self.flags = np.zeros(n_buffers, np.uint32)
        self.sw_if_index = np.full((2, n_buffers), INVALID, np.uint32)
        self.error = np.zeros(n_buffers, np.uint16)
        self.trace_index = np.full(n_buffers, -1, np.int32)
        self.adj_index = np.zeros(n_buffers, np.uint32)  # vnet_buffer()->ip.adj_index: the DPO lookup chose
        self.aux = np.zeros(n_buffers, np.uint32)  # per-node scratch (ICMP type/code for ip4-icmp-error)
        self.vnet = np.zeros((n_buffers, VNET_HDR_LEN), np.uint8)  # virtio-net header as received
        self._free = np.arange(n_buffers - 1, -1, -1, dtype=np.uint32)
        self.n_free = n_buffers
        self._in_use = np.zeros(n_buffers, bool)
        self._slot = np.zeros(n_buffers, np.int32)  # scratch for duplicate detection in free()
        self.stride = PRE_DATA + data_size
        self.mv = memoryview(self.data.reshape(-1))  # flat bytes: struct.*_from for scalar paths
        # Scalar paths (one TCP segment, an ACK) read and write single fields through
        # memoryviews: a few times cheaper than numpy's scalar indexing, and no int() needed.
        self.mv_current_data = memoryview(self.current_data)
        self.mv_current_length = memoryview(self.current_length)
        self.mv_flags = memoryview(self.flags)
        self.mv_aux = memoryview(self.aux)
        self.mv_sw_rx = memoryview(self.sw_if_index[RX])
        self.mv_vnet = memoryview(self.vnet.reshape(-1))  # VNET_HDR_LEN bytes per buffer
        self._mv_free = memoryview(self._free)
        self._mv_in_use = memoryview(self._in_use)

    @property
    def n_used(self) -> int:
        return self.n - self.n_free

    def alloc(self, k: int) -> np.ndarray:
        """Up to `k` fresh buffers (fewer when the pool runs dry, like vlib_buffer_alloc).

        Only what every user relies on is reset (data offset, flags); input nodes set lengths
        and interfaces, droppers set the error.
        """
        if k == 1 and self.n_free:  # one buffer (an ARP, a ping): no numpy slicing
            return np.array((self.alloc1(),), np.uint32)
        k = min(k, self.n_free)
        bi = self._free[self.n_free - k:self.n_free][::-1].copy()
        self.n_free -= k
        ix = bi.astype(np.intp)  # numpy indexes with intp about twice as fast as with uint32
        self._in_use[ix] = True
        self.current_data[ix] = 0
        self.flags[ix] = 0
        return bi

    def alloc1(self) -> int:
        """One fresh buffer's index, or -1 when the pool is dry (alloc(1) without numpy)."""
        if not self.n_free:
            return -1
        self.n_free -= 1
        b = self._mv_free[self.n_free]
        self._mv_in_use[b] = True
        self.mv_current_data[b] = 0
        self.mv_flags[b] = 0
        return b

    def free1(self, b: int) -> None:
        """Return one buffer (free() of a one-element array without numpy)."""
        if self._mv_in_use[b]:
            self._mv_in_use[b] = False
            self._mv_free[self.n_free] = b
            self.n_free += 1

    def free(self, bi: np.ndarray) -> None:
        """Return buffers; a double free (or a duplicate in `bi`) is ignored, never corrupting
        the free list."""
        bi = np.asarray(bi, np.uint32)
        n = bi.size
        if n == 0:
            return
        if n == 1:  # the per-segment case: plain scalar work
            self.free1(int(bi.flat[0]))
            return
        ix = bi.astype(np.intp)
        pos = np.arange(n, dtype=np.int32)
        self._slot[ix] = pos
        if not (self._in_use[ix].all() and (self._slot[ix] == pos).all()):
            bi = np.unique(bi[self._in_use[ix]])
            n = bi.size
            ix = bi.astype(np.intp)
        self._in_use[ix] = False
        self._free[self.n_free:self.n_free + n] = bi
        self.n_free += n

    def mark_offload(self, bi: np.ndarray) -> None:
        """After a device stored headers in `vnet`: flag those that ask for offload work."""
        h = self.vnet[bi]
        self.flags[bi[(h[:, 0] | h[:, 1]) != 0]] |= F_OFFLOAD
        self.flags[bi[h[:, 1] != 0]] |= F_GSO

    def tx_vnet_headers(self, bi: np.ndarray) -> np.ndarray:
        """The virtio-net header to send before each packet: as received, or all zero."""
        return np.where(((self.flags[bi] & F_OFFLOAD) != 0)[:, None], self.vnet[bi], 0).astype(np.uint8)

    def offsets(self, bi: np.ndarray, rel: int = 0) -> np.ndarray:
        """Absolute column of each buffer's current data (+ rel)."""
        return PRE_DATA + rel + self.current_data[bi].astype(np.int64)

    def gather(self, bi: np.ndarray, rel: int, n: int) -> np.ndarray:
        """Bytes [rel, rel+n) after each buffer's current data, as an [len(bi), n] array (a copy).

        When every buffer in the frame starts at the same offset (the usual case) this is a
        row gather with a column slice; otherwise a 2-D fancy gather.
        """
        cd = self.current_data[bi]
        if len(bi) and (cd == cd[0]).all():
            o = PRE_DATA + int(cd[0]) + rel
            return self.data[bi, o:o + n]
        cols = self.offsets(bi, rel)[:, None] + np.arange(n)
        return self.data[bi[:, None], cols]

    def scatter(self, bi: np.ndarray, rel: int, rows: np.ndarray) -> None:
        """Write rows back at [rel, rel + rows.shape[1]) after each buffer's current data."""
        n = rows.shape[1]
        cd = self.current_data[bi]
        if len(bi) and (cd == cd[0]).all():
            o = PRE_DATA + int(cd[0]) + rel
            self.data[bi, o:o + n] = rows
            return
        cols = self.offsets(bi, rel)[:, None] + np.arange(n)
        self.data[bi[:, None], cols] = rows

    def start(self, b: int) -> int:
        """Flat offset of buffer b's current data in `mv`."""
        return b * self.stride + PRE_DATA + self.mv_current_data[b]

    def packet(self, b: int) -> bytes:
        """One packet's bytes (for trace formatting and tests; never on the fast path)."""
        start = PRE_DATA + int(self.current_data[b])
        return self.data[b, start:start + int(self.current_length[b])].tobytes()

    def write(self, bi: np.ndarray, rows: np.ndarray, lengths: np.ndarray) -> None:
        """Copy packets (rows of a 2-D array) into fresh buffers at offset 0."""
        w = min(rows.shape[1], self.data_size)
        self.data[bi, PRE_DATA:PRE_DATA + w] = rows[:, :w]
        self.current_length[bi] = np.minimum(lengths, self.data_size)
