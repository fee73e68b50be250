"""The loopback device (`create loopback interface`): VPP's loopN."""

from __future__ import annotations

import numpy as np

from ...vlib.buffer import F_GSO, F_LOCALLY_ORIGINATED, F_OFFLOAD
from ..interface import Device
from .offload import finish_in_place


class Loopback(Device):
    """A loopback: what it transmits comes back in on ethernet-input (VPP's loopN-tx)."""

    dev_class = "loopback"
    ethernet = True

    def __init__(self, instance: int) -> None:
        super().__init__()
        self.instance = instance

    def tx(self, node, frame):
        vm = node.vm
        sw_idx = vm.interfaces.by_name[self.hw.name].sw_if_index
        frame = finish_in_place(self, node, vm.buffers, frame)  # partial checksums: done here
        vm.buffers.sw_if_index[0, frame] = sw_idx
        vm.buffers.flags[frame] &= ~np.uint32(F_LOCALLY_ORIGINATED | F_OFFLOAD | F_GSO)  # TTL applies again
        vm.interfaces.count_rx(sw_idx, frame)
        vm.stage("ethernet-input", frame)

    def details(self):
        return []
