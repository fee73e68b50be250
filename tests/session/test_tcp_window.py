"""The receive window TCP advertises: a scaled field never moves the right edge left."""

from __future__ import annotations

from types import SimpleNamespace

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vppsh.session.fifo import Fifo
from vppsh.session.tcp.connection import TcpConnection
from vppsh.session.transport import TransportProto


def _conn(shell, ws: int, nxt: int, las: int, free: int) -> TcpConnection:
    shell.run("session enable")
    c = TcpConnection(shell.vm.session.transports[TransportProto.TCP], 1, 2, 3, 4)
    c.rcv_wscale, c.rcv_nxt, c.rcv_las = ws, nxt, las
    c.session = SimpleNamespace(rx_fifo=Fifo(free))  # empty: `free` bytes of room
    return c


def test_a_nearly_shut_scaled_window_rounds_up_not_back(shell):
    """100 bytes advertised, 50 free, scale 7: the field says one unit (128), not zero. A zero
    would put the peer's in-flight data and its ACKs (seq = its snd_nxt) outside the window, and
    with both sides' buffers full neither would hear the other again."""
    c = _conn(shell, 7, 1000, 1100, 50)
    assert c._wnd_field() == 1 and c.rcv_las == 1128


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ws=st.integers(0, 14), nxt=st.integers(0, 1 << 32), frac=st.floats(0, 1), free=st.integers(0, 1 << 30))
def test_the_right_edge_never_moves_left(shell, ws, nxt, frac, free):
    las = nxt + int(frac * (0xFFFF << ws))  # an edge once advertised; data up to nxt came in since
    c = _conn(shell, ws, nxt, las, free)
    w = c._wnd_field()
    assert 0 <= w <= 0xFFFF
    assert c.rcv_las == nxt + (w << ws) >= las
    assert c.rcv_las < max(las, nxt + free) + (1 << ws)  # never a unit or more past the room
