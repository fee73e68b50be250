"""ip4-icmp-error-input: ICMP errors about packets we sent, handed to the transport that sent
them (Linux's icmp_unreach -> err_handler): the host stack registers a handler per IP protocol.
A connected UDP socket hears a hard error (port unreachable...) as its errno, once; everything
else is counted and dropped."""

from __future__ import annotations

import errno

import numpy as np

from ...vlib.node import Node
from .forward import trace_ip4

# Linux's icmp_err_convert for destination unreachable: (errno, fatal) per code
UNREACH = ((errno.ENETUNREACH, 0), (errno.EHOSTUNREACH, 0), (errno.ENOPROTOOPT, 1), (errno.ECONNREFUSED, 1),
           (errno.EMSGSIZE, 0), (errno.EOPNOTSUPP, 0), (errno.ENETUNREACH, 1), (errno.EHOSTDOWN, 1),
           (errno.ENONET, 1), (errno.ENETUNREACH, 1), (errno.EHOSTUNREACH, 1), (errno.ENETUNREACH, 0),
           (errno.EHOSTUNREACH, 0), (errno.EHOSTUNREACH, 1), (errno.EHOSTUNREACH, 1), (errno.EHOSTUNREACH, 1))


def icmp_errno(itype: int, code: int) -> tuple[int, bool]:
    """(errno, hard) as Linux's UDP sees an ICMP error: only hard ones reach a socket."""
    if itype == 3:
        return UNREACH[code] if code < len(UNREACH) else (errno.EHOSTUNREACH, False)
    if itype == 12:
        return errno.EPROTO, True
    return errno.EHOSTUNREACH, False  # time exceeded, source quench, redirect: soft


class Ip4IcmpErrorInput(Node):
    name = "ip4-icmp-error-input"
    errors = (("ICMP errors delivered to sessions", "info"), ("ICMP soft errors not reported", "info"),
              ("ICMP errors about no session", "info"), ("ICMP error too short", "error"))

    def __init__(self, vm) -> None:
        super().__init__(vm)
        # IP protocol -> handler(lcl ip, lcl port, rmt ip, rmt port, type, code): True if a
        # session heard a hard error, False for a soft one, None if no session sent the packet
        self.handlers: dict = {}

    def register_protocol(self, proto: int, handler) -> None:
        self.handlers[proto] = handler

    def process(self, frame):
        vm = self.vm
        buf = vm.buffers
        for b in frame:  # errors are rare: one at a time
            one = np.array([b], np.uint32)
            pkt = buf.packet(int(b))
            ihl = (pkt[0] & 0x0F) * 4
            inner = pkt[ihl + 8:]
            if len(inner) < 20 or len(inner) < (inner[0] & 0x0F) * 4 + 8:
                self.drop(one, self.err["ICMP error too short"])
                continue
            iihl = (inner[0] & 0x0F) * 4
            proto = inner[9]
            src, dst = int.from_bytes(inner[12:16], "big"), int.from_bytes(inner[16:20], "big")
            sport, dport = int.from_bytes(inner[iihl:iihl + 2], "big"), int.from_bytes(inner[iihl + 2:iihl + 4], "big")
            handler = self.handlers.get(proto)
            hard = handler(src, sport, dst, dport, pkt[ihl], pkt[ihl + 1]) if handler is not None else None
            self.count(self.err["ICMP errors about no session" if hard is None else
                                "ICMP errors delivered to sessions" if hard else "ICMP soft errors not reported"])
            buf.free(one)

    def format_trace(self, b):
        return trace_ip4(self.vm, b)
