"""arp-input (validation, vectorised), arp-reply (learn + answer), ip4-glean / ip4-arp (ask).

ARP traffic is a handful of packets, so learning and answering loop per packet; checks that
protect the engine from malformed frames are vectorised like every other input node.
"""

from __future__ import annotations

import ipaddress

import numpy as np

from ..ip4.forward import trace_ip4
from ...wire.ip4 import format_ip4
from ...vlib.buffer import F_LOCALLY_ORIGINATED, RX, TX
from ...vlib.node import Node
from ..ip4.fields import be16, be32
from .hold import HOLD_TRIES

BROADCAST = b"\xff" * 6


def arp_request(src_mac: bytes, src_ip: int, target_ip: int) -> bytes:
    return (BROADCAST + src_mac + b"\x08\x06" + b"\x00\x01\x08\x00\x06\x04\x00\x01" + src_mac
            + src_ip.to_bytes(4, "big") + bytes(6) + target_ip.to_bytes(4, "big"))


class ArpInput(Node):
    name = "arp-input"
    next_nodes = ("error-drop", "arp-reply")
    errors = (("L2 type not ethernet", "error"), ("L3 type not IP4", "error"),
              ("ARP packet too short", "error"), ("ARP opcode not request or reply", "error"),
              ("Interface is not IP enabled", "error"))

    def process(self, frame):
        vm = self.vm
        buf = vm.buffers
        h = buf.gather(frame, 0, 8)
        short = buf.current_length[frame] < 28
        rx = buf.sw_if_index[RX, frame]
        on = vm.ip4.enabled[np.minimum(rx, len(vm.ip4.enabled) - 1)]
        op = be16(h, 6)
        err = np.select([short, (be16(h, 0) != 1) | (h[:, 4] != 6), (be16(h, 2) != 0x0800) | (h[:, 5] != 4),
                         (op != 1) & (op != 2), ~on],
                        [self.err["ARP packet too short"], self.err["L2 type not ethernet"],
                         self.err["L3 type not IP4"], self.err["ARP opcode not request or reply"],
                         self.err["Interface is not IP enabled"]], 0)
        buf.error[frame] = err
        self.nexts((err == 0).astype(np.uint8), frame)

    def format_trace(self, b):
        return _format_arp(self.vm.buffers.packet(b))


def _format_arp(p: bytes) -> str:
    if len(p) < 28:
        return f"truncated arp packet ({len(p)} bytes)"

    op = {1: "request", 2: "reply"}.get(int.from_bytes(p[6:8], "big"), "unknown")
    mac = lambda m: ":".join(f"{x:02x}" for x in m)  # noqa: E731
    return (f"{op}, type ethernet/IP4, address size 6/4\n"
            f"{mac(p[8:14])}/{format_ip4(int.from_bytes(p[14:18], 'big'))} -> "
            f"{mac(p[18:24])}/{format_ip4(int.from_bytes(p[24:28], 'big'))}")


class ArpReply(Node):
    """Learn the sender when the target is us; answer requests in place back out the interface."""

    name = "arp-reply"
    next_nodes = ("error-drop",)
    errors = (("ARP replies sent", "info"), ("ARP request IP4 source address learned", "info"),
              ("ARP replies received", "info"), ("IP4 destination address not local to subnet", "error"),
              ("IP4 source address not local to subnet", "error"),
              ("IP4 source address matches local interface", "error"), ("neighbor table full", "error"))

    def process(self, frame):
        vm = self.vm
        buf, ip4 = vm.buffers, vm.ip4
        body = buf.gather(frame, 0, 28)
        op = be16(body, 6)
        s_ip, t_ip = be32(body, 14), be32(body, 24)
        rx = buf.sw_if_index[RX, frame]
        for k, b in enumerate(frame):
            b = int(b)
            sw, sip, tip = int(rx[k]), int(s_ip[k]), int(t_ip[k])
            if not ip4.is_local(sw, tip):
                self._drop(b, "IP4 destination address not local to subnet")
                continue
            if ip4.is_local(sw, sip):
                self._drop(b, "IP4 source address matches local interface")
                continue
            if not ip4.on_link(sw, sip):
                self._drop(b, "IP4 source address not local to subnet")
                continue
            s_mac = body[k, 8:14].tobytes()
            if not ip4.neighbor_learn(sw, sip, s_mac):
                self.count(self.err["neighbor table full"])  # answered all the same, as Linux
            if op[k] == 2:
                self._drop(b, "ARP replies received")
                continue
            self.count(self.err["ARP request IP4 source address learned"])
            mine = ip4.mac(sw)
            reply = (b"\x00\x01\x08\x00\x06\x04\x00\x02" + mine + tip.to_bytes(4, "big")
                     + s_mac + sip.to_bytes(4, "big"))
            o = buf.offsets(np.array([b]))[0]
            buf.data[b, o - 14:o + 28] = np.frombuffer(s_mac + mine + b"\x08\x06" + reply, np.uint8)
            buf.current_data[b] -= 14
            buf.current_length[b] = 42
            buf.sw_if_index[TX, b] = sw
            self.count(self.err["ARP replies sent"])
            self.next1(vm.interfaces.output_next(self, sw), b)

    def _drop(self, b: int, reason: str) -> None:
        self.drop(np.array([b], np.uint32), self.err[reason])

    def format_trace(self, b):
        return _format_arp(self.vm.buffers.packet(b))


def send_frame(node: Node, sw: int, pkt: bytes, counter: int) -> bool:
    """One frame of ours (ethernet header included) from `node` straight to `sw`'s output."""
    vm = node.vm
    buf = vm.buffers
    bi = buf.alloc(1)
    if not len(bi):
        return False
    buf.write(bi, np.frombuffer(pkt, np.uint8)[None, :], np.array([len(pkt)]))
    buf.sw_if_index[RX, bi] = sw
    buf.sw_if_index[TX, bi] = sw
    buf.flags[bi] |= F_LOCALLY_ORIGINATED
    node.next(vm.interfaces.output_next(node, sw), bi)
    node.count(counter)
    return True


class Ip4Glean(Node):
    """A packet for an unresolved host on a connected subnet: ARP for it (throttled), hold it
    for the reply (as many per host as Linux, the newest: arp/hold.py), drop the rest. A new
    resolution needs room in the neighbour table (ip4/neighbor.py), as a Linux neighbour in
    INCOMPLETE state: a flood toward spoofed addresses sends a bounded number of requests."""

    name = "ip4-glean"
    next_nodes = ("error-drop",)
    errors = (("ARP requests sent", "info"), ("ARP requests throttled", "info"),
              ("no source address for ARP request", "error"), ("packets held for ARP", "info"),
              ("held packets dropped: no ARP reply", "error"), ("held packets dropped: queue full", "error"),
              ("neighbor table full", "error"))
    target_from_packet = True
    # the counters process() and _expired() keep, by the names each family gives them
    HELD, THROTTLED, NO_REPLY = "packets held for ARP", "ARP requests throttled", "held packets dropped: no ARP reply"
    QUEUE_FULL, TABLE_FULL = "held packets dropped: queue full", "neighbor table full"

    def process(self, frame):
        vm = self.vm
        buf, ip4 = vm.buffers, self.ip
        t = ip4.dpo
        adj = buf.adj_index[frame]
        sws = t.sw_if_index[adj].tolist()
        if self.target_from_packet:
            targets = self._targets(frame)
        else:
            targets = t.addr[adj].tolist()
        now = ip4.table.clock()
        full = set()
        for key in set(zip(sws, targets)):
            verdict = ip4.table.ask(key, now)
            if verdict == "ask":
                self._request(key[0], key[1], now)
            elif verdict == "full":
                full.add(key)
        hold = ip4.held.hold
        refused, evicted, no_room = [], [], []  # held in all; a full neighbour queue's oldest; table full
        for b, sw, tip in zip(frame.tolist(), sws, targets):
            if full and (sw, tip) in full:
                no_room.append(b)
                continue
            for d in hold(sw, tip, b, self._expired):
                (refused if d == b else evicted).append(d)
        if len(frame) > len(refused) + len(no_room):
            self.count(self.err[self.HELD], len(frame) - len(refused) - len(no_room))
        if refused:
            self.drop(np.array(refused, np.uint32), self.err[self.THROTTLED])
        if evicted:
            self.drop(np.array(evicted, np.uint32), self.err[self.QUEUE_FULL])
        if no_room:
            self.drop(np.array(no_room, np.uint32), self.err[self.TABLE_FULL])

    @property
    def ip(self):
        return self.vm.ip4

    def _targets(self, frame) -> list[int]:
        return be32(self.vm.buffers.gather(frame, 16, 4), 0).tolist()

    def _request(self, sw: int, tip: int, now: float) -> bool:
        """Send one ARP request for `tip` out `sw` (from our address on its subnet)."""
        ip4 = self.vm.ip4
        src = next((int(p.ip) for p in ip4.addrs.get(sw, []) if ipaddress.IPv4Address(tip) in p.network), 0)
        if not src and sw < len(ip4.if_addr):
            src = int(ip4.if_addr[sw])
        if not src:
            self.count(self.err["no source address for ARP request"])
            return False
        ip4.table.asking((sw, tip), now)
        return send_frame(self, sw, arp_request(ip4.mac(sw), src, tip), self.err["ARP requests sent"])

    def _expired(self, sw: int, tip: int, bi: np.ndarray, tries: int) -> None:
        """No reply in time: ask again (up to HOLD_TRIES in all, as Linux's mcast_solicit),
        then drop what waited."""
        if tries < HOLD_TRIES and self._request(sw, tip, self.ip.table.clock()):
            self.ip.held.requeue(sw, tip, bi.tolist(), self._expired, tries + 1)
        else:
            self.drop(bi, self.err[self.NO_REPLY])

    def format_trace(self, b):
        return trace_ip4(self.vm, b)


class Ip4Arp(Ip4Glean):
    """Same, for a routed next hop whose adjacency is incomplete: ARP for the next hop."""

    name = "ip4-arp"
    target_from_packet = False
