"""The engine without threads: frames, next-node enqueue, errors, exceptions, processes, trace."""

import time

import numpy as np

from vppsh.vlib.buffer import PRE_DATA
from vppsh.vlib.main import VlibMain
from vppsh.vlib.node import Node, NodeType
from vppsh.vlib.process import Wait, WaitEvent


class Source(Node):
    """An input node that emits `n` 64-byte buffers once, marked with their sequence number."""

    name = "test-source"
    type = NodeType.INPUT
    next_nodes = ("test-split",)

    def __init__(self, vm, n):
        super().__init__(vm)
        self.n = n

    def poll(self):
        if not self.n:
            self.state = "disabled"
            return 0
        bi = self.vm.buffers.alloc(self.n)
        self.vm.buffers.current_length[bi] = 64
        self.vm.buffers.data[bi, PRE_DATA] = np.arange(len(bi)) % 2
        self.vm.trace.mark_input(self, bi)
        self.next(0, bi)
        self.n = 0
        return len(bi)

    def format_trace(self, b):
        return f"made buffer {b}"


class Split(Node):
    """Odd first byte -> sink, even -> dropped with a counted reason."""

    name = "test-split"
    next_nodes = ("test-sink",)
    errors = (("even packets", "info"),)

    def process(self, frame):
        odd = self.vm.buffers.data[frame, PRE_DATA] == 1
        self.next(0, frame[odd])
        self.drop(frame[~odd], self.err["even packets"])


class Sink(Node):
    name = "test-sink"

    def __init__(self, vm):
        super().__init__(vm)
        self.frames = []

    def process(self, frame):
        self.frames.append(len(frame))
        self.vm.buffers.free(frame)


class Boom(Node):
    name = "test-sink"

    def process(self, frame):
        raise ValueError("bad node")


def build(n, sink_cls=Sink):
    vm = VlibMain(n_buffers=4096, frame_size=256)  # VPP's frame size, to see frames split
    src = vm.register(Source(vm, n))
    vm.register(Split(vm))
    sink = vm.register(sink_cls(vm))
    return vm, src, sink


def test_frames_are_at_most_256_and_split_by_next():
    vm, src, sink = build(1000)
    vm.run_once(0)
    split = vm.node("test-split")
    assert split.vectors == 1000 and split.calls == 4  # 256 * 3 + 232
    assert sum(sink.frames) == 500 and max(sink.frames) <= 256
    assert vm.errors.value("test-split", "even packets") == 500
    assert vm.buffers.n_free == vm.buffers.n  # everything freed


def test_node_exception_is_contained():
    vm, src, _ = build(300, Boom)
    vm.run_once(0)
    assert vm.errors.value("test-sink", "node exceptions") >= 1
    assert vm.buffers.n_free == vm.buffers.n  # the lost frames were freed, nothing leaked
    assert any("bad node" in e[3] for e in vm.logs.entries)
    src.n, src.state = 10, "polling"
    vm.run_once(0)  # and the engine keeps going
    assert vm.node("test-split").vectors == 310


def test_process_wait_and_events():
    vm = VlibMain(n_buffers=64)
    log = []

    def proc():
        log.append("start")
        yield Wait(0.01)
        log.append("woke")
        got = yield WaitEvent(timeout=5)
        log.append(got)
        got = yield WaitEvent(timeout=0.01)
        log.append(got)

    p = vm.spawn("test-proc", proc())
    vm.run_once(0)
    assert log == ["start"] and p.state == "time wait"
    import time

    time.sleep(0.02)
    vm.run_once(0)
    assert log == ["start", "woke"] and p.state == "any wait"
    vm.signal(p, "ping", 42)
    vm.run_once(0)
    assert log[2] == [("ping", 42)]
    time.sleep(0.02)
    vm.run_once(0)
    vm.run_once(0)
    assert log[3] == [] and p.done
    assert "test-proc" not in vm.node_by_name


def test_a_far_timer_does_not_stop_the_engine():
    """epoll sleeps at most INT_MAX ms: a timer years away (a CLI `wait` on a stream at 1e-9
    pps, a u32 of seconds) must not raise in the loop and end the engine thread."""
    vm = VlibMain(n_buffers=64)
    vm.start()
    try:
        def far():
            yield Wait(1e9)

        vm.call(lambda: vm.spawn("far", far())).result(timeout=5)
        time.sleep(0.1)  # the loop goes to sleep on that timer
        assert vm.call(lambda: 42).result(timeout=5) == 42
    finally:
        vm.stop()


def test_trace_records_the_node_path():
    vm, src, _ = build(4)
    vm.trace.add_budget(src, 2)
    vm.run_once(0)
    text = vm.trace.format()
    assert text.count("Packet ") == 2
    assert "test-source\n  made buffer" in text
    assert "test-split" in text
    vm.trace.clear()
    assert "No packets in trace buffer" in vm.trace.format()


def test_buffer_pool_double_free_is_harmless():
    vm = VlibMain(n_buffers=16)
    bi = vm.buffers.alloc(4)
    vm.buffers.free(bi)
    vm.buffers.free(bi)
    assert vm.buffers.n_free == 16
    assert len(vm.buffers.alloc(100)) == 16  # a dry pool gives what it has
