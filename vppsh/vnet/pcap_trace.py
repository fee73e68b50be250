"""`pcap trace rx tx drop`: capture what devices receive, what they transmit and what is dropped
into a classic pcap file that tcpdump and Wireshark read (VPP's vnet pcap trace)."""

from __future__ import annotations

import os

import numpy as np

from ..vlib.buffer import PRE_DATA, RX, TX
from .pcap import PcapWriter


class PcapTrace:
    def __init__(self, vm) -> None:
        self.vm = vm
        self.on = {"rx": False, "tx": False, "drop": False}
        self.active = False
        self.max = 100
        self.sw_if_index: int | None = None  # None = any
        self.path = ""
        self.count = 0
        self.writer: PcapWriter | None = None

    def start(self, rx: bool, tx: bool, drop: bool, max_packets: int, sw_if_index, name: str | None) -> None:
        self.stop()
        kinds = [k for k, v in (("rx", rx), ("tx", tx), ("drop", drop)) if v]
        default = "".join(k if i == 0 else "and" + k for i, k in enumerate(kinds)) + ".pcap"
        name = name or default
        self.path = name if os.path.isabs(name) else os.path.join("/tmp", name)
        self.writer = PcapWriter(self.path)
        self.on = {"rx": rx, "tx": tx, "drop": drop}
        self.max, self.sw_if_index, self.count = max_packets, sw_if_index, 0
        self.active = True

    def stop(self) -> int:
        n = self.count
        if self.writer is not None:
            self.writer.close()
            self.writer = None
        self.active = False
        return n

    def capture_drops(self, bi: np.ndarray) -> None:
        """error-drop's hook."""
        if self.active:
            self.capture("drop", bi)

    def capture(self, kind: str, bi: np.ndarray) -> None:
        """Record buffers (device rx/tx, or drops: those from their layer-2 start)."""
        if not self.on[kind] or self.count >= self.max:
            return
        buf = self.vm.buffers
        if self.sw_if_index is not None:
            side = TX if kind == "tx" else RX
            bi = bi[buf.sw_if_index[side, bi] == self.sw_if_index]
        for b in bi[: self.max - self.count]:
            b = int(b)
            cd = int(buf.current_data[b])
            start = PRE_DATA + (min(cd, 0) if kind == "drop" else cd)
            end = PRE_DATA + cd + int(buf.current_length[b])
            self.writer.write(buf.data[b, start:end].tobytes())
            self.count += 1
        if self.count >= self.max:
            self.writer.flush()

    def status(self) -> str:
        if not self.active:
            return "pcap capture is off..."
        kinds = " ".join(k for k, v in self.on.items() if v)
        sw = None if self.sw_if_index is None else self.vm.interfaces.get(self.sw_if_index)
        intf = "any" if self.sw_if_index is None else (sw.name if sw else f"deleted ({self.sw_if_index})")
        return (f"pcap {kinds} capture is on: {self.count} of {self.max} packets captured, "
                f"interface {intf}, file {self.path}")
