"""Socket semantics, the program as a TCP server: it listens on 10.0.0.0 and the kernel at
10.0.0.1 connects (peer_client.py, remote-controlled from here over a control connection).
Prints "listening PORT" (the control port) first, then one JSON line {case: result}."""

import os
import select
import signal
import socket
import struct
import subprocess
import sys
import time

from common import (EPOLL_NAMES, LOCAL, Caught, Remote, addr, attempt, c_accept4, cpu, fd_flags,
                    flag_names, ident, interrupt_later, libc, peername, pollmask, recv_exact, registry, run, sockname,
                    tcp_state, wait_mask)

case = registry()
R: Remote = None  # type: ignore[assignment]
_next = [0]


def listener(port, backlog=8, ip="0.0.0.0", reuse=True, **opts) -> socket.socket:
    ls = socket.socket()
    if reuse:
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    for (lvl, name), v in opts.get("opts", {}).items():
        ls.setsockopt(lvl, name, v)
    ls.bind((ip, port))
    ls.listen(backlog)
    return ls


def cid() -> int:
    _next[0] += 1
    return _next[0]


def readable(ls, timeout=5.0) -> list:
    return wait_mask(ls, lambda m: "POLLIN" in m, timeout)


def accept(ls, timeout=5.0) -> socket.socket:
    """accept() without a Python-level timeout on the listener: wait for POLLIN, then accept."""
    if "POLLIN" not in readable(ls, timeout):
        raise RuntimeError(f"nothing to accept within {timeout} s")
    c, _ = ls.accept()
    return c




# ---------------------------------------------------------------------------------------- cases
@case
def listen_and_accept():
    r = {}
    ls = listener(20101)
    r["sockname"] = sockname(ls)
    r["listener_ident"] = ident(ls)
    r["listener_state"] = tcp_state(ls)
    ls.setblocking(False)
    r["accept_nothing"] = attempt(ls.accept)
    r["poll_idle"] = pollmask(ls, timeout_ms=100)
    k = cid()
    r["peer_connect"] = R("connect", k, port=20101)
    r["poll_pending"] = readable(ls)
    fd, peer, alen = c_accept4(ls.fileno(), 0)
    r["accept4"] = [fd if not isinstance(fd, int) else fd >= 0, peer and addr(peer), alen]
    if not isinstance(fd, int):
        return r
    c = socket.socket(fileno=fd)
    r["accepted_flags"] = fd_flags(c)  # O_NONBLOCK of the listener is not inherited
    r["accepted_sockname"] = sockname(c)  # the wildcard listener's connection: 10.0.0.0
    r["accepted_peername_is_accept_addr"] = attempt(lambda: list(c.getpeername()) == peer)
    r["accepted_ident"] = ident(c)
    r["accepted_state"] = tcp_state(c)
    R("send", k, data="ping")
    c.settimeout(5)
    r["recv"] = recv_exact(c, 4).decode()
    r["send"] = c.send(b"pong")
    r["peer_got"] = R("recv", k, n=4)
    r["poll_after"] = pollmask(c)
    r["accept_nothing_after"] = attempt(ls.accept)
    c.close()
    R("close", k)
    ls.close()
    return r


@case
def accept4_flags():
    r = {}
    ls = listener(20102, ip=LOCAL)
    r["sockname"] = sockname(ls)
    r["bad_flags"] = c_accept4(ls.fileno(), 0x1)[0]
    for name, flags in (("nonblock_cloexec", socket.SOCK_NONBLOCK | socket.SOCK_CLOEXEC),
                        ("nonblock", socket.SOCK_NONBLOCK), ("cloexec", socket.SOCK_CLOEXEC)):
        k = cid()
        R("connect", k, port=20102)
        readable(ls)
        fd, peer, _ = c_accept4(ls.fileno(), flags)
        r[name] = fd_flags(fd)
        if isinstance(fd, int):
            os.close(fd)
        R("close", k)
    k = cid()
    R("connect", k, port=20102)
    readable(ls)
    fd = libc.accept(ls.fileno(), None, None)  # no address wanted
    r["accept_null_addr"] = fd >= 0
    if fd >= 0:
        r["null_addr_peername"] = peername(socket.socket(fileno=os.dup(fd)))
        os.close(fd)
    R("close", k)
    k = cid()
    R("connect", k, port=20102)
    readable(ls)
    c, a = ls.accept()  # Python: accept4(SOCK_CLOEXEC)
    r["python_accept"] = [addr(a), fd_flags(c)]
    c.close()
    R("close", k)
    ls.close()
    return r


@case
def accept_inherits_options():
    r = {}
    named = {"TCP_NODELAY": (socket.IPPROTO_TCP, socket.TCP_NODELAY, 1),
             "SO_KEEPALIVE": (socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1),
             "IP_TTL": (socket.IPPROTO_IP, socket.IP_TTL, 33), "IP_TOS": (socket.IPPROTO_IP, socket.IP_TOS, 0x20),
             "TCP_KEEPIDLE": (socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, 100),
             "TCP_KEEPINTVL": (socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, 7),
             "TCP_KEEPCNT": (socket.IPPROTO_TCP, socket.TCP_KEEPCNT, 4)}
    opts = {(lvl, name): v for lvl, name, v in named.values()}
    ls = listener(20103, opts={**opts, (socket.SOL_SOCKET, socket.SO_LINGER): struct.pack("ii", 1, 3)})
    ls.setblocking(False)
    k = cid()
    R("connect", k, port=20103)
    readable(ls)
    c, _ = ls.accept()
    for key, (lvl, name, _v) in named.items():
        r[key] = attempt(c.getsockopt, lvl, name)
    r["linger"] = attempt(lambda: list(struct.unpack("ii", c.getsockopt(socket.SOL_SOCKET, socket.SO_LINGER, 8))))
    r["reuseaddr"] = attempt(c.getsockopt, socket.SOL_SOCKET, socket.SO_REUSEADDR)
    c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 0, 0))
    c.close()
    R("close", k)
    ls.close()
    return r


@case
def backlog_queues_connections():
    r = {}
    ls = listener(20104, backlog=2)
    ks = [cid() for _ in range(2)]
    r["connects"] = [R("connect", k, port=20104) for k in ks]
    for k in ks:
        R("send", k, data=f"n{k}")
    time.sleep(0.2)
    r["poll"] = readable(ls)
    ls.setblocking(False)
    got = []
    for _ in ks:
        c = attempt(ls.accept)
        if not isinstance(c, tuple):
            got.append(c)
            continue
        got.append(recv_exact(c[0], len(f"n{ks[0]}")).decode())
        c[0].close()
    r["accepted_in_order"] = got == [f"n{k}" for k in ks]
    r["then_nothing"] = attempt(ls.accept)
    for k in ks:
        R("close", k)
    ls.close()
    return r


@case
def accept_after_peer_closed():
    r = {}
    ls = listener(20105)
    k = cid()
    R("connect", k, port=20105)
    R("send", k, data="bye")
    R("close", k)
    time.sleep(0.3)
    c = accept(ls)
    c.settimeout(5)
    r["data"] = recv_exact(c, 3).decode()
    r["then"] = attempt(c.recv, 10)
    r["poll"] = pollmask(c)
    r["state"] = tcp_state(c)
    r["peername"] = peername(c)
    c.close()
    ls.close()
    return r


@case
def accept_after_peer_reset():
    r = {}
    ls = listener(20106)
    k = cid()
    R("connect", k, port=20106)
    R("rst", k)
    time.sleep(0.3)
    r["poll_listener"] = pollmask(ls)
    ls.setblocking(False)
    c = attempt(ls.accept)
    if isinstance(c, tuple):
        s = c[0]
        r["accepted"] = True
        r["poll"] = wait_mask(s, lambda m: "POLLHUP" in m or "POLLERR" in m, 3)
        r["recv"] = attempt(s.recv, 10)
        r["recv_again"] = attempt(s.recv, 10)
        s.close()
    else:
        r["accepted"] = c
    ls.close()
    return r


@case
def half_close_request_response():
    r = {}
    ls = listener(20107)
    k = cid()
    R("connect", k, port=20107)
    c = accept(ls)
    c.settimeout(5)
    R("send", k, data="request")
    R("shut_wr", k)
    r["request"] = recv_exact(c, 7).decode()
    r["eof"] = attempt(c.recv, 10)
    r["poll_after_peer_fin"] = pollmask(c)
    r["state"] = tcp_state(c)
    r["send_response"] = c.send(b"response")
    c.close()
    r["peer_got"] = R("recv_end", k)
    R("close", k)
    ls.close()
    return r


@case
def peer_resets():
    r = {}
    ls = listener(20108)
    k = cid()
    R("connect", k, port=20108)
    c = accept(ls)
    R("rst", k)
    r["poll"] = wait_mask(c, lambda m: "POLLHUP" in m or "POLLERR" in m)
    r["recv"] = attempt(c.recv, 10)
    r["recv_again"] = attempt(c.recv, 10)
    r["send"] = attempt(c.send, b"x", socket.MSG_NOSIGNAL)
    r["so_error"] = attempt(c.getsockopt, socket.SOL_SOCKET, socket.SO_ERROR)
    c.close()
    ls.close()
    return r


@case
def how_the_peer_sees_our_close():
    r = {}
    ls = listener(20109)
    for how in ("close", "close_unread", "linger0", "shut_wr", "shut_rdwr"):
        k = cid()
        R("connect", k, port=20109)
        c = accept(ls)
        c.settimeout(5)
        R("send", k, data="abc")
        recv_exact(c, 3) if how != "close_unread" else c.recv(3, socket.MSG_PEEK | socket.MSG_WAITALL)
        c.sendall(b"xyz")
        if how == "linger0":
            c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        if how.startswith("shut"):
            c.shutdown(socket.SHUT_WR if how == "shut_wr" else socket.SHUT_RDWR)
        else:
            c.close()
        got = R("recv_end", k)
        r[how] = {"peer": got}
        if how == "shut_wr":
            R("send", k, data="more")
            r[how]["we_still_read"] = recv_exact(c, 4).decode()
        if how.startswith("shut"):
            c.close()
        R("close", k)
    ls.close()
    return r


@case
def no_listener_refuses():
    r = {}
    s = socket.socket()
    s.bind(("0.0.0.0", 20110))
    k = cid()
    r["bound_not_listening"] = R("connect", k, port=20110)
    s.listen(1)
    k = cid()
    r["listening"] = R("connect", k, port=20110)
    R("close", k)
    s.close()
    time.sleep(0.1)
    k = cid()
    r["listener_closed"] = R("connect", k, port=20110)
    return r


@case
def rebind_over_time_wait():
    r = {}
    ls = listener(20111)
    k = cid()
    R("connect", k, port=20111)
    c = accept(ls)
    c.close()  # we close first: our end goes through TIME_WAIT
    r["peer_saw"] = R("recv_end", k)["end"]
    R("close", k)
    ls.close()
    time.sleep(0.2)
    n = socket.socket()
    r["bind_no_reuseaddr"] = attempt(n.bind, ("0.0.0.0", 20111))
    n.close()
    n = socket.socket()
    n.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    r["bind_reuseaddr"] = attempt(n.bind, ("0.0.0.0", 20111))
    r["listen"] = attempt(n.listen, 4)
    k = cid()
    r["connect_again"] = R("connect", k, port=20111)
    R("close", k)
    n.close()
    return r


@case
def reuseport_listeners_share():
    r = {}
    opt = {(socket.SOL_SOCKET, socket.SO_REUSEPORT): 1}
    a = listener(20112, reuse=False, opts=opt)
    b = attempt(listener, 20112, reuse=False, opts=opt)
    r["second_listener"] = "ok" if isinstance(b, socket.socket) else b
    if not isinstance(b, socket.socket):
        a.close()
        return r
    ks = [cid() for _ in range(6)]
    r["connects"] = sorted(set(R("connect", k, port=20112) for k in ks))
    got, deadline = 0, time.monotonic() + 5
    p = select.poll()
    for x in (a, b):
        x.setblocking(False)
        p.register(x, select.POLLIN)
    while got < len(ks) and time.monotonic() < deadline:
        for fd, _ev in p.poll(100):
            x = a if fd == a.fileno() else b
            try:
                c, _ = x.accept()
                got += 1
                c.close()
            except BlockingIOError:
                pass
    r["accepted"] = got
    for k in ks:
        R("close", k)
    a.close()
    b.close()
    return r


@case
def accept_eintr():
    r = {}
    ls = listener(20113)
    h = Caught(restart=False)
    try:
        interrupt_later(0.2)
        r["no_restart"] = [c_accept4(ls.fileno())[0], h.count]
    finally:
        h.restore()
    h = Caught(restart=True)
    try:
        k = cid()
        R("connect_bg", k, port=20113, delay=0.6)
        interrupt_later(0.2)
        fd = c_accept4(ls.fileno())[0]
        r["sa_restart"] = [isinstance(fd, int) and fd >= 0, h.count]
        r["peer_connect"] = R("wait", k)
        if isinstance(fd, int):
            os.close(fd)
        R("close", k)
    finally:
        h.restore()
    ls.close()
    return r


@case
def blocking_accept_is_idle():
    r = {}
    ls = listener(20114)
    k = cid()
    R("connect_bg", k, port=20114, delay=1.0)
    t0, c0 = time.monotonic(), cpu()
    fd = c_accept4(ls.fileno())[0]
    t1, c1 = time.monotonic(), cpu()
    r["accepted"] = isinstance(fd, int) and fd >= 0
    r["blocked"] = t1 - t0 > 0.7
    r["idle_cpu_low"] = c1 - c0 < 0.05
    r["peer_connect"] = R("wait", k)
    if isinstance(fd, int):
        os.close(fd)
    R("close", k)
    ls.close()
    return r


@case
def epoll_listener():
    r = {}
    ls = listener(20115)
    ls.setblocking(False)
    for mode, flags in (("level", select.EPOLLIN), ("edge", select.EPOLLIN | select.EPOLLET)):
        ep = select.epoll()
        ep.register(ls, flags)
        r[f"{mode}_idle"] = [flag_names(e, EPOLL_NAMES) for _, e in ep.poll(0.1)]
        k = cid()
        R("connect", k, port=20115)
        r[f"{mode}_first"] = [flag_names(e, EPOLL_NAMES) for _, e in ep.poll(5)]
        r[f"{mode}_second"] = [flag_names(e, EPOLL_NAMES) for _, e in ep.poll(0.1)]
        c, _ = ls.accept()
        r[f"{mode}_after_accept"] = [flag_names(e, EPOLL_NAMES) for _, e in ep.poll(0.1)]
        c.close()
        R("close", k)
        ep.close()
    ls.close()
    return r


@case
def prefork_workers_share_listener():
    r = {}
    ls = listener(20116)
    kids = []
    for i in range(2):
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                signal.alarm(8)
                c, _ = ls.accept()
                c.settimeout(5)
                if recv_exact(c, 4) == b"ping":
                    c.sendall(f"c{i}".encode())
                    code = 0
                c.close()
            finally:
                os._exit(code)
        kids.append(pid)
    ks = [cid() for _ in range(2)]
    replies = []
    for k in ks:
        R("connect", k, port=20116)
        R("send", k, data="ping")
        replies.append(R("recv", k, n=2)["data"])
    r["replies"] = sorted(replies)
    r["workers_exit"] = [os.waitstatus_to_exitcode(os.waitpid(p, 0)[1]) for p in kids]
    for k in ks:
        R("close", k)
    ls.close()
    return r


CHILD = r"""
import json, os, socket, sys
fd = int(sys.argv[1])
ls = socket.socket(fileno=fd)
r = {"acceptconn": ls.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN),
     "type": ls.getsockopt(socket.SOL_SOCKET, socket.SO_TYPE),
     "domain": ls.getsockopt(socket.SOL_SOCKET, socket.SO_DOMAIN),
     "sockname": list(ls.getsockname())}
ls.settimeout(5)
c, a = ls.accept()
c.settimeout(5)
r["peer"] = a[0]
r["got"] = c.recv(4).decode()
c.sendall(b"pong")
c.close()
print(json.dumps(r))
"""


@case
def exec_inherits_listener():
    r = {}
    ls = listener(20117)
    ls.set_inheritable(True)
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(ls.fileno())], pass_fds=[ls.fileno()],
                             stdout=subprocess.PIPE, text=True)
    k = cid()
    try:
        r["peer_connect"] = R("connect", k, port=20117)
        R("send", k, data="ping")
        r["peer_got"] = R("recv", k, n=4)
        out, _ = child.communicate(timeout=10)
        r["child"] = __import__("json").loads(out) if out.strip() else "no output"
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    R("close", k)
    ls.close()
    return r


def main():
    global R
    R = Remote()
    try:
        run(case.cases)
    finally:
        R.close()


if __name__ == "__main__":
    main()
