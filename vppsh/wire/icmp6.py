"""ICMPv6 (RFC 4443) and neighbour discovery (RFC 4861) messages: build, parse, VPP's names.

Messages are built without the IPv6 header; their checksum covers the pseudo header, so every
builder takes the source and destination it will be sent with.
"""

from __future__ import annotations

import struct
from typing import NamedTuple

from .checksum import csum
from .ip6 import MIN_MTU, IP6_HDR_LEN, PROTO_ICMP6, addr6_bytes, pseudo_header_sum

DEST_UNREACH, PACKET_TOO_BIG, TIME_EXCEEDED, PARAM_PROBLEM = 1, 2, 3, 4
ECHO_REQUEST, ECHO_REPLY = 128, 129
ROUTER_SOLICITATION, ROUTER_ADVERTISEMENT = 133, 134
NEIGHBOR_SOLICITATION, NEIGHBOR_ADVERTISEMENT, REDIRECT = 135, 136, 137

# destination unreachable codes; parameter problem codes
NO_ROUTE, ADMIN_PROHIBITED, BEYOND_SCOPE, ADDRESS_UNREACH, PORT_UNREACH = 0, 1, 2, 3, 4
ERRONEOUS_FIELD, UNRECOGNIZED_NEXT_HEADER, UNRECOGNIZED_OPTION, INCOMPLETE_CHAIN = 0, 1, 2, 3
# time exceeded codes
HOP_LIMIT_EXCEEDED, REASSEMBLY_TIME_EXCEEDED = 0, 1

# ND option types
OPT_SOURCE_LL, OPT_TARGET_LL, OPT_PREFIX_INFO, OPT_REDIRECTED, OPT_MTU = 1, 2, 3, 4, 5

# NA flags (first byte of the reserved word), RA flags
NA_ROUTER, NA_SOLICITED, NA_OVERRIDE = 0x80, 0x40, 0x20
PI_ON_LINK, PI_AUTONOMOUS = 0x80, 0x40

# src/vnet/ip/icmp46_packet.h foreach_icmp6_type
TYPE_NAMES = {
    1: "destination_unreachable", 2: "packet_too_big", 3: "time_exceeded", 4: "parameter_problem",
    128: "echo_request", 129: "echo_reply", 130: "multicast_listener_request",
    131: "multicast_listener_report", 132: "multicast_listener_done", 133: "router_solicitation",
    134: "router_advertisement", 135: "neighbor_solicitation", 136: "neighbor_advertisement",
    137: "redirect", 138: "router_renumbering", 139: "node_information_request",
    140: "node_information_response", 141: "inverse_neighbor_solicitation",
    142: "inverse_neighbor_advertisement", 143: "multicast_listener_report_v2",
    144: "home_agent_address_discovery_request", 145: "home_agent_address_discovery_reply",
    146: "mobile_prefix_solicitation", 147: "mobile_prefix_advertisement",
    148: "certification_path_solicitation", 149: "certification_path_advertisement",
    151: "multicast_router_advertisement", 152: "multicast_router_solicitation",
    153: "multicast_router_termination",
}
TYPE_BY_NAME = {v: k for k, v in TYPE_NAMES.items()}


def checksum(src, dst, msg) -> int:
    """The checksum `msg` (its checksum field zero or not: it is skipped) should carry."""
    b = bytearray(msg)
    b[2:4] = b"\x00\x00"
    return csum(b, pseudo_header_sum(src, dst, PROTO_ICMP6, len(b)))


def checksum_ok(src, dst, msg) -> bool:
    return len(msg) >= 4 and checksum(src, dst, msg) == struct.unpack_from("!H", msg, 2)[0]


def _finish(src, dst, head: bytes, body: bytes = b"") -> bytes:
    m = bytearray(head + body)
    struct.pack_into("!H", m, 2, checksum(src, dst, m))
    return bytes(m)


def build_echo(src, dst, icmp_type: int, ident: int, seq: int, data: bytes = b"") -> bytes:
    return _finish(src, dst, struct.pack("!BBHHH", icmp_type, 0, 0, ident, seq), bytes(data))


def build_error(src, dst, icmp_type: int, code: int, param: int, invoking: bytes) -> bytes:
    """An error quoting as much of the invoking packet as fits in the minimum MTU (4.1)."""
    room = MIN_MTU - IP6_HDR_LEN - 8
    return _finish(src, dst, struct.pack("!BBHI", icmp_type, code, 0, param & 0xFFFFFFFF),
                   bytes(invoking[:room]))


def ll_option(opt_type: int, mac: bytes) -> bytes:
    return bytes((opt_type, 1)) + bytes(mac)


def build_ns(src, dst, target, sll: bytes | None) -> bytes:
    """A solicitation; DAD's (from ::) carries no source link-layer option (7.2.2)."""
    opts = ll_option(OPT_SOURCE_LL, sll) if sll is not None else b""
    return _finish(src, dst, struct.pack("!BBHI16s", NEIGHBOR_SOLICITATION, 0, 0, 0, addr6_bytes(target)), opts)


def build_na(src, dst, target, flags: int, tll: bytes | None) -> bytes:
    opts = ll_option(OPT_TARGET_LL, tll) if tll is not None else b""
    return _finish(src, dst, struct.pack("!BBHI16s", NEIGHBOR_ADVERTISEMENT, 0, 0, flags << 24,
                                         addr6_bytes(target)), opts)


def build_rs(src, dst, sll: bytes | None) -> bytes:
    opts = ll_option(OPT_SOURCE_LL, sll) if sll is not None else b""
    return _finish(src, dst, struct.pack("!BBHI", ROUTER_SOLICITATION, 0, 0, 0), opts)


class PrefixInfo(NamedTuple):
    prefix: int
    plen: int
    flags: int = PI_ON_LINK | PI_AUTONOMOUS
    valid: int = 2592000  # VPP's defaults (ip6-nd: 30 days, 7 days)
    preferred: int = 604800


def build_ra(src, dst, hop_limit: int, flags: int, lifetime: int, reachable: int, retrans: int,
             sll: bytes | None, mtu: int | None, prefixes: list[PrefixInfo]) -> bytes:
    opts = ll_option(OPT_SOURCE_LL, sll) if sll is not None else b""
    if mtu is not None:
        opts += struct.pack("!BBHI", OPT_MTU, 1, 0, mtu)
    for p in prefixes:
        opts += struct.pack("!BBBBIII16s", OPT_PREFIX_INFO, 4, p.plen, p.flags, p.valid, p.preferred, 0,
                            addr6_bytes(p.prefix))
    return _finish(src, dst, struct.pack("!BBHBBHII", ROUTER_ADVERTISEMENT, 0, 0, hop_limit, flags, lifetime,
                                         reachable, retrans), opts)


def parse_options(b) -> list[tuple[int, bytes]] | None:
    """ND options as (type, body); None when one has length 0 or runs past the end, which
    makes the whole message invalid (RFC 4861 4.6)."""
    out, off, b = [], 0, bytes(b)
    while off < len(b):
        if off + 2 > len(b) or b[off + 1] == 0 or off + b[off + 1] * 8 > len(b):
            return None
        n = b[off + 1] * 8
        out.append((b[off], b[off + 2:off + n]))
        off += n
    return out


def option_mac(opts: list[tuple[int, bytes]], opt_type: int) -> bytes | None:
    """The link-layer address of the first option of `opt_type` (ethernet: 6 bytes)."""
    for t, body in opts:
        if t == opt_type and len(body) >= 6:
            return body[:6]
    return None
