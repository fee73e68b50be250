"""TcpMain: the TCP transport — connection pool, listeners, segment emission, stats, config.

Segments are built straight into packet buffers: IP + TCP header with struct.pack_into, the
payload copied from the session's tx fifo (the fifo keeps every unacknowledged byte, so a
retransmission is just another copy). The TCP checksum is left partial (pseudo-header sum) and
flagged NEEDS_CSUM in the buffer's virtio-net header: a gso/csum-offload tap hands that to the
kernel, any other device finishes it in software (devices/offload.py). With TSO a segment may
carry up to 64 KB, which the kernel cuts into MSS-sized packets.
"""

from __future__ import annotations

import random
import struct
from collections import Counter, deque
from dataclasses import dataclass

from ...vlib.buffer import F_GSO, F_LOCALLY_ORIGINATED, F_OFFLOAD, PRE_DATA, VNET_HDR_LEN
from ...vnet.ip4.egress import egress
from ...wire.tcp import ACK, RST, SYN, TcpOptions
from ..main import SessionError
from ..session import NO_FLAGS
from ..transport import ConnOptions, Transport, TransportConnection, TransportProto
from . import isn as isn_mod
from .errors import TcpError as E
from .connection import CLOSED, DELACK, LISTEN, RTO_INIT, SYN_RCVD, SYN_SENT, TIME_WAIT, W32, Segment, \
    TcpConnection

_HDRS = struct.Struct("!BBHHHBBHIIHHIIBBHHH")  # IPv4 (no options) + TCP header before its options
_VNET = struct.Struct("<BBHHHHH")  # virtio_net_hdr_v1: flags, gso_type, hdr_len, gso_size, csum_start/offset
_VNET_CSUM = _VNET.pack(1, 0, 0, 0, 14 + 20, 16, 0)  # NEEDS_CSUM, no GSO
_IP_FIELDS = struct.Struct("!2xH8xII")  # total length, src, dst
_TCP_FIELDS = struct.Struct("!HHIIBBH")
_IP_TCP_FIELDS = struct.Struct("!2xH8xIIHHIIBBH")  # both, when the IP header is 20 bytes

PRUNE_AFTER_COOKIE = 8.0  # s: a pruned half-open lives 1 + 2 + 4 s (synack_retries)

STAT_NAMES = ("timer expirations", "segments retransmitted", "timer retransmit events", "timeout establish",
              "timeout persist", "timeout close-wait", "timeout close-wait w/data", "timeout fin-wait-1",
              "timeout fin-wait-2", "timeout last-ack", "timeout closing", "timer retransmit abort",
              "reset on close due to unread data", "out of buffers", "tail loss probes", "spurious retransmits undone")


@dataclass
class TcpConfig:
    """`tcp { ... }` / `set tcp`: VPP's defaults where they exist (times in seconds)."""

    cc_algo: str = "cubic"
    mtu: int = 9000
    tso: bool = True
    sack: bool = True
    timestamps: bool = True
    rx_fifo: int = 1 << 20
    syn_backlog: int = 1024  # half-open connections per listener before SYN cookies
    timewait_time: float = 10.0
    finwait2_time: float = 30.0
    lastack_time: float = 30.0
    keepalive: bool = False
    keep_idle: float = 7200.0
    keep_intvl: float = 75.0
    keep_cnt: int = 9
    challenge_acks_per_s: int = 1000  # RFC 5961 7: bound the ACKs an attacker can elicit


class TcpListener(TransportConnection):
    proto = TransportProto.TCP

    def __init__(self, session, ip: int, port: int) -> None:
        self.session = session
        self.lcl_ip, self.lcl_port = ip, port
        self.rmt_ip = self.rmt_port = 0
        self.state = LISTEN
        self.half_open = 0
        self.young = 0  # half-open connections whose SYN-ACK has not timed out yet
        self.cookie_at = -1e9  # when the backlog last overflowed (a SYN answered with a cookie)


class TcpMain(Transport):
    proto = TransportProto.TCP

    def __init__(self, vm) -> None:
        self.vm = vm
        self.cfg = TcpConfig()
        self.conns: list[TcpConnection | None] = []
        self._free: list[int] = []
        self.stats: Counter = Counter()
        self.ts_offset = random.getrandbits(32)
        self.ip_id = random.getrandbits(16)
        self.ack_pending: list[TcpConnection] = []
        self.delacks: deque[tuple[float, TcpConnection]] = deque()  # (deadline, connection), in order
        self.out_pending: dict[int, TcpConnection] = {}
        self._challenge = [0.0, 0]
        # reason -> error code of the node running now (show errors counts per node)
        self.node_errs: dict[str, int] = {}
        self.default_errs: dict[str, int] = {}
        self.sm = None
        self._out_index = -1  # tcp4-output's node index (emit stages straight to it)

    # ------------------------------------------------------------ enable / tables
    def enable(self) -> None:
        self.sm = self.vm.session
        self.default_errs = self.node_errs = self.vm.node("tcp4-output").err
        self.vm.node("ip4-receive").register_protocol(6, "tcp4-input")

    def disable(self) -> None:
        for c in list(self.conns):
            if c is not None:
                c.delete()
        self.vm.node("ip4-receive").proto_next.pop(6, None)

    def add(self, conn: TcpConnection) -> None:
        idx = self._free.pop() if self._free else len(self.conns)
        if idx == len(self.conns):
            self.conns.append(None)
        self.conns[idx] = conn
        conn.index = idx
        self.sm.add_conn(*conn.key, conn)

    def remove(self, conn: TcpConnection) -> None:
        if conn.index >= 0 and self.conns[conn.index] is conn:
            self.conns[conn.index] = None
            self._free.append(conn.index)
        conn.index = -1
        self.sm.del_conn(*conn.key, conn)
        self.half_open_done(conn)
        self.out_pending.pop(id(conn), None)

    def half_open_done(self, conn: TcpConnection) -> None:
        ls = conn.listener
        if ls is not None and "half-open" in conn.flags:
            if "young" in conn.flags:
                ls.conn.young -= 1
            conn.flags = conn.flags - {"half-open", "young"} or NO_FLAGS
            ls.conn.half_open -= 1

    def synack_retries(self, conn: TcpConnection) -> int:
        """SYN-ACK retransmissions a half-open connection gets before it is dropped: Linux's
        reqsk_timer_handler. While a listener's backlog is more than half full and most of it
        has already timed out once (a flood's, whose peers never answer), old ones get fewer,
        down to 2: gone 7 s after their SYN instead of 63. Linux stops pruning once the backlog
        is half empty, which after a flood leaves half of it for a minute; here pruning also
        goes on while the listener answered with a cookie in the last PRUNE_AFTER_COOKIE s,
        longer than a pruned half-open lives, so all of a flood's go. Marks `conn` not young."""
        n = conn.syn_retries
        if conn.listener is None or "half-open" not in conn.flags:
            return n
        ls = conn.listener.conn
        qlen = ls.half_open
        if 2 * qlen > max(8, self.cfg.syn_backlog) or self.vm.now() - ls.cookie_at < PRUNE_AFTER_COOKIE:
            young = 2 * ls.young
            while n > 2 and qlen >= young:
                n -= 1
                young *= 2
        if "young" in conn.flags:
            conn.flags = conn.flags - {"young"}
            ls.young -= 1
        return n

    def egress(self, rmt_ip: int, sw: int | None = None) -> tuple[int, int, int]:
        """(sw_if_index, ip4 MTU, TSO bytes or 0) toward rmt_ip (`sw` if the caller looked it up)."""
        e = egress(self.vm, rmt_ip, sw)
        return e.sw_if_index, e.mtu, e.tso

    # ------------------------------------------------------------ counters
    def count(self, err: E, n: int = 1) -> None:
        """Count `err` for the TCP node running now (or tcp4-output, outside any)."""
        self.vm.errors.mv[self.node_errs[err.reason]] += n

    def challenge_ok(self) -> bool:
        now = self.vm.now()
        c = self._challenge
        if now - c[0] >= 1.0:
            c[0], c[1] = now, 0
        c[1] += 1
        return c[1] <= self.cfg.challenge_acks_per_s

    # ------------------------------------------------------------ transport API (session layer)
    def listen(self, session, ip: int, port: int) -> TcpListener:
        return TcpListener(session, ip, port)

    def unlisten(self, ls: TcpListener) -> None:
        ls.state = CLOSED

    def connect(self, app, ip: int, port: int, opaque=None, opts: ConnOptions | None = None,
                lcl_ip: int = 0, lcl_port: int = 0) -> TcpConnection:
        sm = self.sm
        sw, src = sm.source_address(ip)
        src = lcl_ip or src  # a socket bound before connect (the shim's apps)
        lport = lcl_port or sm.alloc_port(self.proto, src, ip, port)
        if (self.proto, src, lport, ip, port) in sm.conns:
            raise SessionError("session already exists")
        c = TcpConnection(self, src, lport, ip, port)
        c.app, c.opaque = app, opaque
        if opts is not None:
            c.apply_options(opts)
        c.init_options(sw)
        if opts is not None and opts.maxseg:  # TCP_MAXSEG before connect: the MSS we announce and use
            c.mss_max = c.rcv_mss = max(64, min(c.mss_max, opts.maxseg))
        c.iss = isn_mod.isn(src, lport, ip, port)
        c.snd_una = c.snd_nxt = c.snd_max = c.iss
        c.state = SYN_SENT
        self.add(c)
        c.rtt_ts = self.vm.now()
        c.send_syn()
        c.set_timer("syn", RTO_INIT)
        return c

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
        """The app read: advertise the opened window if it grew enough (receiver SWS, RFC 9293)."""
        if not isinstance(conn, TcpConnection) or conn.state == CLOSED or conn.fin_rcvd:
            return
        s = conn.session
        if s is None:
            return
        adv = conn.rcv_las - conn.rcv_nxt
        avail = s.rx_fifo.free
        cap = 0xFFFF << conn.rcv_wscale  # the most the window field can say
        if avail > cap:
            avail = cap
        step = min(s.rx_fifo.nitems // 4, 1 << 16)
        # a window that grew by a step, or one that was below half a step and is opening: then
        # every read says so, as a lost update would leave the sender to its backed-off probes
        if avail - adv >= step or (adv < min(step, cap) // 2 and avail > adv) \
                or (adv < conn.rcv_mss <= avail):
            conn.program_ack()
            self.sm.queue.interrupt_pending = True

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

    def delay_ack(self, c: TcpConnection, now: float) -> None:
        """Owe `c` an ACK for DELACK: the app's reply (any segment we send) will likely carry it."""
        q = self.delacks
        q.append((now + DELACK, c))
        if len(q) == 1:
            self.vm.timers.add(now + DELACK, self._delack_expired)

    def _delack_expired(self) -> None:
        """The delayed ACKs due: sent, unless a segment acknowledged as much meanwhile. A
        connection whose app did not reply in time leaves pingpong mode (as Linux's)."""
        q = self.delacks
        now = self.vm.now()
        while q and q[0][0] <= now + 1e-4:
            _at, c = q.popleft()
            c.delack = False
            if c.state is not CLOSED and c.rcv_nxt != c.acked_nxt:
                c.pingpong = False
                c.send_ack()
        if q:
            self.vm.timers.add(q[0][0], self._delack_expired)

    def want_output(self, conn: TcpConnection) -> None:
        self.out_pending[id(conn)] = conn

    def flush(self) -> None:
        """End of a node's frame (or timer/app call): send data the ACKs allowed, then pure ACKs."""
        while self.out_pending:
            pend, self.out_pending = self.out_pending, {}
            for c in pend.values():
                if c.state != CLOSED:
                    c.output()
        if not self.ack_pending:
            return
        acks, self.ack_pending = self.ack_pending, []
        for c in acks:
            if c.pending_ack and c.state != CLOSED and (c.ack_force or c.rcv_nxt != c.acked_nxt):
                c.send_ack()
            c.pending_ack = c.ack_force = False

    # ------------------------------------------------------------ listeners: SYN handling
    def on_syn(self, ls_session, seg: Segment) -> None:
        ls = ls_session.conn
        if seg.flags & (RST | ACK) or not seg.flags & SYN:
            if seg.flags & ACK and not seg.flags & (RST | SYN):
                self.cookie_ack(ls_session, seg)
            elif not seg.flags & RST:
                self.emit_rst_for(seg)
            return
        self.count(E.SYNS_RCVD)
        if not self.vm.session.has_memory(ls_session.app):  # its fifos could not grow: as a full queue
            self.count(E.NO_FIFO_MEMORY)
            return
        try:
            o = seg.options()
        except ValueError:
            self.count(E.OPTIONS)
            return
        if ls.half_open >= self.cfg.syn_backlog:
            ls.cookie_at = self.vm.now()
            self.send_cookie(seg, o)
            return
        c = TcpConnection(self, seg.dst, seg.dport, seg.src, seg.sport)
        c.listener = ls_session
        c.init_options()
        c.irs = seg.seq
        c.rcv_nxt = seg.seq + 1
        c.iss = isn_mod.isn(c.lcl_ip, c.lcl_port, c.rmt_ip, c.rmt_port)
        c.snd_una = c.iss
        c.rcv_wscale = c.pick_wscale()
        c.negotiate(o)
        c.snd_wnd = seg.wnd  # unscaled in a SYN
        c.state = SYN_RCVD
        c._peer_syn = o
        c.flags = c.flags | {"half-open", "young"}
        ls.half_open += 1
        ls.young += 1
        self.add(c)
        c.send_synack(o)
        c.set_timer("syn", RTO_INIT)

    def send_cookie(self, seg: Segment, o: TcpOptions) -> None:
        """Backlog full: a SYN-ACK whose ISN is a cookie, no state kept (no options but MSS)."""
        mss = o.mss or 536
        iss = isn_mod.cookie(seg.dst, seg.dport, seg.src, seg.sport, seg.seq, mss)
        c = TcpConnection(self, seg.dst, seg.dport, seg.src, seg.sport)
        c.init_options()
        c.rcv_nxt = seg.seq + 1
        c.snd_nxt = iss
        c.rcv_wscale = 0
        opts = struct.pack("!BBH", 2, 4, min(c.rcv_mss, isn_mod.MSS_TABLE[-1]))
        self.emit(c, SYN | ACK, iss, opts, 0, 0, wnd=min(self.cfg.rx_fifo, 0xFFFF))
        self.count(E.COOKIE_SENT)

    def cookie_ack(self, ls_session, seg: Segment) -> None:
        mss = isn_mod.check_cookie(seg.dst, seg.dport, seg.src, seg.sport, (seg.seq - 1) & W32, seg.ack)
        if mss is None:
            self.emit_rst_for(seg)
            return
        if not self.vm.session.has_memory(ls_session.app):
            self.count(E.NO_FIFO_MEMORY)
            return
        c = TcpConnection(self, seg.dst, seg.dport, seg.src, seg.sport)
        c.listener = ls_session
        c.init_options()
        c.iss = (seg.ack - 1) & W32
        c.irs = (seg.seq - 1) & W32
        c.rcv_nxt = seg.seq
        c.rcv_las = c.rcv_nxt + min(self.cfg.rx_fifo, 0xFFFF)
        c.snd_una = c.iss
        c.snd_nxt = c.snd_max = c.iss + 1
        c.negotiate(TcpOptions(mss=mss))
        c.state = SYN_RCVD
        self.add(c)
        self.count(E.COOKIE_ACCEPTED)
        c.rcv_synchronized(seg)
        self.flush()

    # ------------------------------------------------------------ segment emission
    def emit(self, c: TcpConnection, flags: int, seq: int, opts: bytes, fifo_off: int, n: int,
             wnd: int | None = None, gso: int = 0) -> int:
        """Build one segment for connection `c` into a fresh buffer and hand it to tcp4-output.

        Scalar all the way (one buffer, no numpy): both headers in one pack_into, the IP
        checksum and the TCP pseudo-header sum from the addresses' sum, the buffer's metadata
        through the pool's memoryviews, and the buffer staged as an int."""
        vm = self.vm
        buf = vm.buffers
        b = buf.alloc1()
        if b < 0:
            self.stats["out of buffers"] += 1
            return 0
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
        if wnd is None:
            wnd = c._wnd_field()
        if flags & ACK:
            ack = c.rcv_nxt & W32
            c.acked_nxt = c.rcv_nxt
        else:
            ack = 0
        ip_id = self.ip_id = (self.ip_id + 1) & 0xFFFF
        tos, ttl = c.tos, c.ttl
        psum = c.psum  # the addresses + protocol, folded: with l4 at most 0x1fffe, one fold
        s = 0x8500 + tos + total + ip_id + (ttl << 8) + psum  # 0x4500 + 0x4000 (DF) + proto 6 in psum
        s = (s & 0xFFFF) + (s >> 16)
        s = (s & 0xFFFF) + (s >> 16)
        ps = psum + l4
        ps = (ps & 0xFFFF) + (ps >> 16)
        _HDRS.pack_into(mv, base, 0x45, tos, total, ip_id, 0x4000, ttl, 6, ~s & 0xFFFF, c.lcl_ip, c.rmt_ip,
                        c.lcl_port, c.rmt_port, seq & W32, ack, (thl // 4) << 4, flags, wnd, ps, 0)
        if opts:
            mv[base + 40:base + 20 + thl] = opts
        buf.mv_current_length[b] = total
        buf.mv_sw_rx[b] = c.sw_if_index if c.sw_if_index >= 0 else 0
        # partial checksum (virtio-net header): csum_start/offset count from the ethernet
        # header ip4-rewrite adds
        vo = b * VNET_HDR_LEN
        if gso and n > gso:
            _VNET.pack_into(buf.mv_vnet, vo, 1, 1, 14 + 20 + thl, gso, 14 + 20, 16, 0)  # GSO_TCPV4
            buf.mv_flags[b] = F_LOCALLY_ORIGINATED | F_OFFLOAD | F_GSO
        else:
            buf.mv_vnet[vo:vo + VNET_HDR_LEN] = _VNET_CSUM
            buf.mv_flags[b] = F_LOCALLY_ORIGINATED | F_OFFLOAD
        buf.mv_aux[b] = c.index + 1 if c.index >= 0 else 0
        st = c.stats
        st["out_segs"] += 1
        if n:
            st["out_dsegs"] += 1
            st["out_bytes"] += n
        out = self._out_index
        if out < 0:
            out = self._out_index = vm.node("tcp4-output").index
        vm.stage1(out, b)
        return n

    def emit_rst_for(self, seg: Segment) -> None:
        """RST for a segment that has no connection (RFC 9293 3.10.7.1)."""
        if seg.flags & RST:
            return
        c = TcpConnection(self, seg.dst, seg.dport, seg.src, seg.sport)
        sw, _mtu, _ = self.egress(seg.src)
        c.sw_if_index = sw
        if seg.flags & ACK:
            self.emit(c, RST, seg.ack, b"", 0, 0, wnd=0)
        else:
            c.rcv_nxt = (seg.seq + len(seg.data) + (1 if seg.flags & SYN else 0)
                         + (1 if seg.flags & 1 else 0)) & W32
            self.emit(c, RST | ACK, 0, b"", 0, 0, wnd=0)
        self.count(E.RST_SENT)

    # ------------------------------------------------------------ CLI helpers
    def active(self) -> list[TcpConnection]:
        return [c for c in self.conns if c is not None]

    def format_id(self, conn) -> str:
        from ...vnet.ip4.main import i2a

        return (f"[0:{conn.session.index if conn.session is not None else 0}][T] "
                f"{i2a(conn.lcl_ip)}:{conn.lcl_port}->{i2a(conn.rmt_ip)}:{conn.rmt_port}")

    def state_name(self, conn) -> str:
        return conn.state

    def format_details(self, conn, level: int) -> list[str]:
        from .format import details

        return details(self, conn, level)


def segment_from(buf, b: int) -> Segment:
    """Parse buffer b (current data at the IP header) into a Segment (per packet, after tcp4-input
    validated lengths and checksum)."""
    mv = buf.mv
    o = b * buf.stride + PRE_DATA + buf.mv_current_data[b]
    if mv[o] == 0x45:  # no IP options: both headers in one unpack
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
