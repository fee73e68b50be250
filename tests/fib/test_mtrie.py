"""Mtrie16_8_8 and Ip6Mtrie against a trivially correct reference: a dict of prefixes + a linear
longest-prefix match over Python ints."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vppsh.vnet.fib.mtrie import (
    MASK,
    PLY,
    Ip6Mtrie,
    Mtrie16_8_8,
    ip6_ints,
    ip6_vector,
    prefix_mask,
)

DEFAULT = 999
BASES = {
    32: [0x0A010203, 0x0A0102FF, 0x0A01FF00, 0x0AFF0000, 0x0A000000, 0, 0xFFFFFFFF, 0x0A010280],
    128: [0x20010DB8 << 96, (0x20010DB8 << 96) | (0xABCD << 64) | 0x1234, (0x20010DB8 << 96) | 1,
          (0x20010DB8FFFF << 80), 0xFE80 << 112, 0, (1 << 128) - 1, (0x20010DB8 << 96) | (1 << 63)],
}
TRIE = {32: Mtrie16_8_8, 128: Ip6Mtrie}
VEC = {32: lambda xs: np.array(xs, np.uint32), 128: ip6_vector}  # the lookup's input form


class Ref:
    def __init__(self, bits: int = 32) -> None:
        self.bits = bits
        self.routes: dict[tuple[int, int], int] = {}

    def lpm(self, a: int, max_len: int | None = None) -> tuple[int, int]:
        best = (DEFAULT, 0, -1)
        for (p, n), v in self.routes.items():
            if n <= (self.bits if max_len is None else max_len) and n > best[2] \
                    and a & prefix_mask(n, self.bits) == p:
                best = (v, n, n)
        return best[0], max(best[1], 0)

    def cover(self, p: int, n: int) -> tuple[int, int]:
        return self.lpm(p, n - 1) if n else (DEFAULT, 0)


def boundaries(routes, bits: int = 32) -> list[int]:
    out, top = [], (1 << bits) - 1
    for p, n in routes:
        last = p | (~prefix_mask(n, bits) & top)
        out += [p, (p - 1) & top, last, (last + 1) & top, p | (last - p) // 2]
    return out


def check_structure(m) -> None:
    """Every live ply hangs where its parent says, and holds something more specific."""
    live = [i for i in range(1, m._top) if m.base[i]]
    assert len(live) == m.n_plies
    for i in live:
        d = int(m.base[i])
        if d == 16:
            assert m.parent[i] == -1 and m.root[m.pslot[i]] == (PLY | i)
        else:
            assert m.base[m.parent[i]] == d - 8 and m.leaves[m.parent[i], m.pslot[i]] == (PLY | i)
        assert (m.lens[i] > d).any()


def compare(m, ref: Ref, extra: list[int]) -> None:
    addrs = boundaries(ref.routes, ref.bits) + extra + BASES[ref.bits]
    got = m.lookup(VEC[ref.bits](addrs))
    assert got.dtype == np.uint32
    want = [ref.lpm(a)[0] for a in addrs]
    assert got.tolist() == want
    assert [m.lookup_one(a) for a in addrs] == want


def addrs_near(bits: int):
    """Addresses that often share long prefixes: a base with its low bits (below a random
    point) flipped, a base, or anything."""
    top = (1 << bits) - 1
    base = st.sampled_from(BASES[bits])
    return st.one_of(base, st.integers(0, top),
                     st.tuples(base, st.integers(0, bits), st.integers(0, top)).map(
                         lambda t: t[0] ^ (t[2] >> t[1])))


def prefixes(bits: int):
    """Prefix lengths 0..bits, weighted to the ply edges (and /127, /128 for IPv6)."""
    edges = st.sampled_from(sorted({0, 1, 15, 16, 17, 23, 24, 25, 31, 32, bits - 1, bits}
                                   | ({47, 48, 49, 63, 64, 65, 120} if bits == 128 else set())))
    return st.tuples(addrs_near(bits), st.one_of(edges, st.integers(0, bits))).map(
        lambda t: (t[0] & prefix_mask(t[1], bits), t[1]))


def ops(bits: int):
    return st.lists(st.tuples(st.sampled_from(["add", "add", "del"]), prefixes(bits),
                              st.integers(0, 40)), max_size=30)


@pytest.mark.parametrize("bits", [32, 128])
@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), pick=st.randoms(use_true_random=False))
def test_random_adds_and_deletes_match_reference(bits, data, pick):
    ops_ = data.draw(ops(bits), "ops")
    probes = data.draw(st.lists(addrs_near(bits), max_size=20), "probes")
    m, ref = TRIE[bits](DEFAULT), Ref(bits)
    for op, (p, n), v in ops_:
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


@pytest.mark.parametrize("bits", [32, 128])
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_add_many_and_delete_many_equal_one_by_one(bits, data):
    """Bulk adds (unsorted, with duplicates: the last wins) equal one-by-one adds; bulk deletes,
    each prefix with its own cover, leave what the reference says."""
    pre = data.draw(st.lists(st.tuples(prefixes(bits), st.integers(0, 40)), max_size=12), "pre")
    plen = data.draw(st.integers(0, bits), "plen")
    bulk = data.draw(st.lists(st.tuples(addrs_near(bits), st.integers(0, 40)), max_size=40), "bulk")
    vec = VEC[bits]
    a, b, ref = TRIE[bits](DEFAULT), TRIE[bits](DEFAULT), Ref(bits)
    for (p, n), v in pre:
        a.add(p, n, v), b.add(p, n, v)
        ref.routes[(p, n)] = v
    a.add_many(vec([x for x, _ in bulk]), plen, np.array([v for _, v in bulk], np.uint32))
    for x, v in bulk:
        b.add(x, plen, v)
        ref.routes[(x & prefix_mask(plen, bits), plen)] = v
    probes = vec(boundaries(ref.routes, bits))
    assert a.lookup(probes).tolist() == b.lookup(probes).tolist()
    compare(a, ref, [])
    # bulk delete with per-prefix covers
    gone = sorted({x & prefix_mask(plen, bits) for x, _ in bulk})
    for p in gone:
        del ref.routes[(p, plen)]
    covers = np.array([ref.cover(p, plen) for p in gone], np.int64).reshape(-1, 2)
    a.delete_many(vec(gone), plen, covers[:, 0], covers[:, 1])
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


# ---- IPv6 ---------------------------------------------------------------------------------
DB8 = 0x20010DB8 << 96  # 2001:db8::


def test_ip6_host_routes_walk_all_fifteen_levels_and_free_on_delete():
    m = Ip6Mtrie(7)
    host, pair = DB8 | 0xABCD, DB8 | 0xABCE  # a /128 and the /127 beside it
    m.add(host, 128, 1)
    assert m.n_plies == 14  # one ply per octet below the root
    m.add(pair, 127, 2)
    m.add(DB8, 64, 3)
    probe = [host, host ^ 1, pair, pair | 1, pair + 2, DB8, DB8 | (1 << 64), DB8 - 1]
    want = [1, 3, 2, 2, 3, 3, 7, 7]
    assert m.lookup(ip6_vector(probe)).tolist() == want
    assert [m.lookup_one(a) for a in probe] == want
    m.delete(host, 128, 3, 64)
    assert m.lookup_one(host) == 3 and m.lookup_one(pair) == 2 and m.n_plies == 14
    m.delete(pair, 127, 3, 64)
    assert m.n_plies == 6  # down to the /64's ply at bits 56..63
    m.delete(DB8, 64, 7, 0)
    assert m.n_plies == 0 and (m.root == 7).all()


def test_ip6_lookup_takes_packet_header_slices_of_any_shape():
    m = Ip6Mtrie()
    m.add(DB8, 32, 4)
    m.add(DB8 | (5 << 80), 48, 5)
    rows = ip6_vector([DB8 | 1, DB8 | (5 << 80) | 9, 0])
    pkts = np.zeros((3, 64), np.uint8)
    pkts[:, 24:40] = rows  # an IPv6 header's destination field: a non-contiguous view
    assert m.lookup(pkts[:, 24:40]).tolist() == [4, 5, 0]
    assert m.lookup(rows.reshape(3, 1, 16)).shape == (3, 1)
    assert m.lookup(rows[1]).tolist() == 5  # one row
    assert m.lookup(np.zeros((0, 16), np.uint8)).shape == (0,)
    with pytest.raises(ValueError):
        m.lookup(np.zeros((3, 4), np.uint8))


def test_ip6_count_style_bulk_add_and_delete():
    m = Ip6Mtrie()
    keys = ip6_vector(DB8 | (i << 80) for i in range(1000))  # 2001:db8:0::/48 .. 2001:db8:3e7::/48
    m.add_many(keys, 48, np.arange(1000) + 1)
    assert m.n_plies == 3 + 4  # /16, /24, /32 plies on the way; one /40 ply per 256 /48s
    assert (m.lookup(keys) == np.arange(1000) + 1).all()
    assert m.lookup_one(DB8 | (1000 << 80)) == 0
    m.delete_many(keys[::-1], 48, 0, 0)  # unsorted input takes the de-duplicating path
    assert m.n_plies == 0 and (m.root == 0).all()


def test_ip6_vector_round_trip_and_dump():
    xs = [0, 1, DB8 | 0xFFFF, (1 << 128) - 1]
    assert ip6_ints(ip6_vector(xs)) == xs
    assert ip6_vector(xs)[2].tolist() == [0x20, 0x01, 0x0D, 0xB8] + [0] * 10 + [0xFF, 0xFF]
    m = Ip6Mtrie()
    m.add(DB8 | (1 << 80), 48, 6)
    lines = m.dump()
    assert lines[0].startswith("16-8-8-8-8-8-8-8-8-8-8-8-8-8-8: 5 plies, memory usage ")
    assert lines[1:] == [
        "root-ply",
        "    2001::/16 next ply 1",
        "        ply index 1, 1 non-empty leaves",
        "            2001:d00::/24 next ply 2",
        "                ply index 2, 1 non-empty leaves",
        "                    2001:db8::/32 next ply 3",
        "                        ply index 3, 1 non-empty leaves",
        "                            2001:db8::/40 next ply 4",
        "                                ply index 4, 1 non-empty leaves",
        "                                    2001:db8:1::/48 lb-index 6",
    ]


def test_ip6_rejects_bad_input():
    m = Ip6Mtrie()
    with pytest.raises(ValueError, match="Invalid prefix len: 129"):
        m.add(0, 129, 1)
    with pytest.raises(ValueError, match="address out of range"):
        m.add(1 << 128, 0, 1)
    with pytest.raises(ValueError, match=r"\(n, 16\) uint8"):
        m.add_many(np.array([1, 2], np.uint64), 48, 1)  # ints, not rows
    with pytest.raises(ValueError):
        m.delete(DB8, 48, 1, 48)
