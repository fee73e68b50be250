import pytest
from scapy.layers.inet import ICMP, IP, TCP, UDP

from vppsh.wire import icmp, ip4, tcp, udp

SRC, DST = "192.168.1.10", "192.168.2.20"


def _ip(l4: bytes, proto: int) -> IP:
    return IP(ip4.build(SRC, DST, proto, len(l4)) + l4)


def test_udp_build_vs_scapy():
    seg = udp.build(1234, 2345, b"hello world", SRC, DST)
    p = _ip(seg, 17)
    ref = IP(src=SRC, dst=DST) / UDP(sport=1234, dport=2345) / b"hello world"
    assert p[UDP].chksum == IP(bytes(ref))[UDP].chksum
    assert (p[UDP].sport, p[UDP].dport, p[UDP].len) == (1234, 2345, 19)
    assert udp.checksum_ok(SRC, DST, seg)
    assert udp.build(1, 2, b"x")[6:8] == b"\x00\x00"  # no addresses, no checksum


def test_udp_parse_scapy_and_format():
    raw = bytes(UDP(sport=53, dport=4444, len=12, chksum=0xBEEF) / b"abcd")
    assert udp.parse(raw) == udp.UdpHeader(53, 4444, 12, 0xBEEF)
    assert udp.format_udp_header(raw) == "UDP: 53 -> 4444\n  length 12, checksum 0xbeef"
    with pytest.raises(ValueError):
        udp.parse(raw[:7])


def test_tcp_build_vs_scapy_options():
    opts = tcp.build_options(mss=1460, wscale=7, sack_permitted=True, timestamp=(123, 456))
    assert len(opts) % 4 == 0
    seg = tcp.build(40000, 80, seq=1000, ack=5, flags=tcp.SYN | tcp.ACK, window=29200,
                    options=opts, payload=b"data", src_ip=SRC, dst_ip=DST)
    p = _ip(seg, 6)[TCP]
    assert (p.sport, p.dport, p.seq, p.ack, p.window, str(p.flags)) == (40000, 80, 1000, 5, 29200, "SA")
    d = dict((k, v) for k, v in p.options if k != "NOP")
    assert d["MSS"] == 1460 and d["WScale"] == 7 and d["Timestamp"] == (123, 456)
    assert "SAckOK" in d
    q = IP(bytes(_ip(seg, 6)))
    del q[TCP].chksum
    assert IP(bytes(q))[TCP].chksum == p.chksum
    assert tcp.checksum_ok(SRC, DST, seg)


def test_tcp_parse_scapy_options():
    raw = bytes(TCP(sport=1, dport=2, flags="PA", options=[
        ("MSS", 536), ("NOP", None), ("WScale", 2), ("SAckOK", b""),
        ("Timestamp", (1, 2)), ("SAck", (10, 20, 30, 40))]) / b"zz")
    h = tcp.parse(raw)
    assert h.flags == tcp.PSH | tcp.ACK and h.header_len > 20
    o = tcp.parse_options(h.options)
    assert (o.mss, o.wscale, o.sack_permitted, o.timestamp) == (536, 2, True, (1, 2))
    assert o.sack_blocks == [(10, 20), (30, 40)]
    assert tcp.format_flags(0x12) == "0x12 SYN ACK"
    assert tcp.format_tcp_header(raw).startswith("TCP: 1 -> 2\n  seq. 0x00000000 ack 0x00000000\n")


def test_tcp_options_tolerant_and_malformed():
    assert tcp.parse_options(b"\x01\x01\x00garbage").mss is None  # EOL stops parsing
    assert tcp.parse_options(bytes([99, 3, 7])).unknown == [(99, b"\x07")]
    for bad in (b"\x02", b"\x02\x01", b"\x02\x05\x00\x00\x00", b"\x02\x04\x05",
                b"\x08\x0a\x00", b"\x05\x03\x00", b"\x05\x02", bytes([99, 0])):
        with pytest.raises(ValueError):
            tcp.parse_options(bad)
    with pytest.raises(ValueError):
        tcp.parse(b"\x00" * 12 + b"\x40" + b"\x00" * 7)  # data offset 16 < 20


def test_icmp_echo_vs_scapy():
    m = icmp.build_echo_request(0x1234, 7, b"ping")
    p = _ip(m, 1)[ICMP]
    assert (p.type, p.code, p.id, p.seq, bytes(p.payload)) == (8, 0, 0x1234, 7, b"ping")
    ref = ICMP(bytes(ICMP(type=8, id=0x1234, seq=7) / b"ping"))
    assert p.chksum == ref.chksum
    h = icmp.parse(bytes(ICMP(type=0, id=9, seq=10) / b"pong"))
    assert (h.type, h.ident, h.seq, h.payload) == (icmp.ECHO_REPLY, 9, 10, b"pong")
    assert icmp.checksum_ok(icmp.build_echo_reply(1, 2, b"x"))


def test_icmp_names_and_format():
    assert icmp.type_name(8) == "echo_request" and icmp.type_name(11) == "time_exceeded"
    assert icmp.type_name(3) == "destination_unreachable" and icmp.type_name(99) == "unknown 0x63"
    m = icmp.build(icmp.DESTINATION_UNREACHABLE, 3, payload=b"\x45" + bytes(27))
    assert icmp.format_icmp4_header(m).startswith("ICMP destination_unreachable port_unreachable checksum 0x")
    e = icmp.build_echo_reply(0x1d6b, 1)
    assert icmp.format_icmp4_header(e) == f"ICMP echo_reply checksum 0x{icmp.parse(e).checksum:x} id 7531"
    with pytest.raises(ValueError):
        icmp.parse(b"\x08\x00")
