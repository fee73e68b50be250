"""vcl's addresses (vppsh/vcl/addr.py): what the shim sends, as the traffic's family; what the
app reads, in its socket's family; what a bound socket holds of its port."""

from __future__ import annotations

import socket

from vppsh.vcl import proto
from vppsh.vcl.addr import Ep, footprint, from_wire, overlap, v4_part, wire

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
