"""IPv4 over real taps with the Linux kernel on the other side, in namespaces these tests own.

Kernel-side tools run with `nsenter --net=/run/netns/<ns>` (util-linux), so every address used
lives inside the test's namespaces.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
import uuid

import pytest
from pyroute2 import netns as pr_netns

from tests.helpers.kernel import tcp_stream

pytestmark = pytest.mark.root


def ns_run(ns, *cmd, timeout=60, check=True, **kw):
    return subprocess.run(["nsenter", f"--net=/run/netns/{ns}", *cmd], capture_output=True, text=True,
                          timeout=timeout, check=check, **kw)


@pytest.fixture
def names():
    """Unique namespace names for this test; whatever is left of them is removed afterwards."""
    made = []

    def new():
        n = f"vppsh-t-{uuid.uuid4().hex[:8]}"
        made.append(n)
        return n

    yield new
    for n in made:
        if os.path.exists(f"/run/netns/{n}"):
            pr_netns.remove(n)


def loss(ping_output: str) -> float:
    return float(re.search(r"([\d.]+)% packet loss", ping_output).group(1))


def seed(shell, ns):
    assert shell.run(f"create tap id 0 host-ns {ns} host-ip4-addr 10.0.0.1/31") == "tap0\n"
    shell.run("set interface state tap0 up")
    shell.run("set interface ip address tap0 10.0.0.0/31")


def test_seed_commands_ping_both_ways(shell, names):
    ns = names()
    seed(shell, ns)
    r = ns_run(ns, "ping", "-c", "100", "-i", "0.01", "-W", "1", "10.0.0.0")
    assert loss(r.stdout) == 0.0, r.stdout
    out = shell.run("ping 10.0.0.1 interval 0.2")
    assert int(re.search(r"(\d) received", out).group(1)) >= 4, out
    assert re.search(r"^116 bytes from 10.0.0.1: icmp_seq=\d ttl=64 time=\S+ ms$", out, re.M)
    assert "10.0.0.1" in shell.run("show ip neighbors")
    assert "L3 10.0.0.0/31" in shell.run("show int addr")
    fib = shell.run("show ip fib 10.0.0.1/32")
    assert "ipv4 via 10.0.0.1 tap0" in fib
    intf = shell.run("show interface tap0")
    assert re.search(r"rx packets\s+\d+", intf) and re.search(r"tx packets\s+\d+", intf)


def test_trace_shows_the_whole_node_path(shell, names):
    ns = names()
    seed(shell, ns)
    ns_run(ns, "ping", "-c", "1", "10.0.0.0")  # resolve ARP first
    shell.run("clear trace")
    shell.run("trace add virtio-input 10")
    ns_run(ns, "ping", "-c", "2", "-i", "0.2", "10.0.0.0")
    trace = shell.run("show trace")
    path = ["virtio-input", "ethernet-input", "ip4-input", "ip4-lookup", "ip4-receive", "ip4-icmp-input",
            "ip4-icmp-echo-request", "ip4-lookup", "ip4-rewrite", "tap0-output", "tap0-tx"]
    packet = next(p for p in trace.split("Packet ")[1:] if "ip4-icmp-echo-request" in p)
    nodes = re.findall(r"^\d\d:\d\d:\d\d:\d{6}: (\S+)$", packet, re.M)
    assert nodes == path, packet
    assert "ICMP: 10.0.0.1 -> 10.0.0.0" in packet
    assert "ICMP: 10.0.0.0 -> 10.0.0.1" in packet  # the reply, after the rewrite


@pytest.mark.skipif(shutil.which("tcpdump") is None, reason="tcpdump not installed")
def test_pcap_trace_decodes_in_tcpdump(shell, names, tmp_path):
    ns = names()
    seed(shell, ns)
    pcap = tmp_path / "cap.pcap"
    shell.run(f"pcap trace rx tx max 50 intfc tap0 file {pcap}")
    ns_run(ns, "ping", "-c", "3", "-i", "0.2", "10.0.0.0")
    assert "capture is on" in shell.run("pcap trace status")
    assert "packets to" in shell.run("pcap trace off")
    r = subprocess.run(["tcpdump", "-n", "-r", str(pcap)], capture_output=True, text=True, check=True)
    assert r.stdout.count("ICMP echo request") == 3 and r.stdout.count("ICMP echo reply") == 3, r.stdout


@pytest.mark.parametrize("offload,offload2", [("", ""), ("gso", "gso"), ("csum-offload", "")])
def test_router_between_two_namespaces(shell, names, offload, offload2):
    """With gso the kernel hands over 64 KB TCP super-frames with partial checksums: they are
    routed whole, their virtio-net header carried from one tap to the other. Partial checksums
    leaving through a tap without the header are finished in software."""
    a, b = names(), names()
    shell.run(f"create tap id 1 host-ns {a} host-ip4-addr 10.1.0.2/24 host-ip4-gw 10.1.0.1 {offload}")
    shell.run(f"create tap id 2 host-ns {b} host-ip4-addr 10.2.0.2/24 host-ip4-gw 10.2.0.1 {offload2}")
    for i in (1, 2):
        shell.run(f"set interface state tap{i} up")
        shell.run(f"set interface ip address tap{i} 10.{i}.0.1/24")
    r = ns_run(a, "ping", "-c", "20", "-i", "0.01", "-W", "1", "10.2.0.2")
    assert loss(r.stdout) <= 5.0, r.stdout  # the first may die in ARP
    r = ns_run(a, "ping", "-c", "20", "-i", "0.01", "-W", "1", "10.2.0.2")
    assert loss(r.stdout) == 0.0, r.stdout
    # traceroute shows vppsh's hop: ICMP time exceeded from 10.1.0.1
    if shutil.which("traceroute"):
        r = ns_run(a, "traceroute", "-n", "-q", "1", "-w", "1", "10.2.0.2", check=False)
        hops = re.findall(r"^\s*(\d+)\s+(\S+)", r.stdout, re.M)
        assert hops[:2] == [("1", "10.1.0.1"), ("2", "10.2.0.2")], r.stdout
    # a 100 MB TCP stream kernel to kernel through vppsh, sha256 checked at both ends
    tcp_stream(a, b, "10.2.0.2", 100)
    fib = shell.run("show ip fib 10.2.0.2/32")
    assert "ipv4 via 10.2.0.2 tap2" in fib
    if offload == "gso":
        assert "Data Size" in shell.run("show buffers") and "66048" in shell.run("show buffers")
        rx = int(shell.run("show interface tap1").split("rx packets")[1].split()[0])
        assert rx < 100 * 1024 * 1024 / 1500 / 2  # super-frames, not 1500-byte packets


def test_create_delete_tap_leaves_nothing_behind(shell, names):
    ns = names()
    fds0 = len(os.listdir("/proc/self/fd"))
    for _ in range(100):
        assert shell.run(f"create tap id 3 host-ns {ns} host-ip4-addr 10.9.0.1/24") == "tap3\n"
        shell.run("set interface state tap3 up")
        shell.run("delete tap tap3")
    assert not os.path.exists(f"/run/netns/{ns}")
    assert "tap3" not in shell.run("show interface")
    assert len(os.listdir("/proc/self/fd")) <= fds0 + 2  # no fd leak (slack for pytest's own)
    assert shell.error("delete tap") == "delete tap: Missing <interface>"
    assert shell.error("delete tap local0") == "delete tap: not a tap interface"
    assert shell.error("create tap rx-ring-size 100") == "create tap: ring size must be power of 2"


def test_engine_exit_removes_taps_and_namespaces(names, tmp_path):
    ns = names()
    sock = tmp_path / "cli.sock"
    setup = tmp_path / "s.cli"
    setup.write_text(f"create tap id 0 host-ns {ns} host-ip4-addr 10.0.0.1/31\n")
    p = subprocess.Popen([sys.executable, "-m", "vppsh", "-d", "-f", str(setup), "--cli-socket", str(sock),
                          "--api-socket", str(tmp_path / "api.sock")],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        for _ in range(200):
            if os.path.exists(f"/run/netns/{ns}") and sock.exists():
                break
            time.sleep(0.05)
        assert os.path.exists(f"/run/netns/{ns}")
        p.terminate()
        assert p.wait(15) == 0, p.stderr.read()
        assert not os.path.exists(f"/run/netns/{ns}")
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
