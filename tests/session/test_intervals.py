"""intervals.insert against the obvious model: the set of offsets covered."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from vppsh.session.intervals import insert


@given(st.lists(st.tuples(st.integers(0, 200), st.integers(1, 30)), max_size=30))
def test_insert_keeps_sorted_disjoint_ranges_covering_what_was_added(adds):
    ranges: list[list[int]] = []
    covered: set[int] = set()
    for s, n in adds:
        ranges, a, b = insert(ranges, s, s + n)
        covered |= set(range(s, s + n))
        assert [a, b] in ranges and a <= s and s + n <= b
    assert set().union(*(range(a, b) for a, b in ranges)) == covered
    # sorted, non-empty, and neither overlapping nor touching (those would have merged)
    assert all(a < b for a, b in ranges)
    assert all(b1 < a2 for (_, b1), (a2, _) in zip(ranges, ranges[1:]))
