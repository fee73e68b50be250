"""IPv4 fragmentation and reassembly against the Linux kernel through a real tap: UDP datagrams
of 4000 and 60000 bytes both ways between vppsh's host stack and kernel sockets (the kernel
fragments at its 1500-byte MTU, vppsh reassembles; vppsh fragments, the kernel reassembles),
and `ping -s 4000` from the kernel answered with a fragmented reply."""

from __future__ import annotations

import json
import random
import re
import subprocess
import sys
import time

import pytest

from tests.helpers.kernel import udp_echo_server
from vppsh.session.app import App
from vppsh.session.dgram import recv_dgram, send_dgram
from vppsh.session.transport import TransportProto

pytestmark = pytest.mark.root

SIZES = [4000, 60000, 1800, 65507]




def seed(shell, ns, mtu):
    assert shell.run(f"create tap id 0 host-ns {ns} host-ip4-addr 10.0.0.1/31") == "tap0\n"
    if mtu:
        shell.run(f"set interface mtu {mtu} tap0")
    shell.run("set interface state tap0 up")
    shell.run("set interface ip address tap0 10.0.0.0/31")
    shell.run("session enable")


def in_ns(ns, argv):
    return ["nsenter", f"--net=/run/netns/{ns}", *argv]


def errors_ok(shell):
    err = shell.run("show errors")
    assert not re.search(r"duplicate/overlapping|malformed packets|reassembly timeout|chain too long|"
                         r"bad udp checksum|Fifo full|can't fragment|could not allocate", err), err
    return err




class Client(App):
    def __init__(self, vm) -> None:
        super().__init__("frag-client", 1 << 20, 1 << 20)
        self.vm, self.got, self.sessions_ = vm, [], []

    def on_connected(self, s, err, opaque):
        self.sessions_.append(s)

    def on_rx(self, s):
        while (d := recv_dgram(s)) is not None:
            self.got.append(d.data)


@pytest.mark.parametrize("mtu", [None, 1500])
def test_host_stack_udp_datagrams_to_a_kernel_echo_server(shell, ns, mtu):
    """vppsh sends (fragmented by the session layer / ip4-frag), the kernel reassembles and
    echoes (fragmented by the kernel), vppsh reassembles: data checked byte for byte."""
    seed(shell, ns, mtu)
    with udp_echo_server(ns, 5):
        shell.run("ping 10.0.0.1 repeat 1 interval 0.1")  # ARP first: UDP has no retries
        vm = shell.vm
        app = Client(vm)

        def connect():
            vm.session.attach(app)
            vm.session.connect(app, TransportProto.UDP, 0x0A000001, 1234)

        shell.call(connect)
        (s,) = app.sessions_
        rnd = random.Random(1)
        sent = [rnd.randbytes(n) for n in SIZES]
        for d in sent:  # one at a time: each echo is checked before the next goes
            assert shell.call(lambda d=d: send_dgram(vm.session, s, d)) == len(d)
            deadline = time.monotonic() + 30
            while len(app.got) < sent.index(d) + 1 and time.monotonic() < deadline:
                shell.run("wait 0.05")
        assert [len(g) for g in app.got] == SIZES
        assert app.got == sent
    err = errors_ok(shell)
    assert re.search(r"\d+\s+ip4-local-full-reassembly\s+successful reassemblies", err), err


_CLIENT = r"""
import json, random, socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
s.settimeout(10)
s.connect(("10.0.0.0", 1234))
rnd = random.Random(2)
res = []
for n in map(int, sys.argv[1:]):
    d = rnd.randbytes(n)
    s.send(d)
    try:
        g = s.recv(65535)
        res.append([n, len(g), g == d])
    except socket.timeout:
        res.append([n, None, False])
print(json.dumps(res))
"""


def test_kernel_client_to_the_echo_server(shell, ns):
    """The kernel's fragmented datagrams reach vppsh's echo server whole; the echoes leave
    fragmented at the interface MTU and the kernel reassembles them."""
    seed(shell, ns, 1500)
    shell.run("test echo server uri udp://0.0.0.0/1234 fifo-size 1024")
    r = subprocess.run(in_ns(ns, [sys.executable, "-c", _CLIENT, *map(str, SIZES)]), capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == [[n, n, True] for n in SIZES], r.stdout
    errors_ok(shell)


@pytest.mark.parametrize("mtu", [None, 1500])
def test_kernel_ping_with_large_payload_is_answered(shell, ns, mtu):
    seed(shell, ns, mtu)
    for size in (4000, 30000):
        r = subprocess.run(in_ns(ns, ["ping", "-c", "3", "-i", "0.2", "-W", "5", "-s", str(size), "10.0.0.0"]),
                           capture_output=True, text=True, timeout=60)
        assert re.search(rf"^{size + 8} bytes from 10\.0\.0\.0: icmp_seq=\d+ ttl=64", r.stdout, re.M), r.stdout
        assert re.search(r" (\d) received", r.stdout).group(1) != "0", r.stdout
    err = errors_ok(shell)
    assert re.search(r"\d+\s+ip4-icmp-echo-request\s+echo replies sent", err), err
