import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scapy.layers.inet import ICMP, IP, TCP, UDP
from scapy.layers.l2 import ARP, Dot1Q, Ether

from vppsh.vnet.pg.data import PacketTemplate, PgSpecError, parse_data
from vppsh.wire.checksum import csum

EXAMPLE = """ IP4: 1.2.3 -> 4.5.6
         UDP: 192.168.1.10 - 192.168.1.254 -> 192.168.2.10
         UDP: 1234 -> 2345
         incrementing 286
  """


def _packets(t: PacketTemplate, seq0: int, n: int, sizes=None):
    rows, lengths = t.generate(seq0, n, sizes)
    assert rows.dtype == np.uint8 and lengths.dtype == np.uint32 and rows.shape[0] == n
    return [rows[i, :lengths[i]].tobytes() for i in range(n)], rows, lengths


def _checksums_ok(p):
    """Our checksums equal the ones scapy computes for the same packet."""
    q = p.copy()
    for layer in (IP, UDP, TCP, ICMP):
        if layer in q:
            del q[layer].chksum
    q = q.__class__(bytes(q))
    for layer in (IP, UDP, TCP, ICMP):
        if layer in p:
            assert p[layer].chksum == q[layer].chksum, layer.__name__


def test_vpp_doc_example_every_field():
    t = parse_data(EXAMPLE)
    assert [l.kind for l in t.layers] == ["ethernet", "ip4", "udp"]
    assert t.header_len == 42 and t.length == 42 + 286
    pkts, rows, lengths = _packets(t, 0, 250, np.full(250, 300))
    assert set(lengths.tolist()) == {300}
    for i, raw in enumerate(pkts):
        p = Ether(raw)
        assert (p.src, p.dst, p.type) == ("00:01:00:02:00:03", "00:04:00:05:00:06", 0x800)
        ip, udp = p[IP], p[UDP]
        assert ip.src == f"192.168.1.{10 + i % 245}" and ip.dst == "192.168.2.10"
        assert (ip.version, ip.ihl, ip.tos, ip.ttl, ip.proto, ip.len, ip.id) == (4, 5, 0, 64, 17, 286, 0)
        assert (udp.sport, udp.dport, udp.len) == (1234, 2345, 266)
        assert bytes(udp.payload) == bytes(range(256)) + bytes([0, 1])
        _checksums_ok(p)
    assert Ether(pkts[245])[IP].src == "192.168.1.10"  # wrapped within the range
    # Packet numbers continue across calls.
    later, _, _ = _packets(t, 244, 2, np.full(2, 300))
    assert later[0] == pkts[244] and later[1] == pkts[0]


def test_default_length_is_template_length():
    t = parse_data(EXAMPLE)
    pkts, _, lengths = _packets(t, 0, 3)
    assert lengths.tolist() == [328] * 3
    p = Ether(pkts[0])
    assert p[IP].len == 314 and p[UDP].len == 294
    assert bytes(p[UDP].payload) == bytes(range(256)) + bytes(range(30))


def test_variable_sizes_lengths_and_checksums():
    t = parse_data(EXAMPLE)
    sizes = np.random.default_rng(3).integers(10, 600, 64)
    pkts, rows, lengths = _packets(t, 17, 64, sizes)
    assert lengths.tolist() == np.maximum(sizes, 42).tolist()
    for i, raw in enumerate(pkts):
        p = Ether(raw)
        n = len(raw)
        assert p[IP].len == n - 14 and p[UDP].len == n - 34
        body = raw[42:]
        want = bytes(range(256)) + bytes(range(30))
        assert body == (want + bytes(max(0, len(body) - len(want))))[:len(body)]
        _checksums_ok(p)
        assert not rows[i, n:].any()  # nothing beyond the packet's length


def test_ip4_mode_tcp_with_options_and_flags():
    t = parse_data("TCP: 10.0.0.1 -> 10.0.0.2 ttl 7 tos 0x10 df "
                   "TCP: 1000 - 1002 -> 80 SYN ACK window 1000 seqnum 5 acknum 6 "
                   "opt mss 1460 opt winscale 7 opt sackperm opt timestamp 11 22 incrementing 10",
                   node="ip4-input")
    assert [l.kind for l in t.layers] == ["ip4", "tcp"]
    pkts, _, _ = _packets(t, 0, 4, np.array([80, 90, 100, 110]))
    for i, raw in enumerate(pkts):
        p = IP(raw)
        assert (p.ttl, p.tos, str(p.flags), p.len) == (7, 0x10, "DF", len(raw))
        tcp = p[TCP]
        assert tcp.sport == 1000 + i % 3 and tcp.dport == 80
        assert (str(tcp.flags), tcp.window, tcp.seq, tcp.ack) == ("SA", 1000, 5, 6)
        opts = dict(o for o in tcp.options if o[0] != "NOP")
        assert opts["MSS"] == 1460 and opts["WScale"] == 7 and opts["Timestamp"] == (11, 22)
        assert "SAckOK" in opts and tcp.dataofs * 4 == 20 + 4 + 3 + 2 + 10 + 1
        _checksums_ok(p)


def test_tcp_defaults_and_ack_number_vs_flag():
    t = parse_data("IP4: 1.2.3 -> 4.5.6 TCP: 1.1.1.1 -> 2.2.2.2 TCP: 1 -> 2 ack 9 ACK incrementing 4")
    p = Ether(_packets(t, 0, 1)[0][0])
    assert (p[TCP].ack, str(p[TCP].flags), p[TCP].window, p[TCP].dataofs) == (9, "A", 4096, 5)
    _checksums_ok(p)


def test_icmp_vpp_form_and_echo_extension():
    t = parse_data("ICMP: 1.2.3.4 -> 5.6.7.8 ICMP echo_request incrementing 100", node="ip4-input")
    raw = _packets(t, 0, 1, np.array([64]))[0][0]
    p = IP(raw)
    assert len(raw) == 64 and p[ICMP].type == 8 and p[ICMP].code == 0
    assert raw[24:] == bytes(range(40))  # VPP's ICMP header is 4 bytes, the rest is payload
    _checksums_ok(p)
    t = parse_data("IP4: 1.2.3 -> 4.5.6 ICMP: 10.0.0.1 -> 10.0.0.2 ICMP: echo_request id 7 seq 1-3 "
                   "incrementing 56")
    pkts = _packets(t, 0, 4)[0]
    for i, raw in enumerate(pkts):
        p = Ether(raw)
        assert (p[ICMP].type, p[ICMP].id, p[ICMP].seq) == (8, 7, 1 + i % 3)
        assert bytes(p[ICMP].payload) == bytes(range(56)) and p[IP].len == 84
        _checksums_ok(p)
    t = parse_data("ICMP: 1.1.1.1 -> 2.2.2.2 ICMP port_unreachable hex 0x4500", node="ip4-input")
    raw = _packets(t, 0, 1)[0][0]
    assert raw[20:22] == b"\x03\x03" and raw[24:] == b"\x45\x00" and csum(raw[20:]) == 0


def test_ip_protocol_without_l4_header_is_raw_payload():
    # From VPP's extras/configs/nsim: no ICMP header line, so the rest is payload.
    t = parse_data("IP4: 0001.dead.beef -> 0002.dead.beef ICMP: 192.168.1.2 -> 192.168.2.2 "
                   "incrementing 30")
    raw = _packets(t, 0, 1, np.array([128]))[0][0]
    p = Ether(raw)
    assert (p.src, p.dst) == ("00:01:de:ad:be:ef", "00:02:de:ad:be:ef")
    assert p[IP].proto == 1 and p[IP].len == 114
    assert raw[34:64] == bytes(range(30)) and raw[64:] == bytes(64)
    _checksums_ok(Ether(raw[:34]))


def test_fixed_fields_are_kept():
    # From VPP's extras/pg/checksum_offload.pg: deliberately wrong checksums stay.
    t = parse_data("IP4: 1.2.3 -> 4.5.6 UDP: 11.22.33.44 -> 11.22.34.44 ttl 2 checksum 13 "
                   "UDP: 1234 -> 2345 checksum 11 incrementing 114")
    p = Ether(_packets(t, 0, 1, np.array([128]))[0][0])
    assert (p[IP].ttl, p[IP].chksum, p[UDP].chksum, p[UDP].len) == (2, 13, 11, 94)
    t = parse_data("UDP: 192.168.0.2 -> 192.168.1.2 UDP: 4321 -> 1234 length 72 incrementing 100",
                   node="ip4-input")
    p = IP(_packets(t, 0, 1, np.array([100]))[0][0])
    assert p[UDP].len == 72 and p.len == 100
    raw = bytes(p)
    pseudo = raw[12:20] + bytes([0, 17]) + (72).to_bytes(2, "big")
    seg = bytearray(raw[20:92])
    seg[6:8] = b"\0\0"
    assert p[UDP].chksum == (csum(pseudo + bytes(seg)) or 0xFFFF)  # over the stated length


def test_ip_options_fragment_and_id():
    t = parse_data("UDP: 1.1.1.1 -> 2.2.2.2 fragment id 0x1234 offset 16 mf ce "
                   "UDP: 1 -> 2 incrementing 8", node="ip4-input")
    p = IP(_packets(t, 0, 1)[0][0])
    assert (p.id, p.frag, int(p.flags)) == (0x1234, 2, 0b101)
    t = parse_data("UDP: 1.1.1.1 -> 2.2.2.2 id 5-6 tos 1+3 UDP: 1 -> 2 incrementing 8", node="ip4-input")
    pk = [IP(x) for x in _packets(t, 0, 50)[0]]
    assert [x.id for x in pk[:3]] == [5, 6, 5] and {x.tos for x in pk} <= {1, 2, 3}
    assert len({x.tos for x in pk}) > 1
    for x in pk:
        _checksums_ok(x)


def test_random_ranges_stay_in_range_and_are_reproducible():
    t = parse_data("IP4: 1.2.3 + 1.2.9 -> 4.5.6 UDP: 10.0.0.1 + 10.0.0.9 -> 10.0.1.1 "
                   "UDP: 1000 + 1010 -> 53 incrementing 20")
    a, _, _ = _packets(t, 100, 200)
    b, _, _ = _packets(t, 100, 200)
    assert a == b
    srcs = {Ether(x)[IP].src for x in a}
    assert srcs <= {f"10.0.0.{i}" for i in range(1, 10)} and len(srcs) > 3
    assert {Ether(x).src for x in a} <= {f"00:01:00:02:00:0{i}" for i in range(3, 10)}
    for x in a[:20]:
        assert 1000 <= Ether(x)[UDP].sport <= 1010
        _checksums_ok(Ether(x))


def test_mac_range_vlan_and_numeric_ethertype():
    t = parse_data("IP4: 1.2.3 -> 4.5.6 vlan 100-101 priority 5 UDP: 1.1.1.1 -> 2.2.2.2 "
                   "UDP: 1 -> 2 incrementing 10")
    pkts = _packets(t, 0, 2)[0]
    for i, raw in enumerate(pkts):
        p = Ether(raw)
        assert p.type == 0x8100 and p[Dot1Q].vlan == 100 + i and p[Dot1Q].prio == 5
        assert p[Dot1Q].type == 0x800 and p[IP].len == len(raw) - 18
        _checksums_ok(p)
    t = parse_data("0x88b5: aa:bb:cc:dd:ee:00 - aa:bb:cc:dd:ee:02 -> ffff.ffff.ffff hex 0xdeadbeef")
    pkts = _packets(t, 0, 4)[0]
    assert [Ether(x).src[-2:] for x in pkts] == ["00", "01", "02", "00"]
    assert pkts[0][12:] == bytes.fromhex("88b5deadbeef") and pkts[0][:6] == b"\xff" * 6


def test_arp():
    t = parse_data("ARP: 1.2.3 -> ffff.ffff.ffff request: 0001.0002.0003/10.0.0.1 -> 0.0.0/10.0.0.2")
    p = Ether(_packets(t, 0, 1)[0][0])
    a = p[ARP]
    assert (a.hwtype, a.ptype, a.hwlen, a.plen, a.op) == (1, 0x800, 6, 4, 1)
    assert (a.hwsrc, a.psrc, a.hwdst, a.pdst) == ("00:01:00:02:00:03", "10.0.0.1",
                                                  "00:00:00:00:00:00", "10.0.0.2")


def test_whole_packet_hex_and_sizes_never_below_headers():
    t = parse_data("hex 0x0001e1ff4500")
    assert t.header_len == 0 and _packets(t, 0, 1)[0][0] == bytes.fromhex("0001e1ff4500")
    t = parse_data(EXAMPLE)
    _, _, lengths = _packets(t, 0, 2, np.array([0, 1]))
    assert lengths.tolist() == [42, 42]
    rows, lengths = t.generate(0, 0)
    assert rows.shape[0] == 0 and len(lengths) == 0


def test_parse_errors_use_vpp_wording():
    text = " IP4: 1.2.3 -> 4.5.6 UDP: 1.1.1.1 -> 2.2.2.2 UDP: 1 -> 2"  # no payload
    with pytest.raises(PgSpecError) as e:
        parse_data(text)
    assert str(e.value) == "failed to parse packet data from ` IP4: 1.2.3 -> 4.5.6 UDP: 1.1....'"
    with pytest.raises(PgSpecError, match=r"^failed to parse packet data from `bogus'$"):
        parse_data("bogus  ")
    with pytest.raises(PgSpecError, match=r"^failed to parse packet data from `trailing junk'$"):
        parse_data("hex 0x00 trailing junk")
    for bad in ("IP4: 1.2.3 -> 4.5.6", "UDP: 1.1.1.1 -> 2.2.2.300 UDP: 1 -> 2 incrementing 1",
                "IP4: 1.2.3 -> 4.5.6 vlan 1 vlan 2 vlan 3 incrementing 1",
                "UDP: 1.1.1.1 -> 2.2.2.2 UDP: 70000 -> 2 incrementing 1",
                "incrementing 99999999", "hex 0xabc", "IP4: 1.2.9 - 1.2.3 -> 4.5.6 hex 00", ""):
        with pytest.raises(PgSpecError):
            parse_data(bad, node="ip4-input")


TOKENS = ["IP4:", "IP6:", "ARP:", "UDP:", "TCP:", "ICMP:", "ICMP", "1.2.3", "4.5.6", "->", "-", "+",
          "10.0.0.1", "10.0.0.9", "1234", "0x800", "incrementing", "hex", "0xdead", "fixed", "vlan",
          "ttl", "tos", "id", "df", "mf", "checksum", "length", "fragment", "offset", "SYN", "ack",
          "window", "opt", "mss", "sack", "nvalues", "timestamp", "echo_request", "seq", "/", ":",
          "request:", "99999999999999999999999", "0x", "{", "}", "priority", "cfi", "4", "0"]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.lists(st.sampled_from(TOKENS), max_size=14).map(" ".join),
                 st.text(max_size=60)), st.sampled_from([None, "ip4-input"]))
def test_fuzz_only_pgspecerror(text, node):
    try:
        t = parse_data(text, node=node)
    except PgSpecError:
        return
    rows, lengths = t.generate(0, 2, np.array([30, 90]))
    assert rows.shape[0] == 2 and lengths.min() >= t.header_len


VALID = [
    EXAMPLE,
    "TCP: 10.0.0.1 -> 10.0.0.2 ttl 7 df TCP: 1000 - 1002 -> 80 SYN ACK window 1000 "
    "opt mss 1460 opt timestamp 11 22 opt sack nvalues 2 1 2 3 4 incrementing 10",
    "IP4: 1.2.3 -> 4.5.6 vlan 100-101 priority 5 cfi 1 vlan 3 UDP: 1.1.1.1 -> 2.2.2.2 "
    "fragment id 1 offset 8 mf UDP: 1 -> 2 length 5 checksum 0 incrementing 10",
    "ARP: 1.2.3 -> ffff.ffff.ffff request: 0001.0002.0003/10.0.0.1 -> 0.0.0/10.0.0.2",
    "ICMP: 1.2.3.4 -> 5.6.7.8 ICMP echo_request id 1-5 seq 3+9 code 2 incrementing 100",
]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(VALID), st.lists(st.tuples(st.integers(0, 40), st.sampled_from(
    TOKENS + ["", "65536", "0xffffffffffff", "300"])), min_size=1, max_size=4),
    st.sampled_from([None, "ip4-input"]))
def test_fuzz_mutated_examples(text, edits, node):
    words = text.split()
    for k, tok in edits:
        words[min(k, len(words) - 1)] = tok
    try:
        t = parse_data(" ".join(words), node=node)
    except PgSpecError:
        return
    rows, lengths = t.generate(12345, 3, np.array([0, 60, 200]))
    assert (lengths >= t.header_len).all()
