"""Fifo against a bytes model: in-order and out-of-order writes, wrap-around, peeks and drops."""

from __future__ import annotations

from hypothesis import example, given, settings
from hypothesis import strategies as st

from vppsh.session.fifo import Fifo


def test_enqueue_dequeue_wraps():
    f = Fifo(10)
    assert f.enqueue(b"abcdefgh") == 8
    assert f.dequeue(6) == b"abcdef"
    assert f.enqueue(b"123456789") == 8  # 2 queued + 8 = full
    assert f.free == 0 and f.enqueue(b"x") == 0
    assert f.peek(1, 4) == b"h123"
    assert f.dequeue(100) == b"gh12345678"
    assert (f.head, f.tail) == (16, 16)


def test_out_of_order_segments_are_absorbed():
    f = Fifo(100)
    assert f.enqueue_at(10, b"K" * 10) == 10
    assert f.enqueue_at(30, b"M" * 5) == 5
    assert f.ooo_segments() == [(10, 20), (30, 35)] and f.ooo_bytes == 15
    assert f.newest_ooo == (30, 35)
    assert f.enqueue(b"A" * 10) == 20  # fills the hole: the first ooo range joins
    assert f.ooo_segments() == [(10, 15)]
    assert f.dequeue(100) == b"A" * 10 + b"K" * 10


def test_ooo_clipped_to_capacity():
    f = Fifo(16)
    f.enqueue(b"x" * 8)
    assert f.enqueue_at(4, b"y" * 10) == 4  # room for 8 past the tail, offset 4 leaves 4


def test_peek_into_and_drop():
    f = Fifo(8)
    f.enqueue(b"0123")
    f.dequeue(2)
    f.enqueue(b"456789")
    out = bytearray(5)
    assert f.peek_into(1, memoryview(out)) == 5 and bytes(out) == b"34567"
    assert f.drop(3) == 3 and f.dequeue(10) == b"56789"


def test_released_fifo_takes_and_gives_nothing():
    """A TIME_WAIT session's fifos are released to Fifo(0): every call is a safe no-op."""
    f = Fifo(0)
    out = bytearray(4)
    assert f.enqueue(b"abc") == 0 and f.enqueue_at(5, b"abc") == 0 and f.enqueue_at(-1, b"abc") == 0
    assert (f.size, f.free, f.dequeue(10), f.peek(0, 3), f.drop(5)) == (0, 0, b"", b"", 0)
    assert f.peek_into(0, memoryview(out)) == 0 and f.dequeue_into(out) == 0


ops = st.lists(st.one_of(
    st.tuples(st.just("enq"), st.integers(0, 40)),
    st.tuples(st.just("ooo"), st.integers(1, 30), st.integers(1, 20)),
    st.tuples(st.just("deq"), st.integers(0, 40)),
    st.tuples(st.just("peek"), st.integers(0, 20), st.integers(0, 20))), max_size=60)


@settings(max_examples=300, deadline=None)
@given(ops, st.sampled_from([7, 32, 100]))
@example([("ooo", 1, 1), ("ooo", 2, 1), ("enq", 1)], 7)  # touching ranges merge, then join the tail
def test_matches_a_stream_model(seq, size):
    """The fifo carries one byte stream; every read must equal the stream at that position, and
    the tail and the out-of-order ranges must be where a model of the written offsets puts them."""
    stream = bytes((i * 7 + 3) & 0xFF for i in range(5000))
    f = Fifo(size)
    have = set()  # absolute stream offsets written out of order, not yet absorbed
    for op in seq:
        if op[0] == "enq":
            t0, free = f.tail, f.free
            n = f.enqueue(stream[t0:t0 + op[1]])
            t = t0 + min(op[1], free)  # written in order, as far as there is room...
            while t in have:  # ...then the out-of-order data it reached joins
                t += 1
            assert (f.tail, n) == (t, t - t0)
            have = {i for i in have if i > t}
        elif op[0] == "ooo":
            start, free = f.tail + op[1], f.free
            n = f.enqueue_at(op[1], stream[start:start + op[2]])
            assert n == max(0, min(op[2], free - op[1]))  # clipped to the ring's room
            have.update(range(start, start + n))
        elif op[0] == "deq":
            pos = f.head
            out = f.dequeue(op[1])
            assert out == stream[pos:pos + len(out)]
        else:
            out = f.peek(op[1], op[2])
            assert out == stream[f.head + op[1]:f.head + op[1] + len(out)]
        assert 0 <= f.size <= size and f.free == size - f.size
        assert f.ooo_segments() == ranges(sorted(i - f.tail for i in have))
        assert f.ooo_bytes == len(have)
        for s, e in f.ooo_segments():
            assert 0 < s < e and f.tail + e <= f.head + size
    rest = f.dequeue(size)
    assert rest == stream[f.head - len(rest):f.head]


def ranges(offsets: list[int]) -> list[tuple[int, int]]:
    """Sorted offsets as [start, end) runs."""
    out: list[tuple[int, int]] = []
    for i in offsets:
        if out and out[-1][1] == i:
            out[-1] = (out[-1][0], i + 1)
        else:
            out.append((i, i + 1))
    return out
