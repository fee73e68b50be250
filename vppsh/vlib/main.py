"""VlibMain: the engine. One thread owns all state; everything else talks to it through `call()`.

Each loop: epoll (sleeping until the next timer when nothing polls, so an idle engine costs ~0%
CPU), input nodes, pending frames until none, expired timers, ready processes. CLI commands run
inside process nodes on this thread between dispatch rounds, so no state needs a lock.
"""

from __future__ import annotations

import gc
import logging
import os
import queue
import select
import signal
import threading
import time
import traceback
from collections import deque
from concurrent.futures import Future

import numpy as np

from .buffer import BufferPool
from .errors import ErrorCounters
from .node import ErrorDrop, ErrorPunt, Node, NodeType, NullNode
from .process import Process, Timers, Wait, WaitEvent
from .trace import Trace

# VPP's VLIB_FRAME_SIZE is 256, sized for C's caches. Here each node call costs a fixed numpy
# overhead, so longer vectors pay: pg -> ip4 forwarding moves several times the packets at 4096.
# Under light load frames are as small as the traffic anyway. `vppsh --frame-size` changes it.
FRAME_SIZE = 4096
N_BUFFERS = 32768
SCALAR_MAX = 4  # frames this small take the nodes' scalar common-case path (latency)
TIMER_DEFER_MAX = 0.05  # s a timer may wait while input is backlogged (run_once)
log = logging.getLogger("vppsh")


def _cpu_hz() -> float:
    """Clocks in `show runtime` are ns scaled by the CPU's nominal rate, as VPP reads the TSC."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("cpu MHz"):
                    return float(line.split(":")[1]) * 1e6
    except OSError:
        pass
    return 2e9


class LogRing:
    """`show logging`: the last entries, VPP's columns (time, level, class, message)."""

    def __init__(self, size: int = 512) -> None:
        self.entries: deque = deque(maxlen=size)

    def add(self, level: str, cls: str, msg: str) -> None:
        self.entries.append((time.time(), level, cls, msg))
        getattr(log, {"notice": "info", "err": "error", "warn": "warning"}.get(level, level), log.info)(
            "%s: %s", cls, msg)


class VlibMain:
    def __init__(self, n_buffers: int = N_BUFFERS, frame_size: int = FRAME_SIZE) -> None:
        # Thousands of live connections/sessions make every default gen-0 collection (each 700
        # allocations) walk into costly older generations: collect far less often (+20% conn/s).
        gc.set_threshold(50_000, 50, 100)
        self.frame_size = frame_size
        self.buffers = BufferPool(n_buffers)
        self.errors = ErrorCounters()
        self.trace = Trace(self)
        self.logs = LogRing()
        self.timers = Timers()
        self.cpu_hz = _cpu_hz()
        self.start_time = time.monotonic()
        self.nodes: list[Node | None] = []  # by index; ended processes leave a reusable hole
        self._free_slots: list[int] = []
        self.node_by_name: dict[str, Node] = {}
        self.input_nodes: list[Node] = []
        self._pending: dict[int, list[np.ndarray]] = {}
        self._order: deque[int] = deque()
        self._staged: list | None = None
        self._staged1: dict[int, list[int]] | None = None  # stage1()'s single buffers, per target
        self._ready: deque[tuple[Process, object]] = deque()
        self._rpc: queue.SimpleQueue = queue.SimpleQueue()
        self._epoll = select.epoll()
        self._fd_handlers: dict[int, object] = {}
        self._wake_r, self._wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self.add_fd(self._wake_r, select.EPOLLIN, self._drain_wake)
        self.thread: threading.Thread | None = None
        self.stopping = False
        self.loops = 0
        self.at_exit: list = []  # cleanups, run on the engine thread at stop (taps, namespaces...)
        self.memory_users: list = []  # `show memory` lines of the layers above (fifo budgets...)
        self.clear_runtime()
        self.drop_hooks: list = []  # what the layers above do with dropped frames (pcap, counters)
        for cls in (NullNode, ErrorDrop, ErrorPunt):
            self.register(cls(self))

    # ------------------------------------------------------------ graph
    def register(self, node: Node) -> Node:
        if node.name in self.node_by_name:
            raise ValueError(f"node {node.name} already exists")
        if node.type == NodeType.PROCESS and self._free_slots:
            node.index = self._free_slots.pop()  # processes never receive frames: safe to reuse
            self.nodes[node.index] = node
        else:
            node.index = len(self.nodes)
            self.nodes.append(node)
        self.node_by_name[node.name] = node
        for n in node.next_nodes:
            node.add_next(n)
        for e in node.errors:
            reason, sev = (e, "error") if isinstance(e, str) else e
            node.err[reason] = self.errors.register(node.name, reason, sev)
        if node.type in (NodeType.INPUT, NodeType.PRE_INPUT):
            self.input_nodes.append(node)
        return node

    def unregister(self, node: Node) -> None:
        """Remove a node (a deleted interface's tx node, an ended CLI session's process)."""
        self.node_by_name.pop(node.name, None)
        if node in self.input_nodes:
            self.input_nodes.remove(node)
        node.state = "disabled"
        if node.type == NodeType.PROCESS and self.nodes[node.index] is node:
            self.nodes[node.index] = None
            self._free_slots.append(node.index)

    def node(self, name: str) -> Node:
        return self.node_by_name[name]

    # ------------------------------------------------------------ frames
    def stage(self, node_name: str, bi: np.ndarray) -> None:
        """Queue buffers for a node; staged while a node runs, committed when it returns."""
        target = self.node_by_name.get(node_name)
        if target is None:
            target = self.node_by_name["error-drop"]
        if self._staged is not None:
            self._staged.append((target.index, bi))
        else:
            self._enqueue(target.index, bi)

    def stage1(self, target_index: int, b: int) -> None:
        """Queue one buffer for node `target_index` without a numpy array per packet (scalar
        paths such as TCP's segment output): gathered into one array per target when the
        running node, process or timer round returns."""
        s = self._staged1
        if s is None:
            self._enqueue(target_index, np.array((b,), np.uint32))
            return
        lst = s.get(target_index)
        if lst is None:
            s[target_index] = [b]
        else:
            lst.append(b)

    def _begin_staging(self) -> None:
        self._staged = []
        self._staged1 = {}

    def _commit_staged(self) -> None:
        staged, self._staged = self._staged or [], None
        staged1, self._staged1 = self._staged1, None
        for idx, bi in staged:
            self._enqueue(idx, bi)
        if staged1:
            for idx, lst in staged1.items():
                self._enqueue(idx, np.array(lst, np.uint32))

    def _enqueue(self, idx: int, bi: np.ndarray) -> None:
        lst = self._pending.get(idx)
        if lst is None:
            self._pending[idx] = [bi]
            self._order.append(idx)
        else:
            lst.append(bi)

    def _call(self, node: Node, frame: np.ndarray | None) -> int:
        """Run one node dispatch with stats, trace and exception containment."""
        self._begin_staging()
        t0 = time.perf_counter_ns()
        n = 0
        try:
            if frame is None:
                n = node.poll()
            else:
                n = len(frame)
                if self.trace.active and not node.trace_in_process:
                    self.trace.record_frame(node, frame)
                if n <= SCALAR_MAX and node.fast1 is not None:
                    rest = [b for b in frame.tolist() if not node.fast1(b)]
                    if rest:
                        node.process(np.array(rest, np.uint32))
                else:
                    node.process(frame)
        except Exception:
            self._node_failed(node, frame)
            self._staged = self._staged1 = None
            return 0
        self._commit_staged()
        dt = time.perf_counter_ns() - t0
        node.calls += 1
        node.vectors += n
        node.clocks += dt
        if dt > node.max_clocks:
            node.max_clocks, node.vectors_at_max = dt, n
        return n

    def _node_failed(self, node: Node, frame) -> None:
        tb = traceback.format_exc()
        code = node.err.get("node exceptions")
        if code is None:
            code = node.err["node exceptions"] = self.errors.register(node.name, "node exceptions", "error")
        self.errors.counts[code] += 1
        self.logs.add("err", "vlib", f"node {node.name} raised, frame dropped:\n{tb.rstrip()}")
        lost = [bi for _i, bi in (self._staged or [])]
        lost += [np.array(lst, np.uint32) for lst in (self._staged1 or {}).values()]
        if frame is not None:
            lost.append(frame)
        if lost:
            self.buffers.free(np.concatenate(lost).astype(np.uint32))

    def dispatch_pending(self, budget: int = 4096) -> None:
        """Run pending frames; at most `budget` node calls, so a forwarding loop between nodes
        cannot starve timers, CLI and input (what is left runs next loop, without sleeping)."""
        fs = self.frame_size
        while self._order and budget > 0:
            budget -= 1
            idx = self._order.popleft()
            vecs = self._pending.pop(idx)
            frame = vecs[0] if len(vecs) == 1 else np.concatenate(vecs)
            node = self.nodes[idx]
            if node is None or self.node_by_name.get(node.name) is not node:  # removed in flight
                self.buffers.free(frame)
                continue
            for s in range(0, len(frame), fs):
                self._call(node, frame[s:s + fs])

    def resize_buffers(self, data_size: int) -> None:
        """Give every buffer `data_size` bytes (e.g. 64 KB GSO frames). Only between dispatch
        rounds, with no packet in flight (whoever keeps buffers hands them back first)."""
        if self.buffers.n_used:
            raise RuntimeError(f"{self.buffers.n_used} buffers still in use")
        self.buffers = BufferPool(self.buffers.n, data_size)

    # ------------------------------------------------------------ processes & timers
    def now(self) -> float:
        return time.monotonic() - self.start_time

    def spawn(self, name: str, gen) -> Process:
        """Start a process node running generator `gen` (first step on the next loop)."""
        p = Process(self, name, gen)
        base, k = name, 1
        while p.name in self.node_by_name:
            k += 1
            p.name = f"{base}:{k}"
        self.register(p)
        self._ready.append((p, None))
        return p

    def signal(self, proc: Process, event, data=None) -> None:
        proc.events.append((event, data))
        if proc.waiting_event:
            proc.waiting_event = False
            self._ready.append((proc, proc.wait_token))

    def throw(self, proc: Process, exc: BaseException) -> None:
        """Raise `exc` inside a suspended process at its current yield (e.g. Ctrl-C on a CLI)."""
        if not proc.done:
            proc.pending_exc = exc
            self._ready.append((proc, None))

    def timer(self, delay: float, fn) -> list:
        return self.timers.add(self.now() + delay, fn)

    def _resume(self, proc: Process, token) -> None:
        if proc.done or (token is not None and token != proc.wait_token):
            return
        proc.wait_token += 1
        proc.waiting_event = False
        value = None
        if isinstance(proc.req, WaitEvent):
            value, proc.events = proc.events, []
        self._begin_staging()
        t0 = time.perf_counter_ns()
        try:
            exc, proc.pending_exc = proc.pending_exc, None
            req = proc.gen.throw(exc) if exc is not None else proc.gen.send(value)
        except StopIteration:
            req = None
            proc.done = True
            proc.state = "done"
        except Exception:
            self._node_failed(proc, None)
            self._staged = self._staged1 = None
            req = None
            proc.done = True
            proc.state = "done"
        self._commit_staged()
        proc.clocks += time.perf_counter_ns() - t0
        if proc.done:
            self.unregister(proc)
            return
        proc.suspends += 1
        proc.req = req
        tok = proc.wait_token
        if isinstance(req, Wait):
            proc.state = "time wait"
            self.timer(max(req.seconds, 0.0), lambda: self._ready.append((proc, tok)))
        elif isinstance(req, WaitEvent):
            if proc.events:
                self._ready.append((proc, tok))
                return
            proc.waiting_event = True
            proc.state = "event wait" if req.timeout is None else "any wait"
            if req.timeout is not None:
                self.timer(req.timeout, lambda: self._ready.append((proc, tok)))
        else:  # a bare `yield`: run again next loop
            proc.state = "active"
            self._ready.append((proc, tok))

    # ------------------------------------------------------------ fds, cross-thread calls
    def add_fd(self, fd: int, events: int, handler) -> None:
        self._fd_handlers[fd] = handler
        self._epoll.register(fd, events)

    def mod_fd(self, fd: int, events: int) -> None:
        self._epoll.modify(fd, events)

    def del_fd(self, fd: int) -> None:
        if self._fd_handlers.pop(fd, None) is not None:
            try:
                self._epoll.unregister(fd)
            except (OSError, ValueError):
                pass

    def _drain_wake(self, _events) -> None:
        try:
            while os.read(self._wake_r, 4096):
                pass
        except BlockingIOError:
            pass
        while True:
            try:
                fn, fut = self._rpc.get_nowait()
            except queue.Empty:
                return
            if fut.set_running_or_notify_cancel():
                try:
                    fut.set_result(fn())
                except BaseException as e:  # returned to the caller's thread, never lost
                    fut.set_exception(e)

    def call(self, fn) -> Future:
        """Run `fn()` on the engine thread; returns a Future (thread-safe)."""
        fut: Future = Future()
        if threading.current_thread() is self.thread or self.thread is None:
            try:
                fut.set_result(fn())
            except BaseException as e:
                fut.set_exception(e)
            return fut
        self._rpc.put((fn, fut))
        self.wake()
        return fut

    def wake(self) -> None:
        try:
            os.write(self._wake_w, b"x")
        except BlockingIOError:
            pass

    # ------------------------------------------------------------ the loop
    def _polling(self) -> bool:
        return bool(self._ready or self._order) or any(
            n.state == "polling" or n.interrupt_pending for n in self.input_nodes)

    def run_once(self, timeout: float | None) -> None:
        self.loops += 1
        # epoll takes at most INT_MAX ms (a far timer, e.g. `wait`ing on a 1e-9 pps stream,
        # would raise and end the engine thread): sleep in steps of an hour instead
        for fd, ev in self._epoll.poll(-1 if timeout is None else min(timeout, 3600.0)):
            h = self._fd_handlers.get(fd)
            if h is not None:
                try:
                    h(ev)
                except Exception:
                    self.logs.add("err", "unix", f"fd {fd} handler failed:\n{traceback.format_exc().rstrip()}")
        for n in self.input_nodes:
            if n.state == "polling" or n.interrupt_pending:
                n.interrupt_pending = False
                n.backlog = False  # the poll says again if it left packets queued
                self._call(n, None)
        self.dispatch_pending()
        now = self.now()
        if self._input_backlog():
            # Packets still wait in a device queue (a full burst was read): they may be the ACKs
            # that make a retransmission timer moot, so timers wait for the next loop -- for at
            # most TIMER_DEFER_MAX past their deadline, so an overload cannot starve them.
            d = self.timers.next_deadline()
            if d is not None and now - d < TIMER_DEFER_MAX:
                now = d - 1e-9  # nothing expires this loop
        self._begin_staging()
        try:
            for fn in self.timers.expired(now):
                try:
                    fn()
                except Exception:
                    self.logs.add("err", "vlib", f"timer failed:\n{traceback.format_exc().rstrip()}")
        finally:
            self._commit_staged()
        for _ in range(len(self._ready)):
            proc, tok = self._ready.popleft()
            self._resume(proc, tok)
        self.dispatch_pending()

    def _input_backlog(self) -> bool:
        for n in self.input_nodes:
            if n.backlog:
                return True
        return False

    def loop(self) -> None:
        # Stop signals belong to the main thread (it runs shutdown): never deliver them here.
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT, signal.SIGHUP})
        while not self.stopping:
            if self._polling():
                timeout = 0
            else:
                d = self.timers.next_deadline()
                timeout = None if d is None else max(0.0, d - self.now())
            self.run_once(timeout)
        self._run_exit_hooks()

    def _run_exit_hooks(self) -> None:
        while self.at_exit:
            fn = self.at_exit.pop()
            try:
                fn()
            except Exception:
                log.exception("cleanup failed")
        self._epoll.close()
        for fd in (self._wake_r, self._wake_w):
            try:
                os.close(fd)
            except OSError:
                pass

    def start(self) -> None:
        self.thread = threading.Thread(target=self.loop, name="vpp_main", daemon=True)
        self.thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the loop; exit hooks (device and namespace cleanup) run on the engine thread."""
        if self.thread is None:
            self._run_exit_hooks()
            return
        self.stopping = True
        self.wake()
        self.thread.join(timeout)

    # ------------------------------------------------------------ runtime stats
    def clear_runtime(self) -> None:
        self.runtime_t0 = time.monotonic()
        self.runtime_loops0 = self.loops
        for n in getattr(self, "nodes", []):
            if n is not None:
                n.clear_stats()
