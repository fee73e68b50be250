"""VPP's 16-8-8 IPv4 mtrie held in numpy arrays, so looking up a whole frame is three gathers.

Layout as in src/vnet/ip/ip4_mtrie.c: a root ply of 2^16 leaves indexed by the top 16 bits of
the destination, then 256-leaf plies for bits 16..23 and 24..31. A leaf is either a result
(< 2^31, e.g. a load-balance index) or, with the top bit set, the index of a ply.

Beside every leaf sits the length of the prefix that wrote it (VPP's dst_address_bits_of_leaves):
an add only overwrites leaves written by a shorter-or-equal prefix, so more specifics survive;
a delete finds exactly the leaves its prefix wrote (inside its range, same length) and hands
them to the cover the caller names. A ply left with nothing longer than its own depth is freed
and its parent slot becomes a plain leaf again (VPP's n_non_empty_leafs == 0 case).

Plies are rows of one growable [n, 256] array so the data plane gathers from a flat view;
row 0 is reserved (VPP burns ply 0 too, so ply numbers in `show ip fib mtrie` start at 1).
Adds and deletes are vectorised over all prefixes of one length (`ip route add ... count N`).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from ...wire.format import format_memory_size

PLY = 0x80000000  # leaf flag: the rest is a ply index
MASK = 0x7FFFFFFF
_AR256 = np.arange(256, dtype=np.int64)
_PLY_BYTES = 256 * 4 + 256 + 1 + 8 + 8  # leaves, lens, base, parent, parent slot


def prefix_mask(plen: int) -> int:
    """Host-order netmask of a prefix length."""
    return (0xFFFFFFFF << (32 - plen)) & 0xFFFFFFFF if plen else 0


def ip4_str(a: int) -> str:
    return f"{a >> 24 & 255}.{a >> 16 & 255}.{a >> 8 & 255}.{a & 255}"


def _uniq(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """np.unique(x, return_inverse=True), without its cost for a single route."""
    if len(x) == 1:
        return x, np.zeros(1, np.intp)
    return np.unique(x, return_inverse=True)


class Mtrie16_8_8:
    """16-8-8 multiway trie: longest-prefix match of host-order uint32 addresses to results."""

    def __init__(self, default: int = 0, capacity: int = 16) -> None:
        if not 0 <= default <= MASK:
            raise ValueError(f"result {default} out of range")
        self.default = default
        self.root = np.full(1 << 16, default, np.uint32)
        self._root_mv = memoryview(self.root)
        self._leaves_mv: memoryview | None = None  # flat view of `leaves` for lookup_one
        self.root_len = np.zeros(1 << 16, np.uint8)
        cap = max(2, capacity)
        self.leaves = np.zeros((cap, 256), np.uint32)
        self.lens = np.zeros((cap, 256), np.uint8)
        self.base = np.zeros(cap, np.uint8)  # a live ply's depth: 16 or 24; 0 when free
        self.parent = np.full(cap, -1, np.int64)  # -1: hangs off the root; else the L2 ply
        self.pslot = np.zeros(cap, np.int64)  # slot in the parent
        self._top = 1  # ply 0 reserved
        self._free: list[int] = []

    # ---- data plane -------------------------------------------------------------------------
    def lookup(self, dst: np.ndarray) -> np.ndarray:
        """Results for a vector of host-order destinations: no per-packet Python."""
        d = np.asarray(dst, dtype="<u4")
        if d.ndim != 1 or not d.flags.c_contiguous:
            return self.lookup(np.ascontiguousarray(d.reshape(-1))).reshape(d.shape)
        leaf = self.root.take(d >> 16)
        if self._top - len(self._free) == 1:  # no plies at all
            return leaf
        octets = d.view(np.uint8).reshape(len(d), 4)  # little-endian: [:, 1] is bits 8-15, [:, 0] bits 0-7
        flat = self.leaves.reshape(-1)
        for k in (1, 0):
            if not len(leaf) or leaf.max() < PLY:  # every destination has its result
                return leaf
            i = leaf << 8  # (leaf & MASK) << 8: the flag bit shifts out of 32 bits
            i |= octets[:, k]
            if leaf.min() >= PLY:  # every destination goes down a ply
                leaf = flat.take(i)
            else:  # a terminal leaf makes a junk index: 'clip' keeps it in bounds, np.where drops it
                leaf = np.where(leaf >= PLY, flat.take(i, mode="clip"), leaf)
        return leaf

    def lookup_one(self, addr: int) -> int:
        """One address, in plain Python over memoryviews (numpy's scalar indexing costs more)."""
        leaf = self._root_mv[addr >> 16]
        if leaf & PLY:
            flat = self._leaves_mv
            if flat is None or flat.obj is not self.leaves:  # the plies were reallocated
                flat = self._leaves_mv = memoryview(self.leaves).cast("B").cast("I")
            leaf = flat[((leaf & MASK) << 8) | ((addr >> 8) & 255)]
            if leaf & PLY:
                leaf = flat[((leaf & MASK) << 8) | (addr & 255)]
        return leaf

    # ---- control plane ----------------------------------------------------------------------
    def add(self, addr: int, plen: int, value: int) -> None:
        """Install addr/plen -> value; more specific prefixes keep their leaves."""
        self._scalar_check(addr, plen, value)
        self._add(np.array([addr & prefix_mask(plen)], np.int64), plen, np.array([value], np.int64))

    def delete(self, addr: int, plen: int, cover_value: int, cover_len: int) -> None:
        """Remove addr/plen; its leaves go to the cover (the caller's longest shorter prefix,
        or the default with length 0), as VPP's ip4_mtrie_16_route_del."""
        self._scalar_check(addr, plen, cover_value)
        self._delete(np.array([addr & prefix_mask(plen)], np.int64), plen,
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
        if plen <= 16:
            span = 1 << (16 - plen)
            idx = ((a >> 16)[:, None] + np.arange(span)).ravel()
            self._set(self.root, self.root_len, idx, np.repeat(v, span), plen)
            return
        ur, inv = _uniq(a >> 16)
        p2 = self._ensure_plies(ur, root=True)[inv]
        k = p2 * 256 + ((a >> 8) & 255)
        if plen <= 24:
            span = 1 << (24 - plen)
        else:
            uk, inv = _uniq(k)
            k = self._ensure_plies(uk, root=False)[inv] * 256 + (a & 255)
            span = 1 << (32 - plen)
        idx = (k[:, None] + np.arange(span)).ravel()
        self._set(self.leaves.reshape(-1), self.lens.reshape(-1), idx, np.repeat(v, span), plen)

    def _delete(self, a: np.ndarray, plen: int, cv: np.ndarray, cl: np.ndarray) -> None:
        if not len(a):
            return
        if ((cl > plen) | ((cl == plen) & (plen > 0))).any():
            raise ValueError("a cover must be shorter than the prefix it covers")
        touched: list[np.ndarray] = []
        if plen <= 16:
            span = 1 << (16 - plen)
            idx = ((a >> 16)[:, None] + np.arange(span)).ravel()
            self._unset(self.root, self.root_len, idx, np.repeat(cv, span), np.repeat(cl, span),
                        plen, touched)
        else:
            flat, flen = self.leaves.reshape(-1), self.lens.reshape(-1)
            leaf = self.root[a >> 16]
            keep = leaf >= PLY  # no L2 ply: nothing this long was ever added here
            a, cv, cl = a[keep], cv[keep], cl[keep]
            k = (leaf[keep] & MASK).astype(np.int64)
            touched.append(k)
            k = k * 256 + ((a >> 8) & 255)
            if plen <= 24:
                span = 1 << (24 - plen)
            else:
                leaf = flat[k]
                keep = leaf >= PLY
                a, cv, cl = a[keep], cv[keep], cl[keep]
                k = (leaf[keep] & MASK).astype(np.int64)
                touched.append(k)
                k = k * 256 + (a & 255)
                span = 1 << (32 - plen)
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
        out = [f"16-8-8: {n} plies, memory usage {format_memory_size(self.memory())}"]
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
            yield from self._dump_leaf(int(self.root[s]), int(self.root_len[s]), int(s) << 16, 4)

    def _dump_leaf(self, leaf: int, ln: int, addr: int, indent: int) -> Iterator[str]:
        pad = " " * indent
        if not leaf & PLY:
            yield f"{pad}{ip4_str(addr)}/{ln} lb-index {leaf}"
            return
        p = leaf & MASK
        yield f"{pad}{ip4_str(addr)}/{ln} next ply {p}"
        base = int(self.base[p])
        ne = np.flatnonzero(self.lens[p] > base)
        yield f"{pad}    ply index {p}, {len(ne)} non-empty leaves"
        shift = 24 - base
        for i in ne:
            yield from self._dump_leaf(int(self.leaves[p, i]), int(self.lens[p, i]),
                                       addr + (int(i) << shift), indent + 8)

    # ---- internals --------------------------------------------------------------------------
    @staticmethod
    def _scalar_check(addr: int, plen: int, value: int) -> None:
        if not 0 <= plen <= 32:
            raise ValueError(f"Invalid prefix len: {plen}")
        if not 0 <= addr <= 0xFFFFFFFF:
            raise ValueError("address out of range")
        if not 0 <= value <= MASK:
            raise ValueError("result out of range (results are < 2^31)")

    def _prep(self, addrs, plen: int, *cols) -> tuple[np.ndarray, list[np.ndarray]]:
        """Validate; mask to the prefix; sort and de-duplicate, the last occurrence winning."""
        if not 0 <= plen <= 32:
            raise ValueError(f"Invalid prefix len: {plen}")
        a = np.asarray(addrs).astype(np.int64).ravel()
        if len(a) and (a.min() < 0 or a.max() > 0xFFFFFFFF):
            raise ValueError("address out of range")
        out = [np.broadcast_to(np.asarray(c, np.int64), a.shape) for c in cols]
        for c in out:
            if len(c) and (c.min() < 0 or c.max() > MASK):
                raise ValueError("result out of range (results are < 2^31)")
        a = a & prefix_mask(plen)
        if len(a) > 1:
            a, first = np.unique(a[::-1], return_index=True)
            out = [c[::-1][first] for c in out]
        return a, out

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
        ids = np.concatenate([np.array(reused, np.int64), np.arange(self._top, top, dtype=np.int64)])
        self._top = top
        return ids

    def _ensure_plies(self, slots: np.ndarray, root: bool) -> np.ndarray:
        """The ply under each (unique) slot of the root or of the flat L2 array; a terminal
        slot is pushed down into a new ply filled with its old leaf and length."""
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
            if root:
                self.base[ids], self.parent[ids], self.pslot[ids] = 16, -1, s
                leaves, lens = self.root, self.root_len
            else:
                self.base[ids], self.parent[ids], self.pslot[ids] = 24, s >> 8, s & 255
                leaves, lens = self.leaves.reshape(-1), self.lens.reshape(-1)
            leaves[s] = ids | PLY
            lens[s] = 16 if root else 24
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
        """Free plies with no leaf longer than their depth, deepest first; such a ply is
        uniform (every leaf is the one prefix covering it all) so its slot 0 is the parent's leaf."""
        if not touched:
            return
        cand = np.unique(np.concatenate(touched))
        freed_parents = np.zeros(0, np.int64)
        for depth in (24, 16):
            ids = cand[self.base[cand] == depth]
            if depth == 16:
                ids = np.union1d(ids, freed_parents)
            if not len(ids):
                continue
            ids = ids[~(self.lens[ids] > depth).any(axis=1)]
            if not len(ids):
                continue
            val, ln = self.leaves[ids, 0], self.lens[ids, 0]
            par, slot = self.parent[ids], self.pslot[ids]
            if depth == 24:
                self.leaves[par, slot] = val
                self.lens[par, slot] = ln
                freed_parents = np.unique(par)
            else:
                self.root[slot] = val
                self.root_len[slot] = ln
            self.base[ids] = 0
            self._free.extend(ids.tolist())
