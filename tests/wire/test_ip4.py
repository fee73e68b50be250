import pytest
from scapy.layers.inet import IP, IPOption_RR

from vppsh.wire import ip4


def test_build_vs_scapy():
    h = ip4.build("10.10.1.1", "10.10.1.2", ip4.PROTO_ICMP, 64, ident=0xE516, flags_df=True)
    ref = IP(src="10.10.1.1", dst="10.10.1.2", proto=1, id=0xE516, flags="DF", ttl=64, len=84)
    assert h == bytes(ref)[:20]
    p = IP(h + bytes(64))
    assert p.chksum == 0x3F7C
    assert (p.len, p.ttl, p.proto, p.id, str(p.flags)) == (84, 64, 1, 0xE516, "DF")


def test_build_with_options_and_tos():
    h = ip4.build(0x01020304, b"\x05\x06\x07\x08", 17, 8, ttl=3, tos=0xB8, options=b"\x01\x01\x01")
    assert len(h) == 24
    p = IP(h + bytes(8))
    del p.chksum
    assert bytes(IP(bytes(p)))[:24] == h  # scapy recomputes the same checksum
    assert ip4.checksum_ok(h)


def test_parse_scapy_packet():
    raw = bytes(IP(src="192.0.2.1", dst="198.51.100.7", ttl=9, tos=0x2A, id=77, flags="MF",
                   frag=10, proto=6, options=[IPOption_RR()]) / (b"x" * 12))
    h = ip4.parse(raw)
    assert h.version == 4 and h.header_len == 24 and h.options
    assert (h.tos, h.ttl, h.ident, h.proto, h.length) == (0x2A, 9, 77, 6, len(raw))
    assert h.mf and not h.df and h.frag_offset == 80
    assert ip4.format_ip4(h.src) == "192.0.2.1" and ip4.format_ip4(h.dst) == "198.51.100.7"
    assert h.checksum == IP(raw).chksum and ip4.checksum_ok(raw)
    with pytest.raises(ValueError):
        ip4.parse(raw[:19])


def test_format_exact_vpp_lines():
    h = ip4.build("10.10.1.1", "10.10.1.2", ip4.PROTO_ICMP, 64, ident=0xE516, flags_df=True)
    assert ip4.format_ip4_header(h) == (
        "ICMP: 10.10.1.1 -> 10.10.1.2\n"
        "  tos 0x00, ttl 64, length 84, checksum 0x3f7c dscp CS0 ecn NON_ECN\n"
        "  fragment id 0xe516, flags DONT_FRAGMENT")


def test_format_bad_checksum_offset_flags_dscp():
    h = bytearray(ip4.build("1.1.1.1", "2.2.2.2", 17, 100, tos=0xB9, ident=1))
    good = ip4.header_checksum(bytes(h))
    h[10:12] = b"\x12\x34"
    h[6:8] = (0x2000 | 3).to_bytes(2, "big")  # MF, offset 24
    lines = ip4.format_ip4_header(bytes(h)).split("\n")
    assert lines[0] == "UDP: 1.1.1.1 -> 2.2.2.2"
    assert lines[1].endswith(f"checksum 0x1234 (should be 0x{ip4.header_checksum(bytes(h)):04x})"
                             " dscp EF ecn ECT_0")
    assert good != 0x1234
    assert lines[2] == "  fragment id 0x0001 offset 24, flags MORE_FRAGMENTS"
    h[9] = 200
    assert ip4.format_ip4_header(bytes(h)).startswith("unknown 200: ")
    h[9] = 6
    assert ip4.format_ip4_header(bytes(h)).startswith("TCP: ")
    h[0] = 0x46
    assert "\n  version 4, header length 24\n" in ip4.format_ip4_header(bytes(h) + bytes(4))
    assert ip4.format_ip4_header(b"\x45") == "IP header truncated"


def test_addresses_and_prefixes():
    assert ip4.parse_ip4("10.0.0.1") == 0x0A000001
    assert ip4.parse_prefix("10.0.0.0/8") == (0x0A000000, 8)
    assert ip4.parse_prefix("0.0.0.0/0") == (0, 0)
    assert ip4.parse_prefix("1.2.3.4/32") == (0x01020304, 32)
    for bad in ("10.0.0.0", "10.0.0.0/33", "10.0.0/8", "10.0.0.256/8", "a.b.c.d/1",
                "10.0.0.0/-1", "10.0.0.0/", "/8", "10.0.0.0/8/8", "1.2.3.4 5"):
        with pytest.raises(ValueError):
            ip4.parse_prefix(bad)
    with pytest.raises(ValueError):
        ip4.parse_ip4("1.2.3")
    assert ip4.prefix_mask(24) == 0xFFFFFF00 and ip4.prefix_mask(0) == 0
    assert ip4.format_ip4(b"\x7f\x00\x00\x01") == "127.0.0.1"
