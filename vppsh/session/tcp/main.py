"""TcpMain: the TCP transport in the engine — TcpHost's I/O (packet buffers, the timer wheel,
`show errors`, the FIB) and the session layer's transport interface.

Segments are built straight into packet buffers: IP + TCP header with struct.pack_into, the
payload copied from the session's tx fifo (the fifo keeps every unacknowledged byte, so a
retransmission is just another copy). The TCP checksum is left partial (pseudo-header sum) and
marked for offload (vnet/devices/offload.py): a gso/csum-offload tap hands that to the kernel,
any other device finishes it in software. With TSO a segment may
carry up to 64 KB, which the kernel cuts into MSS-sized packets.
"""

from __future__ import annotations

import os
import random
import struct

from ...wire.ip6 import format_ip46
from ...vlib.buffer import F_GSO, PRE_DATA
from ...vnet.devices.offload import tcp_offload
from ...vnet.ip4.egress import egress
from ...vnet.ip6.egress import egress6
from ..main import SessionError
from ..transport import ConnOptions, Transport, TransportProto, is_ip6
from .connection import CLOSED, SYN_SENT, TIME_WAIT, Segment, TcpConnection
from .errors import TcpError as E
from .host import TcpHost, TcpListener
from .format import details

_HDRS = struct.Struct("!BBHHHBBHIIHHIIBBHHH")  # IPv4 (no options) + TCP header before its options
_IP_FIELDS = struct.Struct("!2xH8xII")  # total length, src, dst
_TCP_FIELDS = struct.Struct("!HHIIBBH")
_IP_TCP_FIELDS = struct.Struct("!2xH8xIIHHIIBBH")  # both, when the IP header is 20 bytes
_TCP_HDR = struct.Struct("!HHIIBBHHH")  # before its options
_IP6 = struct.Struct("!IHBB16s16s")  # version/class/flow, payload length, next header, hop limit, addresses
_IP6_FIELDS = struct.Struct("!4xH2x16s16s")  # payload length, src, dst


class TcpMain(TcpHost, Transport):
    proto = TransportProto.TCP

    def __init__(self, vm) -> None:
        super().__init__()
        self.vm = vm
        self.now = vm.now
        self.timer = vm.timers.add
        self.cancel = vm.timers.cancel
        self.ip_id = random.getrandbits(16)
        # reason -> error code of the node running now (show errors counts per node)
        self.node_errs: dict[str, int] = {}
        self.default_errs: dict[str, int] = {}
        self._out_index = -1  # tcp4-output's node index (emit stages straight to it)
        self._out6_index = -1  # tcp6-output's

    # ------------------------------------------------------------ enable / tables
    def enable(self) -> None:
        self.sm = self.vm.session
        self.default_errs = self.node_errs = self.vm.node("tcp4-output").err
        self.vm.node("ip4-receive").register_protocol(6, "tcp4-input")
        self.vm.node("ip6-receive").register_protocol(6, "tcp6-input")
        for name in ("ip4-icmp-error-input", "ip6-icmp-error-input"):
            self.vm.node(name).register_protocol(6, self.icmp_error)

    def disable(self) -> None:
        for c in list(self.conns):
            if c is not None:
                c.delete()
        self.vm.node("ip4-receive").proto_next.pop(6, None)
        self.vm.node("ip6-receive").proto_next.pop(6, None)
        for name in ("ip4-icmp-error-input", "ip6-icmp-error-input"):
            self.vm.node(name).handlers.pop(6, None)

    def icmp_error(self, lcl_ip: int, lcl_port: int, rmt_ip: int, rmt_port: int, e):
        """An ICMP error about one of our segments (Transport.icmp_error): to its connection,
        with the sequence number it quotes; what that sends (a retransmission at a smaller
        MSS) goes out now."""
        c = self.sm.conns.get((self.proto, lcl_ip, lcl_port, rmt_ip, rmt_port))
        if not isinstance(c, TcpConnection) or len(e.l4) < 8:
            return None
        ptb = e.type == 2 if e.ip6 else (e.type, e.code) == (3, 4)  # packet too big / fragmentation needed
        outcome = c.icmp_error(os.strerror(e.errno).lower(), e.hard, ptb, e.mtu, int.from_bytes(e.l4[4:8], "big"))
        self.flush()
        return outcome

    def egress(self, rmt_ip: int, sw: int | None = None) -> tuple[int, int, int]:
        e = (egress6 if is_ip6(rmt_ip) else egress)(self.vm, rmt_ip, sw)
        return e.sw_if_index, min(e.mtu, self.vm.buffers.data_size - 40), e.tso  # a segment fits a buffer

    # ------------------------------------------------------------ counters
    def count(self, err: E, n: int = 1) -> None:
        """Count `err` for the TCP node running now (or tcp4-output, outside any)."""
        self.vm.errors.mv[self.node_errs[err.reason]] += n

    # ------------------------------------------------------------ transport API (session layer)
    def listen(self, session, ip: int, port: int) -> TcpListener:
        return TcpListener(session, ip, port)

    def unlisten(self, ls: TcpListener) -> None:
        ls.state = CLOSED

    def connect(self, app, ip: int, port: int, opaque=None, opts: ConnOptions | None = None,
                lcl_ip: int = 0, lcl_port: int = 0, sw_if_index: int = -1) -> TcpConnection:
        sm = self.sm
        sw, src = sm.source_address(ip, sw_if_index)
        src = lcl_ip or src  # a socket bound before connect (the shim's apps)
        lport = lcl_port or sm.alloc_port(self.proto, src, ip, port, is_ip6(ip))
        if (self.proto, src, lport, ip, port) in sm.conns:
            raise SessionError("session already exists")
        return self.open(app, src, lport, ip, port, sw, opaque, opts)

    def set_options(self, conn, opts: ConnOptions) -> None:
        if isinstance(conn, TcpConnection):
            conn.apply_options(opts)

    def info(self, conn) -> dict | None:
        if isinstance(conn, TcpConnection):
            return conn.info()
        return {"state": int(conn.state)} if isinstance(conn, TcpListener) else None

    def push(self, conn) -> None:
        if isinstance(conn, TcpConnection) and conn.state != CLOSED:
            conn.output()
            self.flush()

    def rx_consumed(self, conn) -> None:
        if isinstance(conn, TcpConnection) and conn.rx_consumed():
            self.sm.queue.interrupt_pending = True  # the session queue's poll flushes the ACK

    def close(self, conn) -> None:
        if isinstance(conn, TcpConnection):
            conn.app_close()
            self.flush()

    def shutdown(self, conn) -> None:
        if isinstance(conn, TcpConnection):
            conn.shutdown_wr()
            self.flush()

    def reset(self, conn) -> None:
        if isinstance(conn, TcpConnection) and conn.state != CLOSED:
            if conn.state not in (SYN_SENT, CLOSED, TIME_WAIT):
                conn.send_rst()
            conn.delete()

    # ------------------------------------------------------------ segment emission
    def emit(self, c: TcpConnection, flags: int, seq: int, ack: int, wnd: int, opts: bytes, fifo_off: int,
             n: int, gso: int = 0) -> int:
        """Build one segment for connection `c` into a fresh buffer and hand it to tcp4-output.

        Scalar all the way (one buffer, no numpy): both headers in one pack_into, the IP
        checksum and the TCP pseudo-header sum from the addresses' sum, the buffer's metadata
        through the pool's memoryviews, and the buffer staged as an int."""
        vm = self.vm
        buf = vm.buffers
        if c.ip6:
            return self._emit6(c, flags, seq, ack, wnd, opts, fifo_off, n, gso)
        b = buf.alloc1()
        if b < 0:
            self.stats["out of buffers"] += 1
            return -1
        thl = 20 + len(opts)
        room = buf.data_size - 20 - thl
        if n > room:
            n = room
        base = b * buf.stride + PRE_DATA  # a fresh buffer's current_data is 0
        mv = buf.mv
        if n:
            p = base + 20 + thl
            n = c.session.tx_fifo.peek_into(fifo_off, mv[p:p + n])
        l4 = thl + n
        total = 20 + l4
        ip_id = self.ip_id = (self.ip_id + 1) & 0xFFFF
        tos, ttl = c.tos, c.ttl
        psum = c.psum  # the addresses + protocol, folded: with l4 at most 0x1fffe, one fold
        s = 0x8500 + tos + total + ip_id + (ttl << 8) + psum  # 0x4500 + 0x4000 (DF) + proto 6 in psum
        s = (s & 0xFFFF) + (s >> 16)
        s = (s & 0xFFFF) + (s >> 16)
        ps = psum + l4
        ps = (ps & 0xFFFF) + (ps >> 16)
        _HDRS.pack_into(mv, base, 0x45, tos, total, ip_id, 0x4000, ttl, 6, ~s & 0xFFFF, c.lcl_ip, c.rmt_ip,
                        c.lcl_port, c.rmt_port, seq, ack, (thl // 4) << 4, flags, wnd, ps, 0)
        if opts:
            mv[base + 40:base + 20 + thl] = opts
        buf.mv_current_length[b] = total
        buf.mv_sw_rx[b] = c.sw_if_index if c.sw_if_index >= 0 else 0
        tcp_offload(buf, b, thl, gso if gso and n > gso else 0)
        buf.mv_aux[b] = c.index + 1 if c.index >= 0 else 0
        out = self._out_index
        if out < 0:
            out = self._out_index = vm.node("tcp4-output").index
        vm.stage1(out, b)
        return n

    def _emit6(self, c: TcpConnection, flags: int, seq: int, ack: int, wnd: int, opts: bytes, fifo_off: int,
               n: int, gso: int) -> int:
        """emit() for IPv6: a 40-byte header with no checksum of its own."""
        vm = self.vm
        buf = vm.buffers
        b = buf.alloc1()
        if b < 0:
            self.stats["out of buffers"] += 1
            return -1
        thl = 20 + len(opts)
        room = buf.data_size - 40 - thl
        if n > room:
            n = room
        base = b * buf.stride + PRE_DATA
        mv = buf.mv
        if n:
            p = base + 40 + thl
            n = c.session.tx_fifo.peek_into(fifo_off, mv[p:p + n])
        l4 = thl + n
        ps = c.psum + l4
        ps = (ps & 0xFFFF) + (ps >> 16)
        _IP6.pack_into(mv, base, 0x60000000 | c.tos << 20, l4, 6, c.ttl, c.lcl_ip.to_bytes(16, "big"),
                       c.rmt_ip.to_bytes(16, "big"))
        _TCP_HDR.pack_into(mv, base + 40, c.lcl_port, c.rmt_port, seq, ack, (thl // 4) << 4, flags, wnd,
                           (ps & 0xFFFF) + (ps >> 16), 0)
        if opts:
            mv[base + 60:base + 40 + thl] = opts
        buf.mv_current_length[b] = 40 + l4
        buf.mv_sw_rx[b] = c.sw_if_index if c.sw_if_index >= 0 else 0
        tcp_offload(buf, b, thl, gso if gso and n > gso else 0, True)
        buf.mv_aux[b] = c.index + 1 if c.index >= 0 else 0
        out = self._out6_index
        if out < 0:
            out = self._out6_index = vm.node("tcp6-output").index
        vm.stage1(out, b)
        return n

    # ------------------------------------------------------------ CLI helpers
    def active(self) -> list[TcpConnection]:
        return [c for c in self.conns if c is not None]

    def format_id(self, conn) -> str:
        return (f"[0:{conn.session.index if conn.session is not None else 0}][T] "
                f"{format_ip46(conn.lcl_ip, conn.ip6)}:{conn.lcl_port}->"
                f"{format_ip46(conn.rmt_ip, conn.ip6)}:{conn.rmt_port}")

    def state_name(self, conn) -> str:
        return conn.state.name

    def format_details(self, conn, level: int) -> list[str]:
        return details(self, conn, level)


def segment_from(buf, b: int) -> Segment:
    """Parse buffer b (current data at the IP header) into a Segment (per packet, after tcp4-input
    validated lengths and checksum)."""
    mv = buf.mv
    o = b * buf.stride + PRE_DATA + buf.mv_current_data[b]
    if mv[o] >> 4 == 6:  # IPv6 (tcp6-input moved any extension headers out of the way)
        plen, src, dst = _IP6_FIELDS.unpack_from(mv, o)
        t = o + 40
        tot = 40 + plen
        src, dst = int.from_bytes(src, "big"), int.from_bytes(dst, "big")
        sp, dp, seq, ack, off, flags, wnd = _TCP_FIELDS.unpack_from(mv, t)
    elif mv[o] == 0x45:  # no IP options: both headers in one unpack
        tot, src, dst, sp, dp, seq, ack, off, flags, wnd = _IP_TCP_FIELDS.unpack_from(mv, o)
        t = o + 20
    else:
        tot, src, dst = _IP_FIELDS.unpack_from(mv, o)
        t = o + (mv[o] & 0x0F) * 4
        sp, dp, seq, ack, off, flags, wnd = _TCP_FIELDS.unpack_from(mv, t)
    hl = (off >> 4) * 4
    opts = bytes(mv[t + 20:t + hl]) if hl > 20 else b""
    if buf.mv_flags[b] & F_GSO:  # a GRO super-frame: the kernel's IP length may be 0 past 64 KB
        tot = max(tot, buf.mv_current_length[b])
    return Segment(src, dst, sp, dp, seq, ack, flags, wnd, opts, mv[t + hl:o + tot])
