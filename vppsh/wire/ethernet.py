"""Ethernet II headers and MAC addresses, formatted the way VPP traces print them."""

from __future__ import annotations

import re
import struct

ETH_HDR_LEN = 14
VLAN_HDR_LEN = 4
ETHERTYPE_IP4 = 0x0800
ETHERTYPE_ARP = 0x0806
ETHERTYPE_IP6 = 0x86DD
ETHERTYPE_VLAN = 0x8100
ETHERTYPE_DOT1AD = 0x88A8
ETHERTYPE_MPLS = 0x8847

BROADCAST = b"\xff" * 6

# The names VPP gives ether types (src/vnet/ethernet/types.def): used by traces and by
# the pg `TYPE: src -> dst` syntax.
ETHERTYPE_NAMES = {
    0x0800: "IP4", 0x0806: "ARP", 0x8035: "REVERSE_ARP", 0x8100: "VLAN", 0x86DD: "IP6",
    0x8808: "MAC_CONTROL", 0x8809: "SLOW_PROTOCOLS", 0x880B: "PPP", 0x8847: "MPLS",
    0x8848: "MPLS_UPSTREAM_ASSIGNED", 0x8863: "PPPOE_DISCOVERY", 0x8864: "PPPOE_SESSION",
    0x888E: "802_1X_AUTHENTICATION", 0x88A8: "DOT1AD", 0x88CC: "802_1_LLDP",
    0x88E5: "802_1_AE_MACSEC", 0x88E7: "DOT1AH", 0x894F: "NSH", 0x9000: "LOOPBACK",
    0x9100: "VLAN_9100", 0x9200: "VLAN_9200", 0x6558: "TRANSPARENT_BRIDGING",
    0x2000: "CDP", 0x9999: "PGLAN",
}
ETHERTYPE_BY_NAME = {v: k for k, v in ETHERTYPE_NAMES.items()}

_VLAN_TYPES = (ETHERTYPE_VLAN, ETHERTYPE_DOT1AD)


def build(dst: bytes, src: bytes, ethertype: int) -> bytes:
    """An Ethernet II header: dst, src, type (network order)."""
    if len(dst) != 6 or len(src) != 6:
        raise ValueError("MAC addresses must be 6 bytes")
    return bytes(dst) + bytes(src) + struct.pack("!H", ethertype)


def parse(b: bytes) -> tuple[bytes, bytes, int]:
    """(dst, src, ethertype) of the first 14 bytes."""
    if len(b) < ETH_HDR_LEN:
        raise ValueError("ethernet header truncated")
    return bytes(b[0:6]), bytes(b[6:12]), struct.unpack_from("!H", b, 12)[0]


def format_mac(b: bytes) -> str:
    """'aa:bb:cc:dd:ee:ff' (lower case, as VPP prints)."""
    return ":".join(f"{x:02x}" for x in bytes(b))


_UNIX = re.compile(r"^([0-9a-fA-F]{1,2})(?::([0-9a-fA-F]{1,2})){5}$")
_CISCO = re.compile(r"^([0-9a-fA-F]{1,4})\.([0-9a-fA-F]{1,4})\.([0-9a-fA-F]{1,4})$")


def parse_mac(text: str) -> bytes:
    """Parse `aa:bb:cc:dd:ee:ff` or Cisco `aabb.ccdd.eeff` (VPP also allows short groups
    such as pg's `1.2.3` == 0001.0002.0003); ValueError on anything else."""
    t = text.strip()
    if _UNIX.match(t):
        return bytes(int(x, 16) for x in t.split(":"))
    m = _CISCO.match(t)
    if m:
        return b"".join(int(g, 16).to_bytes(2, "big") for g in m.groups())
    raise ValueError(f"invalid MAC address `{text}'")


def format_ethertype(t: int) -> str:
    return ETHERTYPE_NAMES.get(t, f"0x{t:04x}")


def header_len(b: bytes) -> int:
    """Length of the ethernet header including up to two VLAN tags."""
    n = ETH_HDR_LEN
    t = struct.unpack_from("!H", b, 12)[0]
    tags = 0
    while t in _VLAN_TYPES and tags < 2 and len(b) >= n + VLAN_HDR_LEN:
        t = struct.unpack_from("!H", b, n + 2)[0]
        n += VLAN_HDR_LEN
        tags += 1
    return n


def format_ethernet_header(b: bytes) -> str:
    """VPP trace form: `IP4: <src> -> <dst>` plus ` 802.1q vlan N` per tag."""
    if len(b) < ETH_HDR_LEN:
        return "ethernet header truncated"
    dst, src, t = parse(b)
    outer, tags, off = t, [], ETH_HDR_LEN
    while t in _VLAN_TYPES and len(tags) < 2:
        if len(b) < off + VLAN_HDR_LEN:
            return "ethernet header truncated"
        tci, t = struct.unpack_from("!HH", b, off)
        tags.append(tci)
        off += VLAN_HDR_LEN
    s = f"{format_ethertype(t)}: {format_mac(src)} -> {format_mac(dst)}"
    kind = "802.1q" if outer == ETHERTYPE_VLAN else "802.1ad"
    for tci in tags:
        s += f" {kind} vlan {tci & 0xFFF}"
        if tci >> 13:
            s += f" priority {tci >> 13}"
        if (tci >> 12) & 1:
            s += " cfi"
    return s
