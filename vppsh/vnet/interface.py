"""Interfaces: hardware (a device) and software (what IP and the CLI address) interfaces, counters.

Counters live in numpy arrays indexed by sw_if_index so nodes update a whole frame at once.
Each interface with a device gets `<name>-output` (counts tx, drops when admin down) and
`<name>-tx` (the device's transmit function) nodes, named as in VPP.
"""

from __future__ import annotations

import numpy as np

from ..vlib.node import Node
import logging

COMBINED = ("rx", "tx")
SIMPLE = ("drops", "punt", "ip4", "ip6", "rx-no-buf", "rx-miss", "rx-error", "tx-error", "mpls")


class Device:
    """What a hardware interface is: subclasses add rx/tx behaviour and `show hardware` lines."""

    dev_class = "local"
    ethernet = False
    link_follows_admin = True

    def __init__(self) -> None:
        self.hw = None  # set by Interfaces.create
        self.tx_errors = 0

    def admin_change(self, up: bool) -> None:
        """Bring the device itself up/down (tap carrier, af_packet socket...)."""

    def tx(self, node: Node, frame: np.ndarray) -> None:
        """Transmit a frame; the default frees it (a sink)."""
        node.vm.buffers.free(frame)

    def release_buffers(self) -> None:
        """Return buffers held between calls (pre-filled rx rings) to the pool."""

    def count_tx_errors(self, node: Node, k: int) -> None:
        """Packets the device could not send: its own count and the interface's tx-error."""
        if k > 0:
            self.tx_errors += k
            sw = getattr(node, "sw", None)
            if sw is not None:
                node.vm.interfaces.add_simple("tx-error", sw.sw_if_index, k)

    def details(self) -> list[str]:
        return [f"  {self.dev_class}"]

    def destroy(self) -> None:
        """Release the device's kernel objects (fds, taps, namespaces)."""


class HwInterface:
    def __init__(self, hw_if_index: int, name: str, device: Device, mac: bytes | None) -> None:
        self.hw_if_index = hw_if_index
        self.name = name
        self.device = device
        self.mac = mac
        self.link_up = False
        self.rx_mode = "polling"
        self.mtu = 9000 if device.ethernet else 0


class SwInterface:
    def __init__(self, sw_if_index: int, name: str, hw: HwInterface) -> None:
        self.sw_if_index = sw_if_index
        self.name = name
        self.hw = hw
        self.admin_up = False
        self.punt = False
        # L3 / IP4 / IP6 / MPLS protocol MTUs, 0 = unset (as `show interface` prints them)
        self.mtu = [hw.mtu, 0, 0, 0]

    @property
    def state(self) -> str:
        return ("up" if self.admin_up else "down") + ("/punt" if self.punt else "")


class InterfaceOutput(Node):
    """<if>-output: tx counters for the frame, then the device's tx node (or drop if down)."""

    errors = (("interface is down", "error"),)

    def __init__(self, vm, sw: SwInterface) -> None:
        super().__init__(vm, f"{sw.name}-output")
        self.sw = sw
        self.next_nodes = (f"{sw.name}-tx",)

    def process(self, frame):
        if not self.sw.admin_up:
            self.drop(frame, self.err["interface is down"])
            return
        self.vm.interfaces.count_tx(self.sw.sw_if_index, frame)
        self.next(0, frame)


class InterfaceTx(Node):
    output = True

    def __init__(self, vm, sw: SwInterface) -> None:
        super().__init__(vm, f"{sw.name}-tx")
        self.sw = sw

    def process(self, frame):
        vm = self.vm
        if vm.pcap.active:
            vm.pcap.capture("tx", frame)
        if vm.nsim:
            imp = vm.nsim.get(self.sw.sw_if_index)
            if imp is not None:
                frame = imp.apply("tx", self, frame)
                if not len(frame):
                    return
        self.sw.hw.device.tx(self, frame)


class Interfaces:
    def __init__(self, vm) -> None:
        self.vm = vm
        self.sw: list[SwInterface | None] = []
        self.hw: list[HwInterface | None] = []
        self.by_name: dict[str, SwInterface] = {}
        self.on_create: list = []  # subsystems that keep per-interface state (ethernet MACs, ip4)
        self.on_delete: list = []
        self._out_slots: dict[tuple[int, int], int] = {}  # (node index, sw_if_index) -> next slot
        self._cap = 0
        self._grow(64)
        local = self.create("local0", Device(), mac=None)
        local.hw.link_up = False

    # ------------------------------------------------------------ counters
    def _grow(self, cap: int) -> None:
        old = self._cap
        self._cap = cap

        def g(a, shape):
            b = np.zeros(shape, np.int64)
            if a is not None:
                b[..., :old] = a
            return b

        self.combined = g(getattr(self, "combined", None), (len(COMBINED), 2, cap))  # [rx|tx][pkts|bytes]
        self.simple = g(getattr(self, "simple", None), (len(SIMPLE), cap))

    def count_rx(self, sw_if_index: int, frame: np.ndarray) -> None:
        self._count(0, sw_if_index, frame)

    def count_tx(self, sw_if_index: int, frame: np.ndarray) -> None:
        self._count(1, sw_if_index, frame)

    def _count(self, which: int, sw_if_index: int, frame: np.ndarray) -> None:
        c = self.combined[which]
        c[0, sw_if_index] += len(frame)
        c[1, sw_if_index] += int(self.vm.buffers.current_length.take(frame).sum())

    def add_combined(self, which: int, sw_if_index: int, pkts: int, nbytes: int) -> None:
        """Count packets whose byte total the caller already knows (0: rx, 1: tx)."""
        c = self.combined[which]
        c[0, sw_if_index] += pkts
        c[1, sw_if_index] += nbytes

    def count_simple(self, name: str, sw_if_index: np.ndarray) -> None:
        if len(sw_if_index) and sw_if_index[0] < self._cap and (sw_if_index == sw_if_index[0]).all():
            self.simple[SIMPLE.index(name), sw_if_index[0]] += len(sw_if_index)
            return
        idx = sw_if_index[sw_if_index < self._cap]
        if len(idx):
            self.simple[SIMPLE.index(name)] += np.bincount(idx, minlength=self._cap)[: self._cap]

    def add_simple(self, name: str, sw_if_index: int, k: int = 1) -> None:
        if 0 <= sw_if_index < self._cap:
            self.simple[SIMPLE.index(name), sw_if_index] += k

    def count_drops(self, sw_if_index: np.ndarray) -> None:
        self.count_simple("drops", sw_if_index)

    def clear(self) -> None:
        self.combined[:] = 0
        self.simple[:] = 0

    # ------------------------------------------------------------ create / delete
    def create(self, name: str, device: Device, mac: bytes | None) -> SwInterface:
        if name in self.by_name:
            raise ValueError(f"interface {name} already exists")
        hw_idx = next((i for i, h in enumerate(self.hw) if h is None), len(self.hw))
        sw_idx = next((i for i, s in enumerate(self.sw) if s is None), len(self.sw))
        hw = HwInterface(hw_idx, name, device, mac)
        device.hw = hw
        sw = SwInterface(sw_idx, name, hw)
        for lst, idx, obj in ((self.hw, hw_idx, hw), (self.sw, sw_idx, sw)):
            if idx == len(lst):
                lst.append(obj)
            else:
                lst[idx] = obj
        if sw_idx >= self._cap:
            self._grow(self._cap * 2)
        self.combined[..., sw_idx] = 0
        self.simple[:, sw_idx] = 0
        self.by_name[name] = sw
        if sw_idx:  # local0 has no data path
            self.vm.register(InterfaceOutput(self.vm, sw))
            self.vm.register(InterfaceTx(self.vm, sw))
        for fn in self.on_create:
            fn(sw)
        return sw

    def output_next(self, node: Node, sw_if_index: int) -> int:
        """`node`'s next slot for `<if>-output` of sw_if_index (0, its first next, if gone)."""
        key = (node.index, sw_if_index)
        slot = self._out_slots.get(key)
        if slot is None:
            sw = self.get(sw_if_index)
            if sw is None:
                return 0
            slot = self._out_slots[key] = node.add_next(f"{sw.name}-output")
        return slot

    def delete(self, sw: SwInterface) -> None:
        for fn in self.on_delete:
            fn(sw)
        for key in [k for k in self._out_slots if k[1] == sw.sw_if_index]:
            del self._out_slots[key]
        self.set_admin(sw, False)
        sw.hw.device.destroy()
        for suffix in ("-output", "-tx"):
            n = self.vm.node_by_name.get(sw.name + suffix)
            if n is not None:
                self.vm.unregister(n)
        self.by_name.pop(sw.name, None)
        self.sw[sw.sw_if_index] = None
        self.hw[sw.hw.hw_if_index] = None

    def destroy_all(self) -> None:
        """Engine exit: release every device's kernel objects (fds, taps, namespaces)."""
        for sw in self.all():
            try:
                sw.hw.device.destroy()
            except Exception:  # keep cleaning up the others
                logging.getLogger("vppsh").exception("destroying %s failed", sw.name)

    def set_admin(self, sw: SwInterface, up: bool) -> None:
        if sw.admin_up == up:
            return
        sw.admin_up = up
        sw.hw.device.admin_change(up)
        if sw.hw.device.link_follows_admin:
            sw.hw.link_up = up

    def get(self, sw_if_index: int) -> SwInterface | None:
        return self.sw[sw_if_index] if 0 <= sw_if_index < len(self.sw) else None

    def all(self) -> list[SwInterface]:
        return sorted((s for s in self.sw if s is not None), key=lambda s: s.name)

    def counters(self, sw: SwInterface) -> list[tuple[str, int]]:
        """Non-zero counters in `show interface` order."""
        i = sw.sw_if_index
        out = []
        for w, name in enumerate(COMBINED):
            pk, by = self.combined[w, :, i]
            if pk:
                out += [(f"{name} packets", int(pk)), (f"{name} bytes", int(by))]
        for k, name in enumerate(SIMPLE):
            v = int(self.simple[k, i])
            if v:
                out.append((name, v))
        return out
