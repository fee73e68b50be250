"""TapDevice and the netns helpers against the real kernel: every tap, link and address lives in a
namespace the test created (`vppsh-t-<random>`), removed by name at the end."""

from __future__ import annotations

import gc
import ipaddress
import os
import random
import secrets
import select
import socket
import struct
import subprocess
import sys
import time
from types import SimpleNamespace

import numpy as np
import pytest
import pytun
from pyroute2 import IPRoute

from vppsh.vlib.buffer import PRE_DATA, BufferPool
from vppsh.vnet.devices import netns
from vppsh.vnet.devices.tap import TapDevice, TapError, TapOptions

pytestmark = pytest.mark.root


@pytest.fixture
def ns():
    name = f"vppsh-t-{secrets.token_hex(4)}"
    yield name
    if netns.netns_exists(name):
        netns.remove_netns(name)


@pytest.fixture
def net():
    """A random 10.x.y.0/31: .0 is the VPP side, .1 the host side."""
    return f"10.{random.randint(64, 250)}.{random.randint(0, 255)}"


@pytest.fixture
def pool():
    return BufferPool(512)


def _tap(ns, net, **kw):
    return TapDevice.create(
        TapOptions(host_ns=ns, host_ip4_addr=ipaddress.ip_interface(f"{net}.1/31"), **kw)
    )


def _recv(dev, pool, pred, timeout=3.0):
    """First frame matching `pred` (frames as bytes) and its vnet header; everything freed."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        select.select([dev.fileno()], [], [], 0.05)
        bi = dev.read_batch(pool, 64)
        found = None
        for b in bi.tolist():
            pkt = pool.packet(b)
            if found is None and pred(pkt):
                hdr = dev.vnet_hdr(b)
                found = (pkt, None if hdr is None else hdr.copy())
        pool.free(bi)
        if found:
            return found
    raise AssertionError("expected frame not received")


def _tx(dev, pool, frame: bytes):
    b = pool.alloc(1)
    pool.data[b[0], PRE_DATA:PRE_DATA + len(frame)] = np.frombuffer(frame, np.uint8)
    pool.current_length[b] = len(frame)
    dev.tx(SimpleNamespace(vm=SimpleNamespace(buffers=pool)), b)


def _is_arp_request(pkt):
    return pkt[12:14] == b"\x08\x06" and pkt[20:22] == b"\x00\x01"


def _arp_reply(src_mac, src_ip, dst_mac, dst_ip) -> bytes:
    spa, tpa = ipaddress.IPv4Address(src_ip).packed, ipaddress.IPv4Address(dst_ip).packed
    return dst_mac + src_mac + b"\x08\x06" + struct.pack(
        "!HHBBH6s4s6s4s", 1, 0x0800, 6, 4, 2, src_mac, spa, dst_mac, tpa
    )


def _exchange(dev, pool, ns, net):
    """Kernel sends UDP to the VPP side: ARP request out, our reply in, then the datagram."""
    with netns.in_netns(ns):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.sendto(b"hello vppsh", (f"{net}.0", 4789))
        req, _ = _recv(dev, pool, _is_arp_request)
        assert req[:6] == b"\xff" * 6 and req[38:42] == ipaddress.IPv4Address(f"{net}.0").packed
        _tx(dev, pool, _arp_reply(dev.mac, f"{net}.0", req[6:12], f"{net}.1"))
        udp, hdr = _recv(dev, pool, lambda p: p[12:14] == b"\x08\x00" and p[23] == 17)
    finally:
        s.close()
    assert udp[:6] == dev.mac and udp[6:12] == req[6:12]
    assert udp[42:] == b"hello vppsh"
    with IPRoute(netns=ns) as ipr:  # the kernel learnt our MAC from the reply written with tx()
        neigh = ipr.get_neighbours(dst=f"{net}.0")
        assert neigh and neigh[0].get("NDA_LLADDR") == ":".join(f"{b:02x}" for b in dev.mac)
    return hdr


# ------------------------------------------------------------------ tests
def test_host_side_configured_in_namespace(ns, net):
    dev = TapDevice.create(TapOptions(
        id=3, host_ns=ns, host_if_name="vpp-tap3", host_ip4_addr=ipaddress.ip_interface(f"{net}.1/31"),
        host_ip4_gw=ipaddress.ip_address(f"{net}.0"), host_mac_addr="02:fe:aa:bb:cc:dd",
        host_mtu_size=1400,
    ))
    try:
        assert dev._created_ns and dev.name == "tap3" and dev.host_if_name == "vpp-tap3"
        assert dev.mac[:2] == b"\x02\xfe"
        with IPRoute(netns=ns) as ipr:
            (idx,) = ipr.link_lookup(ifname="vpp-tap3")
            link = ipr.get_links(idx)[0]
            assert link["flags"] & 1 and link.get("IFLA_MTU") == 1400
            assert link.get("IFLA_ADDRESS") == "02:fe:aa:bb:cc:dd"
            addrs = [(a.get("IFA_ADDRESS"), a["prefixlen"]) for a in ipr.get_addr(index=idx, family=2)]
            assert addrs == [(f"{net}.1", 31)]
            gws = [r.get("RTA_GATEWAY") for r in ipr.get_routes(family=2) if r["dst_len"] == 0]
            assert gws == [f"{net}.0"]
        info = netns.link_info("vpp-tap3", ns)
        assert info["up"] and info["carrier"] == 1 and info["default_gw4"] == f"{net}.0"
        lines = dev.show_tap_lines("tap3", 1)
        assert lines[:4] == ["Interface: tap3 (ifindex 1)", '  name "vpp-tap3"',
                             f'  host-ns "{ns}"', '  host-mtu-size "1400"']
        assert "  host-mac-addr: 02:fe:aa:bb:cc:dd" in lines and "  host-carrier-up: 1" in lines
        assert f"  tap-fds {dev.fileno()}" in lines and lines[-1] == "  flags 0x0"
        assert dev.details()[:2] == ["  VIRTIO interface", "     instance 3"]
    finally:
        dev.destroy()
    assert not netns.netns_exists(ns)
    dev.destroy()  # idempotent


def test_rx_tx_through_kernel(ns, net, pool):
    dev = _tap(ns, net)
    try:
        assert dev.host_if_name.startswith("tap")  # kernel-chosen, as in VPP
        hdr = _exchange(dev, pool, ns, net)
        assert hdr is None and dev.rx_packets >= 2 and dev.tx_packets == 1
        assert dev.details()[3].strip().startswith("0 : ")
        assert pool.n_used == len(dev._spare)  # everything handed out came back
    finally:
        dev.destroy()
    assert pool.n_used == 0 and not netns.netns_exists(ns)


def test_gso_strips_vnet_header(ns, net, pool):
    dev = _tap(ns, net, gso=True)
    try:
        assert dev.vnet_hdr_len == 12
        hdr = _exchange(dev, pool, ns, net)  # frames start with the ethernet header
        # TUN_F_CSUM: the kernel leaves the UDP checksum to us and says where it goes
        assert hdr["flags"] == 1 and hdr["csum_start"] == 34 and hdr["csum_offset"] == 6
        assert "  gso-enabled 1" in dev.show_tap_lines("tap0", 1)
    finally:
        dev.destroy()


def test_carrier_follows_admin_state(ns, net):
    dev = _tap(ns, net)
    try:
        dev.admin_change(False)
        assert netns.link_info(dev.host_if_name, ns)["carrier"] == 0
        dev.admin_change(True)
        assert netns.link_info(dev.host_if_name, ns)["carrier"] == 1
        lines = dev.show_tap_lines("tap0", 1)
        assert lines[-2:] == ["  flags 0x1", "    admin-up (0)"]
    finally:
        dev.destroy()


def test_tx_after_destroy_counts_and_frees(ns, net, pool):
    dev = _tap(ns, net)
    dev.destroy()
    _tx(dev, pool, b"\xff" * 60)
    assert dev.tx_errors == 1 and pool.n_used == 0


@pytest.mark.parametrize("opts, msg", [
    (dict(host_ip4_addr=ipaddress.ip_interface("10.1.1.1/24"), host_bridge="br0"),
     "Please specify either host ip address or host bridge"),
    (dict(id=2), "interface already exists"),
    (dict(rx_ring_size=1000), "ring size must be power of 2"),
    (dict(tx_ring_size=65536), "ring size must be 32768 or lower"),
    (dict(id=8193), "cannot find free interface id"),
    (dict(attach=True), "host_if_name is not provided"),
])
def test_validation_errors_use_vpp_wording(opts, msg):
    with pytest.raises(TapError) as e:
        TapDevice.create(TapOptions(**opts), used_ids={0, 2})
    assert str(e.value) == msg


def test_failed_create_cleans_up(ns, net):
    before = _fds()
    with pytest.raises(TapError) as e:  # gateway outside the host subnet
        _tap(ns, net, host_ip4_gw=ipaddress.ip_address("10.9.9.9"))
    assert str(e.value).startswith(f"host-ns {ns}: tap") and "add default route via 10.9.9.9" in str(e.value)
    assert not netns.netns_exists(ns) and _fds() == before


def test_attach_to_persistent_tap(ns, net):
    netns.ensure_netns(ns)
    with netns.in_netns(ns):  # a tap left behind by a previous (crashed) owner
        tun = pytun.TunTapDevice(name="vppsh-p0", flags=pytun.IFF_TAP | pytun.IFF_NO_PI)
    tun.persist(True)
    tun.close()
    assert netns.link_exists("vppsh-p0", ns)
    with pytest.raises(TapError, match="no such interface to attach to"):
        TapDevice.create(TapOptions(host_ns=ns, host_if_name="vppsh-p1", attach=True))
    dev = TapDevice.create(TapOptions(host_ns=ns, host_if_name="vppsh-p0", attach=True,
                                      host_ip4_addr=ipaddress.ip_interface(f"{net}.1/31")))
    assert not dev._created_ns
    assert netns.link_info("vppsh-p0", ns)["addresses"][0] == ipaddress.ip_interface(f"{net}.1/31")
    dev.destroy()  # persist was cleared on attach: the tap goes with our fd
    assert not netns.link_exists("vppsh-p0", ns) and netns.netns_exists(ns)


def test_persist_outlives_its_process_until_attached(ns, net):
    """`persist`: the tap stays when its owner dies without deleting it; `attach` takes it over
    and clears persist, so it goes with the new owner."""
    code = ("import ipaddress, os, sys; from vppsh.vnet.devices.tap import TapDevice, TapOptions; "
            "dev = TapDevice.create(TapOptions(host_ns=sys.argv[1], host_if_name='vppsh-p2', persist=True)); "
            "print(dev.host_if_name, flush=True); os._exit(0)")
    r = subprocess.run([sys.executable, "-c", code, ns], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and r.stdout.split() == ["vppsh-p2"], r.stderr
    assert netns.link_exists("vppsh-p2", ns)  # its fd closed with the process, the tap stayed
    dev = TapDevice.create(TapOptions(host_ns=ns, host_if_name="vppsh-p2", attach=True,
                                      host_ip4_addr=ipaddress.ip_interface(f"{net}.1/31")))
    assert netns.link_exists("vppsh-p2", ns)
    dev.destroy()
    assert not netns.link_exists("vppsh-p2", ns)


def test_tap_fd_is_nonblocking_private_and_in_host_ns(ns, net):
    """The engine polls the fd (a blocking read would stall it), a child process must not keep
    the tap alive, and the tap never exists in the engine's own namespace."""
    name = f"vppsh-{secrets.token_hex(3)}"
    dev = _tap(ns, net, host_if_name=name)
    try:
        assert not os.get_blocking(dev.fileno()) and not os.get_inheritable(dev.fileno())
        assert netns.link_exists(name, ns) and not netns.link_exists(name)
    finally:
        dev.destroy()


def test_netns_helpers(ns):
    other = ns + "b"
    try:
        assert netns.ensure_netns(ns) is True and netns.ensure_netns(ns) is False
        assert netns.ensure_netns(other) is True
        with netns.in_netns(ns):
            tun = pytun.TunTapDevice(name="vppsh-m0", flags=pytun.IFF_TAP | pytun.IFF_NO_PI)
        netns.move_link("vppsh-m0", other, from_ns=ns)
        assert not netns.link_exists("vppsh-m0", ns) and netns.link_exists("vppsh-m0", other)
        netns.configure_link("vppsh-m0", other, mtu=1280, mac=b"\x02\xfe\x00\x00\x00\x07",
                             ip4=ipaddress.ip_interface("10.99.0.1/30"))
        info = netns.link_info("vppsh-m0", other)
        assert info["mtu"] == 1280 and info["mac"] == "02:fe:00:00:00:07" and info["up"]
        with pytest.raises(netns.NetnsError, match=f"host-ns {other}: vppsh-m0: add address"):
            netns.configure_link("vppsh-m0", other, ip4=ipaddress.ip_interface("10.99.0.1/30"))
        with pytest.raises(netns.NetnsError, match="no such interface"):
            netns.configure_link("vppsh-nope", other)
        assert netns.link_delete("vppsh-m0", other) is True
        assert netns.link_delete("vppsh-m0", other) is False
        tun.close()
        with pytest.raises(netns.NetnsError, match="host-ns vppsh-t-missing-x: No such file"):
            with netns.in_netns("vppsh-t-missing-x"):
                pass
        with pytest.raises(netns.NetnsError, match="invalid namespace name"):
            netns.ns_path("a/b")
        assert netns.ns_path("pid:1") == "/proc/1/ns/net"
        assert not netns.link_exists("lo", "vppsh-t-missing-x")
    finally:
        if netns.netns_exists(other):
            netns.remove_netns(other)


def _fds():
    return len(os.listdir("/proc/self/fd"))


def test_create_destroy_cycles_leave_nothing(net):
    names = [f"vppsh-t-{secrets.token_hex(4)}" for _ in range(100)]
    gc.collect()  # fds that earlier tests' garbage still holds go now, not during the count
    before = _fds()
    try:
        for i, name in enumerate(names):
            dev = _tap(name, net, gso=bool(i & 1), host_ip4_gw=ipaddress.ip_address(f"{net}.0"))
            dev.admin_change(True)
            dev.destroy()
        gc.collect()
        assert _fds() <= before  # (fewer: someone else's closed meanwhile; more: a leak)
        assert not [n for n in names if netns.netns_exists(n)]
    finally:
        for n in names:
            if netns.netns_exists(n):
                netns.remove_netns(n)
