"""IPv6 fragmentation of what we originate: `fragment6()` (RFC 8200 4.5) and the ip6-frag node,
where ip6-rewrite sends a locally originated packet larger than its adjacency's MTU (an echo
reply to a big ping, a UDP datagram bigger than the path), as Linux's ip6_fragment does for a
socket without IPV6_DONTFRAG. Packets in transit are never fragmented: ip6-rewrite answers them
with packet too big.

Each fragment fits one buffer and the MTU; ids are random per datagram (RFC 7739: a counter
would let anyone predict them). Rare path: per packet, in plain Python.
"""

from __future__ import annotations

import random
import struct

import numpy as np

from ...wire import ip6 as W
from ..ip4.frag import FragError, Ip4Frag
from .forward import trace_ip6

FRAG_HDR_LEN = 8


def unfragmentable(pkt) -> tuple[int, int]:
    """(length of the per-fragment part, offset of the next-header field that names the first
    fragmentable header): the IPv6 header and the extension headers routers read, through the
    last routing header, else a hop-by-hop header (RFC 8200 4.5)."""
    nh, off = pkt[W.OFF_NH], W.IP6_HDR_LEN
    end, field = W.IP6_HDR_LEN, W.OFF_NH
    for _ in range(W.MAX_EXT_HEADERS):
        if nh not in (W.HOP_BY_HOP, W.DEST_OPTS, W.ROUTING) or off + 8 > len(pkt):
            break
        size = (pkt[off + 1] + 1) * 8
        if nh != W.DEST_OPTS:
            end, field = off + size, off
        nh, off = pkt[off], off + size
    return end, field


def fragment6(pkt, mtu: int, ident: int) -> list[bytes]:
    """Split IPv6 packet `pkt` into fragments of at most `mtu` bytes, each carrying the
    per-fragment headers and a fragment header with `ident`; every fragment but the last
    carries a multiple of 8 data bytes. A packet that fits is returned whole. FragError when
    the headers leave no room or the packet is malformed."""
    pkt = bytes(pkt)
    if len(pkt) < W.IP6_HDR_LEN or pkt[0] >> 4 != 6:
        raise FragError("malformed packet")
    total = W.IP6_HDR_LEN + struct.unpack_from("!H", pkt, W.OFF_PLEN)[0]
    if total > len(pkt):
        raise FragError("malformed packet")
    if total <= mtu:
        return [pkt[:total]]
    u, field = unfragmentable(pkt[:total])
    room = (mtu - u - FRAG_HDR_LEN) & ~7
    if room < 8:
        raise FragError("can't fragment header")
    head, nh = bytearray(pkt[:u]), pkt[field]
    head[field] = W.FRAGMENT
    data = memoryview(pkt)[u:total]
    out, pos = [], 0
    while pos < len(data):
        n = min(room, len(data) - pos)
        more = pos + n < len(data)
        struct.pack_into("!H", head, W.OFF_PLEN, u - W.IP6_HDR_LEN + FRAG_HDR_LEN + n)
        out.append(bytes(head) + struct.pack("!BBHI", nh, 0, pos | more, ident) + data[pos:pos + n])
        pos += n
    return out


class Ip6Frag(Ip4Frag):
    """Locally originated packets too big for their adjacency's MTU: fragments back to
    ip6-rewrite (VPP's ip6-frag, with ip4-frag's counters and loop)."""

    name = "ip6-frag"
    next_nodes = ("error-drop", "ip6-rewrite")
    family, trace_ip = "ip6", staticmethod(trace_ip6)

    def _fragment(self, b: int, mtu: int) -> list[bytes] | None:
        buf = self.vm.buffers
        try:
            return fragment6(buf.packet(b), min(mtu, buf.data_size), random.getrandbits(32))
        except FragError as e:
            self._trace(b, mtu, 0, 0)
            self.drop(np.array((b,), np.uint32), self.err[str(e)])
            return None
