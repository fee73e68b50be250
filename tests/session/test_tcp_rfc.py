"""TCP's RFC behaviour, two connections wired to each other with no engine and no root
(tests/helpers/tcp_link.py): the clock is the test's, so timers are exact, and every segment
either side sent can be looked at. tests/system/test_tcp.py checks the same against the
Linux kernel through a tap."""

from __future__ import annotations

import os
import random

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tests.helpers.tcp_link import A, B, Link, Recorder
from vppsh.session.tcp.connection import (CLOSE_WAIT, CLOSED, CLOSING, ESTABLISHED, FIN_WAIT_1, FIN_WAIT_2,
                                          LAST_ACK, TIME_WAIT, W32, Segment)
from vppsh.session.transport import ConnOptions
from vppsh.wire.tcp import ACK, RST, SYN


def forged(c, seq: int, flags: int, ack: int = 0, data: bytes = b"") -> Segment:
    """A segment to connection c as if from its peer, seq/ack unwrapped."""
    return Segment(c.rmt_ip, c.lcl_ip, c.rmt_port, c.lcl_port, seq & W32, ack & W32, flags, 65535, b"",
                   memoryview(data))


def test_handshake_data_both_ways_and_a_clean_close():
    link = Link()
    cs, ss = link.handshake()
    link.send(cs, b"ping" * 5000)
    link.send(ss, b"pong" * 3000)
    link.run(0.5)
    assert ss.app.got == b"ping" * 5000 and cs.app.got == b"pong" * 3000
    c, s = cs.conn, ss.conn
    c.app_close()
    link.flush()
    link.run(0.01)
    assert (c.state, s.state) == (FIN_WAIT_2, CLOSE_WAIT)
    s.app_close()
    link.flush()
    link.run(0.01)
    assert (c.state, s.state) == (TIME_WAIT, CLOSED)
    link.run(link.cfg.timewait_time + 0.1)
    assert c.state is CLOSED and not link.sm.conns


# ------------------------------------------------------------ RFC 5961
def test_rst_outside_the_window_dropped_inside_challenged_at_rcv_nxt_accepted():
    link = Link()
    cs, ss = link.handshake()
    s = ss.conn
    mark = len(link.sent)
    link.arrive(forged(s, s.rcv_nxt + 10_000_000, RST))  # far outside the window: nothing
    assert s.state is ESTABLISHED and not link.segments(mark)
    link.arrive(forged(s, s.rcv_nxt + 100, RST))  # in the window, not at rcv_nxt: challenge ACK
    acks = link.segments(mark, sender=s)
    assert s.state is ESTABLISHED and len(acks) == 1 and acks[0].flags == ACK and acks[0].ack == s.rcv_nxt & W32
    link.arrive(forged(s, s.rcv_nxt, RST))  # exactly rcv_nxt: the connection goes
    assert s.state is CLOSED and ss.app.saw("reset")


def test_a_syn_on_an_established_connection_gets_a_challenge_ack():
    link = Link()
    cs, ss = link.handshake()
    s = ss.conn
    mark = len(link.sent)
    link.arrive(forged(s, s.rcv_nxt + 5, SYN))
    assert s.state is ESTABLISHED
    assert [x.flags for x in link.segments(mark, sender=s)] == [ACK]


def test_challenge_acks_are_rate_limited():
    link = Link()
    link.cfg.challenge_acks_per_s = 10
    cs, ss = link.handshake()
    s = ss.conn
    mark = len(link.sent)
    for i in range(50):
        link.arrive(forged(s, s.rcv_nxt + 100 + i, RST))
    assert len(link.segments(mark, sender=s)) == 10
    link.run(1.0)
    link.arrive(forged(s, s.rcv_nxt + 100, RST))
    assert len(link.segments(mark, sender=s)) == 11


# ------------------------------------------------------------ windows
def test_zero_window_persist_probes_back_off_until_the_window_opens():
    link = Link()
    srv = Recorder(fifo=16 << 10, hold=True)  # reads nothing until told
    cs, ss = link.handshake(srv=srv)
    c = cs.conn
    link.send(cs, bytes(60_000))  # more than the 16k the receiver can hold
    link.run(0.1)
    assert ss.rx_fifo.size == 16 << 10 and c.snd_wnd == 0
    mark = len(link.sent)
    link.run(6.0)
    probes = [x for x in link.sent[mark:] if x.c is c and not x.seg.data]
    assert len(probes) >= 3 and all(p.seg.seq == (c.snd_una - 1) & W32 for p in probes)  # SND.UNA - 1
    link.read(ss)  # the app reads: the window opens, the rest arrives
    for _ in range(10):  # reading as it comes
        link.run(1.0)
        link.read(ss)
    assert srv.got == bytes(60_000)


def test_a_syn_ack_offers_no_more_than_the_apps_fifo():
    """The window of a passive open is the accepting app's fifo: offering more (the default 1 MB)
    could not be taken back once that fifo is full, and the peer's data would be dropped."""
    link = Link()
    link.handshake(srv=Recorder(fifo=16 << 10))
    synack = next(x.seg for x in link.sent if x.flags == SYN | ACK)
    assert synack.wnd == 16 << 10


def test_persist_probes_back_off():
    link = Link()
    cs, ss = link.handshake(srv=Recorder(fifo=16 << 10, hold=True))
    c = cs.conn
    link.send(cs, bytes(60_000))
    link.run(0.1)
    times = []
    for _ in range(400):  # 40 s in 100 ms steps: when each probe left
        n = len(link.sent)
        link.run(0.1)
        if any(x.c is c and not x.seg.data for x in link.sent[n:]):
            times.append(link.clock)
    gaps = [b - a for a, b in zip(times, times[1:])]
    assert len(gaps) >= 3 and all(b >= a for a, b in zip(gaps, gaps[1:])) and gaps[-1] > 2 * gaps[0], gaps


# ------------------------------------------------------------ keepalive
def test_keepalive_probes_then_reset_when_the_peer_is_silent():
    link = Link()
    cs, ss = link.handshake()
    c, s = cs.conn, ss.conn
    c.apply_options(ConnOptions(keepalive=True, keep_idle=1.0, keep_intvl=0.5, keep_cnt=2))
    link.lose = lambda sent: sent.c is s  # the peer vanished
    mark = len(link.sent)
    link.run(0.9)
    assert not link.segments(mark, sender=c)
    link.run(2.5)
    probes = link.segments(mark, sender=c)
    assert [p.flags for p in probes][:2] == [ACK, ACK] and all(p.seq == (c.snd_nxt - 1) & W32 for p in probes[:2])
    assert c.state is CLOSED and cs.app.saw("reset") and c.abort_reason == "timed out"


def test_keepalive_answered_keeps_the_connection():
    link = Link()
    cs, ss = link.handshake()
    c = cs.conn
    c.apply_options(ConnOptions(keepalive=True, keep_idle=1.0, keep_intvl=0.5, keep_cnt=2))
    link.run(10.0)
    assert c.state is ESTABLISHED and ss.conn.state is ESTABLISHED
    assert sum(1 for x in link.sent if x.c is c) >= 5  # a probe each idle period, each answered


# ------------------------------------------------------------ closing
def test_time_wait_holds_the_four_tuple_then_a_newer_syn_reuses_it():
    link = Link()
    cli, srv = Recorder(), Recorder()
    cs, ss = link.handshake(srv=srv, cli=cli)
    c, s = cs.conn, ss.conn
    s.app_close()  # the server closes first: it is the one in TIME_WAIT
    link.flush()
    link.run(0.01)
    c.app_close()
    link.flush()
    link.run(0.01)
    assert s.state is TIME_WAIT and c.state is CLOSED
    # an old duplicate SYN (not past what TIME_WAIT saw) is not a new connection
    link.arrive(forged(s, s.rcv_nxt - 10, SYN))
    assert s.state is TIME_WAIT and len(srv.opened) == 1
    # the client reconnects from the same port with a later ISN: TIME_WAIT gives way
    c2 = link.connect(cli, A, 40000, B, 80)
    c2.snd_una = c2.snd_nxt  # (the ISN is already out; RFC 6528's are clock-driven, past the old)
    link.run(0.05)
    assert s.state is CLOSED and len(srv.opened) == 2 and srv.opened[1].conn.state is ESTABLISHED


def test_time_wait_ends_after_its_time():
    link = Link()
    cs, ss = link.handshake()
    c = cs.conn
    c.app_close()
    link.flush()
    link.run(0.01)
    ss.conn.app_close()
    link.flush()
    link.run(0.01)
    assert c.state is TIME_WAIT
    link.run(link.cfg.timewait_time - 0.1)
    assert c.state is TIME_WAIT
    link.run(0.2)
    assert c.state is CLOSED


def test_simultaneous_close_goes_through_closing():
    link = Link(delay=0.01)  # both FINs are out before either arrives
    cs, ss = link.handshake()
    c, s = cs.conn, ss.conn
    c.app_close()
    s.app_close()
    link.flush()
    assert (c.state, s.state) == (FIN_WAIT_1, FIN_WAIT_1)
    link.run(0.015)
    assert (c.state, s.state) == (CLOSING, CLOSING)
    link.run(0.02)
    assert (c.state, s.state) == (TIME_WAIT, TIME_WAIT)


def test_half_close_keeps_the_other_direction():
    link = Link()
    cs, ss = link.handshake()
    c, s = cs.conn, ss.conn
    link.send(cs, b"request")
    c.shutdown_wr()  # FIN after the request; the reply still comes
    link.flush()
    link.run(0.01)
    assert ss.app.saw("disconnect") and ss.app.got == b"request" and (c.state, s.state) == (FIN_WAIT_2, CLOSE_WAIT)
    link.send(ss, b"reply" * 10_000)
    link.run(0.5)
    assert cs.app.got == b"reply" * 10_000
    s.app_close()
    link.flush()
    assert s.state is LAST_ACK
    link.run(0.01)
    assert (c.state, s.state) == (TIME_WAIT, CLOSED)


# ------------------------------------------------------------ loss recovery
def test_one_lost_segment_is_resent_once_from_sacks_without_an_rto():
    link = Link(delay=0.005)
    cs, ss = link.handshake()
    c = cs.conn
    lost = []
    data_segs = [0]

    def lose(sent):  # the fifth data segment, once
        if sent.c is c and sent.seg.data:
            data_segs[0] += 1
            if data_segs[0] == 5:
                lost.append((sent.seg.seq, len(sent.seg.data)))
                return True
        return False

    link.lose = lose
    data = os.urandom(60_000)
    link.send(cs, data)
    link.run(1.0)
    assert ss.app.got == data and lost
    resent = [x.seg for x in link.sent if x.c is c and x.seg.data and x.seg.seq == lost[0][0]]
    assert len(resent) == 2  # the original and one retransmission
    assert c.stats["fr"] == 1 and c.stats["tr"] == 0 and c.sack_ok


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(seed=st.integers(0, 2**32 - 1), loss=st.sampled_from([0.02, 0.1, 0.25]))
@example(seed=15, loss=0.25)  # both sides back in go-back-N at once: they must still hear the ACKs
def test_random_loss_both_ways_delivers_everything_in_order(seed, loss):
    """With a quarter of the segments lost each way, retransmissions back off to RTO_MAX at
    times: the budget is 30 simulated minutes, not wall time."""
    rnd = random.Random(seed)
    link = Link(delay=0.002)
    cs, ss = link.handshake()
    link.lose = lambda sent: rnd.random() < loss
    up, down = rnd.randbytes(150_000), rnd.randbytes(80_000)  # more than a 64k fifo holds
    written = {cs: 0, ss: 0}
    for _ in range(18_000):  # each app writes what its tx fifo takes as it drains
        for s, data in ((cs, up), (ss, down)):
            if written[s] < len(data):
                written[s] += link.send(s, data[written[s]:])
        link.run(0.1)
        if len(ss.app.got) == len(up) and len(cs.app.got) == len(down):
            break
    assert ss.app.got == up and cs.app.got == down
