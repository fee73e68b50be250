"""The IPv4 forwarding path: ip4-input, ip4-lookup, ip4-rewrite, ip4-drop — each one numpy pass
over the frame: header checks, three mtrie gathers, TTL/checksum/MAC rewrite."""

from __future__ import annotations

import struct

import numpy as np

from ...wire.ip4 import format_ip4_header
from ...vlib.buffer import F_GSO, F_LOCALLY_ORIGINATED, PRE_DATA, RX, TX
from ...vlib.node import Node
from ...wire.checksum import csum_rows
from . import dpo as D
from .fields import add_to_checksum, be16, be32, decrement_ttl
from .rows import be32_at, col_view, gather_block, scatter_block, uniform_col

ICMP_TIME_EXCEEDED, ICMP_DEST_UNREACH = 11, 3
_KEEP_IP01 = np.uint64(0xFFFF << 48)  # bytes 14-15 of a MAC header item: IP bytes 0-1


def icmp_aux(icmp_type: int, code: int, data: int = 0) -> int:
    """Packs what ip4-icmp-error needs into the buffer's aux field (vnet_buffer ip.icmp)."""
    return (icmp_type << 24) | (code << 16) | (data & 0xFFFF)


def trace_ip4(vm, b: int, rel: int = 0) -> str:
    """A buffer's IP header as `show trace` prints it."""
    pkt = vm.buffers.packet(b)[rel:]
    return format_ip4_header(pkt) if len(pkt) >= 20 else f"truncated ip4 packet ({len(pkt)} bytes)"


class Ip4Input(Node):
    """Validate headers; trim ethernet padding to the IP length; TTL 0 gets time exceeded."""

    name = "ip4-input"
    next_nodes = ("error-drop", "ip4-lookup", "ip4-icmp-error")
    errors = (("valid ip4 packets", "info"), ("ip4 length < 20 bytes", "error"),
              ("ip4 length > l2 length", "error"), ("bad ip4 checksum", "error"),
              ("ip4 version != 4", "error"), ("ip4 ttl <= 1", "error"))

    def process(self, frame):
        vm = self.vm
        buf = vm.buffers
        fi = frame.astype(np.intp)  # numpy indexes with intp about twice as fast as with uint32
        col = uniform_col(buf, fi)
        if col >= 0 and col + 20 <= buf.stride and self._common(frame, fi, col):
            return
        length = buf.current_length[frame].astype(np.int64)
        hdr = buf.gather(frame, 0, 20)
        total = be16(hdr, 2).astype(np.int64)
        if (hdr[:, 0] == 0x45).all():  # no options: checksum the 20 bytes as ten 16-bit words
            s = np.ascontiguousarray(hdr).view(">u2").sum(axis=1, dtype=np.uint32)
            s = (s & 0xFFFF) + (s >> 16)
            bad_csum = ((s & 0xFFFF) + (s >> 16)) != 0xFFFF
            if not bad_csum.any() and (length >= 20).all() and (total >= 20).all() \
                    and (total <= length).all() and (hdr[:, 8] != 0).all():
                self._all_valid(frame, total)
                return
            ihl = np.full(len(frame), 20, np.int64)
        else:
            ihl = (hdr[:, 0] & 0x0F).astype(np.int64) * 4
            bad_csum = csum_rows(buf.gather(frame, 0, 60), 0, np.clip(ihl, 20, 60)) != 0
        err = np.select(
            [length < 20, (hdr[:, 0] >> 4) != 4, (ihl < 20) | (total < ihl), total > length, bad_csum],
            [self.err["ip4 length < 20 bytes"], self.err["ip4 version != 4"], self.err["ip4 length < 20 bytes"],
             self.err["ip4 length > l2 length"], self.err["bad ip4 checksum"]], 0)
        ok = err == 0
        nxt = np.where(ok, 1, 0).astype(np.uint8)
        expired = ok & (hdr[:, 8] == 0)
        if expired.any():
            nxt[expired] = 2
            buf.aux[frame[expired]] = icmp_aux(ICMP_TIME_EXCEEDED, 0)
            self.count(self.err["ip4 ttl <= 1"], int(expired.sum()))
        buf.current_length[frame[ok]] = total[ok]  # drop ethernet padding
        buf.error[frame] = err
        self.count(self.err["valid ip4 packets"], int(ok.sum()))
        vm.interfaces.count_simple("ip4", buf.sw_if_index[RX, frame[ok]])
        self.nexts(nxt, frame)

    def fast1(self, b: int) -> bool:
        buf = self.vm.buffers
        o = buf.start(b)
        mv = buf.mv
        if mv[o] != 0x45 or buf.current_length[b] < 20:
            return False
        w = struct.unpack_from("!10H", mv, o)
        s = sum(w)
        s = (s & 0xFFFF) + (s >> 16)
        total = w[1]
        if (s & 0xFFFF) + (s >> 16) != 0xFFFF or not 20 <= total <= buf.current_length[b] or mv[o + 8] == 0:
            return False
        buf.current_length[b] = total
        self.count(self.err["valid ip4 packets"])
        self.vm.interfaces.add_simple("ip4", int(buf.sw_if_index[RX, b]))
        self.next1(1, b)
        return True

    def _common(self, frame, fi, col: int) -> bool:
        """The common frame (one start, 20-byte headers, all valid) in few numpy passes: the
        header is one gather of 20-byte items; its checksum is summed as five little-endian
        32-bit words (one's complement sums are byte-order independent, and a 32-bit word is
        its two halves mod 0xFFFF): valid iff the sum is a non-zero multiple of 0xFFFF."""
        buf = self.vm.buffers
        h = col_view(buf, col, "V20")[fi].view(np.uint8).reshape(len(frame), 20)
        if not ((h[:, 0] == 0x45).all() and h[:, 8].all()):
            return False
        w = h.view("<u4")
        s = w[:, 0].astype(np.uint64)
        s += w[:, 1]
        s += w[:, 2]
        s += w[:, 3]
        s += w[:, 4]
        if (s % 0xFFFF).any() or not s.all():
            return False
        total = h.view(">u2")[:, 1].astype(np.uint32)
        if not ((total >= 20) & (total <= buf.current_length[fi])).all():
            return False
        self._all_valid(frame, total, fi)
        return True

    def _all_valid(self, frame, total, fi=None):
        buf = self.vm.buffers
        if fi is None:
            fi = frame
        buf.current_length[fi] = total
        self.count(self.err["valid ip4 packets"], len(frame))
        self.vm.interfaces.count_simple("ip4", buf.sw_if_index[RX][fi])
        self.next(1, frame)

    def format_trace(self, b):
        return trace_ip4(self.vm, b)


class Ip4Lookup(Node):
    """Longest-prefix match for the whole frame (mtrie), then next node by the DPO's kind."""

    name = "ip4-lookup"
    next_nodes = D.LOOKUP_NEXT

    def process(self, frame):
        vm = self.vm
        ip4 = vm.ip4
        buf = vm.buffers
        fi = frame.astype(np.intp)  # numpy indexes with intp about twice as fast as with uint32
        col = uniform_col(buf, fi)
        if col >= 0 and col + 20 <= buf.stride:
            dst = be32_at(buf, fi, col + 16)
        else:
            dst = be32(buf.gather(frame, 16, 4), 0)
        dpo = ip4.fib.lookup(dst).astype(np.uint32, copy=False)
        buf.adj_index[fi] = dpo
        t = ip4.dpo
        d0 = dpo[0]
        if (dpo == d0).all():  # one destination DPO for the frame: scalar bookkeeping
            t.to_pkts[d0] += len(frame)
            t.to_bytes[d0] += int(buf.current_length[fi].sum())
            self.next(int(t.kind[d0]), frame)
            return
        n = t.n
        t.to_pkts[:n] += np.bincount(dpo, minlength=n)[:n]
        t.to_bytes[:n] += np.bincount(dpo, weights=vm.buffers.current_length[frame], minlength=n)[:n].astype(np.int64)
        self.nexts(t.kind[dpo], frame)

    def fast1(self, b: int) -> bool:
        vm = self.vm
        buf, ip4 = vm.buffers, vm.ip4
        o = buf.start(b)
        d = ip4.fib.forwarding.lookup_one(int.from_bytes(buf.mv[o + 16:o + 20], "big"))
        buf.adj_index[b] = d
        t = ip4.dpo
        t.to_pkts[d] += 1
        t.to_bytes[d] += int(buf.current_length[b])
        self.next1(int(t.kind[d]), b)
        return True

    def format_trace(self, b):
        dst = int.from_bytes(self.vm.buffers.packet(b)[16:20], "big")
        d = self.vm.ip4.lookup(dst)
        return f"fib 0 dpo-idx {d} flow hash: 0x00000000\n{trace_ip4(self.vm, b)}"


class Ip4Rewrite(Node):
    """TTL and checksum, MTU check, prepend the adjacency's ethernet header, to <if>-output."""

    name = "ip4-rewrite"
    next_nodes = ("error-drop", "ip4-icmp-error", "ip4-frag")
    errors = (("ip4 ttl <= 1", "error"), ("ip4 MTU exceeded and DF set", "error"))
    trace_in_process = True

    def _slots(self, sw: np.ndarray) -> np.ndarray:
        """Next slot of each packet's `<if>-output` (error-drop if the interface is gone)."""
        out = self.vm.interfaces.output_next
        if (sw == sw[0]).all():
            return np.full(len(sw), out(self, int(sw[0])), np.uint16)
        u, inv = np.unique(sw, return_inverse=True)
        return np.array([out(self, int(s)) for s in u], np.uint16)[inv]

    def process(self, frame):
        vm = self.vm
        buf, t = vm.buffers, vm.ip4.dpo
        fi = frame.astype(np.intp)  # numpy indexes with intp about twice as fast as with uint32
        adj = buf.adj_index[fi]
        a0 = int(adj[0])
        col = uniform_col(buf, fi)
        if col >= 14 and col + 20 <= buf.stride and (adj == a0).all() and self._common(frame, fi, col, a0):
            return
        hdr = buf.gather(frame, 0, 12)
        flags = buf.flags[frame]
        gso = (flags & F_GSO) != 0  # segmented at gso_size by the receiver: no MTU check
        if (adj == a0).all() and (hdr[:, 8] > 1).all() and not (flags & F_LOCALLY_ORIGINATED).any() \
                and ((buf.current_length[frame] <= t.mtu[a0]) | gso).all():
            self._forward_one_adj(frame, hdr, a0)
            return
        local = (buf.flags[frame] & F_LOCALLY_ORIGINATED) != 0
        length = buf.current_length[frame]
        expired = (hdr[:, 8] <= 1) & ~local
        too_big = (length > t.mtu[adj]) & ~gso
        df = (hdr[:, 6] & 0x40) != 0
        frag_needed = too_big & df & ~expired
        no_frag = too_big & ~df & ~expired
        bad = expired | too_big
        if bad.any():
            buf.aux[frame[expired]] = icmp_aux(ICMP_TIME_EXCEEDED, 0)
            buf.aux[frame[frag_needed]] = icmp_aux(ICMP_DEST_UNREACH, 4, 0) | t.mtu[adj[frag_needed]]
            self.count(self.err["ip4 ttl <= 1"], int(expired.sum()))
            self.count(self.err["ip4 MTU exceeded and DF set"], int(frag_needed.sum()))
            self.next(1, frame[expired | frag_needed])
            self.next(2, frame[no_frag])  # DF clear: VPP's ip4-frag, fragments come back here
            frame, adj, hdr, local = frame[~bad], adj[~bad], hdr[~bad], local[~bad]
            if not len(frame):
                return
        fwd = ~local
        if fwd.any():
            rows = hdr[fwd]
            decrement_ttl(rows)
            hdr[fwd] = rows
            buf.scatter(frame, 8, hdr[:, 8:12])
        buf.current_data[frame] -= 14
        buf.current_length[frame] += 14
        buf.scatter(frame, 0, t.rewrite[adj])
        sw = t.sw_if_index[adj]
        buf.sw_if_index[TX, frame] = sw
        if vm.trace.active:
            for b, a in zip(frame, adj):
                vm.trace.add(self, int(b), self._trace(int(b), int(a)))
        self.nexts(self._slots(sw), frame)

    def fast1(self, b: int) -> bool:
        vm = self.vm
        if vm.trace.active:
            return False
        buf, t = vm.buffers, vm.ip4.dpo
        a = int(buf.adj_index[b])
        o = buf.start(b)
        mv = buf.mv
        local = buf.flags[b] & F_LOCALLY_ORIGINATED
        if (mv[o + 8] <= 1 and not local) or (buf.current_length[b] > t.mtu[a] and not buf.flags[b] & F_GSO):
            return False
        if not local:
            mv[o + 8] -= 1
            c = ((mv[o + 10] << 8) | mv[o + 11]) + 0x0100
            c = (c & 0xFFFF) + (c >> 16)
            mv[o + 10], mv[o + 11] = c >> 8, c & 0xFF
        mv[o - 14:o] = t.rewrite[a].tobytes()
        buf.current_data[b] -= 14
        buf.current_length[b] += 14
        sw = int(t.sw_if_index[a])
        buf.sw_if_index[TX, b] = sw
        self.next1(vm.interfaces.output_next(self, sw), b)
        return True

    def _common(self, frame, fi, col: int, a0: int) -> bool:
        """The common frame (one start, one adjacency, nothing expiring, too big or our own):
        the 14-byte MAC header before the IP header and the IP header's first 12 bytes are
        read as one block (aligned 16-byte items), rewritten in place and written back once."""
        vm = self.vm
        buf, t = vm.buffers, vm.ip4.dpo
        flags = buf.flags[fi]
        if (flags & F_LOCALLY_ORIGINATED).any():
            return False
        length = buf.current_length[fi]
        fits = length <= t.mtu[a0]
        if not fits.all() and not (fits | ((flags & F_GSO) != 0)).all():
            return False
        if (col - 14) % 16 == 0 and col + 18 <= buf.stride:
            # The usual layout: the MAC header and IP bytes 0-1 are one aligned 16-byte item,
            # IP bytes 2-17 (TTL at 6, checksum at 8) the next one. The first is rewritten as
            # two little-endian words (the rewrite, keeping IP bytes 0-1), the second in place.
            b = col_view(buf, col + 2, "V16")[fi]
            hb = b.view(np.uint8).reshape(len(frame), 16)
            ttl = hb[:, 6]
            if not (ttl > 1).all():
                return False
            a = col_view(buf, col - 14, "V16")[fi]
            ttl -= 1
            c = b.view("<u2").reshape(len(frame), 8)[:, 4]  # checksum + 0x0100 (one's complement):
            c += 1  # +1 on the little-endian word, end-around carry
            c += c == 0
            w0, w1 = self._rewrite_words(a0)
            aw = a.view("<u8").reshape(len(frame), 2)
            aw[:, 0] = w0
            x = aw[:, 1]
            x &= _KEEP_IP01
            x |= w1
            col_view(buf, col - 14, "V16")[fi] = a
            col_view(buf, col + 2, "V16")[fi] = b
        else:
            g, lo = gather_block(buf, fi, col - 14, 26)
            o = col - lo  # the IP header's column in g
            ttl = g[:, o + 8]
            if not (ttl > 1).all():
                return False
            ttl -= 1
            if o % 2 == 0:  # checksum + 0x0100 (one's complement): +1 on the little-endian word
                c = g.view("<u2")[:, (o + 10) // 2]
                c += 1
                c += c == 0
            else:
                c = add_to_checksum(be16(g, o + 10), 0x0100)
                g[:, o + 10] = c >> 8
                g[:, o + 11] = c & 0xFF
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

    def _rewrite_words(self, a: int) -> tuple[np.uint64, np.uint64]:
        """Adjacency a's 14-byte rewrite as two little-endian words (bytes 0-7, bytes 8-13)."""
        rw = self.vm.ip4.dpo.rewrite[a].tobytes()
        return np.uint64(int.from_bytes(rw[:8], "little")), np.uint64(int.from_bytes(rw[8:14], "little"))

    def _forward_one_adj(self, frame, hdr, a0: int) -> None:
        """The common frame: one adjacency, nothing expiring or too big."""
        vm = self.vm
        buf, t = vm.buffers, vm.ip4.dpo
        decrement_ttl(hdr)
        buf.scatter(frame, 8, hdr[:, 8:12])
        buf.current_data[frame] -= 14
        buf.current_length[frame] += 14
        buf.scatter(frame, 0, np.broadcast_to(t.rewrite[a0], (len(frame), 14)))
        sw = int(t.sw_if_index[a0])
        buf.sw_if_index[TX, frame] = sw
        if vm.trace.active:
            for b in frame:
                vm.trace.add(self, int(b), self._trace(int(b), a0))
        self.next(vm.interfaces.output_next(self, sw), frame)

    def _trace(self, b: int, adj: int) -> str:
        return rewrite_trace(self.vm, self.vm.ip4, b, adj)


def rewrite_trace(vm, ip, b: int, adj: int) -> str:
    """ip4-rewrite's / ip6-rewrite's trace: the adjacency used, the first 64 bytes sent."""
    t = ip.dpo
    sw = int(t.sw_if_index[adj])
    intf = vm.interfaces.get(sw)
    pkt = vm.buffers.packet(b)
    dump = "\n".join(f"{o:08x}: {pkt[o:o + 32].hex()}" for o in range(0, min(len(pkt), 64), 32))
    idx, fam = ("adj-idx", "ipv6") if ip.BITS == 128 else ("dpo-idx", "ipv4")
    return (f"tx_sw_if_index {sw} {idx} {adj} : {fam} via {ip.format(t.addr[adj])} "
            f"{intf.name if intf else sw}: mtu:{int(t.mtu[adj])} next:0 flags:[] "
            f"{t.rewrite[adj].tobytes().hex()} flow hash: 0x00000000\n{dump}")


class Ip4Drop(Node):
    """ip4-drop (ip6-drop: the same with IPv6's names): what the FIB says to drop."""

    name = "ip4-drop"
    errors = (("ip4 drop", "error"),)
    trace_ip = staticmethod(trace_ip4)

    def process(self, frame):
        self.drop(frame, self.err[self.errors[0][0]])

    def format_trace(self, b):
        return f"fib:0 adj:{int(self.vm.buffers.adj_index[b])} flow:0x00000000\n{self.trace_ip(self.vm, b)}"
