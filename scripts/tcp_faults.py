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
import sys
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [os.path.join(HERE, "..", "tests"), os.path.join(HERE, "..", "tests", "system")]

from conftest import Shell  # noqa: E402
from pyroute2 import netns as pr_netns  # noqa: E402
from tcp_peer import setup_tap  # noqa: E402
from test_tcp_faults import FAULTS, stream_through  # noqa: E402


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
            sh = Shell()
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
