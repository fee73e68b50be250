"""SACK: the sender's scoreboard (RFC 6675) and the receiver's blocks (RFC 2018).

Sequence numbers are unwrapped ints (see connection.py), so ranges compare directly. The
scoreboard is a short sorted list of sacked [start, end) ranges above snd_una (intervals.py).
"""

from __future__ import annotations

from ..intervals import insert

DUPTHRESH = 3


class Scoreboard:
    def __init__(self) -> None:
        self.ranges: list[list[int]] = []  # sacked, sorted, disjoint
        self.sacked_bytes = 0
        self.high_sacked = 0
        self.lost_bytes = 0

    def reset(self) -> None:
        self.ranges = []
        self.sacked_bytes = 0
        self.high_sacked = 0
        self.lost_bytes = 0

    def update(self, snd_una: int, snd_nxt: int, blocks, mss: int, dupthresh: int = DUPTHRESH) -> int:
        """Apply an ACK's blocks; returns bytes newly sacked (D-SACKs and stale blocks ignored)."""
        before = self.sacked_bytes
        rs = self.ranges
        # cumulative ack: forget everything below snd_una
        if rs and rs[0][0] < snd_una:
            rs = [[max(s, snd_una), e] for s, e in rs if e > snd_una]
        for i, (s, e) in enumerate(blocks):
            if i == 0 and s < snd_una:
                continue  # D-SACK (RFC 2883): a duplicate, not new information
            s, e = max(s, snd_una), min(e, snd_nxt)
            if e > s:
                rs = insert(rs, s, e)[0]
        self.ranges = rs
        self.sacked_bytes = sum(b - a for a, b in rs)
        self.high_sacked = rs[-1][1] if rs else snd_una
        self.lost_bytes = sum(e - s for s, e in self.holes(snd_una, snd_nxt) if self.is_lost(s, mss, dupthresh))
        return max(0, self.sacked_bytes - before)

    def _sacked_above(self, seq: int) -> tuple[int, int]:
        n_bytes = n_ranges = 0
        for a, b in self.ranges:
            if b > seq:
                n_bytes += b - max(a, seq)
                n_ranges += 1
        return n_bytes, n_ranges

    def is_lost(self, seq: int, mss: int, dupthresh: int = DUPTHRESH) -> bool:
        """RFC 6675 IsLost: DupThresh discontiguous SACKed ranges, or more than
        (DupThresh - 1) * MSS bytes SACKed, above seq (DupThresh grows on a reordering path)."""
        nb, nr = self._sacked_above(seq)
        return nr >= dupthresh or nb > (dupthresh - 1) * mss

    def holes(self, snd_una: int, snd_nxt: int) -> list[tuple[int, int]]:
        out, cur = [], snd_una
        for a, b in self.ranges:
            if a > cur:
                out.append((cur, a))
            cur = max(cur, b)
        return out

    def next_seg(self, snd_una: int, snd_nxt: int, high_rxt: int, mss: int, dupthresh: int = DUPTHRESH):
        """RFC 6675 NextSeg rule 1: the first lost, unsacked range above high_rxt."""
        for s, e in self.holes(snd_una, snd_nxt):
            s = max(s, high_rxt)
            if s >= e:
                continue
            if self.is_lost(s, mss, dupthresh):
                return s, min(e, s + mss)
            return None
        return None

    def pipe(self, snd_una: int, snd_nxt: int, high_rxt: int, mss: int, dupthresh: int = DUPTHRESH) -> int:
        """RFC 6675 SetPipe: unsacked bytes not deemed lost, plus retransmitted ones."""
        pipe = 0
        hs = max(self.high_sacked, snd_una)
        for s, e in self.holes(snd_una, snd_nxt) + ([(hs, snd_nxt)] if snd_nxt > hs else []):
            if not self.is_lost(s, mss, dupthresh):
                pipe += e - s
            if high_rxt > s:
                pipe += min(e, high_rxt) - s
        return pipe


def rx_sack_blocks(rcv_nxt: int, ooo, newest, max_blocks: int) -> list[tuple[int, int]]:
    """The receiver's blocks: the one holding the newest segment first (RFC 2018 4)."""
    blocks = [(rcv_nxt + s, rcv_nxt + e) for s, e in ooo]
    if newest is not None:
        ns, ne = rcv_nxt + newest[0], rcv_nxt + newest[1]
        first = [b for b in blocks if b[0] <= ns and ne <= b[1]]
        blocks = first + [b for b in blocks if b not in first]
    return blocks[:max_blocks]
