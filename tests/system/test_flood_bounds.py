"""What a SYN flood leaves behind is bounded and goes away (issue 14): hping3 --flood from random
sources at vppsh's echo server across a tap, from a namespace the test creates. Before, during
and after it: the engine's tables (sessions, TCP connections and half-opens, neighbours, /32s,
timers, resolutions and packets waiting for ARP), its Python objects and its RSS; right after
it, a kernel connection that was waiting to start must be served within 0.2 s.

The second test floods through an attached default route toward a kernel that answers ARP for
every address (proxy ARP), so every spoofed source becomes a neighbour with an adjacency and a
/32: the table stays within its bound and ages back to where it was.

Kernel-side programs run via nsenter; each is stopped and reaped by PID in a finally.
"""

from __future__ import annotations

import gc
import re
import shutil
import signal
import subprocess
import sys
import threading
import time

import pytest

from tests.helpers.kernel import ns_popen, readline, stop
from tests.helpers.shell import rss_kb, wait_for
from tests.helpers.tcp_peer import VPP_IP, setup_tap

from vppsh.session.transport import TransportProto

pytestmark = [pytest.mark.root, pytest.mark.skipif(shutil.which("hping3") is None, reason="needs hping3")]

FLOOD_SECONDS = 3.0  # hping3 --flood ignores -c: it runs this long (~0.5M SYNs, far more than the engine takes)
FIRST_CONN_LIMIT = 0.2  # s, connect + a 10-byte echo, timed by the client from its connect()
RSS_MARGIN_MB = 16  # what may stay: see test_flood_leaves_nothing_behind
OBJECTS_MARGIN = 3000  # Python objects (gc-tracked) that may stay

# Waits for a line on stdin, then connects, echoes 10 bytes and prints the seconds that took.
FIRST_CLIENT = r"""
import socket, sys, time
print("ready", flush=True)
sys.stdin.readline()
t = time.monotonic()
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=10)
s.sendall(b"0123456789")
d = b""
while len(d) < 10:
    d += s.recv(10)
print("%.4f" % (time.monotonic() - t), flush=True)
"""


@pytest.fixture
def server(shell, ns):
    setup_tap(shell, ns)
    shell.run("test echo server uri tcp://0.0.0.0/1234")
    return shell


def tables(shell) -> dict[str, int]:
    """The sizes a flood could grow, read on the engine thread (and through the CLI)."""
    vm = shell.vm

    def read():
        sm, ip4 = vm.session, vm.ip4
        tm = sm.transports[TransportProto.TCP]
        return dict(sessions=len(sm.sessions()), conns=sum(c is not None for c in tm.conns),
                    half_open=sum(s.conn.half_open for s in sm.sessions() if s.is_listener),
                    lookup=len(sm.conns), neighbors=len(ip4.neighbors), dpos=len(ip4.dpo.key),
                    fib=len(ip4.fib.entries()), timers=len(vm.timers), asked=len(ip4.table.asked),
                    neighbor_table=ip4.table.n_dynamic + len(ip4.table.asked),
                    held=ip4.held.n, buffers=vm.buffers.n_used)

    t = shell.call(read)
    m = re.search(r"Thread 0: (\d+) sessions", shell.run("show session"))
    t["show session"] = int(m.group(1))
    t["show ip neighbors"] = len(shell.run("show ip neighbors").splitlines()) - 1
    t["show ip fib /32"] = int(re.search(r"^\s+32\s+(\d+)$", shell.run("show ip fib summary"), re.M).group(1))
    return t


def objects(shell) -> int:
    """gc-tracked Python objects after a full collection (on the engine thread: nothing moves)."""
    return shell.call(lambda: (gc.collect(), len(gc.get_objects()))[1])


def echo_once(ns: str) -> None:
    c = ns_popen(ns, sys.executable, "-c", FIRST_CLIENT, VPP_IP, 1234, stdin=subprocess.PIPE,
                 stdout=subprocess.PIPE, text=True)
    try:
        assert readline(c, 10).strip() == "ready"
        c.stdin.write("go\n")
        c.stdin.flush()
        float(readline(c, 15))
    finally:
        stop(c)


class Sampler:
    """The largest table sizes and RSS seen while the flood runs (every ~0.3 s)."""

    def __init__(self, shell) -> None:
        self.shell, self.peak, self.rss = shell, {}, 0
        self.stopping = threading.Event()
        self.t = threading.Thread(target=self.run, daemon=True)
        self.t.start()

    def run(self) -> None:
        while not self.stopping.wait(0.3):
            for k, v in tables(self.shell).items():
                self.peak[k] = max(v, self.peak.get(k, 0))
            self.rss = max(self.rss, rss_kb())

    def stop(self) -> None:
        self.stopping.set()
        self.t.join(10)


def flood(shell, ns: str, ping: bool = False):
    """hping3 --flood --rand-source for FLOOD_SECONDS with a client waiting to connect the
    moment it stops (and with `ping`, the kernel pinging vppsh 5 times a second meanwhile);
    returns (peak tables and RSS during it, the client's connect + echo time, show errors)."""
    client = ns_popen(ns, sys.executable, "-c", FIRST_CLIENT, VPP_IP, 1234, stdin=subprocess.PIPE,
                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    hping = pinger = None
    # The `vppsh` program freezes what start-up made out of the collector's sight (vppsh/main.py);
    # here the engine shares its process with pytest, scapy and hypothesis (~160k objects), whose
    # full collections (70-120 ms) would land in the drain after the flood: freeze them too.
    gc.collect()
    gc.freeze()
    try:
        if ping:
            pinger = ns_popen(ns, "ping", "-q", "-i", "0.2", VPP_IP, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
        assert readline(client, 10).strip() == "ready"
        sampler = Sampler(shell)
        hping = ns_popen(ns, "hping3", "-q", "-S", "-p", "1234", "--flood", "--rand-source", VPP_IP,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(FLOOD_SECONDS)
        assert hping.poll() is None, "hping3 stopped early"
        hping.send_signal(signal.SIGINT)
        hping.wait(10)
        sampler.stop()  # its CLI commands (a thousand neighbours to list) would hold the engine up
        client.stdin.write("go\n")  # its SYN queues behind what the flood left in the tap
        client.stdin.flush()
        first = float(readline(client, 15))
        return sampler, first, shell.run("show errors")
    finally:
        gc.unfreeze()
        stop(hping)
        stop(client)
        stop(pinger)


def test_flood_leaves_nothing_behind(server, ns):
    """The issue's flood at the seed's topology (SYN-ACKs to off-link sources have no route).
    Tables: half-opens stay within the backlog while it lasts and go within ~7 s after it
    (tcp: pruned after 2 SYN-ACK retries), everything else never grows. Memory: CPython keeps
    freed arenas and numpy its high-water buffers, so RSS need not come back exactly; what
    must come back is the tables and the Python object count, and RSS stays within
    RSS_MARGIN_MB of where it started (the same flood on the code before left the tables full
    for a minute)."""
    shell = server
    echo_once(ns)  # warm: the kernel's neighbour learned, a session made and freed
    assert wait_for(lambda: tables(shell)["conns"] == 0, timeout=15)
    base, objs0, rss0 = tables(shell), objects(shell), rss_kb()
    sampler, first, errors = flood(shell, ns)
    peak = sampler.peak
    t_end = time.monotonic()
    back = wait_for(lambda: tables(shell) == base, timeout=30, step=0.5)
    t_back = time.monotonic() - t_end
    after, objs1, rss1 = tables(shell), objects(shell), rss_kb()
    syns = int(re.search(r"(\d+)\s+tcp4-listen\s+SYNs received", errors).group(1))
    cookies = int(re.search(r"(\d+)\s+tcp4-listen\s+SYN cookies sent", errors).group(1))
    print(f"\nflood {FLOOD_SECONDS}s: {syns} SYNs reached tcp4-listen, {cookies} cookies; first connection "
          f"{first * 1000:.0f} ms; RSS {rss0 >> 10} -> peak {sampler.rss >> 10} -> {rss1 >> 10} MB; objects "
          f"{objs0} -> {objs1}; tables back in {t_back:.1f} s\n  before {base}\n  peak   {peak}\n  after  {after}")
    assert syns > 20_000 and cookies > 0, errors
    assert "node exceptions" not in errors, errors
    assert first < FIRST_CONN_LIMIT, (first, errors)
    assert peak["half_open"] <= 1024 and peak["conns"] <= 1024 + base["conns"] + 1, peak
    for k in ("neighbors", "show ip neighbors", "dpos", "fib", "show ip fib /32", "asked", "held", "neighbor_table"):
        assert peak[k] == base[k], (k, base, peak)
    assert back, (base, after)
    assert objs1 - objs0 < OBJECTS_MARGIN, (objs0, objs1)
    assert rss1 - rss0 < RSS_MARGIN_MB << 10, (rss0, sampler.rss, rss1)


PROXY_ARP = ("ip link add d0 type veth peer name d1", "ip link set d0 up", "ip route add default dev d0",
             "sysctl -qw net.ipv4.ip_forward=1", "sysctl -qw net.ipv4.conf.vtap0.proxy_arp=1",
             "sysctl -qw net.ipv4.neigh.vtap0.proxy_delay=0")


NEIGHBOR_LIMIT = 256  # reached within the flood however slow the machine (each one is a /32 to add)


def test_spoofed_neighbours_stay_bounded_and_age_out(server, ns):
    """Every address is on the link (`ip route add 0.0.0.0/0 via tap0`) and the kernel answers
    ARP for all of them (proxy ARP toward d0, whose peer is down: what it forwards goes
    nowhere): each SYN-ACK to a spoofed source resolves it, so the flood fills the neighbour
    table. It stops at its limit (with the resolutions in flight); the kernel peer, in use (it
    pings), keeps its entry; with a short age the table empties again, adjacencies and /32s
    with it, and the peer is resolved anew. (An idle peer's entry can go, as on Linux: see
    ip4/neighbor.py.) The first connection is timed, not held to FIRST_CONN_LIMIT: the ARP
    answers queued behind the flood are neighbours to learn first, ~0.3 ms each."""
    shell = server
    shell.run("ip route add 0.0.0.0/0 via tap0")
    shell.run(f"set ip neighbor-config ip4 limit {NEIGHBOR_LIMIT} age 2")
    for cmd in PROXY_ARP:
        subprocess.run(["nsenter", f"--net=/run/netns/{ns}", *cmd.split()], check=True)
    echo_once(ns)
    assert wait_for(lambda: tables(shell)["conns"] == 0, timeout=15)
    base, objs0, rss0 = tables(shell), objects(shell), rss_kb()
    sampler, first, errors = flood(shell, ns, ping=True)
    peak = sampler.peak
    t_end = time.monotonic()
    empty = lambda: (lambda t: t["neighbors"] <= base["neighbors"] and t["asked"] == 0  # noqa: E731
                     and t["fib"] <= base["fib"] and t["half_open"] == 0)(tables(shell))
    back = wait_for(empty, timeout=30, step=0.5)
    t_back = time.monotonic() - t_end
    after, objs1, rss1 = tables(shell), objects(shell), rss_kb()
    full = int(re.search(r"(\d+)\s+ip4-glean\s+neighbor table full", errors).group(1))
    print(f"\nflood {FLOOD_SECONDS}s through an attached route: first connection {first * 1000:.0f} ms; "
          f"resolutions refused (table full) {full}; RSS {rss0 >> 10} -> peak {sampler.rss >> 10} -> {rss1 >> 10} MB; "
          f"objects {objs0} -> {objs1}; back in {t_back:.1f} s\n  before {base}\n  peak   {peak}\n  after  {after}")
    assert "node exceptions" not in errors, errors
    assert peak["neighbors"] > NEIGHBOR_LIMIT // 4 and full > 0, (peak, errors)  # spoofed ones were learned
    assert peak["neighbor_table"] <= NEIGHBOR_LIMIT, peak
    assert peak["show ip fib /32"] - base["show ip fib /32"] <= NEIGHBOR_LIMIT, peak
    assert back, (base, after)
    assert after["dpos"] <= base["dpos"] and after["show ip fib /32"] <= base["show ip fib /32"], (base, after)
    assert objs1 - objs0 < OBJECTS_MARGIN, (objs0, objs1)
    assert rss1 - rss0 < RSS_MARGIN_MB << 10, (rss0, sampler.rss, rss1)
    echo_once(ns)  # the kernel peer, aged out with the rest, is resolved again
