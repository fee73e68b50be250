"""ip6-icmp-error-input: ICMPv6 errors (destination unreachable, packet too big, time exceeded,
parameter problem) about packets we sent, from ip6-icmp-input to the transport that sent them:
vnet/ip4/icmp_err.py's node with IPv6's parsing (the quoted packet's extension headers are
walked to its transport header) and Linux's icmpv6_err_convert."""

from __future__ import annotations

import errno
import struct

from ...wire import icmp6
from ...wire import ip6 as W
from ..ip4.icmp_err import IcmpError, IcmpErrorInput
from .forward import trace_ip6

# Linux's icmpv6_err_convert for destination unreachable: (errno, fatal) per code
UNREACH6 = ((errno.ENETUNREACH, False), (errno.EACCES, True), (errno.EHOSTUNREACH, False),
            (errno.EHOSTUNREACH, False), (errno.ECONNREFUSED, True), (errno.EACCES, True), (errno.EACCES, True))


def icmp6_errno(itype: int, code: int) -> tuple[int, bool]:
    """(errno, hard) of an ICMPv6 error, as Linux's icmpv6_err_convert."""
    if itype == icmp6.DEST_UNREACH:
        return UNREACH6[code] if code < len(UNREACH6) else (errno.EPROTO, True)
    if itype == icmp6.PACKET_TOO_BIG:
        return errno.EMSGSIZE, False
    if itype == icmp6.PARAM_PROBLEM:
        return errno.EPROTO, True
    if itype == icmp6.TIME_EXCEEDED:
        return errno.EHOSTUNREACH, False
    return errno.EPROTO, False


class Ip6IcmpErrorInput(IcmpErrorInput):
    name = "ip6-icmp-error-input"

    def quoted(self, b: int, pkt: bytes):
        off = int(self.vm.buffers.aux[b])  # where ICMPv6 starts (ip6-receive)
        inner = pkt[off + 8:]
        if len(inner) < W.IP6_HDR_LEN:
            return None
        c = W.walk(inner, limit=len(inner))
        if c.error is not None or c.frag >= 0 and struct.unpack_from("!H", inner, c.frag + 2)[0] & 0xFFF8 \
                or c.offset + 8 > len(inner):
            return None  # no transport header quoted: nobody to tell
        itype, code = pkt[off], pkt[off + 1]
        err, hard = icmp6_errno(itype, code)
        mtu = struct.unpack_from("!I", pkt, off + 4)[0] if itype == icmp6.PACKET_TOO_BIG else 0
        l4 = inner[c.offset:c.offset + 20]
        return (c.proto, int.from_bytes(inner[8:24], "big"), int.from_bytes(l4[0:2], "big"),
                int.from_bytes(inner[24:40], "big"), int.from_bytes(l4[2:4], "big"),
                IcmpError(True, itype, code, err, hard, mtu, l4))

    def format_trace(self, b):
        return trace_ip6(self.vm, b)
