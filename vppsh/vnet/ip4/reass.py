"""Full reassembly of fragments addressed to us, for both families: `FullReass` is what IPv4's
and IPv6's nodes share (VPP's src/vnet/ip/reass/ip4_full_reass.c and ip6_full_reass.c are the
same machine twice); `Ip4LocalFullReass` is ip4-local-full-reassembly, fed by ip4-receive with
every fragment for one of our addresses; vnet/ip6/reass.py holds IPv6's. A reassembled datagram
starts over at <family>-input, as in VPP.

A reassembly is keyed by what the family says (IPv4: fib index, src, dst, fragment id,
protocol; IPv6: fib index, src, dst, fragment id). Fragment payloads are copied out of their
buffers as they arrive (the buffers go back to the pool at once, so a thousand half-done
datagrams pin no buffers) into a list of disjoint byte ranges sorted by offset; the datagram is
complete when a last fragment (no more-fragments flag) has been seen and the ranges cover every
byte up to it (RFC 815's hole list, kept implicitly). Overlaps are handled as RFC 5722 (Errata
3089) and VPP say: a fragment with exactly the offsets of one held is a duplicate and is dropped
alone; any other overlap, or a last fragment that disagrees with what is held, discards the
whole datagram. (Linux is looser: a fragment wholly inside data it holds is a duplicate to it,
whatever its bytes; tests/system/test_ip6_local_kernel.py shows the difference.) Every fragment dropped is counted once, under VPP's reason string,
in `show errors`.

Bounds: at most `max_reassemblies` datagrams in progress (new ones are refused), at most
`max_reassembly_length` fragments each, 65535 bytes per datagram, and `timeout_ms` after the
last fragment heard (an expire walk every `expire_walk_interval_ms`, only while any exist).

A datagram that fits one buffer goes on as one packet; a bigger one (the buffers are 2 KB
unless a gso tap grew them) goes to its protocol's handler in `big`: UDP's delivers it to its
session (vppsh/session/udp/nodes.py), ICMP's answers an echo request with a fragmented reply.
"""

from __future__ import annotations

import bisect
import struct
from typing import NamedTuple

import numpy as np

from ...vlib.buffer import F_GSO, F_OFFLOAD, F_TRACED, PRE_DATA, RX
from ...vlib.node import Node
from ...wire.checksum import csum
from .egress import egress
from .frag import MF, OFFSET_MASK, FragError, fragment, to_buffers

# VPP's defaults (ip4_full_reass.c, ip6_full_reass.c) but the fragment count: VPP's 3 would
# refuse anything bigger than ~4 KB from a 1500-byte MTU peer; 256 fragments carry 64 KB at an
# MTU of ~280.
TIMEOUT_MS = 200
EXPIRE_WALK_INTERVAL_MS = 50
MAX_REASSEMBLIES = 1024
MAX_REASSEMBLY_LENGTH = 256
MAX_DATAGRAM = 65535

# ip4 error counters used by ip4-full-reassembly (src/vnet/ip/ip.api), VPP's descriptions
REASS_ERRORS = (
    ("duplicate/overlapping fragments", "error"), ("drops due to concurrent reassemblies limit", "error"),
    ("fragment chain too long (drop)", "error"), ("out of buffers (drop)", "error"),
    ("malformed packets", "error"), ("drops due to internal reassembly error", "error"),
    ("fragments dropped due to reassembly timeout", "error"), ("successful reassemblies", "info"),
    ("fragments reassembled", "info"), ("fragments received", "info"), ("unsupported ip protocol", "error"))


class Frag(NamedTuple):
    """One fragment as its family's `fragment()` reads it: the reassembly key, the byte range
    [first, last] it covers in the datagram's data, whether more follow, its data, and for the
    offset-0 fragment the header the datagram will carry (`head`) and what an ICMP error about
    the datagram quotes (`quote`, IPv6's time exceeded). `bad` names the counter of a fragment
    that is dropped without being held; `kill` says it takes the datagram along."""

    key: tuple
    first: int
    last: int
    mf: bool
    data: bytes = b""
    head: bytes | None = None
    quote: bytes | None = None
    bad: str | None = None
    kill: bool = False


class Reass:
    """One datagram being put back together."""

    __slots__ = ("id", "key", "last_heard", "ranges", "data_len", "last_octet", "max_end", "hdr", "n",
                 "ops", "first_bi", "quote", "rx")

    def __init__(self, rid: int, key: tuple, now: float) -> None:
        self.id, self.key, self.last_heard = rid, key, now
        self.ranges: list[tuple[int, int, bytes, int]] = []  # (first, last, data, bi), by offset
        self.data_len = 0
        self.last_octet = -1  # offset of the last byte, once the fragment without MF arrived
        self.max_end = 0
        self.hdr: bytes | None = None  # the offset-0 fragment's header (Frag.head)
        self.n = 0  # fragments held
        self.ops = 0  # trace operation counter
        self.first_bi = 0xFFFFFFFF
        self.quote: bytes | None = None  # the offset-0 fragment, for an ICMP error about it
        self.rx = 0  # the interface it came in on


class FullReass(Node):
    """The family-neutral part: the table, ranges, limits, expiry, trace and the hand-off of a
    finished datagram. A family gives `fragment()` (parse and check one fragment), `assemble()`
    (the datagram from its pieces), `protocol()` (what the datagram carries, for `big`) and
    may act on a timeout (`timed_out`) or on an assembled datagram that is too long (`too_long`).
    Next slot 1 is the family's input node."""

    errors = REASS_ERRORS
    trace_in_process = True
    MAX_TOTAL = MAX_DATAGRAM  # the longest datagram, header included (IPv6: 40 + 65535)
    # _update's verdict -> the counter of the fragments it drops
    RC_ERRORS = {"duplicate": "duplicate/overlapping fragments", "overlap": "duplicate/overlapping fragments",
                 "malformed": "malformed packets", "too long": "fragment chain too long (drop)"}

    def __init__(self, vm) -> None:
        super().__init__(vm)
        self.timeout_ms = TIMEOUT_MS
        self.expire_walk_interval_ms = EXPIRE_WALK_INTERVAL_MS
        self.max_reassemblies = MAX_REASSEMBLIES
        self.max_reassembly_length = MAX_REASSEMBLY_LENGTH
        self.table: dict[tuple, Reass] = {}
        self.id_counter = 0
        self._walk = None  # the pending expire-walk timer
        # protocol -> fn(node, datagram bytes, buffer index): datagrams larger than a buffer.
        # The handler owns the buffer (a fragment's, for errors or reuse): free, drop or send it.
        self.big: dict = {}

    # ------------------------------------------------------------ the family's part
    def fragment(self, b: int, pkt: bytes, out: list, drops: dict) -> Frag | None:
        """Read one fragment; None when the packet was dealt with here (passed on whole, sent
        to an ICMP error, dropped: each counted)."""
        raise NotImplementedError

    def assemble(self, r: Reass) -> bytes:
        raise NotImplementedError

    def protocol(self, pkt: bytes) -> int:
        raise NotImplementedError

    def timed_out(self, r: Reass) -> None:
        """A reassembly is given up for its timeout (before its fragments are counted)."""

    def too_long(self, r: Reass, b: int, drops: dict) -> None:
        """The assembled datagram would exceed MAX_TOTAL: b (the completing fragment) is
        dropped, the other fragments held with it counted."""
        self.count(self.err["malformed packets"], r.n - 1)
        drops.setdefault(self.err["malformed packets"], []).append(b)

    # ------------------------------------------------------------ data path
    def process(self, frame):
        vm = self.vm
        buf = vm.buffers
        err = self.err
        now = vm.now()
        timeout = self.timeout_ms / 1000.0
        drops: dict[int, list[int]] = {}
        freed: list[int] = []
        out: list[int] = []
        self.count(err["fragments received"], len(frame))
        for b in frame.tolist():
            f = self.fragment(b, buf.packet(b), out, drops)
            if f is None:
                continue
            r = self.table.get(f.key)
            if r is not None and now > r.last_heard + timeout:
                self._timeout(r)
                r = None
            if f.bad is not None:
                if r is not None and f.kill:
                    self._kill(r, err[f.bad])
                drops.setdefault(err[f.bad], []).append(b)
                continue
            if r is None:
                if len(self.table) >= self.max_reassemblies:
                    drops.setdefault(err["drops due to concurrent reassemblies limit"], []).append(b)
                    continue
                r = Reass(self.id_counter, f.key, now)
                self.id_counter += 1
                self.table[f.key] = r
                self._arm()
            r.last_heard = now
            rc = self._update(r, f, b)
            traced = vm.trace.active and buf.flags[b] & F_TRACED
            if traced:
                self._trace(b, r, f.first, f.last, rc)
            if rc == "ok":
                freed.append(b)
            elif rc == "duplicate":
                drops.setdefault(err[self.RC_ERRORS[rc]], []).append(b)
            elif rc in ("overlap", "malformed", "too long"):
                code = err[self.RC_ERRORS[rc]]
                if rc == "too long":  # this fragment is held already: counted with its buffer below
                    r.n -= 1
                self._kill(r, code)
                drops.setdefault(code, []).append(b)
            else:  # complete
                self._finish(r, b, out, drops)
        for code, bl in drops.items():
            self.drop(np.array(bl, np.uint32), code)
        if freed:
            buf.free(np.array(freed, np.uint32))
        if out:
            self.next(1, np.array(out, np.uint32))

    def _update(self, r: Reass, f: Frag, b: int) -> str:
        """Add one fragment: 'ok', 'duplicate', 'overlap', 'malformed', 'too long' or 'done'."""
        first, last, mf = f.first, f.last, f.mf
        end = last + 1
        if not mf:  # the last fragment: nothing may lie beyond it, and it must agree with any seen
            if end < r.max_end or (r.last_octet >= 0 and r.last_octet != last):
                return "malformed"
        elif r.last_octet >= 0 and end > r.last_octet + 1:
            return "malformed"
        ranges = r.ranges
        i = bisect.bisect_left(ranges, first, key=lambda x: x[0])
        if i < len(ranges) and ranges[i][0] == first and ranges[i][1] == last:
            return "duplicate"
        if (i > 0 and ranges[i - 1][1] >= first) or (i < len(ranges) and ranges[i][0] <= last):
            return "overlap"
        ranges.insert(i, (first, last, f.data, b))
        if first == 0:
            r.hdr = f.head
            r.quote = f.quote
            r.first_bi = b
            r.rx = int(self.vm.buffers.sw_if_index[RX, b])
        if not mf:
            r.last_octet = last
        r.max_end = max(r.max_end, end)
        r.data_len += end - first
        r.n += 1
        if r.last_octet >= 0 and r.data_len == r.last_octet + 1:
            return "done"
        if r.n > self.max_reassembly_length:
            return "too long"
        return "ok"

    def _finish(self, r: Reass, b: int, out: list, drops: dict) -> None:
        """The last hole filled: the datagram into buffer b (when it fits) or to `big`."""
        vm = self.vm
        buf = vm.buffers
        err = self.err
        del self.table[r.key]
        total = len(r.hdr) + r.data_len
        if total > self.MAX_TOTAL:  # the header made the datagram longer than it may be
            self.too_long(r, b, drops)
            return
        pkt = self.assemble(r)
        self.count(err["successful reassemblies"])
        self.count(err["fragments reassembled"], r.n)
        buf.flags[b] &= ~np.uint32(F_OFFLOAD | F_GSO)  # the fragment's offload state says nothing now
        if len(pkt) <= buf.data_size:
            o = b * buf.stride + PRE_DATA
            buf.mv[o:o + len(pkt)] = pkt
            buf.current_data[b] = 0
            buf.current_length[b] = len(pkt)
            out.append(b)
            return
        handler = self.big.get(self.protocol(pkt))
        if handler is None:
            drops.setdefault(err["unsupported ip protocol"], []).append(b)
            return
        handler(self, pkt, b)

    def _kill(self, r: Reass, code: int) -> None:
        """Discard a reassembly; its held fragments count as dropped for `code`."""
        if self.table.get(r.key) is r:
            del self.table[r.key]
        self.count(code, r.n)

    def _timeout(self, r: Reass) -> None:
        self.timed_out(r)
        self._kill(r, self.err["fragments dropped due to reassembly timeout"])

    def _trace(self, b: int, r: Reass, first: int, last: int, rc: str) -> None:
        what = {"ok": "new", "done": "new", "duplicate": "overlapping/ignored", "overlap": "discard",
                "malformed": "discard", "too long": "discard"}[rc]
        text = (f"reass id: {r.id}, op id: {r.ops}, first bi: {r.first_bi}, data len: {r.data_len}, "
                f"ip/fragment[{first}, {last}]\n  {what} range: [{first}, {last}], off 0, "
                f"len {last - first + 1}, bi {b}")
        if rc == "done":
            text += "\n  finalize reassembly"
        r.ops += 1
        self.vm.trace.add(self, b, text)

    # ------------------------------------------------------------ expiry
    def _arm(self) -> None:
        if self._walk is None and self.table:
            self._walk = self.vm.timer(self.expire_walk_interval_ms / 1000.0, self._expire)

    def _expire(self) -> None:
        """<family>-full-reassembly-expire-walk: drop reassemblies not heard from for `timeout`."""
        self._walk = None
        now = self.vm.now()
        timeout = self.timeout_ms / 1000.0
        for r in [r for r in self.table.values() if now > r.last_heard + timeout]:
            self._timeout(r)
        self._arm()

    def configure(self, timeout_ms=None, max_reassemblies=None, max_reassembly_length=None,
                  expire_walk_interval_ms=None) -> None:
        if timeout_ms is not None:
            self.timeout_ms = timeout_ms
        if max_reassemblies is not None:
            self.max_reassemblies = max_reassemblies
        if max_reassembly_length is not None:
            self.max_reassembly_length = max_reassembly_length
        if expire_walk_interval_ms is not None:
            self.expire_walk_interval_ms = max(1, expire_walk_interval_ms)
        if self._walk is not None:  # the new interval applies from now
            self.vm.timers.cancel(self._walk)
            self._walk = None
        self._arm()

    def format_trace(self, b):
        return ""


class Ip4LocalFullReass(FullReass):
    name = "ip4-local-full-reassembly"
    next_nodes = ("error-drop", "ip4-input")

    def __init__(self, vm) -> None:
        super().__init__(vm)
        self.big[1] = icmp_big

    def fragment(self, b: int, pkt: bytes, out: list, drops: dict) -> Frag | None:
        ihl = (pkt[0] & 0x0F) * 4
        total, ident, ff = struct.unpack_from("!HHH", pkt, 2)
        if not ff & (MF | OFFSET_MASK):  # a whole packet: nothing to do
            out.append(b)
            return None
        first = (ff & OFFSET_MASK) * 8
        length = total - ihl
        last = first + length - 1
        mf = bool(ff & MF)
        key = (0, pkt[12:16], pkt[16:20], ident, pkt[9])
        if length <= 0 or first + length > MAX_DATAGRAM - 20 or (mf and (length < 8 or length % 8)):
            # malformed (VPP's checks, plus RFC 791's multiple of 8); one that would make the
            # datagram too long takes the rest of it along, as Linux does
            return Frag(key, first, last, mf, bad="malformed packets", kill=length > 0)
        return Frag(key, first, last, mf, pkt[ihl:ihl + length], pkt[:ihl] if first == 0 else None)

    def assemble(self, r: Reass) -> bytes:
        hdr = bytearray(r.hdr)
        struct.pack_into("!H", hdr, 2, len(hdr) + r.data_len)
        hdr[6:8] = b"\0\0"  # VPP: flags_and_fragment_offset = 0
        hdr[10:12] = b"\0\0"
        struct.pack_into("!H", hdr, 10, csum(hdr))
        return bytes(hdr) + b"".join(x[2] for x in r.ranges)

    def protocol(self, pkt: bytes) -> int:
        return pkt[9]


def icmp_big(node: Ip4LocalFullReass, pkt: bytes, b: int) -> None:
    """A reassembled ICMP message larger than a buffer: an echo request is answered (VPP's
    ip4-icmp-echo-request: addresses swapped, TTL 64, options dropped), the reply fragmented
    to the egress MTU and sent to ip4-lookup; anything else is dropped as ip4-icmp-input would."""
    vm = node.vm
    buf = vm.buffers
    icmp_in = vm.node("ip4-icmp-input")
    one = np.array((b,), np.uint32)
    ihl = (pkt[0] & 0x0F) * 4
    if len(pkt) < ihl + 8:
        icmp_in.drop(one, icmp_in.err["icmp packet too short"])
        return
    if pkt[ihl] != 8:
        icmp_in.drop(one, icmp_in.err["unknown type"])
        return
    icmp = bytearray(pkt[ihl:])
    icmp[0] = 0
    c = ((icmp[2] << 8) | icmp[3]) + 0x0800
    struct.pack_into("!H", icmp, 2, ((c & 0xFFFF) + (c >> 16)) & 0xFFFF)
    src, dst = struct.unpack_from("!II", pkt, 12)
    reply = struct.pack("!BBHHHBBHII", 0x45, pkt[1], 20 + len(icmp), 0, 0, 64, 1, 0, dst, src) + icmp
    frag = vm.node("ip4-frag")
    try:
        frags = fragment(reply, frag.max_size(egress(vm, src).mtu), frag.next_id())
    except FragError:
        node.drop(one, node.err["drops due to internal reassembly error"])
        return
    bi = to_buffers(vm, frags, int(buf.sw_if_index[RX, b]))
    if bi is None:
        node.drop(one, node.err["out of buffers (drop)"])
        return
    echo = vm.node("ip4-icmp-echo-request")
    echo.count(echo.err["echo replies sent"])
    buf.free(one)
    vm.stage("ip4-lookup", bi)
