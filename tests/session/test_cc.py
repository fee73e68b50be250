"""Congestion control window arithmetic: slow start, congestion avoidance, CUBIC's curve."""

from __future__ import annotations

import pytest

from vppsh.session.tcp.cc import Cubic, make

MSS = 1000


def rtt_of_acks(cc, now, rtt=0.1):
    """Ack one window's worth, one segment at a time (one RTT)."""
    for _ in range(cc.cwnd // MSS):
        cc.on_ack(MSS, now, rtt, cc.cwnd)


def test_initial_window_and_slow_start_doubles():
    cc = make("newreno", MSS, 0.0)
    assert cc.cwnd == 10 * MSS and cc.ssthresh == 2**31 - 1
    rtt_of_acks(cc, 0.1)
    assert cc.cwnd == 20 * MSS


def test_newreno_avoidance_is_one_mss_per_rtt():
    cc = make("newreno", MSS, 0.0)
    cc.on_congestion(40 * MSS, 0.0)
    assert cc.cwnd == cc.ssthresh == 20 * MSS
    rtt_of_acks(cc, 0.1)
    assert cc.cwnd == 21 * MSS


def test_rto_collapses_to_one_segment_and_floors():
    for name in ("newreno", "cubic"):
        cc = make(name, MSS, 0.0)
        cc.on_rto(MSS, 0.0)
        assert cc.cwnd == MSS and cc.ssthresh >= 2 * MSS


def test_cubic_follows_its_curve_after_a_loss():
    cc = Cubic(MSS, 0.0)
    cc.cwnd = 100 * MSS
    cc.ssthresh = 50 * MSS
    cc.on_congestion(100 * MSS, 0.0)
    assert cc.cwnd == 70 * MSS and cc.w_max == 100
    t, rtt = 0.0, 0.05
    for _ in range(200):  # 10 s of RTTs
        t += rtt
        rtt_of_acks(cc, t, rtt)
    k = (100 * (1 - 0.7) / 0.4) ** (1 / 3)
    expect = 0.4 * (t - k) ** 3 + 100
    assert cc.cwnd / MSS == pytest.approx(expect, rel=0.35)
    assert cc.cwnd > 100 * MSS  # past W_max: convex growth resumed


def test_cubic_fast_convergence():
    cc = Cubic(MSS, 0.0)
    cc.cwnd = 100 * MSS
    cc.on_congestion(100 * MSS, 0.0)
    cc.cwnd = 80 * MSS  # a second loss before regaining W_max
    cc.on_congestion(80 * MSS, 1.0)
    assert cc.w_max == pytest.approx(80 * (1 + 0.7) / 2)


def test_unknown_algorithm():
    with pytest.raises(ValueError):
        make("vegas", MSS, 0.0)
