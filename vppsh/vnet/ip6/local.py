"""IPv6 local delivery: ip6-receive (extension headers, protocol dispatch), ip6-icmp-input
(echo, neighbour discovery, router solicitations), ip6-icmp-error, and the neighbour
resolution nodes ip6-glean / ip6-discover-neighbor.

These run per packet: what reaches them is control traffic (ND, echo, errors) at a rate
nothing vectorises; the forwarding path (forward.py) is the vector one.
"""

from __future__ import annotations

import struct
import time

import numpy as np

from ...vlib.buffer import F_GSO, F_LOCALLY_ORIGINATED, F_OFFLOAD, RX
from ...vlib.node import Node
from ...wire import icmp6
from ...wire.checksum import sum_mod
from ...wire import ip6 as W
from ..arp.node import Ip4Glean, send_frame
from ..ip4.forward import icmp_aux
from .forward import trace_ip6
from .main import RA_LIFETIME
from .ratelimit import Icmp6RateLimit

PROTO_UDP = 17
HOP_LIMIT = 64
ND_HOP_LIMIT = 255


def _locally_originated(buf, bi) -> None:
    buf.flags[bi] = (buf.flags[bi] & ~np.uint32(F_OFFLOAD | F_GSO)) | F_LOCALLY_ORIGINATED


def _replace(buf, b: int, pkt: bytes) -> None:
    """Buffer b now holds `pkt` (an IPv6 packet no longer than one buffer) from its start."""
    buf.current_data[b] = 0
    buf.write(np.array([b], np.uint32), np.frombuffer(pkt, np.uint8)[None, :], np.array([len(pkt)]))


class Ip6Receive(Node):
    """Packets for us: walk the extension headers (RFC 8200 4), then by protocol. Fragments go
    to ip6-local-full-reassembly (a first fragment whose chain is cut short too: it answers
    that); an atomic fragment (offset 0, M clear) is a whole datagram (RFC 6946)."""

    name = "ip6-receive"
    next_nodes = ("error-drop", "ip6-icmp-input", "ip6-icmp-error", "ip6-local-full-reassembly")
    errors = (("unknown ip protocol", "error"), ("extension header chain too long", "error"),
              ("extension header truncated", "error"), ("routing header type 0", "error"),
              ("hop-by-hop header not first", "error"), ("ip6 multicast not joined", "error"),
              # ip6-local's UDP checks, counted here as VPP does (ip6-udp-lookup does the work)
              ("inconsistent udp/ip lengths", "error"), ("bad udp checksum", "error"))

    def __init__(self, vm) -> None:
        super().__init__(vm)
        self.proto_next: dict[int, int] = {W.PROTO_ICMP6: 1}  # tcp6/udp6 register here

    def register_protocol(self, proto: int, node_name: str) -> None:
        self.proto_next[proto] = self.add_next(node_name)

    def fast1(self, b: int) -> bool:
        """No extension headers, a unicast destination, a protocol someone takes."""
        buf = self.vm.buffers
        o = buf.start(b)
        mv = buf.mv
        slot = self.proto_next.get(mv[o + 6])
        if slot is None or mv[o + 24] == 0xFF:
            return False
        buf.aux[b] = W.IP6_HDR_LEN
        self.next1(slot, b)
        return True

    def process(self, frame):
        buf = self.vm.buffers
        fast1 = self.fast1
        for b in frame.tolist():
            if fast1(b):
                continue
            pkt = buf.packet(b)
            c = W.walk(pkt)
            if c.frag >= 0 and c.error in (None, "extension header truncated") and not (
                    pkt[c.frag + 2] == 0 and pkt[c.frag + 3] & 0xF9 == 0 and W.upper_layer_present(pkt, c)):
                self.next1(3, b)  # not atomic, or a first fragment without its upper-layer header
                continue
            if c.error is not None:
                if c.error in ("routing header type 0", "hop-by-hop header not first"):
                    code = icmp6.ERRONEOUS_FIELD if c.error.startswith("routing") else icmp6.UNRECOGNIZED_NEXT_HEADER
                    self._icmp_error(b, icmp6.PARAM_PROBLEM, code, c.pointer, c.error)
                else:
                    self.drop1(b, c.error)
                continue
            if pkt[24] == 0xFF and c.proto != W.PROTO_ICMP6:
                self.drop1(b, "ip6 multicast not joined")
                continue
            slot = self.proto_next.get(c.proto)
            if slot is not None:
                buf.aux[b] = c.offset  # where the upper layer starts, for the next node
                self.next1(slot, b)
            elif c.proto == PROTO_UDP:  # nothing listens: port unreachable
                self._icmp_error(b, icmp6.DEST_UNREACH, icmp6.PORT_UNREACH, 0, None)
            elif c.proto == W.NO_NEXT:
                self.drop1(b, "unknown ip protocol")
            else:  # RFC 8200 4: parameter problem, pointing at the field that named it
                ptr = W.nh_field(pkt, c.offset)
                self._icmp_error(b, icmp6.PARAM_PROBLEM, icmp6.UNRECOGNIZED_NEXT_HEADER, ptr, "unknown ip protocol")

    def _icmp_error(self, b: int, itype: int, code: int, param: int, counter: str | None) -> None:
        self.vm.buffers.aux[b] = icmp_aux(itype, code, param)
        if counter:
            self.count(self.err[counter])
        self.next1(2, b)

    def drop1(self, b: int, counter: str) -> None:
        self.drop(np.array([b], np.uint32), self.err[counter])

    def format_trace(self, b):
        return f"fib:0 adj:{int(self.vm.buffers.adj_index[b])} flow:0x00000000\n{trace_ip6(self.vm, b)}"


class Ip6IcmpInput(Node):
    """ICMPv6 for us: echo requests answered, echo replies to the waiting ping, neighbour
    discovery (RFC 4861: NS answered and its sender learned, NA learned only for what we asked,
    RS answered with an RA), errors handed to ip6-icmp-error-input (the transport that sent
    what they quote). ND messages must arrive with hop limit 255 and code 0 (7.1.1, 6.1.1):
    anything else was forwarded by someone, or forged."""

    name = "ip6-icmp-input"
    next_nodes = ("error-drop", "ip6-lookup", "ip6-icmp-error-input")
    errors = (("valid packets", "info"), ("unknown type", "error"), ("icmp6 packet too short", "error"),
              ("icmp6 checksum error", "error"), ("echo replies sent", "info"), ("echo replies received", "info"),
              ("no ping waiting for this reply", "error"), ("neighbor solicitations received", "info"),
              ("neighbor advertisements sent", "info"), ("neighbor advertisements received", "info"),
              ("ND hop limit not 255", "error"), ("neighbor discovery invalid", "error"),
              ("NS for unknown target", "error"),
              ("NA for unknown target", "error"), ("NA without override ignored", "info"),
              ("neighbor table full", "error"),
              ("router solicitations received", "info"), ("router advertisements sent", "info"),
              ("router advertisements received", "info"), ("icmp6 errors received", "info"))

    def process(self, frame):
        vm = self.vm
        buf = vm.buffers
        for b in frame.tolist():
            pkt = buf.packet(b)
            off = int(buf.aux[b])
            msg = pkt[off:]
            src, dst = int.from_bytes(pkt[8:24], "big"), int.from_bytes(pkt[24:40], "big")
            if len(msg) < 8 if msg[:1] and msg[0] >= 128 else len(msg) < 4:
                self.drop1(b, "icmp6 packet too short")
                continue
            if sum_mod(pkt[8:40] + msg, W.PROTO_ICMP6 + len(msg)):  # pseudo header + message: 0 if valid
                self.drop1(b, "icmp6 checksum error")
                continue
            t = msg[0]
            self.count(self.err["valid packets"])
            if t == icmp6.ECHO_REQUEST:
                self._echo(b, pkt, off, src, dst)
            elif t == icmp6.ECHO_REPLY:
                self._echo_reply(b, pkt, msg, src)
            elif t in (icmp6.NEIGHBOR_SOLICITATION, icmp6.NEIGHBOR_ADVERTISEMENT, icmp6.ROUTER_SOLICITATION,
                       icmp6.ROUTER_ADVERTISEMENT):
                if pkt[W.OFF_HLIM] != ND_HOP_LIMIT:
                    self.drop1(b, "ND hop limit not 255")
                elif msg[1] != 0:
                    self.drop1(b, "neighbor discovery invalid")
                else:
                    self._nd(b, t, msg, src, dst)
            elif t in (icmp6.DEST_UNREACH, icmp6.PACKET_TOO_BIG, icmp6.TIME_EXCEEDED, icmp6.PARAM_PROBLEM):
                self.count(self.err["icmp6 errors received"])
                self.next1(2, b)  # about what we sent: to the transport that sent it
            elif t < 128:
                self.drop1(b, "icmp6 errors received")
            else:
                self.drop1(b, "unknown type")

    def drop1(self, b: int, counter: str) -> None:
        self.drop(np.array([b], np.uint32), self.err[counter])

    # ------------------------------------------------------------ echo
    def _echo(self, b: int, pkt: bytes, off: int, src: int, dst: int) -> None:
        """The reply carries the request's data from our address (the one asked, or for a
        multicast request the interface's), without the request's extension headers. The
        common request (to our unicast address, no extension headers) is answered in place:
        swapping the addresses leaves the pseudo-header's sum as it was, so only the type and
        the checksum change."""
        ip6 = self.vm.ip6
        buf = self.vm.buffers
        if off == W.IP6_HDR_LEN and not W.is_multicast(dst):
            o = buf.start(b)
            mv = buf.mv
            mv[o + 8:o + 24], mv[o + 24:o + 40] = pkt[24:40], pkt[8:24]
            mv[o + 7] = HOP_LIMIT
            mv[o + 40] = icmp6.ECHO_REPLY
            c = ((mv[o + 42] << 8) | mv[o + 43]) + 0xFEFF  # type +1 (in the high byte): checksum -0x0100
            c = (c & 0xFFFF) + (c >> 16)
            mv[o + 42], mv[o + 43] = c >> 8, c & 0xFF
            _locally_originated(buf, b)
            self.count(self.err["echo replies sent"])
            self.next1(1, b)
            return
        rx = int(self.vm.buffers.sw_if_index[RX, b])
        me = dst if not W.is_multicast(dst) else ip6.source_for(rx, src)
        msg = pkt[off:]
        reply = icmp6.build_echo(me, src, icmp6.ECHO_REPLY, *struct.unpack_from("!HH", msg, 4), msg[8:])
        _replace(self.vm.buffers, b, W.build(me, src, W.PROTO_ICMP6, len(reply), HOP_LIMIT) + reply)
        _locally_originated(self.vm.buffers, b)
        self.count(self.err["echo replies sent"])
        self.next1(1, b)

    def _echo_reply(self, b: int, pkt: bytes, msg: bytes, src: int) -> None:
        vm = self.vm
        ident, seq = struct.unpack_from("!HH", msg, 4)
        proc = vm.ip6.ping_waiters.get(ident)
        if proc is None:
            self.drop1(b, "no ping waiting for this reply")
            return
        self.count(self.err["echo replies received"])
        vm.signal(proc, "reply", (seq, pkt[W.OFF_HLIM], len(msg), src, vm.now()))
        vm.buffers.free(np.array([b], np.uint32))

    # ------------------------------------------------------------ neighbour discovery
    def _nd(self, b: int, t: int, msg: bytes, src: int, dst: int) -> None:
        vm = self.vm
        ip6 = vm.ip6
        rx = int(vm.buffers.sw_if_index[RX, b])
        body = 24 if t in (icmp6.NEIGHBOR_SOLICITATION, icmp6.NEIGHBOR_ADVERTISEMENT) else \
            8 if t == icmp6.ROUTER_SOLICITATION else 16
        opts = icmp6.parse_options(msg[body:]) if len(msg) >= body else None
        if opts is None:
            self.drop1(b, "neighbor discovery invalid")
            return
        if t == icmp6.ROUTER_ADVERTISEMENT:
            self.drop1(b, "router advertisements received")  # we route; we do not take others' advice
            return
        if t == icmp6.ROUTER_SOLICITATION:
            self.count(self.err["router solicitations received"])
            sll = icmp6.option_mac(opts, icmp6.OPT_SOURCE_LL)
            if src and sll is not None:
                ip6.neighbor_learn(rx, src, sll)
            smac = self._src_mac(b)
            vm.buffers.free(np.array([b], np.uint32))
            if not ip6.ra.get(rx, {}).get("suppress"):
                unicast = bool(src) and sll is not None
                self.send_ra(rx, src if unicast else W.ALL_NODES, sll or smac if unicast else None)
            return
        target = int.from_bytes(msg[8:24], "big")
        if W.is_multicast(target):
            self.drop1(b, "neighbor discovery invalid")
            return
        if t == icmp6.NEIGHBOR_SOLICITATION:
            sll = icmp6.option_mac(opts, icmp6.OPT_SOURCE_LL)
            if src == 0 and (sll is not None or dst != W.solicited_node(target)):
                self.drop1(b, "neighbor discovery invalid")  # DAD: from ::, to the solicited-node group
                return
            if not ip6.is_local(rx, target):
                self.drop1(b, "NS for unknown target")
                return
            self.count(self.err["neighbor solicitations received"])
            if src and sll is not None and not ip6.neighbor_learn(rx, src, sll):
                self.count(self.err["neighbor table full"])
            solicited = src != 0
            to = src if solicited else W.ALL_NODES
            flags = icmp6.NA_ROUTER | icmp6.NA_OVERRIDE | (icmp6.NA_SOLICITED if solicited else 0)
            mac = ip6.mac(rx)
            na = icmp6.build_na(target, to, target, flags, mac)
            dmac = (sll or self._src_mac(b)) if solicited else W.multicast_mac(to)
            vm.buffers.free(np.array([b], np.uint32))
            send_frame(self, rx, dmac + mac + b"\x86\xdd" + W.build(target, to, W.PROTO_ICMP6, len(na), ND_HOP_LIMIT)
                       + na, self.err["neighbor advertisements sent"])
            return
        # neighbour advertisement
        flags = msg[4]
        if W.is_multicast(dst) and flags & icmp6.NA_SOLICITED:
            self.drop1(b, "neighbor discovery invalid")
            return
        tll = icmp6.option_mac(opts, icmp6.OPT_TARGET_LL)
        key = (rx, target)
        if key not in ip6.table.asked and key not in ip6.neighbors:
            self.drop1(b, "NA for unknown target")
            return
        self.count(self.err["neighbor advertisements received"])
        nb = ip6.neighbors.get(key)
        if tll is not None and nb is not None and nb.mac != tll and not flags & icmp6.NA_OVERRIDE:
            # RFC 4861 7.2.5: without the override flag an advertisement does not replace an
            # address we know (Linux: the entry goes stale, its address stays)
            self.count(self.err["NA without override ignored"])
        elif tll is not None and (nb is None or nb.mac != tll or flags & icmp6.NA_SOLICITED):
            ip6.neighbor_learn(rx, target, tll)  # resolved, replaced, or confirmed
        vm.buffers.free(np.array([b], np.uint32))

    def send_ra(self, sw: int, dst: int, dmac: bytes | None) -> None:
        """A router advertisement as VPP's defaults make it: default router for 600 s, our
        MTU and link-layer address, each on-link prefix for autoconfiguration."""
        ip6 = self.vm.ip6
        src = ip6.link_local.get(sw)
        if src is None:
            return
        mac = ip6.mac(sw)
        prefixes = [icmp6.PrefixInfo(int(p.network.network_address), p.network.prefixlen)
                    for p in ip6.addrs.get(sw, [])]
        ra = icmp6.build_ra(src, dst, HOP_LIMIT, 0, RA_LIFETIME, 0, 0, mac, ip6.mtu(sw), prefixes)
        send_frame(self, sw, (dmac or W.multicast_mac(dst)) + mac + b"\x86\xdd"
                   + W.build(src, dst, W.PROTO_ICMP6, len(ra), ND_HOP_LIMIT) + ra, self.err["router advertisements sent"])

    def _src_mac(self, b: int) -> bytes:
        """The ethernet source of a received packet (its header sits before current data)."""
        buf = self.vm.buffers
        o = buf.start(b)
        return bytes(buf.mv[o - 8:o - 2])

    def format_trace(self, b):
        return trace_ip6(self.vm, b)


class Ip6IcmpError(Node):
    """Turn each packet into the ICMPv6 error about it (type, code and parameter from aux),
    from our address toward its source, quoting what fits in 1280 bytes (RFC 4443 2.4):
    never about an ICMPv6 error, a packet from :: or a multicast source, nor one sent to a
    multicast group (but packet too big); rate-limited per destination as Linux does
    (ratelimit.py)."""

    name = "ip6-icmp-error"
    next_nodes = ("error-drop", "ip6-lookup")
    errors = (("destination unreachable response sent", "info"), ("packet too big response sent", "info"),
              ("hop limit exceeded response sent", "info"), ("parameter problem response sent", "info"),
              ("error message dropped", "error"), ("error message rate limited", "error"))
    SENT = {icmp6.DEST_UNREACH: "destination unreachable response sent",
            icmp6.PACKET_TOO_BIG: "packet too big response sent",
            icmp6.TIME_EXCEEDED: "hop limit exceeded response sent",
            icmp6.PARAM_PROBLEM: "parameter problem response sent"}

    def __init__(self, vm) -> None:
        super().__init__(vm)
        self.limit = Icmp6RateLimit(time.monotonic)

    def process(self, frame):
        vm = self.vm
        buf, ip6 = vm.buffers, vm.ip6
        for b in frame.tolist():
            pkt = buf.packet(b)
            aux = int(buf.aux[b])
            itype, code, param = aux >> 24 & 0xFF, aux >> 16 & 0xFF, aux & 0xFFFF
            if itype == icmp6.PACKET_TOO_BIG:
                param = int(ip6.dpo.mtu[int(buf.adj_index[b])])
            if not self._allowed(pkt, itype, code):
                self.drop(np.array([b], np.uint32), self.err["error message dropped"])
                continue
            o_src, o_dst = int.from_bytes(pkt[8:24], "big"), int.from_bytes(pkt[24:40], "big")
            if not self.limit.allow(itype, o_src, self._route_len(o_src)):
                self.drop(np.array([b], np.uint32), self.err["error message rate limited"])
                continue
            rx = int(buf.sw_if_index[RX, b])
            me = o_dst if ip6.ours(o_dst) else ip6.source_for(rx, o_src)
            if not me:
                self.drop(np.array([b], np.uint32), self.err["error message dropped"])
                continue
            msg = icmp6.build_error(me, o_src, itype, code, param, pkt)
            _replace(buf, b, W.build(me, o_src, W.PROTO_ICMP6, len(msg), HOP_LIMIT) + msg)
            _locally_originated(buf, b)
            self.count(self.err[self.SENT[itype]])
            self.next1(1, b)

    def _route_len(self, dst: int) -> int:
        """The prefix length of the route toward dst, a neighbour's own /128 aside."""
        fib = self.vm.ip6.fib
        e = fib.longest_match(dst)
        while e is not None and e.plen and e.source == "adjacency":
            e = fib.longest_match(dst, e.plen - 1)
        return e.plen if e is not None else 0

    @staticmethod
    def _allowed(pkt: bytes, itype: int, code: int) -> bool:
        src, dst = int.from_bytes(pkt[8:24], "big"), int.from_bytes(pkt[24:40], "big")
        if src == 0 or W.is_multicast(src):
            return False
        if W.is_multicast(dst) and not (itype == icmp6.PACKET_TOO_BIG or
                                        itype == icmp6.PARAM_PROBLEM and code == icmp6.UNRECOGNIZED_OPTION):
            return False
        c = W.walk(pkt)
        if c.error is None and c.proto == W.PROTO_ICMP6 and c.offset < len(pkt):
            t = pkt[c.offset]
            if t < 128 or t == icmp6.REDIRECT:  # never an error about an error (RFC 4443 2.4 e)
                return False
        return True

    def format_trace(self, b):
        return trace_ip6(self.vm, b)


class Ip6Glean(Ip4Glean):
    """A packet for an unresolved host on a connected prefix: solicit it (RFC 4861 7.2.2, to
    its solicited-node group), hold the packet for the advertisement as ip4-glean holds for
    ARP, with the same bounds."""

    name = "ip6-glean"
    errors = (("neighbor solicitations sent", "info"), ("neighbor solicitations throttled", "info"),
              ("no source address for ND", "error"), ("packets held for ND", "info"),
              ("held packets dropped: no ND reply", "error"), ("held packets dropped: queue full", "error"),
              ("neighbor table full", "error"))
    HELD, THROTTLED, NO_REPLY = "packets held for ND", "neighbor solicitations throttled", \
        "held packets dropped: no ND reply"

    @property
    def ip(self):
        return self.vm.ip6

    def _targets(self, frame) -> list[int]:
        rows = self.vm.buffers.gather(frame, 24, 16)
        return [int.from_bytes(r.tobytes(), "big") for r in rows]

    def _request(self, sw: int, tip: int, now: float) -> bool:
        ip6 = self.vm.ip6
        src = ip6.source_for(sw, tip)
        if not src:
            self.count(self.err["no source address for ND"])
            return False
        ip6.table.asking((sw, tip), now)
        mac = ip6.mac(sw)
        group = W.solicited_node(tip)
        ns = icmp6.build_ns(src, group, tip, mac)
        frame = W.multicast_mac(group) + mac + b"\x86\xdd" + W.build(src, group, W.PROTO_ICMP6, len(ns), ND_HOP_LIMIT)
        return send_frame(self, sw, frame + ns, self.err["neighbor solicitations sent"])

    def format_trace(self, b):
        return trace_ip6(self.vm, b)


class Ip6DiscoverNeighbor(Ip6Glean):
    """Same, for a routed next hop whose adjacency is incomplete: solicit the next hop."""

    name = "ip6-discover-neighbor"
    target_from_packet = False
