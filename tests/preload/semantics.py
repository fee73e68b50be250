"""Socket semantics, observed: run natively (the kernel's TCP/UDP) and under `vppsh exec` (the
shim on vppsh's), the two JSON outputs must be equal. Local address 10.0.0.0, peer services at
10.0.0.1 (sem_peer.py). Each case records return values, errno names, readiness and data checks —
never numbers that legitimately differ between stacks (ports, buffer sizes, RTTs).

Usage: semantics.py client | semantics.py server PORT (then a peer connects and sends b"ping")
"""

import ctypes
import errno
import json
import os
import select
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

PEER = "10.0.0.1"
libc = ctypes.CDLL(None, use_errno=True)


def en(e: OSError) -> str:
    return errno.errorcode.get(e.errno, str(e.errno))


def attempt(fn):
    try:
        r = fn()
        return "ok" if r is None else r
    except OSError as e:
        return en(e)


def conn(port=7, **kw) -> socket.socket:
    return socket.create_connection((PEER, port), timeout=10, **kw)


def pollmask(m: int) -> list:
    names = {select.POLLIN: "IN", select.POLLOUT: "OUT"}
    return sorted(v for k, v in names.items() if m & k)


def recv_exact(s, n):
    out = b""
    while len(out) < n:
        d = s.recv(n - len(out))
        if not d:
            break
        out += d
    return out


# ------------------------------------------------------------------ cases
def c_identity():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM | socket.SOCK_NONBLOCK | socket.SOCK_CLOEXEC)
    import fcntl
    r = {"nonblock": bool(fcntl.fcntl(s, fcntl.F_GETFL) & os.O_NONBLOCK),
         "cloexec": bool(fcntl.fcntl(s, fcntl.F_GETFD) & fcntl.FD_CLOEXEC)}
    for n, o in (("type", socket.SO_TYPE), ("domain", socket.SO_DOMAIN), ("protocol", socket.SO_PROTOCOL),
                 ("acceptconn", socket.SO_ACCEPTCONN), ("error", socket.SO_ERROR)):
        r[n] = s.getsockopt(socket.SOL_SOCKET, o)
    r["peername_unconnected"] = attempt(s.getpeername)
    r["sockname_unbound"] = s.getsockname()
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    r["udp_type"] = u.getsockopt(socket.SOL_SOCKET, socket.SO_TYPE)
    r["udp_protocol"] = u.getsockopt(socket.SOL_SOCKET, socket.SO_PROTOCOL)
    s.close()
    u.close()
    return r


def c_bind():
    r = {}
    a = socket.socket()
    a.bind(("0.0.0.0", 0))
    ip, port = a.getsockname()
    r["port0"] = [ip, port > 0]
    r["rebind"] = attempt(lambda: a.bind(("0.0.0.0", 0)))
    b = socket.socket()
    r["inuse"] = attempt(lambda: b.bind(("0.0.0.0", port)))
    r["nonlocal"] = attempt(lambda: socket.socket().bind(("10.9.9.9", 0)))
    c, d = socket.socket(), socket.socket()
    for x in (c, d):
        x.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    c.bind(("0.0.0.0", 40123))
    r["reuseaddr_both"] = attempt(lambda: d.bind(("0.0.0.0", 40123)))
    e, f = socket.socket(), socket.socket()
    for x in (e, f):
        x.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    e.bind(("0.0.0.0", 40124))
    r["reuseport_both"] = attempt(lambda: f.bind(("0.0.0.0", 40124)))
    g, h = socket.socket(), socket.socket()
    for x in (g, h):
        x.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    g.bind(("0.0.0.0", 40125))
    g.listen()
    r["reuseaddr_listening"] = attempt(lambda: h.bind(("0.0.0.0", 40125)))
    r["listen_acceptconn"] = g.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN)
    for x in (a, b, c, d, e, f, g, h):
        x.close()
    return r


def c_connect():
    r = {}
    s = conn()
    ip, port = s.getsockname()
    r["sockname"] = [ip, port > 0]
    r["peername"] = list(s.getpeername())
    s.sendall(b"abcdef")
    r["peek"] = s.recv(3, socket.MSG_PEEK).decode()
    r["read"] = recv_exact(s, 6).decode()
    r["dontwait_empty"] = attempt(lambda: s.recv(10, socket.MSG_DONTWAIT))
    r["connect_again"] = attempt(lambda: s.connect((PEER, 7)))
    r["refused_blocking"] = attempt(lambda: socket.create_connection((PEER, 5), timeout=10))
    s.close()
    return r


def c_nonblocking_connect():
    r = {}
    for name, port in (("ok", 7), ("refused", 5)):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM | socket.SOCK_NONBLOCK)
        r[f"{name}_connect"] = errno.errorcode[s.connect_ex((PEER, port))]
        p = select.poll()
        p.register(s, select.POLLOUT)
        ev = p.poll(5000)
        r[f"{name}_pollout"] = bool(ev and ev[0][1] & select.POLLOUT)
        err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        r[f"{name}_so_error"] = errno.errorcode.get(err, err)
        r[f"{name}_so_error_again"] = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if name == "ok":
            r["ok_connect_after"] = errno.errorcode.get(s.connect_ex((PEER, port)), 0)
        s.close()
    return r


def c_sockopts():
    r = {}
    s = socket.socket()
    g = lambda lv, o: s.getsockopt(lv, o)  # noqa: E731
    r["ttl_default"] = g(socket.IPPROTO_IP, socket.IP_TTL)
    s.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, 5)
    r["ttl"] = g(socket.IPPROTO_IP, socket.IP_TTL)
    r["ttl_zero"] = attempt(lambda: s.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, 0))
    r["ttl_256"] = attempt(lambda: s.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, 256))
    s.setsockopt(socket.IPPROTO_IP, socket.IP_TOS, 0x10)
    r["tos"] = g(socket.IPPROTO_IP, socket.IP_TOS)
    s.setsockopt(socket.IPPROTO_IP, 21, 10)  # IP_MINTTL
    r["minttl"] = g(socket.IPPROTO_IP, 21)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    r["nodelay"] = g(socket.IPPROTO_TCP, socket.TCP_NODELAY)
    r["maxseg_unconnected"] = g(socket.IPPROTO_TCP, socket.TCP_MAXSEG)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    r["keepalive"] = g(socket.SOL_SOCKET, socket.SO_KEEPALIVE)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, 30)
    r["keepidle"] = g(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE)
    r["keepidle_zero"] = attempt(lambda: s.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, 0))
    r["rcvbuf_positive"] = g(socket.SOL_SOCKET, socket.SO_RCVBUF) > 0
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    r["linger"] = list(struct.unpack("ii", s.getsockopt(socket.SOL_SOCKET, socket.SO_LINGER, 8)))
    r["unknown_ip_opt"] = attempt(lambda: s.setsockopt(socket.IPPROTO_IP, 200, 1))
    r["priority"] = attempt(lambda: s.setsockopt(socket.SOL_SOCKET, socket.SO_PRIORITY, 6))
    s.close()
    c = conn()
    info = c.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 104)
    fields = struct.unpack("=8B24I", info)
    r["tcp_info"] = {"state": fields[0], "snd_mss>0": fields[10] > 0, "cwnd>0": fields[8 + 18] > 0}
    r["maxseg_connected>0"] = c.getsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG) > 0
    c.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, 17)
    c.sendall(b"x")
    r["echo_after_ttl"] = recv_exact(c, 1).decode()
    c.close()
    return r


def c_shutdown():
    r = {}
    s = socket.socket()
    r["unconnected"] = attempt(lambda: s.shutdown(socket.SHUT_RDWR))
    s.close()
    s = conn()
    s.sendall(b"half-close")
    s.shutdown(socket.SHUT_WR)
    r["echo_after_shut_wr"] = recv_exact(s, 64).decode()
    r["eof"] = s.recv(10)
    r["write_after_shut_wr"] = attempt(lambda: s.send(b"x", socket.MSG_NOSIGNAL))
    s.close()
    s = conn(19)
    r["peer_closes"] = [recv_exact(s, 5).decode(), s.recv(10).decode()]
    s.close()
    return r


def c_data_calls():
    r = {}
    s = conn()
    n = os.writev(s.fileno(), [b"ab", b"cd", b"ef"])
    a, b = bytearray(3), bytearray(3)
    time.sleep(0.2)
    r["writev_readv"] = [n, os.readv(s.fileno(), [a, b]), (a + b).decode()]
    with tempfile.TemporaryFile() as f:
        blob = os.urandom(200_000)
        f.write(blob)
        f.flush()
        sent = s.sendfile(f, 0)
        r["sendfile"] = [sent, recv_exact(s, len(blob)) == blob]
    big = os.urandom(1 << 20)
    got = []
    t = threading.Thread(target=lambda: got.append(recv_exact(s, len(big))))
    t.start()
    s.sendall(big)
    t.join(30)
    r["1MB_echo"] = bool(got) and got[0] == big
    s.close()
    return r


def c_poll_select_epoll():
    r = {}
    s = conn()
    p = select.poll()
    p.register(s, select.POLLIN | select.POLLOUT)
    r["poll_idle"] = pollmask(p.poll(1000)[0][1])
    s.sendall(b"x")
    time.sleep(0.3)
    r["poll_data"] = pollmask(p.poll(1000)[0][1])
    rl, wl, _ = select.select([s], [s], [], 1)
    r["select"] = [len(rl), len(wl)]
    for mode, flags in (("lt", select.EPOLLIN), ("et", select.EPOLLIN | select.EPOLLET)):
        ep = select.epoll()
        ep.register(s, flags)
        first = ep.poll(1)
        second = ep.poll(0.2)
        r[f"epoll_{mode}"] = [len(first), len(second)]
        ep.close()
    s.recv(1)
    t0 = os.times()
    p2 = select.poll()
    p2.register(s, select.POLLIN)
    r["idle_poll_events"] = p2.poll(1000)
    t1 = os.times()
    r["idle_cpu_low"] = (t1.user + t1.system - t0.user - t0.system) < 0.05
    s.close()
    return r


def c_process():
    r = {}
    s = conn()
    pid = os.fork()
    if pid == 0:
        s.sendall(b"from-child")
        os._exit(0)
    os.waitpid(pid, 0)
    r["fork_shared"] = recv_exact(s, 10).decode()
    code = ("import socket,sys; s=socket.socket(fileno=int(sys.argv[1])); "
            "s.sendall(b'from-exec'); print(s.getpeername()[1])")
    out = subprocess.run([sys.executable, "-c", code, str(s.fileno())], pass_fds=[s.fileno()],
                         capture_output=True, text=True, timeout=20)
    r["exec_inherited"] = [out.stdout.strip(), recv_exact(s, 9).decode()]
    d = os.dup(s.fileno())
    os.dup2(d, 100)
    ds = socket.socket(fileno=100)
    r["dup_peername"] = list(ds.getpeername())
    ds.sendall(b"via-dup")
    r["dup_data"] = recv_exact(s, 7).decode()
    os.close(d)
    ds.close()
    results = []

    def worker(i):
        c = conn()
        ok = all((c.sendall(bytes([i]) * 100), recv_exact(c, 100))[1] == bytes([i]) * 100 for _ in range(20))
        results.append(ok)
        c.close()
    ts = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(30)
    r["threads"] = results == [True] * 4
    # EINTR: a blocking recv interrupted by a handler without SA_RESTART
    signal.signal(signal.SIGALRM, lambda *a: None)
    signal.siginterrupt(signal.SIGALRM, True)
    signal.setitimer(signal.ITIMER_REAL, 0.3)
    buf = ctypes.create_string_buffer(10)
    n = libc.recv(s.fileno(), buf, 10, 0)
    r["eintr"] = [n, errno.errorcode.get(ctypes.get_errno(), "")]
    s.close()
    return r


def c_udp():
    r = {}
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    r["peername_unconnected"] = attempt(u.getpeername)
    u.bind(("0.0.0.0", 0))
    r["send_unconnected"] = attempt(lambda: u.send(b"x"))
    ip, port = u.getsockname()
    r["bound"] = [ip, port > 0]
    u.settimeout(5)
    u.sendto(b"0123456789" * 10, (PEER, 7))
    d, a = u.recvfrom(2048)
    r["sendto_recvfrom"] = [len(d), list(a)]
    u.sendto(b"0123456789" * 10, (PEER, 7))
    d, _anc, flags, a = u.recvmsg(10)
    r["truncated"] = [d.decode(), bool(flags & socket.MSG_TRUNC), list(a)]
    u.sendto(b"again", (PEER, 7))
    r["next_after_trunc"] = u.recv(100).decode()
    u.connect((PEER, 7))
    r["peername_connected"] = list(u.getpeername())
    u.send(b"connected")
    r["connected_recv"] = u.recv(100).decode()
    u.send(b"")
    r["empty_dgram"] = u.recv(100)
    r["shutdown_connected"] = attempt(lambda: u.shutdown(socket.SHUT_RDWR))
    u.close()
    return r


CASES = [c_identity, c_bind, c_connect, c_nonblocking_connect, c_sockopts, c_shutdown, c_data_calls,
         c_poll_select_epoll, c_process, c_udp]


def server(port: int):
    r = {}
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("0.0.0.0", port))
    ls.listen(8)
    r["sockname"] = list(ls.getsockname())
    ls.setblocking(False)
    r["accept_nothing"] = attempt(ls.accept)
    ls.setblocking(True)
    print("listening", flush=True)
    p = select.poll()
    p.register(ls, select.POLLIN)
    r["listener_readable"] = pollmask(p.poll(10000)[0][1])
    fd, addr = socket.socket.accept(ls)  # accept4 with SOCK_CLOEXEC
    c = socket.socket(fileno=fd) if isinstance(fd, int) else fd
    r["peer"] = addr[0]
    r["accepted_sockname"] = list(c.getsockname())
    r["accepted_peername_ip"] = c.getpeername()[0]
    r["data"] = recv_exact(c, 4).decode()
    c.sendall(b"pong")
    c.close()
    ls.close()
    print(json.dumps(r, default=repr), flush=True)


def main():
    if sys.argv[1:2] == ["server"]:
        return server(int(sys.argv[2]))
    signal.alarm(120)
    out = {}
    for case in CASES:
        try:
            out[case.__name__[2:]] = case()
        except Exception as e:  # a case that blows up is a result too
            out[case.__name__[2:]] = f"EXCEPTION {type(e).__name__}: {e}"
    print(json.dumps(out, default=repr))


if __name__ == "__main__":
    main()
