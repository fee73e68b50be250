"""TCP headers and options (MSS, window scale, SACK-permitted, SACK, timestamps)."""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import NamedTuple

from .checksum import csum
from .ip4 import PROTO_TCP, pseudo_header_sum

TCP_HDR_LEN = 20

FIN = 0x01
SYN = 0x02
RST = 0x04
PSH = 0x08
ACK = 0x10
URG = 0x20
ECE = 0x40
CWR = 0x80
FLAG_NAMES = (("FIN", FIN), ("SYN", SYN), ("RST", RST), ("PSH", PSH),
              ("ACK", ACK), ("URG", URG), ("ECE", ECE), ("CWR", CWR))

OPT_EOL = 0
OPT_NOP = 1
OPT_MSS = 2
OPT_WSCALE = 3
OPT_SACK_PERMITTED = 4
OPT_SACK = 5
OPT_TIMESTAMP = 8
_FIXED_LEN = {OPT_MSS: 4, OPT_WSCALE: 3, OPT_SACK_PERMITTED: 2, OPT_TIMESTAMP: 10}


@dataclass
class TcpOptions:
    mss: int | None = None
    wscale: int | None = None
    sack_permitted: bool = False
    timestamp: tuple[int, int] | None = None  # (tsval, tsecr)
    sack_blocks: list[tuple[int, int]] = field(default_factory=list)
    unknown: list[tuple[int, bytes]] = field(default_factory=list)


class TcpHeader(NamedTuple):
    src_port: int
    dst_port: int
    seq: int
    ack: int
    header_len: int  # bytes
    flags: int
    window: int
    checksum: int
    urgent: int
    options: bytes


def build_options(mss: int | None = None, wscale: int | None = None,
                  sack_permitted: bool = False, timestamp: tuple[int, int] | None = None,
                  sack_blocks=()) -> bytes:
    """Encode options, NOP-padded to a multiple of 4 bytes (as VPP's pg does)."""
    out = b""
    if mss is not None:
        out += struct.pack("!BBH", OPT_MSS, 4, mss)
    if wscale is not None:
        out += struct.pack("!BBB", OPT_WSCALE, 3, wscale)
    if sack_permitted:
        out += bytes([OPT_SACK_PERMITTED, 2])
    if timestamp is not None:
        out += struct.pack("!BBII", OPT_TIMESTAMP, 10, *timestamp)
    if sack_blocks:
        out += bytes([OPT_SACK, 2 + 8 * len(sack_blocks)])
        out += b"".join(struct.pack("!II", a, b) for a, b in sack_blocks)
    return out + bytes([OPT_NOP]) * (-len(out) % 4)


def parse_options(b: bytes) -> TcpOptions:
    """Decode an options area; unknown kinds are kept, malformed lengths raise ValueError."""
    o = TcpOptions()
    i, n = 0, len(b)
    while i < n:
        kind = b[i]
        if kind == OPT_EOL:
            break
        if kind == OPT_NOP:
            i += 1
            continue
        if i + 1 >= n:
            raise ValueError(f"TCP option {kind} truncated")
        ln = b[i + 1]
        if ln < 2 or i + ln > n:
            raise ValueError(f"TCP option {kind} has bad length {ln}")
        want = _FIXED_LEN.get(kind)
        if want is not None and ln != want:
            raise ValueError(f"TCP option {kind} has bad length {ln}")
        body = bytes(b[i + 2:i + ln])
        if kind == OPT_MSS:
            o.mss = struct.unpack("!H", body)[0]
        elif kind == OPT_WSCALE:
            o.wscale = body[0]
        elif kind == OPT_SACK_PERMITTED:
            o.sack_permitted = True
        elif kind == OPT_TIMESTAMP:
            o.timestamp = struct.unpack("!II", body)
        elif kind == OPT_SACK:
            if (ln - 2) % 8 or ln == 2:
                raise ValueError(f"TCP SACK option has bad length {ln}")
            o.sack_blocks = [struct.unpack_from("!II", body, k) for k in range(0, ln - 2, 8)]
        else:
            o.unknown.append((kind, body))
        i += ln
    return o


def checksum(src, dst, segment: bytes) -> int:
    """TCP checksum over header+payload with the checksum field zeroed."""
    return csum(segment, pseudo_header_sum(src, dst, PROTO_TCP, len(segment)))


def build(src_port: int, dst_port: int, seq: int = 0, ack: int = 0, flags: int = 0,
          window: int = 65535, payload: bytes = b"", options: bytes | TcpOptions = b"",
          src_ip=None, dst_ip=None, urgent: int = 0) -> bytes:
    """Header + payload; checksum filled in when both IP addresses are given, else 0."""
    if isinstance(options, TcpOptions):
        options = build_options(options.mss, options.wscale, options.sack_permitted,
                                options.timestamp, options.sack_blocks)
    opts = bytes(options) + bytes([OPT_NOP]) * (-len(options) % 4)
    hlen = TCP_HDR_LEN + len(opts)
    if hlen > 60:
        raise ValueError("TCP options too long")
    seg = bytearray(struct.pack("!HHIIBBHHH", src_port, dst_port, seq & 0xFFFFFFFF,
                                ack & 0xFFFFFFFF, (hlen // 4) << 4, flags, window, 0, urgent))
    seg += opts + bytes(payload)
    if src_ip is not None and dst_ip is not None:
        struct.pack_into("!H", seg, 16, checksum(src_ip, dst_ip, bytes(seg)))
    return bytes(seg)


def parse(b: bytes) -> TcpHeader:
    if len(b) < TCP_HDR_LEN:
        raise ValueError("TCP header truncated")
    sp, dp, seq, ack, off, flags, win, ck, urg = struct.unpack_from("!HHIIBBHHH", b)
    hlen = (off >> 4) * 4
    if hlen < TCP_HDR_LEN or hlen > len(b):
        raise ValueError(f"TCP data offset {hlen} invalid")
    return TcpHeader(sp, dp, seq, ack, hlen, flags, win, ck, urg, bytes(b[TCP_HDR_LEN:hlen]))


def checksum_ok(src, dst, segment: bytes) -> bool:
    return csum(segment, pseudo_header_sum(src, dst, PROTO_TCP, len(segment))) == 0


def format_flags(flags: int) -> str:
    """VPP style: `0x12 SYN ACK`."""
    return f"0x{flags:02x}" + "".join(f" {n}" for n, f in FLAG_NAMES if flags & f)


def format_tcp_header(b: bytes) -> str:
    """VPP trace lines for a TCP header (options are not itemised)."""
    if len(b) < TCP_HDR_LEN:
        return "TCP header truncated"
    sp, dp, seq, ack, off, flags, win, ck, _ = struct.unpack_from("!HHIIBBHHH", b)
    return (f"TCP: {sp} -> {dp}\n  seq. 0x{seq:08x} ack 0x{ack:08x}\n"
            f"  flags {format_flags(flags)}, tcp header: {(off >> 4) * 4} bytes\n"
            f"  window {win}, checksum 0x{ck:04x}")
