"""The IPv6 forwarding path: ip6-input, ip6-lookup, ip6-rewrite, ip6-drop — each one numpy
pass over the frame. IPv6 has no header checksum, so rewrite is the hop limit and the MAC."""

from __future__ import annotations

import numpy as np

from ...vlib.buffer import F_GSO, F_LOCALLY_ORIGINATED, PRE_DATA, RX, TX
from ...vlib.node import Node
from ...wire import icmp6
from ...wire.ip6 import IP6_HDR_LEN, format_ip6_header
from ..ip4.forward import Ip4Drop, icmp_aux, rewrite_trace
from ..ip4.rows import gather, gather_block, scatter_block, uniform_col
from .main import dst_bytes

LOOKUP_NEXT = ("ip6-drop", "ip6-receive", "ip6-glean", "ip6-rewrite", "ip6-discover-neighbor")


def trace_ip6(vm, b: int, rel: int = 0) -> str:
    pkt = vm.buffers.packet(b)[rel:]
    return format_ip6_header(pkt) if len(pkt) >= IP6_HDR_LEN else f"truncated ip6 packet ({len(pkt)} bytes)"


class Ip6Input(Node):
    """Validate headers, trim ethernet padding to the payload length; multicast to us goes
    to ip6-receive (ND, echo), other multicast is not forwarded (no mfib here)."""

    name = "ip6-input"
    next_nodes = ("error-drop", "ip6-lookup", "ip6-receive")
    errors = (("valid ip6 packets", "info"), ("ip6 length < 40 bytes", "error"),
              ("ip6 length > l2 length", "error"), ("ip6 version != 6", "error"),
              ("ip6 source is multicast", "error"), ("ip6 multicast not joined", "error"))

    def process(self, frame):
        vm = self.vm
        buf = vm.buffers
        fi = frame.astype(np.intp)  # numpy indexes with intp about twice as fast as with uint32
        length = buf.current_length[fi].astype(np.int64)
        col = uniform_col(buf, fi)
        if col >= 0 and col + IP6_HDR_LEN <= buf.stride and (length >= IP6_HDR_LEN).all():
            hdr = gather(buf, fi, col, IP6_HDR_LEN)  # one gather of 40-byte items
            if self._common(frame, fi, hdr, length):
                return
        hdr = buf.gather(frame, 0, IP6_HDR_LEN)
        total = ((hdr[:, 4].astype(np.int64) << 8) | hdr[:, 5]) + IP6_HDR_LEN
        mcast = hdr[:, 24] == 0xFF
        err = np.select([length < IP6_HDR_LEN, (hdr[:, 0] >> 4) != 6, total > length, hdr[:, 8] == 0xFF,
                         mcast & ~self._joined(hdr)],
                        [self.err["ip6 length < 40 bytes"], self.err["ip6 version != 6"],
                         self.err["ip6 length > l2 length"], self.err["ip6 source is multicast"],
                         self.err["ip6 multicast not joined"]], 0)
        ok = err == 0
        nxt = np.where(ok, np.where(mcast, 2, 1), 0).astype(np.uint8)
        buf.current_length[frame[ok]] = total[ok]
        buf.error[frame] = err
        self.count(self.err["valid ip6 packets"], int(ok.sum()))
        vm.interfaces.count_simple("ip6", buf.sw_if_index[RX, frame[ok]])
        self.nexts(nxt, frame)

    def fast1(self, b: int) -> bool:
        buf = self.vm.buffers
        o = buf.start(b)
        mv = buf.mv
        n = buf.current_length[b]
        if n < IP6_HDR_LEN or mv[o] >> 4 != 6 or mv[o + 24] == 0xFF or mv[o + 8] == 0xFF:
            return False
        total = ((mv[o + 4] << 8) | mv[o + 5]) + IP6_HDR_LEN
        if total > n:
            return False
        buf.current_length[b] = total
        self.count(self.err["valid ip6 packets"])
        self.vm.interfaces.add_simple("ip6", int(buf.sw_if_index[RX, b]))
        self.next1(1, b)
        return True

    def _common(self, frame, fi, hdr, length) -> bool:
        """The common frame: all version 6, unicast, whole, from a unicast source."""
        total = ((hdr[:, 4].astype(np.int64) << 8) | hdr[:, 5]) + IP6_HDR_LEN
        if not (((hdr[:, 0] >> 4) == 6).all() and (hdr[:, 24] != 0xFF).all() and (hdr[:, 8] != 0xFF).all()
                and (total <= length).all()):
            return False
        buf = self.vm.buffers
        buf.current_length[fi] = total
        self.count(self.err["valid ip6 packets"], len(frame))
        self.vm.interfaces.count_simple("ip6", buf.sw_if_index[RX][fi])
        self.next(1, frame)
        return True

    def _joined(self, hdr: np.ndarray) -> np.ndarray:
        """Link-scope groups we listen to: all-nodes, all-routers, our solicited-node groups."""
        g = hdr[:, 24:40]
        link = (g[:, 1] == 0x02) & ~g[:, 2:11].any(axis=1)
        small = ~g[:, 11:15].any(axis=1) & ((g[:, 15] == 1) | (g[:, 15] == 2))  # ff02::1, ff02::2
        sn = (g[:, 11] == 1) & (g[:, 12] == 0xFF)  # ff02::1:ffXX:XXXX (any: ip6-receive checks the target)
        return link & (small | sn)

    def format_trace(self, b):
        return trace_ip6(self.vm, b)


class Ip6Lookup(Node):
    """Longest-prefix match for the whole frame, then next node by the DPO's kind."""

    name = "ip6-lookup"
    next_nodes = LOOKUP_NEXT

    def process(self, frame):
        vm = self.vm
        ip6, buf = vm.ip6, vm.buffers
        fi = frame.astype(np.intp)
        col = uniform_col(buf, fi)
        dst = gather(buf, fi, col + 24, 16) if col >= 0 and col + 40 <= buf.stride else dst_bytes(buf, frame)
        dpo = ip6.fib.lookup(dst).astype(np.uint32, copy=False)
        buf.adj_index[fi] = dpo
        t = ip6.dpo
        d0 = dpo[0]
        if (dpo == d0).all():  # one destination DPO for the frame: scalar bookkeeping
            t.to_pkts[d0] += len(frame)
            t.to_bytes[d0] += int(buf.current_length[fi].sum())
            self.next(int(t.kind[d0]), frame)
            return
        n = t.n
        t.to_pkts[:n] += np.bincount(dpo, minlength=n)[:n]
        t.to_bytes[:n] += np.bincount(dpo, weights=buf.current_length[frame], minlength=n)[:n].astype(np.int64)
        self.nexts(t.kind[dpo], frame)

    def fast1(self, b: int) -> bool:
        vm = self.vm
        buf, ip6 = vm.buffers, vm.ip6
        o = buf.start(b)
        d = ip6.fib.forwarding.lookup_one(int.from_bytes(buf.mv[o + 24:o + 40], "big"))
        buf.adj_index[b] = d
        t = ip6.dpo
        t.to_pkts[d] += 1
        t.to_bytes[d] += int(buf.current_length[b])
        self.next1(int(t.kind[d]), b)
        return True

    def format_trace(self, b):
        d = int(self.vm.buffers.adj_index[b])
        return f"fib 0 dpo-idx {d} flow hash: 0x00000000\n{trace_ip6(self.vm, b)}"


class Ip6Rewrite(Node):
    """Hop limit, MTU (no fragmentation in transit: packet too big; what we originate is
    fragmented by ip6-frag), the adjacency's ethernet header, to <if>-output."""

    name = "ip6-rewrite"
    next_nodes = ("error-drop", "ip6-icmp-error", "ip6-frag")
    errors = (("ip6 hop limit <= 1", "error"), ("ip6 MTU exceeded", "error"))

    def process(self, frame):
        vm = self.vm
        buf, t = vm.buffers, vm.ip6.dpo
        fi = frame.astype(np.intp)
        adj = buf.adj_index[fi]
        a0 = int(adj[0])
        col = uniform_col(buf, fi)
        if col >= 14 and col + 8 <= buf.stride and (adj == a0).all() and self._common(frame, fi, col, a0):
            return
        hdr = buf.gather(frame, 0, 8)
        flags = buf.flags[frame]
        local = (flags & F_LOCALLY_ORIGINATED) != 0
        expired = (hdr[:, 7] <= 1) & ~local
        too_big = (buf.current_length[frame] > t.mtu[adj]) & ((flags & F_GSO) == 0) & ~expired
        bad = expired | too_big
        if bad.any():
            frag = too_big & local
            too_big &= ~local
            buf.aux[frame[expired]] = icmp_aux(icmp6.TIME_EXCEEDED, 0)
            buf.aux[frame[too_big]] = icmp_aux(icmp6.PACKET_TOO_BIG, 0)
            self.count(self.err["ip6 hop limit <= 1"], int(expired.sum()))
            self.count(self.err["ip6 MTU exceeded"], int(too_big.sum()))
            self.next(1, frame[expired | too_big])
            self.next(2, frame[frag])
            frame, adj, hdr, local = frame[~bad], adj[~bad], hdr[~bad], local[~bad]
            if not len(frame):
                return
        hdr[~local, 7] -= 1
        buf.scatter(frame, 7, hdr[:, 7:8])
        buf.current_data[frame] -= 14
        buf.current_length[frame] += 14
        buf.scatter(frame, 0, t.rewrite[adj])
        sw = t.sw_if_index[adj]
        buf.sw_if_index[TX, frame] = sw
        if vm.trace.active:
            for b, a in zip(frame, adj):
                vm.trace.add(self, int(b), self._trace(int(b), int(a)))
        out = vm.interfaces.output_next
        if (sw == sw[0]).all():
            self.next(out(self, int(sw[0])), frame)
        else:
            u, inv = np.unique(sw, return_inverse=True)
            self.nexts(np.array([out(self, int(s)) for s in u], np.uint16)[inv], frame)

    trace_in_process = True

    def fast1(self, b: int) -> bool:
        vm = self.vm
        if vm.trace.active:
            return False
        buf, t = vm.buffers, vm.ip6.dpo
        a = int(buf.adj_index[b])
        o = buf.start(b)
        mv = buf.mv
        local = buf.flags[b] & F_LOCALLY_ORIGINATED
        if (mv[o + 7] <= 1 and not local) or (buf.current_length[b] > t.mtu[a] and not buf.flags[b] & F_GSO):
            return False
        if not local:
            mv[o + 7] -= 1
        mv[o - 14:o] = t.rewrite[a].tobytes()
        buf.current_data[b] -= 14
        buf.current_length[b] += 14
        sw = int(t.sw_if_index[a])
        buf.sw_if_index[TX, b] = sw
        self.next1(vm.interfaces.output_next(self, sw), b)
        return True

    def _common(self, frame, fi, col: int, a0: int) -> bool:
        """One adjacency, nothing expiring, too big or our own: the MAC header's room and the
        IPv6 header's first 8 bytes (hop limit at 7) read as one block, rewritten, written back."""
        vm = self.vm
        buf, t = vm.buffers, vm.ip6.dpo
        flags = buf.flags[fi]
        if (flags & F_LOCALLY_ORIGINATED).any():
            return False
        length = buf.current_length[fi]
        fits = length <= t.mtu[a0]
        if not fits.all() and not (fits | ((flags & F_GSO) != 0)).all():
            return False
        g, lo = gather_block(buf, fi, col - 14, 22)
        o = col - lo  # the IPv6 header's column in g
        hl = g[:, o + 7]
        if not (hl > 1).all():
            return False
        hl -= 1
        g[:, o - 14:o] = t.rewrite[a0]
        scatter_block(buf, fi, lo, g)
        buf.current_data[fi] = col - PRE_DATA - 14
        buf.current_length[fi] = length + 14
        sw = int(t.sw_if_index[a0])
        buf.sw_if_index[TX][fi] = sw
        if vm.trace.active:
            for b in frame:
                vm.trace.add(self, int(b), self._trace(int(b), a0))
        self.next(vm.interfaces.output_next(self, sw), frame)
        return True

    def _trace(self, b: int, adj: int) -> str:
        return rewrite_trace(self.vm, self.vm.ip6, b, adj)


class Ip6Drop(Ip4Drop):
    name = "ip6-drop"
    errors = (("ip6 drop", "error"),)
    trace_ip = staticmethod(trace_ip6)

