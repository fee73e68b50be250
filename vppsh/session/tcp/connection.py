"""One TCP connection (RFC 9293): the state machine, per segment, as the RFC's event processing.

Per-connection work is inherently sequential, so it is plain Python; everything per packet that
is not (parsing, checksums, lookup) was done for the whole frame by tcp4-input. Sequence numbers
are kept *unwrapped* (Python ints that only grow, starting at the wire ISN), so no comparison
anywhere needs modular arithmetic; they wrap only when written to the wire.
"""

from __future__ import annotations

import struct
from enum import IntEnum

from ...wire.tcp import ACK, FIN, PSH, RST, SYN, TcpOptions, build_options, parse_options
from ..session import NO_FLAGS
from ..transport import TransportConnection, TransportProto, is_ip6
from . import cc as cc_mod
from .errors import TcpError as E
from .sack import Scoreboard, rx_sack_blocks



class TcpState(IntEnum):
    """RFC 9293's states, named as VPP prints them, numbered as Linux's (tcp_states.h: what
    TCP_INFO reports, so the shim passes them on as they are)."""

    ESTABLISHED = 1
    SYN_SENT = 2
    SYN_RCVD = 3
    FIN_WAIT_1 = 4
    FIN_WAIT_2 = 5
    TIME_WAIT = 6
    CLOSED = 7
    CLOSE_WAIT = 8
    LAST_ACK = 9
    LISTEN = 10
    CLOSING = 11

    def __str__(self) -> str:
        return self.name

    def __format__(self, spec: str) -> str:
        return format(self.name, spec)


CLOSED, LISTEN, SYN_SENT, SYN_RCVD, ESTABLISHED, CLOSE_WAIT, FIN_WAIT_1, LAST_ACK, CLOSING, FIN_WAIT_2, \
    TIME_WAIT = (TcpState.CLOSED, TcpState.LISTEN, TcpState.SYN_SENT, TcpState.SYN_RCVD, TcpState.ESTABLISHED,
                 TcpState.CLOSE_WAIT, TcpState.FIN_WAIT_1, TcpState.LAST_ACK, TcpState.CLOSING,
                 TcpState.FIN_WAIT_2, TcpState.TIME_WAIT)
SYNCHRONIZED = frozenset((ESTABLISHED, CLOSE_WAIT, FIN_WAIT_1, LAST_ACK, CLOSING, FIN_WAIT_2, TIME_WAIT))
CAN_SEND = frozenset((ESTABLISHED, CLOSE_WAIT))
_OUTPUT_STATES = frozenset((ESTABLISHED, CLOSE_WAIT, FIN_WAIT_1, CLOSING, LAST_ACK))  # output() sends

RTO_INIT, RTO_MIN, RTO_MAX = 1.0, 0.2, 60.0
QUICKACKS = 16  # ACKs sent at once after a sign of loss (Linux's TCP_MAX_QUICKACKS)
MAX_RXT = 15  # data retransmissions before giving up (~ RFC 1122's R2 >= 100 s with backoff)
MAX_SYN_RXT = 5
DUPTHRESH = 3
MAX_REORDERING = 64
W32 = 0xFFFFFFFF
INF = float("inf")
# MSS, window scale, SACK permitted, timestamps and a NOP: build_options' bytes for a full SYN
_SYN_OPTS = struct.Struct("!BBHBBBBBBBIIB")
_TS_OPT = struct.Struct("!BBBBII")  # NOP, NOP, timestamps: the options of most segments
_II = struct.Struct("!II")
_LINUX_SYN = struct.Struct("!2xH4xII3xB")  # mss, tsval, tsecr, wscale
_OWN_SYN = struct.Struct("!2xH2xB4xIIx")  # mss, wscale, tsval, tsecr


def unwrap(wire: int, ref: int) -> int:
    """The unwrapped value nearest `ref` whose low 32 bits are `wire`."""
    return ref + ((wire - ref + 0x80000000) & W32) - 0x80000000


class Segment:
    """An incoming segment, fields as on the wire (seq/ack still 32-bit)."""

    __slots__ = ("seq", "ack", "flags", "wnd", "opts", "data", "sport", "dport", "src", "dst")

    def __init__(self, src, dst, sport, dport, seq, ack, flags, wnd, opts, data) -> None:
        self.src, self.dst, self.sport, self.dport = src, dst, sport, dport
        self.seq, self.ack, self.flags, self.wnd = seq, ack, flags, wnd
        self.opts = opts  # raw option bytes
        self.data = data  # memoryview of the payload

    def options(self) -> TcpOptions:
        o = self.opts
        # the two SYN layouts seen nearly always, without parse_options' loop: Linux's (MSS,
        # SACK permitted, timestamps, NOP, window scale) and build_options' (vppsh's own SYNs)
        if len(o) == 20 and o[0] == 2 and o[1] == 4:
            if o[4:8] == b"\x04\x02\x08\x0a" and o[16:19] == b"\x01\x03\x03":
                mss, tsval, tsecr, ws = _LINUX_SYN.unpack(o)
                return TcpOptions(mss=mss, wscale=ws, sack_permitted=True, timestamp=(tsval, tsecr))
            if o[4:6] == b"\x03\x03" and o[7:11] == b"\x04\x02\x08\x0a" and o[19] == 1:
                mss, ws, tsval, tsecr = _OWN_SYN.unpack(o)
                return TcpOptions(mss=mss, wscale=ws, sack_permitted=True, timestamp=(tsval, tsecr))
        return parse_options(o)


class TcpConnection(TransportConnection):
    proto = TransportProto.TCP
    syn_retries = MAX_SYN_RXT  # SYN (or SYN-ACK) retransmissions before giving up (TCP_SYNCNT)

    # Defaults every connection starts with, as class attributes: a connection only stores what
    # differs, so creating one (thousands per second with short connections) stays cheap.
    index = -1
    state = CLOSED
    session = None
    abort_reason: str | None = None  # why abort() gave up ("timed out"), for the app
    soft_error: str | None = None  # the last soft ICMP error: why, if it then times out (Linux's sk_err_soft)
    app = None  # the app of an active open, until the session exists
    opaque = None
    listener = None  # passive open: the listener session
    flags = NO_FLAGS  # "orphan", "half-open", "young" (a set of its own once one is added)
    sw_if_index = -1
    # send side
    iss = 0
    snd_una = snd_nxt = snd_max = 0
    snd_wnd = 0
    max_snd_wnd = 0
    snd_wl1 = snd_wl2 = 0
    snd_wscale = 0
    snd_mss = 536
    mss_max = 1460  # what the egress MTU allows us to send per segment
    tso_max = 0  # bytes per TSO super-segment, 0 = no TSO
    fin_pending = False  # app closed: FIN once the tx fifo drains
    fin_sent = False
    high_rxt = 0
    # receive side
    irs = 0
    rcv_nxt = 0
    rcv_las = 0  # right edge of the window we advertised
    rcv_wscale = 0
    rcv_mss = 536
    fin_rcvd = False
    fin_seq: int | None = None  # an out-of-order FIN, waiting for the data before it
    # options
    ts_ok = False
    tsval_recent = 0
    tsval_recent_age = 0.0
    sack_ok = False
    # RTT / RTO (RFC 6298)
    srtt = 0.0
    rttvar = 0.0
    rto = RTO_INIT
    rto_boff = 0
    persist_boff = 0
    tlp_sent = False
    rtt_ts = 0.0  # Karn sampling without timestamps
    rtt_seq = 0
    # congestion
    cc = None
    recovery = False
    recover = 0
    reordering = DUPTHRESH  # segments of reordering tolerated before declaring loss
    una_rxt_at = 0.0  # when the segment at snd_una was last retransmitted
    rxt_tsval = 0  # tsval of the first retransmission of a recovery episode (Eifel)
    dupacks = 0
    prev_cwnd = prev_ssthresh = 0
    # app options (the shim sets them)
    nodelay = False
    minttl = 0  # IP_MINTTL: segments arriving with a lower TTL are dropped
    ttl = 64
    tos = 0
    keep_probes = 0
    last_rx = 0.0
    wake_at = float("inf")  # when the host calls on_timer(): the earliest deadline it was told of
    timer_handle = None  # the host's, for that call
    pending_ack = False
    ack_force = False
    acked_nxt = 0  # rcv_nxt as of the last segment we sent with ACK
    ack_now = False
    # delayed ACK (RFC 1122 4.2.3.2), as Linux's pingpong mode: once the app has answered data
    # within cfg.delack, the ACK for new data waits (at most that) to ride on the app's reply
    pingpong = False
    delack = False  # on TcpMain.delacks
    last_data_rx = 0.0
    quick = 0  # ACKs still to send at once: the peer is recovering from a loss and needs them

    def __init__(self, tm, lcl_ip: int, lcl_port: int, rmt_ip: int, rmt_port: int) -> None:
        self.tm = tm
        self.lcl_ip, self.lcl_port, self.rmt_ip, self.rmt_port = lcl_ip, lcl_port, rmt_ip, rmt_port
        self.ip6 = is_ip6(rmt_ip)
        # the pseudo-header's addresses + protocol, folded to 16 bits (emit's checksums)
        ps = 6
        for a in (lcl_ip, rmt_ip):
            while a:
                ps += a & 0xFFFF
                a >>= 16
        while ps >> 16:
            ps = (ps & 0xFFFF) + (ps >> 16)
        self.psum = ps
        cfg = tm.cfg
        self.cc_algo = cfg.cc_algo
        self.keepalive = cfg.keepalive
        self.keep_idle, self.keep_intvl, self.keep_cnt = cfg.keep_idle, cfg.keep_intvl, cfg.keep_cnt
        # timers: name -> deadline (engine seconds); one heap entry armed for the earliest
        self.deadlines: dict[str, float] = {}
        self.created = tm.now()
        self.stats = dict(in_segs=0, in_dsegs=0, in_bytes=0, in_dupacks=0, out_segs=0, out_dsegs=0,
                          out_bytes=0, out_dupacks=0, fr=0, tr=0, rxt_segs=0, rxt_bytes=0)

    @property
    def sb(self) -> Scoreboard:
        """The SACK scoreboard, made on first use (most short connections never need one)."""
        sb = self.__dict__.get("_sb")
        if sb is None:
            sb = self._sb = Scoreboard()
        return sb

    # ------------------------------------------------------------------ helpers
    @property
    def key(self) -> tuple:
        return (TransportProto.TCP, self.lcl_ip, self.lcl_port, self.rmt_ip, self.rmt_port)

    def now_ms(self, now: float | None = None) -> int:
        """Our timestamp clock (ms, offset per engine), at `now` (engine seconds) or the present."""
        return (int((self.tm.now() if now is None else now) * 1000) + self.tm.ts_offset) & W32

    def flight(self) -> int:
        return self.snd_nxt - self.snd_una

    def rcv_wnd_avail(self) -> int:
        """Room to offer the peer: the rx fifo's, or, before the session exists (a SYN-ACK, a
        SYN), the size the app's fifo will have: a larger window could not be taken back."""
        s = self.session
        if s is not None and s.rx_fifo is not None:
            return s.rx_fifo.free
        app = self.listener.app if self.listener is not None else self.app
        return app.rx_fifo_size if app is not None else self.tm.cfg.rx_fifo

    def _pipe(self) -> int:
        if self.sack_ok and self.recovery:
            return self.sb.pipe(self.snd_una, self.snd_nxt, self.high_rxt, self.snd_mss, self.reordering)
        return max(0, self.flight() - self.dupacks * self.snd_mss) if self.recovery else self.flight()

    # ------------------------------------------------------------------ timers
    def set_timer(self, name: str, delay: float) -> None:
        at = self.tm.now() + delay
        self.deadlines[name] = at
        if at < self.wake_at:
            self.wake_at = at
            self.tm.wake(self, at)

    def stop_timer(self, name: str) -> None:
        d = self.deadlines
        if name in d:
            del d[name]
            if not d and self.wake_at != INF:  # nothing left: no wake-up for nothing
                self.wake_at = INF
                self.tm.wake(self, None)

    def on_timer(self) -> None:
        """The host's call at wake_at: run the timers due, then ask for the next."""
        self.wake_at = INF
        self.timer_handle = None
        if self.state == CLOSED:
            return
        now = self.tm.now()
        due = [n for n, t in self.deadlines.items() if t <= now + 1e-4]
        for n in due:
            self.deadlines.pop(n, None)
        if len(due) > 1 and "tlp" in due:  # the probe first: it re-arms the RTO (RFC 8985 7.3)
            due.remove("tlp")
            due.insert(0, "tlp")
        for n in due:
            if self.state == CLOSED:
                return
            if n in self.deadlines:  # re-armed by an earlier handler of this round
                continue
            self.tm.stats["timer expirations"] += 1
            getattr(self, "_timeout_" + n)()
        if self.deadlines and self.state != CLOSED:
            at = min(self.deadlines.values())
            if at < self.wake_at:
                self.wake_at = at
                self.tm.wake(self, at)
        self.tm.flush()

    def timer_names(self) -> list[str]:
        names = {"rxt": "RETRANSMIT", "persist": "PERSIST", "waitclose": "WAIT CLOSE",
                 "syn": "RETRANSMIT SYN", "keep": "KEEP", "tlp": "TLP"}
        return [names[n] for n in self.deadlines]

    # ------------------------------------------------------------------ open
    def init_options(self, sw: int | None = None) -> None:
        """Per-path sizes: our MSS from the egress MTU, TSO when the device takes GSO frames."""
        tm = self.tm
        sw, mtu, tso_max = tm.egress(self.rmt_ip, sw)
        self.sw_if_index = sw
        self.mss_max = min(mtu, tm.cfg.mtu) - (60 if self.ip6 else 40)
        self.tso_max = tso_max if tm.cfg.tso else 0
        self.rcv_mss = self.mss_max

    def negotiate(self, o: TcpOptions) -> None:
        """Apply the peer's SYN options (RFC 7323 §2.2: scaling only if both sides sent it)."""
        peer_mss = o.mss if o.mss else 536
        if o.wscale is not None:
            self.snd_wscale = min(o.wscale, 14)
        else:
            self.snd_wscale = self.rcv_wscale = 0
        self.ts_ok = o.timestamp is not None and self.tm.cfg.timestamps
        if self.ts_ok:
            self.tsval_recent = o.timestamp[0]
            self.tsval_recent_age = self.tm.now()
        self.sack_ok = o.sack_permitted and self.tm.cfg.sack
        self.snd_mss = max(64, min(peer_mss, self.mss_max) - (12 if self.ts_ok else 0))
        self.cc = cc_mod.make(self.cc_algo, self.snd_mss, self.tm.now())

    def pick_wscale(self) -> int:
        s = self.session
        if s is not None:
            size = s.rx_fifo.nitems
        elif self.listener is not None:  # a passive open: the fifo the accepted session will get
            size = self.listener.app.rx_fifo_size
        else:
            size = self.app.rx_fifo_size if self.app is not None else self.tm.cfg.rx_fifo
        return min(max(size.bit_length() - 16, 0), 14)  # the least ws with size >> ws <= 0xFFFF

    def syn_options(self, synack: bool, peer: TcpOptions | None = None) -> bytes:
        cfg = self.tm.cfg
        ws = self.rcv_wscale if not synack or (peer and peer.wscale is not None) else None
        sack = cfg.sack and (not synack or bool(peer and peer.sack_permitted))
        ts = None
        if cfg.timestamps and (not synack or (peer and peer.timestamp)):
            ts = (self.now_ms(), peer.timestamp[0] if synack and peer and peer.timestamp else 0)
        if ws is not None and sack and ts is not None:  # the usual SYN: all four, one pack
            return _SYN_OPTS.pack(2, 4, self.rcv_mss, 3, 3, ws, 4, 2, 8, 10, ts[0], ts[1], 1)
        return build_options(self.rcv_mss, ws, sack, ts)

    # ------------------------------------------------------------------ sending
    def _ack_options(self) -> bytes:
        out = b""
        if self.ts_ok:
            out = _TS_OPT.pack(1, 1, 8, 10, self.now_ms(), self.tsval_recent)
        if self.sack_ok and self.session is not None:
            f = self.session.rx_fifo
            if f is not None and f.ooo:  # out-of-order data held (its ranges are never empty)
                blocks = rx_sack_blocks(self.rcv_nxt, f.ooo_segments(), f.newest_ooo, 3 if self.ts_ok else 4)
                if blocks:
                    out += b"\x01\x01" + bytes((5, 2 + 8 * len(blocks))) + b"".join(
                        struct.pack("!II", a & W32, b & W32) for a, b in blocks)
        return out

    def _wnd_field(self) -> int:
        """The window to advertise, scaled; never moves the right edge left (RFC 9293 3.8.6)."""
        avail = self.rcv_wnd_avail()
        nxt, las, ws = self.rcv_nxt, self.rcv_las, self.rcv_wscale
        edge = (las if las > nxt + avail else nxt + avail) if avail else las
        w = (edge - nxt) >> ws
        if nxt + (w << ws) < las:
            # rounded down past the edge we advertised (a nearly shut window): round up, as
            # Linux's tcp_select_window. A shrunk edge has the peer's data and its ACKs (whose
            # seq is its snd_nxt) fall outside the window: both sides stalled, full and deaf.
            w += 1
        if w > 0xFFFF:
            w = 0xFFFF
        elif w < 0:
            w = 0
        self.rcv_las = nxt + (w << ws)
        return w

    def send(self, flags: int, seq: int, opts: bytes, fifo_off: int, n: int, wnd: int | None = None,
             gso: int = 0) -> int:
        """One segment out through the host; its ACK and window fields are ours to fill.
        Returns the payload bytes sent."""
        if wnd is None:
            wnd = self._wnd_field()
        ack = self.rcv_nxt & W32 if flags & ACK else 0
        sent = self.tm.emit(self, flags, seq & W32, ack, wnd, opts, fifo_off, n, gso)
        if sent < 0:
            return 0
        if flags & ACK:
            self.acked_nxt = self.rcv_nxt
        st = self.stats
        st["out_segs"] += 1
        if sent:
            st["out_dsegs"] += 1
            st["out_bytes"] += sent
        return sent

    def acceptable_seq(self) -> int:
        """SEG.SEQ for a segment without data (an ACK, a RST): the highest we sent, within the
        peer's window (Linux's tcp_acceptable_seq). Not snd_nxt: after a timeout snd_nxt goes
        back to resend, and a seq below what the peer already received would make it drop the
        segment unread (RFC 9293 3.10.7.4), ACK field and all; two such peers, both resending,
        then never hear each other's ACKs."""
        edge = self.snd_una + self.snd_wnd
        return self.snd_max if self.snd_max <= edge else max(self.snd_nxt, edge)

    def send_ack(self) -> None:
        self.pending_ack = self.ack_force = False
        self.send(ACK, self.acceptable_seq(), self._ack_options(), 0, 0)

    def program_ack(self, force: bool = True) -> None:
        """ACK at the end of this frame. Unforced (new data, a FIN) it is skipped if a segment we
        send meanwhile (the app's reply, our FIN) acknowledges as much; dupacks and window
        updates are forced."""
        self.ack_force |= force
        if not self.pending_ack:
            self.pending_ack = True
            self.tm.ack_pending.append(self)

    def send_syn(self) -> None:
        self.rcv_wscale = self.pick_wscale()
        self.send(SYN, self.iss, self.syn_options(False), 0, 0, wnd=min(self.rcv_wnd_avail(), 0xFFFF))
        self.snd_nxt = self.snd_max = self.iss + 1

    def send_synack(self, peer: TcpOptions | None) -> None:
        self.send(SYN | ACK, self.iss, self.syn_options(True, peer), 0, 0,
                     wnd=min(self.rcv_wnd_avail(), 0xFFFF))
        self.snd_nxt = self.snd_max = self.iss + 1
        self.rcv_las = self.rcv_nxt + min(self.rcv_wnd_avail(), 0xFFFF)

    def send_rst(self) -> None:
        self.send(RST | ACK, self.acceptable_seq(), b"", 0, 0, wnd=0)
        self.tm.count(E.RST_SENT)

    def _send_data(self, seq: int, n: int, fin: bool = False) -> int:
        """Send tx fifo bytes [seq, seq + n) (one segment, or one TSO super-segment)."""
        flags = ACK | (PSH if n else 0) | (FIN if fin else 0)
        off = seq - self.snd_una
        sent = self.send(flags, seq, self._ack_options(), off, n,
                            gso=self.snd_mss if n > self.snd_mss else 0)
        self.pending_ack = self.ack_force = False
        if n and not self.pingpong and self.last_data_rx and self.tm.now() - self.last_data_rx < self.tm.cfg.delack:
            self.pingpong = True  # the app answers what it receives: delay ACKs for its replies
        if self.rtt_ts == 0.0 and not self.ts_ok and seq >= self.snd_max:
            self.rtt_ts, self.rtt_seq = self.tm.now(), seq + n
        return sent

    def output(self) -> None:
        """Send what the windows allow: retransmissions first in recovery, then new data, then FIN."""
        if self.state not in _OUTPUT_STATES:
            return
        s = self.session
        if s is None:
            return
        fifo = s.tx_fifo
        if self.snd_una + (fifo.tail - fifo.head) <= self.snd_nxt and not self.recovery \
                and (self.fin_sent or not self.fin_pending):
            # nothing to send (an ACK's usual want_output): only the timers' upkeep below
            if self.snd_max > self.snd_una:
                if "rxt" not in self.deadlines:
                    self.set_timer("rxt", self.rto)
                self.stop_timer("persist")
            return
        mss = self.snd_mss
        cwnd = self.cc.cwnd
        wnd_edge = self.snd_una + self.snd_wnd
        sent_any = False
        if self.recovery:
            sent_any = self._recovery_output(cwnd)
        data_end = self.snd_una + (fifo.tail - fifo.head)  # seq after the last byte the app gave us
        seg_max = self.tso_max or mss
        cwnd_edge = self.snd_una + cwnd
        if cwnd_edge < wnd_edge:
            wnd_edge = cwnd_edge
        while data_end > self.snd_nxt:
            nxt = self.snd_nxt
            unsent = data_end - nxt
            room = wnd_edge - nxt
            if self.recovery:
                room = min(room, cwnd - self._pipe())
            n = unsent if unsent < room else room
            if n > seg_max:
                n = seg_max
            if n <= 0:
                break
            if n < mss and nxt > self.snd_una:
                if n < unsent:  # sender SWS avoidance: wait for a full segment
                    break
                if not self.nodelay and not self.fin_pending:
                    break  # Nagle (RFC 896): one small segment in flight at a time
            if n > mss and self.tso_max:
                n -= n % mss if n < unsent else 0  # whole segments, unless it is the tail
            fin = self.fin_pending and not self.fin_sent and self.snd_nxt + n == data_end
            sent = self._send_data(self.snd_nxt, n, fin)
            if sent < n:  # out of buffers (or a shorter buffer): send the rest later
                fin = False
                if not sent:
                    break
                n = sent
            self.snd_nxt += n
            if fin:
                self._fin_sent()
            if self.snd_nxt > self.snd_max:
                self.snd_max = self.snd_nxt
            sent_any = True
        if self.fin_pending and not self.fin_sent and self.snd_nxt == data_end:
            self.send(FIN | ACK, self.snd_nxt, self._ack_options(), 0, 0)
            self._fin_sent()
            sent_any = True
        d = self.deadlines
        if self.snd_max > self.snd_una:
            if "rxt" not in d:
                self.set_timer("rxt", self.rto)
            if sent_any and "tlp" not in d:
                self._arm_tlp()
            self.stop_timer("persist")
        elif data_end > self.snd_nxt and self.snd_wnd == 0 and "persist" not in d:
            self.set_timer("persist", max(self.rto, RTO_MIN))
        if sent_any:
            self.pending_ack = self.ack_force = False

    def _fin_sent(self) -> None:
        self.fin_sent = True
        self.snd_nxt += 1
        if self.snd_nxt > self.snd_max:
            self.snd_max = self.snd_nxt
        if self.state == ESTABLISHED:
            self.state = FIN_WAIT_1
        elif self.state == CLOSE_WAIT:
            self.state = LAST_ACK
            self.set_timer("waitclose", self.tm.cfg.lastack_time)

    def _recovery_output(self, cwnd: int) -> bool:
        mss = self.snd_mss
        sent = False
        for _ in range(64):
            if self._pipe() + mss > cwnd and sent:
                break
            seg = None
            if self.sack_ok:
                seg = self.sb.next_seg(self.snd_una, self.snd_nxt, self.high_rxt, mss, self.reordering)
                if seg is None:  # in recovery a hole below SACKed data is presumed lost (RACK-like)
                    seg = next(((max(a, self.high_rxt), min(b, max(a, self.high_rxt) + mss))
                                for a, b in self.sb.holes(self.snd_una, self.snd_nxt)
                                if max(a, self.high_rxt) < b), None)
            if seg is None:
                break
            self._retransmit(seg[0], seg[1] - seg[0])
            self.high_rxt = seg[1]
            sent = True
        return sent

    def _send_one_new(self) -> bool:
        """One segment of new data if the peer's window has room, whatever cwnd says."""
        s = self.session
        if s is None or self.state not in (ESTABLISHED, CLOSE_WAIT):
            return False
        n = min(self.snd_una + s.tx_fifo.size - self.snd_nxt, self.snd_mss,
                self.snd_una + self.snd_wnd - self.snd_nxt)
        if n <= 0:
            return False
        self._send_data(self.snd_nxt, n)
        self.snd_nxt += n
        self.snd_max = max(self.snd_max, self.snd_nxt)
        return True

    def _arm_tlp(self) -> None:
        """Tail loss probe (RFC 8985 7): if nothing is heard for ~2 RTTs, send one segment so the
        loss shows up in SACKs and fast recovery repairs it instead of a 200 ms+ RTO."""
        if self.srtt and not self.recovery and not self.tlp_sent and self.snd_max > self.snd_una:
            pto = max(2 * self.srtt, 0.01)
            s = self.session
            if self.snd_max - self.snd_una <= self.snd_mss + 1 and s is not None \
                    and self.snd_una + s.tx_fifo.size <= self.snd_max:
                pto += 0.2  # a lone tail segment: the peer may be delaying its ACK (RFC 8985 7.2)
            self.set_timer("tlp", min(pto, self.rto))

    def _timeout_tlp(self) -> None:
        if self.snd_una >= self.snd_max or self.state not in SYNCHRONIZED:
            return
        if self.recovery:  # RACK's reorder timer: a lost retransmission with no ACKs to tell us
            self._lost_retransmit()
            self.output()
            return
        if self.tlp_sent:
            return
        self.tlp_sent = True
        self.tm.stats["tail loss probes"] += 1
        if not self._send_one_new():
            end = self.snd_max - (1 if self.fin_sent else 0)
            self._retransmit(max(self.snd_una, end - self.snd_mss), self.snd_mss)
        if self.snd_max > self.snd_una:  # RFC 8985 7.3: after the probe the RTO is re-armed
            self.set_timer("rxt", self.rto)

    def _retransmit(self, seq: int, n: int) -> None:
        fifo_data = self.session.tx_fifo.size if self.session else 0
        n = max(0, min(n, self.snd_una + fifo_data - seq, self.snd_mss))
        fin = self.fin_sent and seq + n == self.snd_max - 1
        if n == 0 and not fin:
            return
        self._send_data(seq, n, fin)
        if seq == self.snd_una:
            self.una_rxt_at = self.tm.now()
            if self.recovery and self.srtt:
                self.set_timer("tlp", max(1.5 * self.srtt, 0.006))
        self.stats["rxt_segs"] += 1
        self.stats["rxt_bytes"] += n
        self.tm.stats["segments retransmitted"] += 1
        self.rtt_ts = 0.0  # Karn: no sample from a retransmitted range

    # ------------------------------------------------------------------ timeouts
    def _timeout_rxt(self) -> None:
        if self.snd_una >= self.snd_max:
            return
        self.tm.stats["timer retransmit events"] += 1
        if self.rto_boff >= MAX_RXT:
            self.tm.stats["timer retransmit abort"] += 1
            self.abort("timed out")
            return
        if self.rto_boff == 0:
            self.cc.on_rto(self.flight(), self.tm.now())
            self.prev_cwnd = self.cc.cwnd
        else:
            self.cc.cwnd = self.snd_mss
        self.rto_boff += 1
        self.rto = min(self.rto * 2, RTO_MAX)
        self.recovery = False
        self.dupacks = 0
        self.sb.reset()
        self.stats["tr"] += 1
        # go back N: resend from snd_una as the window reopens
        self.snd_nxt = self.snd_una
        self.high_rxt = self.snd_una
        if self.fin_sent:
            self.fin_sent = False
            self.snd_nxt = self.snd_una
        sent_before = self.snd_max
        self.output()
        self.snd_max = max(self.snd_max, sent_before)
        self.stats["rxt_segs"] += 1
        self.tm.stats["segments retransmitted"] += 1
        self.rtt_ts = 0.0
        self.set_timer("rxt", self.rto)

    def _timeout_syn(self) -> None:
        if self.state not in (SYN_SENT, SYN_RCVD):
            return
        self.rto_boff += 1
        retries = self.tm.synack_retries(self) if self.state is SYN_RCVD else self.syn_retries
        if self.rto_boff > retries:
            self.tm.stats["timeout establish"] += 1
            self.abort("timed out")
            return
        self.rto = min(RTO_INIT * (1 << self.rto_boff), RTO_MAX)
        if self.state == SYN_SENT:
            self.send(SYN, self.iss, self.syn_options(False), 0, 0,
                         wnd=min(self.rcv_wnd_avail(), 0xFFFF))
        else:
            self.send(SYN | ACK, self.iss, self.syn_options(True, self._peer_syn), 0, 0,
                         wnd=min(self.rcv_wnd_avail(), 0xFFFF))
        self.tm.stats["segments retransmitted"] += 1
        self.set_timer("syn", self.rto)

    _peer_syn: TcpOptions | None = None

    def _timeout_persist(self) -> None:
        """Zero window probe (RFC 9293 3.8.6.1), Linux style: SEG.SEQ = SND.UNA - 1 and no data,
        which the peer must answer with an ACK carrying its current window; backs off."""
        s = self.session
        if s is None or self.state not in SYNCHRONIZED:
            return
        if self.snd_wnd > 0 or s.tx_fifo.size <= self.snd_nxt - self.snd_una:
            return
        self.tm.stats["timeout persist"] += 1
        self.send(ACK, self.snd_una - 1, self._ack_options(), 0, 0)
        self.persist_boff = min(self.persist_boff + 1, 8)
        self.set_timer("persist", min(max(self.rto, RTO_MIN) * (1 << self.persist_boff), RTO_MAX))

    def _timeout_waitclose(self) -> None:
        st = self.state
        if st == TIME_WAIT:
            self.delete()
            return
        key = {FIN_WAIT_2: "timeout fin-wait-2", LAST_ACK: "timeout last-ack", CLOSING: "timeout closing",
               FIN_WAIT_1: "timeout fin-wait-1", CLOSE_WAIT: "timeout close-wait"}.get(st)
        if key:
            self.tm.stats[key] += 1
        if st in (FIN_WAIT_1, CLOSING, LAST_ACK, FIN_WAIT_2):
            self.send_rst()
        self.delete()

    def _timeout_keep(self) -> None:
        if self.state not in (ESTABLISHED, CLOSE_WAIT) or not self.keepalive:
            return
        idle = self.tm.now() - self.last_rx
        if idle < self.keep_idle - 1e-3 and self.keep_probes == 0:
            self.set_timer("keep", self.keep_idle - idle)
            return
        if self.keep_probes >= self.keep_cnt:
            self.abort("timed out")
            return
        self.keep_probes += 1
        # RFC 1122 4.2.3.6: an ACK with SEG.SEQ = SND.NXT - 1, which the peer must answer
        self.send(ACK, self.snd_una - 1, self._ack_options(), 0, 0)
        self.set_timer("keep", self.keep_intvl)

    def apply_options(self, o) -> None:
        """An app's options (a ConnOptions): the IP header's TTL and TOS, IP_MINTTL, Nagle,
        keepalive and its timers, SYN retries, and the congestion control until the handshake
        picks it."""
        self.ttl, self.tos, self.minttl, self.nodelay = o.ttl, o.tos, o.minttl, o.nodelay
        self.keep_idle, self.keep_intvl, self.keep_cnt = float(o.keep_idle), float(o.keep_intvl), o.keep_cnt
        self.syn_retries = o.syn_retries
        if self.cc is None:
            self.cc_algo = "cubic" if o.cc_algo == "cubic" else "newreno"
        if o.keepalive != self.keepalive:
            self.keepalive = o.keepalive
            self.start_keepalive()

    def info(self) -> dict:
        """Linux's tcp_info fields (without `tcpi_`), for TCP_INFO."""
        us = lambda s: int(s * 1e6) if s else 0  # noqa: E731
        cc, mss = self.cc, self.snd_mss
        rcv_space = self.session.rx_fifo.free if self.session is not None and self.session.rx_fifo is not None else 0
        return dict(
            state=int(self.state), ca_state=4 if self.recovery else 0, retransmits=min(self.rto_boff, 255),
            backoff=min(self.rto_boff, 255),
            options=(1 if self.ts_ok else 0) | (2 if self.sack_ok else 0) | (4 if self.snd_wscale or self.rcv_wscale else 0),
            wscale=(self.snd_wscale & 0xF) | ((self.rcv_wscale & 0xF) << 4),
            rto=us(self.rto), ato=40000, snd_mss=mss, rcv_mss=self.rcv_mss,
            unacked=(max(self.snd_nxt - self.snd_una, 0) + mss - 1) // mss if mss else 0,
            pmtu=self.mss_max + (60 if self.ip6 else 40), rcv_ssthresh=rcv_space, rtt=us(self.srtt), rttvar=us(self.rttvar),
            snd_ssthresh=min(cc.ssthresh // mss, 0x7FFFFFFF) if cc and mss and cc.ssthresh < (1 << 40) else 0x7FFFFFFF,
            snd_cwnd=cc.cwnd // mss if cc and mss else 0, advmss=self.rcv_mss, reordering=self.reordering,
            rcv_space=rcv_space, total_retrans=self.stats.get("rxt_segs", 0),
            notsent_bytes=max(self.session.tx_fifo.size - (self.snd_nxt - self.snd_una), 0)
            if self.session is not None and self.session.tx_fifo is not None else 0)

    def start_keepalive(self) -> None:
        if self.keepalive and self.state in (ESTABLISHED, CLOSE_WAIT):
            self.keep_probes = 0
            self.set_timer("keep", self.keep_idle)
        else:
            self.stop_timer("keep")

    # ------------------------------------------------------------------ close / abort
    def app_close(self) -> None:
        s = self.session
        st = self.state
        if s is not None and s.rx_fifo.size and st in (ESTABLISHED, CLOSE_WAIT, FIN_WAIT_1, FIN_WAIT_2):
            # unread data: RFC 9293 / Linux send RST rather than FIN
            self.tm.stats["reset on close due to unread data"] += 1
            self.send_rst()
            self.delete()
            return
        if st in (SYN_SENT, SYN_RCVD, LISTEN, CLOSED):
            self.delete()
            return
        self.flags = self.flags | {"orphan"}
        if st in (ESTABLISHED, CLOSE_WAIT):
            self.fin_pending = True
            self.output()
        elif st == FIN_WAIT_2:
            self.set_timer("waitclose", self.tm.cfg.finwait2_time)

    def shutdown_wr(self) -> None:
        if self.state in (ESTABLISHED, CLOSE_WAIT) and not self.fin_pending:
            self.fin_pending = True
            self.output()

    def abort(self, why: str = "reset") -> None:
        """Give up on the connection (timeout, an ICMP error while connecting): the app hears
        reset / connect failure. A timeout after a soft ICMP error reports that error, as
        Linux's tcp_write_err does."""
        timed_out = why == "timed out"
        self.abort_reason = self.soft_error if timed_out and self.soft_error else why
        if self.state in (SYN_SENT, SYN_RCVD) and self.session is None and self.app is not None:
            app, opaque = self.app, self.opaque
            self.delete()
            app.on_connected(None, self.abort_reason, opaque)
            return
        if self.state in SYNCHRONIZED and timed_out:
            self.send_rst()
        self.delete(notify_reset=True)

    # ------------------------------------------------------------------ ICMP errors
    def icmp_error(self, err: str, hard: bool, ptb: bool, mtu: int, seq: int):
        """An ICMP error quoting our segment `seq` (wire value), as Linux's tcp_v4_err and
        tcp_v6_err take one: ignored unless it quotes what is in flight (RFC 5927); packet too
        big / fragmentation needed lowers the path MTU (`mtu`); while connecting, any other
        error ends the attempt (`err`: why, as the app hears it), a hard one ends a passive
        half-open silently; once connected it is only remembered, for a timeout to report.
        Returns the outcome as vnet's icmp-error-input counts it."""
        if self.state in (CLOSED, LISTEN, TIME_WAIT):
            return "ignored"
        q = unwrap(seq, self.snd_una)
        if not self.snd_una <= q <= self.snd_nxt:
            return "ignored"
        if ptb:
            return "pmtu" if self.pmtu_reduced(mtu) else "ignored"
        if self.state in (SYN_SENT, SYN_RCVD) and self.listener is None:
            self.abort(err)
            return True
        if self.state is SYN_RCVD:  # a passive half-open: no app to tell (Linux's tcp_req_err)
            if hard:
                self.delete()
            return hard
        self.soft_error = err
        return False

    def pmtu_reduced(self, mtu: int) -> bool:
        """The path takes no more than `mtu` bytes: never below IPv6's 1280 (RFC 8201: such a
        report is discarded) or IPv4's 552 (Linux's min_pmtu, which it clamps to), and only ever
        down. What is in flight is sent again in segments that fit (Linux's
        tcp_simple_retransmit: a change of unit, not congestion: cwnd stays)."""
        if self.ip6:
            if mtu < 1280:
                return False
        else:
            mtu = max(mtu, 552)
        mss_max = mtu - (60 if self.ip6 else 40)
        if mss_max >= self.mss_max:
            return False
        self.mss_max = mss_max
        if self.cc is None:  # not synchronized yet: negotiate() takes mss_max as it is
            return True
        self.snd_mss = max(64, min(self.snd_mss, mss_max - (12 if self.ts_ok else 0)))
        self.cc.set_mss(self.snd_mss)
        if self.snd_nxt > self.snd_una:
            self.recovery = False
            self.dupacks = 0
            self.sb.reset()
            self.snd_nxt = self.high_rxt = self.snd_una
            if self.fin_sent:
                self.fin_sent = False
            sent_before = self.snd_max
            self.output()
            self.snd_max = max(self.snd_max, sent_before)
            self.rtt_ts = 0.0
        return True

    def delete(self, notify_reset: bool = False) -> None:
        """Remove from every table and free the session (after TIME_WAIT, LAST_ACK, RST...)."""
        if self.state == CLOSED and self.index < 0:
            return
        self.state = CLOSED
        self.deadlines.clear()
        if self.wake_at != INF:
            self.wake_at = INF
            self.tm.wake(self, None)
        self.tm.remove(self)
        s = self.session
        if s is not None:
            sm = self.tm.sm
            if notify_reset and not s.app_closed:
                sm.notify_reset(s)
            sm.free(s)
            self.session = None

    # ------------------------------------------------------------------ receiving (synchronized states)
    def rcv_synchronized(self, seg: Segment) -> None:
        """RFC 9293 3.10.7.4, for every state from SYN-RECEIVED on."""
        tm = self.tm
        flags = seg.flags
        data = seg.data
        dlen = len(data)
        rcv_nxt = self.rcv_nxt
        seq = rcv_nxt + ((seg.seq - rcv_nxt + 0x80000000) & W32) - 0x80000000  # unwrap()
        now = self.tm.now()
        self.stats["in_segs"] += 1
        # options on a synchronized connection: timestamps (PAWS) and SACK
        ts = None
        sack_blocks = ()
        opts = seg.opts
        if opts:
            if len(opts) == 12 and opts.startswith(b"\x01\x01\x08\x0a"):
                ts = _II.unpack_from(opts, 4)
            else:
                try:
                    o = parse_options(opts)
                except ValueError:
                    tm.count(E.OPTIONS)
                    return
                ts = o.timestamp
                sack_blocks = o.sack_blocks
        if self.ts_ok and ts is not None and not flags & RST:
            if ((ts[0] - self.tsval_recent) & W32) > 0x80000000 and now - self.tsval_recent_age < 24 * 86400:
                tm.count(E.PAWS)
                self.program_ack()
                return
        # 1. sequence acceptability
        # As Linux's tcp_sequence(): not entirely old, and starting no later than the window's
        # end. RFC 9293 is stricter at a zero window but asks that ACKs still be honoured there;
        # rejecting them deadlocks two full peers. Data beyond the window is clipped by the fifo.
        wnd = self.rcv_las - rcv_nxt
        if wnd < 0:
            wnd = 0
        seglen = dlen + (1 if flags & SYN else 0) + (1 if flags & FIN else 0) if flags & (SYN | FIN) else dlen
        end = seq + seglen
        ok = end >= rcv_nxt and seq <= rcv_nxt + wnd
        if ok and seglen and end == rcv_nxt:
            ok = False  # a pure retransmission of what we have: just re-ACK it
        if not ok:
            if flags & RST:
                return
            if end <= rcv_nxt:
                tm.count(E.SEGMENT_OLD if dlen else E.ACK_DUP)
                if dlen:
                    self.quick = QUICKACKS  # a retransmission of what we have: our ACK was lost
            else:
                tm.count(E.RCV_WND)
            self.program_ack()
            # still learn the ACK of an out-of-window segment? no: RFC drops it
            return
        if ts is not None and self.ts_ok and seq <= self.rcv_nxt:
            self.tsval_recent, self.tsval_recent_age = ts[0], now
        # 2. RST (RFC 5961 3.2)
        if flags & RST:
            if seq == self.rcv_nxt:
                tm.count(E.RST_RCVD)
                self.reset_received()
            else:
                self.challenge_ack()
            return
        # 4. SYN in a synchronized state (RFC 5961 4.2): challenge ACK
        if flags & SYN:
            if self.state == SYN_RCVD and self.listener is not None:
                return  # a retransmitted SYN: our SYN-ACK timer covers it
            self.challenge_ack()
            return
        # 5. ACK
        if not flags & ACK:
            return
        self.last_rx = now
        if self.keep_probes:
            self.keep_probes = 0
        if self.state == SYN_RCVD:
            ack = unwrap(seg.ack, self.snd_una)
            if not (self.snd_una < ack <= self.snd_max):
                tm.emit_rst_for(seg)
                return
            if not self.established_passive(seg):
                return
        if not self.process_ack(seg, seq, ts, sack_blocks, dlen):
            return
        # 7. data
        if dlen:
            self.receive_data(seq, data)
        # 8. FIN
        if flags & FIN:
            self.fin_seq = seq + dlen
            tm.count(E.FIN_RCVD)
        if self.fin_seq is not None and self.fin_seq == self.rcv_nxt and not self.fin_rcvd:
            self.fin_received()
        if dlen:
            self.last_data_rx = now
        if (dlen or flags & FIN) and self.state != CLOSED:
            if self.pingpong and not self.quick and not flags & FIN \
                    and self.rcv_nxt - self.acked_nxt < 2 * self.rcv_mss:
                if not self.delack:  # less than two full segments unacknowledged
                    self.delack = True
                    tm.delay_ack(self, now)
            else:
                self.program_ack(force=False)
                if self.quick:
                    self.quick -= 1

    def receive(self, seg: Segment) -> None:
        """One segment in (SYN-SENT has its own rules, RFC 9293 3.10.7.3); what it makes us
        send goes out at the host's next flush."""
        if self.state is SYN_SENT:
            self.rcv_syn_sent(seg)
            return
        self.rcv_synchronized(seg)
        if self.ack_now and self.state is not CLOSED:
            self.ack_now = False
            self.program_ack()

    def rx_consumed(self) -> bool:
        """The app read: advertise the opened window if it grew enough (receiver SWS, RFC
        9293); True if an ACK is now due."""
        s = self.session
        if self.state == CLOSED or self.fin_rcvd or s is None:
            return False
        adv = self.rcv_las - self.rcv_nxt
        avail = s.rx_fifo.free
        cap = 0xFFFF << self.rcv_wscale  # the most the window field can say
        if avail > cap:
            avail = cap
        step = min(s.rx_fifo.nitems // 4, 1 << 16)
        # a window that grew by a step, or one that was below half a step and is opening: then
        # every read says so, as a lost update would leave the sender to its backed-off probes
        if avail - adv >= step or (adv < min(step, cap) // 2 and avail > adv) or (adv < self.rcv_mss <= avail):
            self.program_ack()
            return True
        return False

    def challenge_ack(self) -> None:
        tm = self.tm
        if tm.challenge_ok():
            self.tm.count(E.CHALLENGE_ACK)
            self.send_ack()

    def reset_received(self) -> None:
        s = self.session
        if self.state == SYN_RCVD and s is None:
            self.delete()
            return
        self.delete(notify_reset=s is not None)

    def established_passive(self, seg: Segment) -> bool:
        """SYN-RECEIVED + the ACK of our SYN: hand the new session to the listener's app."""
        self.state = ESTABLISHED
        self.snd_una = self.iss + 1
        self.stop_timer("syn")
        self.rto_boff = 0
        self.snd_wnd = seg.wnd << self.snd_wscale
        self.max_snd_wnd = self.snd_wnd
        self.snd_wl1, self.snd_wl2 = unwrap(seg.seq, self.rcv_nxt), self.snd_una
        ls = self.listener
        self.tm.half_open_done(self)
        self._peer_syn = None  # the SYN's options, kept for SYN-ACK retransmissions: done with
        sm = self.tm.sm
        if ls is None and self.app is not None:  # simultaneous open completes our connect
            app, opaque = self.app, self.opaque
            self.app = None
            self.session = s = sm.connected(app, self, opaque)
            self.start_keepalive()
            app.on_connected(s, None, opaque)
            return self.state != CLOSED
        if ls is None or ls.conn is None:  # the listener went meanwhile
            self.send_rst()
            self.delete()
            return False
        s = sm.accept(ls, self)
        self.session = s
        self.tm.count(E.CONN_ACCEPTED)
        self.start_keepalive()
        ls.app.on_accept(s)
        return self.state != CLOSED

    def process_ack(self, seg: Segment, seq: int, ts, sack_blocks, dlen: int) -> bool:
        tm = self.tm
        una = self.snd_una
        ack = una + ((seg.ack - una + 0x80000000) & W32) - 0x80000000  # unwrap()
        if ack > self.snd_max:
            tm.count(E.ACK_FUTURE)
            self.program_ack()
            return False
        if ack < una - (self.max_snd_wnd if self.max_snd_wnd > 1 << 16 else 1 << 16):
            tm.count(E.ACK_OLD)
            return False  # RFC 5961 5.2: too old to be genuine
        now = self.tm.now()
        wnd = seg.wnd << self.snd_wscale
        if self.sack_ok and sack_blocks:
            blocks = [(unwrap(a, self.snd_una), unwrap(b, self.snd_una)) for a, b in sack_blocks]
            self.sb.update(ack, self.snd_max, blocks, self.snd_mss, self.reordering)
        if ack > self.snd_una:
            acked = ack - self.snd_una
            self.on_new_ack(ack, acked, ts, now)
        elif ack == self.snd_una and not dlen and not seg.flags & FIN and self.snd_max > self.snd_una \
                and (wnd == self.snd_wnd or sack_blocks):  # RFC 6675: SACK info makes it a dupack
            self.on_dupack()
        # window update (RFC 9293 3.10.7.4 fifth check)
        if self.snd_wl1 < seq or (self.snd_wl1 == seq and self.snd_wl2 <= ack):
            opened = wnd > self.snd_wnd
            self.snd_wnd = wnd
            if wnd > self.max_snd_wnd:
                self.max_snd_wnd = wnd
            self.snd_wl1, self.snd_wl2 = seq, ack
            if opened:
                tm.want_output(self)
                if wnd:
                    self.stop_timer("persist")
                    self.persist_boff = 0
        # state transitions driven by the ACK of our FIN
        if self.fin_sent and self.snd_una == self.snd_max:
            st = self.state
            if st == FIN_WAIT_1:
                self.state = FIN_WAIT_2
                self.stop_timer("rxt")
                if self.session is None or self.session.app_closed:
                    self.set_timer("waitclose", tm.cfg.finwait2_time)
            elif st == CLOSING:
                self.enter_time_wait()
                return False
            elif st == LAST_ACK:
                self.delete()
                return False
        return True

    def on_new_ack(self, ack: int, acked: int, ts, now: float) -> None:
        s = self.session
        # RTT sample (RFC 6298 / RFC 7323 3.3)
        rtt = None
        if self.ts_ok and ts is not None and ts[1]:
            rtt = ((self.now_ms(now) - ts[1]) & W32) / 1000.0
            if rtt > 60:
                rtt = None
        elif self.rtt_ts and ack >= self.rtt_seq:
            rtt = now - self.rtt_ts
            self.rtt_ts = 0.0
        if rtt is not None:
            self.update_rtt(rtt)
        data_acked = acked
        if self.fin_sent and ack == self.snd_max:
            data_acked -= 1
        if s is not None and data_acked > 0:
            s.tx_fifo.drop(data_acked)
        self.snd_una = ack
        if self.soft_error:  # the path works again (Linux's tcp_ack clears sk_err_soft)
            self.soft_error = None
        if self.snd_nxt < ack:
            self.snd_nxt = ack
        if self.high_rxt < ack:
            self.high_rxt = ack
        self.rto_boff = 0
        self.tlp_sent = False
        self.stop_timer("persist")
        if self.snd_una >= self.snd_max:
            self.stop_timer("rxt")
            self.stop_timer("tlp")
        else:
            self.set_timer("rxt", self.rto)
            self._arm_tlp()
        if self.recovery and self.ts_ok and ts is not None and ts[1] \
                and ((ts[1] - self.rxt_tsval) & W32) > 0x80000000:
            # Eifel detection (RFC 3522): this ACK echoes a timestamp older than our first
            # retransmission, so the original arrived — the loss was reordering: undo
            self.recovery = False
            self.dupacks = 0
            self.cc.cwnd = max(self.cc.cwnd, self.prev_cwnd)
            self.cc.ssthresh = self.prev_ssthresh
            self.tm.stats["spurious retransmits undone"] += 1
            self.reordering = min(self.reordering * 2, MAX_REORDERING)  # as Linux's tp->reordering
        if self.recovery:
            if ack >= self.recover:
                self.recovery = False
                self.dupacks = 0
                self.cc.on_recovery_exit(now)
            else:  # partial ACK (RFC 6582): the next hole is lost too
                self.una_rxt_at = 0.0
                self.cc.on_partial_ack(acked)
                if not self.sack_ok:
                    self._retransmit(self.snd_una, self.snd_mss)
        else:
            self.dupacks = 0
            self.cc.on_ack(acked, now, rtt, self.flight())
        self.tm.want_output(self)
        if s is not None and s.want_tx_space:
            self.tm.sm.notify_tx_space(s)

    def on_dupack(self) -> None:
        self.dupacks += 1
        self.stats["in_dupacks"] += 1
        self.tm.count(E.ACK_DUP)
        if self.recovery:
            self._lost_retransmit()
            self.tm.want_output(self)
            return
        mss = self.snd_mss
        unsent = self.session is not None and self.snd_una + self.session.tx_fifo.size > self.snd_nxt
        thresh = self.reordering
        segs = -(-self.flight() // mss)
        if segs < 4 and not unsent:  # early retransmit (RFC 5827): a small window can't make 3 dupacks
            thresh = max(1, segs - 1)
        lost = self.dupacks >= thresh or (self.sack_ok and self.sb.is_lost(self.snd_una, mss, thresh))
        if not lost and self.dupacks <= 2 and unsent:
            self._send_one_new()  # limited transmit (RFC 3042): keep the ACK clock going
        if lost:
            self.recovery = True
            self.recover = self.snd_max
            self.stats["fr"] += 1
            self.prev_cwnd, self.prev_ssthresh = self.cc.cwnd, self.cc.ssthresh
            self.rxt_tsval = self.now_ms()
            self.cc.on_congestion(self.flight(), self.tm.now())
            self.high_rxt = self.snd_una
            self._retransmit(self.snd_una, self.snd_mss)
            self.high_rxt = self.snd_una + self.snd_mss
            self.tm.want_output(self)

    def _lost_retransmit(self) -> None:
        """RACK's lesson (RFC 8985): a retransmission still unacknowledged well past an RTT while
        later data keeps being acknowledged was lost too — send it again rather than wait an RTO."""
        at = self.una_rxt_at
        if at and self.tm.now() - at > max(1.25 * self.srtt, 0.004):
            self.high_rxt = self.snd_una
            self.una_rxt_at = 0.0

    def update_rtt(self, rtt: float) -> None:
        if self.srtt == 0.0:
            self.srtt, self.rttvar = rtt, rtt / 2
        else:
            self.rttvar = 0.75 * self.rttvar + 0.25 * abs(self.srtt - rtt)
            self.srtt = 0.875 * self.srtt + 0.125 * rtt
        self.rto = min(max(self.srtt + max(0.001, 4 * self.rttvar), RTO_MIN), RTO_MAX)

    def receive_data(self, seq: int, data) -> None:
        tm = self.tm
        s = self.session
        if s is None:
            return
        if self.state not in (ESTABLISHED, FIN_WAIT_1, FIN_WAIT_2) or self.fin_rcvd:
            return  # after the peer's FIN there is no more data (CLOSE_WAIT, LAST_ACK...)
        if s.app_closed and "orphan" in self.flags:
            # data for an app that closed: RST, as Linux does for an orphaned socket
            self.send_rst()
            self.delete()
            return
        self.stats["in_dsegs"] += 1
        self.stats["in_bytes"] += len(data)
        fifo = s.rx_fifo
        if seq < self.rcv_nxt:  # trim what we already have
            data = data[self.rcv_nxt - seq:]
            seq = self.rcv_nxt
        if seq == self.rcv_nxt:
            n = fifo.enqueue(data)
            if n == 0:
                tm.count(E.FIFO_FULL)
                self.program_ack()
                return
            if n < len(data) and fifo.free == 0:
                tm.count(E.PARTIALLY_ENQUEUED)
            else:
                tm.count(E.ENQUEUED)
            self.rcv_nxt += n
            if fifo.ooo:
                self.program_ack()  # tell the sender at once which holes remain (SACK)
            self.tm.sm.notify_rx(s)
        else:
            n = fifo.enqueue_at(seq - self.rcv_nxt, data)
            tm.count(E.ENQUEUED_OOO)
            self.ack_now = True  # a dupack with SACK now (RFC 5681 4.2)
            self.quick = QUICKACKS
            if n == 0:
                tm.count(E.FIFO_FULL)

    def fin_received(self) -> None:
        self.fin_rcvd = True
        self.rcv_nxt += 1
        st = self.state
        s = self.session
        if st in (ESTABLISHED, SYN_RCVD):
            self.state = CLOSE_WAIT
            self.stop_timer("keep")
            if s is not None:
                self.tm.sm.notify_disconnect(s)
        elif st == FIN_WAIT_1:
            if self.snd_una == self.snd_max:
                self.enter_time_wait()
            else:
                self.state = CLOSING
        elif st == FIN_WAIT_2:
            self.enter_time_wait()
        elif st == TIME_WAIT:
            self.set_timer("waitclose", self.tm.cfg.timewait_time)

    def gives_way(self, seg: Segment) -> bool:
        """A SYN for our 4-tuple in TIME_WAIT, starting past all we received: the old
        connection goes so a listener can take the new one (RFC 1122 4.2.2.13, RFC 6191)."""
        if self.state is TIME_WAIT and seg.flags & SYN and not seg.flags & (RST | ACK) \
                and unwrap(seg.seq, self.rcv_nxt) > self.rcv_nxt:
            self.delete()
            return True
        return False

    def enter_time_wait(self) -> None:
        self.state = TIME_WAIT
        for t in ("rxt", "persist", "keep"):
            self.stop_timer(t)
        self.set_timer("waitclose", self.tm.cfg.timewait_time)
        s = self.session
        if s is not None:
            if not s.app_closed:
                self.tm.sm.notify_disconnect(s)
            self.tm.sm.transport_closed(s)
        self.program_ack(force=False)

    # ------------------------------------------------------------------ SYN-SENT (RFC 9293 3.10.7.3)
    def rcv_syn_sent(self, seg: Segment) -> None:
        tm = self.tm
        flags = seg.flags
        ack = None
        if flags & ACK:
            ack = unwrap(seg.ack, self.iss)
            if ack <= self.iss or ack > self.snd_max:
                if not flags & RST:
                    tm.emit_rst_for(seg)
                return
        if flags & RST:
            if ack is not None:
                tm.count(E.RST_RCVD)
                self.abort("connection refused")
            return
        if not flags & SYN:
            return
        try:
            o = seg.options()
        except ValueError:
            tm.count(E.OPTIONS)
            return
        self.irs = seg.seq
        self.rcv_nxt = seg.seq + 1
        self.negotiate(o)
        self.snd_wnd = seg.wnd << self.snd_wscale if flags & ACK else seg.wnd
        self.snd_wl1 = self.rcv_nxt - 1
        if ack is not None:
            tm.count(E.SYN_ACKS_RCVD)
            self.snd_una = ack
            self.snd_wl2 = ack
            self.max_snd_wnd = self.snd_wnd
            self.stop_timer("syn")
            self.rto_boff = 0
            if self.rtt_ts:
                self.update_rtt(self.tm.now() - self.rtt_ts)
                self.rtt_ts = 0.0
            self.state = ESTABLISHED
            self.last_rx = self.tm.now()
            tm.half_open_done(self)
            app, opaque = self.app, self.opaque
            s = self.tm.sm.connected(app, self, opaque)
            self.session = s
            self.app = None
            self.rcv_las = self.rcv_nxt
            self.send_ack()
            self.start_keepalive()
            app.on_connected(s, None, opaque)
        else:  # simultaneous open
            self.state = SYN_RCVD
            self._peer_syn = o
            self.send_synack(o)
