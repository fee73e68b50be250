"""ethernet-input: accept frames for us (our MAC, broadcast, multicast), strip the header,
and hand each to ip4-input, ip6-input, arp-input or a counted drop — one vectorised pass per frame."""

from __future__ import annotations

import numpy as np

from ...vlib.buffer import PRE_DATA, RX
from ...vlib.node import Node
from ..ip4.rows import col_view, gather, uniform_col
from ...wire.ethernet import format_ethernet_header

# the first 16 bytes as two little-endian words: dst MAC (bytes 0-5) and the type (bytes 12-13)
_ETH_MASK = np.array([0xFFFF_FFFF_FFFF, 0xFFFF << 32], np.uint64)
_TILE = 4096

NEXT_DROP, NEXT_IP4, NEXT_ARP, NEXT_IP4_OFF, NEXT_IP6_OFF, NEXT_IP6 = range(6)


class EthernetInput(Node):
    name = "ethernet-input"
    next_nodes = ("error-drop", "ip4-input", "arp-input", "ip4-not-enabled", "ip6-not-enabled", "ip6-input")
    errors = (("no error", "info"), ("unknown ethernet type", "error"), ("unknown vlan", "error"),
              ("l3 mac mismatch", "error"), ("ethernet frame too short", "error"))

    def __init__(self, vm) -> None:
        super().__init__(vm)
        self.if_mac = np.zeros((64, 6), np.uint8)  # per sw_if_index, kept by set_mac()
        self.mac_bytes: dict[int, bytes] = {}
        self._want_cache: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def set_mac(self, sw_if_index: int, mac: bytes | None) -> None:
        if sw_if_index >= len(self.if_mac):
            grown = np.zeros((max(sw_if_index + 1, 2 * len(self.if_mac)), 6), np.uint8)
            grown[: len(self.if_mac)] = self.if_mac
            self.if_mac = grown
        self.if_mac[sw_if_index] = np.frombuffer(mac or bytes(6), np.uint8)
        self.mac_bytes[sw_if_index] = bytes(mac or bytes(6))
        self._want_cache = {k: v for k, v in self._want_cache.items() if k[0] != sw_if_index}

    def _want(self, sw_if_index: int, etype: int = 0x0008) -> tuple[np.ndarray, np.ndarray]:
        """(mask, words) of an IPv4 (IPv6: etype 0xDD86, the type's bytes little-endian) frame to
        this interface's MAC, repeated for _TILE packets (flat operands: numpy's broadcasting
        of a 2-word row costs ~4x more)."""
        w = self._want_cache.get((sw_if_index, etype))
        if w is None:
            mac = int.from_bytes(self.if_mac[sw_if_index].tobytes(), "little")
            w = self._want_cache[(sw_if_index, etype)] = (
                np.tile(_ETH_MASK, _TILE), np.tile(np.array([mac, etype << 32], np.uint64), _TILE))
        return w

    def fast1(self, b: int) -> bool:
        buf = self.vm.buffers
        o = buf.start(b)
        rx = int(buf.sw_if_index[RX, b])
        mv = buf.mv
        if buf.current_length[b] < 14 or mv[o:o + 6] != self.mac_bytes.get(rx):
            return False
        t = (mv[o + 12] << 8) | mv[o + 13]
        if t == 0x0800 and self.vm.ip4.enabled[rx]:
            nxt = NEXT_IP4
        elif t == 0x86DD and rx < len(self.vm.ip6.enabled) and self.vm.ip6.enabled[rx]:
            nxt = NEXT_IP6
        else:
            return False
        buf.current_data[b] += 14
        buf.current_length[b] -= 14
        self.next1(nxt, b)
        return True

    def process(self, frame):
        buf = self.vm.buffers
        fi = frame.astype(np.intp)  # numpy indexes with intp about twice as fast as with uint32
        length = buf.current_length[fi]
        rx = buf.sw_if_index[RX][fi]
        r0 = int(rx[0])
        col = uniform_col(buf, fi)
        if col >= 0 and r0 < len(self.if_mac) and (rx == r0).all() and (length >= 14).all():
            # The common frame: IPv4 (or IPv6) for our MAC, one interface, one start. dst MAC and
            # type compared as two little-endian 64-bit words of the first 16 bytes.
            for on, etype, nxt in ((self.vm.ip4.enabled, 0x0008, NEXT_IP4), (self.vm.ip6.enabled, 0xDD86, NEXT_IP6)):
                if r0 >= len(on) or not on[r0]:
                    continue
                if col % 16 == 0 and col + 16 <= buf.stride and len(frame) <= _TILE:
                    mask, want = self._want(r0, etype)
                    m = col_view(buf, col, "V16")[fi].view("<u8")  # flat: 2 words a packet (a copy)
                    m &= mask[:len(m)]
                    m ^= want[:len(m)]
                    ok = not m.any()
                else:
                    w = gather(buf, fi, col, 14)
                    ok = (w[:, 12] == (etype & 0xFF)).all() and (w[:, 13] == etype >> 8).all() \
                        and (w[:, :6] == self.if_mac[r0]).all()
                if ok:
                    buf.current_data[fi] = col - PRE_DATA + 14
                    buf.current_length[fi] = length - 14
                    self.next(nxt, frame)
                    return
        short = length < 14
        if short.any():
            self.drop(frame[short], self.err["ethernet frame too short"])
            frame = frame[~short]
            if not len(frame):
                return
        hdr = buf.gather(frame, 0, 14)
        rx = buf.sw_if_index[RX, frame]
        etype = (hdr[:, 12].astype(np.uint16) << 8) | hdr[:, 13]
        ours = (hdr[:, :6] == self.if_mac[np.minimum(rx, len(self.if_mac) - 1)]).all(axis=1)
        group = (hdr[:, 0] & 1) == 1  # broadcast and multicast
        ip4_on = self.vm.ip4.enabled[np.minimum(rx, len(self.vm.ip4.enabled) - 1)]
        nxt = np.full(len(frame), NEXT_DROP, np.uint8)
        err = np.full(len(frame), self.err["unknown ethernet type"], np.uint16)
        is_ip4 = etype == 0x0800
        nxt[is_ip4 & ip4_on] = NEXT_IP4
        nxt[is_ip4 & ~ip4_on] = NEXT_IP4_OFF
        nxt[etype == 0x0806] = NEXT_ARP
        is_ip6 = etype == 0x86DD
        if is_ip6.any():
            ip6_on = self.vm.ip6.enabled[np.minimum(rx, len(self.vm.ip6.enabled) - 1)]
            nxt[is_ip6 & ip6_on] = NEXT_IP6
            nxt[is_ip6 & ~ip6_on] = NEXT_IP6_OFF
        err[(etype == 0x8100) | (etype == 0x88A8)] = self.err["unknown vlan"]
        mismatch = ~(ours | group)
        nxt[mismatch] = NEXT_DROP
        err[mismatch] = self.err["l3 mac mismatch"]
        buf.error[frame] = err
        buf.current_data[frame] += 14
        buf.current_length[frame] -= 14
        self.nexts(nxt, frame)

    def format_trace(self, b):
        return format_ethernet_header(self.vm.buffers.packet(b))


class NotEnabled(Node):
    """ip4-not-enabled / ip6-not-enabled: the protocol is off on the receiving interface."""

    def __init__(self, vm, proto: str) -> None:
        self.name = f"{proto}-not-enabled"
        self.errors = ((f"{proto} not enabled on interface", "error"),)
        super().__init__(vm)

    def process(self, frame):
        self.drop(frame, next(iter(self.err.values())))
