"""pg's IPv6 stanzas (VPP's unformat_ip6_header): headers, ranges, lengths and checksums as
scapy builds them, and the pg-input trace line."""

from __future__ import annotations

import pytest
from scapy.layers.inet import TCP, UDP
from scapy.layers.inet6 import ICMPv6EchoRequest, IPv6
from scapy.layers.l2 import Ether

from vppsh.vnet.pg.data import PgSpecError, parse_data
from vppsh.vnet.pg.stream import describe_packet


def _rows(t, n, sizes=None):
    rows, lengths = t.generate(0, n, sizes)
    return [rows[i, :lengths[i]].tobytes() for i in range(n)]


def _same_as_scapy(p):
    q = p.copy()
    for layer in (IPv6, UDP, TCP, ICMPv6EchoRequest):
        if layer in q:
            for f in ("chksum", "cksum", "plen"):
                if f in q[layer].fields:
                    del q[layer].fields[f]
    assert bytes(q.__class__(bytes(q))) == bytes(p)


def test_ethernet_ip6_udp_with_a_destination_range():
    t = parse_data("IP6: 02:00:00:00:00:09 -> 02:00:00:00:00:01 UDP: 2001:db8::2 -> 2001:db8:1::1 - "
                   "2001:db8:1::3 tos 0xb8 hop-limit 9 UDP: 1234 -> 5678 incrementing 18")
    pkts = [Ether(b) for b in _rows(t, 4, [64, 80, 100, 64])]
    assert [p[IPv6].dst for p in pkts] == ["2001:db8:1::1", "2001:db8:1::2", "2001:db8:1::3", "2001:db8:1::1"]
    for p, size in zip(pkts, (64, 80, 100, 64)):
        assert len(p) == size and p[IPv6].plen == size - 54 and (p[IPv6].tc, p[IPv6].hlim) == (0xB8, 9)
        assert (p.src, p.dst, p[UDP].sport, p[UDP].dport) == ("02:00:00:00:00:09", "02:00:00:00:00:01", 1234, 5678)
        _same_as_scapy(p)


def test_ip6_node_icmp6_echo_and_tcp():
    t = parse_data("ICMP6: 2001:db8::2 -> 2001:db8::1 ICMP6: echo_request id 7 seq 3 incrementing 10", "ip6-input")
    (raw,) = _rows(t, 1)
    p = IPv6(raw)
    assert (p[ICMPv6EchoRequest].id, p[ICMPv6EchoRequest].seq, p.hlim) == (7, 3, 64)
    _same_as_scapy(p)
    t = parse_data("TCP: 2001:db8::2 -> 2001:db8::1 TCP: 1 -> 2 SYN window 100 incrementing 4", "ip6-input")
    p = IPv6(_rows(t, 1)[0])
    assert p[TCP].flags == "S" and p[TCP].window == 100
    _same_as_scapy(p)
    assert describe_packet(bytes(p), "ip6-input")[0] == "TCP: 2001:db8::2 -> 2001:db8::1"


def test_trace_line_and_refusals():
    t = parse_data("IP6: 1.2.3 -> 4.5.6 UDP: ::1 -> ::2 UDP: 1 -> 2 incrementing 4")
    lines = describe_packet(_rows(t, 1)[0], "ethernet-input")
    assert lines == ["IP6: 00:01:00:02:00:03 -> 00:04:00:05:00:06", "  UDP: ::1 -> ::2",
                     "    tos 0x00, flow label 0x0, hop limit 64, payload length 12"]
    with pytest.raises(PgSpecError):  # a range over the top 64 bits
        parse_data("UDP: 2001:db8::1 -> 2001:db8::1 - 2001:db9::1 UDP: 1 -> 2", "ip6-input")
