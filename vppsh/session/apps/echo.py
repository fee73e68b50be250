"""Built-in echo apps, VPP's hs_apps `test echo server` / `test echo clients` (the v23.06
builtin echo_server.c / echo_client.c: no control session, so any echo peer works).

The server echoes whatever arrives on its sessions (stream or datagram). The client is a CLI
command that runs as its CLI session's process: it opens `nclients` sessions, each sends `bytes`
bytes of VPP's test pattern (byte i = i & 0xff) and reads the echo back, then prints VPP's
summary. Data moves in big slices: the whole free part of a tx fifo per call, one numpy compare
per received chunk for `test-bytes`.
"""

from __future__ import annotations

import re
from collections import deque

import numpy as np

from ...vlib.errors import CliError
from ...wire.format import ff, format_unformat_error, unformat_memory_size
from ...wire.ip4 import parse_ip4
from ...wire.ip6 import format_ip46, parse_ip6
from ...vlib.process import WaitEvent
from ..app import App
from ..main import SessionError
from ..transport import TransportProto
from ..dgram import drop_dgram, hdr_len, next_dgram_room, recv_dgram, send_dgram

SESSION_E_INVALID = -19  # parse_uri's error code (session_error_t)
DEFAULT_SERVER_URI = "tcp://0.0.0.0/1234"
DEFAULT_CLIENT_URI = "tcp://6.0.1.1/1234"
UDP_CHUNK = 1460  # the echo client's datagram size (VPP: min(chunk, 1460))
CONNECTS_IN_FLIGHT = 128  # crude pacing of call setups, as VPP's client
MISMATCH_LOG = 8  # test-bytes errors logged per session (VPP logs every byte)
BUILTIN_FLAGS = ("builtin", "global-scope", "local-scope")
_URI = re.compile(r"(tcp|udp)://([0-9a-fA-F.:]+)/([0-9]{1,10})", re.I)


# ------------------------------------------------------------ argument helpers


def parse_uri(uri: str) -> tuple[TransportProto, int, int, bool]:
    """`tcp://10.0.0.1/1234` or `tcp://2001:db8::1/1234` -> (TransportProto.TCP, ip, port, is
    IPv6); VPP's `Uri parse error: -19` otherwise."""
    m = _URI.fullmatch(uri.strip())
    if m is None:
        raise CliError(f"Uri parse error: {SESSION_E_INVALID}")
    text, ip6 = m.group(2), ":" in m.group(2)
    try:
        ip = parse_ip6(text) if ip6 else parse_ip4(text)
    except ValueError:
        raise CliError(f"Uri parse error: {SESSION_E_INVALID}") from None
    port = int(m.group(3))
    if port > 65535:
        raise CliError(f"Uri parse error: {SESSION_E_INVALID}")
    return TransportProto[m.group(1).upper()], ip, port, ip6


def memory_size(word: str, what: str, most: int = (1 << 64) - 1, unit: str = "") -> int:
    """`what <size>`: unformat_memory_size, at most `most` (a u64), else VPP's error."""
    try:
        v = unformat_memory_size(word, unit)
    except ValueError:
        v = -1
    if not 0 <= v <= most:
        raise CliError(f"failed: unknown input `{format_unformat_error(what + ' ' + word)}'")
    return v


def fifo_size(word: str) -> int:
    """`fifo-size <n>` counts KB, as VPP's builtin echo apps do; `4m`-style sizes work too.
    At most VPP's FIFO_SEGMENT_MAX_FIFO_SIZE, 2 GB."""
    return memory_size(word, "fifo-size", 2 << 30, unit="k")


def _junk(a) -> None:
    if a.get("junk"):
        raise CliError(f"failed: unknown input `{format_unformat_error(a['junk'])}'")


def _log(vm, cls: str, msg: str) -> None:
    vm.logs.add("warn", cls, msg)


def _sm(vm):
    """The echo apps turn the session layer on if it is off (VPP's vnet_session_enable_disable)."""
    sm = vm.session
    if not sm.enabled:
        sm.enable()
        if not hasattr(sm, "rt_backend") or sm.rt_backend == "disable":
            sm.rt_backend = "none"
    return sm


# ------------------------------------------------------------ server


class EchoServer(App):
    """Echoes every byte (TCP) or datagram (UDP, to its sender, from the address it was sent
    to). A peer's FIN closes our side once everything it sent has been echoed."""

    flags = BUILTIN_FLAGS

    def __init__(self, vm, proto: str, fifo: int, no_echo: bool) -> None:
        super().__init__("echo_server", fifo, fifo)
        self.vm = vm
        self.proto = proto
        self.no_echo = no_echo
        self.uri = ""
        self.peer_closed: set = set()

    def on_rx(self, s) -> None:
        if s.proto == TransportProto.UDP:
            self._echo_dgrams(s)
        else:
            self._echo_stream(s)

    on_tx_space = on_rx

    def _echo_stream(self, s) -> None:
        sm = self.vm.session
        rx, tx = s.rx_fifo, s.tx_fifo
        if self.no_echo:
            n = rx.size
            if n:
                rx.drop(n)
                sm.rx_consumed(s)
        else:
            n = min(rx.size, tx.free)
            if n:
                sm.send(s, sm.recv(s, n))
            if rx.size:
                sm.want_tx(s)  # tx full: the rest when it drains
        if s in self.peer_closed and not rx.size and s.conn is not None:
            self.peer_closed.discard(s)
            sm.close(s)

    def _echo_dgrams(self, s) -> None:
        vm = self.vm
        while True:
            room = next_dgram_room(s)
            if room < 0:
                return
            if self.no_echo:
                drop_dgram(s)
                continue
            if s.tx_fifo.free < room:
                vm.session.want_tx(s)
                return
            d = recv_dgram(s)
            try:
                send_dgram(vm.session, s, d.data, d.rmt_ip, d.rmt_port, d.lcl_ip)
            except SessionError as e:
                _log(vm, "echo_server", f"datagram from {format_ip46(d.rmt_ip, d.ip6)}:{d.rmt_port} not echoed: {e}")

    def on_disconnect(self, s) -> None:
        self.peer_closed.add(s)
        self.on_rx(s)

    def on_reset(self, s) -> None:
        self.peer_closed.discard(s)

    def on_cleanup(self, s) -> None:
        self.peer_closed.discard(s)


def _servers(vm) -> list:
    return [a for a in vm.session.apps.all() if isinstance(a, EchoServer)]


def server(ctx, a):
    """test echo server [uri <proto://ip/port>] [no-echo] [fifo-size <KB>] [stop]"""
    vm = ctx.vm
    _junk(a)
    fifo = fifo_size(a["fifo_size"]) if "fifo_size" in a else 64 << 10
    if "private_segment_size" in a:
        memory_size(a["private_segment_size"], "private-segment-size")
    if a.get("stop"):
        running = _servers(vm) if vm.session.enabled else []
        if not running:
            _log(vm, "echo_server", "server not running")
            raise CliError("failed: server not running")
        vm.session.detach(running[-1])
        return
    sm = _sm(vm)
    uri = a.get("uri")
    if uri is None:
        uri = DEFAULT_SERVER_URI
        _log(vm, "echo_server", f"No uri provided! Using default: {uri}")
    proto, ip, port, ip6 = parse_uri(uri)
    if proto not in sm.transports:
        raise CliError(f"Uri parse error: {SESSION_E_INVALID}")
    app = EchoServer(vm, proto, fifo, bool(a.get("no_echo")))
    app.uri = uri
    sm.attach(app)
    try:
        sm.listen(app, proto, ip, port, ip6=ip6)
    except SessionError as e:
        _log(vm, "echo_server", f"failed to start listening: {e}")
        sm.detach(app)
        raise CliError("failed: server_create returned -1") from None


# ------------------------------------------------------------ client


class _Conn:
    __slots__ = ("to_send", "sent", "to_recv", "received", "mismatches")

    def __init__(self, nbytes: int, echo: bool) -> None:
        self.to_send, self.sent = nbytes, 0
        self.to_recv, self.received = (nbytes if echo else 0), 0
        self.mismatches = 0


class EchoClient(App):
    """The sessions of one `test echo clients` run; events for the CLI process queue up in
    `events` (several may arrive before the process runs again)."""

    flags = BUILTIN_FLAGS

    def __init__(self, vm, proc, proto: str, ip: int, port: int, n_clients: int, nbytes: int,
                 fifo: int, echo: bool, test_bytes: bool) -> None:
        super().__init__("echo_client", fifo, fifo)
        self.vm, self.proc = vm, proc
        self.proto, self.ip, self.port = proto, ip, port
        self.n_clients, self.nbytes = n_clients, nbytes
        self.echo, self.test_bytes = echo, test_bytes
        self.state = "starting"  # -> running -> exiting (VPP's EC_STARTING/RUNNING/EXITING)
        self.events: deque = deque()
        self.conns: dict = {}  # session -> _Conn
        self.next_ci = 0
        self._connecting = False
        self.ready = 0
        self.tx_total = self.rx_total = 0
        self.failed = False
        self.test_start = self.test_end = 0.0
        period = max(fifo, UDP_CHUNK) + 512
        self.pattern = np.tile(np.arange(256, dtype=np.uint8), period // 256 + 1)
        self.pattern_mv = memoryview(self.pattern.tobytes())

    def _signal(self, ev: str) -> None:
        self.events.append(ev)
        self.vm.signal(self.proc, ev)

    # -- connects
    def connect_more(self) -> None:
        """Open connections, at most CONNECTS_IN_FLIGHT not yet established. A UDP connect
        completes inside sm.connect (on_connected runs before it returns): no recursion."""
        if self._connecting:
            return
        self._connecting = True
        sm = self.vm.session
        try:
            while self.next_ci < self.n_clients and self.state == "starting":
                if self.next_ci - self.ready >= CONNECTS_IN_FLIGHT:
                    return
                ci = self.next_ci
                self.next_ci += 1
                try:
                    sm.connect(self, self.proto, self.ip, self.port, ci)
                except SessionError as e:
                    _log(self.vm, "echo_client", f"connect returned: {e}")
                    self.state = "exiting"
                    self._signal("connects-failed")
                    return
        finally:
            self._connecting = False

    def on_connected(self, s, err, opaque) -> None:
        sm = self.vm.session
        if self.state != "starting":
            if s is not None:
                sm.close(s)
            return
        if s is None:
            _log(self.vm, "echo_client", f"connection {opaque} failed! {err}")
            self.state = "exiting"
            self._signal("connects-failed")
            return
        self.conns[s] = _Conn(self.nbytes, self.echo)
        self.ready += 1
        if self.ready == self.n_clients:
            self.state = "running"
            self.test_start = self.vm.now()
            self._signal("connects-done")
            for c in list(self.conns):
                self._pump(c)
        else:
            self.connect_more()

    # -- data
    def _pump(self, s) -> None:
        es = self.conns.get(s)
        if es is None or self.state != "running" or s.conn is None:
            return
        sm, f, mv = self.vm.session, s.tx_fifo, self.pattern_mv
        if s.proto == TransportProto.UDP:
            while es.to_send > 0:
                n = min(es.to_send, UDP_CHUNK, f.free - hdr_len(s.conn.ip6))
                if n <= 0:
                    sm.want_tx(s)
                    break
                off = es.sent & 0xFF
                if not send_dgram(sm, s, mv[off:off + n]):
                    break
                es.sent += n
                es.to_send -= n
        elif es.to_send > 0:
            n = min(f.free, es.to_send, len(mv) - 256)
            if n > 0:
                off = es.sent & 0xFF
                n = sm.send(s, mv[off:off + n])
                es.sent += n
                es.to_send -= n
            if es.to_send > 0:
                sm.want_tx(s)
        self._maybe_done(s, es)

    on_tx_space = _pump

    def on_rx(self, s) -> None:
        es = self.conns.get(s)
        sm = self.vm.session
        if es is None or self.state != "running":
            if s.conn is not None:
                sm.close(s)
            return
        rx = s.rx_fifo
        if s.proto == TransportProto.UDP:
            while True:
                if self.test_bytes:
                    d = recv_dgram(s)
                    if d is None:
                        break
                    self._check(es, d.data)
                    n = len(d.data)
                else:
                    n = drop_dgram(s)
                    if n < 0:
                        break
                es.received += n
                es.to_recv = max(es.to_recv - n, 0)
        else:
            n = rx.size
            if n:
                if self.test_bytes:
                    self._check(es, sm.recv(s, n))
                else:
                    rx.drop(n)
                    sm.rx_consumed(s)
                es.received += n
                es.to_recv = max(es.to_recv - n, 0)
        self._maybe_done(s, es)

    def _check(self, es: _Conn, data) -> None:
        """test-bytes: every byte must be (its offset in the stream) & 0xff."""
        got = np.frombuffer(data, np.uint8)
        off = es.received & 0xFF
        want = self.pattern[off:off + len(got)] if off + len(got) <= len(self.pattern) else \
            ((np.arange(len(got), dtype=np.int64) + es.received) & 0xFF).astype(np.uint8)
        bad = np.flatnonzero(got != want)
        if len(bad):
            self.failed = True
            for i in bad[:max(0, MISMATCH_LOG - es.mismatches)].tolist():
                _log(self.vm, "echo_client", f"read {len(got)} error at byte {es.received + i}, "
                                             f"0x{int(got[i]):x} not 0x{int(want[i]):x}")
            es.mismatches += len(bad)

    def _maybe_done(self, s, es: _Conn) -> None:
        if es.to_send > 0 or es.to_recv > 0:
            return
        self.tx_total += es.sent
        self.rx_total += es.received
        del self.conns[s]
        self.vm.session.close(s)
        self.ready -= 1
        if self.ready == 0:
            self.test_end = self.vm.now()
            self._signal("test-done")

    # -- the peer goes away
    def on_disconnect(self, s) -> None:
        """The peer closed: take what it sent, then close ours (VPP's client disconnects too)."""
        if s in self.conns:
            self.on_rx(s)
        if s.conn is not None:
            self.vm.session.close(s)

    def on_reset(self, s) -> None:
        if s in self.conns:
            _log(self.vm, "echo_client", f"Reset active connection {s!r}")

    def on_cleanup(self, s) -> None:
        self.conns.pop(s, None)


def _wait(app: EchoClient, vm, timeout: float):
    """The next event the app queued, or None after `timeout` seconds."""
    deadline = vm.now() + timeout
    while not app.events:
        left = deadline - vm.now()
        if left <= 0:
            return None
        yield WaitEvent(left)
    return app.events.popleft()


def clients(ctx, a):
    """test echo clients: connect, send, read the echo, print VPP's summary."""
    vm = ctx.vm
    _junk(a)
    if vm.session.enabled and vm.session.apps.by_name("echo_client") is not None:
        raise CliError("failed: already running!")
    if ctx.session is None:
        raise CliError("failed init")
    nbytes = 8192
    if "mbytes" in a:
        nbytes = a["mbytes"] << 20
    if "gbytes" in a:
        nbytes = a["gbytes"] << 30
    if "bytes" in a:
        nbytes = memory_size(a["bytes"], "bytes")
    fifo = fifo_size(a["fifo_size"]) if "fifo_size" in a else 64 << 10
    n_clients = a.get("nclients", 1)
    syn_timeout, test_timeout = a.get("syn_timeout", 20.0), a.get("test_timeout", 20.0)
    no_return = bool(a.get("no_return"))
    sm = _sm(vm)
    uri = a.get("uri")
    if uri is None:
        uri = DEFAULT_CLIENT_URI
        _log(vm, "echo_client", f"No uri provided. Using default: {uri}")
    proto, ip, port, _ip6 = parse_uri(uri)
    if proto not in sm.transports:
        raise CliError(f"Uri parse error: {SESSION_E_INVALID}")
    app = EchoClient(vm, ctx.session.proc, proto, ip, port, n_clients, nbytes, fifo, not no_return,
                     bool(a.get("test_bytes")))
    sm.attach(app)
    out = ctx.out
    error = None
    try:
        syn_start = vm.now()
        app.connect_more()
        ev = yield from _wait(app, vm, syn_timeout)
        if ev is None:
            out(f"Timeout with only {app.ready} sessions active...")
            error = f"failed: syn timeout with {app.ready} sessions"
        elif ev == "connects-failed":
            error = "failed: connect returned"
        else:
            delta = vm.now() - syn_start
            if delta != 0.0:
                out(f"{n_clients} three-way handshakes in {ff(delta)} seconds {ff(n_clients / delta)}/s")
            out(f"Test started at {ff(app.test_start, 6)}")
            ev = yield from _wait(app, vm, test_timeout)
            if ev is None:
                out(f"Timeout at {ff(vm.now(), 6)} with {app.ready} sessions still active...")
                error = f"failed: timeout with {app.ready} sessions"
            else:
                out(f"Test finished at {ff(app.test_end, 6)}")
                delta = app.test_end - app.test_start
                if delta == 0.0:
                    out("zero delta-t?")
                    error = "failed: zero delta-t"
                else:
                    total = app.tx_total if no_return else app.rx_total
                    kind = "half-duplex" if no_return else "full-duplex"
                    out(f"{total} bytes ({total >> 20} mbytes, {total >> 30} gbytes) in {ff(delta)} seconds")
                    out(f"{ff(total / delta)} bytes/second {kind}")
                    out(f"{ff(total * 8.0 / delta / 1e9, 4)} gbit/second {kind}")
                    if app.test_bytes and app.failed:
                        error = "failed: test bytes"
        app.state = "exiting"
        yield from _drain(app, vm)
    finally:
        app.state = "exiting"
        if app.index >= 0 and sm.apps.apps[app.index] is app:
            sm.detach(app)  # sessions still open are reset
    if error is not None:
        out("test failed")
        raise CliError(error)


def _drain(app: EchoClient, vm, grace: float = 1.0):
    """Let closing sessions hand their last bytes to the transport before the app detaches
    (VPP waits 10 ms; a TCP close here may still have a window's worth in flight)."""
    deadline = vm.now() + grace
    while vm.now() < deadline and any(s.conn is not None and s.state not in ("closed", "transport-deleted")
                                      and s.tx_fifo is not None and s.tx_fifo.size for s in app.sessions):
        yield WaitEvent(0.01)
