"""Local delivery and ICMP: ip4-receive (protocol dispatch), ip4-icmp-input, echo request/reply,
and ip4-icmp-error, which turns a packet into the ICMP error about it in place."""

from __future__ import annotations

import struct

import numpy as np

from ...vlib.buffer import F_GSO, F_LOCALLY_ORIGINATED, F_OFFLOAD, RX
from ...vlib.node import Node
from ...wire.checksum import csum_rows
from .fields import add_to_checksum, be16, be32, header_checksum, put16, put32
from .forward import ICMP_DEST_UNREACH, icmp_aux, trace_ip4

PROTO_ICMP, PROTO_TCP, PROTO_UDP = 1, 6, 17
ICMP_ERROR_TYPES = (3, 4, 5, 11, 12)


class Ip4Receive(Node):
    """Packets for one of our addresses: sanity checks, then by protocol."""

    name = "ip4-receive"
    next_nodes = ("error-drop", "ip4-icmp-input", "ip4-icmp-error", "ip4-local-full-reassembly")
    errors = (("unknown ip protocol", "error"), ("ip4 spoofed local-address packet drops", "error"),
              # ip4-local's UDP checks, counted here as VPP does (ip4-udp-lookup does the work)
              ("inconsistent udp/ip lengths", "error"), ("bad udp checksum", "error"))

    def __init__(self, vm) -> None:
        super().__init__(vm)
        self.proto_next: dict[int, int] = {PROTO_ICMP: 1}  # tcp4-input / ip4-udp-lookup register here

    def register_protocol(self, proto: int, node_name: str) -> None:
        self.proto_next[proto] = self.add_next(node_name)

    def fast1(self, b: int) -> bool:
        vm = self.vm
        buf = vm.buffers
        o = buf.start(b)
        mv = buf.mv
        slot = self.proto_next.get(mv[o + 9])
        rx = int(buf.sw_if_index[RX, b])
        if slot is None or (mv[o + 6] & 0x3F) or mv[o + 7] \
                or (int.from_bytes(mv[o + 12:o + 16], "big") == vm.ip4.if_addr[rx]
                    and not buf.flags[b] & F_LOCALLY_ORIGINATED):
            return False
        self.next1(slot, b)
        return True

    def process(self, frame):
        vm = self.vm
        buf, ip4 = vm.buffers, vm.ip4
        hdr = buf.gather(frame, 0, 20)
        proto = hdr[:, 9]
        src = be32(hdr, 12)
        frag = (be16(hdr, 6) & 0x3FFF) != 0
        rx = buf.sw_if_index[RX, frame]
        spoofed = (src == ip4.if_addr[np.minimum(rx, len(ip4.if_addr) - 1)]) \
            & ((buf.flags[frame] & F_LOCALLY_ORIGINATED) == 0)
        nxt = np.zeros(len(frame), np.uint8)
        err = np.full(len(frame), self.err["unknown ip protocol"], np.uint16)
        for p, slot in self.proto_next.items():
            nxt[proto == p] = slot
        if PROTO_UDP not in self.proto_next:  # nothing listens: port unreachable, as VPP's udp punt
            udp = proto == PROTO_UDP
            nxt[udp] = 2
            buf.aux[frame[udp]] = icmp_aux(ICMP_DEST_UNREACH, 3)
        nxt[frag] = 3  # fragments: reassembled first (VPP's ip4-local -> ip4-local-full-reassembly)
        nxt[spoofed] = 0
        err[spoofed] = self.err["ip4 spoofed local-address packet drops"]
        buf.error[frame] = err
        self.nexts(nxt, frame)

    def format_trace(self, b):
        return f"fib:0 adj:{int(self.vm.buffers.adj_index[b])} flow:0x00000000\n{trace_ip4(self.vm, b)}"


class Ip4IcmpInput(Node):
    name = "ip4-icmp-input"
    next_nodes = ("error-drop", "ip4-icmp-echo-request", "ip4-icmp-echo-reply", "ip4-icmp-error-input")
    errors = (("unknown type", "error"), ("icmp packet too short", "error"))

    def fast1(self, b: int) -> bool:
        buf = self.vm.buffers
        o = buf.start(b)
        ihl = (buf.mv[o] & 0x0F) * 4
        if buf.current_length[b] < ihl + 8:
            return False
        t = buf.mv[o + ihl]
        if t not in (0, 8, 3, 11, 12):
            return False
        self.next1(1 if t == 8 else 2 if t == 0 else 3, b)
        return True

    def process(self, frame):
        buf = self.vm.buffers
        ihl = (buf.gather(frame, 0, 1)[:, 0] & 0x0F).astype(np.int64) * 4
        short = buf.current_length[frame] < ihl + 8
        first = buf.offsets(frame) + ihl
        itype = buf.data[frame, first]
        nxt = np.zeros(len(frame), np.uint8)
        nxt[itype == 8] = 1
        nxt[itype == 0] = 2
        nxt[(itype == 3) | (itype == 11) | (itype == 12)] = 3  # errors about what we sent
        nxt[short] = 0
        buf.error[frame] = np.where(short, self.err["icmp packet too short"], self.err["unknown type"])
        self.nexts(nxt, frame)

    def format_trace(self, b):
        return trace_ip4(self.vm, b)


class Ip4IcmpEchoRequest(Node):
    """Echo request -> reply in place: swap addresses, type 0, fresh TTL, then route it back."""

    name = "ip4-icmp-echo-request"
    next_nodes = ("ip4-lookup",)
    errors = (("echo replies sent", "info"),)

    def process(self, frame):
        buf = self.vm.buffers
        hdr = buf.gather(frame, 0, 20)
        options = (hdr[:, 0] & 0x0F) != 5
        src, dst = hdr[:, 12:16].copy(), hdr[:, 16:20].copy()
        hdr[:, 12:16], hdr[:, 16:20] = dst, src
        hdr[:, 8] = 64
        put16(hdr, 10, header_checksum(hdr))
        buf.scatter(frame, 0, hdr)
        if options.any():  # reply without options: move the ICMP message up behind a 20-byte header
            self._strip_options(frame[options])
        ic = buf.gather(frame, 20, 4)
        ic[:, 0] = 0
        c = add_to_checksum(be16(ic, 2), 0x0800)
        put16(ic, 2, c)
        buf.scatter(frame, 20, ic)
        buf.flags[frame] = (buf.flags[frame] & ~np.uint32(F_OFFLOAD | F_GSO)) | F_LOCALLY_ORIGINATED
        self.count(self.err["echo replies sent"], len(frame))
        self.next(0, frame)

    def fast1(self, b: int) -> bool:
        buf = self.vm.buffers
        o = buf.start(b)
        mv = buf.mv
        if mv[o] != 0x45:
            return False
        mv[o + 12:o + 16], mv[o + 16:o + 20] = mv[o + 16:o + 20].tobytes(), mv[o + 12:o + 16].tobytes()
        mv[o + 8] = 64
        mv[o + 10] = mv[o + 11] = 0
        s = sum(struct.unpack_from("!10H", mv, o))
        s = (s & 0xFFFF) + (s >> 16)
        struct.pack_into("!H", mv, o + 10, ~((s & 0xFFFF) + (s >> 16)) & 0xFFFF)
        mv[o + 20] = 0
        c = ((mv[o + 22] << 8) | mv[o + 23]) + 0x0800
        struct.pack_into("!H", mv, o + 22, ((c & 0xFFFF) + (c >> 16)) & 0xFFFF)
        buf.flags[b] = (buf.flags[b] & ~np.uint32(F_OFFLOAD | F_GSO)) | F_LOCALLY_ORIGINATED
        self.count(self.err["echo replies sent"])
        self.next1(0, b)
        return True

    def _strip_options(self, bi):
        buf = self.vm.buffers
        for b in bi:  # rare: per-packet is fine
            pkt = bytearray(buf.packet(int(b)))
            ihl = (pkt[0] & 0x0F) * 4
            new = bytearray(pkt[:20]) + pkt[ihl:]
            new[0] = 0x45
            new[2:4] = len(new).to_bytes(2, "big")
            new[10:12] = int(header_checksum(np.frombuffer(bytes(new[:20]), np.uint8)[None, :])[0]).to_bytes(2, "big")
            start = buf.offsets(np.array([b]))[0]
            buf.data[b, start:start + len(new)] = np.frombuffer(bytes(new), np.uint8)
            buf.current_length[b] = len(new)

    def format_trace(self, b):
        return trace_ip4(self.vm, b)


class Ip4IcmpEchoReply(Node):
    """Echo replies are handed to the ping waiting for their ICMP id (the ping plugin's node)."""

    name = "ip4-icmp-echo-reply"
    errors = (("echo replies received", "info"), ("no ping waiting for this reply", "error"))

    def process(self, frame):
        vm = self.vm
        buf = vm.buffers
        now = vm.now()
        for b in frame:  # replies arrive one per ping interval: nothing to vectorise
            pkt = buf.packet(int(b))
            ihl = (pkt[0] & 0x0F) * 4
            ident, seq = int.from_bytes(pkt[ihl + 4:ihl + 6], "big"), int.from_bytes(pkt[ihl + 6:ihl + 8], "big")
            proc = vm.ip4.ping_waiters.get(ident)
            if proc is None:
                self.drop(np.array([b], np.uint32), self.err["no ping waiting for this reply"])
                continue
            self.count(self.err["echo replies received"])
            # VPP's ping prints "<ip total length + ip header length> bytes"
            nbytes = int.from_bytes(pkt[2:4], "big") + ihl
            vm.signal(proc, "reply", (seq, pkt[8], nbytes, int.from_bytes(pkt[12:16], "big"), now))
            buf.free(np.array([b], np.uint32))

    def format_trace(self, b):
        return trace_ip4(self.vm, b)


class Ip4IcmpError(Node):
    """Build the ICMP error (type/code from the buffer's aux) about each packet, in place:
    a new IP + ICMP header in the headroom, the offending packet's first bytes quoted."""

    name = "ip4-icmp-error"
    next_nodes = ("error-drop", "ip4-lookup")
    errors = (("destination unreachable response sent", "info"), ("hop limit exceeded response sent", "info"),
              ("error message dropped", "error"))
    MAX = 576

    def process(self, frame):
        vm = self.vm
        buf, ip4 = vm.buffers, vm.ip4
        orig = buf.gather(frame, 0, 28)
        o_proto, o_src = orig[:, 9], be32(orig, 12)
        o_dst = be32(orig, 16)
        ihl = (orig[:, 0] & 0x0F).astype(np.int64) * 4
        o_first = buf.data[frame, np.minimum(buf.offsets(frame) + ihl, buf.data.shape[1] - 1)]
        rx = buf.sw_if_index[RX, frame]
        src = ip4.if_addr[np.minimum(rx, len(ip4.if_addr) - 1)]
        # never an error about an error, a broadcast/multicast, or without a source address
        bad = ((o_proto == 1) & np.isin(o_first, ICMP_ERROR_TYPES)) | (o_dst >> 28 == 14) \
            | (o_dst == 0xFFFFFFFF) | (o_src == 0) | (o_src >> 28 == 14) | (src == 0)
        if bad.any():
            self.drop(frame[bad], self.err["error message dropped"])
            frame, o_src, src = frame[~bad], o_src[~bad], src[~bad]
            if not len(frame):
                return
        aux = buf.aux[frame]
        itype, code, data = (aux >> 24) & 0xFF, (aux >> 16) & 0xFF, aux & 0xFFFF
        quoted = np.minimum(buf.current_length[frame].astype(np.int64), self.MAX - 28)
        buf.current_data[frame] -= 28
        total = quoted + 28
        buf.current_length[frame] = total
        h = np.zeros((len(frame), 28), np.uint8)
        h[:, 0] = 0x45
        put16(h, 2, total)
        h[:, 8] = 64
        h[:, 9] = 1
        put32(h, 12, src)
        put32(h, 16, o_src)
        put16(h, 10, header_checksum(h))
        h[:, 20], h[:, 21] = itype, code
        put16(h, 26, data)  # next-hop MTU for fragmentation needed, else zero
        buf.scatter(frame, 0, h)
        # ICMP checksum over header + quoted bytes (variable length per packet)
        rows = buf.gather(frame, 20, int(total.max()) - 20)
        c = csum_rows(rows, 0, total - 20)
        put16(h, 22, c)
        buf.scatter(frame, 20, h[:, 20:24])
        buf.flags[frame] = (buf.flags[frame] & ~np.uint32(F_OFFLOAD | F_GSO)) | F_LOCALLY_ORIGINATED
        self.count(self.err["hop limit exceeded response sent"], int((itype == 11).sum()))
        self.count(self.err["destination unreachable response sent"], int((itype == 3).sum()))
        self.next(1, frame)

    def format_trace(self, b):
        return trace_ip4(self.vm, b)
