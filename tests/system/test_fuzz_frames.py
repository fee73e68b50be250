"""Malformed frames from the kernel side of a tap: dropped and counted, never a node exception,
and the engine still answers pings afterwards. IPv4 and ARP here; IPv6 (headers, extension
chains, fragments, ICMPv6 and neighbour discovery) from tests/helpers/ip6_fuzz.py, whose frames
tests/vnet/test_fuzz_ip6_pg.py also sends through pg, frame by frame."""

from __future__ import annotations

import os
import re
import struct
import subprocess
import sys
import time
import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyroute2 import netns as pr_netns
from scapy.all import ARP, ICMP, IP, TCP, UDP, Ether, IPOption_RR, Raw

from tests.helpers.ip6_fuzz import bursts
from tests.helpers.kernel import INJECTOR, ipv6_settled

pytestmark = pytest.mark.root

VPP_MAC = "02:fe:00:00:00:01"
PEER_MAC = "02:fe:00:00:00:02"


def frames():
    """Broken and odd frames aimed at vppsh's address 10.0.0.0 (and others)."""
    eth = Ether(src=PEER_MAC, dst=VPP_MAC)
    dst = st.sampled_from(["10.0.0.0", "10.0.0.1", "10.9.9.9", "255.255.255.255", "224.0.0.1"])
    ip = st.builds(lambda d, ttl, flags, frag, opts, ihl, ln, chk, proto: IP(
        src="10.0.0.1", dst=d, ttl=ttl, flags=flags, frag=frag, options=[IPOption_RR()] if opts else [],
        ihl=ihl, len=ln, chksum=chk, proto=proto),
        dst, st.integers(0, 3), st.sampled_from([0, 1, 2]), st.sampled_from([0, 0, 1, 185]),
        st.booleans(), st.one_of(st.none(), st.integers(0, 15)), st.one_of(st.none(), st.integers(0, 2000)),
        st.one_of(st.none(), st.integers(0, 0xFFFF)), st.sampled_from([1, 6, 17, 47, 255]))
    l4 = st.sampled_from([ICMP(), ICMP(type=8), ICMP(type=0, id=7), ICMP(type=3), UDP(dport=7), TCP(dport=80),
                          TCP(dport=80, dataofs=15), UDP(len=3), Raw(b"")])
    ipv4 = st.builds(lambda i, l, p: bytes(eth / i / l / Raw(p)), ip, l4, st.binary(max_size=64))
    arp = st.builds(lambda op, pdst, hw: bytes(eth / ARP(op=op, psrc="10.0.0.1", pdst=pdst, hwlen=hw, hwsrc=PEER_MAC)),
                    st.integers(0, 3), dst, st.sampled_from([6, 6, 0, 255]))
    junk = st.builds(lambda t, p: bytes(Ether(src=PEER_MAC, dst=VPP_MAC, type=t)) + p,
                     st.sampled_from([0x0800, 0x0806, 0x8100, 0x86DD, 0x1234, 0x0000]), st.binary(max_size=80))
    frame = st.one_of(ipv4, arp, junk)
    return st.builds(lambda f, cut: f[:cut] if cut else f, frame, st.one_of(st.none(), st.integers(0, 60)))


def test_malformed_frames_are_dropped_and_counted(shell):
    ns = f"vppsh-t-{uuid.uuid4().hex[:8]}"
    inj = None
    try:
        shell.run(f"create tap id 0 host-ns {ns} host-if-name vpp0 hw-addr {VPP_MAC} "
                  f"host-mac-addr {PEER_MAC} host-ip4-addr 10.0.0.1/31")
        shell.run("set interface state tap0 up")
        shell.run("set interface ip address tap0 10.0.0.0/31")
        inj = subprocess.Popen(["nsenter", f"--net=/run/netns/{ns}", sys.executable, "-c", INJECTOR, "vpp0"],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        sent = [0]

        @settings(max_examples=600, deadline=None, suppress_health_check=list(HealthCheck))
        @given(frames())
        def inject(frame):
            if len(frame) < 14:
                frame = frame + bytes(14 - len(frame))
            inj.stdin.write(struct.pack("!H", len(frame)) + frame)
            inj.stdin.flush()
            inj.stdout.read(1)
            sent[0] += 1

        inject()
        inj.stdin.close()
        inj.wait(10)
        time.sleep(0.3)
        errors = shell.run("show errors")
        assert "node exceptions" not in errors, errors + shell.run("show logging")
        rx = int(shell.run("show interface tap0").split("rx packets")[1].split()[0])
        assert rx >= sent[0] * 0.95  # everything reached the engine
        for reason in ("bad ip4 checksum", "unknown ethernet type", "ip4 length > l2 length"):
            assert reason in errors, errors
        r = subprocess.run(["nsenter", f"--net=/run/netns/{ns}", "ping", "-c", "3", "-i", "0.2", "10.0.0.0"],
                           capture_output=True, text=True)
        assert " 0% packet loss" in r.stdout, r.stdout
    finally:
        if inj is not None and inj.poll() is None:
            inj.kill()
            inj.wait()
        try:
            shell.run("delete tap tap0")
        finally:
            if os.path.exists(f"/run/netns/{ns}"):
                pr_netns.remove(ns)


def test_malformed_ipv6_frames_are_dropped_and_counted(shell):
    ns = f"vppsh-t-{uuid.uuid4().hex[:8]}"
    me, peer = "2001:db8:1::1", "2001:db8:1::2"
    inj = None
    try:
        shell.run(f"create tap id 0 host-ns {ns} host-if-name vpp0 hw-addr {VPP_MAC} "
                  f"host-mac-addr {PEER_MAC} host-ip6-addr {peer}/64")
        shell.run("set interface state tap0 up")
        shell.run(f"set interface ip address tap0 {me}/64")
        shell.run(f"ip route add 2001:db8:9::/48 via {peer}")
        ll = re.search(r"Link-local address\(es\):\n\s+(\S+)", shell.run("show ip6 interface tap0")).group(1)
        ipv6_settled(ns)
        inj = subprocess.Popen(["nsenter", f"--net=/run/netns/{ns}", sys.executable, "-c", INJECTOR, "vpp0"],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        sent = [0]

        @settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
        @given(bursts(PEER_MAC, VPP_MAC, me, peer, "2001:db8:9::1", ll))
        def inject(burst):
            for frame in burst:
                if len(frame) < 14:
                    frame = frame + bytes(14 - len(frame))
                inj.stdin.write(struct.pack("!H", len(frame)) + frame)
                inj.stdin.flush()
                inj.stdout.read(1)
                sent[0] += 1

        inject()
        inj.stdin.close()
        inj.wait(10)
        time.sleep(0.3)
        errors = shell.run("show errors")
        assert "node exceptions" not in errors, errors + shell.run("show logging")
        rx = int(shell.run("show interface tap0").split("rx packets")[1].split()[0])
        assert rx >= sent[0] * 0.95  # everything reached the engine
        for reason in ("ip6 version != 6", "ip6 length > l2 length", "fragments received", "neighbor discovery inv"):
            assert reason in errors, errors
        for size in (56, 4000):  # still answered, reassembly included
            r = subprocess.run(["nsenter", f"--net=/run/netns/{ns}", "ping", "-6", "-c", "3", "-i", "0.2", "-s",
                                str(size), me], capture_output=True, text=True)
            assert " 0% packet loss" in r.stdout, r.stdout
    finally:
        if inj is not None and inj.poll() is None:
            inj.kill()
            inj.wait()
        try:
            shell.run("delete tap tap0")
        finally:
            if os.path.exists(f"/run/netns/{ns}"):
                pr_netns.remove(ns)
