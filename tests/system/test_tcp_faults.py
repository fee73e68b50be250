"""TCP under a bad network: loss, reordering, duplication, corruption and delay, applied to both
directions of the tap by `set interface nsim` (this kernel has no sch_netem). A kernel client
streams data through vppsh's echo server and checks the echo byte for byte; a stall (no progress
for 5 s) fails the test. scripts/tcp_faults.py runs the full matrix (100 MB, 10 times)."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from scripts.tcp_faults import FAULTS, STREAM
from tests.helpers.tcp_peer import VPP_IP, setup_tap

pytestmark = pytest.mark.root

def stream_through(ns, size: int, timeout: float = 240):
    return subprocess.run(["nsenter", f"--net=/run/netns/{ns}", sys.executable, "-c", STREAM, VPP_IP, "1234",
                           str(size)], capture_output=True, text=True, timeout=timeout)


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_echo_survives(shell, ns, fault):
    setup_tap(shell, ns)
    shell.run("test echo server uri tcp://0.0.0.0/1234 fifo-size 1024")
    shell.run(f"set interface nsim tap0 {FAULTS[fault]} seed 7")
    size = 4 << 20
    r = stream_through(ns, size)
    assert r.returncode == 0 and r.stdout.split() == [str(size), "True"], r.stdout + r.stderr
    counts = shell.run("show nsim")
    assert re.search(r"(dropped|reordered|duplicated|corrupted|delayed) [1-9]", counts), counts
    errors = shell.run("show errors")
    if fault == "corrupt":
        assert "bad tcp checksum" in errors or "bad ip4 checksum" in errors, errors
    assert "node exceptions" not in errors, errors
