import shutil
import struct
import subprocess

import numpy as np
import pytest
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether
from scapy.utils import PcapWriter as ScapyPcapWriter
from scapy.utils import rdpcap, wrpcap

from vppsh.vnet.pcap import LINKTYPE_IPV4, PcapWriter, read_pcap, read_pcap_with_times


def _pkts(n=5):
    return [bytes(Ether(src="00:01:00:02:00:03", dst="00:04:00:05:00:06")
                  / IP(src="10.0.0.1", dst=f"10.0.0.{i + 2}") / UDP(sport=1, dport=2)
                  / bytes(range(i * 7))) for i in range(n)]


def test_write_read_back_with_scapy_and_ours(tmp_path):
    path = str(tmp_path / "a.pcap")
    pkts = _pkts()
    with PcapWriter(path) as w:
        w.write(pkts[0], ts=1700000000.25)
        for p in pkts[1:]:
            w.write(p)
    got = rdpcap(path)
    assert [bytes(p) for p in got] == pkts
    assert float(got[0].time) == pytest.approx(1700000000.25)
    assert read_pcap(path) == pkts


def test_write_many_one_batch(tmp_path):
    path = str(tmp_path / "b.pcap")
    pkts = _pkts(8)
    rows = np.zeros((8, max(map(len, pkts))), np.uint8)
    for i, p in enumerate(pkts):
        rows[i, :len(p)] = np.frombuffer(p, np.uint8)
    w = PcapWriter(path)
    w.write_many(rows, [len(p) for p in pkts], ts=5.5)
    w.close()
    w.close()  # idempotent
    assert [bytes(p) for p in rdpcap(path)] == pkts
    pk, times, lt = read_pcap_with_times(path)
    assert pk == pkts and times == [5.5] * 8 and lt == 1


def test_raw_ipv4_linktype(tmp_path):
    path = str(tmp_path / "c.pcap")
    raw = bytes(IP(src="1.1.1.1", dst="2.2.2.2") / UDP())
    with PcapWriter(path, linktype=LINKTYPE_IPV4) as w:
        w.write(raw, ts=0)
    assert read_pcap_with_times(path)[2] == 228
    assert read_pcap(path) == [raw]


@pytest.mark.skipif(shutil.which("tcpdump") is None, reason="tcpdump not installed")
def test_tcpdump_reads_our_file(tmp_path):
    path = str(tmp_path / "d.pcap")
    with PcapWriter(path) as w:
        for p in _pkts(3):
            w.write(p, ts=1.0)
    r = subprocess.run(["tcpdump", "-n", "-r", path], capture_output=True, text=True, timeout=20)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.strip().splitlines()
    assert len(lines) == 3 and "10.0.0.1.1 > 10.0.0.2.2: UDP" in lines[0]


def test_read_scapy_files_incl_nanosecond_and_big_endian(tmp_path):
    pkts = _pkts(4)
    p1 = str(tmp_path / "s.pcap")
    wrpcap(p1, [Ether(p) for p in pkts])
    assert read_pcap(p1) == pkts
    p2 = str(tmp_path / "ns.pcap")
    w = ScapyPcapWriter(p2, nano=True)
    for p in pkts:
        w.write(Ether(p))
    w.close()
    with open(p2, "rb") as f:
        assert struct.unpack("<I", f.read(4))[0] == 0xA1B23C4D
    assert read_pcap(p2) == pkts
    p3 = str(tmp_path / "be.pcap")
    w = ScapyPcapWriter(p3, endianness=">")
    for p in pkts:
        w.write(Ether(p))
    w.close()
    assert read_pcap(p3) == pkts


def test_bad_files(tmp_path):
    short = tmp_path / "short.pcap"
    short.write_bytes(b"\xd4\xc3\xb2")
    with pytest.raises(ValueError, match="too short"):
        read_pcap(str(short))
    junk = tmp_path / "junk.pcap"
    junk.write_bytes(b"hello world, this is not a pcap")
    with pytest.raises(ValueError, match="bad magic"):
        read_pcap(str(junk))
    ng = tmp_path / "x.pcapng"
    ng.write_bytes(b"\x0a\x0d\x0d\x0a" + bytes(40))
    with pytest.raises(ValueError, match="pcapng"):
        read_pcap(str(ng))
    good = tmp_path / "g.pcap"
    with PcapWriter(str(good)) as w:
        w.write(_pkts(1)[0], ts=0)
    data = good.read_bytes()
    (tmp_path / "t1.pcap").write_bytes(data[:-5])
    with pytest.raises(ValueError, match="truncated packet"):
        read_pcap(str(tmp_path / "t1.pcap"))
    (tmp_path / "t2.pcap").write_bytes(data[:24 + 7])
    with pytest.raises(ValueError, match="truncated record"):
        read_pcap(str(tmp_path / "t2.pcap"))
    assert len(read_pcap(str(good))) == 1
