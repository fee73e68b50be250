"""The internet checksum (RFC 1071), scalar and vectorised over rows of packets.

The vector forms exist because the data path works on whole frames of packets held in a
2-D uint8 array; a per-packet Python loop would dominate the cost of a frame.
"""

from __future__ import annotations

import numpy as np


def fold(s):
    """Fold a ones-complement sum (int or uint array) to 16 bits, without complementing."""
    if isinstance(s, int):
        while s >> 16:
            s = (s & 0xFFFF) + (s >> 16)
        return s
    s = np.asarray(s, dtype=np.uint64)
    while np.any(s >> np.uint64(16)):
        s = (s & np.uint64(0xFFFF)) + (s >> np.uint64(16))
    return s


def ones_sum(data, initial: int = 0) -> int:
    """Ones-complement sum of `data` as big-endian 16-bit words (odd tail padded), folded."""
    b = bytes(data)
    if len(b) & 1:
        b += b"\x00"
    words = np.frombuffer(b, dtype=">u2")
    return fold(int(words.sum(dtype=np.uint64)) + int(initial))


def sum_mod(data, initial: int = 0) -> int:
    """The ones-complement sum of `data` (big-endian 16-bit words, odd tail padded) plus
    `initial`, modulo 0xFFFF: a sum of words is its value as one big integer mod 0xFFFF
    (2^16 = 1 mod 0xFFFF), which int.from_bytes and % compute in C. A packet whose checksum
    verifies sums to 0xFFFF, that is to 0 here. For short packets on the scalar paths."""
    b = bytes(data)
    if len(b) & 1:
        b += b"\x00"
    return (int.from_bytes(b, "big") + initial) % 0xFFFF


def csum(data, initial: int = 0) -> int:
    """Final internet checksum of `data` (complement of the folded sum)."""
    return (~ones_sum(data, initial)) & 0xFFFF


def _as_col(x, n: int) -> np.ndarray:
    a = np.asarray(x, dtype=np.int64)
    return np.broadcast_to(a, (n,)) if a.ndim == 0 else a.reshape(n)


def sum_rows(rows: np.ndarray, start, length, initial=0) -> np.ndarray:
    """Folded (not complemented) ones-complement sums of rows[i, start[i]:start[i]+length[i]].

    A byte at an even offset from its row's own start is the high byte of a 16-bit word, so
    bytes are summed per column parity and weighted by the parity of each row's start;
    an odd length is in effect zero-padded.
    """
    rows = np.asarray(rows, dtype=np.uint8)
    n, width = rows.shape
    start = _as_col(start, n)
    length = _as_col(length, n)
    init = np.broadcast_to(np.asarray(initial, dtype=np.uint64), (n,))
    if n == 0:
        return np.zeros(0, np.uint64)
    end = np.minimum(start + length, width)
    lo, hi = int(start.min()), int(end.max())
    if hi <= lo:
        return fold(init.copy())
    block = rows[:, lo:hi]
    if not ((start == lo).all() and (end == hi).all()):
        cols = np.arange(lo, hi)
        block = np.where((cols >= start[:, None]) & (cols < end[:, None]), block, np.uint8(0))
    first = block[:, 0::2].sum(axis=1, dtype=np.uint64)  # columns lo, lo+2, ...
    second = block[:, 1::2].sum(axis=1, dtype=np.uint64)
    high_first = (start - lo) % 2 == 0
    s = np.where(high_first, (first << np.uint64(8)) + second, (second << np.uint64(8)) + first)
    return fold(s + init)


def csum_rows(rows: np.ndarray, start, length, initial=0) -> np.ndarray:
    """Internet checksum of rows[i, start[i]:start[i]+length[i]] for every row, as uint16.

    `start`/`length` are ints or per-row arrays; `initial` is a per-row (or scalar) partial
    sum such as a pseudo-header sum.
    """
    return (~sum_rows(rows, start, length, initial).astype(np.uint16)).astype(np.uint16)


def incremental_update(old_csum, old_word, new_word):
    """RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m'), for one 16-bit field change.

    Works elementwise on numpy arrays (ip4-rewrite's TTL decrement) or on plain ints.
    """
    scalar = all(isinstance(x, (int, np.integer)) for x in (old_csum, old_word, new_word))
    hc = np.asarray(old_csum, dtype=np.uint64)
    m = np.asarray(old_word, dtype=np.uint64)
    m2 = np.asarray(new_word, dtype=np.uint64)
    mask = np.uint64(0xFFFF)
    s = (~hc & mask) + (~m & mask) + (m2 & mask)
    out = (~fold(s) & mask).astype(np.uint16)
    return int(out) if scalar else out
