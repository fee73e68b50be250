"""IPv4 fragmentation: `fragment()` (RFC 791 section 3.2, VPP's ip4_frag_do_fragment) and the
ip4-frag node (src/vnet/ip/ip_frag.c), where ip4-rewrite sends packets larger than the
adjacency's MTU that do not have DF set.

Fragments are built as bytes and written into fresh buffers, one fragment per buffer: each is at
most min(MTU, buffer data size) bytes, as VPP's `max = (min (mtu, default data size) - 20) & ~7`.
Fragment ids come from one running counter (VPP's `running_fragment_id`): a packet that is
already a fragment keeps its id and offset, anything else gets the next id. Rare path: per
packet, in plain Python.
"""

from __future__ import annotations

import struct

import numpy as np

from ...vlib.buffer import F_LOCALLY_ORIGINATED, F_TRACED, PRE_DATA, RX, TX
from ...vlib.node import Node
from ...wire.checksum import csum
from .forward import ICMP_DEST_UNREACH, icmp_aux, trace_ip4

DF, MF, OFFSET_MASK = 0x4000, 0x2000, 0x1FFF

# foreach_ip_frag_error (src/vnet/ip/ip_frag.h), in VPP's order
FRAG_ERRORS = (("packet fragmented", "info"), ("packet smaller than MTU", "info"),
               ("number of sent fragments", "info"), ("can't fragment header", "error"),
               ("can't fragment this packet", "error"), ("malformed packet", "error"),
               ("could not allocate buffer", "error"), ("unknown error", "error"))


class FragError(Exception):
    """Why a packet cannot be fragmented; the message is ip4-frag's error string."""


def _copied_options(opts: bytes) -> bytes:
    """The options a non-first fragment carries: those with the copied flag (RFC 791), padded."""
    out, i = bytearray(), 0
    while i < len(opts):
        t = opts[i]
        if t == 0:  # end of option list
            break
        if t == 1:  # no-operation: not copied
            i += 1
            continue
        ln = opts[i + 1] if i + 1 < len(opts) else 0
        if ln < 2 or i + ln > len(opts):
            break  # malformed option list: copy nothing more
        if t & 0x80:
            out += opts[i:i + ln]
        i += ln
    out += bytes(-len(out) % 4)
    return bytes(out)


def fragment(pkt, mtu: int, ident: int) -> list[bytes]:
    """Split IPv4 packet `pkt` into fragments of at most `mtu` bytes (header included).

    Non-last fragments carry a multiple of 8 data bytes; every fragment gets its total length,
    MF/offset and header checksum. `ident` is the id for a packet that is not already a
    fragment (a fragment keeps its own id, offset and MF). A packet that fits is returned whole.
    Raises FragError (DF set, MTU below the header, malformed header).
    """
    pkt = bytes(pkt)
    if len(pkt) < 20 or pkt[0] >> 4 != 4:
        raise FragError("malformed packet")
    ihl = (pkt[0] & 0x0F) * 4
    total = (pkt[2] << 8) | pkt[3]
    if ihl < 20 or total < ihl or total > len(pkt):
        raise FragError("malformed packet")
    if total <= mtu:
        return [pkt[:total]]
    ff = (pkt[6] << 8) | pkt[7]
    if ff & DF:
        raise FragError("can't fragment this packet")
    later = pkt[:20] + _copied_options(pkt[20:ihl])
    if mtu < len(later) + 8 or mtu < ihl + 8:
        raise FragError("can't fragment header")
    if ff & (MF | OFFSET_MASK):  # already a fragment: keep its place in the original datagram
        ident, base, more = (pkt[4] << 8) | pkt[5], ff & OFFSET_MASK, bool(ff & MF)
    else:
        base, more = 0, False
    data = memoryview(pkt)[ihl:total]
    out = []
    pos, left = 0, len(data)
    while left:
        h = bytearray(pkt[:ihl] if pos == 0 else later)
        n = min(left, (mtu - len(h)) & ~7)
        if n == left:  # the last piece need not be a multiple of 8
            flags = MF if more else 0
        else:
            flags = MF
        h[0] = 0x40 | (len(h) // 4)
        struct.pack_into("!HHH", h, 2, len(h) + n, ident & 0xFFFF, flags | (base + pos // 8))
        h[10:12] = b"\0\0"
        struct.pack_into("!H", h, 10, csum(h))
        out.append(bytes(h) + data[pos:pos + n])
        pos += n
        left -= n
    return out


def to_buffers(vm, frags: list[bytes], rx_sw: int, flags: int = F_LOCALLY_ORIGINATED,
               adj: int = 0) -> np.ndarray | None:
    """Fresh buffers holding `frags` (each at offset 0), or None when the pool is short."""
    buf = vm.buffers
    bi = buf.alloc(len(frags))
    if len(bi) < len(frags):
        buf.free(bi)
        return None
    mv, stride = buf.mv, buf.stride
    for b, f in zip(bi.tolist(), frags):
        o = b * stride + PRE_DATA
        mv[o:o + len(f)] = f
    buf.current_length[bi] = [len(f) for f in frags]
    buf.flags[bi] = flags
    buf.sw_if_index[RX, bi] = rx_sw
    buf.sw_if_index[TX, bi] = 0xFFFFFFFF
    buf.adj_index[bi] = adj
    return bi


class Ip4Frag(Node):
    """Packets too big for their adjacency's MTU, DF clear: fragments back to ip4-rewrite."""

    name = "ip4-frag"
    next_nodes = ("error-drop", "ip4-rewrite", "ip4-icmp-error")
    errors = FRAG_ERRORS
    trace_in_process = True

    def __init__(self, vm) -> None:
        super().__init__(vm)
        self.running_id = 0

    def next_id(self) -> int:
        """The next fragment id (VPP: ++running_fragment_id, one counter for all flows)."""
        self.running_id = (self.running_id + 1) & 0xFFFF
        return self.running_id

    def max_size(self, mtu: int) -> int:
        """Largest fragment for `mtu`: a fragment always fits one buffer."""
        return min(int(mtu), self.vm.buffers.data_size)

    family, trace_ip = "ip4", staticmethod(trace_ip4)

    def process(self, frame):
        """Per packet (rare: only what exceeds an MTU): the family's fragments, each to a fresh
        buffer back to the rewrite node, the original freed."""
        vm = self.vm
        buf, t = vm.buffers, getattr(vm, self.family).dpo
        done, sent, small = [], 0, 0
        for b in frame.tolist():
            adj = int(buf.adj_index[b])
            mtu = int(t.mtu[adj])
            frags = self._fragment(b, mtu)
            if frags is None:
                continue
            keep = F_LOCALLY_ORIGINATED | (int(buf.flags[b]) & F_TRACED)
            bi = to_buffers(vm, frags, int(buf.sw_if_index[RX, b]), keep, adj)
            if bi is None:
                self.drop(np.array((b,), np.uint32), self.err["could not allocate buffer"])
                continue
            if keep & F_TRACED:  # the first fragment carries on the original's trace
                buf.trace_index[bi[0]] = buf.trace_index[b]
                buf.flags[bi[1:]] &= ~np.uint32(F_TRACED)
            self._trace(b, mtu, len(frags), 1)
            sent += len(frags)
            small += len(frags) == 1
            done.append(b)
            self.next(1, bi)
        if done:
            buf.free(np.array(done, np.uint32))
        if sent:
            self.count(self.err["number of sent fragments"], sent)
        if small:
            self.count(self.err["packet smaller than MTU"], small)

    def _fragment(self, b: int, mtu: int) -> list[bytes] | None:
        """Buffer b's fragments for `mtu`; None once b went elsewhere (a drop, an ICMP error)."""
        buf = self.vm.buffers
        pkt = bytearray(buf.packet(b))
        local = int(buf.flags[b]) & F_LOCALLY_ORIGINATED
        if not local and len(pkt) >= 20:
            # ip4-rewrite decrements the TTL of forwarded packets; the fragments go back
            # to it marked locally originated, so it is done here, once
            pkt[8] = max(pkt[8] - 1, 0)
            pkt[10:12] = b"\0\0"
            struct.pack_into("!H", pkt, 10, csum(pkt[:(pkt[0] & 0x0F) * 4]))
        try:
            return fragment(pkt, self.max_size(mtu), self.next_id())
        except FragError as e:
            self._trace(b, mtu, 0, 2 if str(e) == "can't fragment this packet" else 0)
            self.count(self.err[str(e)])
            if str(e) == "can't fragment this packet":  # as VPP: tell the sender the MTU
                buf.aux[b] = icmp_aux(ICMP_DEST_UNREACH, 4, mtu)
                buf.error[b] = self.err[str(e)]
                self.next1(2, b)
            else:
                self.drop(np.array((b,), np.uint32), self.err[str(e)])
            return None

    def _trace(self, b: int, mtu: int, n: int, nxt: int) -> None:
        vm = self.vm
        if vm.trace.active and vm.buffers.flags[b] & F_TRACED:
            vm.trace.add(self, b, f"IPv{self.family[-1]} mtu: {mtu} fragments: {n} next: {nxt}")

    def format_trace(self, b):
        return self.trace_ip(self.vm, b)
