"""TCP graph nodes, as VPP names them.

tcp4-input works on the whole frame with numpy (lengths, checksums) and looks each segment's
connection up in the session table; the per-state nodes then run the state machine one segment at
a time (the only inherently sequential part) and tcp4-output hands what TCP built to ip4-lookup.
"""

from __future__ import annotations

import numpy as np

from ...vlib.buffer import F_OFFLOAD
from ...vlib.node import Node
from ...wire.checksum import csum_rows, sum_mod
from ...wire.tcp import RST, format_tcp_header
from ...vnet.ip4.fields import be16, be32
from ...vnet.ip6.main import strip_ext
from . import cookies
from .connection import CLOSED, ESTABLISHED, SYN_SENT
from ..transport import TransportProto
from .errors import ERRORS, TcpError as E
from .main import segment_from
from ...wire.tcp import checksum_ok

TCP = int(TransportProto.TCP)  # (a plain int builds lookup keys faster than the enum member)


N_EST, N_RCV, N_LISTEN, N_SYN_SENT, N_RESET = 1, 2, 3, 4, 5


def _trace(vm, b: int) -> str:
    buf = vm.buffers
    pkt = buf.packet(b)
    ihl = (40 if pkt[0] >> 4 == 6 else (pkt[0] & 0x0F) * 4) if pkt else 20
    aux = int(buf.aux[b])
    tm = vm.session.transports[TCP]
    c = tm.conns[aux - 1] if 0 < aux <= len(tm.conns) else None
    head = "no tcp connection" if c is None else f"{tm.format_id(c)} state {c.state}"
    return head + "\n" + format_tcp_header(pkt[ihl:])


class TcpNode(Node):
    errors = ERRORS
    next_nodes = ("error-drop",)

    def format_trace(self, b):
        return _trace(self.vm, b)


class Tcp4Input(TcpNode):
    """Validate lengths and checksums for the frame, then look every segment up."""

    name = "tcp4-input"
    next_nodes = ("error-drop", "tcp4-established", "tcp4-rcv-process", "tcp4-listen", "tcp4-syn-sent",
                  "tcp4-reset")

    def process(self, frame):
        vm = self.vm
        buf = vm.buffers
        n = len(frame)
        ip = buf.gather(frame, 0, 20)
        ihl = (ip[:, 0] & 0x0F).astype(np.int64) * 4
        tot = be16(ip, 2).astype(np.int64)
        clen = buf.current_length[frame].astype(np.int64)
        tot = np.where((tot == 0) | (tot < clen) & (clen > 0xFFFF), clen, tot)  # GRO frames past 64 KB
        if (ihl == 20).all():
            th = buf.gather(frame, 20, 20)
        else:
            cols = buf.offsets(frame)[:, None] + ihl[:, None] + np.arange(20)
            th = buf.data[frame[:, None], np.minimum(cols, buf.data.shape[1] - 1)]
        l4 = tot - ihl
        hl = (th[:, 12] >> 4).astype(np.int64) * 4
        bad = (l4 < 20) | (hl < 20) | (hl > l4) | (tot > clen)
        err = np.zeros(n, np.uint16)
        err[bad] = self.err[E.LENGTH.reason]
        src, dst = be32(ip, 12), be32(ip, 16)
        check = ((buf.flags[frame] & F_OFFLOAD) == 0) & ~bad
        if check.any():
            k = np.flatnonzero(check)
            fb = frame[k]
            width = int((ihl[k] + l4[k]).max())
            rows = buf.gather(fb, 0, width) if (ihl[k] == 20).all() else None
            if rows is not None:
                s, d = src[k].astype(np.uint64), dst[k].astype(np.uint64)
                ps = (s >> np.uint64(16)) + (s & np.uint64(0xFFFF)) + (d >> np.uint64(16)) \
                    + (d & np.uint64(0xFFFF)) + np.uint64(6) + l4[k].astype(np.uint64)
                ok = csum_rows(rows, ihl[k], l4[k], ps) == 0
            else:  # IP options somewhere in the frame: per packet (rare)
                ok = np.array([checksum_ok(int(src[i]), int(dst[i]), buf.packet(int(frame[i]))[
                    int(ihl[i]):int(tot[i])]) for i in k])
            badc = k[~ok]
            err[badc] = self.err[E.CHECKSUM.reason]
            bad[badc] = True
        # per packet: the session table lookup, in plain Python lists (numpy's per-element
        # indexing costs more than the lookup itself); buffers grouped by next node as we go
        aux = [0] * n
        groups: dict[int, list[int]] = {}
        conns, sm = vm.session.conns, vm.session
        sp, dp = be16(th, 0).tolist(), be16(th, 2).tolist()
        fl = th[:, 13].tolist()
        badl = bad.tolist()
        bl = frame.tolist()
        no_listener = self.err[E.NO_LISTENER.reason]
        n_reset = 0
        for i, (s_, d_, a, p) in enumerate(zip(src.tolist(), dst.tolist(), sp, dp)):
            if badl[i]:
                nx = 0
            else:
                c = conns.get((TCP, d_, p, s_, a))
                if c is not None:
                    aux[i] = c.index + 1
                    st = c.state
                    nx = N_EST if st is ESTABLISHED else N_SYN_SENT if st is SYN_SENT else N_RCV
                else:
                    ls = sm.find_listener(TCP, d_, p)
                    if ls is not None:
                        aux[i] = ls.index + 1
                        nx = N_LISTEN
                    elif fl[i] & RST:
                        err[i] = self.err[E.LOOKUP_DROPS.reason]
                        nx = 0
                    else:
                        nx = N_RESET
                        err[i] = no_listener
                        n_reset += 1
            g = groups.get(nx)
            if g is None:
                groups[nx] = [bl[i]]
            else:
                g.append(bl[i])
        buf.aux[frame] = aux
        buf.error[frame] = err
        if n_reset:
            self.count(no_listener, n_reset)
        if len(groups) == 1:
            self.next(next(iter(groups)), frame)
        else:
            for slot in sorted(groups):  # in slot order, as Node.nexts
                self.next(slot, np.array(groups[slot], np.uint32))


class TcpStateNode(TcpNode):
    """Runs one handler per segment on its connection, then frees the frame and flushes ACKs."""

    ttl_offset = 8  # IPv4's TTL; IPv6's hop limit is at 7

    def handle(self, tm, c, seg) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def process(self, frame):
        vm = self.vm
        buf = vm.buffers
        tm = vm.session.transports[TCP]
        tm.node_errs = self.err
        conns = tm.conns
        aux = buf.aux[frame].tolist()
        try:
            for b, a in zip(frame.tolist(), aux):
                c = conns[a - 1] if 0 < a <= len(conns) else None
                seg = segment_from(buf, b)
                if c is None or c.state is CLOSED:  # gone (or replaced) earlier in this frame
                    c = vm.session.conns.get((TCP, seg.dst, seg.dport, seg.src, seg.sport))
                    if c is None:
                        self.count(self.err[E.INVALID_CONNECTION.reason])
                    else:
                        c.receive(seg)
                    continue
                if c.minttl and buf.mv[buf.start(b) + self.ttl_offset] < c.minttl:  # GTSM (RFC 5082)
                    self.count(self.err[E.MINTTL.reason])
                    continue
                self.handle(tm, c, seg)
        finally:
            buf.free(frame)
            tm.flush()
            tm.node_errs = tm.default_errs


class Tcp4Established(TcpStateNode):
    name = "tcp4-established"

    def handle(self, tm, c, seg):
        if not seg.data and not seg.flags & ~0x18 and c.state is ESTABLISHED:
            tm.count(E.PURE_ACK)
        c.receive(seg)


class Tcp4RcvProcess(TcpStateNode):
    """Every state but ESTABLISHED and SYN_SENT; a SYN may reopen a TIME_WAIT pair (RFC 6191)."""

    name = "tcp4-rcv-process"

    def handle(self, tm, c, seg):
        if c.gives_way(seg):  # a new SYN on a TIME_WAIT 4-tuple: a listener may take it
            ls = self.vm.session.find_listener(TCP, seg.dst, seg.dport, c.ip6)
            if ls is not None:
                tm.on_syn(ls, seg)
            return
        c.receive(seg)


class Tcp4SynSent(TcpStateNode):
    name = "tcp4-syn-sent"

    def handle(self, tm, c, seg):
        c.receive(seg)


class Tcp4Listen(TcpNode):
    """SYNs (and cookie ACKs) for listeners; past a listener's backlog the frame's plain SYNs
    are answered with cookies all at once (cookies.py), the rest one segment at a time."""

    name = "tcp4-listen"
    next_nodes = ("error-drop", "tcp4-output")

    vector_cookies = True  # (cookies.py builds IPv4 SYN-ACKs; IPv6 takes TcpMain.send_cookie's path)

    def process(self, frame):
        vm = self.vm
        buf = vm.buffers
        sm = vm.session
        tm = sm.transports[TCP]
        tm.node_errs = self.err
        aux = buf.aux[frame]
        try:
            mss = cookies.cookie_syns(vm, tm, frame, aux) if self.vector_cookies else None
            if mss is not None:
                take = mss > 0
                bi = frame[take]
                cookies.answer(vm, tm, bi, mss[take])
                self.count(self.err[E.SYNS_RCVD.reason], len(bi))
                self.count(self.err[E.COOKIE_SENT.reason], len(bi))
                self.next(1, bi)
                frame, aux = frame[~take], aux[~take]
            for b, a in zip(frame.tolist(), aux.tolist()):
                ls = sm.pool[a - 1] if 0 < a <= len(sm.pool) else None
                if ls is None or not ls.is_listener:
                    self.count(self.err[E.INVALID_CONNECTION.reason])
                    continue
                seg = segment_from(buf, b)
                # tcp4-input looked the whole frame up first: an earlier segment of this frame
                # may have created the connection (a SYN, a cookie's ACK) — then it is its
                c = sm.conns.get((TCP, seg.dst, seg.dport, seg.src, seg.sport))
                if c is None:
                    tm.on_syn(ls, seg)
                else:
                    c.receive(seg)
        finally:
            buf.free(frame)
            tm.flush()
            tm.node_errs = tm.default_errs

    def format_trace(self, b):
        return _trace(self.vm, b)


class Tcp4Reset(TcpNode):
    """No connection, no listener: answer with RST (RFC 9293 3.10.7.1)."""

    name = "tcp4-reset"

    def process(self, frame):
        vm = self.vm
        buf = vm.buffers
        tm = vm.session.transports[TCP]
        tm.node_errs = self.err
        try:
            for b in frame.tolist():
                tm.emit_rst_for(segment_from(buf, b))
        finally:
            buf.free(frame)
            tm.node_errs = tm.default_errs


class Tcp4Output(TcpNode):
    """Everything TCP sends passes here on its way to ip4-lookup."""

    name = "tcp4-output"
    next_nodes = ("ip4-lookup",)

    def process(self, frame):
        self.count(self.err[E.PKTS_SENT.reason], len(frame))
        self.next(0, frame)


class Tcp6Input(TcpNode):
    """tcp6-input: the same checks and lookup per segment (a segment of IPv6 costs its own
    Python anyway); extension headers are moved out of the way first, so every later node
    finds TCP right after a 40-byte header."""

    name = "tcp6-input"
    next_nodes = ("error-drop", "tcp6-established", "tcp6-rcv-process", "tcp6-listen", "tcp6-syn-sent",
                  "tcp6-reset")

    def process(self, frame):
        vm = self.vm
        buf, sm = vm.buffers, vm.session
        conns = sm.conns
        mv = buf.mv
        groups: dict[int, list[int]] = {}
        for b in frame.tolist():
            off = int(buf.aux[b])
            if off != 40:
                strip_ext(buf, b, off, 6)
            o = buf.start(b)
            l4 = int(buf.current_length[b]) - 40
            hl = (mv[o + 52] >> 4) * 4 if l4 >= 20 else 0
            nx, a = 0, 0
            if l4 < 20 or hl < 20 or hl > l4:
                buf.error[b] = self.err[E.LENGTH.reason]
            elif not buf.mv_flags[b] & F_OFFLOAD and not _checksum_ok6(mv, o, l4):
                buf.error[b] = self.err[E.CHECKSUM.reason]
            elif not any(mv[o + 8:o + 20]):
                # ::, ::1, the old IPv4-compatible form: never a peer (transport.py's rule that
                # tells the families apart), nothing to answer
                buf.error[b] = self.err[E.SRC_NOT_PEER.reason]
            else:
                src, dst = int.from_bytes(mv[o + 8:o + 24], "big"), int.from_bytes(mv[o + 24:o + 40], "big")
                sport, dport = (mv[o + 40] << 8) | mv[o + 41], (mv[o + 42] << 8) | mv[o + 43]
                c = conns.get((TCP, dst, dport, src, sport))
                if c is not None:
                    a = c.index + 1
                    st = c.state
                    nx = N_EST if st is ESTABLISHED else N_SYN_SENT if st is SYN_SENT else N_RCV
                else:
                    ls = sm.find_listener(TCP, dst, dport, True)
                    if ls is not None:
                        a, nx = ls.index + 1, N_LISTEN
                    elif mv[o + 53] & RST:
                        buf.error[b] = self.err[E.LOOKUP_DROPS.reason]
                    else:
                        nx = N_RESET
                        buf.error[b] = self.err[E.NO_LISTENER.reason]
                        self.count(self.err[E.NO_LISTENER.reason])
            buf.aux[b] = a
            groups.setdefault(nx, []).append(b)
        for slot in sorted(groups):
            self.next(slot, np.array(groups[slot], np.uint32))


def _checksum_ok6(mv, o: int, l4: int) -> bool:
    """Addresses (the pseudo header's), upper-layer length, next header and the segment."""
    return sum_mod(mv[o + 8:o + 40 + l4], 6 + l4) == 0


class Tcp6Established(Tcp4Established):
    name = "tcp6-established"
    ttl_offset = 7


class Tcp6RcvProcess(Tcp4RcvProcess):
    name = "tcp6-rcv-process"
    ttl_offset = 7


class Tcp6SynSent(Tcp4SynSent):
    name = "tcp6-syn-sent"
    ttl_offset = 7


class Tcp6Listen(Tcp4Listen):
    name = "tcp6-listen"
    next_nodes = ("error-drop", "tcp6-output")
    vector_cookies = False


class Tcp6Reset(Tcp4Reset):
    name = "tcp6-reset"


class Tcp6Output(Tcp4Output):
    name = "tcp6-output"
    next_nodes = ("ip6-lookup",)


NODES = (Tcp4Input, Tcp4Established, Tcp4RcvProcess, Tcp4SynSent, Tcp4Listen, Tcp4Reset, Tcp4Output,
         Tcp6Input, Tcp6Established, Tcp6RcvProcess, Tcp6SynSent, Tcp6Listen, Tcp6Reset, Tcp6Output)
