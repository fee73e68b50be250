"""Sorted, disjoint [start, end) ranges of absolute byte offsets: the out-of-order data a fifo
holds, the SACKed data TCP's scoreboard knows. Real traffic keeps a handful of ranges, so a
linear pass over a short list beats any tree."""

from __future__ import annotations


def insert(ranges: list[list[int]], s: int, e: int) -> tuple[list[list[int]], int, int]:
    """`ranges` with [s, e) added, merged with every range it overlaps or touches; returns
    the new list and the range [s, e) became part of."""
    out, placed = [], False
    for a, b in ranges:
        if b < s or a > e:
            if a > e and not placed:
                out.append([s, e])
                placed = True
            out.append([a, b])
        else:
            s, e = min(a, s), max(b, e)
    if not placed:
        out.append([s, e])
    return out, s, e
