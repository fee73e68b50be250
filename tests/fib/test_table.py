"""FibTable: source priority, VPP's default entries, show ordering/summary, trie kept in step."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vppsh.vnet.fib.mtrie import prefix_mask
from vppsh.vnet.fib.table import SOURCE_PRIORITY, FibTable

DROP = 0


def ip(s: str) -> int:
    a, b, c, d = map(int, s.split("."))
    return a << 24 | b << 16 | c << 8 | d


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
PFX = st.tuples(st.sampled_from([ip("10.1.2.3"), ip("10.1.2.128"), ip("10.1.0.0"), 0, ip("10.200.0.0")]),
                st.integers(0, 32)).map(lambda t: (t[0] & prefix_mask(t[1]), t[1]))


@settings(max_examples=120, deadline=None)
@given(ops=st.lists(st.tuples(st.booleans(), PFX, st.sampled_from(SOURCES), st.integers(1, 30)),
                    max_size=40))
def test_forwarding_matches_best_source_longest_match(ops):
    t, ref = FibTable(0, 0, miss_dpo=99), {}
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
    probes = {0, 0xFFFFFFFF}
    for p, n in ref:
        last = p | (~prefix_mask(n) & 0xFFFFFFFF)
        probes |= {p, last, (p - 1) & 0xFFFFFFFF, (last + 1) & 0xFFFFFFFF}
    probes = sorted(probes)

    def want(a):
        best = max((n for p, n in ref if a & prefix_mask(n) == p), default=None)
        if best is None:
            return 99
        srcs = ref[(a & prefix_mask(best), best)]
        return srcs[min(srcs, key=SOURCE_PRIORITY.__getitem__)]

    assert t.lookup(np.array(probes, np.uint32)).tolist() == [want(a) for a in probes]
    assert len(t) == len(ref)
