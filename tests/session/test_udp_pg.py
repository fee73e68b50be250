"""UDP on the session layer, fed by injected frames on a pg interface (no kernel): validation,
lookup, ICMP port unreachable, datagram boundaries, connected sessions, fifo-full drops."""

import re
import struct

import pytest

from tests.helpers.pgnet import PEER_IP, PEER_MAC, VPP_IP, VPP_MAC, PgNet, Recorder, a2i, ip4, parse_udp, udp
from vppsh.session.dgram import recv_dgram, send_dgram
from vppsh.session.main import SessionError
from vppsh.vlib.buffer import F_OFFLOAD
from vppsh.wire.checksum import csum
from vppsh.session.transport import TransportProto


@pytest.fixture
def net(shell):
    shell.run("session enable")
    return PgNet(shell)


def test_echo_server_echoes_each_datagram_to_its_sender(shell, net):
    shell.run("test echo server uri udp://0.0.0.0/1234")
    net.inject([udp(b"hello"), udp(b"world!", sport=6666), udp(b"", sport=7777), udp(bytes(range(256)) * 5)])
    out = [parse_udp(p) for p in net.take()]
    assert out == [(VPP_IP, PEER_IP, 1234, 5555, b"hello", True), (VPP_IP, PEER_IP, 1234, 6666, b"world!", True),
                   (VPP_IP, PEER_IP, 1234, 7777, b"", True),
                   (VPP_IP, PEER_IP, 1234, 5555, bytes(range(256)) * 5, True)]
    err = shell.run("show errors")
    assert re.search(r"4\s+udp4-input\s+Packets enqueued", err), err
    assert re.search(r"4\s+udp4-output\s+Packets sent", err), err


def test_reply_leaves_from_the_address_the_datagram_was_sent_to(shell):
    shell.run("session enable")
    net = PgNet(shell, extra_addrs=("10.20.0.1",))
    shell.run("test echo server uri udp://0.0.0.0/1234")
    net.inject([udp(b"to-loop", dst="10.20.0.1")])
    (src, dst, sport, dport, data, ok), = [parse_udp(p) for p in net.take()]
    assert (src, dst, sport, dport, data, ok) == ("10.20.0.1", PEER_IP, 1234, 5555, b"to-loop", True)


def test_bad_checksum_and_lengths_are_counted_under_ip4_receive(shell, net):
    shell.run("test echo server uri udp://0.0.0.0/1234")
    net.inject([udp(b"x" * 100, csum_ok=False), udp(b"abc", ulen=200), udp(b"abc", ulen=4),
                udp(b"no checksum", zero_csum=True)])
    out = [parse_udp(p)[4] for p in net.take()]
    assert out == [b"no checksum"]
    err = shell.run("show errors")
    assert re.search(r"1\s+ip4-receive\s+bad udp checksum\s+error", err), err
    assert re.search(r"2\s+ip4-receive\s+inconsistent udp/ip lengths\s+error", err), err


def test_offloaded_checksum_is_trusted(shell, net):
    """The kernel handed the packet over with a partial/validated checksum (virtio-net flags)."""
    shell.run("test echo server uri udp://0.0.0.0/1234")
    net.inject([udp(b"partial", csum_ok=False)], flags=F_OFFLOAD)
    assert [parse_udp(p)[4] for p in net.take()] == [b"partial"]


def test_udp_length_shorter_than_ip_payload_trims_the_datagram(shell, net):
    shell.run("test echo server uri udp://0.0.0.0/1234")
    frame = udp(b"abcdef", zero_csum=True, ulen=8 + 3)
    net.inject([frame])
    assert [parse_udp(p)[4] for p in net.take()] == [b"abc"]


def test_ip_options_do_not_confuse_the_parser(shell, net):
    shell.run("test echo server uri udp://0.0.0.0/1234")
    net.inject([udp(b"with options", options=b"\x01\x01\x01\x00"), udp(b"plain")])
    assert sorted(parse_udp(p)[4] for p in net.take()) == [b"plain", b"with options"]


@pytest.mark.parametrize("n", [1, 3, 9])
def test_scalar_and_vector_paths_agree(shell, net, n):
    """Frames of up to 4 packets take the nodes' scalar path: same replies, same counters."""
    shell.run("test echo server uri udp://0.0.0.0/1234")
    kinds = [udp(b"ok"), udp(b"bad", csum_ok=False), udp(b"short", ulen=300), udp(b"closed", dport=9),
             udp(b"nocsum", zero_csum=True), udp(b"off", csum_ok=False)]
    frames = [kinds[i % len(kinds)] for i in range(n)]
    net.inject(frames)
    out = sorted((p[9], p[20:22] if p[9] == 1 else parse_udp(p)[4]) for p in net.take())
    want = {0: (17, b"ok"), 3: (1, b"\x03\x03"), 4: (17, b"nocsum")}
    assert out == sorted(want[i % len(kinds)] for i in range(n) if i % len(kinds) in want)
    err = shell.run("show errors")
    bad = sum(1 for i in range(n) if i % len(kinds) in (1, 5))
    if bad:
        assert re.search(rf"{bad}\s+ip4-receive\s+bad udp checksum", err), err


def test_closed_port_gets_icmp_port_unreachable(shell, net):
    for enabled in (True, False):  # with the session layer on, and with it off
        if not enabled:
            shell.run("session disable")
        frame = udp(b"anyone?", dport=999)
        net.inject([frame])
        (pkt,) = net.take()
        assert pkt[9] == 1 and pkt[20] == 3 and pkt[21] == 3, pkt.hex()  # ICMP dest unreachable, port
        assert pkt[12:16] == bytes([10, 10, 1, 2]) and pkt[16:20] == bytes([10, 10, 1, 1])
        assert pkt[28:] == frame[14:]  # the offending datagram quoted whole
    err = shell.run("show errors")
    assert re.search(r"1\s+ip4-udp-lookup\s+No listener for dst port", err), err
    assert re.search(r"2\s+ip4-icmp-error\s+destination unreachable response se", err), err


def test_datagram_boundaries_and_senders_are_kept(shell, net):
    vm = shell.vm
    app = Recorder(vm)

    def listen():
        vm.session.attach(app)
        return vm.session.listen(app, TransportProto.UDP, 0, 4000)

    shell.call(listen)
    frames = [udp(b"one", dport=4000), udp(b"two two", sport=5556, dport=4000), udp(b"", dport=4000),
              udp(b"three", sport=5557, src="10.10.1.7", dport=4000)] + [udp(b"more", dport=4000)] * 4
    net.inject(frames)
    got = [(d.data, d.rmt_ip, d.rmt_port, d.lcl_ip, d.lcl_port) for d in app.got]
    assert got == [(b"one", a2i(PEER_IP), 5555, a2i(VPP_IP), 4000), (b"two two", a2i(PEER_IP), 5556, a2i(VPP_IP), 4000),
                   (b"", a2i(PEER_IP), 5555, a2i(VPP_IP), 4000), (b"three", a2i("10.10.1.7"), 5557, a2i(VPP_IP), 4000)] \
        + [(b"more", a2i(PEER_IP), 5555, a2i(VPP_IP), 4000)] * 4
    assert app.rx_calls == 1  # one notification for the whole frame
    app.got.clear()
    net.inject(frames[:4])  # a small frame takes the scalar path: same datagrams
    assert [(d.data, d.rmt_ip, d.rmt_port, d.lcl_ip, d.lcl_port) for d in app.got] == got[:4]


def test_connected_session_sends_and_receives(shell, net):
    vm = shell.vm
    app = Recorder(vm)

    def connect():
        vm.session.attach(app)
        return vm.session.connect(app, TransportProto.UDP, a2i(PEER_IP), 7777, "ctx")

    conn = shell.call(connect)
    (s, err, opaque), = app.connected
    assert err is None and opaque == "ctx" and s.state == "opened"
    lport = conn.lcl_port
    assert 49152 <= lport <= 65535
    shell.call(lambda: send_dgram(vm.session, s, b"ping"))
    shell.run("wait 0.05")
    (pkt,) = net.take()
    assert parse_udp(pkt) == (VPP_IP, PEER_IP, lport, 7777, b"ping", True)
    assert pkt[8] == 255 and pkt[6] & 0x40 == 0  # TTL 255, no DF, as VPP's session output
    net.inject([udp(b"pong", sport=7777, dport=lport), udp(b"stranger", sport=7778, dport=lport)])
    assert [d.data for d in app.got] == [b"pong"]
    assert s.state == "ready"
    stranger = net.take()  # not our peer, no listener on the port: port unreachable
    assert len(stranger) == 1 and stranger[0][20:22] == b"\x03\x03"
    verbose = shell.run("show session verbose")
    assert re.search(rf"^\[0:{s.index}\]\[U\] 10\.10\.1\.2:{lport}->10\.10\.1\.1:7777 +OPENED +0 +0 +$", verbose,
                     re.M), verbose
    detail = shell.run(f"show session thread 0 index {s.index}")
    assert " index 0 cfg:  flags: CONNECTED, OWNS_PORT" in detail
    assert re.search(r" fib_index 0 next_node 0 opaque 0 sw_if_index 1 mss 8972 duration \S+", detail), detail
    assert " stats: in dgrams 1 bytes 4 err 0\n        out dgrams 1 bytes 4" in detail
    assert " session: state: ready opaque: 0x0 flags: " in detail
    assert re.search(r"\d+\s+udp4-input\s+Connected session", shell.run("show errors"))


def test_sendto_rules(shell, net):
    vm = shell.vm
    app = Recorder(vm, fifo=4096)

    def setup():
        vm.session.attach(app)
        return vm.session.listen(app, TransportProto.UDP, 0, 4001)

    ls = shell.call(setup)
    with pytest.raises(SessionError, match="destination address required"):
        shell.call(lambda: send_dgram(vm.session, ls, b"x"))
    with pytest.raises(SessionError, match="message too long"):
        shell.call(lambda: send_dgram(vm.session, ls, bytes(70000), a2i(PEER_IP), 9))
    # a full tx fifo takes nothing (a datagram is never cut) and asks for tx space
    assert shell.call(lambda: [send_dgram(vm.session, ls, bytes(1000), a2i(PEER_IP), 9) for _ in range(5)]) == \
        [1000, 1000, 1000, 1000, 0]
    shell.run("wait 0.05")
    assert app.tx_space == 1  # told once the fifo drained
    out = [parse_udp(p) for p in net.take()]
    assert [(o[0], o[2], o[3], len(o[4]), o[5]) for o in out] == [(VPP_IP, 4001, 9, 1000, True)] * 4


def test_fifo_full_drops_whole_datagrams(shell, net):
    vm = shell.vm
    app = Recorder(vm, fifo=1000, auto_read=False)
    shell.call(lambda: (vm.session.attach(app), vm.session.listen(app, TransportProto.UDP, 0, 4002)))
    net.inject([udp(b"a" * 400, dport=4002), udp(b"b" * 400, dport=4002), udp(b"c" * 400, dport=4002)])
    ls = next(iter(app.sessions))
    got = shell.call(lambda: [recv_dgram(ls) for _ in range(3)])
    assert [g[0] if g else None for g in got] == [b"a" * 400, b"b" * 400, None]
    assert re.search(r"1\s+udp4-input\s+Fifo full\s+error", shell.run("show errors"))


def test_one_frame_many_flows(shell, net):
    """The lookup runs per distinct flow in the frame; every datagram still finds its session."""
    vm = shell.vm
    apps = [Recorder(vm) for _ in range(3)]

    def setup():
        for i, a in enumerate(apps):
            vm.session.attach(a)
            vm.session.listen(a, TransportProto.UDP, 0, 5000 + i)

    shell.call(setup)
    frames = [udp(struct.pack("!H", k), sport=20000 + k % 7, dport=5000 + k % 4) for k in range(200)]
    net.inject(frames)
    for i, a in enumerate(apps):
        assert [struct.unpack("!H", d.data)[0] for d in a.got] == [k for k in range(200) if k % 4 == i]
    assert len(net.take()) == 50  # port 5003: unreachable


def test_disable_detaches_apps_and_frees_ports(shell, net):
    shell.run("test echo server uri udp://0.0.0.0/1234")
    assert "1234" in shell.run("show udp transport ports")
    shell.run("session disable")
    shell.run("session enable")
    assert shell.run("show session") == "Thread 0: no sessions\n"
    assert shell.run("show udp transport ports") == "port proto ref-cnt\n"
    net.inject([udp(b"late")])
    assert net.take()[0][20:22] == b"\x03\x03"


def test_trace_through_the_udp_nodes(shell, net):
    shell.run("test echo server uri udp://0.0.0.0/1234")
    shell.run("packet-generator new { name u limit 1 node ethernet-input interface pg0 data { "
              "IP4: 02:fe:00:00:00:01 -> 02:00:00:00:00:01 UDP: 10.10.1.1 -> 10.10.1.2 "
              "UDP: 5555 -> 1234 incrementing 10 } }")
    shell.run("trace add pg-input 5")
    shell.run("packet-generator enable-stream u")
    shell.run("wait 0.1")
    trace = shell.run("show trace")
    nodes = re.findall(r"^\d\d:\d\d:\d\d:\d{6}: (\S+)$", trace, re.M)
    assert nodes[:6] == ["pg-input", "ethernet-input", "ip4-input", "ip4-lookup", "ip4-receive",
                         "ip4-udp-lookup"], trace
    assert "udp4-input" in nodes and "UDP: src-port 5555 dst-port 1234" in trace


def test_icmp_errors_reach_connected_sessions_only(shell, net):
    """ip4-icmp-error-input: a port unreachable quoting what a connected session sent is its
    ECONNREFUSED (Linux's hard error); soft errors and errors about no session are counted."""
    import errno

    vm = shell.vm
    errors = []

    class Errs(Recorder):
        def on_error(self, s, err):
            errors.append((s, err))

    app = Errs(vm)

    def connect():
        vm.session.attach(app)
        return vm.session.connect(app, TransportProto.UDP, a2i(PEER_IP), 7777, "ctx")

    conn = shell.call(connect)
    (s, _err, _opaque), = app.connected
    sent = ip4(17, VPP_IP, PEER_IP, struct.pack("!HHHH", conn.lcl_port, 7777, 12, 0) + b"ping")

    def icmp(itype, code, quoted=sent):
        body = bytes([itype, code, 0, 0, 0, 0, 0, 0]) + quoted
        body = body[:2] + struct.pack("!H", csum(body)) + body[4:]
        return VPP_MAC + PEER_MAC + b"\x08\x00" + ip4(1, PEER_IP, VPP_IP, body)

    other = ip4(17, VPP_IP, PEER_IP, struct.pack("!HHHH", 40000, 7777, 12, 0) + b"ping")
    net.inject([icmp(3, 3)])
    net.inject([icmp(11, 0), icmp(3, 1)])  # time exceeded, host unreachable: soft
    net.inject([icmp(3, 3, other), icmp(3, 3, sent[:20])])  # no such session; too short to say
    assert errors == [(s, errno.ECONNREFUSED)]
    err = shell.run("show errors")
    assert re.search(r"1\s+ip4-icmp-error-input\s+ICMP errors delivered to sessions", err), err
    assert re.search(r"2\s+ip4-icmp-error-input\s+ICMP soft errors not reported", err), err
    assert re.search(r"1\s+ip4-icmp-error-input\s+ICMP errors about no session", err), err
    assert re.search(r"1\s+ip4-icmp-error-input\s+ICMP error too short", err), err
