"""Socket semantics, the program as a TCP client of the kernel's services at 10.0.0.1 (peer.py):
socket() flags, identity options, bind, listen, connect (blocking, non-blocking, refused, timed
out, interrupted), socket options, TCP_INFO, shutdown, the data calls and their flags, and how the
connection ends (FIN, RST, SO_LINGER). Prints one JSON line {case: result}."""

import ctypes
import os
import select
import signal
import socket
import stat
import struct
import tempfile
import threading
import time

from common import (BLACKHOLE, CHARGEN, CLOSED, ECHO, IP_MINTTL, LOCAL, PEER, STALL, TCP_SYNCNT,
                    Caught, attempt, bconn, c_bind, c_connect, conn, cret, en, fd_flags, ident, interrupt_later,
                    libc, peername, pollmask, pos, recv_exact, registry, reset_conn, run, sockname, tcp_info,
                    tcp_state, wait_mask, watch, watched, within)

case = registry()
SOL, TCP, IP = socket.SOL_SOCKET, socket.IPPROTO_TCP, socket.IPPROTO_IP
NOSIG = socket.MSG_NOSIGNAL


def hup_or_err(m):
    return "POLLHUP" in m or "POLLERR" in m


def nb_socket() -> socket.socket:
    return socket.socket(socket.AF_INET, socket.SOCK_STREAM | socket.SOCK_NONBLOCK)


# ------------------------------------------------------------------------------- socket, identity
@case
def socket_flags():
    r = {}
    for name, typ in (("stream", socket.SOCK_STREAM),
                      ("stream_nonblock_cloexec", socket.SOCK_STREAM | socket.SOCK_NONBLOCK | socket.SOCK_CLOEXEC),
                      ("stream_cloexec", socket.SOCK_STREAM | socket.SOCK_CLOEXEC),
                      ("dgram_nonblock", socket.SOCK_DGRAM | socket.SOCK_NONBLOCK)):
        fd = libc.socket(socket.AF_INET, typ, 0)
        r[name] = fd_flags(fd) if fd >= 0 else cret(fd)
        if fd >= 0:
            os.close(fd)
    r["stream_udp_proto"] = cret(libc.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_UDP))
    r["dgram_tcp_proto"] = cret(libc.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_TCP))
    r["bad_type_flag"] = cret(libc.socket(socket.AF_INET, socket.SOCK_STREAM | 0x10000000, 0))
    fd = libc.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    r["explicit_tcp_proto"] = fd >= 0
    os.close(fd)
    t = socket.socket()
    r["is_socket"] = stat.S_ISSOCK(os.fstat(t.fileno()).st_mode)
    t.close()
    # a closed socket's number is the next one handed out (lowest free descriptor)
    a = socket.socket()
    n = a.fileno()
    a.close()
    b = socket.socket()
    r["lowest_fd_reused"] = b.fileno() == n
    b.close()
    # F_SETFL O_NONBLOCK afterwards
    s = socket.socket()
    s.setblocking(False)
    r["fcntl_nonblock"] = [fd_flags(s)["nonblock"], attempt(s.recv, 1)]
    s.close()
    return r


@case
def identity():
    r = {}
    s = socket.socket()
    r["tcp"] = ident(s)
    r["tcp_sockname"] = sockname(s)
    r["tcp_peername"] = attempt(s.getpeername)
    s.connect((PEER, ECHO))
    r["connected"] = ident(s)
    s.close()
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    r["udp"] = ident(u)
    u.close()
    s = socket.socket()
    s.listen()
    r["listening"] = ident(s)
    s.close()
    return r


# ------------------------------------------------------------------------------- bind, listen
@case
def bind_port0():
    r = {}
    a = socket.socket()
    r["bind"] = attempt(a.bind, ("0.0.0.0", 0))
    r["sockname"] = sockname(a)
    r["bind_again"] = attempt(a.bind, ("0.0.0.0", 0))
    a.close()
    b = socket.socket()
    b.bind((LOCAL, 0))
    r["local_addr"] = sockname(b)
    b.close()
    for name, ip in (("nonlocal", "10.9.9.9"), ("peer_addr", PEER)):
        c = socket.socket()
        r[name] = attempt(c.bind, (ip, 0))
        c.close()
    d = socket.socket()
    r["short_addrlen"] = c_bind(d.fileno(), "0.0.0.0", 0, length=8)
    r["wrong_family"] = c_bind(d.fileno(), LOCAL, 0, family=socket.AF_UNIX)
    r["after_failures"] = [attempt(d.bind, (LOCAL, 20001)), sockname(d)]
    d.close()
    return r


@case
def bind_conflicts():
    r = {}
    S = lambda: socket.socket()  # noqa: E731

    def pair(port, a_opts=(), b_opts=(), a_ip="0.0.0.0", b_ip="0.0.0.0", listen_a=False, listen_b=False):
        a, b = S(), S()
        for o in a_opts:
            a.setsockopt(SOL, o, 1)
        for o in b_opts:
            b.setsockopt(SOL, o, 1)
        a.bind((a_ip, port))
        if listen_a:
            a.listen()
        res = attempt(b.bind, (b_ip, port))
        if res == "ok" and listen_b:
            res = attempt(b.listen)
        a.close()
        b.close()
        return res

    RA, RP = socket.SO_REUSEADDR, socket.SO_REUSEPORT
    r["same_port"] = pair(20011)
    r["wildcard_then_specific"] = pair(20012, b_ip=LOCAL)
    r["specific_then_wildcard"] = pair(20013, a_ip=LOCAL)
    r["reuseaddr_both"] = pair(20014, [RA], [RA])
    r["reuseaddr_one"] = pair(20015, [RA])
    r["reuseaddr_both_first_listening"] = pair(20016, [RA], [RA], listen_a=True)
    r["reuseaddr_both_both_listen"] = pair(20017, [RA], [RA], listen_b=True)
    r["reuseport_both"] = pair(20018, [RP], [RP])
    r["reuseport_both_listening"] = pair(20019, [RP], [RP], listen_a=True, listen_b=True)
    r["reuseport_one"] = pair(20020, [RP])
    s = S()
    r["getsockopt_defaults"] = [attempt(s.getsockopt, SOL, RA), attempt(s.getsockopt, SOL, RP)]
    s.setsockopt(SOL, RA, 1)
    s.setsockopt(SOL, RP, 5)
    r["getsockopt_set"] = [attempt(s.getsockopt, SOL, RA), attempt(s.getsockopt, SOL, RP)]
    s.close()
    # a port a connection uses locally cannot be bound again
    c = conn(ECHO)
    port = c.getsockname()[1]
    d = S()
    r["port_of_a_connection"] = attempt(d.bind, ("0.0.0.0", port))
    d.close()
    c.close()
    return r


@case
def listen_calls():
    r = {}
    s = socket.socket()
    r["listen_unbound"] = attempt(s.listen, 4)
    r["autobound"] = sockname(s)
    r["listen_again"] = attempt(s.listen, 16)
    r["state"] = tcp_state(s)
    r["connect_on_listener"] = attempt(s.connect, (PEER, ECHO))
    s.close()
    c = conn()
    r["listen_on_connected"] = attempt(c.listen)
    r["accept_on_connected"] = attempt(lambda: cret(libc.accept(c.fileno(), None, None)))
    c.close()
    n = socket.socket()
    r["accept_not_listening"] = attempt(lambda: cret(libc.accept(n.fileno(), None, None)))
    n.close()
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    r["udp_listen"] = attempt(u.listen)
    r["udp_accept"] = attempt(lambda: cret(libc.accept(u.fileno(), None, None)))
    u.close()
    return r


# ------------------------------------------------------------------------------- connect
@case
def connect_blocking():
    r = {}
    s = socket.socket()
    r["connect"] = attempt(s.connect, (PEER, ECHO))
    r["sockname"] = sockname(s)
    r["peername"] = peername(s)
    r["so_error"] = attempt(s.getsockopt, SOL, socket.SO_ERROR)
    r["connect_again"] = attempt(s.connect, (PEER, ECHO))
    r["connect_elsewhere"] = attempt(s.connect, (PEER, CLOSED))
    r["state"] = tcp_state(s)
    r["flags"] = fd_flags(s)
    s.close()
    b = socket.socket()
    b.bind((LOCAL, 20002))
    r["bound_then_connect"] = [attempt(b.connect, (PEER, ECHO)), sockname(b)]
    b.close()
    t = socket.socket()
    r["short_addrlen"] = c_connect(t.fileno(), PEER, ECHO, length=8)
    t.close()
    return r


@case
def connect_refused():
    r = {}
    s = socket.socket()
    r["connect"] = attempt(s.connect, (PEER, CLOSED))
    r["peername"] = attempt(s.getpeername)
    r["so_error"] = attempt(s.getsockopt, SOL, socket.SO_ERROR)
    r["state"] = tcp_state(s)
    r["connect_again_elsewhere"] = attempt(s.connect, (PEER, ECHO))  # a failed socket can connect again
    r["peername_then"] = attempt(s.getpeername)
    s.close()
    return r


@case
def connect_nonblocking_established():
    r = {}
    s = nb_socket()
    r["connect"] = en(s.connect_ex((PEER, ECHO)))
    r["poll"] = wait_mask(s, lambda m: m != [], events=select.POLLOUT)
    r["so_error"] = attempt(s.getsockopt, SOL, socket.SO_ERROR)
    r["connect_again"] = en(s.connect_ex((PEER, ECHO)))
    r["peername"] = peername(s)
    r["state"] = tcp_state(s)
    r["send"] = s.send(b"hi")
    r["echo"] = wait_mask(s, lambda m: "POLLIN" in m) and s.recv(10).decode()
    s.close()
    return r


@case
def connect_nonblocking_in_progress():
    """The peer drops our SYNs (its accept queue is full): the connect stays in progress."""
    r = {}
    s = nb_socket()
    r["connect"] = en(s.connect_ex((PEER, BLACKHOLE)))
    r["poll_500ms"] = pollmask(s, timeout_ms=500)
    r["writable_before_established"] = "POLLOUT" in r["poll_500ms"]
    r["select_writable"] = bool(select.select([], [s], [], 0.1)[1])
    r["connect_again"] = en(s.connect_ex((PEER, BLACKHOLE)))
    r["so_error"] = attempt(s.getsockopt, SOL, socket.SO_ERROR)
    r["state"] = tcp_state(s)
    r["peername"] = attempt(s.getpeername)
    r["sockname"] = sockname(s)
    r["send"] = attempt(s.send, b"x", NOSIG)
    r["recv"] = attempt(s.recv, 1)
    s.close()
    return r


@case
def connect_nonblocking_refused():
    r = {}
    for then in ("so_error", "recv", "send", "connect"):
        s = nb_socket()
        res = {"connect": en(s.connect_ex((PEER, CLOSED)))}
        res["poll"] = wait_mask(s, lambda m: m != [])
        if then == "so_error":
            res["so_error"] = en(attempt(s.getsockopt, SOL, socket.SO_ERROR))
            res["so_error_again"] = en(attempt(s.getsockopt, SOL, socket.SO_ERROR))
            res["recv"] = attempt(s.recv, 1)
            res["send"] = attempt(s.send, b"x", NOSIG)
            res["connect_again"] = en(s.connect_ex((PEER, CLOSED)))
            res["state"] = tcp_state(s)
        elif then == "recv":
            res["recv"] = attempt(s.recv, 1)
            res["recv_again"] = attempt(s.recv, 1)
            res["poll_after"] = pollmask(s)
        elif then == "send":
            res["send"] = attempt(s.send, b"x", NOSIG)
            res["send_again"] = attempt(s.send, b"x", NOSIG)
        else:
            res["connect_again"] = en(s.connect_ex((PEER, CLOSED)))
            res["so_error_after"] = en(attempt(s.getsockopt, SOL, socket.SO_ERROR))
        r[then] = res
        s.close()
    return r


@case
def connect_timeout():
    """SYNs dropped and TCP_SYNCNT 1: one retransmission (after 1 s), then ETIMEDOUT (at ~3 s)."""
    r = {}
    s = nb_socket()
    s.setsockopt(TCP, TCP_SYNCNT, 1)
    r["syncnt"] = attempt(s.getsockopt, TCP, TCP_SYNCNT)
    t0 = time.monotonic()
    r["connect"] = en(s.connect_ex((PEER, BLACKHOLE)))
    r["poll"] = wait_mask(s, lambda m: m != [], timeout=8)
    dt = time.monotonic() - t0
    r["took_2_to_6_s"] = 2 < dt < 6
    r["so_error"] = en(attempt(s.getsockopt, SOL, socket.SO_ERROR))
    r["state"] = tcp_state(s)
    s.close()
    return r


@case
def connect_interrupted():
    r = {}
    h = Caught(restart=False)
    try:
        s = socket.socket()
        interrupt_later(0.2)
        t0 = time.monotonic()
        r["blocking_connect"] = c_connect(s.fileno(), PEER, BLACKHOLE)
        r["returned_at_signal"] = time.monotonic() - t0 < 1.0
        r["handler_ran"] = h.count
        r["state"] = tcp_state(s)
        s.setblocking(False)
        r["connect_again_nonblocking"] = en(s.connect_ex((PEER, BLACKHOLE)))
        r["peername"] = attempt(s.getpeername)
        s.close()
    finally:
        h.restore()
    return r


# ------------------------------------------------------------------------------- socket options
@case
def ip_options():
    r = {}
    s = socket.socket()
    g = lambda o: attempt(s.getsockopt, IP, o)  # noqa: E731
    r["ttl_default"] = g(socket.IP_TTL)
    r["ttl_set_5"] = [attempt(s.setsockopt, IP, socket.IP_TTL, 5), g(socket.IP_TTL)]
    r["ttl_one_byte"] = attempt(lambda: list(s.getsockopt(IP, socket.IP_TTL, 1)))  # one byte asked: one given
    r["ttl_0"] = attempt(s.setsockopt, IP, socket.IP_TTL, 0)
    r["ttl_256"] = attempt(s.setsockopt, IP, socket.IP_TTL, 256)
    r["ttl_minus1"] = [attempt(s.setsockopt, IP, socket.IP_TTL, -1), g(socket.IP_TTL)]
    r["tos_default"] = g(socket.IP_TOS)
    r["tos_set_0x13"] = [attempt(s.setsockopt, IP, socket.IP_TOS, 0x13), g(socket.IP_TOS)]  # ECN bits kept out
    r["minttl_default"] = g(IP_MINTTL)
    r["minttl_set"] = [attempt(s.setsockopt, IP, IP_MINTTL, 10), g(IP_MINTTL)]
    r["minttl_256"] = attempt(s.setsockopt, IP, IP_MINTTL, 256)
    r["unknown"] = [attempt(s.setsockopt, IP, 200, 1), attempt(s.getsockopt, IP, 200)]
    r["short_optlen"] = attempt(s.setsockopt, IP, socket.IP_TTL, b"")
    # the options hold across connect, and the connection still works with them
    s.setsockopt(IP, socket.IP_TTL, 9)
    s.setsockopt(IP, IP_MINTTL, 1)
    s.connect((PEER, ECHO))
    r["after_connect"] = [g(socket.IP_TTL), g(socket.IP_TOS), g(IP_MINTTL)]
    s.setsockopt(IP, socket.IP_TTL, 17)
    s.sendall(b"ttl")
    r["echo"] = recv_exact(s, 3).decode()
    s.close()
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.setsockopt(IP, socket.IP_TOS, 0x13)
    r["udp_tos_0x13"] = attempt(u.getsockopt, IP, socket.IP_TOS)
    r["tcp_level_on_udp"] = [attempt(u.setsockopt, TCP, socket.TCP_NODELAY, 1),
                             attempt(u.getsockopt, TCP, socket.TCP_NODELAY)]
    u.close()
    return r


@case
def tcp_options():
    r = {}
    s = socket.socket()
    g = lambda o: attempt(s.getsockopt, TCP, o)  # noqa: E731
    r["nodelay"] = [g(socket.TCP_NODELAY), attempt(s.setsockopt, TCP, socket.TCP_NODELAY, 1),
                    g(socket.TCP_NODELAY), attempt(s.setsockopt, TCP, socket.TCP_NODELAY, 7), g(socket.TCP_NODELAY)]
    r["maxseg_default_unconnected"] = g(socket.TCP_MAXSEG)
    r["maxseg_10"] = attempt(s.setsockopt, TCP, socket.TCP_MAXSEG, 10)
    r["maxseg_1000"] = [attempt(s.setsockopt, TCP, socket.TCP_MAXSEG, 1000), g(socket.TCP_MAXSEG)]
    r["keepalive"] = [g(socket.TCP_KEEPIDLE), g(socket.TCP_KEEPINTVL), g(socket.TCP_KEEPCNT)]
    r["keepidle_0"] = attempt(s.setsockopt, TCP, socket.TCP_KEEPIDLE, 0)
    r["keepidle_set"] = [attempt(s.setsockopt, TCP, socket.TCP_KEEPIDLE, 30), g(socket.TCP_KEEPIDLE)]
    r["keepcnt_200"] = attempt(s.setsockopt, TCP, socket.TCP_KEEPCNT, 200)
    r["unknown"] = attempt(s.setsockopt, TCP, 250, 1)
    s.connect((PEER, ECHO))
    r["maxseg_connected_le_1000"] = within(g(socket.TCP_MAXSEG), 0, 1000)
    r["nodelay_after_connect"] = g(socket.TCP_NODELAY)
    s.sendall(b"x" * 3000)
    r["echo_3000"] = len(recv_exact(s, 3000))
    s.close()
    c = conn()
    r["maxseg_default_connected_le_1460"] = within(attempt(c.getsockopt, TCP, socket.TCP_MAXSEG), 0, 1460)
    c.close()
    return r


@case
def tcp_info_states():
    r = {}
    s = socket.socket()
    r["unconnected"] = tcp_state(s)
    s.connect((PEER, ECHO))
    for _ in range(3):
        s.sendall(b"rtt")
        recv_exact(s, 3)
    i = attempt(tcp_info, s)
    r["established"] = i if not isinstance(i, dict) else {
        "state": i["state"], "rtt>0": i["rtt"] > 0, "snd_cwnd>0": i["snd_cwnd"] > 0, "snd_mss>0": i["snd_mss"] > 0,
        "rto>0": i["rto"] > 0, "len": i["len"]}
    s.close()
    l = socket.socket()  # noqa: E741
    l.listen()
    r["listener"] = tcp_state(l)
    l.close()
    c = conn(CHARGEN)
    c.sendall(b"10\n")
    recv_exact(c, 10)
    c.recv(1)  # EOF
    r["after_peer_fin"] = tcp_state(c)
    c.close()
    c = conn(STALL)
    c.shutdown(socket.SHUT_WR)
    deadline = time.monotonic() + 3
    while tcp_state(c) == "FIN_WAIT1" and time.monotonic() < deadline:
        time.sleep(0.01)
    r["after_our_fin_acked"] = tcp_state(c)
    c.close()
    c = reset_conn()
    r["after_reset"] = tcp_state(c)
    c.close()
    return r


@case
def socket_level_options():
    r = {}
    s = socket.socket()
    g = lambda o: attempt(s.getsockopt, SOL, o)  # noqa: E731
    r["keepalive"] = [g(socket.SO_KEEPALIVE), attempt(s.setsockopt, SOL, socket.SO_KEEPALIVE, 1),
                      g(socket.SO_KEEPALIVE)]
    r["rcvbuf_positive"] = pos(g(socket.SO_RCVBUF))
    r["sndbuf_positive"] = pos(g(socket.SO_SNDBUF))
    s.setsockopt(SOL, socket.SO_RCVBUF, 65536)
    s.setsockopt(SOL, socket.SO_SNDBUF, 65536)
    r["bufs_set_65536_read_doubled"] = [g(socket.SO_RCVBUF) == 131072, g(socket.SO_SNDBUF) == 131072]
    lg = lambda: attempt(lambda: list(struct.unpack("ii", s.getsockopt(SOL, socket.SO_LINGER, 8))))  # noqa: E731
    r["linger_default"] = lg()
    s.setsockopt(SOL, socket.SO_LINGER, struct.pack("ii", 1, 5))
    r["linger_set"] = lg()
    r["linger_short"] = attempt(s.setsockopt, SOL, socket.SO_LINGER, b"\x01\x00")
    r["unknown"] = [attempt(s.setsockopt, SOL, 9999, 1), attempt(s.getsockopt, SOL, 9999)]
    r["rcvtimeo_default"] = attempt(lambda: list(struct.unpack("ll", s.getsockopt(SOL, socket.SO_RCVTIMEO, 16))))
    s.connect((PEER, ECHO))
    r["after_connect"] = [g(socket.SO_KEEPALIVE), lg(), pos(g(socket.SO_RCVBUF))]
    # SO_RCVTIMEO on a blocking socket: recv gives up with EAGAIN
    s.setsockopt(SOL, socket.SO_RCVTIMEO, struct.pack("ll", 0, 200000))
    t0 = time.monotonic()
    r["rcvtimeo_recv"] = cret(libc.recv(s.fileno(), ctypes.create_string_buffer(10), 10, 0))
    r["rcvtimeo_waited"] = 0.15 < time.monotonic() - t0 < 2
    s.setsockopt(SOL, socket.SO_LINGER, struct.pack("ii", 0, 0))
    s.close()
    return r


# ------------------------------------------------------------------------------- shutdown
@case
def shutdown_calls():
    r = {}
    s = socket.socket()
    r["unconnected"] = {"poll": pollmask(s), "send": attempt(s.send, b"x", NOSIG), "recv": attempt(s.recv, 1),
                        "shutdown": attempt(s.shutdown, socket.SHUT_WR)}
    s.close()
    s = conn()
    s.sendall(b"half-close")
    r["shut_wr"] = attempt(s.shutdown, socket.SHUT_WR)
    r["write_after_shut_wr"] = attempt(s.send, b"x", NOSIG)
    r["echo_still_read"] = recv_exact(s, 10).decode()
    r["eof"] = attempt(s.recv, 10)
    r["poll_after_both_fins"] = wait_mask(s, lambda m: "POLLHUP" in m)
    s.close()
    s = conn(STALL)  # a peer that never closes: the state stays put between the calls
    r["shut_bad_how"] = attempt(s.shutdown, 5)
    r["shut_wr_stalled"] = attempt(s.shutdown, socket.SHUT_WR)
    r["shut_wr_twice"] = attempt(s.shutdown, socket.SHUT_WR)
    r["shut_rd_after_wr"] = attempt(s.shutdown, socket.SHUT_RD)
    r["poll_after_shut_wr_rd"] = pollmask(s)
    s.close()
    s = conn()
    r["shut_rd"] = attempt(s.shutdown, socket.SHUT_RD)
    r["read_after_shut_rd"] = attempt(s.recv, 10)
    r["poll_after_shut_rd"] = pollmask(s)
    r["write_after_shut_rd"] = attempt(s.send, b"x", NOSIG)
    s.close()
    s = conn()
    r["shut_rdwr"] = attempt(s.shutdown, socket.SHUT_RDWR)
    r["rdwr_read"] = attempt(s.recv, 10)
    r["rdwr_write"] = attempt(s.send, b"x", NOSIG)
    r["rdwr_poll"] = pollmask(s)
    s.close()
    w = watch("shutdown-wr")
    w.sendall(b"data")
    w.shutdown(socket.SHUT_WR)
    r["peer_sees_eof_while_open"] = watched("shutdown-wr")
    w.close()
    return r


# ------------------------------------------------------------------------------- data calls
@case
def send_recv_flags():
    r = {}
    s = bconn()
    s.sendall(b"abcdef")
    r["peek_waitall"] = s.recv(6, socket.MSG_PEEK | socket.MSG_WAITALL).decode()
    r["peek_3"] = s.recv(3, socket.MSG_PEEK).decode()
    r["read_all"] = s.recv(6).decode()
    r["dontwait_empty"] = attempt(s.recv, 10, socket.MSG_DONTWAIT)
    r["still_blocking_fd"] = fd_flags(s)["nonblock"]
    r["send_dontwait"] = attempt(s.send, b"xy", socket.MSG_DONTWAIT)
    r["recv_dontwait_data"] = s.recv(2, socket.MSG_WAITALL).decode()
    # MSG_WAITALL collects several segments
    t = threading.Thread(target=lambda: [(s.send(b"%d" % i), time.sleep(0.02)) for i in range(10)])
    t.start()
    r["waitall_10"] = s.recv(10, socket.MSG_WAITALL).decode()
    t.join()
    # sendmsg / recvmsg on TCP
    r["sendmsg"] = s.sendmsg([b"ab", b"cd", b"ef"])
    d, anc, flags, a = s.recvmsg(6, 0, socket.MSG_WAITALL)
    r["recvmsg"] = [d.decode(), anc, flags, a]
    # read/write and readv/writev on the fd
    r["write"] = os.write(s.fileno(), b"12345")
    s.recv(5, socket.MSG_PEEK | socket.MSG_WAITALL)
    r["read"] = os.read(s.fileno(), 5).decode()
    r["writev"] = os.writev(s.fileno(), [b"ab", b"", b"cde", b"f"])
    s.recv(6, socket.MSG_PEEK | socket.MSG_WAITALL)
    fionread = ctypes.c_int()
    libc.ioctl(s.fileno(), 0x541B, ctypes.byref(fionread))  # FIONREAD
    r["fionread"] = fionread.value
    a, b = bytearray(2), bytearray(10)
    r["readv"] = [os.readv(s.fileno(), [a, b]), (a + b[:4]).decode()]
    s.close()
    return r


@case
def sigpipe_and_msg_nosignal():
    r = {}
    h = Caught(signal.SIGPIPE)
    try:
        s = conn()
        s.shutdown(socket.SHUT_WR)
        r["nosignal"] = attempt(s.send, b"x", NOSIG)
        time.sleep(0.05)
        r["nosignal_signals"] = h.count
        r["plain_send"] = attempt(s.send, b"x")
        time.sleep(0.05)
        r["plain_send_signals"] = h.count
        r["plain_write"] = attempt(os.write, s.fileno(), b"x")
        time.sleep(0.05)
        r["plain_write_signals"] = h.count
        s.close()
    finally:
        h.restore()
        signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    return r


@case
def sendfile_and_bulk():
    r = {}
    s = conn()
    blob = os.urandom(300_000)
    got = []
    t = threading.Thread(target=lambda: got.append(recv_exact(s, len(blob) * 2, timeout=20)))
    t.start()
    with tempfile.TemporaryFile() as f:
        f.write(blob)
        f.flush()
        sent, off = 0, 0
        s.setblocking(True)
        while off < len(blob):
            n = os.sendfile(s.fileno(), f.fileno(), off, len(blob) - off)
            if n <= 0:
                break
            off += n
        sent = off
    s.sendall(blob)
    t.join(25)
    r["sendfile_sent"] = sent
    r["echoed_equal"] = bool(got) and got[0] == blob + blob
    s.close()
    # 2 MB one way, then EOF: the peer got every byte
    w = watch("bulk")
    w.settimeout(20)
    w.sendall(os.urandom(2 << 20))
    w.close()
    r["bulk_2MB_peer_saw"] = watched("bulk")
    return r


@case
def peer_closes():
    r = {}
    s = conn(CHARGEN)
    s.sendall(b"100000\n")
    d = recv_exact(s, 100000)
    r["data_ok"] = d == bytes(i & 0xFF for i in range(65536)) + bytes(i & 0xFF for i in range(100000 - 65536))
    r["eof"] = attempt(s.recv, 10)
    r["eof_again"] = attempt(s.recv, 10)
    r["poll_after_fin"] = pollmask(s)
    r["so_error"] = attempt(s.getsockopt, SOL, socket.SO_ERROR)
    r["write_into_closed_peer"] = attempt(s.send, b"x", NOSIG)  # the peer answers with RST
    r["poll_after_rst"] = wait_mask(s, hup_or_err)
    r["read_after_rst"] = attempt(s.recv, 10)
    r["write_after_rst"] = attempt(s.send, b"x", NOSIG)
    r["write_again"] = attempt(s.send, b"x", NOSIG)
    s.close()
    return r


@case
def peer_resets():
    r = {}
    s = reset_conn()
    r["poll"] = pollmask(s)
    r["recv"] = attempt(s.recv, 1)
    r["recv_again"] = attempt(s.recv, 1)
    r["poll_after"] = pollmask(s)
    s.close()
    s = reset_conn()
    r["send_first"] = [attempt(s.send, b"x", NOSIG), attempt(s.send, b"x", NOSIG)]
    s.close()
    s = reset_conn()
    r["so_error_first"] = [en(attempt(s.getsockopt, SOL, socket.SO_ERROR)), attempt(s.recv, 1),
                           attempt(s.send, b"x", NOSIG)]
    s.close()
    with tempfile.TemporaryFile() as f:  # sendfile has no MSG_NOSIGNAL: SIGPIPE is ignored here
        f.write(b"x" * 10)
        f.flush()
        s = reset_conn()
        r["sendfile_first"] = [attempt(os.sendfile, s.fileno(), f.fileno(), 0, 10) for _ in range(2)]
        s.close()
    return r


@case
def how_the_peer_sees_our_close():
    r = {}
    w = watch("close")
    w.sendall(b"abcd")
    w.close()
    r["close"] = watched("close")
    w = watch("close-unread", 10)
    w.recv(11, socket.MSG_PEEK | socket.MSG_WAITALL)  # b"+" and 10 bytes we leave unread
    w.close()
    r["close_with_unread_data"] = watched("close-unread")
    w = watch("linger0")
    w.setsockopt(SOL, socket.SO_LINGER, struct.pack("ii", 1, 0))
    w.sendall(b"abc")
    w.close()
    r["linger_0_abortive"] = watched("linger0")
    w = watch("linger2")
    w.settimeout(10)
    w.setsockopt(SOL, socket.SO_LINGER, struct.pack("ii", 1, 2))
    w.sendall(b"z" * 100000)
    w.setblocking(True)
    t0 = time.monotonic()
    w.close()
    r["linger_2_close_quick"] = time.monotonic() - t0 < 1.5
    r["linger_2_graceful"] = watched("linger2")
    return r


def main():
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    run(case.cases)


if __name__ == "__main__":
    main()
