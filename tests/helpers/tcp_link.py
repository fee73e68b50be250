"""TCP connections with no engine, no root and no packets: a TcpHost whose emit() hands each
segment to the connection at the other end (through a filter that may lose it, or let the test
look first), whose clock moves only when the test says, and whose session layer is a small one
of real Sessions and Fifos that tells real Apps what happened.

    link = Link()
    srv = Recorder(); link.listen(srv, B, 80)
    cli = Recorder(); c = link.connect(cli, A, 40000, B, 80)
    link.run(0.1)                       # the handshake; cli.opened[0] is ready
    link.send(cli.opened[0], b"x")      # the app writes
    link.run(0.1)                       # and srv's session has it in its rx fifo
"""

from __future__ import annotations

import heapq
import itertools
from collections import Counter
from typing import Callable, NamedTuple

from vppsh.session.app import App
from vppsh.session.fifo import Fifo
from vppsh.session.session import Session
from vppsh.session.tcp.connection import CLOSED, Segment, TcpConnection
from vppsh.session.tcp.host import TcpHost, TcpListener
from vppsh.session.transport import TransportProto
from vppsh.wire.tcp import SYN

A, B = 0x0A000001, 0x0A000002  # 10.0.0.1, 10.0.0.2
TCP = TransportProto.TCP


class Sent(NamedTuple):
    """A segment as it left: who sent it (its connection) and its fields."""

    c: TcpConnection
    seg: Segment

    @property
    def flags(self) -> int:
        return self.seg.flags


class Recorder(App):
    """An app that remembers what it was told; reads everything at once unless `hold`."""

    def __init__(self, fifo: int = 1 << 16, hold: bool = False) -> None:
        super().__init__("rec", fifo, fifo)
        self.hold = hold
        self.link: Link | None = None
        self.got = bytearray()
        self.events: list[tuple[str, object]] = []
        self.opened: list[Session] = []  # accepted or connected, in order

    def on_accept(self, s) -> None:
        self.opened.append(s)
        self.events.append(("accept", s))

    def on_connected(self, s, err, opaque) -> None:
        if s is not None:
            self.opened.append(s)
        self.events.append(("connected", err))

    def on_rx(self, s) -> None:
        if not self.hold:
            self.link.read(s)

    def on_disconnect(self, s) -> None:
        self.events.append(("disconnect", s))

    def on_reset(self, s) -> None:
        self.events.append(("reset", s))

    def on_cleanup(self, s) -> None:
        self.events.append(("cleanup", s))

    def saw(self, what: str) -> bool:
        return any(e == what for e, _ in self.events)


class Sessions:
    """The session layer's side of a transport (what TcpHost and TcpConnection call), with
    real Sessions and Fifos."""

    def __init__(self) -> None:
        self.conns: dict[tuple, TcpConnection] = {}
        self.listeners: dict[int, Session] = {}  # port -> listener session
        self._index = itertools.count()

    def _session(self, app, conn, fifos: bool = True) -> Session:
        s = Session(next(self._index), TCP, app, conn)
        if fifos:
            s.rx_fifo, s.tx_fifo = Fifo(app.rx_fifo_size), Fifo(app.tx_fifo_size)
        s.state = "ready"
        app.sessions.add(s)
        return s

    def has_memory(self, app) -> bool:
        return True

    def add_conn(self, proto, lcl_ip, lcl_port, rmt_ip, rmt_port, conn) -> None:
        self.conns[(lcl_ip, lcl_port, rmt_ip, rmt_port)] = conn

    def del_conn(self, proto, lcl_ip, lcl_port, rmt_ip, rmt_port, conn) -> None:
        if self.conns.get((lcl_ip, lcl_port, rmt_ip, rmt_port)) is conn:
            del self.conns[(lcl_ip, lcl_port, rmt_ip, rmt_port)]

    def accept(self, listener: Session, conn) -> Session:
        s = self._session(listener.app, conn)
        s.listener = listener
        return s

    def connected(self, app, conn, opaque) -> Session:
        return self._session(app, conn)

    def notify_rx(self, s) -> None:
        s.app.on_rx(s)

    def notify_tx_space(self, s) -> None:
        if s.want_tx_space and s.tx_fifo.free:
            s.want_tx_space = False
            s.app.on_tx_space(s)

    def notify_disconnect(self, s) -> None:
        s.state = "transport-closing"
        s.app.on_disconnect(s)

    def notify_reset(self, s) -> None:
        s.state = "transport-closed"
        s.app.on_reset(s)

    def transport_closed(self, s) -> None:
        s.state = "closed"

    def free(self, s) -> None:
        s.state = "transport-deleted"
        s.app.sessions.discard(s)
        s.app.on_cleanup(s)
        s.conn = None


class Link(TcpHost):
    """Every connection on one wire. `lose(sent) -> bool` decides a segment's fate as it leaves;
    what survives arrives at once (in order), or `delay` seconds later."""

    def __init__(self, delay: float = 0.0005) -> None:
        super().__init__()
        self.sm = Sessions()
        self.clock = 0.0
        self.delay = delay
        self._timers: list = []
        self._seq = itertools.count()
        self.sent: list[Sent] = []
        self.lose: Callable[[Sent], bool] = lambda sent: False
        self.errors: Counter = Counter()

    # ------------------------------------------------------------ TcpHost's I/O
    def now(self) -> float:
        return self.clock

    def timer(self, at: float, fn):
        entry = [at, next(self._seq), fn]
        heapq.heappush(self._timers, entry)
        return entry

    def cancel(self, handle) -> None:
        handle[2] = None

    def emit(self, c, flags, seq, ack, wnd, opts, fifo_off, n, gso=0) -> int:
        data = c.session.tx_fifo.peek(fifo_off, n) if n else b""
        seg = Segment(c.lcl_ip, c.rmt_ip, c.lcl_port, c.rmt_port, seq, ack, flags, wnd, opts, memoryview(data))
        sent = Sent(c, seg)
        self.sent.append(sent)
        if not self.lose(sent):
            self.timer(self.clock + self.delay, lambda: self.arrive(seg))
        return len(data)

    def egress(self, rmt_ip, sw=None):
        return 0, 1500, 0

    def count(self, err, n: int = 1) -> None:
        self.errors[err] += n

    # ------------------------------------------------------------ the wire and the clock
    def arrive(self, seg: Segment) -> None:
        """A segment at its receiver: its connection, else a listener's SYN, else a RST."""
        c = self.sm.conns.get((seg.dst, seg.dport, seg.src, seg.sport))
        if c is not None and c.state is not CLOSED and not c.gives_way(seg):
            c.receive(seg)
        elif seg.dport in self.sm.listeners:
            self.on_syn(self.sm.listeners[seg.dport], seg)
        else:
            self.emit_rst_for(seg)
        self.flush()

    def run(self, seconds: float) -> None:
        """Let `seconds` pass: timers (and segment arrivals) in their order."""
        end = self.clock + seconds
        while self._timers and self._timers[0][0] <= end:
            at, _, fn = heapq.heappop(self._timers)
            if fn is None:
                continue
            self.clock = max(self.clock, at)
            fn()
        self.clock = end

    # ------------------------------------------------------------ apps
    def listen(self, app: Recorder, ip: int, port: int) -> Session:
        app.link = self
        s = self.sm._session(app, None, fifos=False)
        s.state = "listening"
        s.conn = TcpListener(s, ip, port)
        self.sm.listeners[port] = s
        return s

    def connect(self, app: Recorder, src: int, sport: int, dst: int, dport: int) -> TcpConnection:
        app.link = self
        c = self.open(app, src, sport, dst, dport, 0)
        self.flush()
        return c

    def send(self, s: Session, data: bytes) -> int:
        n = s.tx_fifo.enqueue(data)
        s.conn.output()
        self.flush()
        return n

    def read(self, s: Session) -> bytes:
        data = s.rx_fifo.dequeue(s.rx_fifo.size)
        s.app.got += data
        if s.conn is not None:
            s.conn.rx_consumed()
        self.flush()
        return data

    def segments(self, since: int = 0, sender: TcpConnection | None = None) -> list[Segment]:
        """What was sent (by `sender`) from index `since` of the log on."""
        return [x.seg for x in self.sent[since:] if sender is None or x.c is sender]

    def handshake(self, srv: Recorder | None = None, cli: Recorder | None = None, port: int = 80):
        """A client at A:40000 connected to a server at B:port; (client session, server session)."""
        srv, cli = srv or Recorder(), cli or Recorder()
        self.listen(srv, B, port)
        self.connect(cli, A, 40000, B, port)
        self.run(4 * self.delay)
        assert cli.opened and srv.opened, (cli.events, srv.events)
        return cli.opened[0], srv.opened[0]


def is_syn(sent: Sent) -> bool:
    return bool(sent.flags & SYN)
