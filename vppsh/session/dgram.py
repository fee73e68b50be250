"""Datagrams through a session's fifos (VPP's session_dgram_hdr_t and app_send/recv_dgram).

A datagram session's fifos hold whole datagrams, each a DGRAM_HDR (remote ip, local ip, remote
port, local port, length, is_ip6) then its payload, in both directions: one bound session
serves every peer, and the app learns who sent each datagram and to which of our addresses, so
a reply leaves from that address. The session layer owns this format; its transports (UDP)
write and read it, apps use the calls here.

Addresses of both families, as VPP's header holds ip46 addresses and an is_ip4 flag: an IPv4
datagram's header is the 16 bytes alone; an IPv6 one's says is_ip6, leaves the IPv4 fields
zero and is followed by its two 16-byte addresses (ADDR6). IPv4, the common case, pays
nothing for IPv6: the same 16 bytes, one unpack.
"""

from __future__ import annotations

import struct
from typing import NamedTuple

from .main import SessionError

DGRAM_HDR = struct.Struct("!IIHHHH")  # rmt ip4, lcl ip4, rmt port, lcl port, data length, is_ip6
HDR_LEN = DGRAM_HDR.size
ADDR6 = struct.Struct("!16s16s")  # an IPv6 datagram's rmt, lcl addresses, after its DGRAM_HDR
HDR6_LEN = HDR_LEN + ADDR6.size
MAX_DGRAM = 65535 - 28  # the most an IPv4 UDP datagram carries (larger than the MTU: fragmented)
MAX_DGRAM6 = 65535 - 8  # IPv6: the payload length field holds UDP's header and data (no jumbograms)


class Datagram(NamedTuple):
    data: bytes
    rmt_ip: int
    rmt_port: int
    lcl_ip: int
    lcl_port: int
    ip6: bool = False


def hdr_len(ip6: bool) -> int:
    """What a datagram's header takes in a fifo (its payload's length follows)."""
    return HDR6_LEN if ip6 else HDR_LEN


def pack_hdr(rip: int, lip: int, rport: int, lport: int, n: int, ip6: bool) -> bytes:
    """A datagram's header as the fifos hold it."""
    if not ip6:
        return DGRAM_HDR.pack(rip, lip, rport, lport, n, 0)
    return DGRAM_HDR.pack(0, 0, rport, lport, n, 1) + ADDR6.pack(rip.to_bytes(16, "big"), lip.to_bytes(16, "big"))


def peek_hdr(f, off: int = 0) -> tuple[int, int, int, int, int, int] | None:
    """(rmt ip, lcl ip, rmt port, lcl port, data length, header length) of the datagram at
    `off` in fifo f, or None if its header is not all there."""
    if f.size - off < HDR_LEN:
        return None
    h = f.peek(off, HDR6_LEN)  # (an IPv6 header's addresses in the same read)
    rip, lip, rport, lport, n, ip6 = DGRAM_HDR.unpack_from(h)
    if not ip6:
        return rip, lip, rport, lport, n, HDR_LEN
    if len(h) < HDR6_LEN:
        return None
    r6, l6 = ADDR6.unpack_from(h, HDR_LEN)
    return int.from_bytes(r6, "big"), int.from_bytes(l6, "big"), rport, lport, n, HDR6_LEN


def send_dgram(sm, s, data, ip: int | None = None, port: int | None = None, lcl_ip: int = 0) -> int:
    """Queue one datagram to ip:port (a connected session's peer by default), from lcl_ip (the
    session's address by default). Returns len(data), or 0 when the tx fifo has no room for the
    whole of it (on_tx_space follows). SessionError for what can never be sent: among it a
    peer of the other family than the session's (a bound session carries one family)."""
    c = s.conn
    if c is None or s.tx_fifo is None:
        raise SessionError("not a datagram session")
    if ip is None or port is None:
        if not c.connected:
            raise SessionError("destination address required")
        ip, port = c.rmt_ip, c.rmt_port
    if not 0 < port < 65536 or not ip:
        raise SessionError("invalid remote ip")
    ip6 = c.ip6
    if (ip > 0xFFFFFFFF) != ip6:  # (is_ip6, inline: the per-datagram path)
        raise SessionError("address family not supported")
    n = len(data)
    f = s.tx_fifo
    hl = HDR6_LEN if ip6 else HDR_LEN
    if n > (MAX_DGRAM6 if ip6 else MAX_DGRAM) or hl + n > f.nitems:  # could never be queued: refuse
        raise SessionError("message too long")
    if f.free < hl + n:
        sm.want_tx(s)
        return 0
    if ip6:
        f.enqueue(pack_hdr(ip, lcl_ip or c.lcl_ip, port, c.lcl_port, n, True))
    else:
        f.enqueue(DGRAM_HDR.pack(ip, lcl_ip or c.lcl_ip, port, c.lcl_port, n, 0))
    if n:
        f.enqueue(data)
    sm.schedule_tx(s)
    return n


def next_dgram_len(s) -> int:
    """Payload length of the next datagram in the rx fifo, -1 if there is none."""
    f = s.rx_fifo
    if f is None or f.size < HDR_LEN:
        return -1
    return DGRAM_HDR.unpack(f.peek(0, HDR_LEN))[4]


def next_dgram_room(s) -> int:
    """What the next datagram in the rx fifo takes (header and payload) if sent back the way it
    came, -1 if there is none: what an echo needs free in the tx fifo."""
    f = s.rx_fifo
    if f is None or f.size < HDR_LEN:
        return -1
    h = DGRAM_HDR.unpack(f.peek(0, HDR_LEN))
    return (HDR6_LEN if h[5] else HDR_LEN) + h[4]


def recv_dgram(s, keep: bool = False) -> Datagram | None:
    """The next whole datagram with its addresses (left in the fifo if `keep`), or None."""
    f = s.rx_fifo
    if f is None or f.size < HDR_LEN:
        return None
    h = f.peek(0, HDR6_LEN)  # (an IPv6 header's addresses in the same read)
    rip, lip, rport, lport, n, ip6 = DGRAM_HDR.unpack_from(h)
    hl = HDR_LEN
    if ip6:
        r6, l6 = ADDR6.unpack_from(h, HDR_LEN)
        rip, lip, hl = int.from_bytes(r6, "big"), int.from_bytes(l6, "big"), HDR6_LEN
    data = f.peek(hl, n) if n else b""
    if not keep:
        f.drop(hl + n)
    return Datagram(bytes(data), rip, rport, lip, lport, bool(ip6))


def drop_dgram(s) -> int:
    """Discard the next datagram; its payload length, -1 if none."""
    f = s.rx_fifo
    if f is None or f.size < HDR_LEN:
        return -1
    h = DGRAM_HDR.unpack(f.peek(0, HDR_LEN))
    f.drop((HDR6_LEN if h[5] else HDR_LEN) + h[4])
    return h[4]
