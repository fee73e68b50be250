"""A FIB table (IPv4 or IPv6): entries by prefix, each with one DPO per source; the best source
forwards.

As in VPP (fib_entry.c, fib_source.h) several sources may hold the same prefix -- an
interface's connected /24, a CLI route, the default-route special -- and the one with the
lowest priority value wins. A DPO is opaque here: an int the caller resolves in its own table.

The table owns the data plane's trie (Mtrie16_8_8, or Ip6Mtrie for IPv6) and keeps it in step:
when the winning DPO of a prefix changes the trie is rewritten, and a prefix that loses its last
source hands its leaves to its cover (the longest shorter prefix), as
ip4_fib_16_table_fwding_dpo_remove does.

Addresses are Python ints in both families. Vectors (add_many, remove_many, lookup) take the
trie's form: host-order integers (uint32) for IPv4; (n, 16) uint8 rows of network-order bytes
for IPv6, as nodes gather them from headers (ip6_vector / ip6_ints convert).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np

from ...wire.ip6 import format_ip6
from .mtrie import Ip6Mtrie, Mtrie16_8_8, ip4_str, prefix_mask

# fib_source.h foreach_fib_source: name -> priority class (lower is better)
SOURCE_PRIORITY = {
    "special": 0x00, "classify": 0x01, "proxy": 0x02, "interface": 0x03, "SR": 0x10,
    "BIER": 0x20, "6RD": 0x30, "API": 0x80, "CLI": 0x81, "LISP": 0x90, "MAP": 0xA0,
    "DHCP": 0xB0, "IPv6-proxy-nd": 0xC0, "IPv6-nd": 0xC1, "adjacency": 0xD0, "mpls": 0xE0,
    "attached_export": 0xF0, "recursive-resolution": 0xFB, "urpf-exempt": 0xFC,
    "default-route": 0xFD, "interpose": 0xFE,
}

# ip4_fib.c ip4_specials, in VPP's creation order (so callers' per-entry DPO indices match)
SPECIALS = (
    (0x00000000, 0, "default-route"),
    (0x00000000, 32, "default-route"),
    (0xF0000000, 4, "special"),
    (0xE0000000, 4, "special"),
    (0xFFFFFFFF, 32, "default-route"),
)
# ip6_fib.c vnet_ip6_fib_init: the default route (drop) and all link-local (VPP: ip6-link-local)
SPECIALS6 = (
    (0, 0, "default-route"),
    (0xFE80 << 112, 10, "special"),
)


class FibEntry:
    """One prefix and the DPO each source gives it."""

    __slots__ = ("addr", "plen", "sources")
    fmt = staticmethod(ip4_str)

    def __init__(self, addr: int, plen: int) -> None:
        self.addr = addr
        self.plen = plen
        self.sources: dict[str, int] = {}

    @property
    def source(self) -> str:
        """The winning source (lowest priority value)."""
        return min(self.sources, key=SOURCE_PRIORITY.__getitem__)

    @property
    def dpo(self) -> int:
        return self.sources[self.source]

    @property
    def prefix(self) -> str:
        return f"{self.fmt(self.addr)}/{self.plen}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.prefix}, {self.sources})"


class Fib6Entry(FibEntry):
    """An IPv6 prefix: only its printing differs (no per-entry family field)."""

    __slots__ = ()
    fmt = staticmethod(format_ip6)


# bits -> (trie, entry class, special entries)
_FAMILY = {32: (Mtrie16_8_8, FibEntry, SPECIALS), 128: (Ip6Mtrie, Fib6Entry, SPECIALS6)}


class FibTable:
    """Control-plane table of one family, `bits` 32 (IPv4) or 128 (IPv6): per-length dicts (as
    VPP's ip4_fib_hash and ip6_fib's per-length hashes) plus the trie."""

    def __init__(self, table_id: int, fib_index: int, miss_dpo: int = 0, bits: int = 32) -> None:
        if bits not in _FAMILY:
            raise ValueError(f"a FIB is 32 or 128 bits, not {bits}")
        trie, self._entry, self._specials = _FAMILY[bits]
        self.bits = bits
        self.table_id = table_id
        self.fib_index = fib_index
        self.miss_dpo = miss_dpo  # what the trie answers where no prefix covers
        self.by_len: list[dict[int, FibEntry]] = [{} for _ in range(bits + 1)]
        self._masks = [prefix_mask(p, bits) for p in range(bits + 1)]
        self.forwarding = trie(miss_dpo)

    @classmethod
    def default(cls, drop_dpo: int | Callable[[int, int], int], table_id: int = 0,
                fib_index: int = 0, bits: int = 32) -> FibTable:
        """A table with VPP's special entries: IPv4 0/0, 0/32, 240/4, 224/4, 255.255.255.255/32,
        all drop; IPv6 ::/0 (drop) and fe80::/10 (link-local in VPP). `drop_dpo` is the DPO, or
        a function (addr, plen) -> DPO called per entry."""
        mk = drop_dpo if callable(drop_dpo) else (lambda a, p: drop_dpo)
        t = cls(table_id, fib_index, 0 if callable(drop_dpo) else drop_dpo, bits)
        for addr, plen, src in t._specials:
            t.add(addr, plen, src, mk(addr, plen))
        return t

    # ---- updates ----------------------------------------------------------------------------
    def add(self, addr: int, plen: int, source: str, dpo: int) -> FibEntry:
        """Add or replace `source`'s DPO for addr/plen (address masked to the prefix)."""
        self._check(plen, source)
        addr &= self._masks[plen]
        e = self.by_len[plen].get(addr)
        if e is None:
            e = self.by_len[plen][addr] = self._entry(addr, plen)
            old = None
        else:
            old = e.dpo
        e.sources[source] = dpo
        if e.dpo != old:
            self.forwarding.add(addr, plen, e.dpo)
        return e

    def remove(self, addr: int, plen: int, source: str) -> bool:
        """Withdraw `source` from addr/plen; True when no entry for the prefix remains."""
        self._check(plen, source)
        addr &= self._masks[plen]
        e = self.by_len[plen].get(addr)
        if e is None:
            return True
        if source not in e.sources:
            return False
        old = e.dpo
        del e.sources[source]
        if e.sources:
            if e.dpo != old:
                self.forwarding.add(addr, plen, e.dpo)
            return False
        del self.by_len[plen][addr]
        cv, cl = self._cover(addr, plen)
        self.forwarding.delete(addr, plen, cv, cl)
        return True

    def add_many(self, addrs: np.ndarray, plen: int, source: str, dpos: np.ndarray | int) -> None:
        """`ip route add <p> count N`: many prefixes of one length (addresses in the trie's
        vector form), the trie updated in bulk."""
        self._check(plen, source)
        a = self.forwarding.masked(addrs, plen)
        keys = self.forwarding.ints(a)
        d = np.broadcast_to(np.asarray(dpos, np.int64), (len(keys),))
        tbl, mk = self.by_len[plen], self._entry
        ch, ch_d = [], []  # rows whose forwarding changes, and their DPO
        for j, (addr, dpo) in enumerate(zip(keys, d.tolist())):
            e = tbl.get(addr)
            if e is None:
                e = tbl[addr] = mk(addr, plen)
                e.sources[source] = dpo
                ch.append(j)
                ch_d.append(dpo)
            else:
                old = e.dpo
                e.sources[source] = dpo
                if e.dpo != old:
                    ch.append(j)
                    ch_d.append(e.dpo)
        if ch:
            rows = a if len(ch) == len(a) else a.take(ch, axis=0)
            self.forwarding.add_many(rows, plen, np.array(ch_d, np.int64))

    def remove_many(self, addrs: np.ndarray, plen: int, source: str) -> int:
        """`ip route del <p> count N`: withdraw `source` from many prefixes; returns how many
        entries went away."""
        self._check(plen, source)
        a = self.forwarding.masked(addrs, plen)
        keys = self.forwarding.ints(a)
        tbl = self.by_len[plen]
        gone, covers, chg, chg_d = [], [], [], []  # rows, and what the trie does with them
        for j, addr in enumerate(keys):  # a repeat finds its entry gone or its source withdrawn
            e = tbl.get(addr)
            if e is None or source not in e.sources:
                continue
            old = e.dpo
            del e.sources[source]
            if not e.sources:
                del tbl[addr]
                gone.append(j)
                covers.append(self._cover(addr, plen))
            elif e.dpo != old:
                chg.append(j)
                chg_d.append(e.dpo)
        if gone:
            cv, cl = np.array(covers, np.int64).reshape(-1, 2).T
            self.forwarding.delete_many(a.take(gone, axis=0), plen, cv, cl)
        if chg:
            self.forwarding.add_many(a.take(chg, axis=0), plen, np.array(chg_d, np.int64))
        return len(gone)

    # ---- queries ----------------------------------------------------------------------------
    def exact(self, addr: int, plen: int) -> FibEntry | None:
        return self.by_len[plen].get(addr & self._masks[plen])

    def longest_match(self, addr: int, max_len: int | None = None) -> FibEntry | None:
        """The longest entry (no longer than max_len, default all) containing addr."""
        by_len, masks = self.by_len, self._masks
        for plen in range(self.bits if max_len is None else max_len, -1, -1):
            if by_len[plen]:  # most of IPv6's 129 lengths are empty: skip them unmasked
                e = by_len[plen].get(addr & masks[plen])
                if e is not None:
                    return e
        return None

    def lookup(self, dst: np.ndarray) -> np.ndarray:
        """Forwarding DPOs for a vector of destinations in the trie's form (the data plane's view)."""
        return self.forwarding.lookup(dst)

    def entries(self) -> list[FibEntry]:
        """In `show ip fib` order: ip4_fib_table_show_all sorts by address (fib_entry_cmp);
        equal addresses then by length here (VPP's address compare never says 'equal')."""
        return sorted((e for t in self.by_len for e in t.values()), key=lambda e: (e.addr, e.plen))

    def __iter__(self) -> Iterator[FibEntry]:
        return iter(self.entries())

    def __len__(self) -> int:
        return sum(len(t) for t in self.by_len)

    def prefix_lengths_summary(self) -> list[tuple[int, int]]:
        """(prefix length, count) for lengths in use, ascending: `show ip fib summary` rows."""
        return [(plen, len(t)) for plen, t in enumerate(self.by_len) if t]

    # ---- internals --------------------------------------------------------------------------
    def _cover(self, addr: int, plen: int) -> tuple[int, int]:
        """(DPO, length) of the longest entry strictly shorter than plen containing addr."""
        e = self.longest_match(addr, plen - 1) if plen else None
        return (self.miss_dpo, 0) if e is None else (e.dpo, e.plen)

    def _check(self, plen: int, source: str) -> None:
        if not 0 <= plen <= self.bits:
            raise ValueError(f"Invalid prefix len: {plen}")
        if source not in SOURCE_PRIORITY:
            raise ValueError(f"unknown FIB source {source!r}")
