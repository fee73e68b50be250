"""The app side of UDP sessions: datagram send/receive through the session fifos.

session.send/recv are stream calls; a UDP session's fifos hold datagrams (a DGRAM_HDR then
the payload), so apps use these instead: whole datagrams in, whole datagrams out, each with
its peer (and the local address it was sent to, for replies from a 0.0.0.0 listener).
"""

from __future__ import annotations

from typing import NamedTuple

from .main import DGRAM_HDR, HDR_LEN, IP_UDP, UdpError


class Datagram(NamedTuple):
    data: bytes
    rmt_ip: int
    rmt_port: int
    lcl_ip: int
    lcl_port: int


def max_dgram(vm) -> int:
    """The largest UDP payload IPv4 carries: datagrams larger than the MTU leave fragmented."""
    return 65535 - IP_UDP


def udp_sendto(vm, s, data, ip: int | None = None, port: int | None = None, lcl_ip: int = 0) -> int:
    """Queue one datagram to ip:port (a connected session's peer by default).

    Returns len(data), or 0 when the tx fifo has no room for the whole datagram (then the app
    hears on_tx_space when it drains). Raises UdpError for what can never be sent.
    """
    c = s.conn
    if c is None or s.proto != "U":
        raise UdpError("not a UDP session")
    if ip is None or port is None:
        if not c.connected:
            raise UdpError("destination address required")
        ip, port = c.rmt_ip, c.rmt_port
    if not 0 < port < 65536 or not ip:
        raise UdpError("invalid remote ip")
    n = len(data)
    if n > max_dgram(vm):
        raise UdpError("message too long")
    f = s.tx_fifo
    if HDR_LEN + n > f.nitems:  # could never be queued: refuse rather than wait forever
        raise UdpError("message too long")
    if f.free < HDR_LEN + n:
        vm.session.want_tx(s)
        return 0
    f.enqueue(DGRAM_HDR.pack(ip, lcl_ip or c.lcl_ip, port, c.lcl_port, n))
    if n:
        f.enqueue(data)
    vm.session.schedule_tx(s)
    return n


def udp_send(vm, s, data) -> int:
    """Datagram to a connected session's peer."""
    return udp_sendto(vm, s, data)


def udp_next_len(s) -> int:
    """Payload length of the next datagram in the rx fifo, -1 if there is none."""
    f = s.rx_fifo
    if f is None or f.size < HDR_LEN:
        return -1
    return DGRAM_HDR.unpack(f.peek(0, HDR_LEN))[4]


def udp_recv_dgram(vm, s) -> Datagram | None:
    """The next whole datagram with its addresses, or None."""
    f = s.rx_fifo
    if f is None or f.size < HDR_LEN:
        return None
    rip, lip, rport, lport, n = DGRAM_HDR.unpack(f.peek(0, HDR_LEN))
    data = f.peek(HDR_LEN, n) if n else b""
    f.drop(HDR_LEN + n)
    return Datagram(bytes(data), rip, rport, lip, lport)


def udp_recvfrom(vm, s) -> tuple[bytes, int, int] | None:
    """The next datagram as (data, remote ip, remote port), or None."""
    d = udp_recv_dgram(vm, s)
    return None if d is None else (d.data, d.rmt_ip, d.rmt_port)


def udp_drop(s) -> int:
    """Discard the next datagram; its payload length, -1 if none."""
    n = udp_next_len(s)
    if n >= 0:
        s.rx_fifo.drop(HDR_LEN + n)
    return n
