"""vcl's addresses (vppsh/vcl/addr.py): what the shim sends, as the traffic's family; what the
app reads, in its socket's family; what a bound socket holds of its port."""

from __future__ import annotations

import socket

from vppsh.vcl import proto
from vppsh.session.transport import TransportProto
from vppsh.vcl.addr import Ep, conn_local, conn_remote, footprint, from_wire, overlap, session_families, v4_part, \
    v6_part, wire

V4, V6 = proto.AF_INET, proto.AF_INET6


def raw6(text: str) -> bytes:
    return socket.inet_pton(socket.AF_INET6, text)


def ip4(text: str) -> int:
    return int.from_bytes(socket.inet_aton(text), "big")


def test_a_mapped_address_is_ipv4_and_a_native_one_stays_ipv6():
    assert from_wire(V6, raw6("::ffff:10.0.0.1"), 7) == Ep(V4, ip4("10.0.0.1"), 7)
    assert from_wire(V6, raw6("::ffff:0.0.0.0"), 0) == Ep(V4, 0, 0)
    assert from_wire(V6, raw6("2001:db8::1"), 179) == Ep(V6, int.from_bytes(raw6("2001:db8::1"), "big"), 179)
    assert from_wire(V6, raw6("::"), 80) == Ep(V6, 0, 80)
    assert from_wire(V6, raw6("::10.0.0.1"), 80).fam == V6  # IPv4-compatible (deprecated): not IPv4
    assert from_wire(V4, socket.inet_aton("10.0.0.1") + bytes(12), 7) == Ep(V4, ip4("10.0.0.1"), 7)
    assert from_wire(99, bytes(16), 7) is None


def test_an_ipv4_address_reads_mapped_only_on_an_ipv6_socket():
    ep = Ep(V4, ip4("10.0.0.1"), 7)
    assert wire(ep, V6) == (V6, 7, 0, raw6("::ffff:10.0.0.1"))
    assert wire(ep, V4) == (V4, 7, 0, socket.inet_aton("10.0.0.1") + bytes(12))
    assert wire(Ep(V6, 0, 80), V6) == (V6, 80, 0, bytes(16))
    assert wire(None, V6) == proto.NO_ADDR


def test_footprints_meet_as_linux_bind_conflicts():
    any4, any6, mapped = Ep(V4, 0, 80), Ep(V6, 0, 80), Ep(V4, ip4("10.0.0.0"), 80)
    dual, v6only = footprint(any6, True), footprint(any6, False)
    assert dual == ((V4, 0), (V6, 0)) and v6only == ((V6, 0),)
    assert overlap(dual, footprint(any4, False)) and overlap(dual, footprint(mapped, True))
    assert overlap(dual, v6only) and overlap(v6only, v6only)
    assert not overlap(v6only, footprint(any4, False)) and not overlap(v6only, footprint(mapped, True))
    assert not overlap(footprint(mapped, False), footprint(Ep(V4, ip4("10.0.0.2"), 80), False))
    assert v4_part(dual) == 0 and v4_part(v6only) is None and v4_part(footprint(mapped, True)) == ip4("10.0.0.0")


def test_a_scope_counts_for_a_link_local_address_only():
    ll = int.from_bytes(raw6("fe80::1"), "big")
    assert from_wire(V6, raw6("fe80::1"), 179, 3) == Ep(V6, ll, 179, 3)
    assert from_wire(V6, raw6("fe80::1"), 179, 3).link_local
    assert from_wire(V6, raw6("2001:db8::1"), 179, 3).scope == 0  # as Linux: ignored for a global one
    assert from_wire(V6, raw6("::ffff:10.0.0.1"), 7, 3) == Ep(V4, ip4("10.0.0.1"), 7)
    assert wire(Ep(V6, ll, 179, 3), V6) == (V6, 179, 3, raw6("fe80::1"))


class _Conn:
    def __init__(self, lcl, rmt, ip6, sw=-1):
        self.lcl_ip, self.lcl_port, self.rmt_ip, self.rmt_port = lcl, 179, rmt, 40000
        self.ip6, self.sw_if_index = ip6, sw


def test_a_connection_names_its_ends_in_its_family_with_a_link_locals_interface():
    g1, g2 = (int.from_bytes(raw6(a), "big") for a in ("2001:db8::", "2001:db8::1"))
    c = _Conn(g1, g2, True, 2)
    assert conn_local(c) == Ep(V6, g1, 179) and conn_remote(c) == Ep(V6, g2, 40000)
    l1, l2 = (int.from_bytes(raw6(a), "big") for a in ("fe80::1", "fe80::2"))
    c = _Conn(l1, l2, True, 2)
    assert conn_local(c) == Ep(V6, l1, 179, 2) and conn_remote(c) == Ep(V6, l2, 40000, 2)
    c = _Conn(ip4("10.0.0.0"), ip4("10.0.0.1"), False, 2)
    assert conn_remote(c) == Ep(V4, ip4("10.0.0.1"), 40000)
    assert wire(conn_remote(c), V6) == (V6, 40000, 0, raw6("::ffff:10.0.0.1"))


def test_tcp_carries_both_families_udp_ipv4_so_far():
    assert session_families(None, TransportProto.TCP) == {V4, V6}
    assert session_families(None, TransportProto.UDP) == {V4}


def test_a_dual_footprint_has_both_parts():
    fp = footprint(Ep(V6, 0, 80), True)
    assert v4_part(fp) == 0 and v6_part(fp) == 0
    g = int.from_bytes(raw6("2001:db8::"), "big")
    fp = footprint(Ep(V6, g, 80), True)  # a native address: IPv6 only, dual-stack or not
    assert v4_part(fp) is None and v6_part(fp) == g
