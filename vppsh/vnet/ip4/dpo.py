"""DPOs: what a FIB leaf points at (drop, receive, glean, adjacency), held as numpy columns.

ip4-lookup turns a frame's destinations into DPO indices with the mtrie, then every per-DPO
fact it or ip4-rewrite needs (next node, tx interface, MTU, the 14-byte ethernet rewrite) is a
gather from these arrays. Index 0 is the drop DPO. DPOs are shared by key (an adjacency is
one per (interface, next hop)) and reference counted by the FIB entries that use them.
"""

from __future__ import annotations

import numpy as np

DROP, RECEIVE, GLEAN, ADJ, ADJ_INCOMPLETE = range(5)
# ip4-lookup's next slots, indexed by kind
LOOKUP_NEXT = ("ip4-drop", "ip4-receive", "ip4-glean", "ip4-rewrite", "ip4-arp")
INVALID = 0xFFFFFFFF


class DpoTable:
    def __init__(self, cap: int = 1024, addr_dtype=np.uint32) -> None:
        self.cap = 0
        self.addr_dtype = addr_dtype  # IPv6's addresses do not fit a numpy integer: object
        self.kind = np.zeros(0, np.uint8)
        self.sw_if_index = np.zeros(0, np.uint32)
        self.addr = np.zeros(0, addr_dtype)  # next hop / receive address / glean subnet
        self.plen = np.zeros(0, np.uint8)
        self.mtu = np.zeros(0, np.uint32)
        self.rewrite = np.zeros((0, 14), np.uint8)
        self.to_pkts = np.zeros(0, np.int64)
        self.to_bytes = np.zeros(0, np.int64)
        self._grow(cap)
        self.key: dict[tuple, int] = {}
        self.keys: dict[int, tuple] = {}
        self.refs: dict[int, int] = {}
        self._free: list[int] = []
        self.n = 1  # slot 0: drop
        self.key[("drop",)] = 0
        self.keys[0] = ("drop",)

    def _grow(self, cap: int) -> None:
        old = self.cap

        def g(a, shape, dtype):
            b = np.zeros(shape, dtype)
            b[:old] = a
            return b

        self.kind = g(self.kind, cap, np.uint8)
        self.sw_if_index = g(self.sw_if_index, cap, np.uint32)
        self.addr = g(self.addr, cap, self.addr_dtype)
        self.plen = g(self.plen, cap, np.uint8)
        self.mtu = g(self.mtu, cap, np.uint32)
        self.rewrite = g(self.rewrite, (cap, 14), np.uint8)
        self.to_pkts = g(self.to_pkts, cap, np.int64)
        self.to_bytes = g(self.to_bytes, cap, np.int64)
        self.cap = cap

    def get(self, key: tuple, kind: int, sw_if_index: int = INVALID, addr: int = 0, plen: int = 32,
            mtu: int = 0) -> int:
        """The DPO for `key`, made on first use; the caller holds one reference."""
        i = self.key.get(key)
        if i is None:
            if self._free:
                i = self._free.pop()
            else:
                if self.n == self.cap:
                    self._grow(self.cap * 2)
                i, self.n = self.n, self.n + 1
            self.kind[i], self.sw_if_index[i], self.addr[i], self.plen[i] = kind, sw_if_index, addr, plen
            self.mtu[i] = mtu
            self.rewrite[i] = 0
            self.to_pkts[i] = self.to_bytes[i] = 0
            self.key[key], self.keys[i] = i, key
            self.refs[i] = 0
        if i:
            self.refs[i] += 1
        return i

    def unlock(self, i: int) -> None:
        if not i:
            return
        self.refs[i] -= 1
        if self.refs[i] <= 0:
            del self.key[self.keys.pop(i)]
            del self.refs[i]
            self.kind[i] = DROP
            self._free.append(i)

    def find(self, key: tuple) -> int | None:
        return self.key.get(key)

    def adjacencies(self, sw_if_index: int | None = None, nh: int | None = None) -> list[int]:
        return [i for k, i in self.key.items() if k[0] == "adj"
                and (sw_if_index is None or k[1] == sw_if_index) and (nh is None or k[2] == nh)]
