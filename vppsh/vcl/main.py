"""LdpMain: the shim's apps and sockets, and what each control request does.

Sockets are found by the inode of the fd the request carries (the shim passes the fd itself,
so only a process holding a socket can act on it, and the same socket is found from any
process that shares it: after fork, dup or exec). One LdpApp per attached process, named as
VPP names LDP apps: `<program>-ldp-<pid>`.
"""

from __future__ import annotations

import errno
import os
import secrets
import socket

from ..session.app import DEFAULT_FIFO_SIZE, App
from ..session.budget import DEFAULT_SEGMENT_SIZE
from ..session.main import SessionError
from ..session.transport import TransportProto, is_ip6
from . import options
from .addr import Ep, from_wire, overlap, session_families, v4_part, v6_part
from .diag import UnixDiag
from .proto import AF_INET, AF_INET6, CAP_IP6
from .private import PrivateNet
from .socks import ListenSock, TcpSock, UdpSock, VSock, new_pair
import fcntl
import termios

GC_INTERVAL = 0.5  # s: how soon a listener whose app died is noticed
SOMAXCONN = 4096


class LdpApp(App):
    def __init__(self, ldp, name: str, pid: int, rx: int, tx: int, segment: int) -> None:
        super().__init__(f"{name}-ldp-{pid}", rx or DEFAULT_FIFO_SIZE, tx or DEFAULT_FIFO_SIZE,
                         segment_size=segment or DEFAULT_SEGMENT_SIZE)
        self.ldp = ldp
        self.pid = pid
        self.vsocks = 0  # sockets this process created that are still open somewhere
        self.clients = 1  # control connections (one per process)

    def on_accept(self, s) -> None:
        ls = s.listener.opaque if s.listener is not None else None
        if ls is None:
            self.ldp.vm.session.reset(s)
        else:
            ls.on_accept(s)

    def on_connected(self, s, err, opaque) -> None:
        if opaque is not None:
            opaque.on_connected(s, err)
        elif s is not None:
            self.ldp.vm.session.close(s)

    def on_rx(self, s) -> None:
        vs = s.opaque
        if vs is not None:
            vs.push()
        elif s.rx_fifo is not None and s.rx_fifo.size:  # nobody reads any more
            s.rx_fifo.drop(s.rx_fifo.size)

    def on_tx_space(self, s) -> None:
        if s.opaque is not None:
            s.opaque.on_tx_space()

    def on_disconnect(self, s) -> None:
        vs = s.opaque
        if isinstance(vs, TcpSock):
            vs.on_disconnect()
        elif vs is None:
            self.ldp.vm.session.close(s)

    def on_reset(self, s) -> None:
        if s.opaque is not None:
            s.opaque.on_reset(s)

    def on_error(self, s, err: int) -> None:
        if isinstance(s.opaque, UdpSock):
            s.opaque.on_error(err)

    def on_cleanup(self, s) -> None:
        vs = s.opaque
        if isinstance(vs, (ListenSock, UdpSock)):
            vs.session_gone(s)
        elif vs is not None and vs.session is s:
            vs.on_cleanup()
        self.ldp.app_check(self)


class LdpMain:
    def __init__(self, vm) -> None:
        self.vm = vm
        self.by_ino: dict[int, VSock] = {}
        self.tokens: dict[bytes, TcpSock] = {}
        self.listeners: set[ListenSock] = set()
        self.orphans: set[TcpSock] = set()  # sockets we no longer watch (reset, or shut both ways)
        self.diag: UnixDiag | None = None
        self.private = PrivateNet(vm)  # where listeners are named and accepted connections made
        self._gc_armed = False

    # ------------------------------------------------------------ bookkeeping
    def add(self, vs: VSock, ino: int) -> None:
        vs.ino = ino
        self.by_ino[ino] = vs

    def forget(self, vs: VSock) -> None:
        if self.by_ino.get(vs.ino) is vs:
            del self.by_ino[vs.ino]
        if vs.token:
            self.tokens.pop(vs.token, None)
            vs.token = b""
        self.listeners.discard(vs)
        self.orphans.discard(vs)
        if vs.app is not None:
            vs.app.vsocks -= 1
            self.app_check(vs.app)
            vs.app = None

    def new_token(self, vs: TcpSock) -> bytes:
        """What names an accepted connection to the program that accepts it: random, so that
        no other process can claim the connection by guessing it."""
        t = secrets.token_bytes(16)
        self.tokens[t] = vs
        return t

    def app_check(self, app: LdpApp) -> None:
        """An app whose process is gone leaves `show app` with its last socket."""
        if app.clients <= 0 and app.vsocks <= 0 and not app.sessions:
            self.vm.session.apps.remove(app)

    def client_gone(self, app: LdpApp | None) -> None:
        if app is not None:
            app.clients -= 1
            self.gc()
            self.app_check(app)

    def listener_gone(self, ls: ListenSock) -> None:
        ls.close()

    def orphan(self, vs: TcpSock) -> None:
        self.orphans.add(vs)
        self._arm_gc()

    def alive(self, ino: int) -> bool:
        """Is the app's end open anywhere? Socketpairs are ours, listeners and accepted
        connections the private namespace's: each namespace's sockets are its own to ask about."""
        if self.diag is None:
            self.diag = UnixDiag()
        return self.diag.alive(ino) or self.private.alive(ino)

    def gc(self) -> None:
        """Listeners and orphans whose app side is closed everywhere (the kernel says so) go."""
        for ls in list(self.listeners):
            if not self.alive(ls.ino):
                ls.close()
        for vs in list(self.orphans):
            if not self.alive(vs.ino):
                vs.app_gone()

    def closed(self, ino: int) -> None:
        """The shim closed an fd of a listener: if that was the last one, stop listening now,
        so the next SYN is refused as Linux refuses it."""
        vs = self.by_ino.get(ino)
        if isinstance(vs, ListenSock) and not self.alive(ino):
            vs.close()

    def _gc_tick(self) -> None:
        self._gc_armed = False
        self.gc()
        self._arm_gc()

    def _arm_gc(self) -> None:
        if (self.listeners or self.orphans) and not self._gc_armed:
            self._gc_armed = True
            self.vm.timer(GC_INTERVAL, self._gc_tick)

    def stop(self) -> None:
        for vs in list(self.by_ino.values()) + list(self.tokens.values()):
            if isinstance(vs, ListenSock):
                vs.close()
            elif vs.b is not None:
                vs.release()
        if self.diag is not None:
            self.diag.close()
            self.diag = None
        self.private.close()

    # ------------------------------------------------------------ requests
    def hello(self, client, pid: int, name: str, rx: int, tx: int, segment: int):
        """Attach the process as an app: fifo sizes and segment size from its vcl.conf (0: the
        defaults), within the engine's bounds (the reply says what was granted)."""
        sm = self.vm.session
        if not sm.enabled:
            return errno.ENETDOWN, "session layer is not enabled", None
        app = LdpApp(self, name or "app", pid, rx, tx, segment)
        sm.attach(app)
        client.app = app
        return 0, "", app

    def socket(self, app: LdpApp, kind: int, family: int = AF_INET) -> tuple[int, socket.socket | None]:
        if family not in (AF_INET, AF_INET6):
            return errno.EAFNOSUPPORT, None
        if kind == socket.SOCK_STREAM:
            a, b = new_pair(socket.SOCK_STREAM)
            vs: VSock = TcpSock(self, app, b, family=family)
        elif kind == socket.SOCK_DGRAM:
            a, b = new_pair(socket.SOCK_SEQPACKET)
            vs = UdpSock(self, app, b, family)
        else:
            return errno.EPROTONOSUPPORT, None
        self.add(vs, os.fstat(a.fileno()).st_ino)
        return 0, a

    def caps(self) -> int:
        """What the HELLO reply tells the shim about this engine (proto.CAP_*): CAP_IP6, that
        datagrams to native IPv6 are carried (the shim's sendto() refuses them at once if not;
        TCP's connect() asks the engine)."""
        return CAP_IP6 if AF_INET6 in session_families(self.vm.session, TransportProto.UDP) else 0

    def address(self, vs: VSock, family: int, raw: bytes, port: int, udp_connect: bool = False,
                scope: int = 0) -> tuple[int, Ep | None]:
        """The address a request carries, for this socket: Linux's errno for a family the call
        does not take (the shim checked the sockaddr's form). An AF_INET6 socket takes IPv4
        sockaddrs in a UDP connect() (sendto's come in datagrams), unless IPV6_V6ONLY."""
        ep = from_wire(family, raw, port, scope)
        if ep is None or (vs.family == AF_INET and family != AF_INET):
            return errno.EAFNOSUPPORT, None
        if vs.family == AF_INET6 and family == AF_INET and (not udp_connect or vs.opts.v6only):
            return errno.EAFNOSUPPORT, None
        return 0, ep

    def is_local(self, ep: Ep) -> bool:
        """A wildcard, or an address of one of our interfaces (a link-local one: of the
        interface its scope names)."""
        if not ep.ip:
            return True
        if ep.fam == AF_INET6:
            ip6 = self.vm.ip6
            if ep.link_local:
                return ip6.link_local.get(ep.scope) == ep.ip
            return ip6.ours(ep.ip)
        ip4 = self.vm.ip4
        return any(ip4.is_local(sw, ep.ip) for sw in list(ip4.addrs))

    def _port_taken(self, vs: VSock, ep: Ep) -> bool:
        """Does the session layer have a listener of its own on a part of ep's footprint (one
        that no shim socket made: a built-in app's)?"""
        fp = vs.footprint(ep)
        sm = self.vm.session
        v4, v6 = v4_part(fp), v6_part(fp)
        return (v4 is not None and sm.port_in_use(vs.proto, v4, ep.port)) or \
            (v6 is not None and sm.port_in_use(vs.proto, v6, ep.port, True))

    def _conflict(self, vs: VSock, ep: Ep) -> bool:
        """Would vs bound to ep clash with a socket on that port? Footprints (addr.footprint)
        meet, and SO_REUSEADDR/SO_REUSEPORT do not allow it, as Linux's bind checks."""
        mine = vs.footprint(ep)
        v4, v6, port = v4_part(mine), v6_part(mine), ep.port
        if vs.proto == TransportProto.TCP and not vs.opts.reuseaddr:
            for k in self.vm.session.conns:  # closed sockets' connections (TIME_WAIT...)
                if k[0] == TransportProto.TCP and k[2] == port:
                    part = v6 if is_ip6(k[3]) else v4
                    if part is not None and (not part or not k[1] or k[1] == part):
                        return True
        for o in self.by_ino.values():
            if o is vs or o.proto != vs.proto:
                continue
            oep = o.local()
            if oep.port != port or not overlap(mine, o.footprint(oep)):
                continue
            if vs.opts.reuseport and o.opts.reuseport:
                continue
            if vs.opts.reuseaddr and o.opts.reuseaddr and (vs.proto == TransportProto.UDP or not o.listening):
                continue
            return True
        return False

    def bind(self, vs: VSock, ep: Ep, user: bool = False) -> int:
        """bind() (`user`), and the port listen() or sendto() takes for an unbound socket."""
        sm = self.vm.session
        if vs.has_port():
            return errno.EINVAL
        if vs.family == AF_INET6 and ep.fam == AF_INET and vs.opts.v6only:
            return errno.EINVAL  # an IPv4-mapped address on a socket that takes no IPv4
        if ep.ip and ep.fam not in session_families(sm, vs.proto):
            return errno.EADDRNOTAVAIL  # (no address of that family is ours for this protocol)
        if ep.link_local:  # as inet6_bind: a link-local address needs its interface
            if not ep.scope:
                return errno.EINVAL
            if self.vm.interfaces.get(ep.scope) is None:
                return errno.ENODEV
        if not self.is_local(ep):
            return errno.EADDRNOTAVAIL
        fp = vs.footprint(ep)
        v4, v6 = v4_part(fp), v6_part(fp)
        locks = (ep.ip != 0, ep.port != 0) if user else vs.locks
        if ep.port == 0:
            for _ in range(64):
                try:
                    ep = ep._replace(port=sm.alloc_port(vs.proto, v4 or 0, 0, 0) if v4 is not None else
                                     sm.alloc_port(vs.proto, v6 or 0, 0, 0, True))
                except SessionError:
                    return errno.EADDRINUSE
                if not self._conflict(vs, ep) and not self._port_taken(vs, ep):
                    break
        elif self._conflict(vs, ep) or (self._port_taken(vs, ep) and not (vs.opts.reuseport or vs.opts.reuseaddr)):
            return errno.EADDRINUSE
        if isinstance(vs, UdpSock):
            try:
                vs.bind(ep)
            except SessionError:
                return errno.EADDRINUSE
        else:
            vs.bound = ep
        vs.locks = locks
        return 0

    def reconnect(self, vs: TcpSock, ep: Ep) -> tuple[int, socket.socket]:
        """connect() again after a failed one: Linux allows it. The old pair is dead (its app
        end shows the reset), so the socket starts over on a new one; the shim puts the new
        app end at the same fd number."""
        a, b = new_pair(socket.SOCK_STREAM)
        ns = TcpSock(self, vs.app, b, vs.opts, vs.family)
        ns.bound, ns.owner, ns.locks = vs.bound, vs.owner, vs.locks
        if vs.b is not None:
            vs.release()
        else:
            self.forget(vs)
        self.add(ns, os.fstat(a.fileno()).st_ino)
        return ns.connect(ep, a.fileno()), a

    def listen(self, vs: VSock, backlog: int) -> tuple[int, socket.socket | None]:
        if isinstance(vs, ListenSock):
            return 0, None
        if not isinstance(vs, TcpSock) or vs.state != "new":
            return errno.EINVAL, None
        if vs.bound is None:  # listen() on an unbound socket takes a port
            err = self.bind(vs, vs.any())
            if err:
                return err, None
        ep = vs.bound
        mine = vs.footprint(ep)
        for o in self.listeners:  # (bind let SO_REUSEADDR through; listening twice it does not)
            if o.local().port == ep.port and overlap(mine, o.footprint()) and not (vs.opts.reuseport and
                                                                                  o.opts.reuseport):
                return errno.EADDRINUSE, None
        sm = self.vm.session
        parts: dict = {}  # ip6 -> (session-layer listener, the ListenSock it is shared with)
        carried = session_families(sm, TransportProto.TCP)
        for ip6, ip in ((False, v4_part(mine)), (True, v6_part(mine))):
            if ip is None or (AF_INET6 if ip6 else AF_INET) not in carried:
                continue
            part = v6_part if ip6 else v4_part
            twin = next((o for o in self.listeners if vs.opts.reuseport and o.opts.reuseport and ip6 in o.sessions
                         and o.local().port == ep.port and part(o.footprint()) == ip), None)
            if twin is not None:  # SO_REUSEPORT: another listener on the same session
                parts[ip6] = (twin.sessions[ip6], twin)
                continue
            try:
                parts[ip6] = (sm.listen(vs.app, TransportProto.TCP, ip, ep.port, exclusive=False, ip6=ip6), None)
            except SessionError:  # (bind judged; a built-in app took it since)
                for s, twin in parts.values():
                    if twin is None:
                        sm.unlisten(s)
                return errno.EADDRINUSE, None
        lsock = self.private.listener(min(max(backlog, 0), SOMAXCONN))
        ls = ListenSock(self, vs.app, vs.opts, vs.family, ep, lsock.getsockname(), parts)
        vs.release()
        self.add(ls, os.fstat(lsock.fileno()).st_ino)
        self.listeners.add(ls)
        self._arm_gc()
        return 0, lsock

    def ioctl(self, vs: VSock, req: int) -> tuple[int, int]:
        if req not in (options.SIOCOUTQ, options.SIOCOUTQNSD):
            return errno.ENOTTY, 0
        if not isinstance(vs, TcpSock):
            return 0, 0
        queued = 0
        if vs.b is not None:
            buf = bytearray(4)
            fcntl.ioctl(vs.b.fileno(), termios.FIONREAD, buf)
            queued = int.from_bytes(buf, "little") - vs.filler
        s = vs.session
        if s is not None and s.tx_fifo is not None:
            if req == options.SIOCOUTQNSD:
                queued += self.vm.session.info(s.conn)["notsent_bytes"]
            else:
                queued += s.tx_fifo.size
        return 0, max(queued, 0)
