"""UDP headers with the IPv4 pseudo-header checksum."""

from __future__ import annotations

import struct
from typing import NamedTuple

from .checksum import csum
from .ip4 import PROTO_UDP, pseudo_header_sum

UDP_HDR_LEN = 8


class UdpHeader(NamedTuple):
    src_port: int
    dst_port: int
    length: int
    checksum: int


def checksum(src, dst, segment: bytes) -> int:
    """UDP checksum over header+payload (checksum field must be zero); 0 is sent as 0xffff."""
    c = csum(segment, pseudo_header_sum(src, dst, PROTO_UDP, len(segment)))
    return c or 0xFFFF


def build(src_port: int, dst_port: int, payload: bytes = b"", src_ip=None, dst_ip=None) -> bytes:
    """Header + payload; the checksum is filled in when both IP addresses are given, else 0."""
    seg = bytearray(struct.pack("!HHHH", src_port, dst_port, UDP_HDR_LEN + len(payload), 0))
    seg += payload
    if src_ip is not None and dst_ip is not None:
        struct.pack_into("!H", seg, 6, checksum(src_ip, dst_ip, bytes(seg)))
    return bytes(seg)


def parse(b: bytes) -> UdpHeader:
    if len(b) < UDP_HDR_LEN:
        raise ValueError("UDP header truncated")
    return UdpHeader(*struct.unpack_from("!HHHH", b))


def checksum_ok(src, dst, segment: bytes) -> bool:
    """True if the checksum verifies (a zero checksum means none was sent)."""
    if struct.unpack_from("!H", segment, 6)[0] == 0:
        return True
    seg = bytearray(segment)
    seg[6:8] = b"\x00\x00"
    return checksum(src, dst, bytes(seg)) == struct.unpack_from("!H", segment, 6)[0]


def format_udp_header(b: bytes) -> str:
    """VPP trace lines: `UDP: 1234 -> 2345` / `  length 266, checksum 0x1234`."""
    if len(b) < UDP_HDR_LEN:
        return "UDP header truncated"
    h = parse(b)
    return f"UDP: {h.src_port} -> {h.dst_port}\n  length {h.length}, checksum 0x{h.checksum:04x}"
