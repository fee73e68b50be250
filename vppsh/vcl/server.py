"""The API socket the preload shim attaches to: SOCK_SEQPACKET, mode 0600, one connection per
process, served on the engine thread (requests are short: nothing here blocks)."""

from __future__ import annotations

import array
import errno
import os
import socket
import stat
import struct
import traceback

from . import options, proto
from .addr import wire
from .main import LdpMain
from .socks import ListenSock, TcpSock, UdpSock

_CMSG = socket.CMSG_SPACE(4 * 4)


def failure(e: BaseException) -> tuple[int, str]:
    """The errno a request gets when the engine failed it, and why (the shim shows it with
    LDP_DEBUG). The engine out of fds is the system's table, not the program's: ENFILE."""
    if isinstance(e, MemoryError):
        return errno.ENOMEM, "out of memory"
    if isinstance(e, OSError) and e.errno in (errno.EMFILE, errno.ENFILE):
        return errno.ENFILE, "out of file descriptors"
    if isinstance(e, OSError) and e.errno:
        return e.errno, e.strerror or type(e).__name__
    return errno.EIO, f"internal error: {type(e).__name__} (see its log)"


class ApiError(Exception):
    pass


class Client:
    def __init__(self, server: "ApiServer", sock: socket.socket) -> None:
        self.server = server
        self.sock = sock
        self.app = None
        pid = struct.unpack("3i", sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12))[0]
        self.pid = pid

    def on_event(self, _ev: int) -> None:
        while True:
            try:
                data, anc, _flags, _addr = self.sock.recvmsg(proto.MSG.size + proto.MAX_DATA, _CMSG,
                                                             socket.MSG_CMSG_CLOEXEC | socket.MSG_DONTWAIT)
            except BlockingIOError:
                return
            except OSError:
                data, anc = b"", []
            fds: list[int] = []
            for level, typ, cdata in anc:
                if level == socket.SOL_SOCKET and typ == socket.SCM_RIGHTS:
                    a = array.array("i")
                    a.frombytes(cdata[:len(cdata) - len(cdata) % 4])
                    fds.extend(a)
            if len(data) < proto.MSG.size:
                for fd in fds:
                    os.close(fd)
                self.close()
                return
            self.replied = False
            try:
                self.request(data, fds[0] if fds else -1)
            except Exception as e:  # every request gets its answer, whatever failed here
                err, why = failure(e)
                if err == errno.EIO:
                    self.server.vm.logs.add("err", "vcl", f"{proto.op_name(data)} request of pid {self.pid} failed:\n"
                                            f"{traceback.format_exc().rstrip()}")
                if not self.replied and self.sock is not None:
                    self.reply(proto.MSG.unpack_from(data)[2], err, data=why.encode())
            finally:
                for fd in fds:
                    os.close(fd)

    def reply(self, seq: int, err: int = 0, a: int = 0, b: int = 0, c: int = 0, d: int = 0,
              addr: tuple = proto.NO_ADDR, data: bytes = b"", fd: socket.socket | None = None) -> None:
        """addr: a vl_addr's fields (addr.wire)."""
        self.replied = True
        msg = proto.MSG.pack(0, len(data), seq, err, a, b, c, d, -1, *addr) + data
        anc = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [fd.fileno()]))] if fd is not None else []
        try:
            self.sock.sendmsg([msg], anc, socket.MSG_DONTWAIT | socket.MSG_NOSIGNAL)
        except OSError:
            self.close()
        finally:
            if fd is not None:
                fd.close()

    def request(self, data: bytes, fd: int) -> None:
        op, n, seq, _err, a, b, c, d, fdnum, family, port, scope, raw = proto.MSG.unpack_from(data)
        payload = data[proto.MSG.size:proto.MSG.size + n]
        ldp: LdpMain = self.server.ldp
        if op == proto.HELLO:
            if self.app is not None:  # one app per connection: a second would be left attached
                return self.reply(seq, errno.EISCONN)
            err, why, app = ldp.hello(self, self.pid, payload.decode(errors="replace"), b & 0xFFFFFFFF,
                                      c & 0xFFFFFFFF, d)
            if err:
                return self.reply(seq, err, data=why.encode())
            granted = [min(v, 0xFFFFFFFF) for v in (app.rx_fifo_size, app.tx_fifo_size, app.budget.limit)]
            return self.reply(seq, 0, *(v - (1 << 32) if v >= 1 << 31 else v for v in granted), d=ldp.caps())
        if self.app is None:
            return self.reply(seq, errno.EPROTO)
        if op == proto.SOCKET:
            err, sock = ldp.socket(self.app, a, b)
            return self.reply(seq, err, fd=sock)
        if op == proto.CLOSED:
            ldp.closed(a & 0xFFFFFFFF | (b & 0xFFFFFFFF) << 32)
            return self.reply(seq)
        if fd < 0:
            return self.reply(seq, errno.EBADF)
        vs = ldp.by_ino.get(os.fstat(fd).st_ino)
        if op == proto.LOOKUP:
            if vs is None:
                return self.reply(seq, 0, proto.K_NONE)
            connected = vs.connected if isinstance(vs, UdpSock) else getattr(vs, "state", "new") != "new"
            flags = (proto.F_CONNECTED if connected else 0) | (proto.F_V6ONLY if vs.opts.v6only else 0)
            return self.reply(seq, 0, vs.kind, flags, vs.family)
        if op == proto.ACCEPTED:
            t = ldp.tokens.pop(payload, None)
            if t is None:
                return self.reply(seq, errno.ECONNABORTED)
            t.token = b""
            ldp.add(t, os.fstat(fd).st_ino)
            t.owner = (self.pid, fdnum)
            if t.fail_pending:  # reset while it waited to be accepted
                t.fail_app_side(socket.socket(fileno=os.dup(fd)))
            return self.reply(seq)
        if vs is None:
            return self.reply(seq, errno.EBADF)
        vs.owner = (self.pid, fdnum)
        if isinstance(vs, UdpSock):
            vs.pull()  # the datagrams the app sent before this request go first (sendto's autobind too)
        if op == proto.BIND:
            err, ep = ldp.address(vs, family, raw, port, scope=scope)
            if not err:
                err = ldp.bind(vs, ep, user=True)
            return self.reply(seq, err, addr=wire(vs.local(), vs.family) if not err else proto.NO_ADDR)
        if op == proto.LISTEN:
            if isinstance(vs, UdpSock):
                return self.reply(seq, errno.EOPNOTSUPP)
            err, sock = ldp.listen(vs, a)
            return self.reply(seq, err, fd=sock)
        if op == proto.CONNECT:
            if isinstance(vs, ListenSock):
                return self.reply(seq, errno.EISCONN)
            if isinstance(vs, UdpSock) and family == proto.AF_UNSPEC:
                vs.disconnect()
                return self.reply(seq)
            err, ep = ldp.address(vs, family, raw, port, udp_connect=isinstance(vs, UdpSock), scope=scope)
            if err:
                return self.reply(seq, err)
            if isinstance(vs, UdpSock):
                return self.reply(seq, vs.connect(ep))
            if isinstance(vs, TcpSock) and vs.state == "failed" and vs.connect_seen:
                err, new = ldp.reconnect(vs, ep)  # the shim puts `new` at the fd's number
                return self.reply(seq, err, fd=new)
            return self.reply(seq, vs.connect(ep, fd))
        if op == proto.NAME:
            where = vs.peer() if a else vs.local()
            if where is None:
                return self.reply(seq, errno.ENOTCONN)
            return self.reply(seq, addr=wire(where, vs.family))
        if op == proto.SETOPT:
            try:
                options.setopt(vs, a, b, payload)
            except options.OptError as e:
                return self.reply(seq, e.errno)
            return self.reply(seq)
        if op == proto.GETOPT:
            if (a, b) == (socket.SOL_SOCKET, socket.SO_ERROR) and isinstance(vs, TcpSock) and vs.b is None \
                    and vs.state in ("reset", "failed") and not d:
                vs.error = 0  # the app's end showed it a reset, and a recv() took the error: as Linux
            try:
                out = options.getopt(vs, a, b, c)
            except options.OptError as e:
                return self.reply(seq, e.errno)
            return self.reply(seq, data=out)
        if op == proto.SHUTDOWN:
            if b and isinstance(vs, TcpSock):  # the shim shut its end: the app's last bytes are in
                vs.pull(drain=True)
                return self.reply(seq)
            return self.reply(seq, self.shutdown(vs, a))
        if op == proto.ABORT:
            if isinstance(vs, TcpSock):
                vs.abort()
            return self.reply(seq)
        if op == proto.IOCTL:
            err, v = ldp.ioctl(vs, a)
            return self.reply(seq, err, v)
        return self.reply(seq, errno.EOPNOTSUPP)

    @staticmethod
    def shutdown(vs, how: int) -> int:
        if isinstance(vs, ListenSock):
            if how in (socket.SHUT_RD, socket.SHUT_RDWR):
                vs.close()  # as Linux: a listener shut for reading stops listening
            return 0
        if isinstance(vs, TcpSock):
            return 0 if vs.state in ("connected", "connecting") else errno.ENOTCONN
        return 0 if vs.connected else errno.ENOTCONN

    def close(self) -> None:
        if self.sock is None:
            return
        self.server.vm.del_fd(self.sock.fileno())
        self.sock.close()
        self.sock = None
        self.server.clients.discard(self)
        self.server.ldp.client_gone(self.app)
        self.app = None


class ApiServer:
    def __init__(self, vm, path: str) -> None:
        self.vm = vm
        self.path = path
        self.sock: socket.socket | None = None
        self.clients: set[Client] = set()
        if getattr(vm, "ldp", None) is None:
            vm.ldp = LdpMain(vm)
        self.ldp: LdpMain = vm.ldp

    def start(self) -> None:
        """Bind the socket (mode 0600: only its owner attaches apps); call on the engine thread."""
        d = os.path.dirname(self.path)
        if d:
            os.makedirs(d, exist_ok=True)
        if os.path.exists(self.path):
            if not stat.S_ISSOCK(os.stat(self.path).st_mode):
                raise ApiError(f"{self.path} exists and is not a socket")
            probe = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
            try:
                probe.connect(self.path)
                raise ApiError(f"{self.path}: another vppsh is serving it")
            except (ConnectionRefusedError, FileNotFoundError):
                os.unlink(self.path)
            finally:
                probe.close()
        s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET | socket.SOCK_CLOEXEC | socket.SOCK_NONBLOCK)
        old = os.umask(0o177)
        try:
            s.bind(self.path)
        finally:
            os.umask(old)
        os.chmod(self.path, 0o600)
        s.listen(128)
        self.sock = s
        self.vm.add_fd(s.fileno(), 1, self._accept)
        self.vm.at_exit.append(self.stop)

    def _accept(self, _ev: int) -> None:
        while True:
            try:
                c, _ = self.sock.accept()
            except BlockingIOError:
                return
            except OSError:
                return
            c.setblocking(False)
            cl = Client(self, c)
            self.clients.add(cl)
            self.vm.add_fd(c.fileno(), 1, cl.on_event)

    def stop(self) -> None:
        for c in list(self.clients):
            c.close()
        self.ldp.stop()
        if self.sock is not None:
            self.vm.del_fd(self.sock.fileno())
            self.sock.close()
            self.sock = None
            try:
                os.unlink(self.path)
            except OSError:
                pass
