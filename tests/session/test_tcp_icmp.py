"""TCP and the ICMP errors about its segments, sans-IO (two connections on tests/helpers/tcp_link's
wire): packet too big lowers the MSS and resends what is in flight at once (RFC 8201, never below
1280; IPv4's fragmentation needed, never below Linux's 552), errors that quote nothing in flight
are ignored (RFC 5927), an error while connecting ends the attempt, a hard one ends a passive
half-open silently, and once connected an error is only remembered: a later timeout reports it
(Linux's tcp_v4_err / tcp_v6_err). tests/system/test_tcp6_icmp.py has a kernel router send them."""

from __future__ import annotations

import random

from tests.helpers.tcp_link import A, B, Link, Recorder
from vppsh.session.tcp.connection import CLOSED, SYN_RCVD, SYN_SENT, W32
from vppsh.wire.tcp import ACK, SYN

A6, B6 = 0x20010DB8 << 96 | 1, 0x20010DB8 << 96 | 2


def connected(link: Link, src: int, dst: int):
    srv, cli = Recorder(), Recorder()
    link.listen(srv, dst, 80)
    link.connect(cli, src, 40000, dst, 80)
    link.run(4 * link.delay)
    return cli.opened[0], srv


def test_packet_too_big_lowers_the_mss_and_resends_in_flight_data_at_once():
    link = Link()
    cs, srv = connected(link, A6, B6)
    c = cs.conn
    assert c.mss_max == 1440 and c.snd_mss == 1428  # 1500 - 60, less the timestamps option
    # a 1,280-byte link on the way: what is bigger dies there
    link.lose = lambda s: s.c is c and 60 + len(s.seg.opts) + len(s.seg.data) > 1280
    data = random.Random(1).randbytes(30000)
    link.send(cs, data)
    una = c.snd_una
    assert c.snd_nxt > una and link.segments(sender=c)[-1].data  # in flight, all lost
    before = len(link.sent)
    assert c.icmp_error("message too long", False, True, 1280, una & W32) == "pmtu"
    assert (c.mss_max, c.snd_mss, c.info()["pmtu"]) == (1220, 1208, 1280)
    link.run(0.05)  # well before the first RTO (1 s)
    assert bytes(srv.got) == data
    after = link.segments(before, sender=c)
    assert after[0].seq == una & W32 and all(len(s.data) <= 1208 for s in after)


def test_packet_too_big_that_is_stale_below_the_minimum_or_no_lower_is_ignored():
    link = Link()
    cs, _srv = connected(link, A6, B6)
    c = cs.conn
    link.send(cs, bytes(1000))
    far = (c.snd_una + 100000) & W32
    assert c.icmp_error("message too long", False, True, 1280, far) == "ignored"  # not in flight
    assert c.icmp_error("message too long", False, True, 1279, c.snd_una & W32) == "ignored"  # RFC 8201
    assert c.icmp_error("message too long", False, True, 9000, c.snd_una & W32) == "ignored"  # only down
    assert c.snd_mss == 1428


def test_ipv4_fragmentation_needed_goes_no_lower_than_552():
    link = Link()
    cs, srv = connected(link, A, B)
    c = cs.conn
    link.send(cs, bytes(5000))
    assert c.icmp_error("message too long", False, True, 68, c.snd_una & W32) == "pmtu"
    assert (c.mss_max, c.snd_mss, c.info()["pmtu"]) == (512, 500, 552)
    link.run(0.05)
    assert len(srv.got) == 5000


def test_an_error_while_connecting_ends_the_attempt_soft_or_hard():
    for err, hard in (("network is unreachable", False), ("permission denied", True)):
        link = Link()
        srv, cli = Recorder(), Recorder()
        link.listen(srv, B6, 80)
        link.lose = lambda s: bool(s.flags & SYN)  # the SYN goes nowhere
        c = link.connect(cli, A6, 40000, B6, 80)
        assert c.state is SYN_SENT
        assert c.icmp_error(err, hard, False, 0, (c.iss + 5) & W32) == "ignored"  # not what we sent
        assert c.icmp_error(err, hard, False, 0, c.iss & W32) is True
        assert c.state is CLOSED and cli.events == [("connected", err)] and c.abort_reason == err


def test_a_hard_error_ends_a_passive_half_open_silently_a_soft_one_does_not():
    for hard in (False, True):
        link = Link()
        srv, cli = Recorder(), Recorder()
        link.listen(srv, B6, 80)
        link.lose = lambda s: s.flags & (SYN | ACK) == SYN | ACK  # the SYN-ACK goes nowhere
        link.connect(cli, A6, 40000, B6, 80)
        link.run(4 * link.delay)
        (half,) = [x for x in link.sm.conns.values() if x.state is SYN_RCVD]
        assert half.icmp_error("connection refused", hard, False, 0, half.iss & W32) is hard
        assert (half.state is CLOSED) == hard and srv.events == []


def test_a_soft_error_once_connected_is_reported_only_by_a_timeout_unless_acks_come():
    link = Link()
    cs, srv = connected(link, A6, B6)
    c = cs.conn
    link.send(cs, bytes(100))
    assert c.icmp_error("no route to host", False, False, 0, c.snd_una & W32) is False
    link.run(0.05)  # acknowledged: the path works after all
    assert c.soft_error is None and len(srv.got) == 100
    link.lose = lambda s: s.c is c  # now the path is gone
    link.send(cs, bytes(100))
    assert c.icmp_error("no route to host", False, False, 0, c.snd_una & W32) is False
    assert c.state is not CLOSED and cs.app.events == [("connected", None)]
    link.run(3000)  # all retransmissions (RFC 6298 backoff to 60 s) come and go
    assert c.state is CLOSED and c.abort_reason == "no route to host"
    assert [e for e, _ in cs.app.events if e == "reset"] == ["reset"]
