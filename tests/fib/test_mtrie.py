"""Mtrie16_8_8 against a trivially correct reference: a dict of prefixes + a linear LPM."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vppsh.vnet.fib.mtrie import MASK, PLY, Mtrie16_8_8, prefix_mask

DEFAULT = 999
BASES = [0x0A010203, 0x0A0102FF, 0x0A01FF00, 0x0AFF0000, 0x0A000000, 0, 0xFFFFFFFF, 0x0A010280]


class Ref:
    def __init__(self) -> None:
        self.routes: dict[tuple[int, int], int] = {}

    def lpm(self, a: int, max_len: int = 32) -> tuple[int, int]:
        best = (DEFAULT, 0, -1)
        for (p, n), v in self.routes.items():
            if n <= max_len and n > best[2] and a & prefix_mask(n) == p:
                best = (v, n, n)
        return best[0], max(best[1], 0)

    def cover(self, p: int, n: int) -> tuple[int, int]:
        return self.lpm(p, n - 1) if n else (DEFAULT, 0)


def boundaries(routes) -> list[int]:
    out = []
    for p, n in routes:
        last = p | (~prefix_mask(n) & 0xFFFFFFFF)
        out += [p, (p - 1) & 0xFFFFFFFF, last, (last + 1) & 0xFFFFFFFF, p | (last - p) // 2]
    return out


def check_structure(m: Mtrie16_8_8) -> None:
    """Every live ply hangs where its parent says, and holds something more specific."""
    live = [i for i in range(1, m._top) if m.base[i]]
    assert len(live) == m.n_plies
    for i in live:
        d = int(m.base[i])
        if d == 16:
            assert m.parent[i] == -1 and m.root[m.pslot[i]] == (PLY | i)
        else:
            assert m.base[m.parent[i]] == 16 and m.leaves[m.parent[i], m.pslot[i]] == (PLY | i)
        assert (m.lens[i] > d).any()


def compare(m: Mtrie16_8_8, ref: Ref, extra: list[int]) -> None:
    addrs = np.array(boundaries(ref.routes) + extra + BASES, np.uint32)
    got = m.lookup(addrs)
    assert got.dtype == np.uint32
    want = [ref.lpm(int(a))[0] for a in addrs]
    assert got.tolist() == want
    assert [m.lookup_one(int(a)) for a in addrs] == want


addr_st = st.one_of(st.sampled_from(BASES), st.integers(0, 0xFFFFFFFF))
prefix_st = st.tuples(addr_st, st.integers(0, 32)).map(lambda t: (t[0] & prefix_mask(t[1]), t[1]))
op_st = st.tuples(st.sampled_from(["add", "add", "del"]), prefix_st, st.integers(0, 40))


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=st.lists(op_st, max_size=30), probes=st.lists(st.integers(0, 0xFFFFFFFF), max_size=20),
       pick=st.randoms(use_true_random=False))
def test_random_adds_and_deletes_match_reference(ops, probes, pick):
    m, ref = Mtrie16_8_8(DEFAULT), Ref()
    for op, (p, n), v in ops:
        if op == "del" and ref.routes and pick.random() < 0.8:
            p, n = pick.choice(sorted(ref.routes))  # mostly delete something that exists
        if op == "add":
            m.add(p, n, v)
            ref.routes[(p, n)] = v
        elif (p, n) in ref.routes:
            del ref.routes[(p, n)]
            m.delete(p, n, *ref.cover(p, n))
    compare(m, ref, probes)
    check_structure(m)
    # deleting everything that is left (in random order) gives back an empty trie
    for p, n in pick.sample(sorted(ref.routes), len(ref.routes)):
        del ref.routes[(p, n)]
        m.delete(p, n, *ref.cover(p, n))
    assert m.n_plies == 0
    assert (m.root == DEFAULT).all() and (m.root_len == 0).all()


@settings(max_examples=60, deadline=None)
@given(pre=st.lists(st.tuples(prefix_st, st.integers(0, 40)), max_size=12),
       plen=st.integers(0, 32), bulk=st.lists(st.tuples(addr_st, st.integers(0, 40)), max_size=40))
def test_add_many_and_delete_many_equal_one_by_one(pre, plen, bulk):
    a, b, ref = Mtrie16_8_8(DEFAULT), Mtrie16_8_8(DEFAULT), Ref()
    for (p, n), v in pre:
        a.add(p, n, v), b.add(p, n, v)
        ref.routes[(p, n)] = v
    addrs = np.array([x for x, _ in bulk], np.uint32)
    vals = np.array([v for _, v in bulk], np.uint32)
    a.add_many(addrs, plen, vals)
    for x, v in bulk:
        b.add(x, plen, v)
        ref.routes[(x & prefix_mask(plen), plen)] = v
    probes = boundaries(ref.routes)
    assert a.lookup(np.array(probes, np.uint32)).tolist() == b.lookup(np.array(probes, np.uint32)).tolist()
    compare(a, ref, [])
    # bulk delete with per-prefix covers
    gone = sorted({x & prefix_mask(plen) for x, _ in bulk})
    for p in gone:
        del ref.routes[(p, plen)]
    covers = np.array([ref.cover(p, plen) for p in gone], np.int64).reshape(-1, 2)
    a.delete_many(np.array(gone, np.uint32), plen, covers[:, 0], covers[:, 1])
    compare(a, ref, [])
    check_structure(a)


def test_longer_prefix_survives_shorter_and_delete_restores_cover():
    m = Mtrie16_8_8(7)
    m.add(0x0A010203, 32, 1)
    m.add(0x0A010200, 24, 2)
    m.add(0x0A000000, 8, 3)  # added after the more specifics: must not overwrite them
    assert m.lookup(np.array([0x0A010203, 0x0A010204, 0x0A020000, 0x0B000000], np.uint32)).tolist() == [1, 2, 3, 7]
    assert m.n_plies == 2  # one /16-ply, one /24-ply
    m.delete(0x0A010203, 32, 2, 24)
    assert m.lookup_one(0x0A010203) == 2 and m.n_plies == 1  # the /24-ply became uniform: freed
    m.delete(0x0A010200, 24, 3, 8)
    assert m.lookup_one(0x0A010203) == 3 and m.n_plies == 0
    m.delete(0x0A000000, 8, 7, 0)
    assert m.lookup_one(0x0A010203) == 7


def test_freed_plies_are_reused_and_memory_tracks_them():
    m = Mtrie16_8_8()
    base = m.memory()
    m.add(0x01020304, 32, 5)
    assert m.n_plies == 2 and m.memory() > base
    m.delete(0x01020304, 32, 0, 0)
    assert m.n_plies == 0 and m.memory() == base
    m.add(0x05060708, 32, 6)
    assert m._top == 3  # ply indices 1 and 2 came back from the free list


def test_bulk_slash32_builds_the_expected_plies_and_grows():
    m = Mtrie16_8_8(capacity=2)
    addrs = np.arange(0x01000000, 0x01000000 + 70000, dtype=np.uint32)
    m.add_many(addrs, 32, np.arange(70000) + 1)
    assert m.n_plies == 2 + (70000 + 255) // 256  # two /16-plies, one /24-ply per 256
    assert (m.lookup(addrs) == np.arange(70000) + 1).all()
    assert m.lookup_one(0x01000000 + 70000) == 0


def test_dump_layout():
    m = Mtrie16_8_8()
    m.add(0x0A010203, 32, 3)
    m.add(0x0B000000, 15, 4)
    lines = m.dump()
    assert lines[0].startswith("16-8-8: 3 plies, memory usage ")
    assert lines[1:] == [
        "root-ply",
        "    10.1.0.0/16 next ply 1",
        "        ply index 1, 1 non-empty leaves",
        "            10.1.2.0/24 next ply 2",
        "                ply index 2, 1 non-empty leaves",
        "                    10.1.2.3/32 lb-index 3",
        "    11.0.0.0/15 lb-index 4",
        "    11.1.0.0/15 lb-index 4",
    ]
    assert m.dump(limit=3)[-1] == "..." and len(m.dump(limit=3)) == 5
    assert m.dump(verbose=False) == lines[:1]


def test_rejects_bad_input():
    import pytest

    m = Mtrie16_8_8()
    with pytest.raises(ValueError, match="Invalid prefix len: 33"):
        m.add(0, 33, 1)
    with pytest.raises(ValueError):
        m.add(0, 8, MASK + 1)
    with pytest.raises(ValueError):
        m.delete(0x0A000000, 8, 1, 8)
