"""Two pg interfaces with vppsh routing between them (pg0 -> vppsh -> pg1), for the neighbour and
ARP tests: their MACs, frames injected at an interface's ethernet-input, and `show errors` rows."""

from __future__ import annotations

import numpy as np

VPP0, VPP1 = "02:00:00:00:00:01", "02:00:00:00:00:02"
PEER0, PEER1 = "02:fe:00:00:00:01", "02:fe:00:00:00:02"


def setup(shell, pg1_addr: str) -> list[bytes]:
    """pg0 (10.10.1.2/24, its peer 10.10.1.1 a static neighbour) and pg1 (`pg1_addr`), up;
    returns the list that collects what leaves pg1."""
    vm = shell.vm
    for i, (mac, addr) in enumerate(((VPP0, "10.10.1.2/24"), (VPP1, pg1_addr))):
        shell.run(f"create packet-generator interface pg{i} hw-addr {mac}")
        shell.run(f"set interface state pg{i} up")
        shell.run(f"set interface ip address pg{i} {addr}")
    shell.run(f"set ip neighbor pg0 10.10.1.1 {PEER0} static")
    sent: list[bytes] = []
    dev = vm.interfaces.by_name["pg1"].hw.device

    def tx(node, frame):
        sent.extend(vm.buffers.packet(b) for b in frame.tolist())
        vm.buffers.free(frame)

    shell.call(lambda: setattr(dev, "tx", tx))
    return sent


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
