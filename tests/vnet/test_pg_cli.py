"""The packet generator through the CLI: streams, runtime, trace, errors, capture, interfaces."""

import time

from scapy.all import IP, UDP, rdpcap

STREAM = ("packet-generator new {{ name {name} limit {limit} size 64-64 {extra} "
          "data {{ IP4: 1.2.3 -> 4.5.6 UDP: 192.168.1.10 - 192.168.1.254 -> 192.168.2.10 "
          "UDP: 1234 -> 2345 incrementing 22 }} }}")


def wait_done(shell, name, timeout=10):
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if shell.call(lambda: not shell.vm.pg.streams[name].enabled):
            return
        time.sleep(0.02)
    raise AssertionError("stream did not finish")


def test_stream_runs_and_shows_in_runtime_and_errors(shell):
    shell.run("create packet-generator interface pg0")
    shell.run(STREAM.format(name="s1", limit=1000, extra="interface pg0 node null-node"))
    assert "s1                   No" in shell.run("show packet-generator")
    shell.run("packet-generator enable-stream s1")
    wait_done(shell, "s1")
    rt = shell.run("show runtime")
    row = next(l for l in rt.splitlines() if l.startswith("null-node"))
    assert row.split()[3] == "1000"  # vectors
    assert float(row.split()[-1]) > 1.0  # whole frames, not one packet per call
    errs = shell.run("show errors")
    assert any(l.split()[:3] == ["1000", "null-node", "blackholed"] for l in errs.splitlines())
    intf = shell.run("show interface pg0")
    assert "rx packets                  1000" in intf and "rx bytes                   64000" in intf
    assert "1000" in shell.run("show packet-generator")
    shell.run("clear runtime")
    shell.run("clear errors")
    assert "null-node" not in shell.run("show runtime")
    assert "blackholed" not in shell.run("show errors")


def test_trace_shows_node_path(shell):
    shell.run(STREAM.format(name="t", limit=10, extra="node null-node"))
    shell.run("trace add pg-input 3")
    shell.run("packet-generator enable-stream t")
    wait_done(shell, "t")
    out = shell.run("show trace")
    assert out.startswith("------------------- Start of thread 0 vpp_main -------------------")
    assert out.count("Packet ") == 3
    assert ": pg-input\n  stream t, 64 bytes" in out
    assert "UDP: 192.168.1.11 -> 192.168.2.10" in out  # the second packet's source
    assert ": null-node" in out
    assert shell.run("show trace max 1").count("Packet ") == 1
    shell.run("clear trace")
    assert "No packets in trace buffer" in shell.run("show trace")


def test_trace_add_rejects_non_input_nodes(shell):
    assert shell.error("trace add null-node 5") == (
        "trace add: node 'null-node' doesn't support per-node tracing. "
        "There may be another way to initiate trace on this node.")


def test_capture_on_pg_interface_writes_pcap(shell, tmp_path):
    shell.run("create packet-generator interface pg1")
    shell.run("set interface state pg1 up")
    pcap = tmp_path / "cap.pcap"
    shell.run(f"packet-generator capture pg1 pcap {pcap} count 5")
    shell.run(STREAM.format(name="c", limit=8, extra="node pg1-output"))
    shell.run("packet-generator enable-stream c")
    wait_done(shell, "c")
    shell.run("wait 0.1")
    pkts = rdpcap(str(pcap))
    assert len(pkts) == 5
    assert pkts[4][IP].src == "192.168.1.14" and pkts[0][UDP].dport == 2345
    assert "tx packets                     8" in shell.run("show interface pg1")


def test_down_interface_drops_with_reason(shell):
    shell.run("create packet-generator interface pg2")
    shell.run(STREAM.format(name="d", limit=4, extra="node pg2-output"))
    shell.run("packet-generator enable-stream d")
    wait_done(shell, "d")
    errs = shell.run("show errors")
    assert any("pg2-output" in l and "interface is down" in l and l.split()[0] == "4" for l in errs.splitlines())


def test_rate_limited_stream_sleeps_between_packets(shell):
    shell.run(STREAM.format(name="r", limit=5, extra="rate 20 node null-node"))
    t0 = time.monotonic()
    shell.run("packet-generator enable-stream r")
    wait_done(shell, "r")
    assert time.monotonic() - t0 >= 0.15  # 5 packets at 20 pps


def test_pg_errors_in_vpp_wording(shell):
    assert shell.error("packet-generator new { name x node null-node }") == \
        "packet-generator new: no packet data given"
    assert shell.error("packet-generator new { name x data { IP4: 1.2.3 -> 4.5.6 } }") == \
        "packet-generator new: output interface or node not given"
    shell.run(STREAM.format(name="dup", limit=1, extra="node null-node"))
    shell.run(STREAM.format(name="dup", limit=2, extra="node null-node"))  # replaces, as in VPP
    assert shell.run("show packet-generator").count("dup") == 1
    shell.run("packet-generator new { limit 3 node null-node data { IP4: 1.2.3 -> 4.5.6 incrementing 50 } }")
    assert "stream0" in shell.run("show packet-generator")
    shell.run("packet-generator delete stream0")
    assert shell.error("packet-generator enable-stream nope") == \
        "packet-generator enable-stream: no such stream `nope'"
    shell.run("packet-generator delete dup")
    assert shell.run("show packet-generator") == "no streams currently defined\n"


def test_loopback_create_delete(shell):
    assert shell.run("create loopback interface") == "loop0\n"
    assert shell.run("create loopback interface instance 7 mac 02:00:00:00:00:07") == "loop7\n"
    assert "Ethernet address 02:00:00:00:00:07" in shell.run("show hardware-interfaces loop7")
    assert shell.error("create loopback interface instance 7") == \
        "create loopback interface: instance 7 already in use"
    shell.run("delete loopback interface intfc loop0")
    assert "loop0" not in shell.run("show interface")
    assert shell.run("create loopback interface") == "loop0\n"  # lowest free instance again
    assert shell.error("delete loopback interface intfc local0") == \
        "delete loopback interface: interface local0 is not a loopback"
