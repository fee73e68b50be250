"""Packets waiting for ARP, per unresolved neighbour, sent once its MAC is learned.

VPP's ip4-glean / ip4-arp drop the packet that starts the resolution. For a program on the host
stack that is its first SYN or datagram to a new neighbour: connect() then waits for the 1 s SYN
retransmission, and a lone UDP query is lost. Linux holds such packets and asks again while they
wait (mcast_solicit); so does vppsh, with Linux's bound: unres_qlen_bytes of skb truesize per
neighbour (101 full-size frames, its unres_qlen; more small ones, so a client opening 128
connections at once keeps all its SYNs), a full queue dropping its oldest for the newest
(__neigh_event_send); HOLD_MAX over all neighbours is our own bound.
HOLD_TRIES requests HOLD_TIME apart, then what waited is dropped as VPP would have dropped it.
"""

from __future__ import annotations

import numpy as np

HOLD_BYTES = 212992  # per neighbour, Linux's unres_qlen_bytes (the default socket send buffer)
SKB_OVERHEAD = 608  # what Linux charges a packet beyond its IP bytes: ethernet header, sk_buff, shared info
HOLD = HOLD_BYTES // (1500 + SKB_OVERHEAD)  # full-size packets per neighbour: 101, as unres_qlen
HOLD_MAX = 256  # packets held in all: a scan of a subnet must not pin the buffer pool
HOLD_TIME = 0.5  # seconds between requests while packets wait
HOLD_TRIES = 3  # requests before the packets are dropped


class HoldQueue:
    def __init__(self, vm, lookup: str = "ip4-lookup") -> None:
        self.vm = vm
        self.lookup = lookup  # where released packets go: their route is complete now
        self.held: dict[tuple[int, int], list[int]] = {}  # (sw_if_index, ip) -> buffer indices
        self.bytes: dict[tuple[int, int], int] = {}  # what each queue is charged, as Linux counts it
        self.n = 0

    def _charge(self, b: int) -> int:
        return int(self.vm.buffers.current_length[b]) + SKB_OVERHEAD

    def hold(self, sw_if_index: int, ip: int, b: int, on_expiry) -> list[int]:
        """Keep buffer `b` (current data at its IP header) until (sw_if_index, ip) resolves.
        Returns the buffers to drop: the neighbour's oldest while its queue is over HOLD_BYTES
        (Linux keeps the newest), or `b` itself when HOLD_MAX are held in all. Unresolved after
        HOLD_TIME: on_expiry(sw_if_index, ip, buffers, tries) decides."""
        if self.n >= HOLD_MAX:
            return [b]
        key = (sw_if_index, ip)
        q = self.held.get(key)
        if q is None:
            self.requeue(sw_if_index, ip, [b], on_expiry, 1)
            return []
        q.append(b)
        self.n += 1
        size = self.bytes[key] + self._charge(b)
        evicted = []
        while size > HOLD_BYTES and len(q) > 1:
            old = q.pop(0)
            size -= self._charge(old)
            evicted.append(old)
        self.bytes[key] = size
        self.n -= len(evicted)
        return evicted

    def requeue(self, sw_if_index: int, ip: int, bufs: list[int], on_expiry, tries: int) -> None:
        key = (sw_if_index, ip)
        q = self.held[key] = bufs
        self.bytes[key] = sum(map(self._charge, bufs))
        self.n += len(bufs)
        self.vm.timers.add(self.vm.now() + HOLD_TIME, lambda: self._expire(key, q, on_expiry, tries))

    def release(self, sw_if_index: int, ip: int) -> None:
        """The neighbour resolved: its packets look their route up again (now complete)."""
        q = self.held.pop((sw_if_index, ip), None)
        self.bytes.pop((sw_if_index, ip), None)
        if q:
            self.n -= len(q)
            self.vm.stage(self.lookup, np.array(q, np.uint32))

    def _expire(self, key, q: list[int], on_expiry, tries: int) -> None:
        if self.held.get(key) is q:  # still waiting (not released, not a newer queue)
            del self.held[key]
            del self.bytes[key]
            self.n -= len(q)
            on_expiry(key[0], key[1], np.array(q, np.uint32), tries)

    def drop_all(self) -> None:
        """Free every held buffer (the pool is about to be replaced)."""
        for q in self.held.values():
            self.vm.buffers.free(np.array(q, np.uint32))
        self.held.clear()
        self.bytes.clear()
        self.n = 0
