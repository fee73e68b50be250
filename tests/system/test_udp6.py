"""UDP over IPv6 in the host stack against the Linux kernel through a real tap, in namespaces these
tests create: kernel sockets through the echo server (every size up to the MTU and beyond it both
ways: the kernel fragments, vppsh reassembles; vppsh fragments, the kernel reassembles; sha256
over it all), the echo client against a kernel server, a zero checksum (the kernel's
UDP_NO_CHECK6_TX) dropped and counted, port unreachable seen by a connected kernel socket as
ECONNREFUSED, and the session table as VPP prints IPv6 endpoints."""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys

import pytest

from tests.helpers.kernel import ns_popen, ns_py, readline, stop
from tests.helpers.pgnet import Recorder
from tests.helpers.shell import wait_for
from tests.helpers.shimnet import host_link
from vppsh.session.dgram import send_dgram
from vppsh.session.transport import TransportProto
from vppsh.wire.ip6 import parse_ip6

pytestmark = pytest.mark.root

ME, PEER = "2001:db8:1::1", "2001:db8:1::2"
SIZES = [0, 1, 2, 100, 511, 512, 1000, 1400, 1451, 1452, 1453, 1500, 2000, 4000, 8952, 30000, 65527]


def seed6(shell, ns, offload=""):
    assert shell.run(f"create tap id 0 host-ns {ns} host-ip6-addr {PEER}/64 {offload}") == "tap0\n"
    shell.run("set interface mtu 1500 tap0")
    shell.run("set interface state tap0 up")
    shell.run(f"set interface ip address tap0 {ME}/64")
    shell.run("session enable")
    host_link(ns)


def clean_errors(shell) -> str:
    err = shell.run("show errors")
    assert not re.search(r"bad udp checksum|inconsistent udp/ip lengths|Fifo full|No buffer|No route|"
                         r"duplicate/overlapping|malformed|reassembly timeout|can't fragment", err), err
    return err


# Sends each size, then reports what came back, whether each echo matched, and sha256 of
# everything sent and of everything received. Datagrams that fit the MTU go in bursts of five
# (echoes must come back whole and in order); larger ones one at a time, as UDP promises no order
# and vppsh hands a reassembled datagram larger than a buffer straight to its session, ahead of
# smaller ones reassembled in the same frame.
_CLIENT = r"""
import hashlib, json, os, socket, sys
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
s.settimeout(5)
s.connect((sys.argv[1], int(sys.argv[2])))
sizes = json.loads(sys.argv[3])
sent = [os.urandom(n) for n in sizes]
got = []
i = 0
while i < len(sent):
    burst = 5 if len(sent[i]) <= 1452 else 1
    for d in sent[i:i + burst]:
        s.send(d)
    for _ in sent[i:i + burst]:
        try:
            got.append(s.recv(65535))
        except socket.timeout:
            got.append(None)
    i += burst
print(json.dumps({"lens": [None if g is None else len(g) for g in got], "same": [a == b for a, b in zip(sent, got)],
                  "sent": hashlib.sha256(b"".join(sent)).hexdigest(),
                  "got": hashlib.sha256(b"".join(g or b"" for g in got)).hexdigest(),
                  "peer": s.getpeername()[:2]}))
"""


@pytest.mark.parametrize("offload", ["", "csum-offload", "gso"])
def test_kernel_client_through_the_echo_server(shell, names, offload):  # noqa: F811
    """Every datagram comes back whole from the address it was sent to, up to 65,527 bytes
    (the kernel fragments what it sends at 1,500 bytes and vppsh reassembles; vppsh's echoes
    are fragmented on the way back and the kernel reassembles them)."""
    ns = names()
    seed6(shell, ns, offload)
    shell.run("test echo server uri udp://::/1234 fifo-size 1024")
    r = ns_py(ns, _CLIENT, ME, 1234, json.dumps(SIZES))
    res = json.loads(r.stdout)
    assert res["lens"] == SIZES and all(res["same"]), res
    assert res["sent"] == res["got"] and res["peer"] == [ME, 1234]
    err = clean_errors(shell)
    assert re.search(r"successful reassemblies", err), err  # the kernel's fragments, put together
    out = shell.run("show session verbose")
    assert re.search(r"^\[0:0\]\[U\] :::1234->:::0 +LISTEN +0 +0 +$", out, re.M), out


# A kernel UDP echo server on [argv[1]]:1234 that says "ready", echoes until quiet for argv[2]
# seconds, then prints how many datagrams and bytes it echoed and the sha256 of them in order.
_SERVER = r"""
import hashlib, socket, sys
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
s.bind((sys.argv[1], 1234))
print("ready", flush=True)
s.settimeout(float(sys.argv[2]))
n, size, h = 0, 0, hashlib.sha256()
while True:
    try:
        d, peer = s.recvfrom(65535)
    except socket.timeout:
        break
    s.sendto(d, peer)
    n, size = n + 1, size + len(d)
    h.update(d)
print(n, size, h.hexdigest(), flush=True)
"""


@pytest.mark.parametrize("offload", ["", "gso"])
def test_echo_client_against_a_kernel_server(shell, names, offload):  # noqa: F811
    """The echo client's 1,460-byte datagrams are bigger than the 1,500-byte MTU over IPv6:
    vppsh fragments them at the source, the kernel reassembles and echoes, vppsh reassembles.
    (Every datagram the same size, from a fifo that never runs short: test-bytes checks the echo
    as a stream, and a small datagram after a fragmented one may overtake it on the way in, as in
    VPP, where reassembled datagrams start over at ip6-input.)"""
    ns = names()
    seed6(shell, ns, offload)
    total = 200 * 1460
    srv = ns_popen(ns, sys.executable, "-c", _SERVER, PEER, 3, stdout=subprocess.PIPE, text=True)
    try:
        assert readline(srv, 15).strip() == "ready"
        shell.run(f"ping {PEER} repeat 1 interval 0.1")  # neighbour discovery first: UDP has no retries
        out = shell.run(f"test echo clients uri udp://{PEER}/1234 bytes {total} fifo-size 4096 test-bytes",
                        timeout=60)
        assert f"{total} bytes (0 mbytes, 0 gbytes) in " in out and "full-duplex" in out, out
        n, size, digest = srv.communicate(timeout=30)[0].split()
    finally:
        stop(srv)
    assert (int(n), int(size)) == (200, total)
    assert digest == hashlib.sha256(bytes(i & 0xFF for i in range(total))).hexdigest()
    err = clean_errors(shell)
    assert re.search(r"\d+\s+ip6-local-full-reassembly\s+successful reassemblies", err), err


_ZERO = r"""
import socket, sys
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_UDP, 101, 1)  # UDP_NO_CHECK6_TX: the kernel sends a zero checksum
s.settimeout(2)
s.connect((sys.argv[1], 1234))
s.send(b"no checksum")
try:
    print(s.recv(100))
except socket.timeout:
    print("dropped")
s.setsockopt(socket.SOL_UDP, 101, 0)
s.send(b"checksummed")
print(s.recv(100).decode())
"""


def test_zero_checksum_is_dropped_and_counted(shell, names):  # noqa: F811
    ns = names()
    seed6(shell, ns)
    shell.run("test echo server uri udp://::/1234")
    r = ns_py(ns, _ZERO, ME)
    assert r.stdout.split() == ["dropped", "checksummed"], r.stdout + r.stderr
    assert re.search(r"^\s*1\s+ip6-receive\s+bad udp checksum\s+error", shell.run("show errors"), re.M)


_REFUSED = r"""
import socket, sys
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s.settimeout(3)
s.connect((sys.argv[1], int(sys.argv[2])))
s.send(b"anyone there?")
try:
    s.recv(100)
    print("answered")
except ConnectionRefusedError:
    print("refused")
except socket.timeout:
    print("timeout")
"""


def test_closed_port_is_refused(shell, names):  # noqa: F811
    """ICMPv6 port unreachable: from ip6-receive with the session layer off, from
    ip6-udp-lookup with it on and a listener on another port; a connected kernel socket hears
    ECONNREFUSED."""
    ns = names()
    assert shell.run(f"create tap id 0 host-ns {ns} host-ip6-addr {PEER}/64") == "tap0\n"
    shell.run("set interface state tap0 up")
    shell.run(f"set interface ip address tap0 {ME}/64")
    host_link(ns)
    assert ns_py(ns, _REFUSED, ME, 999).stdout.strip() == "refused"
    shell.run("session enable")
    shell.run("test echo server uri udp://::/1234 no-echo")
    assert ns_py(ns, _REFUSED, ME, 999).stdout.strip() == "refused"
    assert ns_py(ns, _REFUSED, ME, 1234).stdout.strip() == "timeout"  # taken, and not answered
    err = shell.run("show errors")
    assert re.search(r"^\s*1\s+ip6-udp-lookup\s+No listener for dst port", err, re.M), err
    assert re.search(r"^\s*2\s+ip6-icmp-error\s+destination unreachable response se", err, re.M), err


def test_session_table_rows(shell, names):  # noqa: F811
    """show session verbose: a bound IPv6 listener, and a connected session that talked to a
    kernel peer, as VPP prints IPv6 endpoints (format_ip46_address, then :port)."""
    ns = names()
    seed6(shell, ns)
    vm = shell.vm
    app = Recorder(vm)
    srv = ns_popen(ns, sys.executable, "-c", _SERVER, PEER, 30, stdout=subprocess.PIPE, text=True)
    try:
        assert readline(srv, 15).strip() == "ready"
        shell.run(f"test echo server uri udp://{ME}/4321")
        conn = shell.call(lambda: (vm.session.attach(app),
                                   vm.session.connect(app, TransportProto.UDP, parse_ip6(PEER), 1234))[1])
        (s, _e, _o), = app.connected
        assert shell.call(lambda: send_dgram(vm.session, s, b"hello over IPv6")) == 15
        assert wait_for(lambda: app.got, 5)
        out = shell.run("show session verbose")
    finally:
        stop(srv)
    assert [(d.data, d.rmt_port, d.ip6) for d in app.got] == [(b"hello over IPv6", 1234, True)]
    assert re.search(r"^\[0:0\]\[U\] 2001:db8:1::1:4321->:::0 +LISTEN +0 +0 +$", out, re.M), out
    row = f"[0:1][U] {ME}:{conn.lcl_port}->{PEER}:1234".ljust(60)
    assert re.search(rf"^{re.escape(row)}OPENED +0 +0 +$", out, re.M), out
    assert "Thread 0: active sessions 2" in out
    ports = shell.run("show udp transport ports")
    assert "4321   ip6       1" in ports and f"{conn.lcl_port}   ip6       1" in ports, ports
