"""The packet generator at run time: streams, the pg-input node, pg interfaces and their capture.

pg-input fills a whole frame per stream per call: the template builds the packets as one numpy
array (ranges, lengths and checksums vectorised), copied into fresh buffers in one assignment.
A stream with a rate sleeps on a timer between bursts instead of spinning.
"""

from __future__ import annotations

import math
import os
import time

import numpy as np

from ...vlib.buffer import F_OFFLOAD, PRE_DATA, RX
from ...vlib.node import Node, NodeType
from ...wire.format import fe
from ..devices.offload import finish_in_place
from ..interface import Device
from ..ip4.rows import col_view
from ..pcap import PcapWriter, read_pcap
from ...wire import ethernet, ip4, ip6


class PgError(Exception):
    pass


class PcapTemplate:
    """Replays the packets of a pcap file in order, cycling."""

    def __init__(self, path: str) -> None:
        pkts = read_pcap(path)
        if not pkts:
            raise PgError(f"pcap file `{path}' has no packets")
        width = max(len(p) for p in pkts)
        self.rows = np.zeros((len(pkts), width), np.uint8)
        self.lengths = np.array([len(p) for p in pkts], np.uint32)
        for i, p in enumerate(pkts):
            self.rows[i, : len(p)] = np.frombuffer(p, np.uint8)

    def generate(self, seq0: int, n: int, sizes=None):
        idx = (seq0 + np.arange(n)) % len(self.rows)
        return self.rows[idx], self.lengths[idx]


CACHE_BYTES = 16 << 20


class Stream:
    def __init__(self, spec, template, next_slot: int, rx_sw_if_index: int) -> None:
        self.spec = spec
        self.name = spec.name
        self.template = template
        self.next_slot = next_slot
        self.rx = rx_sw_if_index
        self.enabled = False
        self.sent = 0
        self.credit = 0.0
        self.last = 0.0
        self._cycle = None  # (rows, lengths) for one period of a deterministic stream
        self._ext = None  # the period unrolled for fill(), see _extended

    def reconfigure(self, spec) -> None:
        """New parameters (`packet-generator configure`): the cached period no longer holds."""
        self.spec = spec
        self._cycle = self._ext = None

    def _period(self) -> int | None:
        """Packets after which a stream repeats: increments wrap in their ranges, sizes too."""
        edits = getattr(self.template, "edits", None)
        if edits is None or self.spec.size_mode == "random":
            return None
        period = 1
        for e in edits:
            if e.mode == "random":
                return None
            if e.mode == "increment":
                period = math.lcm(period, e.hi - e.lo + 1)
        if self.spec.size_min is not None and self.spec.size_max is not None:
            period = math.lcm(period, self.spec.size_max - self.spec.size_min + 1)
        return period

    def _make_cycle(self) -> None:
        period = self._period()
        width = max(self.spec.size_max or 0, getattr(self.template, "length", 0))
        if period is not None and period * max(width, 1) <= CACHE_BYTES:
            self._cycle = self.template.generate(0, period, self.spec.sizes(0, period)) + (period,)
        else:
            self._cycle = False

    def frames(self, n: int):
        """Rows and lengths of the next `n` packets: gathered from the cached period if any."""
        if self._cycle is None:
            self._make_cycle()
        if self._cycle:
            rows, lengths, period = self._cycle
            if period == 1:
                return np.broadcast_to(rows, (n, rows.shape[1])), np.broadcast_to(lengths, (n,))
            idx = (self.sent + np.arange(n)) % period
            return rows[idx], lengths[idx]
        return self.template.generate(self.sent, n, self.spec.sizes(self.sent, n))

    def fill(self, pool, bi: np.ndarray) -> int:  # bi: fresh buffers (any integer dtype)
        """Write the next len(bi) packets into fresh buffers (as pool.write); returns their bytes.

        A deterministic stream's period is kept unrolled to period + frame rows, so the next
        packets are a contiguous slice of it, written as one fancy assignment of whole rows
        (items of `width` bytes), and the byte count is a difference of prefix sums."""
        n = len(bi)
        ext = self._extended(n)
        if ext is None or ext[3] > pool.data_size or ext[0].dtype.itemsize > pool.data_size:
            rows, lengths = self.frames(n)
            pool.write(bi, rows, lengths)
            return int(pool.current_length[bi].sum())
        items, lengths, cum, _most, period = ext
        i = self.sent % period
        col_view(pool, PRE_DATA, items.dtype)[bi] = items[i:i + n]
        pool.current_length[bi] = lengths[i:i + n]
        return int(cum[i + n] - cum[i])

    def _extended(self, n: int):
        """(row items, lengths, their prefix sums, the longest length, period) for a cached
        period unrolled to at least period + n rows; None when the stream has no cached period."""
        ext = self._ext
        if ext is not None and len(ext[1]) >= ext[4] + n:
            return ext
        if self._cycle is None:
            self._make_cycle()
        if not self._cycle:
            return None
        rows, lengths, period = self._cycle
        width = rows.shape[1]
        if not width or (period + n) * width > 2 * CACHE_BYTES:
            return None
        idx = np.arange(period + max(n, 256)) % period
        ext_rows = np.ascontiguousarray(np.broadcast_to(rows, (period, width))[idx], dtype=np.uint8)
        ext_len = np.broadcast_to(lengths, (period,))[idx].astype(np.uint32)
        cum = np.concatenate([[0], np.cumsum(ext_len, dtype=np.int64)])
        items = ext_rows.view(f"V{width}").reshape(len(idx))
        self._ext = (items, ext_len, cum, int(ext_len.max()), period)
        return self._ext

    @property
    def limit(self) -> int:
        return self.spec.limit

    def due(self, now: float, most: int) -> int:
        """How many packets may go now (rate credit, limit, frame size)."""
        n = most
        if self.spec.maxframe:
            n = min(n, self.spec.maxframe)
        if self.limit:
            n = min(n, self.limit - self.sent)
        if self.spec.rate:
            self.credit = min(self.credit + (now - self.last) * self.spec.rate, float(most))
            self.last = now
            n = min(n, int(self.credit))
            self.credit -= max(n, 0)
        return max(n, 0)

    def parameters(self) -> str:
        s = self.spec

        lo = s.size_min if s.size_min is not None else self.template_len()
        hi = s.size_max if s.size_max is not None else lo
        sep = "+" if s.size_mode == "random" else "-"
        return (f"limit {s.limit}, rate {fe(s.rate)} pps, size {lo}{sep}{hi}, "
                f"buffer-size {s.buffer_size}, worker {s.worker or 0}, ")

    def template_len(self) -> int:
        _rows, lengths = self.template.generate(0, 1)
        return int(lengths[0])


class PgInput(Node):
    name = "pg-input"
    type = NodeType.INPUT

    def __init__(self, vm, pg: "PacketGenerator") -> None:
        super().__init__(vm)
        self.pg = pg
        self.state = "disabled"
        self._stream: Stream | None = None
        self._wake = None

    def poll(self) -> int:
        vm = self.vm
        now = time.monotonic()
        total = 0
        soonest = None
        for s in list(self.pg.streams.values()):
            if not s.enabled:
                continue
            n = s.due(now, vm.frame_size)
            if n > 0:
                bi = vm.buffers.alloc(n)
                if len(bi):
                    self.next(s.next_slot, bi)  # staged first: if anything below raises, freed
                    fi = bi.astype(np.intp)  # numpy indexes with intp about twice as fast
                    nbytes = s.fill(vm.buffers, fi)
                    vm.buffers.sw_if_index[RX][fi] = s.rx
                    if s.rx:
                        vm.interfaces.add_combined(0, s.rx, len(bi), nbytes)
                    if self.trace_budget:
                        self._stream = s
                        vm.trace.mark_input(self, bi)
                    s.sent += len(bi)
                    total += len(bi)
            if s.limit and s.sent >= s.limit:
                s.enabled = False
            elif s.spec.rate and s.enabled:
                wait = max(0.0, (1.0 - s.credit) / s.spec.rate)
                soonest = wait if soonest is None else min(soonest, wait)
        self._schedule(soonest)
        return total

    def _schedule(self, soonest: float | None) -> None:
        """Poll while a stream runs flat out; otherwise sleep until the next paced packet."""
        streams = [s for s in self.pg.streams.values() if s.enabled]
        if any(not s.spec.rate for s in streams):
            self.state = "polling"
        elif streams:
            self.state = "interrupt wait"
            if soonest is not None and soonest > 0.0005:
                if self._wake is not None:
                    self.vm.timers.cancel(self._wake)
                self._wake = self.vm.timer(soonest, self._interrupt)
            else:
                self.interrupt_pending = True
        else:
            self.state = "disabled"

    def _interrupt(self) -> None:
        self._wake = None
        self.interrupt_pending = True

    def format_trace(self, b):
        s = self._stream
        buf = self.vm.buffers
        length = int(buf.current_length[b])
        lines = [f"stream {s.name if s else '?'}, {length} bytes, sw_if_index {int(buf.sw_if_index[RX, b])}",
                 f"current data {int(buf.current_data[b])}, length {length}, buffer-pool 0, ref-count 1, "
                 f"trace handle 0x{int(buf.trace_index[b]):x}"]
        lines += describe_packet(buf.packet(b), s.spec.node if s else "")
        return "\n".join(lines)


def describe_packet(pkt: bytes, node: str) -> list[str]:
    """Decode headers for a trace line; ip nodes get an IP header, others an ethernet one."""
    try:
        if node.startswith("ip4") and len(pkt) >= 20:
            return ip4.format_ip4_header(pkt).splitlines()
        if node.startswith("ip6") and len(pkt) >= 40:
            return ip6.format_ip6_header(pkt).splitlines()
        if len(pkt) >= 14:
            lines = [ethernet.format_ethernet_header(pkt)]
            if pkt[12:14] == b"\x08\x00" and len(pkt) >= 34:
                lines += ["  " + x for x in ip4.format_ip4_header(pkt[14:]).splitlines()]
            elif pkt[12:14] == b"\x86\xdd" and len(pkt) >= 54:
                lines += ["  " + x for x in ip6.format_ip6_header(pkt[14:]).splitlines()]
            return lines
    except Exception:  # a trace line must never break the data path
        pass
    return [f"0x{pkt[:32].hex()}"]


class PgDevice(Device):
    """A pg interface: a sink for transmitted packets, optionally captured to a pcap file."""

    dev_class = "pg"
    ethernet = True

    def __init__(self, instance: int) -> None:
        super().__init__()
        self.instance = instance
        self.capture: PcapWriter | None = None
        self.capture_left = 0
        self.capture_path = ""

    def tx(self, node, frame):
        vm = node.vm
        if (vm.buffers.flags[frame.astype(np.intp)] & F_OFFLOAD).any():  # else nothing to finish
            frame = finish_in_place(self, node, vm.buffers, frame)  # captures show final checksums
        if self.capture is not None:
            if self.capture_left:
                frame_c = frame[: self.capture_left]
            else:
                frame_c = frame
            for b in frame_c:
                self.capture.write(vm.buffers.packet(int(b)))
            if self.capture_left:
                self.capture_left -= len(frame_c)
                if self.capture_left <= 0:
                    self.stop_capture()
        vm.buffers.free(frame)

    def stop_capture(self) -> None:
        if self.capture is not None:
            self.capture.close()
            self.capture = None

    def destroy(self) -> None:
        self.stop_capture()

    def details(self):
        return []


class PacketGenerator:
    def __init__(self, vm) -> None:
        self.vm = vm
        self.streams: dict[str, Stream] = {}
        self.input = vm.register(PgInput(vm, self))

    def add(self, spec) -> Stream:
        if spec.name is None:  # VPP names unnamed streams by index
            spec.name = next(f"stream{i}" for i in range(len(self.streams) + 1)
                             if f"stream{i}" not in self.streams)
        vm = self.vm
        rx = 0
        if spec.interface:
            sw = vm.interfaces.by_name.get(spec.interface)
            if sw is None:
                raise PgError(f"unknown interface `{spec.interface}'")
            rx = sw.sw_if_index
        node = spec.node
        if not node and spec.tx_interface:
            node = f"{spec.tx_interface}-output"
        if not node:
            raise PgError("output interface or node not given")
        if node not in vm.node_by_name:
            raise PgError(f"unknown node `{node}'")
        if spec.pcap:
            if not os.path.isfile(spec.pcap):
                raise PgError(f"pcap file `{spec.pcap}' not found")
            template = PcapTemplate(spec.pcap)
        elif spec.data is not None:
            template = spec.data
        else:
            raise PgError("no packet data given")
        s = Stream(spec, template, self.input.add_next(node), rx)
        try:  # build a deterministic stream's packets now, as VPP builds its templates on creation
            s._extended(vm.frame_size)
        except Exception:  # a template that cannot generate fails in pg-input, counted there
            s._cycle = s._ext = None
        self.streams.pop(spec.name, None)  # a stream of the same name is replaced, as in VPP
        self.streams[spec.name] = s
        return s

    def set_enabled(self, name: str | None, on: bool) -> None:
        targets = [self.streams[name]] if name else list(self.streams.values())
        now = time.monotonic()
        for s in targets:
            if on and not s.enabled:
                if s.limit and s.sent >= s.limit:
                    s.sent = 0  # re-enabling a finished stream sends it again, as in VPP
                s.last, s.credit = now, 1.0
            s.enabled = on
        self.input._schedule(0.0)
        self.vm.wake()

    def delete(self, name: str) -> None:
        del self.streams[name]
        self.input._schedule(None)

    def create_interface(self, instance: int, mac: bytes | None):
        name = f"pg{instance}"
        sw = self.vm.interfaces.by_name.get(name)
        if sw is not None:
            return sw
        if mac is None:
            mac = bytes([0x02, 0xFE]) + os.urandom(4)
        return self.vm.interfaces.create(name, PgDevice(instance), mac)
