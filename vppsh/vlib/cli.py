"""CLI handlers for the engine: runtime, errors, trace, buffers, threads, nodes, version, logging."""

from __future__ import annotations

import getpass
import os
import platform
import socket
import sys
import threading
import time

from .. import __version__
from ..vlib.errors import CliError
from ..wire.format import fe, j
from .node import NodeType


def _clocks(vm, node) -> float:
    c = node.clocks * vm.cpu_hz / 1e9
    if node.vectors:
        return c / node.vectors
    if node.calls:
        return c / node.calls
    if node.suspends:
        return c / node.suspends
    return 0.0


def show_runtime(ctx, a):
    vm = ctx.vm
    dt = max(time.monotonic() - vm.runtime_t0, 1e-9)
    nodes = list(vm.node_by_name.values())
    if not a.get("verbose"):
        nodes = [n for n in nodes if n.calls or n.suspends]

    def sum_vec(pred):
        return sum(n.vectors for n in vm.node_by_name.values() if pred(n))

    internal = [n for n in vm.node_by_name.values() if n.type == NodeType.INTERNAL]
    icalls = sum(n.calls for n in internal)
    rate_int = sum(n.vectors for n in internal) / icalls if icalls else 0.0
    loops = (vm.loops - vm.runtime_loops0) / dt
    ctx.out(f"Time {dt:.1f}, 10 sec internal node vector rate {rate_int:.2f} loops/sec {loops:.2f}")
    rin = sum_vec(lambda n: n.type == NodeType.INPUT) / dt
    rout = sum_vec(lambda n: n.output) / dt
    rdrop = sum_vec(lambda n: n.name == "error-drop") / dt
    rpunt = sum_vec(lambda n: n.name == "error-punt") / dt
    ctx.out(f"  vector rates in {fe(rin, 4)}, out {fe(rout, 4)}, drop {fe(rdrop, 4)}, punt {fe(rpunt, 4)}")
    if a.get("summary"):
        return
    nodes.sort(key=lambda n: n.name)
    if a.get("max"):
        cols = ("Name", "State", "Calls", "Vectors", "Suspends", "Max Node Clocks", "Vectors at Max",
                "Max Clocks", "Avg Clocks", "Avg Vectors/Call")
        ctx.out(j(cols[0], 30, "=") + j(cols[1], 12, "=") + "".join(j(c, 16, "=") for c in cols[2:]))
        for n in nodes:
            mx = n.max_clocks * vm.cpu_hz / 1e9
            per = mx / n.vectors_at_max if n.vectors_at_max else mx
            vpc = n.vectors / n.calls if n.calls else 0.0
            ctx.out(j(n.name, 30, "-") + j(n.state, 12, "=") + j(n.calls, 16) + j(n.vectors, 16)
                    + j(n.suspends, 16) + j(fe(mx), 16) + j(n.vectors_at_max, 16) + j(fe(per), 16)
                    + j(fe(_clocks(vm, n)), 16) + j(f"{vpc:.2f}", 16))
        return
    cols = ("Name", "State", "Calls", "Vectors", "Suspends", "Clocks", "Vectors/Call")
    ctx.out(j(cols[0], 30, "=") + j(cols[1], 12, "=") + "".join(j(c, 16, "=") for c in cols[2:]))
    for n in nodes:
        vpc = n.vectors / n.calls if n.calls else 0.0
        ctx.out(j(n.name, 30, "-") + j(n.state, 12, "=") + j(n.calls, 16) + j(n.vectors, 16)
                + j(n.suspends, 16) + j(fe(_clocks(vm, n)), 16) + j(f"{vpc:.2f}", 16))


def clear_runtime(ctx, a):
    ctx.vm.clear_runtime()


def show_errors(ctx, a):
    vm = ctx.vm
    counts = vm.errors.since_clear()
    verbose = a.get("verbose")
    head = j("Count", 10, "=") + j("Node", 35, "=") + j("Reason", 35, "=") + j("Severity", 10, "=")
    ctx.out((j("Index", 10, "=") if verbose else "") + head)
    for i, (node, reason, sev) in enumerate(vm.errors.info):
        if counts[i]:
            ctx.out((j(i, 10, "=") if verbose else "") + j(int(counts[i]), 10) + j(node, 35, "=")
                    + j(reason, 35, "=") + j(sev, 10, "="))


def clear_errors(ctx, a):
    ctx.vm.errors.clear()


def trace_add(ctx, a):
    vm = ctx.vm
    node = vm.node_by_name.get(a["node"])
    if node is None:
        raise CliError(f"expected NODE COUNT, got `{a['node']} {a['count']}'")
    if node.type not in (NodeType.INPUT, NodeType.PRE_INPUT):
        raise CliError(f"node '{node.name}' doesn't support per-node tracing. "
                       "There may be another way to initiate trace on this node.")
    vm.trace.add_budget(node, a["count"])


def show_trace(ctx, a):
    ctx.out(ctx.vm.trace.format(a.get("max", 50)))


def clear_trace(ctx, a):
    ctx.vm.trace.clear()


def show_buffers(ctx, a):
    b = ctx.vm.buffers
    w = (20, 6, 6, 6, 11, 6, 8, 8, 8)
    cols = ("Pool Name", "Index", "NUMA", "Size", "Data Size", "Total", "Avail", "Cached", "Used")
    ctx.out(j(cols[0], 20, "-") + "".join(j(c, k, "=") for c, k in zip(cols[1:], w[1:])))
    vals = (0, 0, b.data_size + 256, b.data_size, b.n, b.n_free, 0, b.n_used)
    ctx.out(j("default-numa-0", 20, "-") + "".join(j(v, k, "=") for v, k in zip(vals, w[1:])))


def _lcore(tid: int) -> int:
    try:
        with open(f"/proc/self/task/{tid}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[36])
    except (OSError, IndexError, ValueError):
        return 0


def show_threads(ctx, a):
    cols = ("ID", "Name", "Type", "LWP", "Sched Policy (Priority)", "lcore", "Core", "Socket", "State")
    w = (7, 20, 12, 8, 25, 7, 7, 7, 10)
    ctx.out("".join(j(c, k, "-") for c, k in zip(cols, w)).rstrip())
    tid = threading.get_native_id()
    vals = (0, "vpp_main", "", tid, "other (0)", _lcore(tid), 0, 0, "")
    ctx.out("".join(j(v, k, "-") for v, k in zip(vals, w)))


def show_node(ctx, a):
    vm = ctx.vm
    name = a["node"]
    node = vm.node_by_name.get(name) if isinstance(name, str) else name
    if node is None:
        raise CliError(f"unknown node `{name}'")
    ctx.out(f"node {node.name}, type {node.type.value}, state {node.state}, index {node.index}")
    ctx.out("  node function variant: default (numpy)")
    if node.next_names:
        ctx.out("\n  next nodes:")
        ctx.out("    " + j("next-index", 10, "=") + j("node-index", 12, "=") + j("Node", 30, "=") + j("Vectors", 12, "="))
        for slot, nn in enumerate(node.next_names):
            t = vm.node_by_name.get(nn)
            ctx.out("    " + j(slot, 10, "=") + j(t.index if t else -1, 12, "=") + j(nn, 30, "=")
                    + j(t.vectors if t else 0, 12, "="))
    prev = [n.name for n in vm.node_by_name.values() if node.name in n.next_index]
    if prev:
        ctx.out("\n  known previous nodes:")
        ctx.out("    " + "\n    ".join(sorted(prev)))


def show_graph(ctx, a):
    vm = ctx.vm
    ctx.out(j("Name", 30, "=") + j("Next", 30, "=") + "Previous")
    live = list(vm.node_by_name.values())
    for n in sorted(live, key=lambda n: n.name):
        nexts = [f"{nn} [{i}]" for i, nn in enumerate(n.next_names)]
        prevs = sorted(p.name for p in live if n.name in p.next_index)
        rows = max(len(nexts), len(prevs), 1)
        for r in range(rows):
            left = n.name if r == 0 else ""
            mid = nexts[r] if r < len(nexts) else ""
            right = prevs[r] if r < len(prevs) else ""
            ctx.out((j(left, 30, "-") + j(mid, 30, "-") + right).rstrip())


def _build_info():
    pkg = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    try:
        t = os.path.getmtime(os.path.join(pkg, "__init__.py"))
    except OSError:
        t = time.time()
    date = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t))
    return pkg, date


def show_version(ctx, a):
    pkg, date = _build_info()
    user = getpass.getuser() if hasattr(os, "getuid") else "unknown"
    host = socket.gethostname()
    if not a.get("verbose") and not a.get("cmdline"):
        ctx.out(f"vppsh v{__version__} built by {user} on {host} at {date}")
        return
    if a.get("verbose"):
        for k, v in (("Version:", f"v{__version__}"), ("Compiled by:", user), ("Compile host:", host),
                     ("Compile date:", date), ("Compile location:", pkg),
                     ("Compiler:", f"Python {platform.python_version()} ({platform.python_implementation()})"),
                     ("Current PID:", str(os.getpid()))):
            ctx.out(f"{k:<25} {v}")
    if a.get("cmdline"):
        ctx.out("Command line arguments:")
        ctx.out(" " + " ".join(sys.argv))


def show_logging(ctx, a):
    for t, level, cls, msg in ctx.vm.logs.entries:
        ts = time.strftime("%Y/%m/%d %H:%M:%S", time.localtime(t)) + f":{int(t * 1000) % 1000:03d}"
        first, *rest = msg.splitlines() or [""]
        ctx.out(f"{ts} {level:<10} {cls:<14} {first}")
        for line in rest:
            ctx.out(" " * 50 + line)


def _size(n: float) -> str:
    for unit in ("", "K", "M", "G"):
        if n < 1024 or unit == "G":
            return f"{n:.2f}{unit}" if unit else f"{int(n)}"
        n /= 1024
    return str(n)


def show_memory(ctx, a):
    status = {}
    try:
        with open("/proc/self/status") as f:
            for line in f:
                k, _, v = line.partition(":")
                status[k] = v.strip()
    except OSError:
        pass
    kb = lambda k: int(status.get(k, "0 kB").split()[0]) * 1024  # noqa: E731
    b = ctx.vm.buffers
    ctx.out("Thread 0 vpp_main")
    ctx.out(f"  process: virtual {_size(kb('VmSize'))}, resident {_size(kb('VmRSS'))}, "
            f"peak resident {_size(kb('VmHWM'))}")
    ctx.out(f"  buffer pool: {b.n} buffers of {b.data_size} bytes, {_size(b.data.nbytes)}, "
            f"used {b.n_used}, free {b.n_free}")
    for line in ctx.vm.memory_users:
        ctx.out(f"  {line()}")


def show_clock(ctx, a):
    vm = ctx.vm
    ctx.out(f"Time now {vm.now():.6f}, reftime {vm.now():.6f}, error .000000, "
            f"clocks/sec {vm.cpu_hz:.6f}")
