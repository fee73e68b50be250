"""<family>-icmp-error-input: ICMP errors about packets we sent, handed to the transport that sent
them (Linux's icmp_unreach / icmpv6_notify -> err_handler). A transport registers a handler per
IP protocol on each family's node (the layers point down: vnet never imports the host stack);
the node reads the quoted packet and gives the handler the connection's 4-tuple and an
`IcmpError`: the message, Linux's errno for it (icmp_err_convert, icmpv6_err_convert) and
whether that error is hard, the path MTU it reports (fragmentation needed, packet too big), and
the quoted transport header. IPv4's node is here; IPv6's (vnet/ip6/icmp_err.py) is the same
node with IPv6's parsing and conversion.

What a handler returns is counted: True (a hard error the session heard), False (a soft one,
not reported), PMTU (the path MTU it reports was taken), IGNORED (stale or bogus: not about
what is in flight, an MTU below the minimum), None (no session sent it)."""

from __future__ import annotations

import errno
from typing import NamedTuple

import numpy as np

from ...vlib.node import Node
from .forward import trace_ip4

PMTU, IGNORED = "pmtu", "ignored"

# Linux's icmp_err_convert for destination unreachable: (errno, fatal) per code
UNREACH = ((errno.ENETUNREACH, 0), (errno.EHOSTUNREACH, 0), (errno.ENOPROTOOPT, 1), (errno.ECONNREFUSED, 1),
           (errno.EMSGSIZE, 0), (errno.EOPNOTSUPP, 0), (errno.ENETUNREACH, 1), (errno.EHOSTDOWN, 1),
           (errno.ENONET, 1), (errno.ENETUNREACH, 1), (errno.EHOSTUNREACH, 1), (errno.ENETUNREACH, 0),
           (errno.EHOSTUNREACH, 0), (errno.EHOSTUNREACH, 1), (errno.EHOSTUNREACH, 1), (errno.EHOSTUNREACH, 1))


class IcmpError(NamedTuple):
    """An ICMP or ICMPv6 error about a packet we sent, as a transport needs it."""

    ip6: bool
    type: int
    code: int
    errno: int  # Linux's conversion of (type, code)
    hard: bool  # Linux's `fatal`: a connected socket hears it (UDP), a connection gives up
    mtu: int  # fragmentation needed / packet too big: the MTU the path takes, else 0
    l4: bytes  # the quoted transport header (at least its first 8 bytes)


def icmp_errno(itype: int, code: int) -> tuple[int, bool]:
    """(errno, hard) as Linux's UDP sees an ICMP error: only hard ones reach a socket."""
    if itype == 3:
        return UNREACH[code] if code < len(UNREACH) else (errno.EHOSTUNREACH, False)
    if itype == 12:
        return errno.EPROTO, True
    return errno.EHOSTUNREACH, False  # time exceeded, source quench, redirect: soft


class IcmpErrorInput(Node):
    """The family-neutral node: `quoted()` (the family's) reads a message."""

    errors = (("ICMP errors delivered to sessions", "info"), ("ICMP soft errors not reported", "info"),
              ("ICMP errors about no session", "info"), ("ICMP error too short", "error"),
              ("path MTU lowered by ICMP", "info"), ("ICMP errors ignored: stale or invalid", "info"))
    COUNTER = {True: "ICMP errors delivered to sessions", False: "ICMP soft errors not reported",
               None: "ICMP errors about no session", PMTU: "path MTU lowered by ICMP",
               IGNORED: "ICMP errors ignored: stale or invalid"}

    def __init__(self, vm) -> None:
        super().__init__(vm)
        # IP protocol -> handler(lcl ip, lcl port, rmt ip, rmt port, IcmpError) -> an outcome above
        self.handlers: dict = {}

    def register_protocol(self, proto: int, handler) -> None:
        self.handlers[proto] = handler

    def quoted(self, b: int, pkt: bytes):
        """(protocol, our address, our port, theirs, their port, IcmpError) of the packet an
        error quotes, or None when too little of it is quoted."""
        raise NotImplementedError

    def process(self, frame):
        buf = self.vm.buffers
        for b in frame.tolist():  # errors are rare: one at a time
            one = np.array([b], np.uint32)
            q = self.quoted(b, buf.packet(b))
            if q is None:
                self.drop(one, self.err["ICMP error too short"])
                continue
            proto, src, sport, dst, dport, e = q
            handler = self.handlers.get(proto)
            outcome = handler(src, sport, dst, dport, e) if handler is not None else None
            self.count(self.err[self.COUNTER[outcome]])
            buf.free(one)


class Ip4IcmpErrorInput(IcmpErrorInput):
    name = "ip4-icmp-error-input"

    def quoted(self, b: int, pkt: bytes):
        ihl = (pkt[0] & 0x0F) * 4
        inner = pkt[ihl + 8:]
        if len(inner) < 20 or len(inner) < (inner[0] & 0x0F) * 4 + 8:
            return None
        iihl = (inner[0] & 0x0F) * 4
        itype, code = pkt[ihl], pkt[ihl + 1]
        err, hard = icmp_errno(itype, code)
        mtu = int.from_bytes(pkt[ihl + 6:ihl + 8], "big") if (itype, code) == (3, 4) else 0
        l4 = inner[iihl:iihl + 20]
        return (inner[9], int.from_bytes(inner[12:16], "big"), int.from_bytes(l4[0:2], "big"),
                int.from_bytes(inner[16:20], "big"), int.from_bytes(l4[2:4], "big"),
                IcmpError(False, itype, code, err, hard, mtu, l4))

    def format_trace(self, b):
        return trace_ip4(self.vm, b)
