"""TCP over IPv6 in the host stack, against the Linux kernel in a namespace: a kernel client
through the echo server with and without gso (sha256 both ways), the session table as VPP
prints IPv6 endpoints, the echo client against a kernel server, a refused port's reset."""

from __future__ import annotations

import hashlib
import re
import subprocess
import sys

import pytest

from tests.helpers.kernel import echo_roundtrip
from tests.helpers.shimnet import host_link

pytestmark = pytest.mark.root

ME, PEER = "2001:db8:1::1", "2001:db8:1::2"


def ns_cmd(ns, *cmd):
    return ["nsenter", f"--net=/run/netns/{ns}", *map(str, cmd)]


def seed6(shell, ns, offload=""):
    assert shell.run(f"create tap id 0 host-ns {ns} host-ip6-addr {PEER}/64 {offload}") == "tap0\n"
    shell.run("set interface state tap0 up")
    shell.run(f"set interface ip address tap0 {ME}/64")
    shell.run("session enable")
    host_link(ns)


_SERVER = r"""
import hashlib, socket, sys
ls = socket.socket(socket.AF_INET6)
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind((sys.argv[1], 1234))
ls.listen(4)
ls.settimeout(60)
print("ready", flush=True)
c, _ = ls.accept()
h, n = hashlib.sha256(), 0
while True:
    d = c.recv(1 << 20)
    if not d:
        break
    h.update(d)
    n += len(d)
    c.sendall(d)
c.close()
print(n, h.hexdigest())
"""


@pytest.mark.parametrize("offload", ["", "gso"])
def test_kernel_client_through_the_echo_server(shell, names, offload):  # noqa: F811
    ns = names()
    seed6(shell, ns, offload)
    shell.run("test echo server uri tcp://::/1234 fifo-size 1024")
    echo_roundtrip(ns, ME, 1234, 8 << 20)


def test_session_table_and_a_refused_port(shell, names):  # noqa: F811
    ns = names()
    seed6(shell, ns)
    shell.run("test echo server uri tcp://::/1234")
    client = subprocess.Popen(ns_cmd(ns, sys.executable, "-c",
                                     f"import socket, time; s = socket.create_connection(('{ME}', 1234)); "
                                     "s.sendall(b'x'); print(*s.getsockname()[:2], flush=True); time.sleep(30)"),
                              stdout=subprocess.PIPE, text=True)
    try:
        peer, port = client.stdout.readline().split()  # (the kernel may pick the address our RA gave it)
        shell.run("wait 0.2")
        out = shell.run("show session verbose")
        assert re.search(r"^\[0:0\]\[T\] :::1234->:::0 +LISTEN +0 +0 +$", out, re.M), out
        cid = f"[0:1][T] {ME}:1234->{peer}:{port}"[:60].ljust(60)  # VPP's %-60v cuts a longer id
        assert re.search(rf"^{re.escape(cid)}ESTABLISHED +0 +0 +$", out, re.M), out
    finally:
        client.kill()
        client.wait()
    r = subprocess.run(ns_cmd(ns, sys.executable, "-c",
                              f"import socket\ntry:\n socket.create_connection(('{ME}', 1235), timeout=5)\n"
                              "except ConnectionRefusedError:\n print('refused')"),
                       capture_output=True, text=True, timeout=30)
    assert r.stdout.strip() == "refused", r.stdout + r.stderr
    assert re.search(r"tcp6-input\s+no listener for dst port", shell.run("show errors"))


def test_echo_client_against_a_kernel_server(shell, names):  # noqa: F811
    ns = names()
    seed6(shell, ns)
    srv = subprocess.Popen(ns_cmd(ns, sys.executable, "-c", _SERVER, PEER), stdout=subprocess.PIPE, text=True)
    try:
        assert srv.stdout.readline().strip() == "ready"
        out = shell.run(f"test echo clients uri tcp://{PEER}/1234 bytes 4m test-bytes", timeout=120)
        assert re.search(r"^4194304 bytes \(4 mbytes, 0 gbytes\) in", out, re.M), out
        pattern = hashlib.sha256(bytes(i & 0xFF for i in range(256)) * 16384).hexdigest()
        assert srv.communicate(timeout=60)[0].split("\n")[0] == f"{4 << 20} {pattern}"
    finally:
        if srv.poll() is None:
            srv.kill()
        srv.wait()
