"""Packets waiting for ARP: a few per unresolved neighbour, sent once its MAC is learned.

VPP's ip4-glean / ip4-arp drop the packet that starts the resolution. For a program on the host
stack that is its first SYN or datagram to a new neighbour: connect() then waits for the 1 s SYN
retransmission, and a lone UDP query is lost. Linux holds such packets (neigh unres_qlen) and
asks again while they wait (mcast_solicit); so does vppsh: up to HOLD packets per neighbour (a
full queue drops its oldest for the newest, as __neigh_event_send), HOLD_TRIES requests
HOLD_TIME apart, then they are dropped as VPP would have dropped them.
"""

from __future__ import annotations

import numpy as np

HOLD = 101  # packets per neighbour, Linux's unres_qlen: a burst of datagrams to a new neighbour is kept
HOLD_MAX = 256  # packets held in all: a scan of a subnet must not pin the buffer pool
HOLD_TIME = 0.5  # seconds between requests while packets wait
HOLD_TRIES = 3  # requests before the packets are dropped


class HoldQueue:
    def __init__(self, vm) -> None:
        self.vm = vm
        self.held: dict[tuple[int, int], list[int]] = {}  # (sw_if_index, ip) -> buffer indices
        self.n = 0

    def hold(self, sw_if_index: int, ip: int, b: int, on_expiry) -> int:
        """Keep buffer `b` until (sw_if_index, ip) resolves. Returns the buffer to drop: -1 for
        none, the neighbour's oldest when its queue is full (Linux keeps the newest), `b` itself
        when all HOLD_MAX are taken. Unresolved after HOLD_TIME: on_expiry(sw_if_index, ip,
        buffers, tries) decides."""
        q = self.held.get((sw_if_index, ip))
        if q is None:
            if self.n >= HOLD_MAX:
                return b
            self.requeue(sw_if_index, ip, [b], on_expiry, 1)
            return -1
        q.append(b)
        if len(q) > HOLD:
            return q.pop(0)
        if self.n >= HOLD_MAX:
            return q.pop()
        self.n += 1
        return -1

    def requeue(self, sw_if_index: int, ip: int, bufs: list[int], on_expiry, tries: int) -> None:
        key = (sw_if_index, ip)
        q = self.held[key] = bufs
        self.n += len(bufs)
        self.vm.timers.add(self.vm.now() + HOLD_TIME, lambda: self._expire(key, q, on_expiry, tries))

    def release(self, sw_if_index: int, ip: int) -> None:
        """The neighbour resolved: its packets look their route up again (now complete)."""
        q = self.held.pop((sw_if_index, ip), None)
        if q:
            self.n -= len(q)
            self.vm.stage("ip4-lookup", np.array(q, np.uint32))

    def _expire(self, key, q: list[int], on_expiry, tries: int) -> None:
        if self.held.get(key) is q:  # still waiting (not released, not a newer queue)
            del self.held[key]
            self.n -= len(q)
            on_expiry(key[0], key[1], np.array(q, np.uint32), tries)

    def drop_all(self) -> None:
        """Free every held buffer (the pool is about to be replaced)."""
        for q in self.held.values():
            self.vm.buffers.free(np.array(q, np.uint32))
        self.held.clear()
        self.n = 0
