"""The built-in echo apps over TCP against the Linux kernel through a real tap, in namespaces
these tests create: kernel clients (python, socat, nc) against `test echo server`, sha256 of
the data in both directions; `test echo clients` against a kernel echo server; VPP's wording
when a connect is refused or times out."""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
import uuid

import pytest
from pyroute2 import netns as pr_netns

from tests.helpers.kernel import echo_roundtrip

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


def ns_cmd(ns, *cmd):
    return ["nsenter", f"--net=/run/netns/{ns}", *cmd]


def seed(shell, ns, offload=""):
    assert shell.run(f"create tap id 0 host-ns {ns} host-ip4-addr 10.0.0.1/31 {offload}") == "tap0\n"
    shell.run("set interface state tap0 up")
    shell.run("set interface ip address tap0 10.0.0.0/31")
    shell.run("session enable")


def sha(path) -> str:
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


_PY_SERVER = r"""
import hashlib, socket, sys, threading
ls = socket.socket()
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(("10.0.0.1", 1234))
ls.listen(16)
ls.settimeout(float(sys.argv[2]))
print("ready", flush=True)
done = []
def serve(c):
    h, n = hashlib.sha256(), 0
    while True:
        d = c.recv(1 << 20)
        if not d:
            break
        h.update(d)
        n += len(d)
        c.sendall(d)
    c.close()
    done.append((n, h.hexdigest()))
threads = []
for _ in range(int(sys.argv[1])):
    c, _ = ls.accept()
    t = threading.Thread(target=serve, args=(c,))
    t.start()
    threads.append(t)
for t in threads:
    t.join(60)
for n, h in sorted(done):
    print(n, h)
"""


@pytest.mark.parametrize("offload", ["", "gso"])
def test_kernel_python_client_gets_its_bytes_back(shell, names, offload):
    ns = names()
    seed(shell, ns, offload)
    shell.run("test echo server uri tcp://0.0.0.0/1234 fifo-size 1024")
    echo_roundtrip(ns, "10.0.0.0", 1234, 8 << 20)


@pytest.mark.parametrize("tool", ["socat", "nc"])
def test_socat_and_nc_against_the_echo_server(shell, names, tmp_path, tool):
    ns = names()
    seed(shell, ns)
    shell.run("test echo server uri tcp://0.0.0.0/1234")
    src, dst = tmp_path / "in.bin", tmp_path / "out.bin"
    src.write_bytes(os.urandom(3 << 20))
    cmd = {"socat": ["socat", "-t", "30", "-b", "65536", "-", "TCP:10.0.0.0:1234"],
           "nc": ["nc", "-N", "-w", "30", "10.0.0.0", "1234"]}[tool]
    with open(src, "rb") as fin, open(dst, "wb") as fout:
        r = subprocess.run(ns_cmd(ns, *cmd), stdin=fin, stdout=fout, stderr=subprocess.PIPE, timeout=120)
    assert r.returncode == 0, r.stderr
    assert dst.stat().st_size == 3 << 20 and sha(src) == sha(dst)


def test_session_table_while_a_kernel_client_is_connected(shell, names):
    ns = names()
    seed(shell, ns)
    shell.run("test echo server uri tcp://0.0.0.0/1234")
    client = subprocess.Popen(ns_cmd(ns, sys.executable, "-c",
                                     "import socket, time; s = socket.create_connection(('10.0.0.0', 1234)); "
                                     "s.sendall(b'x'); print(s.getsockname()[1], flush=True); time.sleep(30)"),
                              stdout=subprocess.PIPE, text=True)
    try:
        port = int(client.stdout.readline())
        shell.run("wait 0.2")
        out = shell.run("show session verbose")
        assert re.search(r"^\[0:0\]\[T\] 0\.0\.0\.0:1234->0\.0\.0\.0:0 +LISTEN +0 +0 +$", out, re.M), out
        assert re.search(rf"^\[0:1\]\[T\] 10\.0\.0\.0:1234->10\.0\.0\.1:{port} +ESTABLISHED +0 +0 +$", out, re.M), out
        assert out.endswith("Thread 0: active sessions 2\n")
        assert "echo_server" in shell.run("show app")
    finally:
        client.kill()
        client.wait()


def test_echo_client_against_a_kernel_echo_server(shell, names):
    ns = names()
    seed(shell, ns)
    srv = subprocess.Popen(ns_cmd(ns, sys.executable, "-c", _PY_SERVER, "4", "60"), stdout=subprocess.PIPE, text=True)
    try:
        assert srv.stdout.readline().strip() == "ready"
        out = shell.run("test echo clients uri tcp://10.0.0.1/1234 bytes 1m nclients 4 test-bytes", timeout=120)
        lines = out.splitlines()
        assert re.fullmatch(r"4 three-way handshakes in \d*\.\d\d seconds \d*\.\d\d/s", lines[0]), out
        assert re.fullmatch(r"Test started at \d*\.\d{6}", lines[1]), out
        assert re.fullmatch(r"Test finished at \d*\.\d{6}", lines[2]), out
        assert re.fullmatch(r"4194304 bytes \(4 mbytes, 0 gbytes\) in \d*\.\d\d seconds", lines[3]), out
        assert re.fullmatch(r"\d*\.\d\d bytes/second full-duplex", lines[4]), out
        assert re.fullmatch(r"\d*\.\d{4} gbit/second full-duplex", lines[5]), out
        pattern = hashlib.sha256(bytes(i & 0xFF for i in range(256)) * 4096).hexdigest()
        got = srv.communicate(timeout=60)[0].split("\n")
        assert [g for g in got if g] == [f"{1 << 20} {pattern}"] * 4
    finally:
        if srv.poll() is None:
            srv.kill()
        srv.wait()
    assert "echo_client" not in shell.run("show app")


def test_echo_client_failures(shell, names):
    ns = names()
    seed(shell, ns)
    shell.run("ping 10.0.0.1 repeat 1 interval 0.1")
    shell.out.clear()
    assert shell.error("test echo clients uri tcp://10.0.0.1/9") == "test echo clients: failed: connect returned"
    assert "".join(shell.out) == "test failed\n"
    # nobody behind this route answers (the namespace does not forward): SYNs go unanswered
    shell.run("ip route add 10.9.0.0/16 via 10.0.0.1 tap0")
    shell.out.clear()
    err = shell.error("test echo clients uri tcp://10.9.0.5/1234 syn-timeout 1")
    assert err == "test echo clients: failed: syn timeout with 0 sessions"
    assert "".join(shell.out) == "Timeout with only 0 sessions active...\ntest failed\n"
    assert shell.run("show session") == "Thread 0: no sessions\n"  # the half-open one is gone
