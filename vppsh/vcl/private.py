"""A network namespace of the engine's own, where the AF_UNIX sockets it connects live.

A shim listener is a listening AF_UNIX socket the engine connects to once per accepted TCP
connection, so it needs a name. Abstract names belong to a network namespace and anyone in it
can connect to them (and read them in /proc/net/unix): another user could stall a program's
accept() or hand it a forged peer. Bound in a namespace that has no name and no process in it,
held only by the engine's fd, a listener can be reached by the engine alone: not by another
user, not by root in any other namespace. The program's end needs no namespace: accept() and
everything after it work on the fd.

The sockets the engine connects with are made in there too (they look names up in their own
namespace); entering it costs a few µs, so they are made in batches. Where the engine cannot
make a namespace (not root), everything falls back to its own one, and the shim's check that an
accepted connection comes from the engine's pid (SO_PEERCRED) still keeps forged peers out.
"""

from __future__ import annotations

import contextlib
import os
import socket

from ..vnet.devices.netns import in_netns_fd, private_netns
from .diag import UnixDiag

BATCH = 32  # connecting sockets made per visit


class PrivateNet:
    def __init__(self, vm) -> None:
        self.fd: int | None = None
        try:
            self.fd = private_netns()
        except OSError as e:
            vm.logs.add("warn", "vcl", f"no private network namespace for shim listeners ({e.strerror or e}): "
                        "they are named in the engine's own; accepted connections are checked by pid")
        self.pool: list[socket.socket] = []
        self._diag: UnixDiag | None = None

    def _inside(self):
        return in_netns_fd(self.fd, "the shim's private netns") if self.fd is not None else contextlib.nullcontext()

    def listener(self, backlog: int) -> socket.socket:
        """A listening AF_UNIX socket with an abstract name of the kernel's choosing."""
        with self._inside():
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        try:
            s.bind(b"")
            s.listen(backlog)
        except OSError:
            s.close()
            raise
        return s

    def connector(self) -> socket.socket:
        """A fresh non-blocking AF_UNIX stream socket that can name our listeners (OSError,
        EMFILE say, when none can be made)."""
        if not self.pool:
            with self._inside():
                try:
                    for _ in range(BATCH):
                        self.pool.append(socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_NONBLOCK
                                                       | socket.SOCK_CLOEXEC))
                except OSError:
                    if not self.pool:
                        raise
        return self.pool.pop()

    def alive(self, ino: int) -> bool:
        """Is the unix socket with this inode, made in here, still open somewhere?"""
        if self._diag is None:
            with self._inside():
                self._diag = UnixDiag()
        return self._diag.alive(ino)

    def close(self) -> None:
        for s in self.pool:
            s.close()
        self.pool.clear()
        if self._diag is not None:
            self._diag.close()
            self._diag = None
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None
