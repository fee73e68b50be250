#!/usr/bin/env python3
"""TCP host-stack benchmarks (issue 4's performance targets), each beside its reference in the
same run. Needs root, /dev/net/tun and iperf3; every address is inside namespaces this script
creates and removes, and every process it starts is stopped by its PID.

The engine runs in this process (vppsh.engine.Engine, as tests/helpers/shell.py's Shell): one gso tap
into a namespace holding the kernel peer,

    create tap id 0 host-ns <ns> host-if-name vtap0 host-ip4-addr 10.0.0.1/24 gso
    set interface state tap0 up
    set interface ip address tap0 10.0.0.2/24
    session enable

1. Bulk TCP between vppsh's built-in echo apps and a kernel peer, both directions:
   rx: kernel python sender (sendall of 1 MB blocks) -> `test echo server ... no-echo`;
   tx: `test echo clients ... bytes 1g no-return` -> kernel python sink.
   Reference: iperf3 between two namespaces over a veth pair (and, to show the python peers are
   not the bottleneck, the same python sender -> sink over the veth pair). Goal >= 30% of veth.
2. Short connections: `test echo clients nclients N bytes 64` (connect, one 64-byte echo,
   close) against a python epoll echo server in the namespace; reference: a python epoll
   client doing the same, with the same concurrency (128 connects in flight, as the echo
   client), against the same epoll server across the veth pair. Goal >= 5,000 connections/s.
   bulk6: the same rx and tx over IPv6, alternating with IPv4 in one run. Goal >= 90% of IPv4.
3. 1,000 idle established sessions (kernel client -> `test echo server`): the engine
   process's CPU over 10 s, beside the same engine with no sessions. Goal <= 1%.

After the table: the nodes that took the engine's time in each test (from `show runtime`) and how
many kernel -> vppsh packets the host side of the tap dropped (its tun queue was full).

Usage: sudo .venv/bin/python scripts/bench_tcp.py [--quick] [--runtime] [--only bulk|bulk6|short|idle] [--runs N]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import signal
import statistics
import subprocess
import sys
import time
import uuid

from tabulate import tabulate

from vppsh.session.transport import TransportProto

CMD = "sudo .venv/bin/python scripts/bench_tcp.py"
V6_PEER, V6_VPP = "2001:db8::1", "2001:db8::2"  # the kernel's and vppsh's IPv6 addresses on the tap
CONNECTS_IN_FLIGHT = 128  # the echo client's pacing (vppsh/session/apps/echo.py)

# ------------------------------------------------------------ kernel-side peers (python, run in a namespace)

SENDER = r"""
import socket, sys, time
dst, port, mb = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
s = socket.create_connection((dst, port), timeout=60)
s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
block = memoryview(bytes(1 << 20))
t0 = time.perf_counter()
for _ in range(mb):
    s.sendall(block)
s.shutdown(socket.SHUT_WR)
while s.recv(1 << 16):  # the receiver closes once it has taken everything
    pass
print(mb << 20, time.perf_counter() - t0, flush=True)
"""

SINK = r"""
import socket, sys, time
ip, port = sys.argv[1], int(sys.argv[2])
l = socket.socket(socket.AF_INET6 if ":" in ip else socket.AF_INET)
l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind((ip, port)); l.listen(1)
print("listening", flush=True)
c, _ = l.accept()
buf = bytearray(4 << 20); n = c.recv_into(buf); t0 = time.perf_counter()
while True:
    k = c.recv_into(buf)
    if not k:
        break
    n += k
print(n, time.perf_counter() - t0, flush=True)
"""

EPOLL_ECHO = r"""
import resource, select, socket, sys
_, hard = resource.getrlimit(resource.RLIMIT_NOFILE); resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind((sys.argv[1], int(sys.argv[2]))); l.listen(4096); l.setblocking(False)
ep = select.epoll(); ep.register(l.fileno(), select.EPOLLIN)
conns = {}
print("listening", flush=True)
while True:
    for fd, ev in ep.poll():
        if fd == l.fileno():
            while True:
                try:
                    c, _ = l.accept()
                except BlockingIOError:
                    break
                c.setblocking(False); conns[c.fileno()] = c
                ep.register(c.fileno(), select.EPOLLIN | select.EPOLLRDHUP)
            continue
        c = conns[fd]
        try:
            d = c.recv(65536)
        except (BlockingIOError, InterruptedError):
            continue
        except OSError:
            d = b""
        if d:
            try:
                c.sendall(d)
            except OSError:
                d = b""
        if not d:
            ep.unregister(fd); c.close(); del conns[fd]
"""

# The reference for 2: the echo client's shape in kernel sockets. Phase 1 opens N connections,
# at most INFLIGHT not yet established; phase 2 sends `size` bytes on each, reads the echo, closes.
SHORT_CLIENT = r"""
import errno, resource, select, socket, sys, time
_, hard = resource.getrlimit(resource.RLIMIT_NOFILE); resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
dst, port, n, size, inflight = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
ep = select.epoll(); pending = {}; ready = []; opened = 0
t0 = time.perf_counter()
while len(ready) < n:
    while opened < n and len(pending) < inflight:
        s = socket.socket(); s.setblocking(False)
        e = s.connect_ex((dst, port))
        assert e in (0, errno.EINPROGRESS), e
        pending[s.fileno()] = s; ep.register(s.fileno(), select.EPOLLOUT); opened += 1
    for fd, ev in ep.poll(5):
        s = pending.pop(fd); ep.unregister(fd)
        err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        assert err == 0, err
        ready.append(s)
t1 = time.perf_counter()
msg = bytes(range(size & 0xff)) * (size // 256) + bytes(range(size % 256))
want = {}
for s in ready:
    s.send(msg); want[s.fileno()] = [s, size]; ep.register(s.fileno(), select.EPOLLIN)
while want:
    for fd, ev in ep.poll(5):
        w = want[fd]; d = w[0].recv(65536); w[1] -= len(d)
        if w[1] <= 0 or not d:
            ep.unregister(fd); w[0].close(); del want[fd]
t2 = time.perf_counter()
print(n, t1 - t0, t2 - t0, flush=True)
"""

# 3: open N connections, say so, then hold them idle until stdin closes.
IDLE_CLIENT = r"""
import resource, socket, sys
_, hard = resource.getrlimit(resource.RLIMIT_NOFILE); resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
dst, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
socks = [socket.create_connection((dst, port), timeout=10) for _ in range(n)]
for s in socks[:5]:
    s.sendall(b"ping"); assert s.recv(16) == b"ping"
print("ready", len(socks), flush=True)
sys.stdin.read()
"""


class Procs:
    """Every process the benchmark starts, so each can be stopped by its PID."""

    def __init__(self) -> None:
        self.live: list[subprocess.Popen] = []

    def start(self, ns: str, code: str, *args, stdin=None) -> subprocess.Popen:
        p = subprocess.Popen(["nsenter", f"--net=/run/netns/{ns}", sys.executable, "-c", code, *map(str, args)],
                             stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.live.append(p)
        return p

    def start_cmd(self, ns: str, *cmd) -> subprocess.Popen:
        p = subprocess.Popen(["nsenter", f"--net=/run/netns/{ns}", *cmd],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.live.append(p)
        return p

    def finish(self, p: subprocess.Popen, timeout: float) -> str:
        """The process's stdout once it exits on its own (killed by PID after `timeout`)."""
        try:
            out, err = p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.stop(p)
            raise RuntimeError(f"{_name(p)} did not finish in {timeout} s") from None
        self.live.remove(p)
        if p.returncode != 0:
            raise RuntimeError(f"{_name(p)} exited {p.returncode}: {err.strip()[-500:]}")
        return out

    def stop(self, p: subprocess.Popen) -> None:
        if p.poll() is None:
            os.kill(p.pid, signal.SIGTERM)  # nsenter forwards nothing: it exec()s the command, same PID
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                os.kill(p.pid, signal.SIGKILL)
                p.wait(5)
        for f in (p.stdout, p.stderr, p.stdin):
            if f:
                f.close()
        if p in self.live:
            self.live.remove(p)

    def stop_all(self) -> None:
        for p in list(self.live):
            self.stop(p)


def _name(p: subprocess.Popen) -> str:
    code = p.args[4] if len(p.args) > 4 and p.args[3] == "-c" else " ".join(p.args[2:])
    return f"pid {p.pid} `{code.strip().splitlines()[-1][:60]}'"


def wait_line(p: subprocess.Popen, word: str, timeout: float = 15) -> str:
    import selectors

    sel = selectors.DefaultSelector()
    sel.register(p.stdout, selectors.EVENT_READ)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if sel.select(deadline - time.monotonic()):
                line = p.stdout.readline()
                if not line:
                    break
                if line.startswith(word):
                    return line
    finally:
        sel.close()
    raise RuntimeError(f"{_name(p)}: no `{word}' line; stderr: {p.stderr.read() if p.poll() is not None else ''}")


# ------------------------------------------------------------ the veth reference


class VethPair:
    """Two namespaces joined by a veth pair (pyroute2, as vppsh/vnet/devices/netns.py does)."""

    def __init__(self, tag: str) -> None:
        from pyroute2 import IPRoute, netns

        self.a, self.b = f"vppsh-bt-{tag}-a", f"vppsh-bt-{tag}-b"
        self.made: list[str] = []
        for ns in (self.a, self.b):
            netns.create(ns)
            self.made.append(ns)
        va, vb = f"vbt{tag}a", f"vbt{tag}b"
        with IPRoute() as ipr:
            ipr.link("add", ifname=va, kind="veth", peer=vb)
            try:
                ipr.link("set", index=ipr.link_lookup(ifname=va)[0], net_ns_fd=self.a)
                ipr.link("set", index=ipr.link_lookup(ifname=vb)[0], net_ns_fd=self.b)
            except Exception:
                for i in ipr.link_lookup(ifname=va):
                    ipr.link("del", index=i)
                raise
        for ns, ifn, addr in ((self.a, va, "10.8.0.1"), (self.b, vb, "10.8.0.2")):
            with IPRoute(netns=ns) as ipr:
                i = ipr.link_lookup(ifname=ifn)[0]
                ipr.addr("add", index=i, address=addr, prefixlen=24)
                ipr.link("set", index=i, state="up")
                ipr.link("set", index=ipr.link_lookup(ifname="lo")[0], state="up")

    def close(self) -> None:
        from pyroute2 import netns

        for ns in self.made:
            try:
                netns.remove(ns)  # the veth pair goes with its namespaces
            except FileNotFoundError:
                print(f"warning: namespace {ns} was removed by someone else during the run", file=sys.stderr)
        self.made.clear()


# ------------------------------------------------------------ the engine


class Vpp:
    def __init__(self) -> None:
        from vppsh.engine import Engine

        self.out: list[str] = []
        self.engine = Engine(write=self.out.append)

    def run(self, line: str, timeout: float = 60) -> str:
        self.out.clear()
        err = self.engine.run(line, timeout=timeout)
        if err:
            raise RuntimeError(f"vppsh `{line}' failed: {err}\n{''.join(self.out)}")
        return "".join(self.out)

    def stop(self) -> None:
        self.engine.stop()


def cpu_self() -> float:
    """User + system CPU seconds of this whole process (the engine thread; the main thread sleeps)."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def vtap_stats(ns: str) -> tuple[int, int]:
    """(packets, drops) the kernel sent towards vppsh on vtap0: a full tun queue drops on the host side."""
    from pyroute2 import IPRoute

    with IPRoute(netns=ns) as ipr:
        st = ipr.get_links(ifname="vtap0")[0].get_attr("IFLA_STATS64")
    return st["tx_packets"], st["tx_dropped"]


def python_speed() -> str:
    """How fast this machine runs plain Python, so figures from different machines can be told
    apart: the engine is bound by Python per packet, the kernel references are not (the same
    code gave 3x fewer nginx requests/s on a machine whose Python was 3x slower)."""
    import timeit

    us = min(timeit.repeat("sum(range(1000))", number=2000, repeat=5)) / 2000 * 1e6
    return f"Python speed here: sum(range(1000)) takes {us:.1f} us"


def top_nodes(runtime: str, n: int = 6) -> str:
    """The nodes that took the most time in a `show runtime` (clocks/vector x vectors, or x calls)."""
    rows = []
    for line in runtime.splitlines():
        m = re.match(r"(\S+)\s+.*?\s(\d+)\s+(\d+)\s+(\d+)\s+([\d.e+-]+)\s+([\d.]+)\s*$", line)
        if m:
            name, calls, vecs, susp, clocks = m.group(1), int(m.group(2)), int(m.group(3)), int(m.group(4)), float(m.group(5))
            total = clocks * (vecs or calls or susp)
            if name != "unix-cli-stdin":
                rows.append((total, name, calls, vecs, clocks))
    if not rows:
        return "no node ran"
    rows.sort(reverse=True)
    whole = sum(r[0] for r in rows) or 1
    return ", ".join(f"{name} {t / whole:.0%} ({clocks:.2g} clk/vec, {vecs / max(calls, 1):.1f} vec/call)"
                     for t, name, calls, vecs, clocks in rows[:n])


# ------------------------------------------------------------ measurements


def iperf3(procs: Procs, v: VethPair, seconds: float) -> float:
    srv = procs.start_cmd(v.b, "iperf3", "-s", "-1", "-B", "10.8.0.2")
    time.sleep(0.4)
    try:
        cli = procs.start_cmd(v.a, "iperf3", "-c", "10.8.0.2", "-t", str(seconds), "-J")
        out = procs.finish(cli, seconds + 30)
        return json.loads(out)["end"]["sum_received"]["bits_per_second"]
    finally:
        procs.stop(srv)


def py_stream(procs: Procs, v: VethPair, mb: int) -> float:
    sink = procs.start(v.b, SINK, "10.8.0.2", 5001)
    wait_line(sink, "listening")
    snd = procs.start(v.a, SENDER, "10.8.0.2", 5001, mb)
    nbytes, dt = procs.finish(snd, 60).split()
    procs.finish(sink, 30)
    return int(nbytes) * 8 / float(dt)


def kernel_short(procs: Procs, v: VethPair, n: int, size: int) -> tuple[float, float]:
    """(handshakes/s, whole connect+echo+close cycles/s) kernel to kernel over the veth pair."""
    srv = procs.start(v.b, EPOLL_ECHO, "10.8.0.2", 5002)
    try:
        wait_line(srv, "listening")
        cli = procs.start(v.a, SHORT_CLIENT, "10.8.0.2", 5002, n, size, CONNECTS_IN_FLIGHT)
        _, hs, total = procs.finish(cli, 120).split()
        return n / float(hs), n / float(total)
    finally:
        procs.stop(srv)


def vpp_rx(procs: Procs, ns: str, mb: int, dst: str = "10.0.0.2") -> float:
    snd = procs.start(ns, SENDER, dst, 1234, mb)
    nbytes, dt = procs.finish(snd, 120).split()
    return int(nbytes) * 8 / float(dt)


def vpp_tx(procs: Procs, vpp: Vpp, ns: str, size: str, peer: str = "10.0.0.1") -> tuple[float, float, float]:
    """(client's own gbit/s line, wall clock of the command, the kernel sink's view), bits/s."""
    sink = procs.start(ns, SINK, peer, 5001)
    wait_line(sink, "listening")
    t0 = time.perf_counter()
    out = vpp.run(f"test echo clients uri tcp://{peer}/5001 bytes {size} no-return fifo-size 4096 "
                  f"test-timeout 60", timeout=120)
    wall = time.perf_counter() - t0
    nbytes, dt = procs.finish(sink, 30).split()
    m = re.search(r"([\d.e+-]+) gbit/second half-duplex", out)
    if m is None:
        raise RuntimeError(f"no gbit/second line in:\n{out}")
    return float(m.group(1)) * 1e9, int(nbytes) * 8 / wall, int(nbytes) * 8 / float(dt)


def vpp_short(procs: Procs, vpp: Vpp, ns: str, n: int, size: int, port: int) -> tuple[float, float, str]:
    """(handshakes/s from the client's line, whole cycles/s, output) against the epoll echo server."""
    srv = procs.start(ns, EPOLL_ECHO, "10.0.0.1", port)
    try:
        wait_line(srv, "listening")
        t0 = time.perf_counter()
        out = vpp.run(f"test echo clients uri tcp://10.0.0.1/{port} nclients {n} bytes {size} fifo-size 4 "
                      f"syn-timeout 60 test-timeout 60", timeout=150)
        wall = time.perf_counter() - t0
    finally:
        procs.stop(srv)
    m = re.search(r"(\d+) three-way handshakes in ([\d.e+-]+) seconds ([\d.e+-]+)/s", out)
    st = re.search(r"Test started at ([\d.e+-]+)", out)
    fin = re.search(r"Test finished at ([\d.e+-]+)", out)
    if not (m and st and fin):
        raise RuntimeError(f"unexpected echo client output:\n{out}")
    cycle = float(m.group(2)) + float(fin.group(1)) - float(st.group(1))
    return float(m.group(3)), n / cycle, f"{out.strip()} [wall {wall:.2f} s]"


def idle_cpu(seconds: float) -> float:
    c0, t0 = cpu_self(), time.monotonic()
    time.sleep(seconds)
    return (cpu_self() - c0) / (time.monotonic() - t0)


def active_sessions(vpp: Vpp) -> int:
    out = vpp.run("show session state ready")
    m = re.search(r"(\d+) sessions matched filter", out)
    return int(m.group(1)) if m else 0


# ------------------------------------------------------------ main


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="one run of each, smaller transfers")
    ap.add_argument("--runtime", action="store_true", help="print `show runtime` after each vppsh test")
    ap.add_argument("--only", choices=("bulk", "bulk6", "short", "idle"), help="run just this test and its reference")
    ap.add_argument("--runs", type=int, help="runs of each measurement (default 3, --quick 1)")
    args = ap.parse_args()
    runs = args.runs or (1 if args.quick else 3)  # this VM is noisy: medians, vppsh and reference alike
    mb = 256 if args.quick else 1024
    secs = 2 if args.quick else 4
    nconn = 500 if args.quick else 2000
    n_idle, idle_s = 1000, (5.0 if args.quick else 10.0)
    t_start = time.monotonic()
    load0 = os.getloadavg()[0]

    # Clean up on SIGTERM too (the finally below) -- in this process only: pyroute2's IPRoute(netns=)
    # forks children that inherit the handler and are stopped with SIGTERM; they must just exit.
    me = os.getpid()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1) if os.getpid() == me else os._exit(0))
    tag = uuid.uuid4().hex[:6]
    ns = f"vppsh-bt-{tag}"
    procs = Procs()
    vpp = v = None
    results: list[tuple] = []  # (what, vppsh, reference, ratio, goal, met)
    notes: list[str] = []

    last_vtap = [(0, 0)]

    def runtime(what: str) -> None:
        rt = vpp.run("show runtime")
        if args.runtime:
            print(f"--- show runtime after {what}\n{rt}")
        pk, dr = vtap_stats(ns)
        pk0, dr0 = last_vtap[0]
        last_vtap[0] = (pk, dr)
        notes.append(f"{what}: {top_nodes(rt)}; kernel -> vppsh packets dropped at vtap0 (tun queue full): "
                     f"{dr - dr0:,} of {pk - pk0 + dr - dr0:,}")
        vpp.run("clear runtime")

    def bulk() -> None:
        # -- references first: kernel to kernel over the veth pair
        k_bps = statistics.median(iperf3(procs, v, secs) for _ in range(runs))
        k_py = statistics.median(py_stream(procs, v, mb) for _ in range(runs))
        print(f"veth pair: iperf3 {k_bps / 1e9:.2f} Gbit/s, python sender -> python sink {k_py / 1e9:.2f} Gbit/s",
              flush=True)

        # -- 1. bulk, rx: kernel -> vppsh echo server (no-echo)
        vpp.run("test echo server uri tcp://0.0.0.0/1234 no-echo fifo-size 4096")
        vpp.run("clear runtime")
        last_vtap[0] = vtap_stats(ns)
        rx = statistics.median(vpp_rx(procs, ns, mb) for _ in range(runs))
        runtime("rx")
        print(f"rx kernel -> vppsh: {rx / 1e9:.2f} Gbit/s", flush=True)
        vpp.run("test echo server stop")

        # -- 1. bulk, tx: vppsh echo client -> kernel sink
        txs = [vpp_tx(procs, vpp, ns, "1g" if mb == 1024 else f"{mb}m") for _ in range(runs)]
        tx_cli, tx_wall, tx_sink = (statistics.median(t[i] for t in txs) for i in range(3))
        runtime("tx")
        print(f"tx vppsh -> kernel: client says {tx_cli / 1e9:.2f} Gbit/s, wall clock {tx_wall / 1e9:.2f}, "
              f"sink {tx_sink / 1e9:.2f}", flush=True)
        results.append(("bulk TCP rx: kernel -> vppsh echo server (gso tap)", f"{rx / 1e9:.2f} Gbit/s",
                        f"veth iperf3 {k_bps / 1e9:.2f} Gbit/s", rx / k_bps, ">= 30% of veth", rx / k_bps >= 0.3))
        results.append(("bulk TCP tx: vppsh echo client -> kernel (sink's timing)", f"{tx_sink / 1e9:.2f} Gbit/s",
                        f"veth iperf3 {k_bps / 1e9:.2f} Gbit/s", tx_sink / k_bps, ">= 30% of veth",
                        tx_sink / k_bps >= 0.3))
        results.append(("  tx as the client prints it (last byte into the fifo)", f"{tx_cli / 1e9:.2f} Gbit/s",
                        "", tx_cli / k_bps, "", None))
        results.append(("  python sender -> python sink over veth (peers' own ceiling)", f"{k_py / 1e9:.2f} Gbit/s",
                        "", None, "", None))

    def bulk6() -> None:
        """Bulk rx and tx over IPv6 against the same over IPv4, alternating in one run."""
        rx4, rx6, tx4, tx6 = [], [], [], []
        size = "1g" if mb == 1024 else f"{mb}m"
        for _ in range(runs):
            for uri, dst, out in (("tcp://0.0.0.0/1234", "10.0.0.2", rx4), ("tcp://::/1234", V6_VPP, rx6)):
                vpp.run(f"test echo server uri {uri} no-echo fifo-size 4096")
                out.append(vpp_rx(procs, ns, mb, dst))
                vpp.run("test echo server stop")
            tx4.append(vpp_tx(procs, vpp, ns, size)[2])
            tx6.append(vpp_tx(procs, vpp, ns, size, V6_PEER)[2])
        for what, a6, a4 in (("rx", rx6, rx4), ("tx", tx6, tx4)):
            m6, m4 = statistics.median(a6), statistics.median(a4)
            results.append((f"bulk TCP {what} over IPv6 (echo apps, gso tap)", f"{m6 / 1e9:.2f} Gbit/s",
                            f"IPv4 {m4 / 1e9:.2f} Gbit/s", m6 / m4, ">= 90% of IPv4", m6 / m4 >= 0.9))

    def short() -> None:
        # -- 2. short connections
        vpp.run("clear runtime")
        last_vtap[0] = vtap_stats(ns)
        vr = [vpp_short(procs, vpp, ns, nconn, 64, 5002 + i) for i in range(runs)]
        runtime("short connections")
        kr = [kernel_short(procs, v, nconn, 64) for _ in range(runs)]
        v_hs, v_cyc = statistics.median(r[0] for r in vr), statistics.median(r[1] for r in vr)
        k_hs, k_cyc = statistics.median(r[0] for r in kr), statistics.median(r[1] for r in kr)
        print(f"short connections ({nconn}, 64 B echo, {CONNECTS_IN_FLIGHT} connects in flight): vppsh "
              f"{v_hs:,.0f} handshakes/s, {v_cyc:,.0f} full cycles/s | kernel {k_hs:,.0f} handshakes/s, "
              f"{k_cyc:,.0f} full cycles/s", flush=True)
        print(f"  each vppsh run: {', '.join(f'{r[1]:,.0f}' for r in vr)} cycles/s; each kernel run: "
              f"{', '.join(f'{r[1]:,.0f}' for r in kr)}")
        print("  last vppsh run:\n    " + vr[-1][2].replace("\n", "\n    "))
        results.append((f"connections/s, echo client ({nconn} x connect)", f"{v_hs:,.0f}/s",
                        f"kernel {k_hs:,.0f}/s", v_hs / k_hs, ">= 5,000/s", v_hs >= 5000))
        results.append(("  whole connect + 64 B echo + close cycles", f"{v_cyc:,.0f}/s", f"kernel {k_cyc:,.0f}/s",
                        v_cyc / k_cyc, ">= 5,000/s", v_cyc >= 5000))

    def idle_test() -> None:
        # -- 3. idle established sessions
        vpp.run("test echo server uri tcp://0.0.0.0/1234")
        # the previous tests' connections first leave TIME_WAIT (10 s): their cleanup is not idling
        tm = vpp.engine.vm.session.transports[TransportProto.TCP]
        end = time.monotonic() + 20
        while vpp.engine.call(lambda: len(tm.active())) and time.monotonic() < end:
            time.sleep(0.2)
        time.sleep(1.0)
        base = idle_cpu(idle_s / 2)
        cli = procs.start(ns, IDLE_CLIENT, "10.0.0.2", 1234, n_idle, stdin=subprocess.PIPE)
        wait_line(cli, "ready", 60)
        n_act = active_sessions(vpp)
        vpp.run("clear runtime")
        last_vtap[0] = vtap_stats(ns)
        time.sleep(1.0)
        idle = idle_cpu(idle_s)
        runtime("idle sessions")
        procs.stop(cli)
        print(f"idle: {n_act} active sessions, engine CPU {idle:.3%} over {idle_s:.0f} s | no sessions "
              f"{base:.3%}", flush=True)
        results.append((f"CPU with {n_idle} idle established sessions ({n_act} in show session)", f"{idle:.3%}",
                        f"no sessions {base:.3%}", None, "<= 1%", idle <= 0.01))

    try:
        v = VethPair(tag)
        vpp = Vpp()
        for line in (f"create tap id 0 host-ns {ns} host-if-name vtap0 host-ip4-addr 10.0.0.1/24 "
                     f"host-ip6-addr {V6_PEER}/64 gso", "set interface state tap0 up",
                     "set interface ip address tap0 10.0.0.2/24", f"set interface ip address tap0 {V6_VPP}/64",
                     "session enable"):
            vpp.run(line)
        vpp.run("ping 10.0.0.1 repeat 1")  # ARP resolved before the first SYN
        for what, test in (("bulk", bulk), ("bulk6", bulk6), ("short", short), ("idle", idle_test)):
            if args.only in (None, what):
                test()
    finally:
        procs.stop_all()
        if vpp is not None:
            vpp.stop()
        if v is not None:
            v.close()

    print()
    cols = ("what", "vppsh", "reference (same run)", "ratio", "goal", "")
    rows = [(w, m, r, "" if ra is None else f"{ra:.1%}" if ra < 10 else f"{ra:.0f}x", g,
             "" if ok is None else ("met" if ok else "not met")) for w, m, r, ra, g, ok in results]
    print(tabulate(rows, headers=cols, tablefmt="github", disable_numparse=True))
    print("\nwhere the engine spent its time (share of node time; --runtime for the full tables):")
    for n in notes:
        print(f"  {n}")
    print(f"\n{runs} run(s) each, medians; {time.monotonic() - t_start:.0f} s in all; load average at the start "
          f"{load0:.2f} on {os.cpu_count()} CPUs (other work on the machine skews every figure). {python_speed()}.")
    opts = "".join(f" {o}" for o in sys.argv[1:])
    print(f"command: {CMD}{opts}")


if __name__ == "__main__":
    main()
