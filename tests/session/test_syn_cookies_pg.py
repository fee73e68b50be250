"""SYN cookies for whole frames (tcp4-listen past the backlog): the SYN-ACKs are the bytes the
per-segment path (TcpMain.send_cookie) sends, a cookie's ACK still opens the connection, and
segments the frame path leaves alone keep their order. Frames in through pg0, out captured."""

from __future__ import annotations

import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.helpers.pgnet import PEER_IP, PEER_MAC, VPP_IP, VPP_MAC, PgNet, a2i, ip4
from vppsh.session.tcp import cookies, isn
from vppsh.vnet.devices.offload import finish_in_place
from vppsh.wire import tcp as wtcp
from vppsh.wire.checksum import csum
from vppsh.session.tcp.connection import TcpState
from vppsh.session.transport import TransportProto

LINUX_SYN = b"\x02\x04\x05\xb4\x04\x02\x08\x0a\x00\x00\x00\x01\x00\x00\x00\x00\x01\x03\x03\x07"
OPTION_LAYOUTS = [
    b"",  # hping3's SYNs
    b"\x02\x04\x05\xb4",  # MSS only
    b"\x02\x04\x00\x00",  # MSS 0: taken as 536
    b"\x02\x04\x23\x28",  # MSS 9000
    LINUX_SYN,
    wtcp.build_options(mss=1460, wscale=7, sack_permitted=True, timestamp=(5, 0)),  # vppsh's own
    b"\x01\x01\x02\x04\x05\xb4\x00\x00",  # NOPs first: the per-segment path parses it
    b"\x08\x0a\x00\x00",  # truncated timestamps: "Could not parse options" (per-segment path)
]


@pytest.fixture
def net(shell, monkeypatch):
    n = PgNet(shell)
    shell.run("session enable")
    shell.run("test echo server uri tcp://0.0.0.0/1234")
    shell.run("set tcp syn-backlog 0")  # every SYN gets a cookie
    shell.run("set ip neighbor pg0 10.10.1.9 02:fe:00:00:00:09 static")
    monkeypatch.setattr(isn, "_slot", lambda: 77)  # no 64 s slot boundary between two runs
    dev = shell.vm.interfaces.by_name["pg0"].hw.device
    vm = shell.vm

    def tx(node, frame):  # what the wire would carry: partial checksums finished
        frame = finish_in_place(dev, node, vm.buffers, frame)
        n.sent.extend(vm.buffers.packet(b) for b in frame.tolist())
        vm.buffers.free(frame)

    shell.call(lambda: setattr(dev, "tx", tx))
    return n


def syn(sport: int, opts: bytes = b"", src: str = PEER_IP, flags: int = wtcp.SYN, seq: int = 1000,
        ack: int = 0, ip_options: bytes = b"", payload: bytes = b"") -> bytes:
    seg = wtcp.build(sport, 1234, seq, ack, flags, 64240, payload, opts, a2i(src), a2i(VPP_IP))
    return VPP_MAC + PEER_MAC + b"\x08\x00" + ip4(6, src, VPP_IP, seg, ip_options)


def errors(shell) -> dict[tuple[str, str], int]:
    out = {}
    for line in shell.run("show errors").splitlines():
        m = re.match(r"\s*(\d+)\s+(\S+)\s+(.*?)\s+(error|info|warn)\s*$", line)
        if m:
            out[(m.group(2), m.group(3))] = int(m.group(1))
    return out


def both_paths(net, monkeypatch, frames: list[bytes]) -> tuple[list[bytes], list[bytes]]:
    """What the frame path sends for `frames`, and what the per-segment path sends, sorted, IP
    ids and header checksums blanked (the frame path numbers its SYN-ACKs before the rest)."""
    tm = net.vm.session.transports[TransportProto.TCP]
    outs = []
    for frame_path in (True, False):
        if not frame_path:
            monkeypatch.setattr(cookies, "cookie_syns", lambda *a: None)
        net.shell.call(lambda: setattr(tm, "ip_id", 100))
        net.inject(frames)
        sent = net.take()
        assert all(csum(p[:20]) == 0 for p in sent)
        outs.append(sorted(p[:4] + bytes(2) + p[6:10] + bytes(2) + p[12:] for p in sent))
    return outs[0], outs[1]


def test_frame_cookies_are_the_per_segment_bytes(shell, net, monkeypatch):
    frames = [syn(40000 + i, o, seq=0xFFFFFFF0 + i) for i, o in enumerate(OPTION_LAYOUTS)]
    fast, slow = both_paths(net, monkeypatch, frames)
    assert len(slow) == len(OPTION_LAYOUTS) - 1  # the truncated options are dropped
    assert fast == slow
    for p in fast:
        h = wtcp.parse(p[20:])
        assert wtcp.checksum_ok(a2i(VPP_IP), a2i(PEER_IP), p[20:])
        assert h.flags == wtcp.SYN | wtcp.ACK and h.options[:2] == b"\x02\x04" and len(h.options) == 4
        assert isn.check_cookie(a2i(VPP_IP), 1234, a2i(PEER_IP), h.dst_port, (h.ack - 1) & 0xFFFFFFFF,
                                h.seq + 1) is not None


@settings(max_examples=40, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.integers(1, 0xFFFF), st.integers(0, 0xFFFFFFFF), st.sampled_from(OPTION_LAYOUTS),
                          st.sampled_from(["10.10.1.1", "10.10.1.9", "192.0.2.7", "0.1.2.3"]),
                          st.sampled_from([wtcp.SYN, wtcp.SYN | wtcp.FIN, wtcp.SYN | wtcp.PSH, wtcp.SYN | wtcp.ACK,
                                           wtcp.ACK]),
                          st.booleans()), min_size=1, max_size=12))
def test_any_frame_gets_the_per_segment_answers(shell, net, monkeypatch, segs):
    """Random frames of SYNs (options, flags, sources on and off the subnet, some with IP
    options, duplicates of a 4-tuple): the frame path sends what the per-segment path sends."""
    frames = [syn(sp, o, src, fl, seq, ack=5 if fl & wtcp.ACK else 0,
                  ip_options=b"\x01\x01\x01\x00" if ipo else b"") for sp, seq, o, src, fl, ipo in segs]
    with monkeypatch.context() as m:
        fast, slow = both_paths(net, m, frames)
    assert fast == slow


def test_a_cookie_ack_opens_the_connection(shell, net):
    net.inject([syn(40100, b"\x02\x04\x05\xb4", seq=7000)])
    (sa,) = net.take()
    h = wtcp.parse(sa[20:])
    assert h.ack == 7001
    net.inject([syn(40100, flags=wtcp.ACK, seq=7001, ack=h.seq + 1),
                syn(40100, flags=wtcp.ACK | wtcp.PSH, seq=7001, ack=h.seq + 1, payload=b"hello")])
    echoed = b"".join(p[40:] for p in net.take())
    assert echoed == b"hello"
    assert re.search(r"10\.10\.1\.1:40100\s+ESTABLISHED", shell.run("show session verbose"))
    e = errors(shell)
    assert e[("tcp4-listen", "SYN cookies sent")] == 1 and e[("tcp4-listen", "SYN cookies accepted")] == 1, e


def test_a_listener_with_room_keeps_state(shell, net):
    """Under the backlog a SYN still makes a half-open connection (options negotiated)."""
    shell.run("set tcp syn-backlog 4")
    net.inject([syn(40200 + i, LINUX_SYN) for i in range(6)])
    synacks = [wtcp.parse(p[20:]) for p in net.take()]
    assert len(synacks) == 6
    assert sum(len(h.options) > 4 for h in synacks) == 4  # full options: real half-opens
    assert shell.vm.session.pool[0].conn.half_open == 4
    e = errors(shell)
    assert e[("tcp4-listen", "SYNs received")] == 6 and e[("tcp4-listen", "SYN cookies sent")] == 2



def test_no_cookies_for_an_app_out_of_fifo_memory(shell, net):
    """Its SYNs are dropped, as below the backlog (TcpMain.on_syn): a connection it could not
    take is not offered."""
    app = shell.vm.session.pool[0].app
    shell.call(lambda: app.budget.charge(app.budget.room()))
    net.inject([syn(40300 + i) for i in range(3)])
    assert net.take() == []
    assert errors(shell)[("tcp4-listen", "SYNs dropped: no fifo memory")] == 3
    shell.call(lambda: app.budget.release(app.budget.used))
    net.inject([syn(40300 + i) for i in range(3)])
    assert len(net.take()) == 3


def _half_opens(shell, net, n: int, cookies_too: int = 0):
    """`n` half-open connections (peers that never answer) on a backlog of 16, then
    `cookies_too` more SYNs (answered with cookies); the half-opens' SYN-ACKs taken."""
    shell.run("set tcp syn-backlog 16")
    net.inject([syn(41000 + i, LINUX_SYN) for i in range(n + cookies_too)])
    net.take()
    tm, ls = shell.vm.session.transports[TransportProto.TCP], shell.vm.session.pool[0].conn
    conns = [c for c in tm.conns if c is not None]
    assert len(conns) == ls.half_open == ls.young == n

    def timeout(c):  # the SYN-ACK retransmission timer fires (called directly: no waiting)
        shell.call(c._timeout_syn)
        shell.call(tm.flush)

    return tm, ls, conns, timeout


def test_half_opens_are_pruned_while_the_backlog_is_over_half_full(shell, net):
    """Linux's reqsk_timer_handler: a backlog more than half full of half-opens whose SYN-ACK
    already timed out gives them 2 retransmissions, not 5 (gone after 7 s, not 63); young
    ones (not timed out yet) keep it from pruning, and so does a backlog half empty."""
    tm, ls, conns, timeout = _half_opens(shell, net, 16)
    timeout(conns[0])  # the first to time out while the others are young: 5 retransmissions
    assert tm.synack_retries(conns[0]) == 5 and ls.young == 15
    for _ in range(3):
        for c in conns[1:]:
            timeout(c)
    gone = [c.state is TcpState.CLOSED for c in conns]
    assert ls.young == 0 and sum(gone) == 8 and ls.half_open == 8  # pruned down to half the backlog
    assert tm.stats["timeout establish"] == 8 and all(c.rto_boff == 3 for c in conns[1:])
    assert sum(wtcp.parse(p[20:]).flags == wtcp.SYN | wtcp.ACK for p in net.take()) == 1 + 2 * 15 + 7


def test_a_floods_half_opens_all_go(shell, net):
    """Once the backlog overflowed (cookies sent), pruning goes on below half: every half-open
    of a flood goes after 2 retransmissions, so the backlog is empty 7 s after the flood."""
    tm, ls, conns, timeout = _half_opens(shell, net, 16, cookies_too=1)
    for _ in range(3):
        for c in conns:
            timeout(c)
    assert all(c.state is TcpState.CLOSED for c in conns) and ls.half_open == ls.young == 0
    assert tm.stats["timeout establish"] == 16
