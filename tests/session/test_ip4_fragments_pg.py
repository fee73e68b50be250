"""IPv4 reassembly (ip4-local-full-reassembly) and fragmentation (ip4-frag, UDP's big sends),
with crafted fragments injected on a pg interface and what leaves pg0 checked with scapy: in
order, reversed, shuffled, duplicated and overlapping fragments, timeouts, limits, DF."""

from __future__ import annotations

import random
import re
import time

import pytest
from scapy.all import ICMP, IP, UDP, Raw, defragment, fragment

from tests.helpers.pgnet import PEER_IP, PEER_MAC, VPP_IP, VPP_MAC, PgNet, a2i
from vppsh.session.app import App
from vppsh.session.dgram import recv_dgram, send_dgram
from vppsh.vnet.ip4.frag import FragError
from vppsh.vnet.ip4.frag import fragment as vfragment
from vppsh.wire.checksum import csum
from vppsh.session.transport import TransportProto

PORT = 4000


class Recorder(App):
    def __init__(self, vm) -> None:
        super().__init__("recorder", 1 << 18, 1 << 18)
        self.vm, self.got = vm, []

    def on_rx(self, s):
        while (d := recv_dgram(s)) is not None:
            self.got.append(d)


@pytest.fixture
def net(shell):
    shell.run("session enable")
    n = PgNet(shell)
    shell.run("set interface mtu 1500 pg0")
    return n


@pytest.fixture
def app(shell, net):
    vm = shell.vm
    a = Recorder(vm)

    def listen():
        vm.session.attach(a)
        return vm.session.listen(a, TransportProto.UDP, 0, PORT)

    a.ls = shell.call(listen)
    return a


def eth(ip_pkt) -> bytes:
    return VPP_MAC + PEER_MAC + b"\x08\x00" + bytes(ip_pkt)


def udp_frags(payload: bytes, ident: int, size: int = 1480, sport: int = 5555, dport: int = PORT):
    return fragment(IP(src=PEER_IP, dst=VPP_IP, id=ident) / UDP(sport=sport, dport=dport) / Raw(payload),
                    fragsize=size)


def raw_frag(ident: int, offset: int, data: bytes, mf: bool, proto: int = 17) -> IP:
    """One hand-made fragment: `offset` in bytes (a multiple of 8)."""
    return IP(src=PEER_IP, dst=VPP_IP, id=ident, proto=proto, flags="MF" if mf else 0, frag=offset // 8) / Raw(data)


def errors(shell) -> str:
    return shell.run("show errors")


def count(err: str, node: str, reason: str) -> int:
    m = re.search(rf"^\s*(\d+)\s+{re.escape(node)}\s+{re.escape(reason[:35])}", err, re.M)  # column width
    return int(m.group(1)) if m else 0


def reass_count(shell) -> int:
    return int(re.search(r"Current full IP4 reassemblies count: (\d+)", shell.run("show ip4-full-reassembly")).group(1))


@pytest.mark.parametrize("order", ["in-order", "reversed", "shuffled"])
@pytest.mark.parametrize("size", [1000, 4000, 60000])
def test_datagram_from_fragments_in_any_order(shell, net, app, order, size):
    data = random.Random(size).randbytes(size)
    frags = udp_frags(data, 0x1234, size=256 if size == 1000 else 1480)
    assert len(frags) > 1
    if order == "reversed":
        frags = frags[::-1]
    elif order == "shuffled":
        random.Random(7).shuffle(frags)
    net.inject([eth(f) for f in frags])
    assert [(d.data, d.rmt_ip, d.rmt_port, d.lcl_port) for d in app.got] == [(data, a2i(PEER_IP), 5555, PORT)]
    err = errors(shell)
    assert count(err, "ip4-local-full-reassembly", "successful reassemblies") == 1, err
    assert count(err, "ip4-local-full-reassembly", "fragments reassembled") == len(frags), err
    assert count(err, "ip4-local-full-reassembly", "fragments received") == len(frags), err
    assert reass_count(shell) == 0


def test_interleaved_datagrams_and_one_fragment_per_frame(shell, net, app):
    a, b = random.Random(1).randbytes(5000), random.Random(2).randbytes(3000)
    fa, fb = udp_frags(a, 1), udp_frags(b, 1, sport=5556)  # same id, other sport: same key
    fc = udp_frags(b, 2)
    mixed = [x for pair in zip(fa, fc) for x in pair] + fa[len(fc):]
    net.inject([eth(f) for f in mixed])
    for f in fb:  # one per dispatch: fragments wait across frames
        net.inject([eth(f)])
    assert sorted(len(d.data) for d in app.got) == [3000, 3000, 5000]
    assert {(d.data, d.rmt_port) for d in app.got} == {(a, 5555), (b, 5555), (b, 5556)}


def test_duplicates_are_dropped_alone(shell, net, app):
    data = random.Random(3).randbytes(7000)
    frags = udp_frags(data, 77)
    net.inject([eth(f) for f in frags[:-1] + frags[1:3] + frags[-1:]])
    assert [d.data for d in app.got] == [data]
    err = errors(shell)
    assert count(err, "ip4-local-full-reassembly", "duplicate/overlapping fragments") == 2, err
    assert reass_count(shell) == 0


def test_inconsistent_overlap_drops_the_datagram(shell, net, app):
    net.inject([eth(raw_frag(9, 0, bytes(8) + b"A" * 16, True)),  # UDP header + 16 bytes
                eth(raw_frag(9, 16, b"B" * 16, True)),  # overlaps bytes 16..23
                eth(raw_frag(9, 32, b"C" * 8, False))])
    assert app.got == []
    err = errors(shell)
    # the overlapping one and the one held are dropped; the last starts a new (doomed) one
    assert count(err, "ip4-local-full-reassembly", "duplicate/overlapping fragments") == 2, err
    assert reass_count(shell) == 1
    # a fragment inside an existing one is an overlap too (not a duplicate: other offsets)
    net.inject([eth(raw_frag(10, 0, bytes(32), True)), eth(raw_frag(10, 8, bytes(8), True))])
    assert count(errors(shell), "ip4-local-full-reassembly", "duplicate/overlapping fragments") == 4


def test_disagreeing_last_fragment_drops_the_datagram(shell, net, app):
    net.inject([eth(raw_frag(11, 0, bytes(8) + b"x" * 24, True)), eth(raw_frag(11, 48, b"y" * 8, False)),
                eth(raw_frag(11, 32, b"z" * 32, True))])  # beyond the last fragment's end
    assert app.got == []
    assert count(errors(shell), "ip4-local-full-reassembly", "malformed packets") == 3
    assert reass_count(shell) == 0


def test_missing_fragment_times_out(shell, net, app):
    shell.run("set ip reassembly timeout 600000 expire-walk-interval 10")  # held until we look
    data = random.Random(4).randbytes(6000)
    frags = udp_frags(data, 321)
    held = frags[:2] + frags[3:]
    net.inject([eth(f) for f in held])
    details = shell.run("show ip4-full-reassembly details")
    assert re.search(rf"key: fib_index: 0, src: {PEER_IP}, dst: {VPP_IP}, frag_id: 321, proto: 17", details), details
    assert "Current full IP4 reassemblies count: 1" in details
    assert len(re.findall(r"  #\d{3}: range: \[", details)) == len(held)
    shell.run("set ip reassembly timeout 1")
    deadline = time.monotonic() + 30  # however slow the machine, the walk gets there
    while reass_count(shell) and time.monotonic() < deadline:
        shell.run("wait 0.05")
    assert reass_count(shell) == 0
    err = errors(shell)
    assert count(err, "ip4-local-full-reassembly", "fragments dropped due to reassembly timeout") == len(held), err
    shell.run("set ip reassembly timeout 600000")
    net.inject([eth(frags[2])])  # too late: alone, it waits for fragments that are gone
    assert app.got == [] and reass_count(shell) == 1


def test_too_large_datagram_is_dropped(shell, net, app):
    net.inject([eth(raw_frag(12, 0, bytes(8) + bytes(1472), True)),
                eth(raw_frag(12, 65512, bytes(16), False))])  # would end past 65535
    assert app.got == [] and reass_count(shell) == 0
    assert count(errors(shell), "ip4-local-full-reassembly", "malformed packets") == 2
    # non-last fragments must carry a multiple of 8 bytes
    net.inject([eth(raw_frag(13, 0, bytes(13), True))])
    assert count(errors(shell), "ip4-local-full-reassembly", "malformed packets") == 3


def test_limits(shell, net, app):
    shell.run("set ip reassembly max-reassemblies 2 max-reassembly-length 4")
    assert "Maximum configured concurrent full IP4 reassemblies per worker-thread: 2" in \
        shell.run("show ip4-full-reassembly")
    net.inject([eth(raw_frag(i, 0, bytes(16), True)) for i in (20, 21, 22)])
    err = errors(shell)
    assert count(err, "ip4-local-full-reassembly", "drops due to concurrent reassemblies limit") == 1, err
    shell.run("set ip reassembly max-reassemblies 10")
    net.inject([eth(f) for f in udp_frags(bytes(3000), 30, size=504)])  # 7 fragments > 4
    assert app.got == []
    err = errors(shell)
    assert count(err, "ip4-local-full-reassembly", "fragment chain too long (drop)") == 5, err
    net.inject([eth(f) for f in udp_frags(bytes(1200), 31, size=504)])  # 3: fine
    assert [len(d.data) for d in app.got] == [1200]


def test_big_datagram_to_closed_port_gets_port_unreachable(shell, net, app):
    frags = udp_frags(bytes(5000), 40, dport=999)
    net.inject([eth(f) for f in frags])
    (pkt,) = net.take()
    assert pkt[9] == 1 and pkt[20:22] == b"\x03\x03"
    assert pkt[28:48] == bytes(frags[0])[:2] + (5028).to_bytes(2, "big") + bytes(frags[0])[4:6] + b"\0\0" \
        + bytes(frags[0])[8:10] + pkt[38:40] + bytes(frags[0])[12:20]  # the reassembled header quoted


def test_big_datagram_with_bad_checksum_is_dropped(shell, net, app):
    p = IP(bytes(IP(src=PEER_IP, dst=VPP_IP, id=41) / UDP(sport=1, dport=PORT) / Raw(bytes(3000))))
    p[UDP].chksum ^= 0x5555
    net.inject([eth(f) for f in fragment(p, 1480)])
    assert app.got == []
    assert count(errors(shell), "ip4-receive", "bad udp checksum") == 1


def sent_fragments(net) -> list[IP]:
    out = [IP(p) for p in net.take()]
    for p in out:
        raw = bytes(p)
        assert len(raw) <= 1500
        assert csum(raw[:20]) == 0  # header checksum per fragment
        if p.flags.MF:
            assert (len(raw) - 20) % 8 == 0
    return out


@pytest.mark.parametrize("size", [1800, 4000, 60000, 65507])
def test_large_udp_send_leaves_in_fragments(shell, net, app, size):
    vm = shell.vm
    data = random.Random(size).randbytes(size)
    assert shell.call(lambda: send_dgram(vm.session, app.ls, data, a2i(PEER_IP), 7777)) == size
    shell.run("wait 0.05")
    frags = sent_fragments(net)
    assert len(frags) == -(-(size + 8) // 1480)
    assert len({p.id for p in frags}) == 1 and not any(p.flags.DF for p in frags)
    assert sorted(p.frag * 8 for p in frags) == [i * 1480 for i in range(len(frags))]
    (whole,) = defragment(frags)
    u = IP(bytes(whole))  # re-parse: scapy checks the UDP checksum below
    assert u[UDP].sport == PORT and u[UDP].dport == 7777 and bytes(u[UDP].payload) == data
    chk = u[UDP].chksum
    del u[UDP].chksum
    assert IP(bytes(u))[UDP].chksum == chk
    err = errors(shell)
    if size > vm.buffers.data_size:  # fragmented by the session layer, else by ip4-frag
        assert count(err, "ip4-frag", "number of sent fragments") == 0
    else:
        assert count(err, "ip4-frag", "number of sent fragments") == len(frags)


def test_fragment_ids_differ_per_datagram(shell, net, app):
    vm = shell.vm
    shell.call(lambda: [send_dgram(vm.session, app.ls, bytes(3000), a2i(PEER_IP), 7777) for _ in range(3)])
    shell.run("wait 0.05")
    frags = sent_fragments(net)
    assert len(frags) == 9 and len({p.id for p in frags}) == 3
    assert len(defragment(frags)) == 3


def test_small_and_big_datagrams_keep_their_order(shell, net, app):
    vm = shell.vm
    sizes = [10, 5000, 20, 30, 3000, 40]
    shell.call(lambda: [send_dgram(vm.session, app.ls, bytes([i]) * n, a2i(PEER_IP), 7777) for i, n in enumerate(sizes)])
    shell.run("wait 0.05")
    seen = []
    for p in sent_fragments(net):
        if p.frag == 0:
            seen.append(bytes(p[UDP].payload)[:1] if p.haslayer(UDP) else None)
    assert seen == [bytes([i]) for i in range(len(sizes))]


def test_forwarded_packet_fragmented_df_refused(shell, net):
    shell.run("ip route add 10.99.0.0/24 via 10.10.1.1")
    big = IP(src=PEER_IP, dst="10.99.0.5", id=50, ttl=9) / UDP(sport=1, dport=2) / Raw(bytes(range(200)) * 9)
    net.inject([eth(big)])
    frags = sent_fragments(net)
    assert len(frags) == 2 and all(p.ttl == 8 for p in frags)  # TTL decremented once
    (whole,) = defragment(frags)
    assert bytes(whole[UDP].payload) == bytes(range(200)) * 9
    net.inject([eth(IP(src=PEER_IP, dst="10.99.0.5", flags="DF") / UDP() / Raw(bytes(1800)))])
    (icmp,) = net.take()
    p = IP(icmp)
    assert p[ICMP].type == 3 and p[ICMP].code == 4 and p[ICMP].nexthopmtu == 1500
    assert count(errors(shell), "ip4-rewrite", "ip4 MTU exceeded and DF set") == 1


def test_ip4_frag_node_refuses_df_and_counts(shell, net):
    """A DF packet that reaches ip4-frag anyway (VPP: ICMP fragmentation needed), and the
    fragment() rules themselves."""
    vm = shell.vm
    shell.run("ip route add 10.99.0.0/24 via 10.10.1.1")
    pkt = bytes(IP(src=VPP_IP, dst="10.99.0.5", flags="DF") / UDP() / Raw(bytes(2000)))

    def go():
        import numpy as np

        bi = vm.buffers.alloc(1)
        vm.buffers.write(bi, np.frombuffer(pkt, np.uint8)[None, :], np.array([len(pkt)]))
        vm.buffers.adj_index[bi] = vm.ip4.lookup(a2i("10.99.0.5"))
        vm.buffers.sw_if_index[0, bi] = net.sw
        vm.stage("ip4-frag", bi)

    shell.call(go)
    shell.run("wait 0.05")
    assert count(errors(shell), "ip4-frag", "can't fragment this packet") == 1
    with pytest.raises(FragError, match="can't fragment this packet"):
        vfragment(pkt, 1500, 1)
    with pytest.raises(FragError, match="can't fragment header"):
        vfragment(bytes(IP(dst="1.2.3.4") / Raw(bytes(100))), 24, 1)
    assert vfragment(pkt, 3000, 1) == [pkt]


def test_fragment_copies_only_copied_options():
    opts = bytes([0x94, 4, 0, 0]) + bytes([7, 7, 4, 0, 0, 0, 0]) + bytes([1])  # router alert (copied), RR
    from scapy.all import IPOption

    p = IP(src="1.1.1.1", dst="2.2.2.2", options=[IPOption(opts)]) / Raw(bytes(range(256)) * 8)
    frags = vfragment(bytes(p), 576, 99)
    assert (frags[0][0] & 0x0F) * 4 == 20 + len(opts)
    assert all((f[0] & 0x0F) * 4 == 24 and f[20:24] == bytes([0x94, 4, 0, 0]) for f in frags[1:])
    assert all(len(f) <= 576 for f in frags)
    (whole,) = defragment([IP(f) for f in frags])
    assert bytes(whole.payload) == bytes(range(256)) * 8


def test_fragmented_ping_is_answered(shell, net):
    for size, ident in ((1200, 60), (4000, 61)):
        body = Raw(bytes(range(256)) * (size // 256))
        req = IP(src=PEER_IP, dst=VPP_IP, id=ident) / ICMP(type=8, id=0x77, seq=ident) / body
        net.inject([eth(f) for f in fragment(req, 512)])
        out = sent_fragments(net)
        (rep,) = defragment(out)
        rep = IP(bytes(rep))
        assert rep.src == VPP_IP and rep.dst == PEER_IP and rep[ICMP].type == 0 and rep[ICMP].seq == ident
        assert bytes(rep[ICMP].payload) == bytes(req[ICMP].payload)
        chk = rep[ICMP].chksum
        del rep[ICMP].chksum
        assert IP(bytes(rep))[ICMP].chksum == chk
    assert count(errors(shell), "ip4-icmp-echo-request", "echo replies sent") == 2
