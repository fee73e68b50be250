import pytest
from scapy.layers.l2 import Dot1Q, Ether

from vppsh.wire import ethernet as eth


def test_build_parse_vs_scapy():
    dst, src = bytes.fromhex("02fe4c2a9b11"), bytes.fromhex("02fe11223344")
    h = eth.build(dst, src, eth.ETHERTYPE_IP4)
    assert len(h) == eth.ETH_HDR_LEN
    p = Ether(h)
    assert (p.dst, p.src, p.type) == ("02:fe:4c:2a:9b:11", "02:fe:11:22:33:44", 0x0800)
    s = bytes(Ether(dst="ff:ff:ff:ff:ff:ff", src="00:11:22:33:44:55", type=0x0806))
    assert eth.parse(s) == (eth.BROADCAST, bytes.fromhex("001122334455"), eth.ETHERTYPE_ARP)
    with pytest.raises(ValueError):
        eth.parse(b"\x00" * 13)
    with pytest.raises(ValueError):
        eth.build(b"\x00" * 5, src, 1)


def test_mac_text():
    assert eth.format_mac(bytes.fromhex("02fe4c2a9b11")) == "02:fe:4c:2a:9b:11"
    assert eth.parse_mac("02:FE:4c:2a:9b:11") == bytes.fromhex("02fe4c2a9b11")
    assert eth.parse_mac("02fe.4c2a.9b11") == bytes.fromhex("02fe4c2a9b11")
    assert eth.parse_mac("1.2.3") == bytes.fromhex("000100020003")
    assert eth.parse_mac("3cfd.fed0.b6c8") == bytes.fromhex("3cfdfed0b6c8")
    for junk in ("", "02:fe:4c:2a:9b", "02:fe:4c:2a:9b:11:22", "zz:fe:4c:2a:9b:11",
                 "1.2", "12345.1.2", "02:fe:4c:2a:9b:111", "1.2.3.4", "hello"):
        with pytest.raises(ValueError):
            eth.parse_mac(junk)


def test_format_header():
    h = eth.build(bytes.fromhex("02fe4c2a9b11"), bytes.fromhex("02fe11223344"), 0x0800)
    assert eth.format_ethernet_header(h) == "IP4: 02:fe:11:22:33:44 -> 02:fe:4c:2a:9b:11"
    for t, name in ((0x0806, "ARP"), (0x86DD, "IP6"), (0x1234, "0x1234")):
        assert eth.format_ethernet_header(h[:12] + t.to_bytes(2, "big")).startswith(name + ": ")
    assert eth.format_ethernet_header(b"\x00" * 10) == "ethernet header truncated"


def test_format_vlan():
    p = bytes(Ether(src="00:00:00:00:00:01", dst="00:00:00:00:00:02") / Dot1Q(vlan=100, prio=3)
              / Dot1Q(vlan=7, dei=1, type=0x0800))
    assert eth.format_ethernet_header(p) == (
        "IP4: 00:00:00:00:00:01 -> 00:00:00:00:00:02 802.1q vlan 100 priority 3"
        " 802.1q vlan 7 cfi")
    assert eth.header_len(p) == 22
