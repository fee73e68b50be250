"""UDP programs under `vppsh exec` over native IPv6 (the app namespace has no routes; vppsh
2001:db8::, the kernel 2001:db8::1 across the tap): a python UDP echo server on a dual-stack
socket answering kernel clients of both families, and a python client against a kernel echo
server, connected and with sendto(), up to datagrams far larger than the MTU, sha256 over all;
recvfrom/getsockname/getpeername as Linux gives them, and a refused port as ECONNREFUSED."""

from __future__ import annotations

import hashlib
import json
import random
import re
import subprocess
import sys

import pytest

from tests.helpers.kernel import readline
from tests.helpers.shimnet import LOCAL6, PEER6, ShimNet

pytestmark = pytest.mark.root

SIZES = [0, 1, 100, 1000, 1452, 1453, 4000, 30000, 65507]

# A UDP echo server on [::]:argv[1] (dual-stack, as Linux's default): says "ready", echoes until
# quiet for 3 s, then prints who it heard (as recvfrom gave them) and sha256 of what it echoed.
_SERVER = r"""
import hashlib, json, socket, sys
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s.bind(("::", int(sys.argv[1])))
print("ready", flush=True)
s.settimeout(3)
h, peers, n = hashlib.sha256(), set(), 0
while True:
    try:
        d, a = s.recvfrom(65535)
    except socket.timeout:
        break
    s.sendto(d, a)
    h.update(d)
    n += 1
    peers.add(a[0])
print(json.dumps({"n": n, "sha": h.hexdigest(), "peers": sorted(peers), "name": s.getsockname()[:2]}), flush=True)
"""

# A kernel client: sends each size to [argv[1]]:argv[2] (family from the address), one at a time,
# bytes from random.Random(argv[4]), and reports the echoes' lengths and whether each matched.
_CLIENT = r"""
import json, random, socket, sys
fam = socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET
s = socket.socket(fam, socket.SOCK_DGRAM)
s.settimeout(5)
s.connect((sys.argv[1], int(sys.argv[2])))
rnd, res = random.Random(int(sys.argv[4])), []
for n in json.loads(sys.argv[3]):
    d = rnd.randbytes(n)
    s.send(d)
    try:
        g = s.recv(65535)
        res.append([len(g), g == d])
    except socket.timeout:
        res.append([None, False])
print(json.dumps({"res": res}))
"""


@pytest.fixture(scope="module")
def net():
    n = ShimNet(ip6=True).start()
    n.run(f"ping {PEER6} repeat 1 interval 0.1")  # neighbour discovery first: UDP has no retries
    n.run("ping 10.0.0.1 repeat 1 interval 0.1")
    yield n
    n.stop()


def test_python_echo_server_on_a_dual_stack_socket(net):
    srv = net.app([sys.executable, "-c", _SERVER, "7300"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                  text=True)
    assert readline(srv, 20).strip() == "ready"
    for seed, host in enumerate((LOCAL6, "10.0.0.0")):
        r = net.peer_run([sys.executable, "-c", _CLIENT, host, "7300", json.dumps(SIZES), str(seed)], text=True,
                         timeout=60)
        assert r.returncode == 0, r.stderr
        res = json.loads(r.stdout)
        assert res["res"] == [[n, True] for n in SIZES], (host, res)
    out = net.run("show session verbose")
    assert re.search(r"\[U\] :::7300->:::0\s+LISTEN", out), out
    assert re.search(r"\[U\] 0\.0\.0\.0:7300->0\.0\.0\.0:0\s+LISTEN", out), out
    out, err = srv.communicate(timeout=20)
    got = json.loads(out)
    assert got["n"] == 2 * len(SIZES) and got["peers"] == sorted([PEER6, "::ffff:10.0.0.1"]), (got, err)
    assert got["name"] == ["::", 7300]
    sent = b"".join(rnd.randbytes(n) for rnd in (random.Random(0), random.Random(1)) for n in SIZES)
    assert got["sha"] == hashlib.sha256(sent).hexdigest()  # what the server echoed, in the order it came


# A kernel UDP echo server on [PEER6]:argv[1]: "ready", echoes until quiet for 3 s.
_KERNEL_ECHO = r"""
import socket, sys
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
s.bind((sys.argv[2], int(sys.argv[1])))
print("ready", flush=True)
s.settimeout(3)
while True:
    try:
        d, a = s.recvfrom(65535)
    except socket.timeout:
        break
    s.sendto(d, a)
"""

# Under the shim: the same sizes to the kernel's echo server, by sendto() on an unbound socket and
# by send() on a connected one; names, and a refused port.
_APP_CLIENT = r"""
import errno, hashlib, json, os, socket, sys
peer, port, sizes = sys.argv[1], int(sys.argv[2]), json.loads(sys.argv[3])
out = {}
u = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
u.settimeout(5)
res, h1, h2 = [], hashlib.sha256(), hashlib.sha256()
for n in sizes:
    d = os.urandom(n)
    h1.update(d)
    u.sendto(d, (peer, port))
    g, a = u.recvfrom(65535)
    h2.update(g)
    res.append([len(g), g == d, a[:2] == (peer, port)])
out["sendto"] = [res, h1.hexdigest() == h2.hexdigest()]
out["autobound"] = [u.getsockname()[0], u.getsockname()[1] > 0]
c = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
c.settimeout(5)
c.connect((peer, port))
out["connected_names"] = [c.getsockname()[0], c.getpeername()[:2]]
res = []
for n in sizes:
    d = os.urandom(n)
    c.send(d)
    g = c.recv(65535)
    res.append([len(g), g == d])
out["connected"] = res
r = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
r.settimeout(3)
r.connect((peer, port + 1))
r.send(b"anyone?")
try:
    r.recv(100)
    out["refused"] = "answered"
except ConnectionRefusedError:
    out["refused"] = "ECONNREFUSED"
except socket.timeout:
    out["refused"] = "timeout"
print(json.dumps(out))
"""


def test_python_client_against_a_kernel_echo_server(net):
    srv = net.peer([sys.executable, "-c", _KERNEL_ECHO, "7310", PEER6], stdout=subprocess.PIPE, text=True)
    assert readline(srv, 20).strip() == "ready"
    r = net.app_run([sys.executable, "-c", _APP_CLIENT, PEER6, "7310", json.dumps(SIZES)], text=True, timeout=90)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["sendto"] == [[[n, True, True] for n in SIZES], True], out["sendto"]
    assert out["autobound"] == ["::", True]
    assert out["connected_names"] == [LOCAL6, [PEER6, 7310]]
    assert out["connected"] == [[n, True] for n in SIZES]
    assert out["refused"] == "ECONNREFUSED"
