"""Socket semantics over UDP against the kernel at 10.0.0.1 (echo on 7, "answer from port 10" on
8, nothing on 5): bind, sendto/recvfrom, connect/send/recv, recvmsg with truncation, datagram
boundaries, the largest datagrams, peeking, readiness, ICMP errors. prog_udp6.py runs the same
cases over native IPv6 (AF_INET6 sockets, the kernel at 2001:db8::1). Prints one JSON line
{case: result}."""

import ctypes
import os
import select
import socket
import struct
import time

from common import (CLOSED, LOCAL, LOCAL6, PEER, PEER6, UDP_ECHO, UDP_OTHER, Sockaddr, attempt, c_recv, cret, en,
                    libc, peername, pollmask, pos, registry, run, sockname, wait_mask)

case = registry()
SOL = socket.SOL_SOCKET
IP_PKTINFO, IPV6_RECVPKTINFO, IPV6_PKTINFO = 8, 49, 50
# the family the cases run in (prog_udp6.py: IPv6): the socket's, ours and the peer's addresses, one
# address that is not ours, the largest datagram that fits a 1500-byte MTU and the largest there is
FAM, ANY, HERE, THERE, NONLOCAL, FIT, MAX = socket.AF_INET, "0.0.0.0", LOCAL, PEER, "10.9.9.9", 1472, 65507


def ipv6() -> None:
    """Run the cases over native IPv6, against the peer's IPv6 services."""
    global FAM, ANY, HERE, THERE, NONLOCAL, FIT, MAX
    FAM, ANY, HERE, THERE, NONLOCAL, FIT, MAX = socket.AF_INET6, "::", LOCAL6, PEER6, "2001:db8::5", 1452, 65527


def udp(**kw) -> socket.socket:
    return socket.socket(FAM, socket.SOCK_DGRAM, **kw)


def readable(s, timeout=3.0) -> bool:
    return "POLLIN" in wait_mask(s, lambda m: "POLLIN" in m, timeout)


@case
def unbound_socket():
    r = {}
    u = udp()
    r["sockname"] = sockname(u)
    r["peername"] = attempt(u.getpeername)
    r["send_no_destination"] = attempt(u.send, b"x")
    r["recv_nothing"] = attempt(u.recv, 10, socket.MSG_DONTWAIT)
    r["poll"] = pollmask(u)
    r["shutdown"] = attempt(u.shutdown, socket.SHUT_RDWR)
    u.close()
    u = udp()
    r["sendto_autobinds"] = [u.sendto(b"auto", (THERE, UDP_ECHO)), sockname(u)]
    r["echo"] = readable(u) and u.recv(10).decode()
    u.close()
    return r


@case
def bind_calls():
    r = {}
    a = udp()
    r["port0"] = [attempt(a.bind, (ANY, 0)), sockname(a)]
    r["bind_again"] = attempt(a.bind, (ANY, 0))
    port = a.getsockname()[1]
    b = udp()
    r["same_port"] = attempt(b.bind, (ANY, port))
    b.close()
    b = udp()
    r["specific_same_port"] = attempt(b.bind, (HERE, port))
    b.close()
    a.close()
    c = udp()
    r["local_addr"] = [attempt(c.bind, (HERE, 20201)), sockname(c)]
    c.close()
    d = udp()
    r["nonlocal"] = attempt(d.bind, (NONLOCAL, 0))
    d.close()
    for name, opt in (("reuseaddr_both", socket.SO_REUSEADDR), ("reuseport_both", socket.SO_REUSEPORT)):
        x, y = udp(), udp()
        for s in (x, y):
            s.setsockopt(SOL, opt, 1)
        x.bind((ANY, 20202 if opt == socket.SO_REUSEADDR else 20203))
        r[name] = attempt(y.bind, (ANY, 20202 if opt == socket.SO_REUSEADDR else 20203))
        x.close()
        y.close()
    return r


@case
def sendto_recvfrom():
    r = {}
    u = udp()
    u.bind((ANY, 0))
    u.settimeout(3)
    r["sendto"] = u.sendto(b"0123456789" * 10, (THERE, UDP_ECHO))
    d, a = u.recvfrom(2048)
    r["recvfrom"] = [len(d), list(a)]
    r["poll_idle"] = pollmask(u)
    u.sendto(b"x", (THERE, UDP_ECHO))
    r["poll_pending"] = wait_mask(u, lambda m: "POLLIN" in m)
    u.recv(10)
    # datagram boundaries are kept
    for m in (b"a", b"bb", b"ccc"):
        u.sendto(m, (THERE, UDP_ECHO))
        readable(u)
    time.sleep(0.05)
    r["boundaries"] = [u.recv(100).decode() for _ in range(3)]
    # empty datagram
    r["empty_sendto"] = u.sendto(b"", (THERE, UDP_ECHO))
    d, a = u.recvfrom(100)
    r["empty_recvfrom"] = [d.decode(), list(a)]
    # an answer from another port is delivered with that port
    u.sendto(b"other", (THERE, UDP_OTHER))
    d, a = u.recvfrom(100)
    r["other_port_answer"] = [d.decode(), list(a)]
    r["nothing_left"] = c_recv(u.fileno(), 10, socket.MSG_DONTWAIT)[0]
    # sendmsg with an address and several buffers, recvmsg_into several buffers
    r["sendmsg"] = u.sendmsg([b"ab", b"cd", b"ef"], [], 0, (THERE, UDP_ECHO))
    readable(u)
    b1, b2 = bytearray(4), bytearray(4)
    n, anc, flags, a = u.recvmsg_into([b1, b2])
    r["recvmsg_into"] = [n, (b1 + b2)[:n].decode(), anc, flags, list(a)]
    u.close()
    return r


@case
def truncation_and_peek():
    r = {}
    u = udp()
    u.bind((ANY, 0))
    u.settimeout(3)
    u.sendto(b"0123456789" * 10, (THERE, UDP_ECHO))
    readable(u)
    d, anc, flags, a = u.recvmsg(10)
    r["recvmsg_truncated"] = [d.decode(), bool(flags & socket.MSG_TRUNC), list(a)]
    u.sendto(b"next", (THERE, UDP_ECHO))
    r["rest_discarded"] = u.recv(100).decode()
    u.sendto(b"0123456789" * 10, (THERE, UDP_ECHO))
    readable(u)
    buf = bytearray(10)
    r["recv_into_msg_trunc_gives_real_length"] = [u.recv_into(buf, 10, socket.MSG_TRUNC), buf.decode()]
    u.sendto(b"short", (THERE, UDP_ECHO))
    readable(u)
    r["recvfrom_smaller_buffer"] = u.recvfrom(3)[0].decode()
    u.sendto(b"peekaboo", (THERE, UDP_ECHO))
    readable(u)
    r["peek"] = [u.recv(4, socket.MSG_PEEK).decode(), u.recv(100, socket.MSG_PEEK).decode(), u.recv(100).decode()]
    r["recvmsg_peek_trunc"] = None
    u.sendto(b"0123456789", (THERE, UDP_ECHO))
    readable(u)
    d, anc, flags, a = u.recvmsg(4, 0, socket.MSG_PEEK)
    r["recvmsg_peek_trunc"] = [d.decode(), bool(flags & socket.MSG_TRUNC), u.recv(100).decode()]
    u.close()
    return r


@case
def large_datagrams():
    r = {}
    u = udp()
    u.bind((ANY, 0))
    u.settimeout(3)
    for n in (FIT, 4000):  # FIT fits a 1500-byte MTU; 4000 is fragmented and reassembled
        blob = os.urandom(n)
        sent = attempt(u.sendto, blob, (THERE, UDP_ECHO))
        got = attempt(u.recv, 65536)
        r[str(n)] = [sent, got == blob.decode("latin-1")]
    r["too_big"] = attempt(u.sendto, b"x" * 70000, (THERE, UDP_ECHO))
    blob = os.urandom(MAX)  # the most a datagram of the family carries, and one byte more
    r["max"] = [attempt(u.sendto, blob, (THERE, UDP_ECHO)), attempt(lambda: u.recv(65536) == blob)]
    r["max_plus_one"] = attempt(u.sendto, blob + b"x", (THERE, UDP_ECHO))
    u.close()
    return r


@case
def connected_udp():
    r = {}
    u = udp()
    r["connect"] = attempt(u.connect, (THERE, UDP_ECHO))
    r["sockname"] = sockname(u)
    r["peername"] = peername(u)
    u.settimeout(3)
    r["send"] = u.send(b"connected")
    r["recv"] = u.recv(100).decode()
    r["sendto_same_peer"] = u.sendto(b"explicit", (THERE, UDP_ECHO))
    r["recv2"] = u.recv(100).decode()
    r["send_empty"] = u.send(b"")
    r["recv_empty"] = u.recv(100).decode()
    r["write_read"] = [os.write(u.fileno(), b"rw"), readable(u) and os.read(u.fileno(), 100).decode()]
    r["shutdown"] = attempt(u.shutdown, socket.SHUT_RDWR)
    u.close()
    # answers from another port are not delivered to a connected socket
    v = udp()
    v.connect((THERE, UDP_OTHER))
    v.send(b"filtered?")
    r["other_port_filtered"] = pollmask(v, select.POLLIN, 500)
    r["other_port_recv"] = attempt(v.recv, 100, socket.MSG_DONTWAIT)
    # re-connect to another peer port
    r["reconnect"] = attempt(v.connect, (THERE, UDP_ECHO))
    r["reconnected_peername"] = peername(v)
    v.settimeout(3)
    v.send(b"again")
    r["reconnected_recv"] = v.recv(100).decode()
    # connect(AF_UNSPEC) dissolves the association
    sa = Sockaddr(socket.AF_UNSPEC, 0, 0, b"")
    r["disconnect"] = cret(libc.connect(v.fileno(), ctypes.byref(sa), ctypes.sizeof(sa)))
    r["peername_after_disconnect"] = attempt(v.getpeername)
    r["send_after_disconnect"] = attempt(v.send, b"x")
    v.close()
    return r


@case
def connected_udp_port_unreachable():
    """ICMP port unreachable from the peer: a connected socket reports ECONNREFUSED once."""
    r = {}
    u = udp()
    u.connect((THERE, CLOSED))
    r["send"] = u.send(b"anyone?")
    r["poll"] = wait_mask(u, lambda m: m != [], 3, select.POLLIN)
    r["recv"] = attempt(u.recv, 100, socket.MSG_DONTWAIT)
    r["recv_again"] = attempt(u.recv, 100, socket.MSG_DONTWAIT)
    u.close()
    return r


@case
def connected_udp_so_error():
    """The same ICMP error read through SO_ERROR: reported once, then gone (recv finds nothing)."""
    r = {}
    u = udp()
    u.connect((THERE, CLOSED))
    u.send(b"anyone?")
    wait_mask(u, lambda m: m != [], 3, select.POLLIN)  # the error arrived (its readiness: the case above)
    r["so_error"] = en(u.getsockopt(SOL, socket.SO_ERROR))
    r["so_error_again"] = en(u.getsockopt(SOL, socket.SO_ERROR))
    r["recv"] = attempt(u.recv, 100, socket.MSG_DONTWAIT)
    r["send_again"] = attempt(u.send, b"again")
    u.close()
    return r


@case
def pktinfo():
    """Which of our addresses a datagram came to and on which interface: IP_PKTINFO on an
    AF_INET socket; on an AF_INET6 one IPV6_RECVPKTINFO's IPV6_PKTINFO (a native datagram gets
    no IP_PKTINFO); and sendmsg() choosing the source with a pktinfo of its own."""
    r = {}
    v6 = FAM == socket.AF_INET6
    u = udp()
    u.setsockopt(socket.IPPROTO_IP, IP_PKTINFO, 1)
    if v6:
        u.setsockopt(socket.IPPROTO_IPV6, IPV6_RECVPKTINFO, 1)
    u.bind((ANY, 0))
    u.settimeout(3)
    u.sendto(b"where", (THERE, UDP_ECHO))
    readable(u)
    d, anc, flags, _a = u.recvmsg(100, 256)
    got = []
    for lvl, typ, data in anc:
        if (lvl, typ) == (socket.IPPROTO_IPV6, IPV6_PKTINFO):
            got.append(["IPV6_PKTINFO", socket.inet_ntop(socket.AF_INET6, data[:16]), struct.unpack("=i", data[16:20])[0] > 0])
        elif (lvl, typ) == (socket.IPPROTO_IP, IP_PKTINFO):
            idx, spec, dst = struct.unpack("=i4s4s", data[:12])
            got.append(["IP_PKTINFO", idx > 0, socket.inet_ntoa(spec), socket.inet_ntoa(dst)])
        else:
            got.append([lvl, typ, len(data)])
    r["recvmsg"] = [d.decode(), got, flags]
    if v6:
        cm = (socket.IPPROTO_IPV6, IPV6_PKTINFO, socket.inet_pton(socket.AF_INET6, HERE) + struct.pack("=i", 0))
    else:
        cm = (socket.IPPROTO_IP, IP_PKTINFO, struct.pack("=i4s4s", 0, socket.inet_aton(HERE), bytes(4)))
    r["sendmsg_source"] = [attempt(u.sendmsg, [b"from here"], [cm], 0, (THERE, UDP_ECHO)),
                           attempt(lambda: u.recvfrom(100)[0].decode())]
    u.close()
    return r


@case
def udp_options():
    r = {}
    u = udp()
    g = lambda lvl, o: attempt(u.getsockopt, lvl, o)  # noqa: E731
    r["ident"] = [g(SOL, socket.SO_TYPE), g(SOL, socket.SO_DOMAIN), g(SOL, socket.SO_PROTOCOL),
                  g(SOL, socket.SO_ACCEPTCONN), g(SOL, socket.SO_ERROR)]
    r["ttl"] = [g(socket.IPPROTO_IP, socket.IP_TTL), attempt(u.setsockopt, socket.IPPROTO_IP, socket.IP_TTL, 3),
                g(socket.IPPROTO_IP, socket.IP_TTL)]
    r["bufs_positive"] = [pos(g(SOL, socket.SO_RCVBUF)), pos(g(SOL, socket.SO_SNDBUF))]
    u.setsockopt(SOL, socket.SO_RCVBUF, 65536)
    r["rcvbuf_doubled"] = g(SOL, socket.SO_RCVBUF) == 131072
    r["linger"] = attempt(lambda: list(struct.unpack("ii", u.getsockopt(SOL, socket.SO_LINGER, 8))))
    u.close()
    return r


def main():
    run(case.cases)


if __name__ == "__main__":
    main()
