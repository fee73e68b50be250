"""Sockets across processes and threads: fork (parent and child share a connection; children make
their own), exec (an inherited descriptor keeps working; a close-on-exec one is gone),
dup/dup2/dup3/F_DUPFD_CLOEXEC, threads, signals (EINTR, SA_RESTART, partial writes).
Prints one JSON line {case: result}."""

import ctypes
import fcntl
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time

from common import (DELAYED, ECHO, PEER, STALL, Caught, attempt, bconn, c_recv, conn, en, fd_flags,
                    interrupt_later, join_interrupters, libc, peername, recv_exact, registry, run, sockname,
                    tcp_state, watch, watched)

case = registry()


def in_child(fn):
    """Run fn() in a forked child; (its JSON-able result, its exit code)."""
    rd, wr = os.pipe()
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            os.close(rd)
            signal.alarm(8)
            try:
                res = fn()
            except Exception as e:
                res, code = f"EXCEPTION {type(e).__name__}: {e}", 1
            os.write(wr, json.dumps(res).encode())
        finally:
            os._exit(code)
    os.close(wr)
    out = b""
    while True:
        d = os.read(rd, 65536)
        if not d:
            break
        out += d
    os.close(rd)
    _, status = os.waitpid(pid, 0)
    return (json.loads(out) if out else None), os.waitstatus_to_exitcode(status)


def round_trip(s, data=b"ping") -> bool:
    s.sendall(data)
    return recv_exact(s, len(data)) == data


# ------------------------------------------------------------------------------------ fork
@case
def fork_shares_connection():
    r = {}
    s = conn()

    def child():
        res = {"peername": peername(s), "sockname": sockname(s), "state": tcp_state(s)}
        s.sendall(b"from-child")
        s.close()  # the child's copy only: the parent's connection stays
        return res

    r["child"], r["child_exit"] = in_child(child)
    r["parent_reads_childs_echo"] = recv_exact(s, 10).decode()
    r["parent_still_works"] = round_trip(s)
    # the child reads what the parent's writes bring back
    s.sendall(b"for-the-child")
    r["child_reads"] = in_child(lambda: recv_exact(s, 13).decode())
    r["parent_after"] = round_trip(s, b"again")
    s.close()
    # the peer sees the end only when the last copy is closed
    w = watch("fork-last")

    def child2():
        w.close()
        return "closed"

    r["child_closed"] = in_child(child2)
    time.sleep(0.2)
    w.sendall(b"abc")
    w.close()
    r["peer_saw_after_last_close"] = watched("fork-last")
    return r


@case
def fork_children_connect():
    r = {}

    def child():
        c = conn()
        ok = round_trip(c, b"child")
        res = {"round_trip": ok, "sockname": sockname(c)}

        def grandchild():
            g = conn()
            return round_trip(g, b"grandchild")

        res["grandchild"] = in_child(grandchild)
        c.close()
        return res

    pid_results = [in_child(child) for _ in range(2)]
    r["children"] = pid_results
    p = conn()
    r["parent_after_forks"] = round_trip(p)
    p.close()
    return r


# ------------------------------------------------------------------------------------ exec
EXEC_CHILD = r"""
import fcntl, json, os, socket, sys
fd, closed = int(sys.argv[1]), int(sys.argv[2])
s = socket.socket(fileno=fd)
g = lambda o: s.getsockopt(socket.SOL_SOCKET, o)
r = {"type": g(socket.SO_TYPE), "domain": g(socket.SO_DOMAIN), "protocol": g(socket.SO_PROTOCOL),
     "peername": list(s.getpeername()), "sockname_ip": s.getsockname()[0],
     "ttl": s.getsockopt(socket.IPPROTO_IP, socket.IP_TTL),
     "nodelay": s.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY),
     "cloexec": bool(fcntl.fcntl(fd, fcntl.F_GETFD) & fcntl.FD_CLOEXEC)}
s.sendall(b"from-exec")
s.settimeout(5)
got = b""
while len(got) < 9:
    d = s.recv(9 - len(got))
    if not d:
        break
    got += d
r["echo"] = got.decode()
try:
    os.fstat(closed)
    r["cloexec_fd"] = "open"
except OSError as e:
    r["cloexec_fd"] = e.errno == 9 and "EBADF"
n = socket.create_connection(("10.0.0.1", 7), timeout=5)
n.sendall(b"new")
r["new_connection"] = n.recv(3).decode()
s.detach()
print(json.dumps(r))
"""


@case
def exec_inherits_socket():
    r = {}
    s = bconn()
    s.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, 42)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    s.set_inheritable(True)
    hidden = conn()  # close-on-exec (Python's default): gone in the exec'd program
    out = subprocess.run([sys.executable, "-c", EXEC_CHILD, str(s.fileno()), str(hidden.fileno())],
                         close_fds=False, capture_output=True, text=True, timeout=15)
    r["child"] = json.loads(out.stdout) if out.returncode == 0 else f"exit {out.returncode}: {out.stderr[-300:]}"
    r["parent_still_works"] = round_trip(s)
    r["hidden_still_works"] = round_trip(hidden)
    s.close()
    hidden.close()
    return r


# ------------------------------------------------------------------------------------ dup
@case
def dup_calls():
    r = {}
    s = bconn()
    d = socket.socket(fileno=os.dup(s.fileno()))
    r["dup_peername"] = peername(d)
    r["dup_ident"] = [attempt(d.getsockopt, socket.SOL_SOCKET, o) for o in (socket.SO_TYPE, socket.SO_DOMAIN,
                                                                   socket.SO_PROTOCOL)]
    d.sendall(b"via-dup")
    r["original_reads"] = recv_exact(s, 7).decode()
    s.close()
    r["dup_after_original_closed"] = round_trip(d)
    n = os.dup2(d.fileno(), 100)
    r["dup2"] = [n, fd_flags(100), peername(socket.socket(fileno=os.dup(100)))]
    n = os.dup2(d.fileno(), 101, inheritable=False)  # dup3(O_CLOEXEC)
    r["dup3_cloexec"] = [n, fd_flags(101)]
    n = fcntl.fcntl(d.fileno(), fcntl.F_DUPFD_CLOEXEC, 200)
    r["f_dupfd_cloexec"] = [n >= 200, fd_flags(n)]
    os.write(101, b"w101")
    r["read_via_200_range"] = recv_exact(socket.socket(fileno=os.dup(n)), 4).decode()
    for fd in (100, 101, n):
        os.close(fd)
    r["after_closing_dups"] = round_trip(d)
    d.close()
    r["closed_fd"] = attempt(os.fstat, 100)
    # shutdown through one descriptor affects them all
    s = bconn()
    e = socket.socket(fileno=os.dup(s.fileno()))
    e.shutdown(socket.SHUT_WR)
    r["shutdown_via_dup"] = [attempt(s.send, b"x", socket.MSG_NOSIGNAL), attempt(s.recv, 10)]
    e.close()
    s.close()
    # the peer sees EOF when the last descriptor goes
    w = watch("dup-last")
    d = os.dup(w.fileno())
    w.close()
    os.write(d, b"xy")
    time.sleep(0.1)
    os.close(d)
    r["peer_saw_after_last_close"] = watched("dup-last")
    # dup2 onto a descriptor that is another connection closes that connection
    victim = watch("dup2-victim")
    e = bconn()
    vfd = victim.fileno()
    os.dup2(e.fileno(), vfd)
    r["dup2_over_socket"] = [peername(socket.socket(fileno=os.dup(vfd))), watched("dup2-victim")]
    os.write(vfd, b"over")
    r["dup2_over_socket_round_trip"] = recv_exact(e, 4).decode()
    victim.close()
    e.close()
    return r


# ------------------------------------------------------------------------------------ threads
@case
def threads():
    r = {}
    results = []

    def worker(i):
        try:
            c = conn()
            ok = all(round_trip(c, bytes([65 + i]) * 100) for _ in range(20))
            c.close()
        except OSError as e:
            ok = en(e)
        results.append(ok)

    ts = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(20)
    r["four_connections_20_round_trips"] = results == [True] * 4
    # many threads creating, connecting and closing sockets at once
    got = []

    def churn():
        res = []
        for _ in range(5):
            try:
                c = socket.create_connection((PEER, ECHO), timeout=5)
                res.append(round_trip(c, b"c"))
                c.close()
            except OSError as e:
                res.append(en(e))
        got.append(res)

    ts = [threading.Thread(target=churn) for _ in range(8)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(20)
    r["churn_8x5"] = sorted({str(x) for res in got for x in res}) + [len(got)]
    # one socket, a reader thread blocked in recv and a writer
    s = bconn()
    box = []
    t = threading.Thread(target=lambda: box.append(c_recv(s.fileno(), 100)[1].decode()))
    t.start()
    time.sleep(0.2)
    s.sendall(b"to-the-reader")
    t.join(5)
    r["shared_socket_reader_thread"] = box
    # shutdown(SHUT_RDWR) from another thread wakes a blocked recv
    box = []
    t = threading.Thread(target=lambda: box.append(c_recv(s.fileno(), 100)))
    t.start()
    time.sleep(0.2)
    t0 = time.monotonic()
    s.shutdown(socket.SHUT_RDWR)
    t.join(5)
    r["shutdown_wakes_blocked_recv"] = [[box[0][0], box[0][1].decode()] if box else "still blocked",
                                        time.monotonic() - t0 < 2]
    s.close()
    return r


# ------------------------------------------------------------------------------------ signals
@case
def signals():
    r = {}
    s = bconn(DELAYED)
    h = Caught(restart=False)
    try:
        interrupt_later(0.2)
        r["recv_no_restart"] = [c_recv(s.fileno(), 10)[0], h.count]
    finally:
        h.restore()
    h = Caught(restart=True)
    try:
        s.sendall(b"500 late\n")
        interrupt_later(0.2)
        n, data = c_recv(s.fileno(), 10)
        r["recv_sa_restart"] = [n, data.decode(), h.count]
    finally:
        h.restore()
    s.close()
    # a blocking send that cannot complete: interrupted after some bytes went, it returns the count
    st = bconn(STALL)
    big = ctypes.create_string_buffer(16 << 20)
    h = Caught(restart=False)
    try:
        interrupt_later(0.5)
        n = libc.send(st.fileno(), big, len(big), 0)
        r["send_interrupted"] = ["partial" if 0 < n < len(big) else (en(ctypes.get_errno()) if n < 0 else n),
                                 h.count]
    finally:
        h.restore()
    st.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\0\0\0\0\0\0\0")
    st.close()
    # a handler that raises: Python's recv() gives up with the handler's exception
    s = bconn()

    def raiser(*_):
        raise TimeoutError("from handler")

    old = signal.signal(signal.SIGUSR1, raiser)
    try:
        interrupt_later(0.2, signal.SIGUSR1)
        try:
            s.recv(10)
            r["python_handler_raises"] = "returned"
        except TimeoutError as e:
            r["python_handler_raises"] = str(e)
    finally:
        join_interrupters()
        signal.signal(signal.SIGUSR1, old)
    r["socket_usable_after"] = round_trip(s)
    s.close()
    return r


def main():
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    run(case.cases)


if __name__ == "__main__":
    main()
