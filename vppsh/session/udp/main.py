"""UdpMain: the UDP transport — bound (listener) and connected connections, datagram output.

UDP keeps datagram boundaries in the session fifos, in the session layer's datagram format
(session/dgram.py). Packets are built for many datagrams at once: payloads are copied from the
tx fifo straight into buffers, then the IP and UDP headers and checksums of the batch are one
numpy pass.
"""

from __future__ import annotations

import struct
import time

import numpy as np

from ...wire.ip4 import format_ip4
from ...wire.format import ff
from ...vlib.buffer import F_LOCALLY_ORIGINATED, PRE_DATA, RX
from ...vnet.ip4.fields import header_checksum, put16, put32
from ...wire.checksum import ones_sum, sum_rows
from ..dgram import DGRAM_HDR, HDR_LEN
from ..main import SessionError
from ..pool import Pool
from ..transport import ConnOptions, Transport, TransportConnection, TransportProto, is_ip6
from .nodes import deliver_big
from ..fifo import Fifo
from ...vnet.ip4.frag import FragError, fragment, to_buffers

IP_HDR = struct.Struct("!BBHHHBBHII")
UDP_HDR = struct.Struct("!HHHH")
IP_CSUM = struct.Struct("!H")
IP_UDP = 28
DEFAULT_MTU = 1500  # udp { mtu }: a connection's mss is this minus IP + UDP headers
PUSH_MAX = 1024  # datagrams built per push; the rest go next loop (others get a turn)

# udp_connection flags, in VPP's order (format_udp_connection_flags prints them this way)
CONN_FLAGS = ("CONNECTED", "OWNS_PORT", "CLOSING", "LISTEN", "MIGRATED")

# VPP's well-known UDP ports (foreach_udp4/6_dst_port): `show udp ports` names them. A port
# listed twice keeps its later name, as VPP's by-port hash does (4789 shows as vxlan6 for ip4).
KNOWN_PORTS = {
    "ip4": dict((p, n) for p, n in (
        (53, "dns"), (67, "dhcp_to_server"), (68, "dhcp_to_client"), (500, "ikev2"), (2152, "GTPU"),
        (3784, "bfd4"), (3785, "bfd_echo4"), (4341, "lisp_gpe"), (4342, "lisp_cp"), (4500, "ipsec"),
        (4739, "ipfix"), (4784, "bfd4_mh"), (4789, "vxlan"), (4789, "vxlan6"), (48879, "vxlan_gbp"),
        (4790, "VXLAN_GPE"), (6633, "vpath_3"), (6081, "geneve"), (53053, "dns_reply"))),
    "ip6": dict((p, n) for p, n in (
        (53, "dns6"), (547, "dhcpv6_to_server"), (546, "dhcpv6_to_client"), (2152, "GTPU6"), (3784, "bfd6"),
        (3785, "bfd_echo6"), (4341, "lisp_gpe6"), (4342, "lisp_cp6"), (48879, "vxlan6_gbp"), (4784, "bfd6_mh"),
        (4790, "VXLAN6_GPE"), (6633, "vpath6_3"), (6081, "geneve6"), (8138, "BIER"), (53053, "dns_reply6"))),
}


class UdpConnection(TransportConnection):
    proto = TransportProto.UDP
    __slots__ = ("index", "session", "lcl_ip", "lcl_port", "rmt_ip", "rmt_port", "flags", "cfg_flags",
                 "sw_if_index", "mss", "start", "dgrams_in", "bytes_in", "errors_in", "dgrams_out",
                 "bytes_out", "ip6")

    def __init__(self, lcl_ip: int, lcl_port: int, rmt_ip: int = 0, rmt_port: int = 0,
                 flags: tuple = ()) -> None:
        self.ip6 = is_ip6(rmt_ip or lcl_ip)
        self.index = -1
        self.session = None
        self.lcl_ip, self.lcl_port, self.rmt_ip, self.rmt_port = lcl_ip, lcl_port, rmt_ip, rmt_port
        self.flags = set(flags)
        self.cfg_flags: set[str] = set()  # no-csum-offload, tracked
        self.sw_if_index = -1
        self.mss = DEFAULT_MTU - IP_UDP
        self.start = time.monotonic()
        self.dgrams_in = self.bytes_in = self.errors_in = 0
        self.dgrams_out = self.bytes_out = 0

    @property
    def connected(self) -> bool:
        return "CONNECTED" in self.flags

    @property
    def is_listener(self) -> bool:
        return "LISTEN" in self.flags

    def __repr__(self) -> str:
        return f"<UdpConnection {self.lcl_ip}:{self.lcl_port}->{self.rmt_ip}:{self.rmt_port} {self.flags}>"


class UdpMain(Transport):
    proto = TransportProto.UDP

    def __init__(self, vm) -> None:
        self.vm = vm
        self.conns = Pool()  # of UdpConnection
        # local ports some UDP session uses (listeners and connected): ip4-udp-lookup sends
        # datagrams for any other port straight to port unreachable, vectorised
        self.port_refcnt = np.zeros(65536, np.int32)
        self.connected_ports = np.zeros(65536, np.int32)  # of those, ports of connected sessions
        self.enabled = False

    def icmp_error(self, lcl_ip: int, lcl_port: int, rmt_ip: int, rmt_port: int, e) -> bool | None:
        """An ICMP error about a datagram we sent: a connected session's app hears a hard one
        (True); False for a soft one, None if no connected session sent it."""
        c = self.vm.session.conns.get((self.proto, lcl_ip, lcl_port, rmt_ip, rmt_port))
        if c is None or c.session is None or not c.connected:
            return None
        if e.hard:
            c.session.app.on_error(c.session, e.errno)
        return e.hard

    # ------------------------------------------------------------ enable / tables
    def enable(self) -> None:
        self.enabled = True
        self.vm.node("ip4-receive").register_protocol(17, "ip4-udp-lookup")
        for name in ("ip4-icmp-error-input", "ip6-icmp-error-input"):
            self.vm.node(name).register_protocol(17, self.icmp_error)
        self.vm.node("ip4-local-full-reassembly").big[17] = deliver_big  # reassembled, > a buffer

    def disable(self) -> None:
        for c in list(self.conns):
            if c is not None:
                self.delete(c)
        # back to ip4-receive's own handling: port unreachable for every datagram
        self.vm.node("ip4-receive").proto_next.pop(17, None)
        self.vm.node("ip4-local-full-reassembly").big.pop(17, None)
        for name in ("ip4-icmp-error-input", "ip6-icmp-error-input"):
            self.vm.node(name).handlers.pop(17, None)
        self.enabled = False

    def _add(self, c: UdpConnection) -> None:
        c.index = self.conns.put(c)
        self.port_refcnt[c.lcl_port] += 1
        if c.connected and not c.is_listener:
            self.connected_ports[c.lcl_port] += 1
            self.vm.session.add_conn(self.proto, c.lcl_ip, c.lcl_port, c.rmt_ip, c.rmt_port, c)

    def delete(self, c: UdpConnection) -> None:
        """Forget the connection and free its session (no app callback: the app asked, or left)."""
        if c.index < 0:
            return
        self.conns.release(c.index, c)
        c.index = -1
        self.port_refcnt[c.lcl_port] -= 1
        if c.connected and not c.is_listener:
            self.connected_ports[c.lcl_port] -= 1
        sm = self.vm.session
        sm.del_conn(self.proto, c.lcl_ip, c.lcl_port, c.rmt_ip, c.rmt_port, c)
        s, c.session = c.session, None
        if s is not None and not c.is_listener:  # a listener's session is freed by unlisten
            sm.free(s)

    def active(self) -> list[UdpConnection]:
        return [c for c in self.conns if c is not None]

    # ------------------------------------------------------------ transport API (session layer)
    def listen(self, session, ip: int, port: int) -> UdpConnection:
        """A bound socket: datagrams from any peer land in this one session's rx fifo, so the
        listener has fifos of its own (a TCP listener has none)."""
        c = UdpConnection(ip, port, flags=("OWNS_PORT", "LISTEN"))
        c.session = session
        app = session.app
        session.rx_fifo, session.tx_fifo = Fifo(app.rx_fifo_size, app.budget), Fifo(app.tx_fifo_size, app.budget)
        session.flags = session.flags | {"connectionless"}
        self._add(c)
        return c

    def unlisten(self, c: UdpConnection) -> None:
        self.delete(c)

    def connect(self, app, ip: int, port: int, opaque=None, opts: ConnOptions | None = None,
                lcl_ip: int = 0, lcl_port: int = 0) -> UdpConnection:
        """A connected session to ip:port, ready at once (UDP has no handshake): the app's
        on_connected runs before this returns. `lcl_ip`/`lcl_port` bind the local end."""
        sm = self.vm.session
        if not 0 < port < 65536:
            raise SessionError("invalid value")
        sw, src = sm.source_address(ip)
        src = lcl_ip or src
        lport = lcl_port or sm.alloc_port(self.proto, src, ip, port)
        if (self.proto, src, lport, ip, port) in sm.conns:
            raise SessionError("session already exists")
        c = UdpConnection(src, lport, ip, port, flags=("CONNECTED", "OWNS_PORT"))
        c.sw_if_index = sw
        c.mss = self.vm.ip4.mtu(sw) - IP_UDP if sw >= 0 else c.mss
        self._add(c)
        s = sm.connected(app, c, opaque)
        s.state = "opened"  # becomes ready on its first datagram, as in VPP
        c.session = s
        app.on_connected(s, None, opaque)
        return c

    def push(self, c: UdpConnection) -> None:
        """Send what the app queued: datagrams from the session's tx fifo into packets."""
        s = c.session
        if s is None or s.tx_fifo is None:
            return
        f = s.tx_fifo
        sm = self.vm.session
        sent = self._output(c, f)
        if f.size >= HDR_LEN and sent:
            sm.schedule_tx(s)  # more than one batch: the rest next loop
        if sent:
            sm.notify_tx_space(s)

    def rx_consumed(self, c) -> None:
        """No window to open: a datagram that finds the fifo full is dropped (`Fifo full`)."""

    def close(self, c: UdpConnection) -> None:
        """What the app queued still goes out, then the connection is gone."""
        if c.index < 0:
            return
        s = c.session
        if s is not None and s.tx_fifo is not None and s.tx_fifo.size:
            c.flags.add("CLOSING")
            self._output(c, s.tx_fifo, limit=1 << 30)
        if c.is_listener and s is not None:
            self.vm.session.unlisten(s)
        else:
            self.delete(c)

    def shutdown(self, c) -> None:
        """Nothing to half-close in UDP."""

    def reset(self, c: UdpConnection) -> None:
        if c.is_listener and c.session is not None:
            self.vm.session.unlisten(c.session)
        else:
            self.delete(c)

    # ------------------------------------------------------------ output
    def _output(self, c: UdpConnection, f, limit: int = PUSH_MAX) -> int:
        """Build up to `limit` datagrams from fifo `f` into buffers staged to udp4-output."""
        vm = self.vm
        buf = vm.buffers
        node = vm.node("udp4-output")
        max_len = buf.data_size - IP_UDP
        total = 0
        while f.size >= HDR_LEN and total < limit:
            want = min(limit - total, PUSH_MAX)
            # walk the headers first: how many datagrams, and how long
            metas, off, avail = [], 0, f.size
            while len(metas) < want and avail - off >= HDR_LEN:
                rip, lip, rport, lport, n = DGRAM_HDR.unpack(f.peek(off, HDR_LEN))
                if avail - off < HDR_LEN + n:
                    break
                metas.append((rip, lip, rport, lport, n, off + HDR_LEN))
                off += HDR_LEN + n
            if not metas:
                break
            fits = sum(1 for m in metas if m[4] <= max_len)
            bi = buf.alloc(fits)
            if len(bi) < fits:  # pool dry: send what we have buffers for, the rest stays queued
                node.count(node.err["No buffer available"], fits - len(bi))
                cut, k = 0, 0
                for cut, m in enumerate(metas):
                    if m[4] <= max_len:
                        if k == len(bi):
                            break
                        k += 1
                else:
                    cut = len(metas)
                metas = metas[:cut]
                if not metas:
                    break
            mv, stride = buf.mv, buf.stride
            blist = bi.tolist()
            rows_meta = []
            done = 0  # datagrams of rows_meta already sent: the order of the fifo is kept
            for rip, lip, rport, lport, n, poff in metas:
                if n > max_len:  # larger than a buffer: fragmented here, to the egress MTU
                    if len(rows_meta) > done:
                        self._headers(c, bi[done:len(rows_meta)], rows_meta[done:])
                        done = len(rows_meta)
                    self._output_big(c, rip, lip, rport, f.peek(poff, n))
                    continue
                base = blist[len(rows_meta)] * stride + PRE_DATA + IP_UDP  # fresh: current_data 0
                if n:
                    f.peek_into(poff, mv[base:base + n])
                rows_meta.append((rip, lip, rport, lport, n))
            last = metas[-1]
            f.drop(last[5] + last[4])
            total += len(metas)
            if len(rows_meta) > done:
                self._headers(c, bi[done:len(rows_meta)], rows_meta[done:])
        return total

    def _output_big(self, c: UdpConnection, rip: int, lip: int, rport: int, data: bytes) -> None:
        """One datagram too big for a buffer: built whole, then sent as IP fragments of the
        egress interface's MTU (at most a buffer each). DF is clear, as VPP's UDP sends."""
        vm = self.vm
        node = vm.node("udp4-output")
        sw, rip, rport, lip = self._egress1(c, rip, rport, lip)
        if not lip:
            node.count(node.err["No route to destination"])
            return
        n = len(data)
        udp = bytearray(UDP_HDR.pack(c.lcl_port, rport, n + 8, 0)) + data
        cs = ~ones_sum(udp, (lip >> 16) + (lip & 0xFFFF) + (rip >> 16) + (rip & 0xFFFF) + 17 + n + 8) & 0xFFFF
        IP_CSUM.pack_into(udp, 6, cs or 0xFFFF)
        pkt = IP_HDR.pack(0x45, 0, n + IP_UDP, 0, 0, 255, 17, 0, lip, rip) + udp
        frag = vm.node("ip4-frag")
        mtu = vm.ip4.mtu(sw) if sw >= 0 else DEFAULT_MTU
        try:
            frags = fragment(pkt, frag.max_size(mtu), frag.next_id())
        except FragError:
            node.count(node.err["Packets with length errors"])
            return
        bi = to_buffers(vm, frags, max(sw, 0))
        if bi is None:
            node.count(node.err["No buffer available"])
            return
        c.dgrams_out += 1
        c.bytes_out += n
        vm.stage("udp4-output", bi)

    def _headers(self, c: UdpConnection, bi: np.ndarray, metas: list) -> None:
        """IP + UDP headers and checksums for a batch of datagrams already in their buffers."""
        vm = self.vm
        buf = vm.buffers
        if len(metas) == 1:
            self._header1(c, int(bi[0]), *metas[0])
            return
        m = np.array(metas, np.int64)
        rip, lip, rport, lport, n = m[:, 0], m[:, 1], m[:, 2], m[:, 3], m[:, 4]
        if c.connected:  # the connection's own 4-tuple (the app may only name the peer)
            rip[:] = c.rmt_ip
            rport[:] = c.rmt_port
            lip[:] = c.lcl_ip
        lport[:] = c.lcl_port
        sw = np.full(len(bi), max(c.sw_if_index, 0), np.int64)
        unsourced = lip == 0
        if unsourced.any() or not c.connected:
            self._route(rip, lip, sw)
        no_src = lip == 0
        if no_src.any():  # no route / no address toward the peer: nothing sensible to send
            node = vm.node("udp4-output")
            node.drop(bi[no_src], node.err["No route to destination"])
            keep = ~no_src
            bi, rip, lip, rport, lport, n, sw = bi[keep], rip[keep], lip[keep], rport[keep], lport[keep], \
                n[keep], sw[keep]
            if not len(bi):
                return
        k = len(bi)
        h = np.zeros((k, IP_UDP), np.uint8)
        h[:, 0] = 0x45
        put16(h, 2, n + IP_UDP)
        h[:, 8] = 255  # vlib_buffer_push_ip4: locally originated session traffic
        h[:, 9] = 17
        put32(h, 12, lip.astype(np.uint32))
        put32(h, 16, rip.astype(np.uint32))
        put16(h, 10, header_checksum(h))
        put16(h, 20, lport)
        put16(h, 22, rport)
        put16(h, 24, n + 8)
        buf.data[bi, PRE_DATA:PRE_DATA + IP_UDP] = h
        width = 8 + int(n.max())
        rows = buf.data[bi, PRE_DATA + 20:PRE_DATA + 20 + width]
        pseudo = (lip >> 16) + (lip & 0xFFFF) + (rip >> 16) + (rip & 0xFFFF) + 17 + n + 8
        cs = (~sum_rows(rows, 0, n + 8, pseudo.astype(np.uint64)).astype(np.uint16)).astype(np.uint16)
        cs[cs == 0] = 0xFFFF  # RFC 768: a computed zero is sent as all ones
        buf.data[bi, PRE_DATA + 26] = cs >> 8
        buf.data[bi, PRE_DATA + 27] = cs & 0xFF
        buf.current_data[bi] = 0
        buf.current_length[bi] = (n + IP_UDP).astype(np.uint32)
        buf.flags[bi] = F_LOCALLY_ORIGINATED
        buf.sw_if_index[RX, bi] = sw.astype(np.uint32)
        c.dgrams_out += k
        c.bytes_out += int(n.sum())
        vm.stage("udp4-output", bi)

    def _egress1(self, c: UdpConnection, rip: int, rport: int, lip: int) -> tuple[int, int, int, int]:
        """(egress sw_if_index or -1, peer, peer port, source) of one datagram: a connected
        session's own 4-tuple, else the FIB's route (and source address where the app gave none)."""
        sw = c.sw_if_index
        if c.connected:
            rip, rport, lip = c.rmt_ip, c.rmt_port, c.lcl_ip
        if not c.connected or not lip or sw < 0:
            try:
                sw, src = self.vm.session.source_address(rip)
            except SessionError:
                sw, src = -1, 0
            lip = lip or src
        return sw, rip, rport, lip

    def _header1(self, c: UdpConnection, b: int, rip: int, lip: int, rport: int, _lport: int, n: int) -> None:
        """One datagram (a request/response exchange): plain struct packing, as numpy's fixed
        cost per call would dominate."""
        vm = self.vm
        buf = vm.buffers
        sw, rip, rport, lip = self._egress1(c, rip, rport, lip)
        if not lip:
            node = vm.node("udp4-output")
            node.drop(np.array((b,), np.uint32), node.err["No route to destination"])
            return
        mv = buf.mv
        o = b * buf.stride + PRE_DATA
        IP_HDR.pack_into(mv, o, 0x45, 0, n + IP_UDP, 0, 0, 255, 17, 0, lip, rip)
        IP_CSUM.pack_into(mv, o + 10, ~ones_sum(mv[o:o + 20]) & 0xFFFF)
        UDP_HDR.pack_into(mv, o + 20, c.lcl_port, rport, n + 8, 0)
        cs = ~ones_sum(mv[o + 20:o + 28 + n], (lip >> 16) + (lip & 0xFFFF) + (rip >> 16) + (rip & 0xFFFF)
                       + 17 + n + 8) & 0xFFFF
        IP_CSUM.pack_into(mv, o + 26, cs or 0xFFFF)
        buf.current_data[b] = 0
        buf.current_length[b] = n + IP_UDP
        buf.flags[b] = F_LOCALLY_ORIGINATED
        buf.sw_if_index[RX, b] = max(sw, 0)
        c.dgrams_out += 1
        c.bytes_out += n
        vm.stage("udp4-output", np.array((b,), np.uint32))

    def _route(self, rip: np.ndarray, lip: np.ndarray, sw: np.ndarray) -> None:
        """Egress interface (and source address where the app gave none) per distinct peer."""
        sm = self.vm.session
        seen: dict[int, tuple[int, int]] = {}
        for i, r in enumerate(rip.tolist()):
            got = seen.get(r)
            if got is None:
                try:
                    got = sm.source_address(r)
                except SessionError:
                    got = (0, 0)
                seen[r] = got
            sw[i] = got[0]
            if not lip[i]:
                lip[i] = got[1]

    # ------------------------------------------------------------ CLI helpers
    def format_id(self, c: UdpConnection) -> str:
        s = c.session
        return (f"[{s.thread if s is not None else 0}:{s.index if s is not None else 0}][U] "
                f"{format_ip4(c.lcl_ip)}:{c.lcl_port}->{format_ip4(c.rmt_ip)}:{c.rmt_port}")

    def state_name(self, c: UdpConnection) -> str:
        return "LISTEN" if c.is_listener else "OPENED"

    def format_details(self, c: UdpConnection, level: int) -> list[str]:
        """format_udp_vars: index, cfg and connection flags, then (not for listeners) stats."""
        cfg = ", ".join(x for x in ("no-csum-offload", "tracked") if x in c.cfg_flags)
        flags = ", ".join(x for x in CONN_FLAGS if x in c.flags)
        lines = [f" index {c.index} cfg: {' cfg: ' + cfg if cfg else ''} flags: {flags}"]
        if c.is_listener:
            lines.append(" fib_index 0 next_node 0 opaque 0")
            return lines
        dur = time.monotonic() - c.start
        lines.append(f" fib_index 0 next_node 0 opaque 0 sw_if_index {c.sw_if_index} mss {c.mss} "
                     f"duration {ff(dur, 3)}")
        lines.append(f" stats: in dgrams {c.dgrams_in} bytes {c.bytes_in} err {c.errors_in}")
        lines.append(f"        out dgrams {c.dgrams_out} bytes {c.bytes_out}")
        return lines
