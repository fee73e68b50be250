"""Datagrams through a session's fifos (VPP's session_dgram_hdr_t and app_send/recv_dgram).

A datagram session's fifos hold whole datagrams, each a DGRAM_HDR (remote ip, local ip, remote
port, local port, length) then its payload, in both directions: one bound session serves every
peer, and the app learns who sent each datagram and to which of our addresses, so a reply
leaves from that address. The session layer owns this format; its transports (UDP) write and
read it, apps use the calls here.
"""

from __future__ import annotations

import struct
from typing import NamedTuple

from .main import SessionError

DGRAM_HDR = struct.Struct("!IIHHI")  # rmt ip, lcl ip, rmt port, lcl port, data length
HDR_LEN = DGRAM_HDR.size
MAX_DGRAM = 65535 - 28  # the most an IPv4 UDP datagram carries (larger than the MTU: fragmented)


class Datagram(NamedTuple):
    data: bytes
    rmt_ip: int
    rmt_port: int
    lcl_ip: int
    lcl_port: int


def send_dgram(sm, s, data, ip: int | None = None, port: int | None = None, lcl_ip: int = 0) -> int:
    """Queue one datagram to ip:port (a connected session's peer by default), from lcl_ip (the
    session's address by default). Returns len(data), or 0 when the tx fifo has no room for the
    whole of it (on_tx_space follows). SessionError for what can never be sent."""
    c = s.conn
    if c is None or s.tx_fifo is None:
        raise SessionError("not a datagram session")
    if ip is None or port is None:
        if not c.connected:
            raise SessionError("destination address required")
        ip, port = c.rmt_ip, c.rmt_port
    if not 0 < port < 65536 or not ip:
        raise SessionError("invalid remote ip")
    n = len(data)
    f = s.tx_fifo
    if n > MAX_DGRAM or HDR_LEN + n > f.nitems:  # could never be queued: refuse, not wait forever
        raise SessionError("message too long")
    if f.free < HDR_LEN + n:
        sm.want_tx(s)
        return 0
    f.enqueue(DGRAM_HDR.pack(ip, lcl_ip or c.lcl_ip, port, c.lcl_port, n))
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


def recv_dgram(s, keep: bool = False) -> Datagram | None:
    """The next whole datagram with its addresses (left in the fifo if `keep`), or None."""
    f = s.rx_fifo
    if f is None or f.size < HDR_LEN:
        return None
    rip, lip, rport, lport, n = DGRAM_HDR.unpack(f.peek(0, HDR_LEN))
    data = f.peek(HDR_LEN, n) if n else b""
    if not keep:
        f.drop(HDR_LEN + n)
    return Datagram(bytes(data), rip, rport, lip, lport)


def drop_dgram(s) -> int:
    """Discard the next datagram; its payload length, -1 if none."""
    n = next_dgram_len(s)
    if n >= 0:
        s.rx_fifo.drop(HDR_LEN + n)
    return n
