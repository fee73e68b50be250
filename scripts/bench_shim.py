#!/usr/bin/env python3
"""Preload-shim benchmarks (issue 5's targets), each beside its kernel reference in the same run.
Needs root, /dev/net/tun, iperf3, nginx and wrk; every address is inside namespaces this script
creates and removes; every process it starts is stopped by its PID.

vppsh runs in this process with the seed's topology on a gso tap (vppsh 10.0.0.0, the kernel
10.0.0.1 in a peer namespace); programs under `vppsh exec` run in an app namespace with no
routes. The reference is the same program pair on the kernel, across a veth pair between two
namespaces (bench_tcp.VethPair).

1. iperf3 through the shim to a kernel iperf3 (both directions, -R), beside iperf3 over the
   veth pair. Goal >= 20% of veth. The shim's apps get a vcl.conf with 4 MB fifos (as the
   seed's, and VPP's iperf3 examples); Linux autotunes its buffers up to 6 MB.
2. nginx (master + 2 workers) through the shim, wrk from the peer namespace (a 612-byte file,
   50 connections), beside the same nginx on the kernel across the veth pair. Goal >= 30%.
3. An idle preloaded server blocked in epoll_wait / poll: its CPU over 5 s. Goal ~0%.

Usage: sudo .venv/bin/python scripts/bench_shim.py [--seconds N]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import uuid

from tabulate import tabulate

from bench_tcp import VethPair, Vpp

CMD = "sudo .venv/bin/python scripts/bench_shim.py"
VPPSH = os.path.join(os.path.dirname(sys.executable), "vppsh")
NGINX = """daemon off; master_process on; worker_processes 2; user root;
pid {d}/nginx.pid; error_log {d}/error.log crit;
events {{ use epoll; worker_connections 1024; }}
http {{ access_log off; sendfile on; tcp_nodelay on; keepalive_requests 100000;
  client_body_temp_path {d}/b; proxy_temp_path {d}/p; fastcgi_temp_path {d}/f; uwsgi_temp_path {d}/u;
  scgi_temp_path {d}/s; server {{ listen {ip}:8080; root {d}; }} }}
"""
IDLE = r"""
import select, socket, sys, time
s = socket.socket(); s.bind(("0.0.0.0", 7070)); s.listen()
c = socket.create_connection(("10.0.0.1", 7071))
ep = select.epoll(); ep.register(s, select.EPOLLIN); ep.register(c, select.EPOLLIN)
print("ready", flush=True)
ep.poll(60)
"""


class Procs:
    """Each program in a process group of its own, stopped as a group: nginx's workers must not
    outlive their master (a master that dies first leaves them to init)."""

    def __init__(self) -> None:
        self.all: list[subprocess.Popen] = []

    def start(self, argv, **kw) -> subprocess.Popen:
        kw.setdefault("stdin", subprocess.DEVNULL)
        p = subprocess.Popen(argv, start_new_session=True, **kw)
        self.all.append(p)
        return p

    @staticmethod
    def stop(p: subprocess.Popen, grace: float = 10) -> None:
        for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, None)):
            try:
                os.killpg(p.pid, sig)  # the group's id is the leader's pid
            except ProcessLookupError:
                break
            try:
                p.wait(wait)
            except subprocess.TimeoutExpired:
                continue
            if sig == signal.SIGTERM:  # the leader is gone: make sure no member stays
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            break

    def stop_all(self) -> None:
        for p in self.all:
            self.stop(p, grace=0.5)


def ns(name: str, *argv: str) -> list[str]:
    return ["nsenter", f"--net=/run/netns/{name}", *argv]


def wait_listen(netns: str, port: int, timeout: float = 15) -> None:
    end = time.time() + timeout
    while time.time() < end:
        out = subprocess.run(ns(netns, "ss", "-Hltn"), capture_output=True, text=True).stdout
        if f":{port} " in out:
            return
        time.sleep(0.1)
    raise RuntimeError(f"nothing listens on {port} in {netns}")


def wait_vppsh_listen(vpp: Vpp, port: int, timeout: float = 15) -> None:
    end = time.time() + timeout
    while time.time() < end:
        if f":{port}->0.0.0.0:0" in vpp.run("show session verbose"):
            return
        time.sleep(0.1)
    raise RuntimeError(f"nothing listens on {port} in vppsh")


def iperf(procs: Procs, srv_ns: list[str], cli: list[str], ip: str, seconds: int, reverse: bool) -> float:
    s = procs.start(srv_ns + ["iperf3", "-s", "-1"], stdout=subprocess.DEVNULL)
    time.sleep(0.7)
    out = subprocess.run(cli + ["iperf3", "-c", ip, "-t", str(seconds), "-J"] + (["-R"] if reverse else []),
                         capture_output=True, text=True, timeout=seconds + 60, stdin=subprocess.DEVNULL)
    s.wait(10)
    return json.loads(out.stdout)["end"]["sum_received"]["bits_per_second"]


def wrk(argv_ns: list[str], url: str, seconds: int) -> float:
    out = subprocess.run(argv_ns + ["wrk", "-t2", "-c50", f"-d{seconds}s", url], capture_output=True, text=True,
                         timeout=seconds + 60).stdout
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if not m or "Socket errors" in out:
        raise RuntimeError(out)
    return float(m.group(1))


def cpu(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def nginx_rows(procs, vpp, veth, shim, peer, d, t, rows) -> str:
    """nginx on the kernel over the veth pair, then through the shim; wrk from the peer side.
    Returns `show runtime` after the shim run."""
    conf = os.path.join(d, "nginx-ref.conf")
    with open(conf, "w") as f:
        f.write(NGINX.format(d=d, ip="10.8.0.2"))
    ng = procs.start(ns(veth.b, "nginx", "-c", conf))
    wait_listen(veth.b, 8080)
    ref = wrk(ns(veth.a), "http://10.8.0.2:8080/index.html", t)
    procs.stop(ng)
    conf = os.path.join(d, "nginx-shim.conf")
    with open(conf, "w") as f:
        f.write(NGINX.format(d=d, ip="0.0.0.0"))
    ng = procs.start(shim + ["nginx", "-c", conf])
    wait_vppsh_listen(vpp, 8080)
    c0 = sum(os.times()[:2])  # the engine is this process's only busy thread
    got = wrk(ns(peer), "http://10.0.0.0:8080/index.html", t)
    per_req = (sum(os.times()[:2]) - c0) / (got * t)
    rows.append(("nginx + wrk -c50, 612 B file", f"{got:,.0f} req/s", f"veth {ref:,.0f} req/s", got / ref, 0.30))
    rows.append(("  engine CPU per request", f"{per_req * 1e6:.0f} µs", "", None, ""))
    rt = vpp.run("show runtime") + vpp.run("show interface")
    procs.stop(ng)
    return rt


def idle_row(procs, shim, peer, rows) -> None:
    sink = procs.start(ns(peer, "sh", "-c", "exec socat -u TCP-LISTEN:7071,reuseaddr STDOUT > /dev/null"))
    wait_listen(peer, 7071)
    idle = procs.start(shim + [sys.executable, "-c", IDLE], stdout=subprocess.PIPE, text=True)
    assert idle.stdout.readline().startswith("ready")
    c0 = cpu(idle.pid)
    time.sleep(5)
    used = (cpu(idle.pid) - c0) / 5
    rows.append(("idle preloaded server in epoll_wait", f"{used:.1%} CPU", "VPP's LDP: 100%", None, None))
    idle.kill()
    sink.kill()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=5)
    ap.add_argument("--only", choices=("iperf", "nginx", "idle"), help="one part (for profiling)")
    ap.add_argument("--runtime", action="store_true",
                    help="print `show runtime` and the interface counters after the nginx run")
    args = ap.parse_args()
    t, only = args.seconds, args.only
    from pyroute2 import netns as pr_netns

    from vppsh.vcl.server import ApiServer

    tag = uuid.uuid4().hex[:6]
    peer, app = f"vppsh-bs-{tag}-p", f"vppsh-bs-{tag}-a"
    d = tempfile.mkdtemp(prefix="vppsh-bench-")
    with open(os.path.join(d, "index.html"), "wb") as f:
        f.write(b"x" * 612)  # nginx's default index.html size
    api = os.path.join(d, "api.sock")
    procs, vpp, veth = Procs(), None, None
    rows = []
    try:
        veth = VethPair(tag)
        pr_netns.create(app)
        vpp = Vpp()
        for line in (f"create tap id 0 host-ns {peer} host-ip4-addr 10.0.0.1/31 gso", "set interface state tap0 up",
                     "set interface ip address tap0 10.0.0.0/31", "session enable"):
            vpp.run(line)
        vpp.engine.call(ApiServer(vpp.engine.vm, api).start)
        vcl = os.path.join(d, "vcl.conf")  # fifos the size of Linux's largest autotuned buffers, as VPP's iperf3 setups
        with open(vcl, "w") as f:
            f.write(f"vcl {{\n  rx-fifo-size 4000000\n  tx-fifo-size 4000000\n  app-socket-api {api}\n}}\n")
        shim = ns(app, VPPSH, "exec", "--vcl-config", vcl, "--api-socket", api, "--")
        # 1. iperf3
        for rev, name in ((False, "shim sends"), (True, "shim receives")) if only in (None, "iperf") else ():
            ref = iperf(procs, ns(veth.b), ns(veth.a), "10.8.0.2", t, rev)
            got = iperf(procs, ns(peer), shim, "10.0.0.1", t, rev)
            rows.append((f"iperf3 TCP, {name}", f"{got / 1e9:.2f} Gbit/s", f"veth {ref / 1e9:.1f} Gbit/s",
                         got / ref, 0.20))
        # 2. nginx + wrk
        rt = nginx_rows(procs, vpp, veth, shim, peer, d, t, rows) if only in (None, "nginx") else ""
        # 3. idle
        if only in (None, "idle"):
            idle_row(procs, shim, peer, rows)
    finally:
        procs.stop_all()
        if vpp is not None:
            vpp.stop()
        if veth is not None:
            veth.close()
        for n in (app, peer):
            if os.path.exists(f"/run/netns/{n}"):
                pr_netns.remove(n)
        subprocess.run(["rm", "-rf", d])
    print(f"`{CMD} --seconds {t}{' --only ' + only if only else ''}`\n")
    table = [(what, got, ref, f"{ratio:.0%}" if ratio is not None else "",
              (f">= {goal:.0%} {'met' if ratio >= goal else '**not met**'}") if goal else "~0%" if goal is None else "")
             for what, got, ref, ratio, goal in rows]
    print(tabulate(table, headers=("what", "vppsh + shim", "reference (same run)", "ratio", "goal"),
                   tablefmt="github", disable_numparse=True))
    from bench_tcp import python_speed, top_nodes

    print(f"\n{python_speed()}.")

    if rt:
        print(f"\nengine time during nginx: {top_nodes(rt)}")
        if args.runtime:
            print(f"\n{rt}")


if __name__ == "__main__":
    main()
