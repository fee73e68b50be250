"""The engine looking at the apps' ends of their sockets.

Is a unix socket still open somewhere? A listener the engine handed to an app (or a socket
whose engine end is closed) has no peer end in the engine, so its last close makes no event
here; the engine asks the kernel by inode instead (unix_diag's exact lookup, NETLINK_SOCK_DIAG).

And a copy of an app's end (pidfd_getfd), to make the kernel show it a reset.
"""

from __future__ import annotations

import ctypes
import errno
import os
import socket
import struct

NETLINK_SOCK_DIAG, SOCK_DIAG_BY_FAMILY, NLMSG_ERROR = 4, 20, 2
_REQ = struct.Struct("=IHHII" "BBHIII2I")


class UnixDiag:
    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, NETLINK_SOCK_DIAG)
        self.seq = 0

    def alive(self, ino: int) -> bool:
        self.seq += 1
        self.sock.send(_REQ.pack(_REQ.size, SOCK_DIAG_BY_FAMILY, 1, self.seq, 0,
                                 socket.AF_UNIX, 0, 0, 0xFFFFFFFF, ino, 0, 0xFFFFFFFF, 0xFFFFFFFF))
        while True:
            data = self.sock.recv(65536)
            off = 0
            while off + 16 <= len(data):
                length, typ, _flags, seq = struct.unpack_from("=IHHI", data, off)
                if seq == self.seq:
                    if typ == NLMSG_ERROR:
                        err = -struct.unpack_from("=i", data, off + 16)[0]
                        return err not in (errno.ENOENT,)
                    return True
                off += max(length, 16)

    def close(self) -> None:
        self.sock.close()


_libc = ctypes.CDLL(None, use_errno=True)
SYS_PIDFD_GETFD = 438  # x86_64 and every architecture with the unified syscall table


def app_socket(pid: int, fd_hint: int, ino: int) -> socket.socket | None:
    """A copy of the socket with inode `ino` that process `pid` holds (pidfd_getfd, Linux 5.6;
    the engine is root), tried at fd_hint first, else found in /proc/<pid>/fd. None if the
    process or the socket is gone, or the kernel says no."""
    try:
        pidfd = os.pidfd_open(pid)
    except OSError:
        return None
    try:
        got = _getfd(pidfd, fd_hint, ino) if fd_hint >= 0 else None
        if got is not None:
            return got
        want = f"socket:[{ino}]"
        try:
            names = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            return None
        for name in names:
            if int(name) == fd_hint:
                continue
            try:
                if os.readlink(f"/proc/{pid}/fd/{name}") != want:
                    continue
            except OSError:
                continue
            got = _getfd(pidfd, int(name), ino)
            if got is not None:
                return got
        return None
    finally:
        os.close(pidfd)


def _getfd(pidfd: int, fd: int, ino: int) -> socket.socket | None:
    n = _libc.syscall(SYS_PIDFD_GETFD, pidfd, fd, 0)
    if n < 0:
        return None
    if os.fstat(n).st_ino != ino:
        os.close(n)
        return None
    return socket.socket(fileno=n)
