"""Differential socket semantics: tests/preload/semantics.py run natively (the kernel's stack,
across a veth pair) and under `vppsh exec` (vppsh's, across its tap), with the same addresses
(local 10.0.0.0, peer 10.0.0.1) and the same kernel-side services (tests/preload/sem_peer.py).
Every case must observe the same results: return values, errnos, readiness, data."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid

import pytest
from pyroute2 import IPRoute
from pyroute2 import netns as pr_netns

from shimnet import ShimNet

pytestmark = pytest.mark.skipif(os.geteuid() != 0 or not os.path.exists("/dev/net/tun"),
                                reason="needs root and /dev/net/tun")
HERE = os.path.join(os.path.dirname(__file__), "..", "preload")
PROG, PEER = os.path.join(HERE, "semantics.py"), os.path.join(HERE, "sem_peer.py")


class Native:
    """The kernel on both sides: app ns 10.0.0.0/31 -- veth -- peer ns 10.0.0.1/31."""

    def __init__(self) -> None:
        tag = uuid.uuid4().hex[:8]
        self.app_ns, self.peer_ns = f"vppsh-t-{tag}", f"vppsh-t-{tag[::-1]}"
        for n in (self.app_ns, self.peer_ns):
            pr_netns.create(n)
        va, vb = f"vs{tag}a", f"vs{tag}b"
        with IPRoute() as ipr:
            ipr.link("add", ifname=va, kind="veth", peer=vb)
            ipr.link("set", index=ipr.link_lookup(ifname=va)[0], net_ns_fd=self.app_ns)
            ipr.link("set", index=ipr.link_lookup(ifname=vb)[0], net_ns_fd=self.peer_ns)
        for n, ifn, addr in ((self.app_ns, va, "10.0.0.0"), (self.peer_ns, vb, "10.0.0.1")):
            with IPRoute(netns=n) as ipr:
                i = ipr.link_lookup(ifname=ifn)[0]
                ipr.addr("add", index=i, address=addr, prefixlen=31)
                ipr.link("set", index=i, state="up")
                ipr.link("set", index=ipr.link_lookup(ifname="lo")[0], state="up")

    def exec_argv(self, argv):
        return ["nsenter", f"--net=/run/netns/{self.app_ns}", *argv]

    def peer_argv(self, argv):
        return ["nsenter", f"--net=/run/netns/{self.peer_ns}", *argv]

    def stop(self) -> None:
        for n in (self.app_ns, self.peer_ns):
            if os.path.exists(f"/run/netns/{n}"):
                pr_netns.remove(n)


def observe(env) -> dict:
    peer = subprocess.Popen(env.peer_argv([sys.executable, PEER]), stdout=subprocess.PIPE, text=True,
                            stdin=subprocess.DEVNULL)
    try:
        assert peer.stdout.readline().strip() == "ready"
        r = subprocess.run(env.exec_argv([sys.executable, PROG, "client"]), capture_output=True, text=True,
                           timeout=180, stdin=subprocess.DEVNULL)
        assert r.returncode == 0, r.stderr
        out = json.loads(r.stdout)
        srv = subprocess.Popen(env.exec_argv([sys.executable, PROG, "server", "5555"]), stdout=subprocess.PIPE,
                               text=True, stdin=subprocess.DEVNULL)
        try:
            assert srv.stdout.readline().strip() == "listening"
            time.sleep(0.2)
            code = ("import socket; s=socket.create_connection(('10.0.0.0',5555),timeout=10); "
                    "s.sendall(b'ping'); print(s.recv(10).decode())")
            cli = subprocess.run(env.peer_argv([sys.executable, "-c", code]), capture_output=True, text=True,
                                 timeout=30)
            out["server"] = json.loads(srv.stdout.readline())
            out["server"]["client_got"] = cli.stdout.strip()
        finally:
            srv.kill()
            srv.wait()
        return out
    finally:
        peer.kill()
        peer.wait()


@pytest.fixture(scope="module")
def results():
    got = {}
    native = Native()
    try:
        got["native"] = observe(native)
    finally:
        native.stop()
    net = ShimNet().start()
    try:
        got["vppsh"] = observe(net)
    finally:
        net.stop()
    return got


CASES = ["identity", "bind", "connect", "nonblocking_connect", "sockopts", "shutdown", "data_calls",
         "poll_select_epoll", "process", "udp", "server"]


@pytest.mark.parametrize("case", CASES)
def test_same_as_the_kernel(results, case):
    native, shim = results["native"].get(case), results["vppsh"].get(case)
    if native != shim:
        keys = sorted(set(native or {}) | set(shim or {})) if isinstance(native, dict) else []
        diff = [f"  {k}: kernel {native.get(k)!r}  vppsh {shim.get(k)!r}" for k in keys
                if isinstance(shim, dict) and native.get(k) != shim.get(k)]
        pytest.fail(f"{case} differs:\n" + ("\n".join(diff) or f"kernel {native!r}\nvppsh {shim!r}"))
