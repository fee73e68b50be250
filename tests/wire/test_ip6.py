"""IPv6 and ICMPv6 wire formats against Python's ipaddress and scapy's packet builders."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st
from scapy.layers.inet6 import (ICMPv6DestUnreach, ICMPv6EchoRequest, ICMPv6ND_NA, ICMPv6ND_NS,
                                ICMPv6NDOptDstLLAddr, ICMPv6NDOptSrcLLAddr, IPv6, IPv6ExtHdrDestOpt,
                                IPv6ExtHdrFragment, IPv6ExtHdrHopByHop, IPv6ExtHdrRouting)
from scapy.layers.inet import UDP
from scapy.utils6 import in6_getnsma, in6_getnsmac, in6_mactoifaceid

from vppsh.wire import icmp6, ip6

# addresses with runs of zero groups of every length, where formatting has choices to make
groups = st.lists(st.sampled_from([0, 0, 0, 1, 0xDB8, 0xFFFF]), min_size=8, max_size=8)


@given(groups)
def test_format_is_rfc5952_as_vpp(g):
    a = sum(x << (112 - 16 * i) for i, x in enumerate(g))
    want = ipaddress.IPv6Address(a).compressed
    if "." not in want:  # (newer Pythons print mapped addresses dotted; VPP never does)
        assert ip6.format_ip6(a) == want
    assert ip6.parse_ip6(ip6.format_ip6(a)) == a


@pytest.mark.parametrize("text,out", [("2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"),
                                      ("2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"),
                                      ("0:0:0:0:0:0:0:0", "::"), ("fe80::0:1", "fe80::1"),
                                      ("2001:DB8::", "2001:db8::"), ("::ffff:10.0.0.1", "::ffff:a00:1")])
def test_format_cases(text, out):
    assert ip6.format_ip6(ip6.parse_ip6(text)) == out


@pytest.mark.parametrize("bad", ["", "1::2::3", "2001:db8::1%eth0", "12345::", "2001:db8::/64", "fe80:::1",
                                 "１::"])
def test_parse_refuses(bad):
    with pytest.raises(ValueError):
        ip6.parse_ip6(bad)


def test_prefix():
    assert ip6.parse_ip6_prefix("2001:db8::1/127") == (ip6.parse_ip6("2001:db8::1"), 127)
    for bad in ("2001:db8::/129", "2001:db8::", "2001:db8::/-1", "2001:db8::/0x10"):
        with pytest.raises(ValueError):
            ip6.parse_ip6_prefix(bad)


def test_link_local_and_multicast_as_scapy():
    mac = "02:fe:12:34:56:78"
    mb = bytes.fromhex(mac.replace(":", ""))
    ll = ip6.link_local_from_mac(mb)
    assert ll == ip6.parse_ip6("fe80::" + in6_mactoifaceid(mac))
    a = ip6.parse_ip6("2001:db8::12:3456")
    sn = ip6.solicited_node(a)
    assert ip6.addr6_bytes(sn) == in6_getnsma(ip6.addr6_bytes(a))
    assert ip6.multicast_mac(sn) == bytes.fromhex(in6_getnsmac(ip6.addr6_bytes(sn)).replace(":", ""))
    assert ip6.is_link_local(ll) and not ip6.is_link_local(a) and ip6.is_multicast(sn)


def test_header_build_parse_format():
    src, dst = ip6.parse_ip6("2001:db8::1"), ip6.parse_ip6("2001:db8::2")
    h = ip6.build(src, dst, 17, 8, hop_limit=7, tclass=0xB8, flow=0x12345)
    assert h == bytes(IPv6(src="2001:db8::1", dst="2001:db8::2", nh=17, hlim=7, tc=0xB8, fl=0x12345, plen=8))
    p = ip6.parse(h)
    assert (p.src, p.dst, p.next_header, p.hop_limit, p.tclass, p.flow) == (src, dst, 17, 7, 0xB8, 0x12345)
    assert ip6.format_ip6_header(h) == ("UDP: 2001:db8::1 -> 2001:db8::2\n"
                                        "  tos 0xb8, flow label 0x12345, hop limit 7, payload length 8")


def _icmp(pkt) -> bytes:
    return bytes(pkt)[40:]


def test_icmp6_messages_match_scapy():
    s, d = "2001:db8::1", "2001:db8::2"
    mac = bytes.fromhex("02fe00000001")
    assert icmp6.build_echo(s, d, icmp6.ECHO_REQUEST, 7, 9, b"hello") == \
        _icmp(IPv6(src=s, dst=d) / ICMPv6EchoRequest(id=7, seq=9, data=b"hello"))
    tgt = "2001:db8::2"
    sn = ip6.format_ip6(ip6.solicited_node(ip6.parse_ip6(tgt)))
    assert icmp6.build_ns(s, sn, tgt, mac) == \
        _icmp(IPv6(src=s, dst=sn) / ICMPv6ND_NS(tgt=tgt) / ICMPv6NDOptSrcLLAddr(lladdr="02:fe:00:00:00:01"))
    assert icmp6.build_na(d, s, tgt, icmp6.NA_SOLICITED | icmp6.NA_OVERRIDE, mac) == \
        _icmp(IPv6(src=d, dst=s) / ICMPv6ND_NA(tgt=tgt, R=0, S=1, O=1) /
              ICMPv6NDOptDstLLAddr(lladdr="02:fe:00:00:00:01"))
    inv = bytes(IPv6(src=d, dst=s) / UDP(sport=1, dport=2) / (b"x" * 2000))
    err = icmp6.build_error(s, d, icmp6.DEST_UNREACH, icmp6.PORT_UNREACH, 0, inv)
    assert len(err) == 1280 - 40
    assert err == _icmp(IPv6(src=s, dst=d) / ICMPv6DestUnreach(code=4) / inv[:1232])
    assert icmp6.checksum_ok(s, d, err) and not icmp6.checksum_ok(s, "2001:db8::3", err)


def test_nd_options():
    o = icmp6.parse_options(bytes(ICMPv6NDOptSrcLLAddr(lladdr="02:fe:00:00:00:01")))
    assert icmp6.option_mac(o, icmp6.OPT_SOURCE_LL) == bytes.fromhex("02fe00000001")
    assert icmp6.parse_options(b"\x01\x00" + bytes(6)) is None  # length 0
    assert icmp6.parse_options(b"\x01\x02" + bytes(6)) is None  # runs past the end
    assert icmp6.parse_options(b"") == []


def test_extension_walk():
    s, d = "2001:db8::1", "2001:db8::2"
    udp = UDP(sport=1, dport=2) / b"x"
    c = ip6.walk(bytes(IPv6(src=s, dst=d) / IPv6ExtHdrHopByHop() / IPv6ExtHdrDestOpt() / udp))
    assert (c.proto, c.offset, c.frag, c.error) == (17, 56, -1, None)
    c = ip6.walk(bytes(IPv6(src=s, dst=d) / IPv6ExtHdrFragment(offset=0, m=1, id=5) / udp))
    assert (c.proto, c.offset, c.frag) == (17, 48, 40)
    c = ip6.walk(bytes(IPv6(src=s, dst=d) / IPv6ExtHdrFragment(offset=10, id=5, nh=17) / (b"data" * 4)))
    assert (c.proto, c.offset, c.frag, c.error) == (17, 48, 40, None)
    c = ip6.walk(bytes(IPv6(src=s, dst=d) / IPv6ExtHdrRouting(type=0, segleft=1, addresses=["2001:db8::9"]) / udp))
    assert c.error == "routing header type 0" and c.pointer == 42
    c = ip6.walk(bytes(IPv6(src=s, dst=d) / IPv6ExtHdrDestOpt() / IPv6ExtHdrHopByHop() / udp))
    assert c.error == "hop-by-hop header not first"
    long = IPv6(src=s, dst=d)
    for _ in range(9):
        long = long / IPv6ExtHdrDestOpt()
    assert ip6.walk(bytes(long / udp)).error == "extension header chain too long"
    short = bytearray(bytes(IPv6(src=s, dst=d) / IPv6ExtHdrDestOpt(len=3) / udp))
    assert ip6.walk(bytes(short)).error == "extension header truncated"
