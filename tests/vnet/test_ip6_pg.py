"""IPv6 through the engine on a pg interface: echo, neighbour discovery, forwarding, ICMPv6
errors and the bad input RFC 4861 / 5095 / 8200 say to drop. Frames are built and read back with
scapy; no kernel needed (tests/system/test_ip6_tap.py checks the same against Linux)."""

from __future__ import annotations

import re

import numpy as np

from scapy.layers.inet import UDP
from scapy.layers.inet6 import (ICMPv6DestUnreach, ICMPv6EchoReply, ICMPv6EchoRequest, ICMPv6ND_NA, ICMPv6ND_NS,
                                ICMPv6ND_RA, ICMPv6ND_RS, ICMPv6NDOptDstLLAddr, ICMPv6NDOptPrefixInfo,
                                ICMPv6NDOptSrcLLAddr, ICMPv6PacketTooBig, ICMPv6ParamProblem, ICMPv6TimeExceeded,
                                IPv6, IPv6ExtHdrDestOpt, IPv6ExtHdrRouting, in6_chksum)
from scapy.layers.l2 import Ether

from tests.helpers.pgnet import ME6 as ME
from tests.helpers.pgnet import PEER6 as PEER
from tests.helpers.pgnet import PM, VPP_LL, VPP_MAC, PgNet, net6, sent6
from tests.helpers.pgnet import frame6 as frame

FAR = "2001:db8:9::1"


def errors(shell) -> str:
    return shell.run("show errors")


def count(shell, node: str, reason: str) -> int:
    m = re.search(rf"^\s*(\d+)\s+{re.escape(node)}\s+{re.escape(reason)}\s", errors(shell), re.M)
    return int(m.group(1)) if m else 0


def test_enable_gives_link_local_and_show_ip6_interface(shell):
    net6(shell, neighbour=False)
    out = shell.run("show ip6 interface pg0")
    assert "pg0 is admin up" in out and VPP_LL in out and "2001:db8::1/64" in out
    fib = shell.run("show ip6 fib")
    assert fib.startswith("ipv6-VRF:0")
    assert re.search(r"^2001:db8::1/128\n  unicast-ip6-chain\n.*\n    \[0\] \[@\d+\]: dpo-receive: 2001:db8::1 on pg0",
                     fib, re.M)
    assert f"{VPP_LL}/128" in fib and "2001:db8::/64" in fib and "ipv6-glean" in fib
    assert "L3 2001:db8::1/64" in shell.run("show interface address")
    assert shell.error("show ip6 interface loop0") == "show ip6 interface: unknown input `loop0'"
    shell.run("create loopback interface")
    assert shell.error("show ip6 interface loop0") == "show ip6 interface: IPv6 not enabled on interface"
    shell.run("enable ip6 interface loop0")
    assert "loop0 is admin down" in shell.run("show ip6 interface loop0")


def test_echo_request_answered(shell):
    net = net6(shell)
    net.inject([frame(IPv6(src=PEER, dst=ME) / ICMPv6EchoRequest(id=7, seq=3, data=b"hello" * 20))])
    (r,) = sent6(net)
    assert (r.src, r.dst, r.hlim) == (ME, PEER, 64)
    e = r[ICMPv6EchoReply]
    assert (e.id, e.seq, e.data) == (7, 3, b"hello" * 20)
    assert e.cksum == in6_chksum(58, r, bytes(e)[:2] + b"\0\0" + bytes(e)[4:])


def test_solicitation_answered_and_sender_learned(shell):
    net = net6(shell, neighbour=False)
    ns = IPv6(src=PEER, dst="ff02::1:ff00:1", hlim=255) / ICMPv6ND_NS(tgt=ME) / ICMPv6NDOptSrcLLAddr(lladdr=PM)
    net.inject([frame(ns, bytes.fromhex("3333ff000001"))])
    (raw,) = net.sent and [Ether(p) for p in net.sent]
    net.take()
    assert raw.dst == PM and raw.src == VPP_MAC.hex(":")
    na = raw[ICMPv6ND_NA]
    assert (raw[IPv6].src, raw[IPv6].dst, raw[IPv6].hlim) == (ME, PEER, 255)
    assert (na.tgt, na.S, na.O, na.R) == (ME, 1, 1, 1)
    assert raw[ICMPv6NDOptDstLLAddr].lladdr == VPP_MAC.hex(":")
    assert re.search(rf"{PEER}\s+D\s+{PM}\s+pg0", shell.run("show ip neighbors"))
    assert PEER in shell.run("show ip6 neighbors") and PEER not in shell.run("show ip4 neighbors")


def test_nd_with_wrong_hop_limit_or_unknown_target_is_dropped(shell):
    net = net6(shell, neighbour=False)
    bad = [IPv6(src=PEER, dst=ME, hlim=64) / ICMPv6ND_NS(tgt=ME) / ICMPv6NDOptSrcLLAddr(lladdr=PM),
           IPv6(src=PEER, dst=ME, hlim=255) / ICMPv6ND_NS(tgt="2001:db8::99") / ICMPv6NDOptSrcLLAddr(lladdr=PM),
           IPv6(src=PEER, dst=ME, hlim=255) / ICMPv6ND_NA(tgt="2001:db8::77", S=1) / ICMPv6NDOptDstLLAddr(lladdr=PM)]
    net.inject([frame(p) for p in bad])
    assert net.take() == []
    assert count(shell, "ip6-icmp-input", "ND hop limit not 255") == 1
    assert count(shell, "ip6-icmp-input", "NS for unknown target") == 1
    assert count(shell, "ip6-icmp-input", "NA for unknown target") == 1
    out = shell.run("show ip neighbors")
    assert PEER not in out and "2001:db8::77" not in out


def test_glean_solicits_holds_and_sends_on_advertisement(shell):
    net = net6(shell, neighbour=False)
    net.inject([frame(IPv6(src="2001:db8:5::1", dst=PEER, hlim=9) / UDP(sport=1, dport=2) / b"held")])
    shell.run(f"ip route add 2001:db8:5::/48 via {PEER}")  # (the source must be routable for errors)
    (ns,) = [Ether(p) for p in net.sent]
    net.take()
    assert ns.dst == "33:33:ff:00:00:02" and ns[IPv6].dst == "ff02::1:ff00:2" and ns[IPv6].hlim == 255
    assert ns[ICMPv6ND_NS].tgt == PEER and ns[ICMPv6NDOptSrcLLAddr].lladdr == VPP_MAC.hex(":")
    assert ns[IPv6].src == ME
    na = IPv6(src=PEER, dst=ME, hlim=255) / ICMPv6ND_NA(tgt=PEER, S=1, O=1) / ICMPv6NDOptDstLLAddr(lladdr=PM)
    net.inject([frame(na)])
    (held,) = [Ether(p) for p in net.sent]
    assert held.dst == PM and held[IPv6].hlim == 8 and bytes(held[UDP].payload) == b"held"
    assert count(shell, "ip6-glean", "packets held for ND") == 1


def test_forwarding_rewrites_and_icmp_errors(shell):
    net = net6(shell)
    shell.run(f"ip route add 2001:db8:9::/48 via {PEER}")
    assert "ipv6 via 2001:db8::2 pg0" in shell.run("show ip6 fib 2001:db8:9::1")
    src = "2001:db8::3"
    net.inject([frame(IPv6(src=src, dst=FAR, hlim=5) / UDP(sport=1, dport=2) / (b"x" * 100))])
    shell.run(f"set ip neighbor pg0 {src} 02:fe:00:00:00:03 static")
    (fwd,) = [Ether(p) for p in net.sent]
    net.take()
    assert (fwd.dst, fwd[IPv6].hlim, fwd[IPv6].dst) == (PM, 4, FAR)
    net.inject([frame(IPv6(src=src, dst=FAR, hlim=1) / UDP(sport=1, dport=2) / b"x")])
    (te,) = sent6(net)
    assert te.dst == src and te.src == ME and te[ICMPv6TimeExceeded].code == 0
    assert te[ICMPv6TimeExceeded].payload.dst == FAR and te[ICMPv6TimeExceeded].payload.hlim == 1
    shell.run("set interface mtu ip6 1280 pg0")
    net.inject([frame(IPv6(src=src, dst=FAR) / UDP(sport=1, dport=2) / (b"y" * 1300))])
    (ptb,) = sent6(net)
    assert ptb[ICMPv6PacketTooBig].mtu == 1280 and len(bytes(ptb)) == 1280
    assert count(shell, "ip6-rewrite", "ip6 MTU exceeded") == 1
    net.inject([frame(IPv6(src=src, dst="2001:db8:7::1") / UDP(sport=1, dport=2))])
    assert net.take() == []  # no route: ::/0 drops, as VPP's default route


def test_bad_headers_get_parameter_problems_or_drops(shell):
    net = net6(shell)
    udp = UDP(sport=1, dport=2) / b"z"
    net.inject([frame(IPv6(src=PEER, dst=ME) / IPv6ExtHdrRouting(type=0, segleft=1, addresses=["2001:db8::9"]) / udp)])
    (pp,) = sent6(net)
    assert (pp[ICMPv6ParamProblem].code, pp[ICMPv6ParamProblem].ptr) == (0, 42)
    net.inject([frame(IPv6(src=PEER, dst=ME, nh=253) / b"12345678")])
    (pp,) = sent6(net)
    assert (pp[ICMPv6ParamProblem].code, pp[ICMPv6ParamProblem].ptr) == (1, 6)
    net.inject([frame(IPv6(src=PEER, dst=ME) / udp)])
    (pu,) = sent6(net)
    assert pu[ICMPv6DestUnreach].code == 4
    chain = IPv6(src=PEER, dst=ME)
    for _ in range(9):
        chain = chain / IPv6ExtHdrDestOpt()
    short = bytes(IPv6(src=PEER, dst=ME) / ICMPv6EchoRequest())[:44]
    short = short[:4] + (4).to_bytes(2, "big") + short[6:]
    net.inject([frame(chain / udp), frame(IPv6(short)), frame(IPv6(src=PEER, dst=ME, plen=500) / (b"x" * 10))])
    assert net.take() == []
    assert count(shell, "ip6-receive", "extension header chain too long") == 1
    assert count(shell, "ip6-icmp-input", "icmp6 packet too short") == 1
    assert count(shell, "ip6-input", "ip6 length > l2 length") == 1
    # never an error about an error
    err = IPv6(src=PEER, dst=ME, nh=253) / b"1234"
    net.inject([frame(IPv6(src=PEER, dst=ME) / ICMPv6DestUnreach() / err)])
    assert net.take() == []


def test_router_solicitation_answered_unless_suppressed(shell):
    net = net6(shell, neighbour=False)
    rs = IPv6(src="fe80::fe:ff:fe00:1", dst="ff02::2", hlim=255) / ICMPv6ND_RS() / ICMPv6NDOptSrcLLAddr(lladdr=PM)
    net.inject([frame(rs, bytes.fromhex("333300000002"))])
    assert net.take() == []
    shell.run("ip6 nd pg0 no ra-suppress")
    net.inject([frame(rs, bytes.fromhex("333300000002"))])
    (ra,) = [p for p in sent6(net) if p.dst == "fe80::fe:ff:fe00:1"]
    assert ra.src == VPP_LL and ra[ICMPv6ND_RA].routerlifetime == 600 and ra.hlim == 255
    pi = ra[ICMPv6NDOptPrefixInfo]
    assert (pi.prefix, pi.prefixlen, pi.L, pi.A) == ("2001:db8::", 64, 1, 1)


def test_unsolicited_router_advertisements(shell):
    net = PgNet(shell)
    shell.run(f"set interface ip address pg0 {ME}/64")
    shell.run("wait 1.2")  # the first goes out within a second of enabling IPv6
    (ra,) = [p for p in sent6(net) if ICMPv6ND_RA in p]
    assert (ra.src, ra.dst, ra[ICMPv6ND_RA].routerlifetime) == (VPP_LL, "ff02::1", 600)
    out = shell.run("show ip6 interface pg0")
    assert "ND router advertisements are sent every 200 seconds (min interval is 150)" in out
    assert "ND router advertisements sent 1" in out


def test_ping6_from_the_cli(shell):
    """pg0's peer answers each echo request as it leaves (on the engine thread), so `ping`
    gets its replies while it waits, as from a real neighbour."""
    net = net6(shell)
    vm = net.vm
    dev = vm.interfaces.by_name["pg0"].hw.device

    def tx(node, fr):
        for b in fr.tolist():
            q = Ether(vm.buffers.packet(b))
            if ICMPv6EchoRequest in q:
                e = q[ICMPv6EchoRequest]
                f = frame(IPv6(src=q[IPv6].dst, dst=q[IPv6].src, hlim=61) / ICMPv6EchoReply(id=e.id, seq=e.seq,
                                                                                              data=e.data))
                bi = vm.buffers.alloc(1)
                vm.buffers.write(bi, np.frombuffer(f, np.uint8)[None, :], np.array([len(f)]))
                vm.buffers.sw_if_index[0, bi] = net.sw
                vm.stage("ethernet-input", bi)
        vm.buffers.free(fr)

    shell.call(lambda: setattr(dev, "tx", tx))
    out = shell.run(f"ping {PEER} repeat 3 interval 0.05")
    assert re.findall(rf"^\d+ bytes from {PEER}: icmp_seq=(\d) ttl=61 time=\S+ ms$", out, re.M) == ["1", "2", "3"]
    assert "Statistics: 3 sent, 3 received, 0% packet loss" in out
    assert "Failed: no egress interface" in shell.run("ping 2001:db8:7::1 repeat 1 interval 0.01")
