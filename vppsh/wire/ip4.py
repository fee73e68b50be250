"""IPv4 headers, addresses and prefixes; trace formatting matches VPP's format_ip4_header."""

from __future__ import annotations

import re
import struct
from typing import NamedTuple

from .checksum import csum, ones_sum

IP4_HDR_LEN = 20
# Byte offsets inside the header.
OFF_VER_IHL = 0
OFF_TOS = 1
OFF_LENGTH = 2
OFF_ID = 4
OFF_FRAG = 6
OFF_TTL = 8
OFF_PROTO = 9
OFF_CSUM = 10
OFF_SRC = 12
OFF_DST = 16

FLAG_CE = 0x8000  # VPP calls the reserved bit CONGESTION
FLAG_DF = 0x4000
FLAG_MF = 0x2000
FRAG_OFFSET_MASK = 0x1FFF

PROTO_ICMP = 1
PROTO_IGMP = 2
PROTO_TCP = 6
PROTO_UDP = 17
PROTO_GRE = 47

# IANA names as VPP spells them (src/vnet/ip/protocols.def).
_PROTOS = (
    "0 IP6_HOP_BY_HOP_OPTIONS 1 ICMP 2 IGMP 3 GGP 4 IP_IN_IP 5 ST 6 TCP 7 CBT 8 EGP 9 IGP "
    "10 BBN_RCC_MON 11 NVP_II 12 PUP 13 ARGUS 14 EMCON 15 XNET 16 CHAOS 17 UDP 18 MUX "
    "19 DCN_MEAS 20 HMP 21 PRM 22 XNS_IDP 23 TRUNK_1 24 TRUNK_2 25 LEAF_1 26 LEAF_2 27 RDP "
    "28 IRTP 29 ISO_TP4 30 NETBLT 31 MFE_NSP 32 MERIT_INP 33 SEP 34 3PC 35 IDPR 36 XTP 37 DDP "
    "38 IDPR_CMTP 39 TP 40 IL 41 IPV6 42 SDRP 43 IPV6_ROUTE 44 IPV6_FRAGMENTATION 45 IDRP "
    "46 RSVP 47 GRE 48 MHRP 49 BNA 50 IPSEC_ESP 51 IPSEC_AH 52 I_NLSP 53 SWIPE 54 NARP "
    "55 MOBILE 56 TLSP 57 SKIP 58 ICMP6 59 IP6_NONXT 60 IP6_DESTINATION_OPTIONS 62 CFTP "
    "64 SAT_EXPAK 65 KRYPTOLAN 66 RVD 67 IPPC 69 SAT_MON 70 VISA 71 IPCV 72 CPNX 73 CPHB "
    "74 WSN 75 PVP 76 BR_SAT_MON 77 SUN_ND 78 WB_MON 79 WB_EXPAK 80 ISO_IP 81 VMTP "
    "82 SECURE_VMTP 83 VINES 84 TTP 85 NSFNET_IGP 86 DGP 87 TCF 88 EIGRP 89 OSPF "
    "90 SPRITE_RPC 91 LARP 92 MTP 93 AX 94 IPIP 95 MICP 96 SCC_SP 97 ETHERIP 98 ENCAP "
    "100 GMTP 101 IFMP 102 PNNI 103 PIM 104 ARIS 105 SCPS 106 QNX 107 A 108 IPCOMP 109 SNP "
    "110 COMPAQ_PEER 111 IPX_IN_IP 112 VRRP 113 PGM 115 L2TP 116 DDX 117 IATP 118 STP "
    "119 SRP 120 UTI 121 SMP 122 SM 123 PTP 124 ISIS 125 FIRE 126 CRTP 127 CRUDP "
    "128 SSCOPMCE 129 IPLT 130 SPS 131 PIPE 132 SCTP 133 FC 134 RSVP_E2E_IGNORE "
    "135 MOBILITY 136 UDP_LITE 137 MPLS_IN_IP 138 MANET 139 HIP 140 SHIM6 141 WESP "
    "142 ROHC 143 IP6_ETHERNET 253 EXP1 254 EXP2 255 RESERVED"
).split()
PROTO_NAMES = {int(n): name for n, name in zip(_PROTOS[::2], _PROTOS[1::2])}
PROTO_BY_NAME = {v: k for k, v in PROTO_NAMES.items()}

# VPP's table, including its quirk CS7 = 50 (so DSCP 56 prints "unknown").
DSCP_NAMES = {
    0: "CS0", 8: "CS1", 10: "AF11", 12: "AF12", 14: "AF13", 16: "CS2", 18: "AF21",
    20: "AF22", 22: "AF23", 24: "CS3", 26: "AF31", 28: "AF32", 30: "AF33", 32: "CS4",
    34: "AF41", 36: "AF42", 38: "AF43", 40: "CS5", 46: "EF", 48: "CS6", 50: "CS7",
}
ECN_NAMES = {0: "NON_ECN", 1: "ECT_0", 2: "ECT_1", 3: "CE"}


class Ip4Header(NamedTuple):
    version: int
    header_len: int  # bytes
    tos: int
    length: int
    ident: int
    flags: int  # the top three bits of the flags/offset word (FLAG_*)
    frag_offset: int  # bytes
    ttl: int
    proto: int
    checksum: int
    src: int
    dst: int
    options: bytes

    @property
    def df(self) -> bool:
        return bool(self.flags & FLAG_DF)

    @property
    def mf(self) -> bool:
        return bool(self.flags & FLAG_MF)


_DOTTED = re.compile(r"([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})")


def parse_ip4(text: str) -> int:
    """Dotted quad (ASCII digits) to int; ValueError on anything else."""
    m = _DOTTED.fullmatch(text)
    if not m or any(int(x) > 255 for x in m.groups()):
        raise ValueError(f"invalid IPv4 address `{text}'")
    a, b, c, d = (int(x) for x in m.groups())
    return (a << 24) | (b << 16) | (c << 8) | d


def format_ip4(addr) -> str:
    if isinstance(addr, (bytes, bytearray, memoryview)):
        addr = int.from_bytes(bytes(addr)[:4], "big")
    addr = int(addr)
    return f"{addr >> 24 & 255}.{addr >> 16 & 255}.{addr >> 8 & 255}.{addr & 255}"


def parse_prefix(text: str) -> tuple[int, int]:
    """`a.b.c.d/len` (len 0..32) to (addr_int, len); host bits are kept as given."""
    addr, sep, plen = text.partition("/")
    if not sep or not (plen.isascii() and plen.isdigit()) or len(plen) > 2 or int(plen) > 32:
        raise ValueError(f"invalid IPv4 prefix `{text}'")
    return parse_ip4(addr), int(plen)


def prefix_mask(plen: int) -> int:
    return (0xFFFFFFFF << (32 - plen)) & 0xFFFFFFFF if plen else 0


def addr_bytes(a) -> bytes:
    """Accept int, dotted string or 4 bytes."""
    if isinstance(a, str):
        a = parse_ip4(a)
    if isinstance(a, (bytes, bytearray, memoryview)):
        if len(a) != 4:
            raise ValueError("IPv4 address must be 4 bytes")
        return bytes(a)
    return int(a).to_bytes(4, "big")


def build(src, dst, proto: int, payload_len: int, ttl: int = 64, tos: int = 0,
          ident: int = 0, flags_df: bool = False, options: bytes = b"") -> bytes:
    """An IPv4 header with a correct checksum; options are zero-padded to 4 bytes."""
    opts = bytes(options) + b"\x00" * (-len(options) % 4)
    hlen = IP4_HDR_LEN + len(opts)
    if hlen > 60:
        raise ValueError("IPv4 options too long")
    hdr = bytearray(struct.pack(
        "!BBHHHBBH4s4s", 0x40 | (hlen // 4), tos, hlen + payload_len, ident,
        FLAG_DF if flags_df else 0, ttl, proto, 0, addr_bytes(src), addr_bytes(dst)))
    hdr += opts
    struct.pack_into("!H", hdr, OFF_CSUM, csum(hdr))
    return bytes(hdr)


def parse(b: bytes) -> Ip4Header:
    if len(b) < IP4_HDR_LEN:
        raise ValueError("IP header truncated")
    vi, tos, length, ident, ff, ttl, proto, ck, src, dst = struct.unpack_from("!BBHHHBBHII", b)
    hlen = (vi & 0xF) * 4
    opts = bytes(b[IP4_HDR_LEN:hlen]) if hlen > IP4_HDR_LEN else b""
    return Ip4Header(vi >> 4, hlen, tos, length, ident, ff & 0xE000,
                     (ff & FRAG_OFFSET_MASK) * 8, ttl, proto, ck, src, dst, opts)


def header_checksum(b: bytes) -> int:
    """The checksum the header should carry (computed with the field zeroed)."""
    hlen = max(IP4_HDR_LEN, (b[0] & 0xF) * 4)
    h = bytearray(b[:hlen])
    h[OFF_CSUM:OFF_CSUM + 2] = b"\x00\x00"
    return csum(h)


def checksum_ok(b: bytes) -> bool:
    hlen = max(IP4_HDR_LEN, (b[0] & 0xF) * 4)
    return ones_sum(b[:hlen]) == 0xFFFF


def pseudo_header_sum(src, dst, proto: int, length: int) -> int:
    """Folded ones-complement sum of the TCP/UDP pseudo header."""
    return ones_sum(addr_bytes(src) + addr_bytes(dst) + struct.pack("!BBH", 0, proto, length))


def format_protocol(p: int) -> str:
    return PROTO_NAMES.get(p, f"unknown {p}")


def format_ip4_header(b: bytes) -> str:
    """VPP trace lines for an IPv4 header (continuation lines indented by 2)."""
    if len(b) < IP4_HDR_LEN:
        return "IP header truncated"
    h = parse(b)
    s = f"{format_protocol(h.proto)}: {format_ip4(h.src)} -> {format_ip4(h.dst)}"
    if h.version != 4 or h.header_len != IP4_HDR_LEN:
        s += f"\n  version {h.version}, header length {h.header_len}"
    s += f"\n  tos 0x{h.tos:02x}, ttl {h.ttl}, length {h.length}, checksum 0x{h.checksum:04x}"
    if not checksum_ok(b):
        s += f" (should be 0x{header_checksum(b):04x})"
    s += f" dscp {DSCP_NAMES.get(h.tos >> 2, 'unknown')} ecn {ECN_NAMES[h.tos & 3]}"
    s += f"\n  fragment id 0x{h.ident:04x}"
    if h.frag_offset:
        s += f" offset {h.frag_offset}"
    if h.flags:
        # VPP concatenates the names without a separator.
        s += ", flags " + "".join(n for f, n in ((FLAG_MF, "MORE_FRAGMENTS"),
                                                  (FLAG_DF, "DONT_FRAGMENT"),
                                                  (FLAG_CE, "CONGESTION")) if h.flags & f)
    return s
