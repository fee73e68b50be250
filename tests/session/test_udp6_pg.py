"""UDP over IPv6 on the session layer, fed by frames injected on a pg interface (no kernel):
ip6-udp-lookup's checks (a zero checksum is invalid over IPv6), extension headers, port
unreachable, listeners of each family, connected sessions, the session table's IPv6 rows,
datagrams fragmented at the source, and the scalar path agreeing with the vector one. Frames are
built and read back with scapy; tests/system/test_udp6.py checks the same against Linux."""

from __future__ import annotations

import re
import struct

import numpy as np
import pytest
from scapy.layers.inet import UDP
from scapy.layers.inet6 import ICMPv6DestUnreach, IPv6, IPv6ExtHdrDestOpt, IPv6ExtHdrFragment, in6_chksum
from scapy.layers.l2 import Ether

from tests.helpers.pgnet import ME6, PEER6, PM, VPP_MAC, Recorder, frame6 as frame, net6, sent6 as sent
from vppsh.session.dgram import HDR6_LEN, recv_dgram, send_dgram
from vppsh.session.main import SessionError
from vppsh.session.transport import TransportProto
from vppsh.wire.ip6 import parse_ip6

ME, PEER, OTHER = ME6, PEER6, "2001:db8::7"


def u6(payload: bytes = b"", sport: int = 5555, dport: int = 1234, src: str = PEER, dst: str = ME, **kw) -> bytes:
    return frame(IPv6(src=src, dst=dst) / UDP(sport=sport, dport=dport, **kw) / payload)


def raw_u6(payload: bytes, sport: int = 5555, dport: int = 1234, csum: int | None = None, ulen: int | None = None,
           plen_extra: int = 0) -> bytes:
    """A datagram with the UDP header as given (scapy would fix what we break)."""
    body = struct.pack("!HHHH", sport, dport, 8 + len(payload) if ulen is None else ulen, 0) + payload
    ip = IPv6(src=PEER, dst=ME, nh=17, plen=len(body) + plen_extra)
    good = in6_chksum(17, IPv6(src=PEER, dst=ME), struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload)
    body = body[:6] + struct.pack("!H", good if csum is None else csum) + body[8:]
    return bytes(Ether(dst=VPP_MAC.hex(":"), src=PM, type=0x86DD)) + bytes(ip) + body + bytes(plen_extra)


def checksum_ok(p: IPv6) -> bool:
    """The UDP checksum verifies, and is not zero (RFC 8200 8.1: a computed zero is sent as all ones)."""
    u = bytes(p[UDP])
    return p[UDP].chksum == (in6_chksum(17, p, u[:6] + b"\0\0" + u[8:]) or 0xFFFF)


def count(shell, node: str, reason: str) -> int:
    m = re.search(rf"^\s*(\d+)\s+{re.escape(node)}\s+{re.escape(reason)}", shell.run("show errors"), re.M)
    return int(m.group(1)) if m else 0


@pytest.fixture
def net(shell):
    shell.run("session enable")
    n = net6(shell)
    shell.run(f"set ip neighbor pg0 {OTHER} {PM} static")
    return n


def test_echo_server_echoes_each_datagram_from_the_address_it_was_sent_to(shell, net):
    shell.run("test echo server uri udp://::/1234")
    datas = [b"hello", b"", bytes(range(256)) * 5, b"x" * 1452]
    net.inject([u6(d, sport=6000 + i) for i, d in enumerate(datas)])
    out = sent(net)
    assert [(p.src, p.dst, p.hlim, p.nh, p[UDP].sport, p[UDP].dport, bytes(p[UDP].payload)) for p in out] == \
        [(ME, PEER, 255, 17, 1234, 6000 + i, d) for i, d in enumerate(datas)]
    assert all(checksum_ok(p) for p in out)
    assert count(shell, "udp6-input", "Packets enqueued") == 4
    assert count(shell, "udp6-output", "Packets sent") == 4
    out = shell.run("show session verbose")
    assert re.search(r"^\[0:0\]\[U\] :::1234->:::0 +LISTEN +0 +0 +$", out, re.M), out


def test_zero_bad_and_short_checksums_and_lengths_are_dropped_and_counted(shell, net):
    """RFC 8200 8.1: a zero UDP checksum is invalid over IPv6 (counted as VPP's ip6-local
    counts it: bad udp checksum); lengths that do not fit the payload are inconsistent."""
    shell.run("test echo server uri udp://::/1234")
    net.inject([raw_u6(b"zero", csum=0), raw_u6(b"bad", csum=0x1234), raw_u6(b"long", ulen=200),
                raw_u6(b"short", ulen=4), raw_u6(b"fine")])
    assert [bytes(p[UDP].payload) for p in sent(net)] == [b"fine"]
    assert count(shell, "ip6-receive", "bad udp checksum") == 2
    assert count(shell, "ip6-receive", "inconsistent udp/ip lengths") == 2
    net.inject([raw_u6(b"zero", csum=0)])  # alone: the scalar path leaves it to the vector one
    assert sent(net) == [] and count(shell, "ip6-receive", "bad udp checksum") == 3


def test_udp_length_shorter_than_the_payload_trims_the_datagram(shell, net):
    shell.run("test echo server uri udp://::/1234")
    net.inject([raw_u6(b"abcdef", plen_extra=6)])  # 6 bytes of trailing padding past the UDP length
    assert [bytes(p[UDP].payload) for p in sent(net)] == [b"abcdef"]


def test_extension_headers_before_udp(shell, net):
    shell.run("test echo server uri udp://::/1234")
    net.inject([frame(IPv6(src=PEER, dst=ME) / IPv6ExtHdrDestOpt() / IPv6ExtHdrDestOpt() / UDP(sport=7, dport=1234)
                      / b"behind two headers"), u6(b"plain")])
    assert sorted(bytes(p[UDP].payload) for p in sent(net)) == [b"behind two headers", b"plain"]


def test_port_unreachable_with_and_without_the_session_layer(shell, net):
    for enabled in (True, False):
        if not enabled:
            shell.run("session disable")
        f = u6(b"anyone?", dport=999)
        net.inject([f])
        (pkt,) = sent(net)
        e = pkt[ICMPv6DestUnreach]
        assert (pkt.src, pkt.dst, e.code) == (ME, PEER, 4)
        assert bytes(e.payload) == f[14:]  # the datagram quoted whole
    assert count(shell, "ip6-udp-lookup", "No listener for dst port") == 1
    assert count(shell, "ip6-icmp-error", "destination unreachable response se") == 2


def test_listeners_are_per_family(shell, net):
    """udp://0.0.0.0/P takes IPv4 only, udp://::/P IPv6 only: one of each on a port coexist."""
    shell.run("test echo server uri udp://0.0.0.0/1234")
    net.inject([u6(b"v6 to a v4 listener")])
    (pkt,) = sent(net)
    assert pkt[ICMPv6DestUnreach].code == 4
    vm = shell.vm
    app = Recorder(vm)
    shell.call(lambda: (vm.session.attach(app), vm.session.listen(app, TransportProto.UDP, 0, 1234, ip6=True)))
    net.inject([u6(b"now")])
    assert [(d.data, d.ip6, d.rmt_ip, d.lcl_ip) for d in app.got] == [(b"now", True, parse_ip6(PEER), parse_ip6(ME))]
    out = shell.run("show session verbose")
    assert re.search(r"^\[0:0\]\[U\] 0\.0\.0\.0:1234->0\.0\.0\.0:0 +LISTEN", out, re.M), out
    assert re.search(r"^\[0:1\]\[U\] :::1234->:::0 +LISTEN", out, re.M), out


def test_bound_to_an_address(shell, net):
    vm = shell.vm
    app = Recorder(vm)
    shell.call(lambda: (vm.session.attach(app), vm.session.listen(app, TransportProto.UDP, parse_ip6(ME), 4000)))
    net.inject([u6(b"to me", dport=4000)])
    assert [d.data for d in app.got] == [b"to me"]
    assert re.search(r"\[U\] 2001:db8::1:4000->:::0 +LISTEN", shell.run("show session verbose"))


def test_connected_session_sends_and_receives(shell, net):
    vm = shell.vm
    app = Recorder(vm)

    def connect():
        vm.session.attach(app)
        return vm.session.connect(app, TransportProto.UDP, parse_ip6(PEER), 7777, "ctx")

    conn = shell.call(connect)
    (s, err, opaque), = app.connected
    assert err is None and opaque == "ctx" and conn.ip6
    lport = conn.lcl_port
    shell.call(lambda: send_dgram(vm.session, s, b"ping"))
    shell.run("wait 0.05")
    (p,) = sent(net)
    assert (p.src, p.dst, p.hlim, p[UDP].sport, p[UDP].dport, bytes(p[UDP].payload)) == \
        (ME, PEER, 255, lport, 7777, b"ping")
    assert checksum_ok(p)
    net.inject([u6(b"pong", sport=7777, dport=lport), u6(b"stranger", sport=7778, dport=lport)])
    assert [(d.data, d.ip6) for d in app.got] == [(b"pong", True)]
    assert s.state == "ready"
    (unreach,) = sent(net)  # not our peer, nothing listens on the port: port unreachable
    assert unreach[ICMPv6DestUnreach].code == 4
    verbose = shell.run("show session verbose")
    assert re.search(rf"^\[0:{s.index}\]\[U\] 2001:db8::1:{lport}->2001:db8::2:7777 +OPENED +0 +0 +$", verbose,
                     re.M), verbose
    detail = shell.run(f"show session thread 0 index {s.index}")
    assert re.search(r" fib_index 0 next_node 0 opaque 0 sw_if_index 1 mss 8952 duration \S+", detail), detail
    assert " stats: in dgrams 1 bytes 4 err 0\n        out dgrams 1 bytes 4" in detail


def test_sendto_rules(shell, net):
    vm = shell.vm
    app = Recorder(vm, fifo=4096)
    ls = shell.call(lambda: (vm.session.attach(app), vm.session.listen(app, TransportProto.UDP, 0, 4001, ip6=True))[1])
    with pytest.raises(SessionError, match="address family not supported"):
        shell.call(lambda: send_dgram(vm.session, ls, b"x", 0x0A000001, 9))  # an IPv4 peer from an IPv6 session
    with pytest.raises(SessionError, match="message too long"):
        shell.call(lambda: send_dgram(vm.session, ls, bytes(70000), parse_ip6(PEER), 9))
    # a full tx fifo takes nothing (a datagram is never cut): each takes its 48-byte header too
    per = HDR6_LEN + 1000
    assert shell.call(lambda: [send_dgram(vm.session, ls, bytes(1000), parse_ip6(PEER), 9)
                               for _ in range(5)]) == [1000] * (4096 // per) + [0] * (5 - 4096 // per)
    shell.run("wait 0.05")
    assert app.tx_space == 1
    assert [(p.src, p[UDP].sport, p[UDP].dport, len(p[UDP].payload)) for p in sent(net)] == \
        [(ME, 4001, 9, 1000)] * (4096 // per)


@pytest.mark.parametrize("mtu,size", [(1280, 1233), (1280, 3000), (1500, 1452), (1500, 1453), (9000, 5000)])
def test_datagrams_larger_than_the_path_mtu_are_fragmented_at_the_source(shell, net, mtu, size):
    """As Linux's ip6_fragment: fragments of at most the MTU (and of a buffer), each a multiple
    of 8 data bytes but the last, one identification; a datagram that fits goes whole."""
    shell.run(f"set interface mtu ip6 {mtu} pg0")
    vm = shell.vm
    app = Recorder(vm)
    data = bytes(i * 7 & 0xFF for i in range(size))

    def connect():
        vm.session.attach(app)
        return vm.session.connect(app, TransportProto.UDP, parse_ip6(PEER), 7777)

    conn = shell.call(connect)
    assert conn.mss == mtu - 48
    (s, _e, _o), = app.connected
    shell.call(lambda: send_dgram(vm.session, s, data))
    shell.run("wait 0.05")
    pkts = sent(net)
    limit = min(mtu, vm.buffers.data_size)
    assert all(len(bytes(p)) <= limit for p in pkts)
    if 48 + size <= limit:
        (p,) = pkts
        assert bytes(p[UDP].payload) == data and checksum_ok(p)
        return
    frags = [p[IPv6ExtHdrFragment] for p in pkts]
    assert len({f.id for f in frags}) == 1 and [f.m for f in frags] == [1] * (len(frags) - 1) + [0]
    assert all(len(bytes(f.payload)) % 8 == 0 for f in frags[:-1])
    whole = b"".join(bytes(f.payload) for f in frags)
    assert [f.offset * 8 for f in frags] == [sum(len(bytes(x.payload)) for x in frags[:i]) for i in range(len(frags))]
    ulen = struct.unpack_from("!H", whole, 4)[0]
    assert ulen == 8 + size and whole[8:] == data
    assert in6_chksum(17, IPv6(src=ME, dst=PEER), whole[:6] + b"\0\0" + whole[8:]) == \
        struct.unpack_from("!H", whole, 6)[0]
    assert count(shell, "udp6-output", "Packets sent") == len(pkts)  # cut at the source, not by ip6-frag
    assert count(shell, "ip6-frag", "number of sent fragments") == 0


@pytest.mark.parametrize("n", [1, 3, 9])
def test_scalar_and_vector_paths_agree(shell, net, n):
    """Frames of up to 4 packets take the nodes' scalar path: same replies, same counters."""
    shell.run("test echo server uri udp://::/1234")
    kinds = [u6(b"ok"), raw_u6(b"bad", csum=0x4242), raw_u6(b"short", ulen=300), u6(b"closed", dport=9),
             raw_u6(b"zero", csum=0), frame(IPv6(src=PEER, dst=ME) / IPv6ExtHdrDestOpt() / UDP(sport=3, dport=1234)
                                             / b"ext")]
    net.inject([kinds[i % len(kinds)] for i in range(n)])
    got = sorted((p.nh, bytes(p[UDP].payload) if p.nh == 17 else p[ICMPv6DestUnreach].code) for p in sent(net))
    want = {0: (17, b"ok"), 3: (58, 4), 5: (17, b"ext")}
    assert got == sorted(want[i % len(kinds)] for i in range(n) if i % len(kinds) in want)
    bad = sum(1 for i in range(n) if i % len(kinds) in (1, 4))
    assert count(shell, "ip6-receive", "bad udp checksum") == bad


def test_one_frame_many_flows(shell, net):
    vm = shell.vm
    apps = [Recorder(vm) for _ in range(3)]

    def setup():
        for i, a in enumerate(apps):
            vm.session.attach(a)
            vm.session.listen(a, TransportProto.UDP, 0, 5000 + i, ip6=True)

    shell.call(setup)
    frames = [u6(struct.pack("!H", k), sport=20000 + k % 7, dport=5000 + k % 4, src=PEER if k % 3 else OTHER)
              for k in range(200)]
    net.inject(frames)
    for i, a in enumerate(apps):
        assert [struct.unpack("!H", d.data)[0] for d in a.got] == [k for k in range(200) if k % 4 == i]
        assert {d.rmt_ip for d in a.got} == {parse_ip6(PEER), parse_ip6(OTHER)}
    unreach = sent(net)  # port 5003: port unreachable, as many as ICMPv6's rate limit lets out
    assert unreach and all(p[ICMPv6DestUnreach].code == 4 for p in unreach)
    assert count(shell, "ip6-udp-lookup", "No listener for dst port") == 50


def test_fifo_full_drops_whole_datagrams(shell, net):
    vm = shell.vm
    app = Recorder(vm, fifo=1000, auto_read=False)
    shell.call(lambda: (vm.session.attach(app), vm.session.listen(app, TransportProto.UDP, 0, 4002, ip6=True)))
    net.inject([u6(b"a" * 400, dport=4002), u6(b"b" * 400, dport=4002), u6(b"c" * 400, dport=4002)])
    ls = next(iter(app.sessions))
    got = shell.call(lambda: [recv_dgram(ls) for _ in range(3)])
    assert [g[0] if g else None for g in got] == [b"a" * 400, b"b" * 400, None]
    assert count(shell, "udp6-input", "Fifo full") == 1


def test_echo_clients_over_ipv6(shell, net):
    """test echo clients uri udp://[IPv6]/port against a peer we play: every datagram echoed."""
    vm = shell.vm
    peer_port = 4242
    dev = vm.interfaces.by_name["pg0"].hw.device
    echoed = []

    def tx(node, fr):  # the peer: echo each datagram straight back in the next dispatch
        for b in fr.tolist():
            p = Ether(vm.buffers.packet(b))
            if UDP in p and p[UDP].dport == peer_port:
                echoed.append(len(p[UDP].payload))
                back = u6(bytes(p[UDP].payload), sport=peer_port, dport=p[UDP].sport)
                nb = vm.buffers.alloc(1)
                vm.buffers.write(nb, np.frombuffer(back, np.uint8)[None, :], np.array([len(back)]))
                vm.buffers.sw_if_index[0, nb] = net.sw
                vm.stage("ethernet-input", nb)
        vm.buffers.free(fr)

    shell.call(lambda: setattr(dev, "tx", tx))
    out = shell.run(f"test echo clients uri udp://{PEER}/{peer_port} bytes 20000 test-bytes", timeout=60)
    assert "20000 bytes (0 mbytes, 0 gbytes) in " in out, out
    assert sum(echoed) == 20000 and max(echoed) == 1460


def test_udp_port_tables_per_family(shell, net):
    """`show udp transport ports` as VPP's: the ip4 table, then the ip6 one; `show udp ports`
    lists a well-known port bound by the session layer under the family that bound it."""
    vm = shell.vm
    app = Recorder(vm)

    def setup():
        vm.session.attach(app)
        vm.session.listen(app, TransportProto.UDP, 0, 1234)
        vm.session.listen(app, TransportProto.UDP, 0, 1234, ip6=True)
        vm.session.listen(app, TransportProto.UDP, parse_ip6(ME), 3784, ip6=True)
        vm.session.connect(app, TransportProto.UDP, parse_ip6(PEER), 7, lcl_port=1234, lcl_ip=parse_ip6(ME))

    shell.call(setup)
    assert shell.run("show udp transport ports") == \
        "port proto ref-cnt\n1234   ip4       1\n1234   ip6       2\n3784   ip6       1\n"
    assert shell.run("show udp transport ports ip6 3784") == "port proto ref-cnt\n3784   ip6       1\n"
    assert shell.run("show udp transport ports ip4") == "port proto ref-cnt\n1234   ip4       1\n"
    assert shell.run("show udp ports") == "port proto node desc\n3784   ip6 none bfd6\n"


@pytest.mark.parametrize("size", [1800, 5000])
def test_fragmented_datagrams_reach_their_session_and_the_echo_goes_back_fragmented(shell, net, size):
    """ip6-local-full-reassembly puts the peer's fragments together: what fits a buffer starts
    over at ip6-input, a larger datagram comes to UDP's handler; the echo leaves in fragments.
    To a port nobody holds, the whole datagram gets port unreachable (quoting its start)."""
    from scapy.layers.inet6 import fragment6

    shell.run("set interface mtu ip6 1500 pg0")
    shell.run("test echo server uri udp://::/1234 fifo-size 64")
    data = bytes(i * 13 & 0xFF for i in range(size))
    for dport in (1234, 999):
        pkt = IPv6(src=PEER, dst=ME) / IPv6ExtHdrFragment(id=77 + dport) / UDP(sport=5555, dport=dport) / data
        net.inject([frame(f) for f in fragment6(pkt, 1280)])
        out = sent(net)
        if dport == 999:
            (pu,) = out
            assert pu[ICMPv6DestUnreach].code == 4 and len(bytes(pu)) <= 1280
            continue
        assert len(out) > 1 and all(len(bytes(p)) <= 1500 for p in out)
        whole = b"".join(bytes(p[IPv6ExtHdrFragment].payload) for p in out)
        assert struct.unpack_from("!HHH", whole) == (1234, 5555, 8 + size) and whole[8:] == data
        assert in6_chksum(17, IPv6(src=ME, dst=PEER), whole[:6] + b"\0\0" + whole[8:]) == \
            struct.unpack_from("!H", whole, 6)[0]
    assert count(shell, "ip6-local-full-reassembly", "successful reassemblies") == 2
    assert count(shell, "ip6-udp-lookup", "No listener for dst port") == 1


def test_icmp6_errors_reach_connected_sessions(shell, net):
    """ip6-icmp-error-input: a port unreachable quoting what a connected session sent is its
    ECONNREFUSED (Linux's icmpv6_err_convert: hard); a packet too big lowers its path MTU, so
    what it sends next leaves in fragments of that size; errors about no session are counted."""
    import errno

    from scapy.layers.inet6 import ICMPv6PacketTooBig

    vm = shell.vm
    errors = []

    class Errs(Recorder):
        def on_error(self, s, err):
            errors.append((s, err))

    app = Errs(vm)
    conn = shell.call(lambda: (vm.session.attach(app),
                               vm.session.connect(app, TransportProto.UDP, parse_ip6(PEER), 7777))[1])
    (s, _e, _o), = app.connected
    sent_pkt = IPv6(src=ME, dst=PEER) / UDP(sport=conn.lcl_port, dport=7777) / (b"x" * 1300)
    other = IPv6(src=ME, dst=PEER) / UDP(sport=40000, dport=7777) / b"x"
    net.inject([frame(IPv6(src=PEER, dst=ME) / ICMPv6DestUnreach(code=4) / sent_pkt),
                frame(IPv6(src=PEER, dst=ME) / ICMPv6DestUnreach(code=4) / other)])
    assert errors == [(s, errno.ECONNREFUSED)]
    assert count(shell, "ip6-icmp-error-input", "ICMP errors about no session") == 1
    assert conn.mss == 8952
    net.inject([frame(IPv6(src="2001:db8::9", dst=ME) / ICMPv6PacketTooBig(mtu=1280) / sent_pkt)])
    assert conn.mss == 1280 - 48 and errors == [(s, errno.ECONNREFUSED)]  # soft: no errno for the app
    shell.call(lambda: send_dgram(vm.session, s, b"y" * 1300))
    shell.run("wait 0.05")
    pkts = sent(net)
    assert len(pkts) == 2 and all(len(bytes(p)) <= 1280 for p in pkts) and IPv6ExtHdrFragment in pkts[0]
