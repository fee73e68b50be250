"""IPv6 headers, addresses, prefixes and extension headers; formatting as VPP's ip6_format.c.

Addresses are Python ints (network order read big-endian), as IPv4's are, so FIB keys, session
endpoints and neighbour keys are the same kind of value for both families.
"""

from __future__ import annotations

import ipaddress
import struct
from typing import NamedTuple

from .checksum import ones_sum
from .ip4 import format_ip4, format_protocol

IP6_HDR_LEN = 40
OFF_PLEN = 4
OFF_NH = 6
OFF_HLIM = 7
OFF_SRC = 8
OFF_DST = 24
MIN_MTU = 1280  # RFC 8200 5: every link carries this much; ICMPv6 errors fit in it

# next-header values of the extension headers (RFC 8200 4) and those that end a chain
HOP_BY_HOP, ROUTING, FRAGMENT, DEST_OPTS, NO_NEXT, ESP, AH = 0, 43, 44, 60, 59, 50, 51
PROTO_ICMP6 = 58
EXT_HEADERS = frozenset((HOP_BY_HOP, ROUTING, FRAGMENT, DEST_OPTS))
MAX_EXT_HEADERS = 8  # a longer chain is dropped (VPP's ip6 walks a bounded chain too)

ALL_NODES = 0xFF02 << 112 | 1
ALL_ROUTERS = 0xFF02 << 112 | 2
LINK_LOCAL_NET = 0xFE80 << 112
ALL_ONES = (1 << 128) - 1


class Ip6Header(NamedTuple):
    version: int
    tclass: int
    flow: int
    payload_length: int
    next_header: int
    hop_limit: int
    src: int
    dst: int


def parse_ip6(text: str) -> int:
    """RFC 4291 text form (`::`, hex groups, an IPv4 tail) to int; ValueError on anything
    else, zone ids included (VPP's unformat has none)."""
    if not text.isascii() or "%" in text or "/" in text:
        raise ValueError(f"invalid IPv6 address `{text}'")
    try:
        return int(ipaddress.IPv6Address(text))
    except ipaddress.AddressValueError:
        raise ValueError(f"invalid IPv6 address `{text}'") from None


def parse_ip6_prefix(text: str) -> tuple[int, int]:
    """`addr/len` (len 0..128) to (addr, len); host bits are kept as given."""
    addr, sep, plen = text.partition("/")
    if not sep or not (plen.isascii() and plen.isdigit()) or len(plen) > 3 or int(plen) > 128:
        raise ValueError(f"invalid IPv6 prefix `{text}'")
    return parse_ip6(addr), int(plen)


def format_ip6(a) -> str:
    """VPP's format_ip6_address: lowercase hex groups, the first longest run of two or more
    zero groups as `::` (a lone zero group stays), no dotted IPv4 tail."""
    if isinstance(a, (bytes, bytearray, memoryview)):
        a = int.from_bytes(bytes(a)[:16], "big")
    g = [(int(a) >> (112 - 16 * i)) & 0xFFFF for i in range(8)]
    best, best_len, i = -1, 1, 0
    while i < 8:
        if g[i] == 0:
            j = i
            while j < 8 and g[j] == 0:
                j += 1
            if j - i > best_len:
                best, best_len = i, j - i
            i = j
        else:
            i += 1
    if best < 0:
        return ":".join(f"{x:x}" for x in g)
    return (":".join(f"{x:x}" for x in g[:best]) + "::"
            + ":".join(f"{x:x}" for x in g[best + best_len:]))


def format_ip46(a: int, ip6: bool) -> str:
    """VPP's format_ip46_address of a known family."""
    return format_ip6(a) if ip6 else format_ip4(a)


def prefix_mask6(plen: int) -> int:
    return (ALL_ONES << (128 - plen)) & ALL_ONES if plen else 0


def addr6_bytes(a) -> bytes:
    """Accept int, text or 16 bytes."""
    if isinstance(a, str):
        a = parse_ip6(a)
    if isinstance(a, (bytes, bytearray, memoryview)):
        if len(a) != 16:
            raise ValueError("IPv6 address must be 16 bytes")
        return bytes(a)
    return int(a).to_bytes(16, "big")


def is_link_local(a: int) -> bool:
    return a >> 118 == 0xFE80 >> 6


def is_multicast(a: int) -> bool:
    return a >> 120 == 0xFF


def link_local_from_mac(mac: bytes) -> int:
    """fe80::/64 with the modified EUI-64 of `mac` (RFC 4291 appendix A), as VPP and Linux."""
    m = bytes(mac)
    iid = bytes((m[0] ^ 0x02, m[1], m[2], 0xFF, 0xFE, m[3], m[4], m[5]))
    return LINK_LOCAL_NET | int.from_bytes(iid, "big")


def solicited_node(a: int) -> int:
    """ff02::1:ffXX:XXXX: where neighbour solicitations for `a` go (RFC 4291 2.7.1)."""
    return 0xFF02 << 112 | 1 << 32 | 0xFF << 24 | (a & 0xFFFFFF)


def multicast_mac(a: int) -> bytes:
    """33:33 and the group's low 32 bits (RFC 2464 7)."""
    return b"\x33\x33" + (a & 0xFFFFFFFF).to_bytes(4, "big")


def build(src, dst, next_header: int, payload_len: int, hop_limit: int = 64, tclass: int = 0,
          flow: int = 0) -> bytes:
    return struct.pack("!IHBB16s16s", 6 << 28 | (tclass & 0xFF) << 20 | (flow & 0xFFFFF), payload_len,
                       next_header, hop_limit, addr6_bytes(src), addr6_bytes(dst))


def parse(b) -> Ip6Header:
    if len(b) < IP6_HDR_LEN:
        raise ValueError("IP header truncated")
    vtf, plen, nh, hl = struct.unpack_from("!IHBB", b)
    src = int.from_bytes(bytes(b[8:24]), "big")
    dst = int.from_bytes(bytes(b[24:40]), "big")
    return Ip6Header(vtf >> 28, (vtf >> 20) & 0xFF, vtf & 0xFFFFF, plen, nh, hl, src, dst)


def pseudo_header_sum(src, dst, proto: int, length: int) -> int:
    """Folded ones-complement sum of the upper-layer pseudo header (RFC 8200 8.1)."""
    return ones_sum(addr6_bytes(src) + addr6_bytes(dst) + struct.pack("!IxxxB", length, proto))


def format_ip6_header(b) -> str:
    """VPP trace lines for an IPv6 header (continuation lines indented by 2)."""
    if len(b) < IP6_HDR_LEN:
        return "IP header truncated"
    h = parse(b)
    s = f"{format_protocol(h.next_header)}: {format_ip6(h.src)} -> {format_ip6(h.dst)}"
    if h.version != 6:
        s += f"\n  version {h.version}"
    return s + (f"\n  tos 0x{h.tclass:02x}, flow label 0x{h.flow:x}, hop limit {h.hop_limit}, "
                f"payload length {h.payload_length}")


class ExtChain(NamedTuple):
    """Where an extension-header walk ended: the upper-layer protocol and its offset, the
    fragment header's offset (-1: none), and `error` (None, or why the packet is bad) with
    `pointer`, the offset ICMPv6 parameter problem names."""

    proto: int
    offset: int
    frag: int
    error: str | None = None
    pointer: int = 0


def walk(pkt, limit: int | None = None) -> ExtChain:
    """Follow the extension-header chain of the IPv6 packet `pkt` (header included) up to its
    payload length. Hop-by-hop must come first (RFC 8200 4.1); a type 0 routing header with
    segments left is refused (RFC 5095); at most MAX_EXT_HEADERS headers."""
    end = IP6_HDR_LEN + struct.unpack_from("!H", pkt, OFF_PLEN)[0] if limit is None else limit
    end = min(end, len(pkt))
    nh, off, frag, n = pkt[OFF_NH], IP6_HDR_LEN, -1, 0
    while nh in EXT_HEADERS:
        n += 1
        if n > MAX_EXT_HEADERS:
            return ExtChain(nh, off, frag, "extension header chain too long")
        if nh == HOP_BY_HOP and off != IP6_HDR_LEN:
            return ExtChain(nh, off, frag, "hop-by-hop header not first", off)
        if off + 8 > end:
            return ExtChain(nh, off, frag, "extension header truncated")
        if nh == FRAGMENT:
            frag = off
            if struct.unpack_from("!H", pkt, off + 2)[0] & 0xFFF8:  # not the first fragment:
                return ExtChain(pkt[off], off + 8, frag)  # what follows is data, not headers
            size = 8
        else:
            size = (pkt[off + 1] + 1) * 8
            if off + size > end:
                return ExtChain(nh, off, frag, "extension header truncated")
            if nh == ROUTING and pkt[off + 2] == 0 and pkt[off + 3] != 0:
                return ExtChain(nh, off, frag, "routing header type 0", off + 2)
        nh, off = pkt[off], off + size
    return ExtChain(nh, off, frag)


# what of the upper-layer header a first fragment must hold (Linux's ipv6frag_thdr_truncated)
UPPER_HEADER_MIN = {6: 20, 17: 8, PROTO_ICMP6: 8}


def upper_layer_present(pkt, c: ExtChain) -> bool:
    """Does `pkt`, whose chain walked to `c`, hold every header through the upper-layer one
    (RFC 8200 4.5, RFC 7112: a first fragment must)? Linux asks the fixed part of a TCP, UDP or
    ICMPv6 header, one byte of anything else."""
    end = min(len(pkt), IP6_HDR_LEN + struct.unpack_from("!H", pkt, OFF_PLEN)[0])
    return c.error is None and c.proto not in EXT_HEADERS and c.offset + UPPER_HEADER_MIN.get(c.proto, 1) <= end


def nh_field(pkt, upto: int) -> int:
    """Offset of the next-header field that names the header at offset `upto` of `pkt` (a
    position its chain reaches: a parameter problem's pointer, a header to take out)."""
    field, off, nh = OFF_NH, IP6_HDR_LEN, pkt[OFF_NH]
    while off < upto and nh in EXT_HEADERS:
        size = 8 if nh == FRAGMENT else (pkt[off + 1] + 1) * 8
        field, nh = off, pkt[off]
        off += size
    return field
