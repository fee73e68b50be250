"""SessionMain: `session enable`, the session pool and lookup tables, and the app-facing API.

Transports register here and call back (accept, connected, notify_rx, ...); apps call listen,
connect, send, recv, close. Tx is deferred: an app's send only queues the session for the
`session-queue` input node, which asks the transport to push when the engine next loops, so no
app callback ever re-enters a transport in the middle of its input processing.
"""

from __future__ import annotations

import random

from ..vlib.node import Node, NodeType
from ..vnet.ip4.egress import egress
from ..vnet.ip6.egress import egress6
from .app import App, AppRegistry
from .budget import Budget, engine_limit
from .fifo import Fifo
from .pool import Pool
from .session import CLOSED_FROM, STATES, Session
from .transport import ConnOptions, Transport, TransportProto, is_ip6

EPHEMERAL = (49152, 65535)
RECLAIM_INTERVAL = 0.5  # s: how often fifos give back read pages while a budget is under pressure
assert EPHEMERAL[1] - EPHEMERAL[0] + 1 == 1 << 14  # alloc_port draws 14 random bits


class SessionError(Exception):
    """A failed request, worded for the CLI (`show session`'s user sees it)."""


class SessionQueue(Node):
    """session-queue: pushes the tx of sessions whose app wrote (VPP's per-thread event node)."""

    name = "session-queue"
    type = NodeType.INPUT

    def __init__(self, vm) -> None:
        super().__init__(vm)
        self.state = "interrupt wait"
        self.pending: dict[int, Session] = {}

    BUDGET = 256  # sessions per call: a burst of app writes must not starve rx (and its ACKs)

    def poll(self) -> int:
        if len(self.pending) <= self.BUDGET:
            pending, self.pending = self.pending, {}
        else:
            keys = list(self.pending)[:self.BUDGET]
            pending = {k: self.pending.pop(k) for k in keys}
            self.interrupt_pending = True
        sm = self.vm.session
        for s in pending.values():
            if s.conn is not None and s.state not in ("closed", "transport-deleted"):
                sm.transports[s.proto].push(s.conn)
        if sm.mem_waiters:
            sm.wake_mem_waiters()
        for t in sm.transports.values():  # ACKs programmed outside a TCP node (an app read)
            t.flush()
        return len(pending)


class SessionMain:
    def __init__(self, vm) -> None:
        self.vm = vm
        self.enabled = False
        self.rt_backend = "none"  # session enable [rt-backend ...]; show session rt-backend
        self.pool = Pool()  # of Session
        self.apps = AppRegistry()
        self.transports: dict[TransportProto, Transport] = {}
        self.listeners: dict[tuple, Session] = {}  # (proto, ip6, ip, port) -> listener session
        self.conns: dict[tuple, object] = {}  # (proto, lcl ip, lcl port, rmt ip, rmt port) -> conn
        self.queue = vm.register(SessionQueue(vm))
        self.budget = Budget(engine_limit())  # what all apps' fifos may hold together
        self.budget.on_release = self._memory_freed
        self.budget.on_pressure = self._pressure
        self._reclaim_at: list | None = None  # the pending reclaim timer
        self._reclaimed = -1.0  # when the last reclaim ran
        self.mem_waiters: set[Session] = set()  # writers stopped by a budget, not a full fifo
        vm.memory_users.append(self.memory_line)

    def register(self, t: Transport) -> Transport:
        self.transports[t.proto] = t
        return t

    # ------------------------------------------------------------ enable / disable
    def enable(self) -> None:
        if self.enabled:
            return
        self.enabled = True
        for t in self.transports.values():
            t.enable()

    def disable(self) -> None:
        if not self.enabled:
            raise SessionError("session is already disabled")
        for app in self.apps.all():
            self.detach(app)
        for t in self.transports.values():
            t.disable()
        self.enabled = False

    def require(self) -> None:
        if not self.enabled:
            raise SessionError("session layer is not enabled")

    # ------------------------------------------------------------ apps
    def attach(self, app: App) -> App:
        self.require()
        app.budget = Budget(min(app.segment_size, self.budget.limit), self.budget)
        return self.apps.add(app)

    def detach(self, app: App) -> None:
        """Remove an app: listeners go, open connections are reset (an exited app owes nothing);
        ones it already closed finish their close gracefully (FIN_WAIT, TIME_WAIT)."""
        for s in list(app.sessions):
            if s.is_listener:
                self.unlisten(s)
            elif s.conn is not None and not s.app_closed:
                self.reset(s)
        app.detach()
        self.apps.remove(app)

    # ------------------------------------------------------------ pool
    def alloc(self, proto: str, app: App, conn, fifos: bool = True) -> Session:
        s = Session(self.pool.next_index(), proto, app, conn)
        if fifos:
            s.rx_fifo, s.tx_fifo = Fifo(app.rx_fifo_size, app.budget), Fifo(app.tx_fifo_size, app.budget)
        self.pool.put(s)
        app.sessions.add(s)
        return s

    def free(self, s: Session) -> None:
        """The transport is done with the connection: forget the session."""
        if self.pool.release(s.index, s):
            s.state = "transport-deleted"
            self.queue.pending.pop(s.index, None)
            self.mem_waiters.discard(s)
            s.app.sessions.discard(s)
            s.app.on_cleanup(s)
            s.conn = None

    def sessions(self) -> list[Session]:
        return [s for s in self.pool if s is not None]

    def closed_count(self) -> int:
        return sum(1 for s in self.sessions() if STATES.index(s.state) >= CLOSED_FROM)

    # ------------------------------------------------------------ lookup tables
    def add_conn(self, proto: int, lcl_ip: int, lcl_port: int, rmt_ip: int, rmt_port: int, conn) -> None:
        self.conns[(proto, lcl_ip, lcl_port, rmt_ip, rmt_port)] = conn

    def del_conn(self, proto: int, lcl_ip: int, lcl_port: int, rmt_ip: int, rmt_port: int, conn) -> None:
        key = (proto, lcl_ip, lcl_port, rmt_ip, rmt_port)
        if self.conns.get(key) is conn:
            del self.conns[key]

    def find_listener(self, proto: int, ip: int, port: int, ip6: bool = False) -> Session | None:
        ls = self.listeners
        return ls.get((proto, ip6, ip, port)) or ls.get((proto, ip6, 0, port))

    def port_in_use(self, proto: int, ip: int, port: int, ip6: bool = False) -> bool:
        ls = self.listeners
        return (proto, ip6, ip, port) in ls or (proto, ip6, 0, port) in ls or \
            (ip == 0 and any(k[0] == proto and k[1] == ip6 and k[3] == port for k in ls))

    def alloc_port(self, proto: int, lcl_ip: int, rmt_ip: int, rmt_port: int, ip6: bool = False) -> int:
        lo, hi = EPHEMERAL
        start = lo + random.getrandbits(14)  # 16384 ports: uniform over [lo, hi]
        for k in range(hi - lo + 1):
            port = lo + (start - lo + k) % (hi - lo + 1)
            if (proto, lcl_ip, port, rmt_ip, rmt_port) not in self.conns and \
                    not self.port_in_use(proto, lcl_ip, port, ip6):
                return port
        raise SessionError("no free local port")

    def source_address(self, rmt_ip: int, sw_if_index: int = -1) -> tuple[int, int]:
        """(egress sw_if_index, local address) toward rmt_ip, as the FIB says (out of
        sw_if_index if given: a link-local peer's interface)."""
        sw, src, _mtu, _tso = (egress6 if is_ip6(rmt_ip) else egress)(self.vm, rmt_ip,
                                                                       sw_if_index if sw_if_index >= 0 else None)
        if sw < 0:
            raise SessionError("no route to host")
        if not src:
            raise SessionError("no source address for egress interface")
        return sw, src

    # ------------------------------------------------------------ app-facing API
    def listen(self, app: App, proto: TransportProto, ip: int, port: int, exclusive: bool = True,
               ip6: bool | None = None) -> Session:
        """Listen on ip:port (0: a free port) of family ip6 (by default the address's: give it
        for a wildcard). Not `exclusive`: the app has judged the port shared (a socket API's
        rules: an address beside the wildcard, SO_REUSEADDR/SO_REUSEPORT), so only the same
        address and port is refused; lookups find the address before the wildcard."""
        self.require()
        ip6 = is_ip6(ip) if ip6 is None else ip6
        if port and not exclusive:
            if (proto, ip6, ip, port) in self.listeners:
                raise SessionError("session already exists")
        elif port == 0 or self.port_in_use(proto, ip, port, ip6):
            if port == 0:
                port = self.alloc_port(proto, ip, 0, 0, ip6)
            else:
                raise SessionError("session already exists")  # VNET_API_ERROR_ADDRESS_IN_USE
        s = self.alloc(proto, app, None, fifos=False)
        s.conn = self.transports[proto].listen(s, ip, port)
        s.conn.ip6 = ip6
        s.state = "listening"
        self.listeners[(proto, ip6, ip, port)] = s
        return s

    def unlisten(self, s: Session) -> None:
        conn = s.conn
        self.listeners.pop((s.proto, conn.ip6, conn.lcl_ip, conn.lcl_port), None)
        self.transports[s.proto].unlisten(conn)
        self.free(s)

    def connect(self, app: App, proto: TransportProto, ip: int, port: int, opaque=None,
                opts: ConnOptions | None = None, lcl_ip: int = 0, lcl_port: int = 0, sw_if_index: int = -1):
        """Start a connection (from lcl_ip:lcl_port if given, with the app's options, out of
        sw_if_index if given: a link-local peer's interface); the app's on_connected tells how
        it went. Errors known at once raise. Returns the transport's connection, opening."""
        self.require()
        if not self.has_memory(app):
            raise SessionError("out of fifo memory")
        how = {"sw_if_index": sw_if_index} if sw_if_index >= 0 else {}
        return self.transports[proto].connect(app, ip, port, opaque, opts, lcl_ip, lcl_port, **how)

    def set_options(self, conn, opts: ConnOptions) -> None:
        """An app changed its options: the connection's transport applies them."""
        self.transports[conn.proto].set_options(conn, opts)

    def info(self, conn) -> dict | None:
        """What the connection's transport says of it (TCP: tcp_info's fields)."""
        return self.transports[conn.proto].info(conn)

    def has_memory(self, app: App) -> bool:
        """May the app take a new connection? Not once its budget or the engine's is spent
        (after giving back what was read, if that was not done in the last 0.1 s)."""
        b = app.budget
        if b is None or b.room() > 0:
            return True
        if self.vm.now() - self._reclaimed >= 0.1:
            self.reclaim()
        return b.room() > 0

    def _pressure(self) -> None:
        if self._reclaim_at is None:
            self._reclaim_at = self.vm.timer(RECLAIM_INTERVAL, self._reclaim_tick)

    def _reclaim_tick(self) -> None:
        self._reclaim_at = None
        self.reclaim()
        if self.budget.pressured() or any(a.budget is not None and a.budget.pressured() for a in self.apps.all()):
            self._pressure()

    def reclaim(self) -> int:
        """Under pressure: every fifo gives back the pages of data already read."""
        self._reclaimed = self.vm.now()
        n = 0
        for s in self.pool:
            if s is not None and s.rx_fifo is not None:
                n += s.rx_fifo.trim() + s.tx_fifo.trim()
        return n

    def want_tx(self, s: Session) -> None:
        """The app could not write all it had: on_tx_space when there is room again. Room a
        full fifo makes as the peer acknowledges; room a spent budget makes when memory is
        freed anywhere, so those writers wait in mem_waiters."""
        s.want_tx_space = True
        if s.tx_fifo is not None and s.tx_fifo.space > s.tx_fifo.free:
            self.mem_waiters.add(s)
            self.queue.interrupt_pending = True  # (freed since the write: look once more)

    def memory_line(self) -> str:
        """`show memory`: what all apps' fifos hold against the engine's budget."""
        fifos = [f for s in self.sessions() for f in (s.rx_fifo, s.tx_fifo) if f is not None and f.nitems]
        return f"session fifos: {len(fifos)}, {self.budget.usage(fifos)}"

    def _memory_freed(self) -> None:
        if self.mem_waiters:
            self.queue.interrupt_pending = True

    def wake_mem_waiters(self) -> None:
        for s in list(self.mem_waiters):
            if s.tx_fifo is None or s.tx_fifo.free:
                self.mem_waiters.discard(s)
                if s.tx_fifo is not None and s.state not in ("closed", "transport-deleted"):
                    self.notify_tx_space(s)

    def send(self, s: Session, data) -> int:
        """Queue bytes for the peer; returns how many fitted in the tx fifo."""
        n = s.tx_fifo.enqueue(data)
        if n:
            self.schedule_tx(s)
        if n < len(data):
            self.want_tx(s)
        return n

    def schedule_tx(self, s: Session) -> None:
        q = self.queue
        q.pending[s.index] = s
        q.interrupt_pending = True

    def recv(self, s: Session, n: int) -> bytes:
        data = s.rx_fifo.dequeue(n)
        if data:
            self.rx_consumed(s)
        return data

    def rx_consumed(self, s: Session) -> None:
        """The app took data out of the rx fifo itself: the transport may open its window."""
        if s.conn is not None:
            self.transports[s.proto].rx_consumed(s.conn)

    def close(self, s: Session) -> None:
        """Graceful close: what is in the tx fifo goes first, then FIN (TCP)."""
        if s.app_closed or s.conn is None:
            return
        s.app_closed = True
        if s.state not in ("transport-closed", "closed"):
            s.state = "closing"
        self.transports[s.proto].close(s.conn)

    def shutdown(self, s: Session) -> None:
        """Half-close (SHUT_WR): FIN after the tx fifo drains; reading goes on."""
        if s.conn is not None:
            self.transports[s.proto].shutdown(s.conn)

    def reset(self, s: Session, flush: bool = False) -> None:
        """Abort the connection; with `flush`, what the tx fifo holds goes out first, as far as
        the windows allow (SO_LINGER {1, 0}: Linux sent it when it was written)."""
        if s.conn is not None:
            s.app_closed = True
            t = self.transports[s.proto]
            if flush and s.tx_fifo is not None and s.tx_fifo.size:
                t.push(s.conn)
            t.reset(s.conn)

    # ------------------------------------------------------------ transport-facing callbacks
    def accept(self, listener: Session, conn) -> Session:
        s = self.alloc(listener.proto, listener.app, conn)
        s.listener = listener
        s.state = "ready"
        return s

    def connected(self, app: App, conn, opaque) -> Session:
        s = self.alloc(conn.proto, app, conn)
        s.state = "ready"
        s.opaque = opaque
        return s

    def notify_rx(self, s: Session) -> None:
        s.app.on_rx(s)

    def notify_tx_space(self, s: Session) -> None:
        if s.want_tx_space and s.tx_fifo.free:
            s.want_tx_space = False
            s.app.on_tx_space(s)

    def notify_disconnect(self, s: Session) -> None:
        if s.state in ("ready", "opened"):
            s.state = "transport-closing"
        s.app.on_disconnect(s)

    def notify_reset(self, s: Session) -> None:
        s.state = "transport-closed"
        s.app.on_reset(s)

    def transport_closed(self, s: Session) -> None:
        """Both sides are done; the transport keeps the connection (TIME_WAIT) until delete.
        If the app has closed too and nothing is left in the fifos, their rings go back now:
        TIME_WAIT holds no data, and the next connections reuse that memory (a fresh ring
        costs a page fault per page)."""
        s.state = "closed"
        if s.app_closed and s.rx_fifo is not None and not s.rx_fifo.size and not s.tx_fifo.size:
            s.rx_fifo = s.tx_fifo = Fifo(0)
