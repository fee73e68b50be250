"""IPv6 full reassembly of fragments addressed to us: ip6-local-full-reassembly (VPP's
src/vnet/ip/reass/ip6_full_reass.c; RFC 8200 4.5), fed by ip6-receive with every fragment for
one of our addresses but atomic ones (offset 0, M clear: RFC 6946 says they are whole datagrams,
and ip6-receive delivers them so, never touching reassembly state). The table, ranges, limits,
expiry and overlap rule (RFC 5722: an overlap discards the datagram; an exact duplicate is
dropped alone) are IPv4's (vnet/ip4/reass.py FullReass); what is IPv6's:

- the key is (fib index, src, dst, identification): the next header may differ per fragment
  (RFC 8200), so it is not part of it (VPP's key, proto 0);
- a first fragment without every header through the upper-layer one is dropped with parameter
  problem code 3, pointer 0 (RFC 8200 4.5, RFC 7112; VPP: "missing-upper layer drops");
- a fragment that would make the reassembled payload exceed 65,535 bytes gets parameter problem
  code 0 pointing at its fragment offset field, and one with M set whose length is not a
  multiple of 8 points at its payload length (both RFC 8200 4.5, counted as VPP's "drop due to
  invalid fragment size"); neither touches the datagram it belongs to, as on Linux; a datagram
  whose per-fragment headers would still make it too long once complete is dropped the same way;
- a zero-length fragment, or a last fragment that disagrees with what is held, discards the
  datagram (Linux; VPP's "invalid fragment length");
- the reassembled datagram is the first fragment's per-fragment headers, the fragment header
  gone (its next header takes its place), then the data: it starts over at ip6-input;
- a datagram given up for its timeout whose first fragment arrived gets ICMPv6 time exceeded,
  code 1, quoting that fragment (RFC 8200 4.5; Linux's ip6_frag_expire, VPP's on_timeout).

Bigger than a buffer, the datagram goes to `big` by upper-layer protocol: ICMPv6's answers an
echo request with a reply fragmented at the path's MTU (a kernel's `ping -s 4000`); the UDP
transport registers its own as for IPv4.
"""

from __future__ import annotations

import random
import struct

import numpy as np

from ...vlib.buffer import RX
from ...wire import icmp6
from ...wire import ip6 as W
from ..ip4.forward import icmp_aux
from ..ip4.frag import FragError, to_buffers
from ..ip4.reass import MAX_DATAGRAM, Frag, FullReass, Reass
from .egress import egress6
from .frag import FRAG_HDR_LEN, fragment6

HOP_LIMIT = 64

# ip6 error counters used by ip6-full-reassembly (src/vnet/ip/ip.api), in VPP's order
IP6_REASS_ERRORS = (
    ("missing-upper layer drops", "error"), ("duplicate fragments", "error"), ("overlapping fragments", "error"),
    ("drops due to concurrent reassemblies limit", "error"), ("fragment chain too long (drop)", "error"),
    ("out of buffers (drop)", "error"), ("fragments dropped due to reassembly timeout", "error"),
    ("drops due to internal reassembly error", "error"), ("invalid fragment length", "error"),
    ("no fragmentation header", "error"), ("drop due to invalid fragment size", "error"),
    ("successful reassemblies", "info"), ("fragments reassembled", "info"), ("fragments received", "info"),
    ("unsupported ip protocol", "error"))


class Ip6LocalFullReass(FullReass):
    name = "ip6-local-full-reassembly"
    next_nodes = ("error-drop", "ip6-input", "ip6-icmp-error")
    errors = IP6_REASS_ERRORS
    RC_ERRORS = {"duplicate": "duplicate fragments", "overlap": "overlapping fragments",
                 "malformed": "invalid fragment length", "too long": "fragment chain too long (drop)"}
    MAX_TOTAL = W.IP6_HDR_LEN + MAX_DATAGRAM

    def __init__(self, vm) -> None:
        super().__init__(vm)
        self.big[W.PROTO_ICMP6] = icmp6_big

    def fragment(self, b: int, pkt: bytes, out: list, drops: dict) -> Frag | None:
        c = W.walk(pkt)
        fo = c.frag
        if fo < 0 or c.error not in (None, "extension header truncated"):
            drops.setdefault(self.err["no fragmentation header"], []).append(b)
            return None
        off_mf, ident = struct.unpack_from("!HI", pkt, fo + 2)
        first, mf = off_mf & 0xFFF8, bool(off_mf & 1)
        length = len(pkt) - fo - FRAG_HDR_LEN  # ip6-input trimmed the buffer to the payload length
        if first == 0 and not W.upper_layer_present(pkt, c):
            self._icmp_error(b, icmp6.PARAM_PROBLEM, icmp6.INCOMPLETE_CHAIN, 0, "missing-upper layer drops")
            return None
        if first == 0 and not mf:  # atomic (ip6-receive delivers these itself): whole as it is
            out.append(b)
            return None
        if fo - W.IP6_HDR_LEN + first + length > MAX_DATAGRAM:
            self._icmp_error(b, icmp6.PARAM_PROBLEM, icmp6.ERRONEOUS_FIELD, fo + 2, "drop due to invalid fragment size")
            return None
        if mf and length % 8:
            self._icmp_error(b, icmp6.PARAM_PROBLEM, icmp6.ERRONEOUS_FIELD, W.OFF_PLEN,
                             "drop due to invalid fragment size")
            return None
        key = (0, pkt[8:24], pkt[24:40], ident)
        if length == 0:
            return Frag(key, first, first, mf, bad="invalid fragment length", kill=True)
        head = quote = None
        if first == 0:  # the per-fragment headers, naming what the fragment header named
            head = bytearray(pkt[:fo])
            head[W.nh_field(pkt, fo)] = pkt[fo]
            quote = pkt[:W.MIN_MTU]
        return Frag(key, first, first + length - 1, mf, pkt[fo + FRAG_HDR_LEN:], head, quote)

    def assemble(self, r: Reass) -> bytes:
        hdr = r.hdr
        struct.pack_into("!H", hdr, W.OFF_PLEN, len(hdr) - W.IP6_HDR_LEN + r.data_len)
        return bytes(hdr) + b"".join(x[2] for x in r.ranges)

    def protocol(self, pkt: bytes) -> int:
        c = W.walk(pkt)
        return c.proto if c.error is None else -1

    def too_long(self, r: Reass, b: int, drops: dict) -> None:
        """Per-fragment headers longer in the first fragment than in the one that completes
        the datagram: that one gets the parameter problem its own length would have."""
        code = self.err["drop due to invalid fragment size"]
        self.count(code, r.n - 1)
        c = W.walk(self.vm.buffers.packet(b))
        self._icmp_error(b, icmp6.PARAM_PROBLEM, icmp6.ERRONEOUS_FIELD, c.frag + 2 if c.frag >= 0 else 0,
                         "drop due to invalid fragment size")

    def timed_out(self, r: Reass) -> None:
        """The first fragment arrived: time exceeded (fragment reassembly time exceeded) to its
        source, quoting it, from a fresh buffer (the fragment's went back to the pool)."""
        if r.quote is None:
            return
        bi = to_buffers(self.vm, [r.quote], r.rx, flags=0)
        if bi is None:
            self.count(self.err["out of buffers (drop)"])
            return
        self.vm.buffers.aux[bi] = icmp_aux(icmp6.TIME_EXCEEDED, icmp6.REASSEMBLY_TIME_EXCEEDED)
        self.vm.stage("ip6-icmp-error", bi)

    def _icmp_error(self, b: int, itype: int, code: int, param: int, counter: str) -> None:
        buf = self.vm.buffers
        buf.aux[b] = icmp_aux(itype, code, param)
        buf.error[b] = self.err[counter]
        self.count(self.err[counter])
        self.next1(2, b)


def icmp6_big(node: Ip6LocalFullReass, pkt: bytes, b: int) -> None:
    """A reassembled ICMPv6 message larger than a buffer: an echo request is answered as
    ip6-icmp-input answers one (the request's data, from the address asked, no extension
    headers), the reply fragmented to the path's MTU and sent to ip6-lookup; anything else is
    dropped and counted by ip6-icmp-input."""
    vm = node.vm
    buf = vm.buffers
    icmp_in = vm.node("ip6-icmp-input")
    one = np.array((b,), np.uint32)
    c = W.walk(pkt)
    msg = pkt[c.offset:]
    src, dst = int.from_bytes(pkt[8:24], "big"), int.from_bytes(pkt[24:40], "big")
    if len(msg) < 8:
        icmp_in.drop(one, icmp_in.err["icmp6 packet too short"])
        return
    if not icmp6.checksum_ok(src, dst, msg):
        icmp_in.drop(one, icmp_in.err["icmp6 checksum error"])
        return
    icmp_in.count(icmp_in.err["valid packets"])
    if msg[0] != icmp6.ECHO_REQUEST:
        icmp_in.drop(one, icmp_in.err["unknown type"])
        return
    rx = int(buf.sw_if_index[RX, b])
    me = vm.ip6.source_for(rx, src) if W.is_multicast(dst) else dst
    reply = icmp6.build_echo(me, src, icmp6.ECHO_REPLY, *struct.unpack_from("!HH", msg, 4), msg[8:])
    out = egress6(vm, src, rx if W.is_link_local(src) else None)
    try:
        frags = fragment6(W.build(me, src, W.PROTO_ICMP6, len(reply), HOP_LIMIT) + reply,
                          min(out.mtu, buf.data_size), random.getrandbits(32))
    except FragError:
        node.drop(one, node.err["drops due to internal reassembly error"])
        return
    bi = to_buffers(vm, frags, rx)
    if bi is None:
        node.drop(one, node.err["out of buffers (drop)"])
        return
    icmp_in.count(icmp_in.err["echo replies sent"])
    buf.free(one)
    vm.stage("ip6-lookup", bi)
