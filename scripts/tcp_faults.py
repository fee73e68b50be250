#!/usr/bin/env python3
"""Issue 4's fault matrix at full size: for each impairment (5% loss, 25% reordering,
1% duplication, 1% corruption, 50 ms delay — applied to both directions of the tap by
`set interface nsim`), a kernel client streams MB megabytes through vppsh's echo server, so
MB go each way, and checks the echo's sha256; REPEAT times each. A run fails on a mismatch
or on a stall of more than 5 s.

    sudo .venv/bin/python scripts/tcp_faults.py [--mb 100] [--repeat 10] [--only loss,delay]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
import uuid

from pyroute2 import netns as pr_netns

from vppsh.engine import Engine

FAULTS = {"loss": "loss 5", "reorder": "reorder 25", "duplicate": "duplicate 1", "corrupt": "corrupt 1",
          "delay": "delay 50"}
VPP_IP, KERNEL_IP = "10.0.0.2", "10.0.0.1"

# The kernel client: sends `size` random bytes and reads the echo concurrently; prints the bytes
# echoed and whether their sha256 matched; exits 3 on a stall > 5 s.
STREAM = r"""
import hashlib, os, socket, sys, threading, time
ip, port, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
s = socket.create_connection((ip, port), timeout=5)
data = os.urandom(size)
h, got, last = hashlib.sha256(), [0], [time.monotonic()]
def rd():
    while got[0] < size:
        try:
            d = s.recv(1 << 20)
        except socket.timeout:
            print("stall", got[0], flush=True); os._exit(3)
        if not d: break
        h.update(d); got[0] += len(d)
t = threading.Thread(target=rd); t.start()
for i in range(0, size, 1 << 20):  # sendall's timeout covers the whole call: 1 MB at a time
    try:
        s.sendall(data[i:i + (1 << 20)])
    except socket.timeout:
        print("stall sending", flush=True); os._exit(3)
t.join()
print(got[0], h.hexdigest() == hashlib.sha256(data).hexdigest())
"""


class Vpp:
    """An engine in this process, run like vppsh's console: a failing command raises."""

    def __init__(self) -> None:
        self.engine = Engine(write=lambda text: None)

    def run(self, line: str) -> None:
        err = self.engine.run(line, timeout=60)
        if err:
            raise RuntimeError(f"`{line}' failed: {err}")

    def close(self) -> None:
        self.engine.stop()


def setup_tap(vpp: Vpp, ns: str) -> None:
    """tap0 into namespace `ns`: the kernel at 10.0.0.1/24, vppsh at 10.0.0.2/24, sessions on."""
    vpp.run(f"create tap id 0 host-ns {ns} host-ip4-addr {KERNEL_IP}/24")
    vpp.run("set interface state tap0 up")
    vpp.run(f"set interface ip address tap0 {VPP_IP}/24")
    vpp.run("session enable")


def stream_through(ns: str, size: int, timeout: float):
    return subprocess.run(["nsenter", f"--net=/run/netns/{ns}", sys.executable, "-c", STREAM, VPP_IP, "1234",
                           str(size)], capture_output=True, text=True, timeout=timeout)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mb", type=int, default=100)
    ap.add_argument("--repeat", type=int, default=10)
    ap.add_argument("--only", default="")
    args = ap.parse_args()
    faults = [f for f in FAULTS if not args.only or f in args.only.split(",")]
    failed = 0
    print(f"{'fault':<10} {'run':>3} {'MB each way':>11} {'seconds':>8} {'Mbit/s each way':>15}  result")
    for fault in faults:
        for run in range(1, args.repeat + 1):
            ns = f"vppsh-f-{uuid.uuid4().hex[:8]}"
            sh = Vpp()
            try:
                setup_tap(sh, ns)
                sh.run("test echo server uri tcp://0.0.0.0/1234 fifo-size 4096")
                sh.run(f"set interface nsim tap0 {FAULTS[fault]} seed {run}")
                t0 = time.monotonic()
                r = stream_through(ns, args.mb << 20, timeout=3600)
                dt = time.monotonic() - t0
                ok = r.returncode == 0 and r.stdout.split() == [str(args.mb << 20), "True"]
                failed += not ok
                print(f"{fault:<10} {run:>3} {args.mb:>11} {dt:>8.1f} {args.mb * 8 / dt:>15.1f}  "
                      f"{'ok' if ok else 'FAILED ' + (r.stdout + r.stderr).strip()[-200:]}", flush=True)
            finally:
                sh.close()
                if os.path.exists(f"/run/netns/{ns}"):
                    pr_netns.remove(ns)
    print(f"\n{failed} failed. Command: sudo .venv/bin/python scripts/tcp_faults.py --mb {args.mb} "
          f"--repeat {args.repeat}" + (f" --only {args.only}" if args.only else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
