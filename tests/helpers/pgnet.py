"""Helpers for session-layer and IPv6 tests on a pg interface: frames in through ethernet-input,
frames out captured at pg0's tx (no kernel needed)."""

from __future__ import annotations

import ipaddress
import struct

import numpy as np

from vppsh.wire import udp as wudp
from vppsh.wire.checksum import csum

VPP_MAC = bytes.fromhex("020000000001")
PEER_MAC = bytes.fromhex("02fe00000001")
VPP_IP, PEER_IP = "10.10.1.2", "10.10.1.1"


def a2i(a: str) -> int:
    return int(ipaddress.IPv4Address(a))


def ip4(proto: int, src: str, dst: str, payload: bytes, options: bytes = b"", ttl: int = 64) -> bytes:
    ihl = (20 + len(options)) // 4
    h = bytearray(struct.pack("!BBHHHBBHII", 0x40 | ihl, 0, ihl * 4 + len(payload), 1, 0, ttl, proto, 0,
                              a2i(src), a2i(dst))) + options
    h[10:12] = struct.pack("!H", csum(bytes(h)))
    return bytes(h) + payload


def udp(payload: bytes, sport: int = 5555, dport: int = 1234, src: str = PEER_IP, dst: str = VPP_IP,
        csum_ok: bool = True, zero_csum: bool = False, ulen: int | None = None, options: bytes = b"") -> bytes:
    """An ethernet frame with a UDP datagram from the peer to us."""
    u = bytearray(wudp.build(sport, dport, payload, a2i(src), a2i(dst)))
    if zero_csum:
        u[6:8] = b"\0\0"
    elif not csum_ok:
        u[6] ^= 0xFF
    if ulen is not None:
        u[4:6] = struct.pack("!H", ulen)
    return VPP_MAC + PEER_MAC + b"\x08\x00" + ip4(17, src, dst, bytes(u), options)


class PgNet:
    """pg0 up with 10.10.1.2/24 and a static neighbour 10.10.1.1; `sent` collects what leaves."""

    def __init__(self, shell, extra_addrs=()) -> None:
        self.shell = shell
        self.vm = vm = shell.vm
        shell.run("create packet-generator interface pg0 hw-addr 02:00:00:00:00:01")
        shell.run("set interface state pg0 up")
        shell.run(f"set interface ip address pg0 {VPP_IP}/24")
        for a in extra_addrs:
            shell.run("create loopback interface")
            shell.run("set interface state loop0 up")
            shell.run(f"set interface ip address loop0 {a}/32")
        shell.run(f"set ip neighbor pg0 {PEER_IP} 02:fe:00:00:00:01 static")
        self.sw = vm.interfaces.by_name["pg0"].sw_if_index
        self.sent: list[bytes] = []
        dev = vm.interfaces.by_name["pg0"].hw.device

        def tx(node, frame):
            for b in frame.tolist():
                self.sent.append(vm.buffers.packet(b))
            vm.buffers.free(frame)

        shell.call(lambda: setattr(dev, "tx", tx))

    def inject(self, frames: list[bytes], flags: int = 0) -> None:
        vm = self.vm

        def go():
            bi = vm.buffers.alloc(len(frames))
            rows = np.zeros((len(frames), max(len(f) for f in frames)), np.uint8)
            for i, f in enumerate(frames):
                rows[i, :len(f)] = np.frombuffer(f, np.uint8)
            vm.buffers.write(bi, rows, np.array([len(f) for f in frames]))
            vm.buffers.sw_if_index[0, bi] = self.sw
            vm.buffers.flags[bi] |= flags
            vm.stage("ethernet-input", bi)

        self.shell.call(go)
        self.shell.run("wait 0.05")

    def take(self) -> list[bytes]:
        """IP packets sent out pg0 since the last call (ethernet header stripped)."""
        out = [p[14:] for p in self.sent]
        self.sent.clear()
        return out


def parse_udp(pkt: bytes) -> tuple[str, str, int, int, bytes, bool]:
    """(src, dst, sport, dport, payload, checksum ok) of an IP/UDP packet."""
    ihl = (pkt[0] & 0x0F) * 4
    src, dst = str(ipaddress.IPv4Address(pkt[12:16])), str(ipaddress.IPv4Address(pkt[16:20]))
    seg = pkt[ihl:]
    sport, dport, ulen, _c = struct.unpack("!HHHH", seg[:8])
    ok = wudp.checksum_ok(a2i(src), a2i(dst), seg[:ulen]) and csum(pkt[:ihl]) == 0
    return src, dst, sport, dport, seg[8:ulen], ok


# IPv6 on pg0 (test_ip6_pg.py and the IPv6 tests after it): vppsh ME6/64, the peer PEER6 with
# PEER_MAC, frames built and read back with scapy
ME6, PEER6 = "2001:db8::1", "2001:db8::2"
VPP_LL = "fe80::ff:fe00:1"  # EUI-64 of VPP_MAC
PM = PEER_MAC.hex(":")


def frame6(pkt, dst_mac: bytes = VPP_MAC) -> bytes:
    """An ethernet frame from the peer holding scapy packet `pkt`."""
    from scapy.layers.l2 import Ether

    return bytes(Ether(dst=dst_mac.hex(":"), src=PM) / pkt)


def net6(shell, neighbour: bool = True) -> PgNet:
    """PgNet with ME6/64 on pg0 too, its unsolicited router advertisements off (tests look at
    what else leaves), and the peer PEER6 as a static neighbour."""
    net = PgNet(shell)
    shell.run("ip6 nd pg0 ra-suppress")
    shell.run(f"set interface ip address pg0 {ME6}/64")
    if neighbour:
        shell.run(f"set ip neighbor pg0 {PEER6} {PM} static")
    return net


def sent6(net: PgNet) -> list:
    """What left pg0 since the last look, as scapy IPv6 packets."""
    from scapy.layers.inet6 import IPv6

    return [IPv6(p) for p in net.take()]
