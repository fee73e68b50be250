"""A raw client of the engine's API socket: the preload shim's side of the protocol."""

from __future__ import annotations

import array
import socket

from vppsh.vcl import proto


class Client:
    """The shim's side of the protocol, raw."""

    def __init__(self, path: str) -> None:
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.s.settimeout(5)
        self.s.connect(path)
        self.seq = 0

    def send(self, op: int, a=0, b=0, c=0, d=0, addr: tuple = proto.NO_ADDR, data=b"", fd: int | None = None,
             fdnum=-1, raw: bytes | None = None) -> None:
        """addr: a vl_addr's fields (proto.addr_fields)."""
        self.seq += 1
        msg = raw if raw is not None else proto.MSG.pack(op, len(data), self.seq, 0, a, b, c, d, fdnum, *addr) + data
        anc = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [fd]))] if fd is not None else []
        self.s.sendmsg([msg], anc)

    def reply(self):
        """(err, a, (family, ip, port), data, fd or None); None if the engine closed the connection."""
        data, anc, _, _ = self.s.recvmsg(proto.MSG.size + proto.MAX_DATA, socket.CMSG_SPACE(4))
        if not data:
            return None
        fd = None
        for level, typ, cdata in anc:
            if level == socket.SOL_SOCKET and typ == socket.SCM_RIGHTS:
                fd = array.array("i", cdata[:4])[0]
        op, n, seq, err, a, b, c, d, _fd, family, port, _scope, raw = proto.MSG.unpack_from(data)
        return err, a, (family, proto.addr_ip(family, raw), port), data[proto.MSG.size:proto.MSG.size + n], fd

    def call(self, *args, **kw):
        self.send(*args, **kw)
        return self.reply()

    def close(self) -> None:
        self.s.close()
