"""Two pg interfaces with vppsh routing between them (pg0 -> vppsh -> pg1), for the neighbour and
ARP tests: their MACs, frames injected at an interface's ethernet-input, and `show errors` rows."""

from __future__ import annotations

import numpy as np

VPP0, VPP1 = "02:00:00:00:00:01", "02:00:00:00:00:02"
PEER0, PEER1 = "02:fe:00:00:00:01", "02:fe:00:00:00:02"


def inject(shell, ifname: str, frames: list[bytes]) -> None:
    """`frames` into `ifname`'s ethernet-input, as if received there; then 50 ms of engine time."""
    vm = shell.vm
    sw = vm.interfaces.by_name[ifname].sw_if_index

    def go():
        bi = vm.buffers.alloc(len(frames))
        rows = np.zeros((len(frames), max(map(len, frames))), np.uint8)
        for i, f in enumerate(frames):
            rows[i, :len(f)] = np.frombuffer(f, np.uint8)
        vm.buffers.write(bi, rows, np.array([len(f) for f in frames]))
        vm.buffers.sw_if_index[0, bi] = sw
        vm.stage("ethernet-input", bi)

    shell.call(go)
    shell.run("wait 0.05")


def errors(shell, node: str) -> dict[str, int]:
    """`show errors` rows of `node`: reason -> count (columns: count 10, node 35, reason 35)."""
    rows = [(ln[:10].strip(), ln[10:45].strip(), ln[45:80].strip()) for ln in shell.run("show errors").splitlines()]
    return {reason: int(count) for count, n, reason in rows if n == node and count.isdigit()}
