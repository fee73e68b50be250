"""host-interface (af_packet) against the real kernel.

The engine runs inside a namespace the test made (`vppsh-t-<tag>v`: the main thread enters it
before the engine thread starts, so both live there); the veth pair is created there and its
peer moved into a second test namespace (`vppsh-t-<tag>h`) with 10.x.y.1/24. Removing the two
namespaces at the end removes the veth with them.
"""

from __future__ import annotations

import ipaddress
import os
import random
import re
import secrets
import select
import socket
import struct
import subprocess
import time
from types import SimpleNamespace

import numpy as np
import pytest
from pyroute2 import IPRoute

from tests.helpers.kernel import tcp_stream
from tests.helpers.shell import Shell
from vppsh.vlib.buffer import PRE_DATA, BufferPool
from vppsh.vnet.devices import netns
from vppsh.vnet.devices.af_packet import AfPacketDevice

pytestmark = pytest.mark.root


@pytest.fixture
def topo():
    tag = secrets.token_hex(3)
    t = SimpleNamespace(
        vpp_ns=f"vppsh-t-{tag}v", host_ns=f"vppsh-t-{tag}h",
        vpp_if=f"vppsh-t-{tag}a", host_if=f"vppsh-t-{tag}b",
        net=f"10.{random.randint(64, 250)}.{random.randint(0, 255)}",
    )
    for ns in (t.vpp_ns, t.host_ns):
        assert netns.ensure_netns(ns)
    try:
        with netns.in_netns(t.vpp_ns):
            with IPRoute() as ipr:
                ipr.link("add", ifname=t.vpp_if, kind="veth", peer=t.host_if)
            netns.move_link(t.host_if, t.host_ns)
            netns.configure_link(t.host_if, t.host_ns, ip4=ipaddress.ip_interface(f"{t.net}.1/24"), up=True)
            yield t
    finally:
        for ns in (t.vpp_ns, t.host_ns):
            netns.remove_netns(ns)


@pytest.fixture
def shell(topo, shell):
    """conftest's shell, started while this thread is in the test's engine namespace."""
    return shell


def _host_socket(t) -> socket.socket:
    """A raw packet socket on the peer end, in the host namespace."""
    with netns.in_netns(t.host_ns):
        s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))
    s.bind((t.host_if, 3))  # ETH_P_ALL; Python converts to network order itself
    s.settimeout(2)
    return s


def _rx_all(dev, pool, timeout=1.0) -> list[bytes]:
    """Every frame the ring yields within `timeout` (our test ethertype only); buffers freed."""
    got = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        select.select([dev.fileno()], [], [], 0.05)
        bi = dev.read_batch(pool, 64)
        got += [p for p in map(pool.packet, bi.tolist()) if b"\x88\xb5" in p[12:18]]
        pool.free(bi)
    return got


def _frame(dst: bytes, src: bytes, payload: bytes, vlan: int | None = None) -> bytes:
    tag = struct.pack("!HH", 0x8100, vlan) if vlan is not None else b""
    return dst + src + tag + struct.pack("!H", 0x88B5) + payload  # local experimental ethertype


def test_device_rx_tx_vlan_and_own_outgoing(topo):
    assert not netns.link_info(topo.vpp_if)["up"]
    dev = AfPacketDevice.create(topo.vpp_if)  # this thread is in the engine namespace
    assert netns.link_info(topo.vpp_if)["up"]  # VPP brings the host side up
    pool = BufferPool(512)
    host = _host_socket(topo)
    try:
        assert dev.mac[:2] == b"\x02\xfe" and dev.name == f"host-{topo.vpp_if}"
        peer = bytes.fromhex(netns.link_info(topo.host_if, topo.host_ns)["mac"].replace(":", ""))
        # rx: a plain and an 802.1Q frame (the kernel strips the tag; it must come back)
        plain = _frame(dev.mac, peer, b"plain" + bytes(60))
        tagged = _frame(dev.mac, peer, b"tagged" + bytes(60), vlan=0x2064)
        host.send(plain)
        host.send(tagged)
        assert _rx_all(dev, pool, 0.3) == [plain, tagged]
        # our own host's transmissions on the link are not input
        with socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0) as local:
            before = dev.rx_outgoing
            local.bind((topo.vpp_if, 0))
            local.send(_frame(peer, dev.mac, b"outgoing" + bytes(60)))
            assert _rx_all(dev, pool, 0.3) == []
            assert dev.rx_outgoing > before
        # tx: one sendmmsg for the frame, each packet arrives intact
        frames = [_frame(peer, dev.mac, b"tx%03d" % i + bytes(i)) for i in range(40)]
        bi = pool.alloc(len(frames))
        for b, f in zip(bi.tolist(), frames):
            pool.data[b, PRE_DATA:PRE_DATA + len(f)] = np.frombuffer(f, np.uint8)
            pool.current_length[b] = len(f)
        n_free = pool.n_free
        dev.tx(SimpleNamespace(vm=SimpleNamespace(buffers=pool)), bi)
        assert pool.n_free == n_free + len(frames) and dev.tx_errors == 0
        got = []
        while len(got) < len(frames):
            p = host.recv(4096)
            if p[12:14] == b"\x88\xb5" and p[14:16] == b"tx":
                got.append(p)
        assert got == frames
        d = dev.details()
        assert d[0] == "  Linux PACKET socket interface v3" and d[1] == "  FEATURES:"
        assert "    qdisc-bpass-enabled" in d
    finally:
        host.close()
        dev.destroy()
        dev.destroy()  # idempotent
    assert dev.fileno() == -1 and len(dev.read_batch(pool, 8)) == 0


def test_create_errors_and_options(topo, shell):
    v = topo.vpp_if
    assert shell.error("create host-interface name vppsh-t-nonexist") == (
        "create host-interface: Invalid interface name")
    assert shell.run(f"create host-interface name {v} hw-addr 02:fe:00:00:00:42 qdisc-bypass-disable "
                     f"cksum-gso-disable") == f"host-{v}\n"
    assert shell.error(f"create host-interface name {v}") == "create host-interface: Interface already exists"
    hw = shell.run(f"show hardware-interfaces host-{v}")
    assert "  Ethernet address 02:fe:00:00:00:42\n  Linux PACKET socket interface v3\n  FEATURES:\n  RX Queue 0:" in hw
    for bad, why in (("v2 name x", "v2 (TPACKET_V2) is not supported, only TPACKET_V3"),
                     ("name x mode ip", "mode ip is not supported, only ethernet mode"),
                     ("name x num-tx-queues 2", "multiple rx or tx queues are not supported")):
        assert shell.error(f"create host-interface {bad}") == f"create host-interface: {why}"
    shell.run(f"set interface state host-{v} up")
    assert netns.link_info(v, topo.vpp_ns)["up"]
    shell.run(f"set interface state host-{v} down")  # the host link follows, as in VPP
    assert not netns.link_info(v, topo.vpp_ns)["up"]
    # link down leaves ENETDOWN pending on the socket: read once, not a wake-up loop
    shell.run("clear runtime")
    time.sleep(0.3)
    row = [l for l in shell.run("show runtime").splitlines() if l.startswith("af-packet-input")]
    assert not row or int(row[0].split()[-5]) < 10, row  # Calls
    shell.run(f"delete host-interface name {v}")
    assert f"host-{v}" not in shell.run("show interface")
    assert shell.error(f"delete host-interface name {v}") == (
        f"delete host-interface: Host interface {v} does not exist")


def test_ping_both_ways_and_rx_batching(topo, shell):
    v, net = topo.vpp_if, topo.net
    assert shell.run(f"create host-interface name {v}") == f"host-{v}\n"
    shell.run(f"set interface state host-{v} up")
    shell.run(f"set interface ip address host-{v} {net}.2/24")
    r = subprocess.run(["nsenter", f"--net=/var/run/netns/{topo.host_ns}", "ping", "-c", "20", "-i", "0.02",
                        "-W", "2", f"{net}.2"], capture_output=True, text=True, timeout=20)
    assert " 0% packet loss" in r.stdout, r.stdout + r.stderr
    # room for the kernel's own IPv6 chatter (router solicitations, MLD) beside the ping
    shell.run("trace add af-packet-input 10")
    subprocess.run(["nsenter", f"--net=/var/run/netns/{topo.host_ns}", "ping", "-c", "1", "-W", "2", f"{net}.2"],
                   capture_output=True, timeout=10)
    tr = shell.run("show trace")
    assert ": af-packet-input\n  af_packet: hw_if_index 1 rx-queue 0 next-index 0\n    block " in tr, tr
    assert "\n    tpacket3_hdr:\n      status 0x" in tr and ": ip4-icmp-echo-request" in tr
    out = shell.run(f"ping {net}.1 repeat 3")
    assert f"bytes from {net}.1: icmp_seq=3" in out
    assert int(re.search(r"(\d+) received", out).group(1)) >= 2

    # a burst of 1000 datagrams: blocks of packets per wake-up, all answered port-unreachable
    shell.run("clear runtime")
    shell.run("clear errors")
    with netns.in_netns(topo.host_ns):
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    with u:
        for i in range(1000):
            u.sendto(b"%04d" % i + bytes(28), (f"{net}.2", 9))
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        errs = shell.run("show errors")
        if re.search(r"^\s+1000\s+ip4-icmp-error\s", errs, re.M):
            break
        time.sleep(0.05)
    assert re.search(r"^\s+1000\s+ip4-input\s+valid ip4 packets", errs, re.M), errs
    assert re.search(r"^\s+1000\s+ip4-icmp-error\s+destination unreachable", errs, re.M), errs
    row = next(l for l in shell.run("show runtime").splitlines() if l.startswith("af-packet-input"))
    assert float(row.split()[-1]) > 1.0, row  # Vectors/Call
    dev = shell.vm.interfaces.by_name[f"host-{v}"].hw.device
    assert dev.rx_oversize == dev.rx_partial == dev.rx_no_buf == 0


def _n_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_delete_and_50_cycles_leave_no_fd(topo, shell):
    v = topo.vpp_if
    shell.run(f"create host-interface name {v}")
    shell.run(f"set interface state host-{v} up")
    shell.run(f"delete host-interface name {v}")
    base = _n_fds()
    for _ in range(50):
        shell.run(f"create host-interface name {v}")
        shell.run(f"delete host-interface name {v}")
    assert _n_fds() == base
    assert f"host-{v}" not in shell.run("show interface")
    assert not shell.vm.node_by_name["af-packet-input"].devices



@pytest.fixture
def two_hosts():
    """vppsh's namespace with two veth pairs, each peer in a host namespace routed via vppsh."""
    tag = secrets.token_hex(3)
    t = SimpleNamespace(vpp_ns=f"vppsh-t-{tag}v", hosts=[f"vppsh-t-{tag}1", f"vppsh-t-{tag}2"],
                        ifs=[f"vppsh-t-{tag}a", f"vppsh-t-{tag}b"], peers=[f"vppsh-t-{tag}c", f"vppsh-t-{tag}d"])
    for ns in (t.vpp_ns, *t.hosts):
        assert netns.ensure_netns(ns)
    try:
        with netns.in_netns(t.vpp_ns):
            for i in range(2):
                with IPRoute() as ipr:
                    ipr.link("add", ifname=t.ifs[i], kind="veth", peer=t.peers[i])
                netns.move_link(t.peers[i], t.hosts[i])
                netns.configure_link(t.peers[i], t.hosts[i], ip4=ipaddress.ip_interface(f"10.7{i}.0.2/24"),
                                     gw4=ipaddress.ip_address(f"10.7{i}.0.1"), up=True)
            yield t
    finally:
        for ns in (t.vpp_ns, *t.hosts):
            netns.remove_netns(ns)


def test_router_over_two_host_interfaces(two_hosts):
    """ping and a 50 MB sha256-checked TCP stream, routed by vppsh between two host-interfaces;
    the veths offload (TSO), so GSO super-frames cross with their virtio-net header."""
    t = two_hosts
    shell = Shell()  # started here, inside two_hosts' engine namespace
    try:
        _route_and_stream(t, shell)
    finally:
        shell.close()


def _route_and_stream(t, shell):
    for i in range(2):
        assert shell.run(f"create host-interface name {t.ifs[i]}") == f"host-{t.ifs[i]}\n"
        shell.run(f"set interface state host-{t.ifs[i]} up")
        shell.run(f"set interface ip address host-{t.ifs[i]} 10.7{i}.0.1/24")
    run = lambda ns, *cmd, **kw: subprocess.run(["nsenter", f"--net=/run/netns/{ns}", *cmd],  # noqa: E731
                                                capture_output=True, text=True, timeout=120, **kw)
    run(t.hosts[0], "ping", "-c", "2", "-i", "0.2", "10.71.0.2")  # resolve ARP both sides
    r = run(t.hosts[0], "ping", "-c", "20", "-i", "0.01", "-W", "1", "10.71.0.2")
    assert " 0% packet loss" in r.stdout, r.stdout
    tcp_stream(t.hosts[0], t.hosts[1], "10.71.0.2", 50)
