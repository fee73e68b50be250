"""TcpHost: everything a TcpConnection needs besides the connection itself, without I/O.

A connection is sans-IO: segments and the time come in through its host, segments go out
through the host's emit(), its timers are data (deadlines) the host is told about. The host
keeps the connections (and the session layer's table of them), answers SYNs for listeners
(SYN cookies past the backlog), batches output and ACKs until the end of a frame, delays ACKs
and rate-limits challenge ACKs. What touches the world is left to a subclass: the engine's
TcpMain (packet buffers, the timer wheel, `show errors`, the FIB), or a test's wire between two
connections with a clock of its own.
"""

from __future__ import annotations

import random
import struct
from collections import Counter, deque
from dataclasses import dataclass

from ...wire.tcp import ACK, RST, SYN, TcpOptions
from ..pool import Pool
from ..session import NO_FLAGS
from ..transport import TransportConnection, TransportProto
from . import isn as isn_mod
from .connection import CLOSED, LISTEN, RTO_INIT, SYN_RCVD, SYN_SENT, W32, Segment, TcpConnection
from .errors import TcpError as E

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
    delack: float = 0.04  # Linux's TCP_DELACK_MIN: how long an interactive connection's ACK waits


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


class TcpHost:
    """The sans-IO half of the TCP transport (see the module's docstring). A subclass provides
    now(), timer(), cancel(), emit(), egress(), count() and `sm`, the session layer."""

    sm = None

    def __init__(self, cfg: TcpConfig | None = None) -> None:
        self.cfg = cfg or TcpConfig()
        self.conns = Pool()  # of TcpConnection
        self.stats: Counter = Counter()
        self.ts_offset = random.getrandbits(32)
        self.ack_pending: list[TcpConnection] = []
        self.delacks: deque[tuple[float, TcpConnection]] = deque()  # (deadline, connection), in order
        self.out_pending: dict[int, TcpConnection] = {}
        self._challenge = [0.0, 0]

    # ------------------------------------------------------------ what a subclass provides
    def now(self) -> float:
        raise NotImplementedError

    def timer(self, at: float, fn):
        """Call fn() at `at`; returns a handle for cancel()."""
        raise NotImplementedError

    def cancel(self, handle) -> None:
        raise NotImplementedError

    def emit(self, c: TcpConnection, flags: int, seq: int, ack: int, wnd: int, opts: bytes, fifo_off: int,
             n: int, gso: int = 0) -> int:
        """Send one segment of connection c (its addresses, TTL, TOS): these header fields (seq
        and ack wrapped to 32 bits), then n bytes of its tx fifo from fifo_off (TSO segments of
        gso bytes if gso). Returns the payload bytes sent, -1 if nothing could be."""
        raise NotImplementedError

    def egress(self, rmt_ip: int, sw: int | None = None) -> tuple[int, int, int]:
        """(interface, IP MTU, TSO bytes or 0) toward rmt_ip (`sw`: the interface is known)."""
        raise NotImplementedError

    def count(self, err: E, n: int = 1) -> None:
        raise NotImplementedError

    # ------------------------------------------------------------ connections
    def add(self, conn: TcpConnection) -> None:
        conn.index = self.conns.put(conn)
        self.sm.add_conn(*conn.key, conn)

    def remove(self, conn: TcpConnection) -> None:
        self.conns.release(conn.index, conn)
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
        if 2 * qlen > max(8, self.cfg.syn_backlog) or self.now() - ls.cookie_at < PRUNE_AFTER_COOKIE:
            young = 2 * ls.young
            while n > 2 and qlen >= young:
                n -= 1
                young *= 2
        if "young" in conn.flags:
            conn.flags = conn.flags - {"young"}
            ls.young -= 1
        return n

    def wake(self, c: TcpConnection, at: float | None) -> None:
        """Timers as data: c wants on_timer() at `at` (its earliest deadline), or no more."""
        if c.timer_handle is not None:
            self.cancel(c.timer_handle)
            c.timer_handle = None
        if at is not None:
            c.timer_handle = self.timer(at, c.on_timer)

    def open(self, app, src: int, lport: int, ip: int, port: int, sw: int, opaque=None, opts=None) -> TcpConnection:
        """Active open from src:lport (a SYN now); the app's on_connected tells how it went."""
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
        c.rtt_ts = self.now()
        c.send_syn()
        c.set_timer("syn", RTO_INIT)
        return c

    def challenge_ok(self) -> bool:
        now = self.now()
        c = self._challenge
        if now - c[0] >= 1.0:
            c[0], c[1] = now, 0
        c[1] += 1
        return c[1] <= self.cfg.challenge_acks_per_s

    def delay_ack(self, c: TcpConnection, now: float) -> None:
        """Owe `c` an ACK for cfg.delack: the app's reply (any segment we send) will likely carry it."""
        q = self.delacks
        q.append((now + self.cfg.delack, c))
        if len(q) == 1:
            self.timer(now + self.cfg.delack, self._delack_expired)

    def _delack_expired(self) -> None:
        """The delayed ACKs due: sent, unless a segment acknowledged as much meanwhile. A
        connection whose app did not reply in time leaves pingpong mode (as Linux's)."""
        q = self.delacks
        now = self.now()
        while q and q[0][0] <= now + 1e-4:
            _at, c = q.popleft()
            c.delack = False
            if c.state is not CLOSED and c.rcv_nxt != c.acked_nxt:
                c.pingpong = False
                c.send_ack()
        if q:
            self.timer(q[0][0], self._delack_expired)

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
        if not self.sm.has_memory(ls_session.app):  # its fifos could not grow: as a full queue
            self.count(E.NO_FIFO_MEMORY)
            return
        try:
            o = seg.options()
        except ValueError:
            self.count(E.OPTIONS)
            return
        if ls.half_open >= self.cfg.syn_backlog:
            ls.cookie_at = self.now()
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
        c.send(SYN | ACK, iss, opts, 0, 0, wnd=min(self.cfg.rx_fifo, 0xFFFF))
        self.count(E.COOKIE_SENT)

    def cookie_ack(self, ls_session, seg: Segment) -> None:
        mss = isn_mod.check_cookie(seg.dst, seg.dport, seg.src, seg.sport, (seg.seq - 1) & W32, seg.ack)
        if mss is None:
            self.emit_rst_for(seg)
            return
        if not self.sm.has_memory(ls_session.app):
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

    def emit_rst_for(self, seg: Segment) -> None:
        """RST for a segment that has no connection (RFC 9293 3.10.7.1)."""
        if seg.flags & RST:
            return
        c = TcpConnection(self, seg.dst, seg.dport, seg.src, seg.sport)
        sw, _mtu, _ = self.egress(seg.src)
        c.sw_if_index = sw
        if seg.flags & ACK:
            c.send(RST, seg.ack, b"", 0, 0, wnd=0)
        else:
            c.rcv_nxt = (seg.seq + len(seg.data) + (1 if seg.flags & SYN else 0)
                         + (1 if seg.flags & 1 else 0)) & W32
            c.send(RST | ACK, 0, b"", 0, 0, wnd=0)
        self.count(E.RST_SENT)
