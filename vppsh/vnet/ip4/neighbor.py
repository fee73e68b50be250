"""The neighbour table's bound and ageing: VPP's `ip neighbor-config` knobs, Linux's numbers.

Each learned neighbour costs an adjacency and a /32 in the FIB, and each address being resolved
an ARP broadcast; a flood from spoofed sources can make both grow (ARP requests claiming them, a
proxy-ARP router answering for them, SYN-ACKs to them through an attached route). VPP caps the
table at 50,000 and by default never ages or recycles an entry. Linux bounds its table with
gc_thresh1/2/3 (128/512/1024), counting resolutions in flight, and vppsh does the same:

- at `limit` (gc_thresh3) dynamic entries and resolutions together, or past limit/2 (gc_thresh2)
  when the last forced collection is 5 s old, a new one first forces a collection
  (neigh_forced_gc): every dynamic entry neither used nor confirmed in the last 5 s goes, oldest
  first, down to limit/2, and every resolution that failed. If the table is still full the new
  one is refused (`neighbor table full`: Linux's "neighbour table overflow"), or with `recycle`
  (VPP's) the least recently active entry makes room;
- every few seconds dynamic entries neither used nor confirmed for `age` s (gc_stale_time, 60)
  go, and failed resolutions (neigh_periodic_work). Linux spares all when it holds fewer than
  gc_thresh1 (128), which after a flood would keep up to 127 of its entries for good; here
  only use or confirmation keeps an entry, and one aged out while still wanted costs a
  request and a reply, its packets held meanwhile.

Resolutions in flight are also held to HOLD_MAX (256), the packets that can wait for them in
all: each answer to one is a neighbour to learn (a /32 in the mtrie: a few hundred us), and
the answers still queued behind a flood when it stops are learned before anything after them.

"Used" is read from the adjacency's `to` counter, which ip4-lookup keeps anyway: no per-packet
cost. Static entries count toward nothing and never age. `limit 0` lifts the bound (VPP's
meaning), `age 0` stops the ageing.
"""

from __future__ import annotations

import time

from ..arp.hold import HOLD_MAX, HOLD_TIME

LIMIT = 1024  # Linux's gc_thresh3
AGE = 60  # s, Linux's gc_stale_time
FORCED_GC_FRESH = 5.0  # s: neigh_forced_gc spares what was active this recently
FORCED_GC_EVERY = 5.0  # s: past limit/2, how often a new entry forces a collection
FORCED_GC_MIN_GAP = 0.1  # s: at the limit, a fruitless collection is not repeated sooner
FAILED_AFTER = 2 * HOLD_TIME  # s: a resolution not asked again for this long has given up
MAX_ASKED = HOLD_MAX  # resolutions in flight: no more than packets can wait for them (see below)
THROTTLE = 0.1  # s between ARP requests for the same (interface, address)


class NeighborTable:
    """Bound and ageing for Ip4Main.neighbors (resolved) and `asked` (resolutions in flight);
    Ip6Main has its own (Linux's ndisc table has the same numbers as its ARP table)."""

    def __init__(self, ip4) -> None:
        self.ip4 = ip4
        self.vm = ip4.vm
        self.limit, self.age, self.recycle = LIMIT, AGE, False
        self.asked: dict[tuple[int, int], float] = {}  # (sw_if_index, ip) -> last ARP request
        self.n_dynamic = 0
        self.last_forced = self.last_failed_scan = -1e9
        self._timer = None
        self.clock = time.monotonic  # entries' times (tests move it on)

    # ------------------------------------------------------------ admission
    def ask(self, key: tuple[int, int], now: float) -> str:
        """May ip4-glean / ip4-arp send an ARP request for `key` now? "ask", "throttled" (one
        went out less than THROTTLE ago) or "full" (no room for another resolution)."""
        last = self.asked.get(key)
        if last is not None:
            return "ask" if now - last >= THROTTLE else "throttled"
        if len(self.asked) >= MAX_ASKED and now - self.last_failed_scan >= FORCED_GC_MIN_GAP:
            self.last_failed_scan = now
            self._drop_failed(now)
        return "ask" if len(self.asked) < MAX_ASKED and self.room(now) else "full"

    def asking(self, key: tuple[int, int], now: float) -> None:
        """An ARP request for `key` went out."""
        self.asked[key] = now
        self._arm()

    def room(self, now: float) -> bool:
        """Is there room for one more dynamic entry or resolution (Linux's neigh_alloc)?"""
        if not self.limit:
            return True
        n = self.n_dynamic + len(self.asked)
        if n < self.limit // 2 or n < self.limit and now - self.last_forced < FORCED_GC_EVERY:
            return True
        if n < self.limit or now - self.last_forced >= FORCED_GC_MIN_GAP:
            self._forced_gc(now)
            if self.n_dynamic + len(self.asked) < self.limit:
                return True
        return self.recycle and self._evict_oldest(now)

    # ------------------------------------------------------------ bookkeeping (Ip4Main calls)
    def learned(self, key: tuple[int, int], new_dynamic: bool) -> None:
        self.asked.pop(key, None)
        if new_dynamic:
            self.n_dynamic += 1
            self._arm()

    def forgotten(self, was_dynamic: bool) -> None:
        if was_dynamic:
            self.n_dynamic -= 1

    # ------------------------------------------------------------ collection
    def _activity(self, now: float) -> dict[tuple[int, int], float]:
        """Last confirmation or use of every dynamic entry; use is a change of its adjacency's
        packet counter since the last look."""
        ip4 = self.ip4
        dpo = ip4.dpo
        out = {}
        for key, nb in ip4.neighbors.items():
            if nb.static:
                continue
            adj = dpo.find(("adj", key[0], key[1]))
            if adj is not None:
                pkts = int(dpo.to_pkts[adj])
                if pkts != nb.pkts:
                    nb.pkts, nb.used = pkts, now
            out[key] = max(nb.updated, nb.used)
        return out

    def _drop_failed(self, now: float) -> None:
        for key in [k for k, t in self.asked.items() if now - t > FAILED_AFTER]:
            del self.asked[key]

    def _forced_gc(self, now: float) -> None:
        self.last_forced = now
        self._drop_failed(now)
        act = self._activity(now)
        excess = self.n_dynamic + len(self.asked) - self.limit // 2
        idle = sorted((t, k) for k, t in act.items() if now - t >= FORCED_GC_FRESH)
        for _t, key in idle[:max(excess, 0)]:
            self.ip4.neighbor_del(*key)

    def _evict_oldest(self, now: float) -> bool:
        act = self._activity(now)
        if not act:
            return False
        self.ip4.neighbor_del(*min(act, key=act.get))
        return True

    def periodic(self) -> None:
        """neigh_periodic_work: failed resolutions and stale entries go."""
        self._timer = None
        now = self.clock()
        self._drop_failed(now)
        if self.age:
            for key, t in self._activity(now).items():
                if now - t >= self.age:
                    self.ip4.neighbor_del(*key)
        self._arm()

    def _arm(self) -> None:
        """A collection pass every few seconds while there is anything to collect (an engine
        with only static neighbours stays asleep)."""
        if self._timer is None and (self.n_dynamic or self.asked):
            interval = max(0.5, min(15.0, (self.age or AGE) / 4))
            self._timer = self.vm.timers.add(self.vm.now() + interval, self.periodic)

    def configure(self, limit: int | None, age: int | None, recycle: bool | None) -> None:
        if limit is not None:
            self.limit = limit
        if age is not None:
            self.age = age
            if self._timer is not None:  # re-arm at the new pace
                self.vm.timers.cancel(self._timer)
                self._timer = None
                self._arm()
        if recycle is not None:
            self.recycle = recycle
