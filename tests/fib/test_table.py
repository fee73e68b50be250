"""FibTable, IPv4 and IPv6: source priority, VPP's default entries, show ordering/summary, trie
kept in step."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vppsh.vnet.fib.mtrie import ip6_vector, prefix_mask
from vppsh.vnet.fib.table import SOURCE_PRIORITY, FibTable

DROP = 0


def ip(s: str) -> int:
    a, b, c, d = map(int, s.split("."))
    return a << 24 | b << 16 | c << 8 | d


DB8, FE80 = 0x20010DB8 << 96, 0xFE80 << 112  # 2001:db8::, fe80::


def fwd(t: FibTable, *addrs: str) -> list[int]:
    return t.lookup(np.array([ip(a) for a in addrs], np.uint32)).tolist()


def test_default_table_has_vpps_specials_in_show_order():
    t = FibTable.default(DROP)
    assert [e.prefix for e in t.entries()] == [
        "0.0.0.0/0", "0.0.0.0/32", "224.0.0.0/4", "240.0.0.0/4", "255.255.255.255/32"]
    assert [e.source for e in t.entries()] == [
        "default-route", "default-route", "special", "special", "default-route"]
    assert all(e.dpo == DROP for e in t.entries())
    assert t.prefix_lengths_summary() == [(0, 1), (4, 2), (32, 2)]
    assert len(t) == 5 and t.table_id == 0 and t.fib_index == 0


def test_default_per_entry_dpos_are_made_in_vpp_creation_order():
    made = []
    t = FibTable.default(lambda a, p: made.append((a, p)) or len(made), table_id=10, fib_index=1)
    assert made == [(0, 0), (0, 32), (ip("240.0.0.0"), 4), (ip("224.0.0.0"), 4), (0xFFFFFFFF, 32)]
    assert fwd(t, "1.2.3.4", "0.0.0.0", "240.1.1.1", "224.0.0.5", "255.255.255.255") == [1, 2, 3, 4, 5]


def test_best_source_wins_and_withdrawal_falls_back():
    t = FibTable.default(DROP)
    t.add(ip("10.0.0.0"), 24, "CLI", 5)
    assert fwd(t, "10.0.0.9") == [5]
    e = t.add(ip("10.0.0.0"), 24, "interface", 6)  # connected beats CLI
    assert (e.source, e.dpo) == ("interface", 6) and fwd(t, "10.0.0.9") == [6]
    t.add(ip("10.0.0.0"), 24, "adjacency", 7)  # adjacency is worse than CLI: no change
    assert fwd(t, "10.0.0.9") == [6]
    assert t.remove(ip("10.0.0.0"), 24, "interface") is False
    assert fwd(t, "10.0.0.9") == [5]
    assert t.remove(ip("10.0.0.0"), 24, "CLI") is False
    assert fwd(t, "10.0.0.9") == [7]
    assert t.remove(ip("10.0.0.0"), 24, "API") is False  # not a source of it: nothing changes
    assert t.remove(ip("10.0.0.0"), 24, "adjacency") is True
    assert t.exact(ip("10.0.0.0"), 24) is None and fwd(t, "10.0.0.9") == [DROP]
    assert t.remove(ip("10.0.0.0"), 24, "CLI") is True  # already gone


def test_priorities_follow_fib_source_h():
    order = sorted(["default-route", "CLI", "API", "interface", "adjacency", "special"],
                   key=SOURCE_PRIORITY.__getitem__)
    assert order == ["special", "interface", "API", "CLI", "adjacency", "default-route"]


def test_cli_default_route_overrides_drop_and_restores_it():
    t = FibTable.default(DROP)
    t.add(0, 0, "CLI", 9)
    assert t.exact(0, 0).source == "CLI" and fwd(t, "8.8.8.8", "0.0.0.0") == [9, DROP]
    t.remove(0, 0, "CLI")
    assert fwd(t, "8.8.8.8") == [DROP] and t.exact(0, 0).source == "default-route"


def test_delete_hands_leaves_to_the_covering_entry():
    t = FibTable.default(DROP)
    t.add(ip("10.0.0.0"), 8, "CLI", 1)
    t.add(ip("10.1.0.0"), 16, "CLI", 2)
    t.add(ip("10.1.2.0"), 24, "CLI", 3)
    t.add(ip("10.1.2.3"), 32, "CLI", 4)
    assert fwd(t, "10.1.2.3", "10.1.2.4", "10.1.3.0", "10.2.0.0", "11.0.0.0") == [4, 3, 2, 1, DROP]
    t.remove(ip("10.1.2.0"), 24, "CLI")
    assert fwd(t, "10.1.2.3", "10.1.2.4") == [4, 2]
    t.remove(ip("10.1.0.0"), 16, "CLI")
    assert fwd(t, "10.1.2.3", "10.1.2.4") == [4, 1]
    assert t.longest_match(ip("10.1.2.4")).prefix == "10.0.0.0/8"
    assert t.longest_match(ip("10.1.2.3")).prefix == "10.1.2.3/32"
    assert t.longest_match(ip("9.9.9.9")).prefix == "0.0.0.0/0"
    assert FibTable(1, 1).longest_match(1) is None


def test_entries_sorted_by_address_then_length_and_addresses_masked():
    t = FibTable.default(DROP)
    e = t.add(ip("10.10.1.2"), 24, "interface", 3)  # VPP masks: 10.10.1.0/24
    assert e.prefix == "10.10.1.0/24"
    for a in ("10.10.1.255", "10.10.1.0", "10.10.1.2", "10.10.1.1"):
        t.add(ip(a), 32, "interface", 4)
    assert [e.prefix for e in t.entries()] == [
        "0.0.0.0/0", "0.0.0.0/32", "10.10.1.0/24", "10.10.1.0/32", "10.10.1.1/32",
        "10.10.1.2/32", "10.10.1.255/32", "224.0.0.0/4", "240.0.0.0/4", "255.255.255.255/32"]
    assert t.prefix_lengths_summary() == [(0, 1), (4, 2), (24, 1), (32, 6)]


def test_bulk_add_and_remove():
    t = FibTable.default(DROP)
    addrs = np.arange(ip("1.0.0.0"), ip("1.0.0.0") + 1000, dtype=np.uint32)
    t.add_many(addrs, 32, "CLI", np.arange(1000) + 100)
    assert len(t) == 1005 and (t.lookup(addrs) == np.arange(1000) + 100).all()
    t.add_many(addrs[:10], 32, "interface", 7)  # better source on the first ten
    assert (t.lookup(addrs[:10]) == 7).all()
    assert t.remove_many(addrs, 32, "CLI") == 990
    assert (t.lookup(addrs[:10]) == 7).all() and (t.lookup(addrs[10:]) == DROP).all()
    assert t.remove_many(addrs[:10], 32, "interface") == 10
    assert len(t) == 5 and t.forwarding.n_plies == 4  # just the two specials' /32 plies


def test_rejects_bad_prefix_length_and_unknown_source():
    t = FibTable(0, 0)
    with pytest.raises(ValueError, match="Invalid prefix len: 33"):
        t.add(0, 33, "CLI", 1)
    with pytest.raises(ValueError, match="unknown FIB source"):
        t.add(0, 8, "bogus", 1)


SOURCES = ["interface", "CLI", "API", "adjacency", "default-route"]
NEAR = {32: [ip("10.1.2.3"), ip("10.1.2.128"), ip("10.1.0.0"), 0, ip("10.200.0.0")],
        128: [DB8 | 0x1_0000_0003, DB8 | 0x1_0000_0002, DB8 | (0x80 << 80), DB8, 0, FE80 | 1]}
VEC = {32: lambda xs: np.array(xs, np.uint32), 128: ip6_vector}


def pfx(bits: int):
    return st.tuples(st.sampled_from(NEAR[bits]), st.integers(0, bits)).map(
        lambda t: (t[0] & prefix_mask(t[1], bits), t[1]))


@pytest.mark.parametrize("bits", [32, 128])
@settings(max_examples=120, deadline=None)
@given(data=st.data())
def test_forwarding_matches_best_source_longest_match(bits, data):
    ops = data.draw(st.lists(st.tuples(st.booleans(), pfx(bits), st.sampled_from(SOURCES),
                                       st.integers(1, 30)), max_size=40))
    t, ref, top = FibTable(0, 0, miss_dpo=99, bits=bits), {}, (1 << bits) - 1
    for add, (p, n), src, dpo in ops:
        if add:
            t.add(p, n, src, dpo)
            ref.setdefault((p, n), {})[src] = dpo
        else:
            gone = t.remove(p, n, src)
            ref.get((p, n), {}).pop(src, None)
            if not ref.get((p, n)):
                ref.pop((p, n), None)
            assert gone == ((p, n) not in ref)
    probes = {0, top}
    for p, n in ref:
        last = p | (~prefix_mask(n, bits) & top)
        probes |= {p, last, (p - 1) & top, (last + 1) & top}
    probes = sorted(probes)

    def best(a, max_len=bits):
        return max((n for p, n in ref if n <= max_len and a & prefix_mask(n, bits) == p), default=None)

    def want(a):
        n = best(a)
        if n is None:
            return 99
        srcs = ref[(a & prefix_mask(n, bits), n)]
        return srcs[min(srcs, key=SOURCE_PRIORITY.__getitem__)]

    assert t.lookup(VEC[bits](probes)).tolist() == [want(a) for a in probes]
    assert len(t) == len(ref)
    for a in probes:  # the control plane's own longest match, whole and bounded
        e = t.longest_match(a)
        assert (e and e.plen) == best(a)
        e = t.longest_match(a, bits - 1)
        assert (e and e.plen) == best(a, bits - 1)


# ---- IPv6 ---------------------------------------------------------------------------------
def fwd6(t: FibTable, *addrs: int) -> list[int]:
    return t.lookup(ip6_vector(addrs)).tolist()


def test_ip6_default_table_has_vpps_specials():
    made = []
    t = FibTable.default(lambda a, p: made.append((a, p)) or len(made), bits=128)
    assert made == [(0, 0), (FE80, 10)] and t.bits == 128
    assert [(e.prefix, e.source) for e in t] == [("::/0", "default-route"), ("fe80::/10", "special")]
    assert fwd6(t, DB8, FE80 | 1, 0xFEC0 << 112) == [1, 2, 1]
    assert t.prefix_lengths_summary() == [(0, 1), (10, 1)]
    assert repr(t.exact(FE80, 10)) == "Fib6Entry(fe80::/10, {'special': 2})"


def test_ip6_covers_across_lengths_and_masking():
    t = FibTable.default(0, bits=128)
    host = DB8 | (1 << 80) | 0x10
    t.add(DB8, 32, "CLI", 1)
    t.add(DB8 | (1 << 80) | 0xFFFF, 48, "CLI", 2)  # host bits masked away
    t.add(DB8 | (1 << 80), 64, "interface", 3)
    t.add(host, 127, "CLI", 4)
    e = t.add(host, 128, "adjacency", 5)
    assert e.prefix == "2001:db8:1::10/128" and t.exact(host | 1, 127).prefix == "2001:db8:1::10/127"
    assert t.exact(DB8 | (1 << 80) | 7, 48).prefix == "2001:db8:1::/48"
    probes = [host, host | 1, host + 2, DB8 | (1 << 80) | (1 << 64), DB8 | (2 << 80), DB8 - 1]
    assert fwd6(t, *probes) == [5, 4, 3, 2, 1, 0]
    t.remove(DB8 | (1 << 80), 64, "interface")  # its leaves go to the /48, the /127 survives
    assert fwd6(t, *probes) == [5, 4, 2, 2, 1, 0]
    t.remove(host, 127, "CLI")
    t.remove(DB8 | (1 << 80), 48, "CLI")
    assert fwd6(t, *probes) == [5, 1, 1, 1, 1, 0]
    assert t.longest_match(host).plen == 128 and t.longest_match(host, 127).prefix == "2001:db8::/32"
    t.remove(host, 128, "adjacency")
    t.remove(DB8, 32, "CLI")
    assert len(t) == 2 and t.forwarding.n_plies == 0


def test_ip6_bulk_add_and_remove_take_address_rows():
    t = FibTable.default(0, bits=128)
    rows = ip6_vector(DB8 | (i << 80) for i in range(1000))
    t.add_many(rows, 48, "CLI", np.arange(1000) + 100)
    assert len(t) == 1002 and (t.lookup(rows) == np.arange(1000) + 100).all()
    assert t.exact(DB8 | (999 << 80), 48).prefix == "2001:db8:3e7::/48"
    t.add_many(rows[:10], 48, "interface", 7)  # a better source on the first ten
    assert (t.lookup(rows[:10]) == 7).all()
    t.add_many(rows[5:], 48, "API", 8)  # beats CLI, not interface: only rows 10.. forward anew
    assert (t.lookup(rows) == np.repeat([7, 8], [10, 990])).all()
    assert t.remove_many(np.concatenate([rows, rows[:3]]), 48, "API") == 0  # repeats: harmless
    assert (t.lookup(rows[10:]) == np.arange(110, 1100)).all()
    assert t.remove_many(rows, 48, "CLI") == 990
    assert (t.lookup(rows[:10]) == 7).all() and (t.lookup(rows[10:]) == 0).all()
    assert t.remove_many(rows[:10], 48, "interface") == 10
    assert len(t) == 2 and t.forwarding.n_plies == 0
    with pytest.raises(ValueError, match=r"\(n, 16\) uint8"):
        t.add_many(np.arange(3, dtype=np.uint32), 48, "CLI", 1)


def test_ip6_rejects_bad_prefix_length_and_width():
    with pytest.raises(ValueError, match="Invalid prefix len: 129"):
        FibTable(0, 0, bits=128).add(0, 129, "CLI", 1)
    with pytest.raises(ValueError, match="32 or 128"):
        FibTable(0, 0, bits=64)
