"""Is a unix socket still open somewhere? One exact sock_diag query (NETLINK_SOCK_DIAG).

A listener the engine handed to an app has no peer end in the engine, so its last close makes
no event here; the engine asks the kernel by inode instead (unix_diag's exact lookup).
"""

from __future__ import annotations

import errno
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
