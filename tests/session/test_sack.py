"""The SACK scoreboard against a byte-set model (RFC 6675), and receiver block order (RFC 2018)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from vppsh.session.tcp.sack import Scoreboard, rx_sack_blocks

MSS = 10


def test_holes_loss_and_next_seg():
    sb = Scoreboard()
    una, nxt = 1000, 1100
    assert sb.update(una, nxt, [(1010, 1020), (1030, 1040), (1050, 1060)], MSS) == 30
    assert sb.holes(una, nxt) == [(1000, 1010), (1020, 1030), (1040, 1050)]
    assert sb.is_lost(1000, MSS) and not sb.is_lost(1040, MSS)
    assert sb.next_seg(una, nxt, una, MSS) == (1000, 1010)
    assert sb.next_seg(una, nxt, 1010, MSS) is None  # 20 bytes SACKed above: not > 2 * MSS yet
    sb.update(una, nxt, [(1070, 1080)], MSS)
    assert sb.next_seg(una, nxt, 1010, MSS) == (1020, 1030)
    sb.update(1020, nxt, [], MSS)  # cumulative ack prunes below
    assert sb.sacked_bytes == 30 and sb.holes(1020, nxt) == [(1020, 1030), (1040, 1050), (1060, 1070)]


def test_dsack_is_not_new_information():
    sb = Scoreboard()
    assert sb.update(1000, 1100, [(900, 910), (1010, 1020)], MSS) == 10


def test_receiver_blocks_newest_first():
    blocks = rx_sack_blocks(500, [(10, 20), (30, 40), (50, 60), (70, 80)], (50, 60), 3)
    assert blocks == [(550, 560), (510, 520), (530, 540)]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 199), st.integers(1, 40)), max_size=12), st.integers(0, 100))
def test_against_a_byte_model(blocks, una_off):
    base = 10_000
    una, nxt = base + una_off, base + 200
    sb = Scoreboard()
    model = set()
    for s, n in blocks:
        b = (base + s, base + s + n)
        sb.update(una, nxt, [b], MSS)
        if b[0] >= una:
            model.update(range(max(b[0], una), min(b[1], nxt)))
    assert sb.sacked_bytes == len(model)
    holes = sb.holes(una, nxt)
    for s, e in holes:
        assert not model & set(range(s, e))
    seg = sb.next_seg(una, nxt, una, MSS)
    if seg is not None:
        assert not model & set(range(*seg)) and seg[1] - seg[0] <= MSS
    assert 0 <= sb.pipe(una, nxt, una, MSS) <= nxt - una
