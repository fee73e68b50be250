"""Addresses as the shim's sockets see them, and what they mean to the session layer.

A socket has a family (AF_INET or AF_INET6); an AF_INET6 socket is dual-stack unless it has
IPV6_V6ONLY, as on Linux (net.ipv6.bindv6only = 0). vcl keeps every endpoint as an Ep whose
family is the traffic's: an IPv4-mapped address (::ffff:a.b.c.d) is IPv4 here, and is shown
mapped again only to an AF_INET6 socket (`wire`). The one exception is the wildcard of a
dual-stack socket, (AF_INET6, 0): IPv4 and IPv6 at once (`footprint`).

The session layer keys addresses as family-neutral ints; which families each transport carries
is said in one place, `session_families` (TCP: both; UDP: IPv4 so far): a native IPv6
destination of a protocol that carries no IPv6 is unreachable (ENETUNREACH) and its IPv6
wildcard listens on nothing, and that is all that changes when the transport gains IPv6.

A link-local IPv6 address means something only with its interface: the sockaddr's
sin6_scope_id. Linux's scope ids are the kernel's ifindexes of the stack the socket lives on;
a shim socket lives on vppsh's stack, so its scope ids are vppsh's sw_if_index (as the
ifindex IP_PKTINFO/IPV6_PKTINFO report). The program's own namespace has none of vppsh's
interfaces, so if_nametoindex("tap0") there knows nothing of them: a scope is given as a
number, or taken from accept()/getpeername().
"""

from __future__ import annotations

from typing import NamedTuple

from ..session.transport import TransportProto
from ..wire.ip6 import is_link_local
from .proto import AF_INET, AF_INET6, AF_UNSPEC, addr_fields, addr_ip

MAPPED = 0xFFFF << 32  # ::ffff:0.0.0.0
V4_IN_V6 = (MAPPED, MAPPED | 0xFFFFFFFF)


class Ep(NamedTuple):
    """An endpoint: the family of the traffic, the address as an int of that family, a port,
    and for an IPv6 link-local address its scope (vppsh's sw_if_index; 0: none given)."""

    fam: int
    ip: int
    port: int
    scope: int = 0

    @property
    def link_local(self) -> bool:
        return self.fam == AF_INET6 and is_link_local(self.ip)


ANY4, ANY6 = Ep(AF_INET, 0, 0), Ep(AF_INET6, 0, 0)


def from_wire(family: int, raw: bytes, port: int, scope: int = 0) -> Ep | None:
    """What the shim sent (a vl_addr's fields), as the traffic's family: ::ffff:a.b.c.d is
    IPv4. The scope id counts only for a link-local address (as Linux ignores it for the
    others). None for a family that is neither."""
    if family == AF_INET:
        return Ep(AF_INET, addr_ip(AF_INET, raw), port)
    if family == AF_INET6:
        ip = addr_ip(AF_INET6, raw)
        if V4_IN_V6[0] <= ip <= V4_IN_V6[1]:
            return Ep(AF_INET, ip & 0xFFFFFFFF, port)
        return Ep(AF_INET6, ip, port, scope if is_link_local(ip) else 0)
    return None


def wire(ep: Ep | None, sock_family: int) -> tuple:
    """A vl_addr's fields for ep as a socket of sock_family shows it (IPv4 to an AF_INET6
    socket: mapped)."""
    if ep is None:
        return AF_UNSPEC, 0, 0, bytes(16)
    if sock_family == AF_INET6 and ep.fam == AF_INET:
        return addr_fields(AF_INET6, MAPPED | ep.ip, ep.port)
    return addr_fields(ep.fam, ep.ip, ep.port, ep.scope)


def footprint(ep: Ep, dual: bool) -> tuple[tuple[int, int], ...]:
    """The (family, address) pairs a socket bound to ep holds: both wildcards for a dual-stack
    socket's ::, else ep's own. Two sockets on one port conflict where these meet."""
    if dual and ep.fam == AF_INET6 and ep.ip == 0:
        return (AF_INET, 0), (AF_INET6, 0)
    return ((ep.fam, ep.ip),)


def overlap(a, b) -> bool:
    """Do two footprints meet (same family, same address or a wildcard)?"""
    return any(fa == fb and (not ia or not ib or ia == ib) for fa, ia in a for fb, ib in b)


def v4_part(fp) -> int | None:
    """The IPv4 address a footprint listens on (0: any), None if it has no IPv4 part."""
    return next((ip for f, ip in fp if f == AF_INET), None)


def v6_part(fp) -> int | None:
    """The IPv6 address a footprint listens on (0: any), None if it has no IPv6 part."""
    return next((ip for f, ip in fp if f == AF_INET6), None)


# ---------------------------------------------------------------- the session layer's side
CARRIED = {TransportProto.TCP: frozenset((AF_INET, AF_INET6)), TransportProto.UDP: frozenset((AF_INET,))}


def session_families(sm, proto: TransportProto) -> frozenset[int]:
    """The families the session layer carries for this transport."""
    return CARRIED[proto]


def _scope(c, ip: int) -> int:
    """A link-local address's scope: the interface the connection's traffic uses."""
    return max(c.sw_if_index, 0) if c.ip6 and is_link_local(ip) else 0


def conn_local(c) -> Ep:
    """A transport connection's local endpoint, in the connection's family."""
    return Ep(AF_INET6, c.lcl_ip, c.lcl_port, _scope(c, c.lcl_ip)) if c.ip6 else Ep(AF_INET, c.lcl_ip, c.lcl_port)


def conn_remote(c) -> Ep:
    return Ep(AF_INET6, c.rmt_ip, c.rmt_port, _scope(c, c.rmt_ip)) if c.ip6 else Ep(AF_INET, c.rmt_ip, c.rmt_port)


def dgram_remote(d) -> Ep:
    """A datagram's sender (session/dgram.Datagram)."""
    return Ep(AF_INET, d.rmt_ip, d.rmt_port)


def dgram_local(d) -> Ep:
    return Ep(AF_INET, d.lcl_ip, d.lcl_port)
