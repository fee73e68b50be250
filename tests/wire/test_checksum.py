import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from scapy.utils import checksum as scapy_checksum

from vppsh.wire.checksum import csum, csum_rows, incremental_update, ones_sum, sum_rows
from vppsh.wire import ip4


def test_scalar_matches_scapy():
    rng = np.random.default_rng(1)
    for n in (0, 1, 2, 3, 19, 20, 21, 1500, 1501):
        data = rng.integers(0, 256, n, dtype=np.uint8).tobytes()
        assert csum(data) == scapy_checksum(data)


def test_ones_sum_folds_and_initial():
    assert ones_sum(b"\xff\xff\xff\xff") == 0xFFFF
    assert ones_sum(b"\x00\x01", initial=0xFFFF) == 1  # end-around carry
    assert csum(b"") == 0xFFFF


@st.composite
def rows_and_spans(draw):
    n = draw(st.integers(1, 12))
    width = draw(st.integers(1, 80))
    seed = draw(st.integers(0, 2**32 - 1))
    rows = np.random.default_rng(seed).integers(0, 256, (n, width), dtype=np.uint8)
    starts = np.array([draw(st.integers(0, width)) for _ in range(n)])
    lengths = np.array([draw(st.integers(0, width - s)) for s in starts])
    initial = np.array([draw(st.integers(0, 0xFFFF)) for _ in range(n)], dtype=np.uint64)
    return rows, starts, lengths, initial


@settings(max_examples=150, deadline=None)
@given(rows_and_spans())
def test_vector_matches_scalar(args):
    rows, starts, lengths, initial = args
    got = csum_rows(rows, starts, lengths, initial)
    assert got.dtype == np.uint16
    for i in range(len(rows)):
        seg = rows[i, starts[i]:starts[i] + lengths[i]].tobytes()
        assert int(got[i]) == csum(seg, int(initial[i]))
        assert int(sum_rows(rows, starts, lengths, initial)[i]) == ones_sum(seg, int(initial[i]))


@settings(max_examples=50, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(0, 30), st.integers(0, 31))
def test_vector_scalar_start_and_length(seed, start, length):
    rows = np.random.default_rng(seed).integers(0, 256, (5, 64), dtype=np.uint8)
    got = csum_rows(rows, start, length)
    for i in range(5):
        assert int(got[i]) == csum(rows[i, start:start + length].tobytes())


def test_incremental_update_ttl_decrement_vectorised():
    rng = np.random.default_rng(7)
    hdrs = [ip4.build(int(rng.integers(0, 2**32)), int(rng.integers(0, 2**32)), 17,
                      int(rng.integers(0, 1400)), ttl=int(rng.integers(1, 256)),
                      ident=int(rng.integers(0, 65536))) for _ in range(200)]
    rows = np.frombuffer(b"".join(hdrs), np.uint8).reshape(200, 20).copy()
    old_word = (rows[:, 8].astype(np.uint16) << 8) | rows[:, 9]
    old_ck = (rows[:, 10].astype(np.uint16) << 8) | rows[:, 11]
    rows[:, 8] -= 1
    new_word = (rows[:, 8].astype(np.uint16) << 8) | rows[:, 9]
    new_ck = incremental_update(old_ck, old_word, new_word)
    rows[:, 10] = new_ck >> 8
    rows[:, 11] = new_ck & 0xFF
    for r in rows:
        assert ip4.checksum_ok(r.tobytes())
        assert ip4.header_checksum(r.tobytes()) == (int(r[10]) << 8 | int(r[11]))


def test_incremental_update_scalar():
    h = bytearray(ip4.build("10.0.0.1", "10.0.0.2", 6, 40, ttl=64))
    old = int.from_bytes(h[10:12], "big")
    new = incremental_update(old, 0x4006, 0x3F06)
    assert isinstance(new, int)
    h[8] = 63
    assert new == ip4.header_checksum(bytes(h))
