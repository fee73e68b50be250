"""Fifo memory budgets: a fifo charges the pages its data first reaches, producers are offered
only what the budgets have room for, and under an exhausted budget TCP's window closes and new
connections are refused, instead of the engine growing."""

from __future__ import annotations

import gc

from tests.helpers.pgnet import PEER_IP, PEER_MAC, VPP_IP, VPP_MAC, PgNet, a2i, ip4
from vppsh.session.app import App
from vppsh.session.budget import MAX_FIFO_SIZE, Budget
from vppsh.session.fifo import Fifo
from vppsh.wire import tcp as wtcp
from vppsh.session.transport import TransportProto

K = 1024


def test_a_fifo_charges_what_its_data_reaches_and_gives_it_back():
    b = Budget(1 << 20)
    f = Fifo(256 * K, b)
    assert b.used == 0 and f.free == 256 * K  # a mapping: nothing committed yet
    f.enqueue(bytes(10 * K))
    assert b.used == 10 * K
    f.drop(10 * K)
    f.enqueue(bytes(5 * K))  # further into the ring
    assert b.used == 15 * K
    f.enqueue_at(100 * K, bytes(K))  # out of order, past the tail: reaches 116k
    assert b.used == 116 * K
    del f
    gc.collect()
    assert b.used == 0


def test_a_small_fifo_is_charged_whole_at_once():
    b = Budget(1 << 20)
    f = Fifo(4096, b)
    assert b.used == 4096
    f.enqueue(bytes(100))
    assert b.used == 4096
    del f
    assert b.used == 0


def test_free_stays_within_the_budget_and_space_within_the_ring():
    engine = Budget(100 * K)
    app = Budget(1 << 20, engine)
    f = Fifo(256 * K, app)
    assert f.free == 100 * K and f.space == 256 * K
    f.enqueue(bytes(60 * K))
    assert f.free == 40 * K and engine.used == app.used == 60 * K
    # no more than the budget, whatever is offered: a hard bound
    assert f.enqueue(bytes(50 * K)) == 40 * K and f.enqueue_at(0, bytes(K)) == 0
    assert engine.used == 100 * K and f.free == 0
    assert engine.status() == "No memory"
    # read under pressure, its pages go back at once (a page-aligned 64k or more at a time)
    f.drop(50 * K)
    assert engine.used == 100 * K and f.free == 0
    f.drop(40 * K)
    assert engine.used == 10 * K and f.free == 90 * K
    f.drop(10 * K)
    assert f.trim() == 10 * K  # (what the reclaim tick does)
    assert engine.used == app.used == 0 and f.free == 100 * K
    # around the ring and back: its positions wrap onto pages it paid for, or pays again
    for _ in range(10):
        f.enqueue(bytes(f.free))
        f.drop(f.size)
        f.trim()
        assert engine.used == 0
    assert f.enqueue(bytes(100 * K)) == 100 * K and engine.used == 100 * K


def test_an_app_budget_inside_the_engine_budget():
    engine = Budget(1 << 20)
    a, b = Budget(64 * K, engine), Budget(1 << 20, engine)
    fa, fb = Fifo(256 * K, a), Fifo(256 * K, b)
    fa.enqueue(bytes(fa.free))
    assert a.used == 64 * K and fa.free == 0
    assert fb.free == 256 * K  # the other app is not held back by this one's segment
    fb.enqueue(bytes(200 * K))
    assert engine.used == 264 * K and a.status() == "No memory" and b.status() == "No pressure"


def test_fifo_sizes_above_the_cap_are_reduced():
    app = App("x", 2_000_000_000, 5 << 30)
    assert app.rx_fifo_size == app.tx_fifo_size == MAX_FIFO_SIZE


# ------------------------------------------------------------ TCP under an exhausted budget
class Sink(App):
    """Accepts and never reads."""

    def __init__(self) -> None:
        super().__init__("sink", 256 * K, 256 * K, segment_size=1 << 20)
        self.accepted = []

    def on_accept(self, s) -> None:
        self.accepted.append(s)


def _tcp(sport: int, seq: int, ack: int, flags: int, payload: bytes = b"", opts: bytes = b"") -> bytes:
    seg = wtcp.build(sport, 80, seq, ack, flags, 65535, payload, opts, a2i(PEER_IP), a2i(VPP_IP))
    return VPP_MAC + PEER_MAC + b"\x08\x00" + ip4(6, PEER_IP, VPP_IP, seg)


def _from_vpp(net, sport: int):
    out = []
    for p in net.take():
        ihl = (p[0] & 0x0F) * 4
        if p[9] == 6 and wtcp.parse(p[ihl:]).dst_port == sport:
            out.append(wtcp.parse(p[ihl:]))
    return out


def test_windows_close_and_syns_are_dropped_when_the_engine_budget_is_spent(shell):
    """An app that never reads, under an engine budget of 128k: the peer fills what the window
    offers, the window closes as the budget runs out (zero window), the engine holds no more
    than the budget, and a new SYN is dropped and counted."""
    shell.run("session enable")
    net = PgNet(shell)
    sm = shell.vm.session
    app = Sink()

    def setup():
        sm.budget.limit = 128 * K
        sm.attach(app)
        sm.listen(app, TransportProto.TCP, 0, 80)

    shell.call(setup)
    iss = 1000
    net.inject([_tcp(40000, iss, 0, wtcp.SYN, opts=wtcp.build_options(mss=1460))])
    synack = _from_vpp(net, 40000)[-1]
    assert synack.flags & wtcp.SYN
    seq, ack = iss + 1, synack.seq + 1
    net.inject([_tcp(40000, seq, ack, wtcp.ACK)])
    assert len(app.accepted) == 1
    wnd = 65535
    for _ in range(200):  # push what each ACK allows, as a sender would
        n = min(wnd, 1460 * 32)
        if n <= 0:
            break
        frames = []
        for off in range(0, n, 1460):
            frames.append(_tcp(40000, seq + off, ack, wtcp.ACK, bytes(min(1460, n - off))))
        net.inject(frames)
        acks = _from_vpp(net, 40000)
        assert acks, "no ACK for the data"
        wnd = acks[-1].window  # no window scaling negotiated: bytes
        assert acks[-1].ack > seq or wnd == 0, "nothing taken, yet a window is offered"
        seq = acks[-1].ack  # (what did not fit was dropped: sent again from there)
    assert wnd == 0, "the window never closed"
    held = sm.budget.used
    assert 120 * K <= held <= 128 * K, held  # a hard bound
    # the peer's next segment (a zero-window probe's worth) changes nothing
    net.inject([_tcp(40000, seq, ack, wtcp.ACK, bytes(1000))])
    assert sm.budget.used == held
    # a new connection is refused while the budget is spent
    net.inject([_tcp(40001, 5000, 0, wtcp.SYN, opts=wtcp.build_options(mss=1460))])
    assert not _from_vpp(net, 40001)
    assert "SYNs dropped: no fifo memory" in shell.run("show errors")
    assert "status: No memory" in shell.run("show memory")
    # the app reads: under pressure its pages go back at once, and the window opens again
    shell.call(lambda: sm.recv(app.accepted[0], 1 << 20))
    assert sm.budget.used < 8 * K
    shell.run("wait 0.05")
    assert _from_vpp(net, 40000)[-1].window > 0


def test_a_writer_held_back_by_the_budget_resumes_when_memory_is_freed(shell):
    """Its own fifo is not full, so no ACK will ever wake it: memory freed anywhere does."""
    shell.run("session enable")
    sm = shell.vm.session

    class Writer(App):
        woken = 0

        def on_tx_space(self, s) -> None:
            self.woken += 1

    w, other = Writer("w", 256 * K, 256 * K), App("other", 256 * K, 256 * K)

    def fill():
        sm.budget.limit = 192 * K
        sm.attach(w)
        sm.attach(other)
        hog = sm.alloc(TransportProto.TCP, other, None)
        hog.rx_fifo.enqueue(bytes(150 * K))
        s = sm.alloc(TransportProto.TCP, w, None)
        sent = sm.send(s, bytes(100 * K))
        return hog, s, sent

    hog, s, sent = shell.call(fill)
    assert sent == 42 * K and s in sm.mem_waiters and s.want_tx_space
    shell.run("wait 0.05")
    assert w.woken == 0
    held = [hog]
    del hog  # freed, nothing holds the session and its fifos any more
    shell.call(lambda: (sm.free(held[0]), held.clear(), gc.collect()))
    shell.run("wait 0.05")
    assert w.woken == 1 and s not in sm.mem_waiters
