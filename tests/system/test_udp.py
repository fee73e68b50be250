"""UDP on vppsh's host stack against the Linux kernel through a real tap, in namespaces these
tests create: the echo server answering kernel sockets (datagram boundaries intact, each size
up to the MTU), ICMP port unreachable seen as ECONNREFUSED, and the echo client against a
kernel echo server."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import uuid

import pytest
from pyroute2 import netns as pr_netns

from tests.helpers.kernel import udp_echo_server

pytestmark = pytest.mark.root


@pytest.fixture
def names():
    made = []

    def new():
        n = f"vppsh-t-{uuid.uuid4().hex[:8]}"
        made.append(n)
        return n

    yield new
    for n in made:
        if os.path.exists(f"/run/netns/{n}"):
            pr_netns.remove(n)


def ns_py(ns, script, *args, timeout=60):
    return subprocess.run(["nsenter", f"--net=/run/netns/{ns}", sys.executable, "-c", script, *map(str, args)],
                          capture_output=True, text=True, timeout=timeout)


def seed(shell, ns, offload=""):
    assert shell.run(f"create tap id 0 host-ns {ns} host-ip4-addr 10.0.0.1/31 {offload}") == "tap0\n"
    shell.run("set interface state tap0 up")
    shell.run("set interface ip address tap0 10.0.0.0/31")
    shell.run("session enable")


_CLIENT = r"""
import json, os, socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(3)
s.connect(("10.0.0.0", int(sys.argv[1])))
sizes = [0, 1, 2, 100, 511, 512, 1000, 1400, 1471, 1472] + [1 + (i * 97) % 1472 for i in range(40)]
sent = [os.urandom(n) for n in sizes]
got = []
for i in range(0, len(sent), 5):  # bursts of five: replies must come back whole and in order
    for d in sent[i:i + 5]:
        s.send(d)
    for _ in sent[i:i + 5]:
        try:
            got.append(s.recv(65535))
        except socket.timeout:
            got.append(None)
print(json.dumps({"sizes": sizes, "same": [a == b for a, b in zip(sent, got)],
                  "lens": [None if g is None else len(g) for g in got], "peer": s.getpeername()}))
"""

_REFUSED = r"""
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(3)
s.connect(("10.0.0.0", 999))
s.send(b"anyone there?")
try:
    s.recv(100)
    print("answered")
except ConnectionRefusedError:
    print("refused")
except socket.timeout:
    print("timeout")
"""



@pytest.mark.parametrize("offload", ["", "csum-offload", "gso"])
def test_echo_server_answers_kernel_datagrams(shell, names, offload):
    """Every datagram comes back whole, byte for byte, from the address it was sent to — also
    when the kernel leaves UDP checksums partial (csum-offload / gso taps)."""
    ns = names()
    seed(shell, ns, offload)
    shell.run("test echo server uri udp://0.0.0.0/1234")
    r = ns_py(ns, _CLIENT, 1234)
    assert r.returncode == 0, r.stderr
    res = json.loads(r.stdout)
    assert res["lens"] == res["sizes"], res
    assert all(res["same"]), res
    assert res["peer"] == ["10.0.0.0", 1234]
    errors = shell.run("show errors")
    assert not re.search(r"bad udp checksum|inconsistent udp/ip lengths|Fifo full", errors), errors
    assert re.search(r"50\s+udp4-output\s+Packets sent", errors), errors


def test_closed_port_is_refused(shell, names):
    ns = names()
    seed(shell, ns)
    r = ns_py(ns, _REFUSED)
    assert r.stdout.strip() == "refused", (r.stdout, r.stderr)
    shell.run("test echo server uri udp://0.0.0.0/1234 no-echo")
    r = ns_py(ns, _REFUSED)  # a listener on another port changes nothing for port 999
    assert r.stdout.strip() == "refused", (r.stdout, r.stderr)
    assert re.search(r"2\s+ip4-udp-lookup\s+No listener for dst port", shell.run("show errors"))


def test_echo_client_against_a_kernel_echo_server(shell, names):
    ns = names()
    seed(shell, ns)
    with udp_echo_server(ns, 2) as srv:
        shell.run("ping 10.0.0.1 repeat 1 interval 0.1")  # resolve ARP first: UDP has no retries
        out = shell.run("test echo clients uri udp://10.0.0.1/1234 bytes 200000 nclients 2 test-bytes", timeout=60)
        assert "400000 bytes (0 mbytes, 0 gbytes) in " in out, out
        assert "full-duplex" in out
        assert int(srv.communicate(timeout=10)[0].strip()) >= 2 * (200000 // 1460 + 1)  # 1460-byte dgrams or less


def test_first_datagram_waits_for_arp(shell, names):
    """No ARP warm-up: the one datagram that starts the resolution is held until the kernel
    answers, then sent (arp/hold.py); VPP would drop it, and UDP has no retries."""
    ns = names()
    seed(shell, ns)
    with udp_echo_server(ns, 1) as srv:
        out = shell.run("test echo clients uri udp://10.0.0.1/1234 bytes 100 nclients 1 test-timeout 5", timeout=30)
        assert "100 bytes (0 mbytes, 0 gbytes) in " in out, out
        assert int(srv.communicate(timeout=10)[0].strip()) == 1
        assert re.search(r"1\s+ip4-glean\s+packets held for ARP", shell.run("show errors"))
