"""VPP's multiway trie (ip4_mtrie.c) held in numpy arrays, so looking up a whole frame is a
handful of gathers; one implementation serves 32-bit (IPv4) and 128-bit (IPv6) keys.

Layout as in src/vnet/ip/ip4_mtrie.c: a root ply of 2^16 leaves indexed by the top 16 bits of
the destination, then 256-leaf plies, one per further octet (IPv4: 16-8-8; IPv6: 16 then up to
fourteen 8-bit plies). A leaf is either a result (< 2^31, e.g. a load-balance index) or, with
the top bit set, the index of a ply. VPP forwards IPv6 through a hash per prefix length
instead; a trie gives the same answer with a lookup cost that depends on how deep the matching
prefixes are (a /48 is five gathers) and not on how many there are.

Beside every leaf sits the length of the prefix that wrote it (VPP's dst_address_bits_of_leaves):
an add only overwrites leaves written by a shorter-or-equal prefix, so more specifics survive;
a delete finds exactly the leaves its prefix wrote (inside its range, same length) and hands
them to the cover the caller names. A ply left with nothing longer than its own depth is freed
and its parent slot becomes a plain leaf again (VPP's n_non_empty_leafs == 0 case).

Plies are rows of one growable [n, 256] array so the data plane gathers from a flat view;
row 0 is reserved (VPP burns ply 0 too, so ply numbers in `show ip fib mtrie` start at 1).
Adds and deletes are vectorised over all prefixes of one length (`ip route add ... count N`);
inside, addresses are (n, bits/8) uint8 rows of network-order octets, whatever the family's
own vector form.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np

from ...wire.format import format_memory_size
from ...wire.ip6 import format_ip6

PLY = 0x80000000  # leaf flag: the rest is a ply index
MASK = 0x7FFFFFFF
_AR256 = np.arange(256, dtype=np.int64)
_PLY_BYTES = 256 * 4 + 256 + 1 + 8 + 8  # leaves, lens, base, parent, parent slot


def prefix_mask(plen: int, bits: int = 32) -> int:
    """Host-order netmask of a prefix length."""
    return ((1 << bits) - 1) ^ ((1 << (bits - plen)) - 1)


def ip4_str(a: int) -> str:
    return f"{a >> 24 & 255}.{a >> 16 & 255}.{a >> 8 & 255}.{a & 255}"


def ip6_vector(addrs: Iterable[int]) -> np.ndarray:
    """IPv6 addresses as Python ints to the (n, 16) uint8 network-order rows the data plane uses."""
    return np.frombuffer(b"".join(a.to_bytes(16, "big") for a in addrs), np.uint8).reshape(-1, 16)


def ip6_ints(vec: np.ndarray) -> list[int]:
    """(n, 16) uint8 network-order rows back to Python ints."""
    hi, lo = np.ascontiguousarray(vec, np.uint8).reshape(-1, 16).view(">u8").T.tolist()
    return [h << 64 | lo_ for h, lo_ in zip(hi, lo)]


def _uniq(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """np.unique(x, return_inverse=True), without its cost for a single route."""
    if len(x) == 1:
        return x, np.zeros(1, np.intp)
    return np.unique(x, return_inverse=True)


def _increasing(a: np.ndarray) -> bool:
    """Whether network-order uint8 rows are strictly increasing, so unique: a `count` range
    is, and skips the sort."""
    w = a.view(f">u{min(a.shape[1], 8)}")
    gt = w[1:, -1] > w[:-1, -1]
    for j in range(w.shape[1] - 2, -1, -1):
        gt = (w[1:, j] > w[:-1, j]) | ((w[1:, j] == w[:-1, j]) & gt)
    return bool(gt.all())


class Mtrie:
    """Multiway trie over `bits`-bit keys. A family subclass gives the vector forms: `lookup`
    (its destinations), `masked` (its addresses validated and masked to a prefix), `_octets`
    (those as network-order uint8 rows) and `ints` (those as Python ints)."""

    bits = 0  # key width: 32 or 128
    fmt = staticmethod(str)  # an address as `show` prints it

    def __init__(self, default: int = 0, capacity: int = 16) -> None:
        if not 0 <= default <= MASK:
            raise ValueError(f"result {default} out of range")
        self.default = default
        self.root = np.full(1 << 16, default, np.uint32)
        self.root_len = np.zeros(1 << 16, np.uint8)
        self._root_mv, self._root_len_mv = memoryview(self.root), memoryview(self.root_len)
        cap = max(2, capacity)
        self.leaves = np.zeros((cap, 256), np.uint32)
        self.lens = np.zeros((cap, 256), np.uint8)
        self.base = np.zeros(cap, np.uint8)  # a live ply's depth: 16, 24, ...; 0 when free
        self.parent = np.full(cap, -1, np.int64)  # -1: hangs off the root; else the parent ply
        self.pslot = np.zeros(cap, np.int64)  # slot in the parent
        self._flat_views()
        self._top = 1  # ply 0 reserved
        self._free: list[int] = []

    # ---- data plane -------------------------------------------------------------------------
    def _walk(self, leaf: np.ndarray, octets: Iterable[np.ndarray]) -> np.ndarray:
        """From the root leaves down the plies, one octet column a level, until every
        destination holds a result: no per-packet Python."""
        if self._top - len(self._free) == 1 or not len(leaf):  # no plies at all
            return leaf
        flat = self.leaves.reshape(-1)
        for col in octets:
            # (x[x.argmin()] costs a quarter of x.min() on a frame: numpy's reduce overhead)
            all_plies = leaf[leaf.argmin()] >= PLY
            if not all_plies and leaf[leaf.argmax()] < PLY:  # every destination has its result
                return leaf
            i = leaf << 8  # (leaf & MASK) << 8: the flag bit shifts out of 32 bits
            i |= col
            if all_plies:
                leaf = flat.take(i)
            else:  # a terminal leaf makes a junk index: 'clip' keeps it in bounds, np.where drops it
                leaf = np.where(leaf >= PLY, flat.take(i, mode="clip"), leaf)
        return leaf

    def lookup_one(self, addr: int) -> int:
        """One address, in plain Python over memoryviews (numpy's scalar indexing costs more)."""
        shift = self.bits - 16
        leaf = self._root_mv[addr >> shift]
        while leaf & PLY:
            shift -= 8
            leaf = self._leaves_mv[((leaf & MASK) << 8) | ((addr >> shift) & 255)]
        return leaf

    # ---- control plane ----------------------------------------------------------------------
    def add(self, addr: int, plen: int, value: int) -> None:
        """Install addr/plen -> value; more specific prefixes keep their leaves."""
        self._scalar_check(addr, plen, value)
        if not self._add_leaf(addr & prefix_mask(plen, self.bits), plen, value):
            self._add(self._one(addr, plen), plen, np.array([value], np.int64))

    def _add_leaf(self, addr: int, plen: int, value: int) -> bool:
        """The common single add in plain Python, a tenth of the vector path's cost (an
        adjacency's /32 or /128, a /24 or /48 under existing plies): when the prefix is
        exactly one terminal leaf of a ply that exists. False: the vector path must do it."""
        if plen & 7 or plen < 16:
            return False
        shift = self.bits - 16
        leaves, lens, i = self._root_mv, self._root_len_mv, addr >> shift
        for _ in range((plen - 16) >> 3):
            leaf = leaves[i]
            if not leaf & PLY:
                return False
            shift -= 8
            leaves, lens, i = self._leaves_mv, self._lens_mv, ((leaf & MASK) << 8) | ((addr >> shift) & 255)
        if leaves[i] & PLY:
            return False  # more specifics below: _set keeps them
        leaves[i], lens[i] = value, plen  # (a terminal leaf here is no longer than plen)
        return True

    def delete(self, addr: int, plen: int, cover_value: int, cover_len: int) -> None:
        """Remove addr/plen; its leaves go to the cover (the caller's longest shorter prefix,
        or the default with length 0), as VPP's ip4_mtrie_16_route_del."""
        self._scalar_check(addr, plen, cover_value)
        self._delete(self._one(addr, plen), plen,
                     np.array([cover_value], np.int64), np.array([cover_len], np.int64))

    def add_many(self, addrs: np.ndarray, plen: int, values: np.ndarray | int) -> None:
        """Install many prefixes of one length at once (`ip route add ... count N`).
        Same-length prefixes are disjoint, so this equals adding them in order (last wins)."""
        a, (v,) = self._prep(addrs, plen, values)
        self._add(a, plen, v)

    def delete_many(self, addrs: np.ndarray, plen: int, cover_values: np.ndarray | int,
                    cover_lens: np.ndarray | int) -> None:
        """Remove many prefixes of one length, each with its own cover value and length."""
        a, (cv, cl) = self._prep(addrs, plen, cover_values, cover_lens)
        self._delete(a, plen, cv, cl)

    def _add(self, a: np.ndarray, plen: int, v: np.ndarray) -> None:
        if not len(a):
            return
        r = a.view(">u2")[:, 0].astype(np.int64)  # the root slots: top 16 bits
        if plen <= 16:
            span = 1 << (16 - plen)
            idx = (r[:, None] + np.arange(span)).ravel()
            self._set(self.root, self.root_len, idx, np.repeat(v, span), plen)
            return
        ur, inv = _uniq(r)
        k, depth = self._ensure_plies(ur, 16)[inv], 16
        while True:  # k: the ply at `depth` on each prefix's path
            k = k * 256 + a[:, depth >> 3]
            if plen <= depth + 8:
                break
            uk, inv = _uniq(k)
            k, depth = self._ensure_plies(uk, depth + 8)[inv], depth + 8
        span = 1 << (depth + 8 - plen)
        idx = (k[:, None] + np.arange(span)).ravel()
        self._set(self.leaves.reshape(-1), self.lens.reshape(-1), idx, np.repeat(v, span), plen)

    def _delete(self, a: np.ndarray, plen: int, cv: np.ndarray, cl: np.ndarray) -> None:
        if not len(a):
            return
        if ((cl > plen) | ((cl == plen) & (plen > 0))).any():
            raise ValueError("a cover must be shorter than the prefix it covers")
        touched: list[np.ndarray] = []
        r = a.view(">u2")[:, 0].astype(np.int64)  # the root slots: top 16 bits
        if plen <= 16:
            span = 1 << (16 - plen)
            idx = (r[:, None] + np.arange(span)).ravel()
            self._unset(self.root, self.root_len, idx, np.repeat(cv, span), np.repeat(cl, span),
                        plen, touched)
        else:
            flat, flen = self.leaves.reshape(-1), self.lens.reshape(-1)
            leaf, depth = self.root[r], 16
            while True:
                keep = leaf >= PLY  # no ply here: nothing this long was ever added
                if not keep.all():  # (2-D boolean indexing is slow: compress)
                    a, cv, cl, leaf = (x.compress(keep, axis=0) for x in (a, cv, cl, leaf))
                k = (leaf & MASK).astype(np.int64)
                touched.append(k)
                k = k * 256 + a[:, depth >> 3]
                if plen <= depth + 8:
                    break
                leaf, depth = flat[k], depth + 8
            span = 1 << (depth + 8 - plen)
            idx = (k[:, None] + np.arange(span)).ravel()
            self._unset(flat, flen, idx, np.repeat(cv, span), np.repeat(cl, span), plen, touched)
        self._reclaim(touched)

    # ---- introspection ----------------------------------------------------------------------
    @property
    def n_plies(self) -> int:
        """Live 8-bit plies (the reserved ply 0 not counted)."""
        return self._top - 1 - len(self._free)

    def memory(self) -> int:
        """Bytes used: the root ply plus every live 8-bit ply."""
        return self.root.nbytes + self.root_len.nbytes + self.n_plies * _PLY_BYTES

    def dump(self, limit: int | None = None, verbose: bool = True,
             plies: int | None = None) -> list[str]:
        """`show ip fib mtrie` lines in VPP's layout (format_ip4_mtrie_16). VPP's ply count is
        its global pool's, burnt ply 0 included: pass `plies` to override n_plies + 1."""
        n = self.n_plies + 1 if plies is None else plies
        layout = "-".join(["16"] + ["8"] * ((self.bits - 16) // 8))
        out = [f"{layout}: {n} plies, memory usage {format_memory_size(self.memory())}"]
        if not verbose:
            return out
        for i, line in enumerate(self._dump_root()):
            if limit is not None and i >= limit:
                out.append("...")
                break
            out.append(line)
        return out

    def _dump_root(self) -> Iterator[str]:
        yield "root-ply"
        for s in np.flatnonzero(self.root_len):
            yield from self._dump_leaf(int(self.root[s]), int(self.root_len[s]),
                                       int(s) << (self.bits - 16), 4)

    def _dump_leaf(self, leaf: int, ln: int, addr: int, indent: int) -> Iterator[str]:
        pad = " " * indent
        if not leaf & PLY:
            yield f"{pad}{self.fmt(addr)}/{ln} lb-index {leaf}"
            return
        p = leaf & MASK
        yield f"{pad}{self.fmt(addr)}/{ln} next ply {p}"
        base = int(self.base[p])
        ne = np.flatnonzero(self.lens[p] > base)
        yield f"{pad}    ply index {p}, {len(ne)} non-empty leaves"
        shift = self.bits - 8 - base
        for i in ne:
            yield from self._dump_leaf(int(self.leaves[p, i]), int(self.lens[p, i]),
                                       addr + (int(i) << shift), indent + 8)

    # ---- internals --------------------------------------------------------------------------
    def _scalar_check(self, addr: int, plen: int, value: int) -> None:
        if not 0 <= plen <= self.bits:
            raise ValueError(f"Invalid prefix len: {plen}")
        if not 0 <= addr < 1 << self.bits:
            raise ValueError("address out of range")
        if not 0 <= value <= MASK:
            raise ValueError("result out of range (results are < 2^31)")

    def _one(self, addr: int, plen: int) -> np.ndarray:
        """One address masked to plen, as a (1, bits/8) octet row."""
        a = (addr & prefix_mask(plen, self.bits)).to_bytes(self.bits >> 3, "big")
        return np.frombuffer(a, np.uint8).reshape(1, -1)

    def _prep(self, addrs, plen: int, *cols) -> tuple[np.ndarray, list[np.ndarray]]:
        """Validate; mask to the prefix; to octet rows; de-duplicate, the last occurrence winning."""
        if not 0 <= plen <= self.bits:
            raise ValueError(f"Invalid prefix len: {plen}")
        a = self._octets(self.masked(addrs, plen))
        out = [np.broadcast_to(np.asarray(c, np.int64), a.shape[:1]) for c in cols]
        for c in out:
            if len(c) and (c.min() < 0 or c.max() > MASK):
                raise ValueError("result out of range (results are < 2^31)")
        if len(a) > 1 and not _increasing(a):
            nb = a.shape[1]  # rows of network-order octets sort as the addresses do
            key = a.view(f">u{nb}").ravel().astype(np.uint64) if nb <= 8 else \
                a.view(np.dtype((np.void, nb))).ravel()
            _, first = np.unique(key[::-1], return_index=True)
            first = len(a) - 1 - first  # (take: 2-D fancy indexing is slow)
            a, out = a.take(first, axis=0), [c[first] for c in out]
        return a, out

    def _flat_views(self) -> None:
        """Flat memoryviews of the plies for the scalar paths (cheaper than numpy's scalar
        indexing); renewed whenever the ply arrays are reallocated."""
        self._leaves_mv = memoryview(self.leaves).cast("B").cast("I")
        self._lens_mv = memoryview(self.lens).cast("B")

    def _alloc(self, k: int) -> np.ndarray:
        """k ply indices, reusing freed ones first; grows the arrays geometrically."""
        take = min(k, len(self._free))
        reused = self._free[len(self._free) - take:]
        del self._free[len(self._free) - take:]
        top = self._top + k - take
        if top > 1 << 24:  # ply index << 8 must fit the uint32 gather index
            raise MemoryError("mtrie: more than 2^24 plies")
        cap = len(self.base)
        if top > cap:
            cap = max(top, 2 * cap)
            for name in ("leaves", "lens", "base", "parent", "pslot"):
                old = getattr(self, name)
                new = np.zeros((cap,) + old.shape[1:], old.dtype)
                new[: len(old)] = old
                setattr(self, name, new)
            self._flat_views()
        ids = np.concatenate([np.array(reused, np.int64), np.arange(self._top, top, dtype=np.int64)])
        self._top = top
        return ids

    def _ensure_plies(self, slots: np.ndarray, depth: int) -> np.ndarray:
        """The ply under each (unique) slot of the root (depth 16) or of the flat ply array;
        a terminal slot is pushed down into a new ply filled with its old leaf and length."""
        root = depth == 16
        leaves, lens = (self.root, self.root_len) if root else (
            self.leaves.reshape(-1), self.lens.reshape(-1))
        leaf = leaves[slots]
        new = leaf < PLY
        if new.any():
            s = slots[new]
            ln = lens[s]
            ids = self._alloc(len(s))  # may reallocate the ply arrays
            self.leaves[ids] = leaf[new][:, None]
            self.lens[ids] = ln[:, None]
            self.base[ids] = depth
            if root:
                self.parent[ids], self.pslot[ids] = -1, s
                leaves, lens = self.root, self.root_len
            else:
                self.parent[ids], self.pslot[ids] = s >> 8, s & 255
                leaves, lens = self.leaves.reshape(-1), self.lens.reshape(-1)
            leaves[s] = ids | PLY
            lens[s] = depth
            leaf = leaves[slots]
        return (leaf & MASK).astype(np.int64)

    def _set(self, leaves, lens, idx, vals, plen: int) -> None:
        """Write vals where the slot's leaf came from a prefix no longer than plen; descend
        into plies (a shorter prefix fills their cover leaves, as set_ply_with_more_specific_leaf)."""
        leaf = leaves[idx]
        sub = leaf >= PLY
        upd = ~sub & (lens[idx] <= plen)
        if upd.all():
            leaves[idx] = vals
            lens[idx] = plen
            return
        i = idx[upd]
        leaves[i] = vals[upd]
        lens[i] = plen
        if sub.any():
            ids = (leaf[sub] & MASK).astype(np.int64)
            self._set(self.leaves.reshape(-1), self.lens.reshape(-1),
                      (ids[:, None] * 256 + _AR256).ravel(), np.repeat(vals[sub], 256), plen)

    def _unset(self, leaves, lens, idx, cv, cl, plen: int, touched: list) -> None:
        """Give leaves written by this prefix (same length, inside its range) to the cover."""
        leaf = leaves[idx]
        sub = leaf >= PLY
        hit = ~sub & (lens[idx] == plen)
        i = idx[hit]
        leaves[i] = cv[hit]
        lens[i] = cl[hit]
        if sub.any():
            ids = (leaf[sub] & MASK).astype(np.int64)
            touched.append(ids)
            self._unset(self.leaves.reshape(-1), self.lens.reshape(-1),
                        (ids[:, None] * 256 + _AR256).ravel(), np.repeat(cv[sub], 256),
                        np.repeat(cl[sub], 256), plen, touched)

    def _reclaim(self, touched: list[np.ndarray]) -> None:
        """Free plies with no leaf longer than their depth; such a ply is uniform (every leaf
        is the one prefix covering it all) so its slot 0 is the parent's leaf. Deepest first,
        as freeing a ply may empty its parent: `touched` holds every ply on each path walked,
        so that parent is a candidate too."""
        if not touched:
            return
        cand = np.unique(np.concatenate(touched))
        for depth in range(self.bits - 8, 15, -8):
            ids = cand[self.base[cand] == depth]
            ids = ids[~(self.lens[ids] > depth).any(axis=1)]
            if not len(ids):
                continue
            val, ln = self.leaves[ids, 0], self.lens[ids, 0]
            par, slot = self.parent[ids], self.pslot[ids]
            if depth > 16:
                self.leaves[par, slot] = val
                self.lens[par, slot] = ln
            else:
                self.root[slot] = val
                self.root_len[slot] = ln
            self.base[ids] = 0
            self._free.extend(ids.tolist())


class Mtrie16_8_8(Mtrie):
    """IPv4: longest-prefix match of host-order uint32 addresses to results."""

    bits = 32
    fmt = staticmethod(ip4_str)

    def lookup(self, dst: np.ndarray) -> np.ndarray:
        """Results for a vector of host-order destinations: three gathers at most."""
        d = np.asarray(dst, dtype="<u4")
        if d.ndim != 1 or not d.flags.c_contiguous:
            return self.lookup(np.ascontiguousarray(d.reshape(-1))).reshape(d.shape)
        leaf = self.root.take(d >> 16)
        octets = d.view(np.uint8).reshape(len(d), 4)  # little-endian: [:, 1] is bits 8-15, [:, 0] bits 0-7
        return self._walk(leaf, (octets[:, 1], octets[:, 0]))

    def lookup_one(self, addr: int) -> int:
        """Mtrie.lookup_one unrolled for the three levels: a quarter faster, and fast1 (the
        one-packet path) does one per packet."""
        leaf = self._root_mv[addr >> 16]
        if leaf & PLY:
            flat = self._leaves_mv
            leaf = flat[((leaf & MASK) << 8) | ((addr >> 8) & 255)]
            if leaf & PLY:
                leaf = flat[((leaf & MASK) << 8) | (addr & 255)]
        return leaf

    @classmethod
    def masked(cls, addrs, plen: int) -> np.ndarray:
        """Host-order ints (any integer array) as int64, masked."""
        a = np.asarray(addrs).astype(np.int64).ravel()
        if len(a) and (a.min() < 0 or a.max() > 0xFFFFFFFF):
            raise ValueError("address out of range")
        return a & prefix_mask(plen)

    @staticmethod
    def _octets(vec: np.ndarray) -> np.ndarray:
        return vec.astype(">u4").view(np.uint8).reshape(-1, 4)

    @staticmethod
    def ints(vec: np.ndarray) -> list[int]:
        return vec.tolist()


class Ip6Mtrie(Mtrie):
    """IPv6: longest-prefix match of (n, 16) uint8 network-order addresses (as nodes gather
    them from headers) to results; a 2^16 root then 8-bit plies, fifteen levels at most."""

    bits = 128
    fmt = staticmethod(format_ip6)

    def lookup(self, dst: np.ndarray) -> np.ndarray:
        """Results for (..., 16) uint8 destinations; the walk stops when all have a result,
        so /48 routes cost five gathers."""
        d = np.asarray(dst, np.uint8)
        if d.shape[-1:] != (16,):
            raise ValueError("IPv6 destinations are (n, 16) uint8 rows")
        if d.ndim != 2 or not d.flags.c_contiguous:
            return self.lookup(np.ascontiguousarray(d.reshape(-1, 16))).reshape(d.shape[:-1])
        leaf = self.root.take(d.view(">u2")[:, 0].astype(np.intp))
        return self._walk(leaf, d.T[2:])

    @classmethod
    def masked(cls, addrs, plen: int) -> np.ndarray:
        """(n, 16) uint8 network-order rows (or one (16,) row), masked: a new array."""
        a = np.asarray(addrs)
        if a.dtype != np.uint8 or a.shape[-1:] != (16,):
            raise ValueError("IPv6 addresses are (n, 16) uint8 rows")
        m = np.frombuffer(prefix_mask(plen, 128).to_bytes(16, "big"), np.uint8)
        return a.reshape(-1, 16) & m

    @staticmethod
    def _octets(vec: np.ndarray) -> np.ndarray:
        return vec

    ints = staticmethod(ip6_ints)
