"""The IPv6 forwarding path: ip6-input, ip6-lookup, ip6-rewrite, ip6-drop — each one numpy
pass over the frame. IPv6 has no header checksum, so rewrite is the hop limit and the MAC."""

from __future__ import annotations

import numpy as np

from ...vlib.buffer import F_GSO, F_LOCALLY_ORIGINATED, RX, TX
from ...vlib.node import Node
from ...wire import icmp6
from ...wire.ip6 import IP6_HDR_LEN, format_ip6, format_ip6_header
from ..ip4.forward import icmp_aux
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
        length = buf.current_length[frame].astype(np.int64)
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
        dpo = ip6.fib.lookup(dst_bytes(buf, frame)).astype(np.uint32, copy=False)
        buf.adj_index[frame] = dpo
        t = ip6.dpo
        n = t.n
        t.to_pkts[:n] += np.bincount(dpo, minlength=n)[:n]
        t.to_bytes[:n] += np.bincount(dpo, weights=buf.current_length[frame], minlength=n)[:n].astype(np.int64)
        self.nexts(t.kind[dpo], frame)

    def format_trace(self, b):
        d = int(self.vm.buffers.adj_index[b])
        return f"fib 0 dpo-idx {d} flow hash: 0x00000000\n{trace_ip6(self.vm, b)}"


class Ip6Rewrite(Node):
    """Hop limit, MTU (no fragmentation in transit: packet too big), the adjacency's ethernet
    header, to <if>-output."""

    name = "ip6-rewrite"
    next_nodes = ("error-drop", "ip6-icmp-error")
    errors = (("ip6 hop limit <= 1", "error"), ("ip6 MTU exceeded", "error"))

    def process(self, frame):
        vm = self.vm
        buf, t = vm.buffers, vm.ip6.dpo
        adj = buf.adj_index[frame]
        hdr = buf.gather(frame, 0, 8)
        flags = buf.flags[frame]
        local = (flags & F_LOCALLY_ORIGINATED) != 0
        expired = (hdr[:, 7] <= 1) & ~local
        too_big = (buf.current_length[frame] > t.mtu[adj]) & ((flags & F_GSO) == 0) & ~expired
        bad = expired | too_big
        if bad.any():
            buf.aux[frame[expired]] = icmp_aux(icmp6.TIME_EXCEEDED, 0)
            buf.aux[frame[too_big]] = icmp_aux(icmp6.PACKET_TOO_BIG, 0)
            self.count(self.err["ip6 hop limit <= 1"], int(expired.sum()))
            self.count(self.err["ip6 MTU exceeded"], int(too_big.sum()))
            self.next(1, frame[bad])
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

    def _trace(self, b: int, adj: int) -> str:
        vm = self.vm
        t = vm.ip6.dpo
        sw = int(t.sw_if_index[adj])
        intf = vm.interfaces.get(sw)
        pkt = vm.buffers.packet(b)
        dump = "\n".join(f"{o:08x}: {pkt[o:o + 32].hex()}" for o in range(0, min(len(pkt), 64), 32))
        return (f"tx_sw_if_index {sw} adj-idx {adj} : ipv6 via {format_ip6(t.addr[adj])} "
                f"{intf.name if intf else sw}: mtu:{int(t.mtu[adj])} next:0 flags:[] "
                f"{t.rewrite[adj].tobytes().hex()} flow hash: 0x00000000\n{dump}")


class Ip6Drop(Node):
    name = "ip6-drop"
    errors = (("ip6 drop", "error"),)

    def process(self, frame):
        self.drop(frame, self.err["ip6 drop"])

    def format_trace(self, b):
        return f"fib:0 adj:{int(self.vm.buffers.adj_index[b])} flow:0x00000000\n{trace_ip6(self.vm, b)}"

