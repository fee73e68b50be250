"""Kernel-side programs for the system tests, run in the namespaces the tests create (nsenter), and
the programs they run there."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import threading


# A kernel UDP echo server at 10.0.0.1:1234 (the seed's peer address), run in a namespace: says
# "ready", echoes until quiet for argv[1] seconds, then prints how many datagrams it echoed.
UDP_ECHO_SERVER = r"""
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
s.bind(("10.0.0.1", 1234))
print("ready", flush=True)
n = 0
s.settimeout(float(sys.argv[1]))
while True:
    try:
        d, peer = s.recvfrom(65535)
    except socket.timeout:  # quiet for a while: the test is over
        break
    s.sendto(d, peer)
    n += 1
print(n, flush=True)
"""


@contextlib.contextmanager
def udp_echo_server(ns: str, quiet: float):
    """UDP_ECHO_SERVER running in namespace `ns` (ready when this yields); killed if still there
    at the end. Its stdout then holds the datagram count: `srv.communicate()[0]`."""
    srv = subprocess.Popen(["nsenter", f"--net=/run/netns/{ns}", sys.executable, "-c", UDP_ECHO_SERVER, str(quiet)],
                           stdout=subprocess.PIPE, text=True)
    try:
        assert srv.stdout.readline().strip() == "ready"
        yield srv
    finally:
        if srv.poll() is None:
            srv.kill()
        srv.wait()

_RECEIVER = """
import hashlib, socket, sys
s = socket.socket(socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], 5001)); s.listen(1); c, _ = s.accept()
h, n = hashlib.sha256(), 0
while True:
    d = c.recv(1 << 20)
    if not d: break
    h.update(d); n += len(d)
print(n, h.hexdigest())
"""
_SENDER = """
import hashlib, os, socket, sys
dst, size = sys.argv[1], int(sys.argv[2]); h = hashlib.sha256()
s = socket.create_connection((dst, 5001), timeout=60)
block = os.urandom(1 << 20)
for i in range(size >> 20):
    chunk = bytes([i & 0xff]) + block[1:]
    h.update(chunk); s.sendall(chunk)
s.shutdown(socket.SHUT_WR); s.recv(1); print(size, h.hexdigest())
"""


def tcp_stream(src_ns: str, dst_ns: str, dst_ip: str, megabytes: int, timeout: float = 300) -> None:
    """Send `megabytes` over TCP between two namespaces (kernel sockets both ends) and check
    that both ends hashed the same bytes (sha256)."""
    import subprocess
    import sys
    import time

    ns = lambda n: ["nsenter", f"--net=/run/netns/{n}", sys.executable, "-c"]  # noqa: E731
    recv = subprocess.Popen(ns(dst_ns) + [_RECEIVER, dst_ip], stdout=subprocess.PIPE, text=True)
    try:
        time.sleep(0.5)
        send = subprocess.run(ns(src_ns) + [_SENDER, dst_ip, str(megabytes << 20)], capture_output=True,
                              text=True, timeout=timeout)
        got = recv.communicate(timeout=timeout)[0].split()
    finally:
        recv.kill()
        recv.wait()
    assert got == send.stdout.split() and int(got[0]) == megabytes << 20, (got, send.stdout, send.stderr)


_ECHO_CLIENT = r"""
import hashlib, os, socket, sys, threading
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=60)
data = os.urandom(int(sys.argv[3]))
got = []
def reader():
    while True:
        d = s.recv(1 << 20)
        if not d:
            break
        got.append(d)
t = threading.Thread(target=reader)
t.start()
s.sendall(data)
s.shutdown(socket.SHUT_WR)
t.join(60)
back = b"".join(got)
print(len(back), hashlib.sha256(data).hexdigest(), hashlib.sha256(back).hexdigest())
"""


def echo_roundtrip(ns: str, host: str, port: int, size: int, timeout: float = 120) -> None:
    """A kernel client in `ns` sends `size` random bytes to an echo server at host:port (either
    family) while reading them back; fails unless every byte came back (sha256)."""
    r = ns_py(ns, _ECHO_CLIENT, host, port, size, timeout=timeout)
    n, sent, back = r.stdout.split()
    assert int(n) == size and sent == back, (r.stdout, r.stderr)


def ns_run(ns, *cmd, timeout=120, check=True, **kw):
    """Runs cmd in namespace `ns`; its output as text."""
    return subprocess.run(["nsenter", f"--net=/run/netns/{ns}", *cmd], capture_output=True, text=True,
                          timeout=timeout, check=check, **kw)


def ns_py(ns, code, *args, timeout=120):
    """Runs Python `code` with `args` in namespace `ns`."""
    return ns_run(ns, sys.executable, "-c", code, *map(str, args), timeout=timeout)


def ns_popen(ns, *cmd, **kw):
    """Starts cmd in namespace `ns`; stop() it in a finally."""
    return subprocess.Popen(["nsenter", f"--net=/run/netns/{ns}", *map(str, cmd)], **kw)


def stop(p) -> None:
    """Kills p if it still runs, and reaps it."""
    if p is not None and p.poll() is None:
        p.kill()
    if p is not None:
        p.wait()


def readline(p, timeout: float) -> str:
    """p's next stdout line, or fail after `timeout` s (the finally kills p, ending the read)."""
    box: list = []
    t = threading.Thread(target=lambda: box.append(p.stdout.readline()), daemon=True)
    t.start()
    t.join(timeout)
    assert box, f"no line from {p.args[3:5]} in {timeout} s"
    return box[0]


# Connects to argv[1]:argv[2] (from port argv[4] if given) and sends argv[3] random bytes while it
# reads the echo; prints how many bytes came back and whether their sha256 matched.
ECHO_CLIENT = r"""
import hashlib, os, socket, sys, threading
ip, port, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
bind_port = int(sys.argv[4]) if len(sys.argv) > 4 else 0
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
if bind_port: s.bind(("0.0.0.0", bind_port))
s.settimeout(60); s.connect((ip, port))
data = os.urandom(size)
got = []
def rd():
    n = 0
    while n < size:
        d = s.recv(1 << 20)
        if not d: break
        got.append(d); n += len(d)
t = threading.Thread(target=rd); t.start()
s.sendall(data); t.join()
back = b"".join(got)
print(len(back), hashlib.sha256(back).hexdigest() == hashlib.sha256(data).hexdigest())
s.close()
"""

# Reads frames from stdin (each after its length, 2 bytes big-endian) and sends them on an AF_PACKET
# socket bound to argv[1]; a dot on stdout per frame.
INJECTOR = """
import socket, struct, sys
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind((sys.argv[1], 0))
r = sys.stdin.buffer
while True:
    h = r.read(2)
    if len(h) < 2: break
    n = struct.unpack("!H", h)[0]
    frame = r.read(n)
    try: s.send(frame)
    except OSError: pass
    sys.stdout.write("."); sys.stdout.flush()
"""


def ipv6_settled(ns: str, timeout: float = 10) -> None:
    """Wait until namespace `ns` holds no tentative IPv6 address (duplicate address detection
    done: the kernel sends from an address only then)."""
    import time

    from pyroute2 import NetNS

    with NetNS(ns) as ipr:
        deadline = time.monotonic() + timeout
        while any(a["flags"] & 0x40 for a in ipr.get_addr(family=10)) and time.monotonic() < deadline:
            time.sleep(0.1)


def link_mac(ns: str, name: str) -> str:
    """The MAC address of link `name` in namespace `ns`."""
    from pyroute2 import NetNS

    with NetNS(ns) as ipr:
        return ipr.get_links(ipr.link_lookup(ifname=name)[0])[0].get_attr("IFLA_ADDRESS")
