"""Readiness: poll/select/epoll (level, edge, one-shot) on TCP sockets of the kernel's services at
10.0.0.1, wake-ups when data arrives, ~0% CPU while blocked idle, EINTR. Prints one JSON line."""

import ctypes
import select
import signal
import socket
import time

from common import (BLACKHOLE, CHARGEN, CLOSED, DELAYED, ECHO, EPOLL_NAMES, PEER, POLL_NAMES, Caught,
                    attempt, bconn, c_recv, conn, cpu, en, flag_names, interrupt_later, libc, pollmask,
                    recv_exact, registry, run)

case = registry()
IN, OUT, RDHUP, ET, ONESHOT = select.EPOLLIN, select.EPOLLOUT, select.EPOLLRDHUP, select.EPOLLET, select.EPOLLONESHOT


def ev(ep, timeout=0.1) -> list:
    return [flag_names(e, EPOLL_NAMES) for _, e in ep.poll(timeout)]


def data_pending(s, n):
    """Wait until n bytes are queued for reading (without reading them)."""
    s.recv(n, socket.MSG_PEEK | socket.MSG_WAITALL)


@case
def poll_states():
    r = {}
    s = bconn()
    r["idle"] = pollmask(s)
    t0 = time.monotonic()
    r["in_only_timeout_300ms"] = pollmask(s, select.POLLIN, 300)
    r["waited"] = time.monotonic() - t0 >= 0.25
    s.sendall(b"abc")
    data_pending(s, 3)
    r["data"] = pollmask(s)
    r["out_only_with_data"] = pollmask(s, select.POLLOUT)
    s.recv(3)
    r["drained"] = pollmask(s)
    fd = s.fileno()
    s.close()
    p = select.poll()
    p.register(fd, select.POLLIN)
    r["closed_fd"] = [flag_names(e, POLL_NAMES) for _, e in p.poll(0)]
    return r


@case
def select_calls():
    r = {}
    s = bconn()
    t0 = time.monotonic()
    rl, wl, xl = select.select([s], [], [s], 0.2)
    r["idle_read_timeout"] = [len(rl), len(wl), len(xl), time.monotonic() - t0 >= 0.15]
    rl, wl, xl = select.select([s], [s], [s], 0)
    r["idle"] = [len(rl), len(wl), len(xl)]
    s.sendall(b"x")
    data_pending(s, 1)
    rl, wl, xl = select.select([s], [s], [s], 0)
    r["data"] = [len(rl), len(wl), len(xl)]
    s.recv(1)
    fd = s.fileno()
    s.close()
    r["closed_fd"] = attempt(select.select, [fd], [], [], 0)
    return r


@case
def epoll_level_edge_oneshot():
    r = {}
    s = bconn()
    s.sendall(b"abcdef")
    data_pending(s, 6)
    ep = select.epoll()
    ep.register(s, IN)
    r["level"] = [ev(ep), ev(ep)]
    ep.modify(s, IN | ET)
    r["edge"] = [ev(ep), ev(ep)]
    s.recv(2)
    r["edge_after_partial_read"] = ev(ep)
    s.sendall(b"gh")
    data_pending(s, 6)
    r["edge_new_data"] = [ev(ep, 2), ev(ep)]
    ep.modify(s, IN | ONESHOT)
    r["oneshot"] = [ev(ep), ev(ep)]
    ep.modify(s, IN | ONESHOT)
    r["oneshot_rearmed"] = ev(ep)
    s.recv(100)
    ep.modify(s, IN | OUT | ET)
    r["edge_out"] = [ev(ep), ev(ep)]
    r["register_twice"] = attempt(ep.register, s, IN)
    t = socket.socket()
    r["modify_unregistered"] = attempt(ep.modify, t, IN)
    r["unregister_unregistered"] = attempt(ep.unregister, t)
    t.close()
    with open(__file__) as f:
        r["register_regular_file"] = attempt(ep.register, f, IN)
    ep.close()
    # closing the only descriptor removes it from the epoll set
    ep = select.epoll()
    c = bconn()
    c.sendall(b"z")
    data_pending(c, 1)
    ep.register(c, IN)
    r["before_close"] = ev(ep)
    c.close()
    r["after_close"] = ev(ep)
    ep.close()
    return r


@case
def epoll_peer_events():
    r = {}
    s = conn(CHARGEN)
    ep = select.epoll()
    ep.register(s, IN | OUT | RDHUP)
    r["established"] = ev(ep)
    s.sendall(b"5\n")
    deadline = time.monotonic() + 3
    got = []
    while time.monotonic() < deadline:
        got = ev(ep, 0.1)
        if got and "EPOLLRDHUP" in got[0]:
            break
    r["data_and_fin"] = got
    recv_exact(s, 5)
    r["after_reading"] = ev(ep)
    s.shutdown(socket.SHUT_WR)
    r["after_our_shutdown"] = ev(ep)
    ep.close()
    s.close()
    # a non-blocking connect's readiness through epoll
    for name, port in (("established", ECHO), ("refused", CLOSED), ("in_progress", BLACKHOLE)):
        c = socket.socket(socket.AF_INET, socket.SOCK_STREAM | socket.SOCK_NONBLOCK)
        c.connect_ex((PEER, port))
        ep = select.epoll()
        ep.register(c, IN | OUT | RDHUP | ET)
        r[f"connect_{name}"] = [ev(ep, 0.5 if port == BLACKHOLE else 3), ev(ep)]
        ep.close()
        c.close()
    return r


@case
def blocking_waits_wake_up():
    r = {}
    s = bconn(DELAYED)
    for name in ("poll", "select", "epoll", "recv"):
        s.sendall(b"400 x\n")
        t0 = time.monotonic()
        if name == "poll":
            p = select.poll()
            p.register(s, select.POLLIN)
            res = [flag_names(e, [(select.POLLIN, "POLLIN")]) for _, e in p.poll(5000)]
        elif name == "select":
            res = len(select.select([s], [], [], 5)[0])
        elif name == "epoll":
            ep = select.epoll()
            ep.register(s, IN)
            res = ev(ep, 5)
            ep.close()
        else:
            res = c_recv(s.fileno(), 10)[1].decode()
        dt = time.monotonic() - t0
        if name != "recv":
            s.recv(10)
        r[name] = [res, 0.25 < dt < 3]
    s.close()
    return r


@case
def idle_cpu():
    """Blocked with nothing to do, a process uses (next to) no CPU."""
    r = {}
    s = bconn()
    p = select.poll()
    p.register(s, select.POLLIN)
    c0, t0 = cpu(), time.monotonic()
    res = p.poll(1000)
    r["poll_1s"] = [res, time.monotonic() - t0 >= 0.9, cpu() - c0 < 0.05]
    c0, t0 = cpu(), time.monotonic()
    res = select.select([s], [], [], 0.5)[0]
    r["select_500ms"] = [len(res), time.monotonic() - t0 >= 0.45, cpu() - c0 < 0.05]
    ep = select.epoll()
    ep.register(s, IN)
    c0, t0 = cpu(), time.monotonic()
    res = ep.poll(0.5)
    r["epoll_500ms"] = [res, time.monotonic() - t0 >= 0.45, cpu() - c0 < 0.05]
    ep.close()
    s.close()
    d = bconn(DELAYED)
    d.sendall(b"600 y\n")
    c0 = cpu()
    r["blocking_recv"] = [c_recv(d.fileno(), 10)[1].decode(), cpu() - c0 < 0.05]
    d.close()
    r["idle_cpu_low"] = all(v[-1] for v in r.values())
    return r


class PollFd(ctypes.Structure):
    _fields_ = [("fd", ctypes.c_int), ("events", ctypes.c_short), ("revents", ctypes.c_short)]


class EpollEvent(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("events", ctypes.c_uint32), ("data", ctypes.c_uint64)]


@case
def eintr():
    r = {}
    s = bconn()
    for restart in (False, True):
        h = Caught(restart=restart)
        try:
            key = "sa_restart" if restart else "no_restart"
            pfd = PollFd(s.fileno(), select.POLLIN, 0)
            interrupt_later(0.2)
            t0 = time.monotonic()
            rv = libc.poll(ctypes.byref(pfd), 1, 3000)
            r[f"poll_{key}"] = [en(ctypes.get_errno()) if rv == -1 else rv, h.count,
                                time.monotonic() - t0 < 2]
            ep = select.epoll()
            ep.register(s, IN)
            evs = (EpollEvent * 4)()
            interrupt_later(0.2)
            t0 = time.monotonic()
            rv = libc.epoll_wait(ep.fileno(), evs, 4, 3000)  # never restarted, SA_RESTART or not
            r[f"epoll_wait_{key}"] = [en(ctypes.get_errno()) if rv == -1 else rv, h.count,
                                      time.monotonic() - t0 < 2]
            ep.close()
        finally:
            h.restore()
    s.close()
    return r


def main():
    run(case.cases)


if __name__ == "__main__":
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    main()
