"""The engine's side of each shim socket: the AF_UNIX end it holds, and the pump between that
end and the session's fifos.

TCP: a stream socketpair. The app's writes arrive on our end and go into the tx fifo; the rx
fifo goes out through our end. The app's shutdown(SHUT_WR) reads as EOF (we send FIN), its
last close as HUP (FIN, or RST if it left data unread, as Linux), a peer FIN as our
shutdown(SHUT_WR) (the app reads EOF). A non-blocking connect fills the app's end with filler
bytes first, so it is not writable until the handshake is over; we drain them then. A reset
or a refused connect closes our end with bytes unread in it: the kernel then shows the app's
end exactly what Linux shows a reset TCP socket (POLLERR|POLLHUP, ECONNRESET once, EOF, EPIPE).
Listener: a listening AF_UNIX socket the app owns; each accepted connection is our connect()
to it, starting with an ACCEPT_HDR. UDP: a SOCK_SEQPACKET pair, one DGRAM_HDR per datagram.
Addresses are vcl.addr's Eps; what the app reads is in its socket's family (addr.wire).
"""

from __future__ import annotations

import errno
import os
import select
import socket

from ..session.dgram import drop_dgram, recv_dgram, send_dgram
from ..session.main import SessionError
from ..session.transport import TransportProto
from .addr import Ep, conn_local, conn_remote, dgram_local, dgram_remote, footprint, from_wire, \
    session_families, v4_part, v6_part, wire
from .diag import app_socket
from .proto import (ACCEPT_HDR, AF_INET, AF_INET6, DG_ERR, DG_PKTINFO, DG_PKTINFO6, DGRAM_HDR,
                    K_LISTEN, K_NONE, K_TCP, K_UDP, NO_ADDR)
from .options import SOL_IP, SOL_IPV6, IP_PKTINFO, IPV6_RECVPKTINFO, SockOpts

IN, OUT, RDHUP, HUP, ERR = select.EPOLLIN, select.EPOLLOUT, select.EPOLLRDHUP, select.EPOLLHUP, select.EPOLLERR
PAIR_BUF = 1 << 20  # each socketpair direction buffers this much (SO_SNDBUFFORCE)
FILLER_BUF = 1  # SO_SNDBUF while connecting: the kernel's minimum
ERRNO_OF = {"connection refused": errno.ECONNREFUSED, "timed out": errno.ETIMEDOUT,
            "no route to host": errno.ENETUNREACH, "session already exists": errno.EADDRINUSE,
            "no free local port": errno.EADDRNOTAVAIL, "no source address for egress interface": errno.EADDRNOTAVAIL,
            "invalid value": errno.EINVAL, "invalid remote ip": errno.EINVAL,
            "out of fifo memory": errno.ENOBUFS}


# a transport that gives up for an errno says it as strerror does, in lower case (TCP after an
# ICMP error: "network is unreachable", "permission denied", "protocol error"...)
ERRNO_OF_STRERROR = {os.strerror(e).lower(): e for e in sorted(errno.errorcode, reverse=True)}


def session_errno(e: Exception | str) -> int:
    return ERRNO_OF.get(str(e)) or ERRNO_OF_STRERROR.get(str(e), errno.ENETUNREACH)


class VSock:
    """What every shim socket has: identity (the app-side inode), family, options, local address."""

    proto = TransportProto.TCP
    kind = K_NONE

    def __init__(self, ldp, app, opts: SockOpts | None = None, family: int = AF_INET) -> None:
        self.ldp = ldp
        self.vm = ldp.vm
        self.app = app
        self.ino = 0
        self.family = family  # AF_INET or AF_INET6: the family of every address the app sees
        self.opts = opts or SockOpts()
        self.bound: Ep | None = None  # from bind() (or the port listen() or sendto() took)
        self.locks = (False, False)  # bind() chose (the address, the port): Linux's SOCK_BIND*_LOCK
        self.session = None
        self.error = 0  # SO_ERROR
        self.b: socket.socket | None = None  # our end
        self.mask = -1  # events registered for b; -1: not registered
        self.owner = (0, -1)  # (pid, fd number) of the last request about it: where the app's end is
        app.vsocks += 1

    listening = False
    connected = False
    token = b""  # an accepted socket's, until the app's accept() names its fd

    def conn(self):
        """The session's transport connection, if there is one."""
        s = self.session
        return s.conn if s is not None else None

    def fifo_sizes(self) -> tuple[int, int]:
        return self.app.rx_fifo_size, self.app.tx_fifo_size

    def buffers_changed(self) -> None:
        """SO_SNDBUF/SO_RCVBUF: recorded (fifo sizes are the app's, from vcl.conf)."""

    @property
    def dual(self) -> bool:
        """An AF_INET6 socket that takes IPv4 too (IPV6_V6ONLY off, Linux's default)."""
        return self.family == AF_INET6 and not self.opts.v6only

    def any(self, port: int = 0) -> Ep:
        """The wildcard of the socket's family."""
        return Ep(AF_INET6, 0, port) if self.family == AF_INET6 else Ep(AF_INET, 0, port)

    def footprint(self, ep: Ep | None = None) -> tuple:
        """What the socket holds of its port (or would, bound to ep): see addr.footprint."""
        return footprint(ep or self.local(), self.dual)

    def local(self) -> Ep:
        return self.bound or self.any()

    def peer(self) -> Ep | None:
        return None

    def has_port(self) -> bool:
        """Bound, explicitly or by listen/connect/sendto (Linux's inet_num): IPV6_V6ONLY is fixed."""
        return (self.bound is not None and self.bound.port != 0) or self.session is not None

    def can_reach(self, ep: Ep) -> int:
        """0 if this socket may send to ep, else connect()'s errno as Linux gives it: an AF_INET6
        socket with IPV6_V6ONLY reaches no IPv4 peer, nothing reaches a family the session layer
        does not carry for the protocol (as a host with no route of that family)."""
        if ep.fam == AF_INET and self.family == AF_INET6 and self.opts.v6only:
            return errno.ENETUNREACH
        if ep.fam not in session_families(self.vm.session, self.proto):
            return errno.ENETUNREACH
        return 0

    def conn_opts(self, family: int | None = None):
        """The options the socket's connection takes: those of its traffic's family (IPv4
        traffic of an AF_INET6 socket takes IP_TTL/IP_TOS, as on Linux)."""
        if family is None:
            c = self.conn()
            family = AF_INET6 if c is not None and c.ip6 else AF_INET
        return self.opts.conn_opts(family)

    # ------------------------------------------------------------ our end in the engine's epoll
    def watch(self, mask: int) -> None:
        if self.b is None or mask == self.mask:
            return
        fd = self.b.fileno()
        if mask < 0:
            self.vm.del_fd(fd)
        elif self.mask < 0:
            self.vm.add_fd(fd, mask, self.on_event)
        else:
            self.vm.mod_fd(fd, mask)
        self.mask = mask

    def on_event(self, ev: int) -> None:
        raise NotImplementedError

    def release(self) -> None:
        """The app's last fd is gone: forget the socket (its session may live on, closing)."""
        if self.b is not None:
            self.watch(-1)
            self.b.close()
            self.b = None
        self.ldp.forget(self)


def new_pair(kind: int) -> tuple[socket.socket, socket.socket]:
    a, b = socket.socketpair(socket.AF_UNIX, kind)
    for s in (a, b):
        s.setsockopt(socket.SOL_SOCKET, 32, PAIR_BUF)  # SO_SNDBUFFORCE (the engine is root)
        s.setsockopt(socket.SOL_SOCKET, 33, PAIR_BUF)  # SO_RCVBUFFORCE
    b.setblocking(False)
    return a, b


class TcpSock(VSock):
    kind = K_TCP

    def __init__(self, ldp, app, b: socket.socket, opts: SockOpts | None = None, family: int = AF_INET) -> None:
        super().__init__(ldp, app, opts, family)
        self.b = b
        self.state = "new"  # new | connecting | connected | failed | reset | closed
        self.a_dup: socket.socket | None = None  # the app's end, while the filler is in it
        self.filler = 0
        self.reading = True
        self.want_out = False
        self.app_eof = False  # the app shut its writing side (or closed)
        self.hup = False  # the app's last fd is closed
        self.unread_reset = False  # the app closed with data it had not read
        self.rx_shut = False  # the app stopped reading (SHUT_RD, or gone)
        self.peer_fin = False
        self.fin_done = False
        self.token = b""
        self.connect_seen = True  # accepted sockets; connect() clears it until it is reported
        self.half = None  # the handshake's connection, while connecting
        self.was: Ep | None = None  # the local end of a connection that is gone (getsockname)
        self.watch(IN | RDHUP)

    def conn(self):
        return self.session.conn if self.session is not None else self.half

    @property
    def connected(self) -> bool:
        return self.state == "connected"

    def local(self) -> Ep:
        c = self.conn()
        if c is not None:
            return conn_local(c)
        return self.was or self.bound or self.any()

    def peer(self) -> Ep | None:
        c = self.conn()
        if c is not None and self.state == "connected":
            return conn_remote(c)
        return None

    def has_port(self) -> bool:
        return super().has_port() or self.state != "new"

    # ------------------------------------------------------------ connect
    def connect(self, ep: Ep, a_fd: int) -> int:
        """Start the handshake; the app's fd turns writable when it is over."""
        if self.state == "connecting":
            return errno.EALREADY
        if self.state == "connected":
            if self.connect_seen:
                return errno.EISCONN
            self.connect_seen = True  # as Linux: the first connect() after an async one is 0
            return 0
        if self.state == "failed":  # (not yet reported: LdpMain.reconnect starts a new try)
            self.connect_seen = True  # as Linux: the next connect() reports the failure, once
            e, self.error = self.error or errno.ECONNABORTED, 0
            return e
        if self.state != "new":
            return errno.EISCONN  # as Linux after a reset or close
        err = self.can_reach(ep)
        if err:
            return err
        dev = -1
        if ep.link_local:  # as tcp_v6_connect: the scope given, or the one bind() took
            dev = ep.scope or (self.bound.scope if self.bound is not None else 0)
            if not dev or (self.bound is not None and self.bound.scope and ep.scope and ep.scope != self.bound.scope):
                return errno.EINVAL
            if dev not in self.vm.ip6.link_local:  # no such interface, or no IPv6 on it: no fe80::/64
                return errno.ENETUNREACH
        if not ep.ip or not ep.port:
            return errno.ECONNREFUSED if not ep.port else errno.ENETUNREACH
        lip = 0
        if self.bound is not None and self.bound.ip:  # the source bind() chose, of the traffic's family
            if self.bound.fam != ep.fam:  # as tcp_v6_connect: a mapped source reaches no native peer;
                return errno.EAFNOSUPPORT if ep.fam == AF_INET6 else errno.ENETUNREACH  # a native one no IPv4
            lip = self.bound.ip
        lport = self.bound.port if self.bound is not None else 0
        try:
            self.half = self.vm.session.connect(self.app, TransportProto.TCP, ep.ip, ep.port, self,
                                                self.conn_opts(ep.fam), lip, lport, dev)
        except SessionError as e:
            return session_errno(e)
        self.state = "connecting"
        self.connect_seen = False
        # a dup shares the app's open file: never change its flags (O_NONBLOCK is the app's)
        a = socket.socket(fileno=os.dup(a_fd))
        a.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, FILLER_BUF)
        chunk = bytes(4096)
        try:
            while True:
                self.filler += a.send(chunk, socket.MSG_DONTWAIT)
        except BlockingIOError:
            pass
        self.a_dup = a
        self._rewatch()
        return errno.EINPROGRESS

    def _filler_out(self) -> None:
        if self.a_dup is not None:
            self.a_dup.setsockopt(socket.SOL_SOCKET, 32, PAIR_BUF)
            self.a_dup.close()
            self.a_dup = None
        left = self.filler
        while left > 0 and self.b is not None:
            try:
                left -= len(self.b.recv(min(left, 65536)))
            except BlockingIOError:
                break
        self.filler = left

    def on_connected(self, s, err: str | None) -> None:
        if self.half is not None:
            self.was = conn_local(self.half)  # as Linux: a failed connect keeps its source's name
        self.half = None
        if s is None:
            self.state = "failed"
            self.error = session_errno(err or "connection refused")
            self.fail_app_side()  # the filler is still in our end
            return
        self._filler_out()
        if self.b is None:  # the app closed while connecting
            self.vm.session.close(s)
            return
        self.attach(s)

    def attach(self, s) -> None:
        self.session = s
        s.opaque = self
        self.state = "connected"
        self.vm.session.set_options(s.conn, self.conn_opts())
        self.pull()
        self.push()

    # ------------------------------------------------------------ events on our end
    def on_event(self, ev: int) -> None:
        if ev & HUP:
            self.hup = True
        if ev & OUT:
            self.push()
        if ev & (IN | RDHUP | HUP | ERR):
            self.pull()
        if self.hup and self.app_eof and self.b is not None and self.state == "connected":
            # a HUP after the app's shutdown(SHUT_WR): its close, or its shutdown(SHUT_RDWR)
            if not self.ldp.alive(self.ino):
                return self.app_gone()
            self.watch(-1)  # HUP would fire forever; the GC notices the close
            self.ldp.orphan(self)
            return
        self._rewatch()

    def _rewatch(self) -> None:
        if self.b is None:
            return
        if self.hup and (not self.reading or self.state == "connecting"):
            self.watch(-1)  # waiting for fifo room or the handshake; HUP would fire forever
            return
        if self.state == "connecting":
            self.watch(0)  # the filler is in there: only a HUP matters now
            return
        self.watch((IN | RDHUP if self.reading and not self.app_eof else 0) | (OUT if self.want_out else 0))

    def pull(self, drain: bool = False) -> None:
        """App -> tx fifo, until EAGAIN (or a short read, unless `drain`), EOF or a full fifo."""
        b = self.b
        if b is None:
            return
        s = self.session
        if self.state == "connecting":
            self._rewatch()
            return
        if s is None or self.state != "connected":
            self._discard()  # written before connect or after a reset: nobody to send it to
            return
        f = s.tx_fifo
        moved = 0
        eof = False
        while not self.app_eof:
            if f.free == 0:
                self.reading = False
                self.vm.session.want_tx(s)
                break
            v = f.write_view()
            try:
                n = b.recv_into(v)
            except BlockingIOError:
                break
            except ConnectionResetError:
                self.unread_reset = True
                eof = True
                break
            if n == 0:
                eof = True
                break
            f.commit(n)
            moved += n
            if n < len(v) and not drain:
                break  # drained: spare the recv that would say EAGAIN (epoll is level-triggered)
        if moved:
            self.vm.session.schedule_tx(s)
        if eof:
            self._app_eof()
        self._rewatch()

    def _discard(self) -> None:
        b = self.b
        while True:
            try:
                d = b.recv(65536)
            except BlockingIOError:
                break
            except ConnectionResetError:
                d = b""
            if not d:
                self.app_eof = True
                break
        if self.app_eof and self.hup:
            self.app_gone()
        else:
            self._rewatch()

    def _app_eof(self) -> None:
        """Everything the app wrote is in the tx fifo: FIN after it (or RST on close)."""
        self.app_eof = True
        s = self.session
        if self.hup or self.unread_reset:
            self.app_gone()
        elif s is not None:
            self.vm.session.shutdown(s)

    def app_gone(self) -> None:
        """The app closed its last fd: close the connection like Linux (RST if it left data
        unread), and forget the socket."""
        s = self.session
        self.app_eof = self.hup = True
        if s is not None and self.state == "connected":
            if self.unread_reset or (s.rx_fifo is not None and s.rx_fifo.size):
                self.vm.session.reset(s, flush=True)
            else:
                self.vm.session.close(s)
            s.opaque = None
        if self.state != "connecting":  # (connecting: on_connected closes what the handshake brings)
            self.state = "closed"
        self.release()

    def push(self) -> None:
        """rx fifo -> app, until EAGAIN; a peer FIN follows the last byte."""
        s = self.session
        b = self.b
        if s is None or b is None:
            return
        f = s.rx_fifo
        sent = 0
        self.want_out = False
        while f.size:
            if self.rx_shut:
                sent += f.drop(f.size)
                break
            v = f.read_view()
            try:
                n = b.send(v)
            except BlockingIOError:
                self.want_out = True
                break
            except (BrokenPipeError, ConnectionResetError):
                self.rx_shut = True
                continue
            f.drop(n)
            sent += n
            if n < len(v):
                self.want_out = True
                break
        if sent and s.conn is not None:
            self.vm.session.rx_consumed(s)
        if self.peer_fin and not f.size and not self.fin_done:
            self._shut_app_side()
        self._rewatch()

    def _shut_app_side(self) -> None:
        self.fin_done = True
        try:
            self.b.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    # ------------------------------------------------------------ session callbacks
    def on_tx_space(self) -> None:
        self.reading = True
        self.pull()

    def on_disconnect(self) -> None:
        self.peer_fin = True
        self.push()

    def on_reset(self, s) -> None:
        why = getattr(s.conn, "abort_reason", None) if s.conn is not None else None
        # as Linux's tcp_reset: EPIPE in CLOSE_WAIT; a timeout after an ICMP error gives that error
        self.error = errno.ETIMEDOUT if why == "timed out" else ERRNO_OF_STRERROR[why] if why in ERRNO_OF_STRERROR \
            else errno.EPIPE if self.peer_fin else errno.ECONNRESET
        self.state = "reset"
        self.push()  # what arrived before the RST is still the app's
        self.fail_app_side()

    fail_pending = False  # reset before the app accepted it: done when it does

    def fail_app_side(self, a: socket.socket | None = None) -> None:
        """Close our end with bytes unread in it, so the kernel marks the app's end ECONNRESET
        and shut both ways. The bytes: the connect filler, or one we write through a copy of
        the app's fd (pidfd_getfd). Without a copy the app reads EOF."""
        b = self.b
        if b is None:
            return
        if self.token and a is None:  # still in the listener's queue: nobody holds it yet
            self.fail_pending = True
            return
        if a is None:
            a, self.a_dup = self.a_dup, None
        if a is None and self.owner[0]:
            a = app_socket(self.owner[0], self.owner[1], self.ino)
        if a is None:
            if not self.fin_done:
                self._shut_app_side()
            return
        if not self.filler:
            try:
                a.send(b"\0", socket.MSG_DONTWAIT | socket.MSG_NOSIGNAL)
            except OSError:
                pass  # our end is full of the app's bytes: unread all the same
        a.close()
        self.filler = 0
        self.watch(-1)
        b.close()
        self.b = None
        self.ldp.orphan(self)  # the app's end lives on until its last close

    def on_cleanup(self) -> None:
        s = self.session
        if s is not None and s.conn is not None:
            self.was = conn_local(s.conn)
        self.session = None

    def abort(self) -> None:
        """SO_LINGER {1, 0} close: what the app wrote goes out as far as the window allows
        (Linux sent it when it was written), then RST."""
        s = self.session
        if s is not None:
            self.pull()
            s.opaque = None
            self.vm.session.reset(s, flush=True)
            self.session = None
        self.state = "closed"

    def release(self) -> None:
        if self.a_dup is not None:
            self.a_dup.close()
            self.a_dup = None
        super().release()


class ListenSock(VSock):
    """A TCP listener: the app holds a listening AF_UNIX socket; we connect to it per accept.
    It listens through a session-layer listener of each family its footprint holds (a
    dual-stack socket on :: one of each, a v6-only or an AF_INET one one), all feeding the
    same AF_UNIX listener. Listeners sharing a port with SO_REUSEPORT share the session of
    each family they have in common; each SYN picks one of that session's listeners by its
    4-tuple, as Linux does, for IPv4 among the AF_INET ones if there are any (Linux's lookup
    scores an IPv4 socket above a dual-stack one). A family the session layer does not carry
    for TCP has no session: the listener listens, and nothing of that family comes."""

    kind = K_LISTEN
    listening = True

    def __init__(self, ldp, app, opts: SockOpts, family: int, bound: Ep, addr: bytes,
                 parts: dict | None = None) -> None:
        """parts: {ip6: (the session-layer listener, the ListenSock whose it is or None)}."""
        super().__init__(ldp, app, opts, family)
        self.bound = bound
        self.addr = addr  # the listening socket's abstract name, in the private namespace
        self.sessions: dict = {}  # ip6 -> the session-layer listener of that family
        self.groups: dict = {}  # ip6 -> the ListenSocks sharing that session (SO_REUSEPORT)
        for ip6, (s, twin) in (parts or {}).items():
            g = twin.groups[ip6] if twin is not None else []
            g.append(self)
            self.sessions[ip6], self.groups[ip6] = s, g
            s.opaque = g[0]
        self.session = self.sessions.get(False) or self.sessions.get(True)

    def local(self) -> Ep:
        return self.bound

    def has_port(self) -> bool:
        return True

    def on_accept(self, s) -> None:
        conn = s.conn
        ip6 = s.listener is not None and s.listener is self.sessions.get(True)
        g = self.groups.get(ip6) or [self]
        if not ip6:
            g = [x for x in g if x.family == AF_INET] or g
        ls = g[hash((conn.rmt_ip, conn.rmt_port)) % len(g)] if len(g) > 1 else g[0]
        c = None
        try:
            c = ls.ldp.private.connector()
            c.setsockopt(socket.SOL_SOCKET, 32, PAIR_BUF)
            c.setsockopt(socket.SOL_SOCKET, 33, PAIR_BUF)
            c.connect(ls.addr)
        except OSError as e:  # out of fds (EMFILE), backlog full (EAGAIN), or the app closed the listener
            if c is not None:
                c.close()
            s.opaque = None
            self.vm.session.reset(s)
            if e.errno in (errno.ECONNREFUSED, errno.ENOENT):
                ls.ldp.listener_gone(ls)
            return
        vs = TcpSock(ls.ldp, ls.app, c, ls.opts.inherit(), ls.family)
        vs.token = ls.ldp.new_token(vs)
        try:
            c.send(ACCEPT_HDR.pack(vs.token, *wire(conn_remote(conn), ls.family), *wire(conn_local(conn), ls.family)))
        except OSError:  # closed between connect and send
            s.opaque = None
            vs.release()
            self.vm.session.reset(s)
            return
        vs.attach(s)

    def session_gone(self, s) -> None:
        """The session layer freed one of the session-layer listeners (`session disable`
        detaches every app): each ListenSock on it forgets it."""
        for ip6, mine in list(self.sessions.items()):
            if mine is s:
                for ls in list(self.groups[ip6]):
                    del ls.sessions[ip6], ls.groups[ip6]
                    ls.session = ls.sessions.get(False) or ls.sessions.get(True)

    def close(self) -> None:
        for ip6, g in self.groups.items():
            s = self.sessions[ip6]
            if self in g:
                g.remove(self)
            if g:  # the others listen on
                s.opaque = g[0]
            else:
                s.opaque = None
                if s.conn is not None:
                    self.vm.session.unlisten(s)
        self.sessions, self.groups, self.session = {}, {}, None
        self.release()


class UdpSock(VSock):
    """A UDP socket: unbound, bound or connected. Bound, it takes a connectionless listener
    session of each family its footprint holds (a dual-stack socket on :: one of each, as Linux
    gives it datagrams of both; an AF_INET one, a v6-only one or one bound to an address: one),
    and each datagram it sends goes through the session of its destination's family. Sockets
    bound to one port with SO_REUSEADDR/SO_REUSEPORT share the session of each family they have
    in common; the last bound gets the datagrams (Linux's lookup finds it first), for IPv4 an
    AF_INET one before a dual-stack one (it scores higher). Connected, it has one session, of
    its peer's family."""

    proto = TransportProto.UDP
    kind = K_UDP

    def __init__(self, ldp, app, b: socket.socket, family: int = AF_INET) -> None:
        super().__init__(ldp, app, family=family)
        self.b = b
        self.pending: tuple[bytes, Ep | None, Ep | None] | None = None  # (data, to, from) waiting for fifo room
        # bound: ip6 -> the listener session of that family, and the sockets sharing it; `session`
        # is then the first of them (connected: the connection's, and these are empty)
        self.sessions: dict[bool, object] = {}
        self.groups: dict[bool, list[UdpSock]] = {}
        self.watch(IN)

    @property
    def connected(self) -> bool:
        c = self.session.conn if self.session is not None else None
        return c is not None and c.connected

    def local(self) -> Ep:
        if self.connected:
            return conn_local(self.session.conn)
        return self.bound or self.any()

    def peer(self) -> Ep | None:
        return conn_remote(self.session.conn) if self.connected else None

    def bind(self, ep: Ep) -> None:
        """Take a listener session for each family of the footprint that UDP carries (with the
        sockets already bound to that address and port, if any: LdpMain judged they may share).
        Raise SessionError if the port is taken; nothing is left half-bound then."""
        sm = self.vm.session
        carried = session_families(sm, TransportProto.UDP)
        port = ep.port
        try:
            for fam, ip in self.footprint(ep):
                if fam not in carried:
                    continue
                ip6 = fam == AF_INET6
                part = v6_part if ip6 else v4_part
                twin = next((o for o in self.ldp.by_ino.values() if isinstance(o, UdpSock) and o is not self and
                             ip6 in o.groups and not o.connected and o.local().port == port and
                             part(o.footprint()) == ip), None) if port else None
                if twin is not None:
                    ls, g = twin.sessions[ip6], twin.groups[ip6]
                else:
                    ls = sm.listen(self.app, TransportProto.UDP, ip, port, exclusive=False, ip6=ip6)
                    g = []
                g.append(self)
                self.sessions[ip6], self.groups[ip6] = ls, g
                ls.opaque = _receiver(g)
                port = ls.conn.lcl_port
        except SessionError:
            self._leave()
            raise
        self.session = next(iter(self.sessions.values()), None)
        self.bound = Ep(ep.fam, ep.ip, port, ep.scope)

    def _leave(self) -> None:
        """Off its sessions; the last socket on a session closes it."""
        s = self.session
        self.session = None
        if s is not None and not self.sessions:  # a connected session: ours alone
            s.opaque = None
            self.vm.session.close(s)
        for ip6, g in self.groups.items():
            ls = self.sessions[ip6]
            if self in g:
                g.remove(self)
            if g:
                if ls.opaque is self:
                    ls.opaque = _receiver(g)
            else:
                ls.opaque = None
                self.vm.session.close(ls)
        self.sessions, self.groups = {}, {}

    def connect(self, ep: Ep) -> int:
        err = self.can_reach(ep)
        if err:
            return err
        dev = -1
        if ep.link_local:  # as ip6_datagram_connect: the scope given, or the one bind() took
            dev = ep.scope or (self.bound.scope if self.bound is not None else 0)
            if not dev or (self.bound is not None and self.bound.scope and ep.scope and ep.scope != self.bound.scope):
                return errno.EINVAL
            if dev not in self.vm.ip6.link_local:
                return errno.ENETUNREACH
        if not ep.port:
            return errno.ECONNREFUSED
        sm = self.vm.session
        lep = self.local()
        lip = 0
        if lep.ip:  # the source bind() chose, of the traffic's family
            if lep.fam != ep.fam:
                return errno.EAFNOSUPPORT if ep.fam == AF_INET6 else errno.ENETUNREACH
            lip = lep.ip
        how = {"sw_if_index": dev} if dev >= 0 else {}
        try:
            self._leave()  # frees the port for the connected session
            c = sm.connect(self.app, TransportProto.UDP, ep.ip, ep.port, self, lcl_ip=lip, lcl_port=lep.port, **how)
        except SessionError as e:
            self.session = None
            if lep.port:
                self.bind(lep)
            return session_errno(e)
        self.session = c.session
        self.session.opaque = self
        self.vm.session.set_options(c, self.conn_opts())
        self.push()
        return 0

    def disconnect(self) -> None:
        """connect(AF_UNSPEC): as Linux's __udp_disconnect, what bind() chose stays, the rest goes
        (an address or port the connect picked)."""
        if self.connected:
            lport = self.local().port
            s = self.session
            s.opaque = None
            self.vm.session.close(s)
            self.session = None
            addr_locked, port_locked = self.locks
            ep = self.bound if addr_locked and self.bound is not None else self.any()
            if port_locked:
                self.bind(ep._replace(port=lport))
            else:
                self.bound = ep if addr_locked else None

    def on_connected(self, s, err) -> None:
        pass  # UDP connect is synchronous

    # ------------------------------------------------------------ data
    def on_event(self, ev: int) -> None:
        if ev & OUT:
            self.push()
        if ev & (IN | HUP | ERR):
            self.pull(ev)

    def _sendable(self, to: Ep | None, src: Ep | None) -> bool:
        """What the shim lets through, checked again: a destination this socket reaches, a
        source address (IP_PKTINFO, IPV6_PKTINFO) of ours of the datagram's family."""
        if to is not None and self.can_reach(to):
            return False
        if src is None:
            return True
        fam = to.fam if to is not None else self.peer().fam if self.connected else AF_INET
        return src.fam == fam and self.ldp.is_local(src)

    def _session_to(self, to: Ep | None):
        """The session a datagram to `to` leaves by: the connection's, or the bound session of
        its family (None: the socket holds none of that family)."""
        if self.connected or to is None:
            return self.session
        return self.sessions.get(to.fam == AF_INET6)

    def pull(self, ev: int = 0) -> None:
        b = self.b
        while b is not None:
            if self.pending is None:
                try:
                    msg = b.recv(65536 + DGRAM_HDR.size)
                except BlockingIOError:
                    break
                except OSError:
                    msg = b""
                if len(msg) < DGRAM_HDR.size:  # the app closed its socket
                    self.close()
                    return
                rfam, rport, _rs, rraw, lfam, _lp, _ls, lraw, _ifx, _fl, _err = DGRAM_HDR.unpack_from(msg)
                to, src = from_wire(rfam, rraw, rport), from_wire(lfam, lraw, 0)
                if (rfam and to is None) or (lfam and src is None):  # not the shim's: nothing to send
                    continue
                self.pending = (msg[DGRAM_HDR.size:], to if rfam else None, src if lfam else None)
            data, to, src = self.pending
            if not self._sendable(to, src):
                self.pending = None
                continue
            if not self.has_port():
                self.ldp.bind(self, self.bound or self.any())  # sendto() on an unbound socket binds it, as Linux
            s = self._session_to(to)
            if s is None:  # (no part of that family, or no port left)
                self.pending = None
                continue
            try:
                n = send_dgram(self.vm.session, s, data, to.ip if to else None, to.port if to else None,
                               src.ip if src else 0)
            except SessionError:
                self.pending = None  # undeliverable: dropped, as a kernel's UDP would
                continue
            if n == 0 and data:
                self.watch(0)  # the tx fifo is full: on_tx_space resumes
                return
            self.pending = None
        if self.b is not None:
            self.watch(IN | (OUT if self.mask > 0 and self.mask & OUT else 0))

    def _pktinfo(self) -> tuple[int, int]:
        """The cmsgs the app asked for: (for IPv4 datagrams, for IPv6 ones)."""
        plain = self.opts.plain
        v6 = DG_PKTINFO6 if self.family == AF_INET6 and plain.get((SOL_IPV6, IPV6_RECVPKTINFO)) else 0
        return (DG_PKTINFO if plain.get((SOL_IP, IP_PKTINFO)) else 0) | v6, v6

    def _rx_ifindex(self, rmt: Ep) -> int:
        """The interface a datagram from rmt came in on, as pktinfo reports it: vppsh's
        sw_if_index of the interface that faces the sender."""
        try:
            return self.vm.session.source_address(rmt.ip)[0]
        except SessionError:
            return 0

    def push(self) -> None:
        """The datagrams its sessions received, into the app's end (each with its addresses, in
        the socket's family, and the pktinfo the app asked for that datagram's family)."""
        b = self.b
        if b is None:
            return
        fam = self.family
        want4, want6 = self._pktinfo()
        want_out = False
        for s in (self.sessions.values() if self.sessions else (self.session,)):
            if s is None or s.rx_fifo is None:
                continue
            f = s.rx_fifo
            while (d := recv_dgram(s, keep=True)) is not None:
                rmt = dgram_remote(d)
                want = want6 if d.ip6 else want4
                hdr = DGRAM_HDR.pack(*wire(rmt, fam), *wire(dgram_local(d), fam),
                                     self._rx_ifindex(rmt) if want else 0, want, 0)
                try:
                    b.send(hdr + d.data)
                except BlockingIOError:
                    want_out = True
                    break
                except OSError:
                    f.drop(f.size)
                    break
                drop_dgram(s)
            if want_out:
                break
        self.watch((IN if self.pending is None else 0) | (OUT if want_out else 0))

    def on_tx_space(self) -> None:
        self.pull()

    def on_reset(self, s) -> None:
        self.session = None

    def on_error(self, err: int) -> None:
        """An ICMP error: the app's next recv() reports it (in order with the datagrams)."""
        if self.b is not None:
            try:
                self.b.send(DGRAM_HDR.pack(*NO_ADDR, *NO_ADDR, 0, DG_ERR, err))
            except OSError:
                pass  # its end is full: Linux too would have only the latest error

    def session_gone(self, s) -> None:
        """The session layer freed one of the socket's sessions (`session disable` detaches every
        app): each socket on it forgets it."""
        if s is self.session and not self.sessions:  # its connection's
            self.session = None
            return
        for ip6, mine in list(self.sessions.items()):
            if mine is s:
                for u in list(self.groups[ip6]):
                    del u.sessions[ip6], u.groups[ip6]
                    u.session = next(iter(u.sessions.values()), None)

    def close(self) -> None:
        self._leave()
        self.release()


def _receiver(group: list[UdpSock]) -> UdpSock:
    """Who of the sockets sharing a bound session gets its datagrams: the last bound, an
    AF_INET one before a dual-stack one."""
    v4 = [x for x in group if x.family == AF_INET]
    return (v4 or group)[-1]
