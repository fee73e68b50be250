"""virtio-input: the tap devices' rx node (VPP's name for it up to v25.10).

Interrupt mode: each tap fd sits in the engine's epoll; readiness marks the device and wakes
the node, which reads up to a frame per device per call and hands it to ethernet-input. A
device that filled a whole frame stays marked, so a busy tap is drained without sleeping.
"""

from __future__ import annotations

import select

from ...vlib.buffer import RX
from ...vlib.node import Node, NodeType


RX_BURST = 256  # packets per device per call, as VPP's rx burst (each is a syscall anyway)


class DeviceInput(Node):
    type = NodeType.INPUT
    next_nodes = ("ethernet-input", "error-drop")
    errors = (("interface is down", "error"),)

    def __init__(self, vm, name: str) -> None:
        super().__init__(vm, name)
        self.state = "interrupt wait"
        self.devices: dict[int, object] = {}  # fd -> device
        self.ready: set = set()

    def add(self, dev) -> None:
        fd = dev.fileno()
        self.devices[fd] = dev
        self.vm.add_fd(fd, select.EPOLLIN, lambda ev, d=dev: self._wake(d))

    def remove(self, dev) -> None:
        fd = dev.fileno()
        self.vm.del_fd(fd)
        self.devices.pop(fd, None)
        self.ready.discard(dev)
        self.backlog = bool(self.ready)

    def _wake(self, dev) -> None:
        self.ready.add(dev)
        self.interrupt_pending = True

    def poll(self) -> int:
        vm = self.vm
        total = 0
        for dev in list(self.ready):
            bi = dev.read_batch(vm.buffers, RX_BURST)
            if len(bi) < RX_BURST:
                self.ready.discard(dev)
            if not len(bi):
                continue
            sw = vm.interfaces.by_name.get(dev.hw.name)
            if sw is None or not sw.admin_up:
                self.drop(bi, self.err["interface is down"])
                continue
            vm.buffers.sw_if_index[RX, bi] = sw.sw_if_index
            if vm.nsim:
                imp = vm.nsim.get(sw.sw_if_index)
                if imp is not None:
                    bi = imp.apply("rx", self, bi)
            self.next(0, bi)  # staged first: if accounting below raises, the engine frees them
            vm.interfaces.count_rx(sw.sw_if_index, bi)
            if vm.pcap.active:
                vm.pcap.capture("rx", bi)
            if self.trace_budget:
                self._dev = dev
                vm.trace.mark_input(self, bi)
            total += len(bi)
        if self.ready:
            self.interrupt_pending = True
        self.backlog = bool(self.ready)  # a full burst left packets queued: the engine defers timers
        return total

    def format_trace(self, b):
        dev = getattr(self, "_dev", None)
        if dev is None:
            return ""
        return dev.format_rx_trace(b)
