"""Socket semantics of AF_INET6 sockets on a host whose peer speaks IPv4: dual-stack by default
(IPV6_V6ONLY off), IPv4 peers as ::ffff:a.b.c.d, the IPV6_* options, sockaddrs of the other
family, bind conflicts between IPv4 and IPv6 sockets, and native IPv6 addresses no route
reaches. The kernel at 10.0.0.1 has its usual services (peer.py) and a remote-controlled client
(peer_client.py) that connects to us over IPv4; we announce its control port from a dual-stack
listener. Prints "listening PORT" first, then one JSON line {case: result}."""

import ctypes
import json
import os
import select
import socket
import struct
import subprocess
import sys

from common import (CLOSED, ECHO, LOCAL, PEER, UDP_ECHO, Remote, attempt, cret, en, ident, libc, pollmask,
                    recv_exact, registry, run, tcp_state, wait_mask)

case = registry()
R: Remote = None  # type: ignore[assignment]
_next = [0]
V4, V6 = socket.AF_INET, socket.AF_INET6
IP6 = socket.IPPROTO_IPV6
M_LOCAL, M_PEER = "::ffff:" + LOCAL, "::ffff:" + PEER
NATIVE = "2001:db8:dead::1"  # no route reaches it: both sides hold 2001:db8::/127 and no other route
# (native IPv6 that does reach the peer: prog_tcp6.py)
HEADER_REPORT = 14  # peer.py: the TOS and TTL of what we sent
IPV6_RECVPKTINFO, IPV6_PKTINFO, IPV6_MINHOPCOUNT, IPV6_MTU = 49, 50, 73, 24
IP_PKTINFO = 8


def cid() -> int:
    _next[0] += 1
    return _next[0]


def ep(a) -> list:
    """A Python socket address as [host, port or "ephemeral", (flowinfo, scope id)]: an
    AF_INET6 socket's are 4-tuples, an AF_INET one's 2-tuples (so the family shows)."""
    return [a[0], "ephemeral" if a[1] >= 32768 else a[1], *a[2:]]


def name(s, peer=False):
    return attempt(lambda: ep(s.getpeername() if peer else s.getsockname()))


# ------------------------------------------------------------------------------ raw sockaddrs
def raw_in(ip: str, port: int, family=V4) -> bytes:
    return struct.pack("=HH4s8x", family, socket.htons(port), socket.inet_aton(ip))


def raw_in6(ip: str, port: int, family=V6) -> bytes:
    return struct.pack("=HHI16sI", family, socket.htons(port), 0, socket.inet_pton(V6, ip), 0)


def parse(raw: bytes, length: int) -> list:
    """What a call wrote into a sockaddr buffer: [family, host, port, length]."""
    fam = struct.unpack_from("=H", raw)[0]
    if fam == V4:
        port, a = struct.unpack_from("!H4s", raw, 2)
        return [fam, socket.inet_ntoa(a), "ephemeral" if port >= 32768 else port, length]
    if fam == V6:
        port, flow, a, scope = struct.unpack_from("!HI16sI", raw, 2)
        return [fam, socket.inet_ntop(V6, a), "ephemeral" if port >= 32768 else port, flow, scope, length]
    return [fam, length]


def c_call(fn, fd, raw: bytes, length=None):
    buf = ctypes.create_string_buffer(raw, max(len(raw), 28))
    return cret(fn(fd, buf, len(raw) if length is None else length))


def c_name(fd, peer=False, room=128):
    """getsockname/getpeername into a `room`-byte buffer: [family, host, port, ..., length]."""
    buf = ctypes.create_string_buffer(128)
    ln = ctypes.c_uint32(room)
    r = (libc.getpeername if peer else libc.getsockname)(fd, buf, ctypes.byref(ln))
    return cret(r) if r == -1 else parse(buf.raw, ln.value)


def c_accept(fd):
    buf = ctypes.create_string_buffer(128)
    ln = ctypes.c_uint32(128)
    r = libc.accept4(fd, buf, ctypes.byref(ln), 0)
    return (cret(r), None) if r == -1 else (r, parse(buf.raw, ln.value))


def c_sendto(fd, data: bytes, raw: bytes, length=None):
    buf = ctypes.create_string_buffer(raw, max(len(raw), 28))
    return cret(libc.sendto(fd, data, len(data), 0, buf, len(raw) if length is None else length))


libc.sendto.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_void_p,
                        ctypes.c_uint32]
libc.sendto.restype = ctypes.c_ssize_t


# ------------------------------------------------------------------------------ sockets
def sock(family=V6, typ=socket.SOCK_STREAM, v6only=None, reuseaddr=False, reuseport=False):
    s = socket.socket(family, typ)
    if v6only is not None:
        s.setsockopt(IP6, socket.IPV6_V6ONLY, v6only)
    if reuseaddr:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuseport:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    return s


def udp(family=V6, **kw):
    return sock(family, socket.SOCK_DGRAM, **kw)


def readable(s, timeout=5.0) -> bool:
    return "POLLIN" in wait_mask(s, lambda m: "POLLIN" in m, timeout)


def accept_one(ls, timeout=5.0):
    """(accepted fd, the address accept() wrote) once a connection is pending."""
    if not readable(ls, timeout):
        return "nothing to accept", None
    return c_accept(ls.fileno())


def gets(s, level, opt):
    return attempt(s.getsockopt, level, opt)


# ---------------------------------------------------------------------------------------- cases
@case
def v6_socket_identity():
    r = {}
    for tn, typ in (("tcp", socket.SOCK_STREAM), ("udp", socket.SOCK_DGRAM)):
        s = socket.socket(V6, typ)
        r[f"{tn}_ident"] = ident(s)
        r[f"{tn}_unbound_name"] = [name(s), c_name(s.fileno()), c_name(s.fileno(), room=16)]
        r[f"{tn}_peername"] = [name(s, True), c_name(s.fileno(), True)]
        r[f"{tn}_defaults"] = {n: gets(s, IP6, o) for n, o in (
            ("v6only", socket.IPV6_V6ONLY), ("tclass", socket.IPV6_TCLASS), ("hops", socket.IPV6_UNICAST_HOPS),
            ("mcast_hops", socket.IPV6_MULTICAST_HOPS), ("mcast_loop", socket.IPV6_MULTICAST_LOOP),
            ("recvpktinfo", IPV6_RECVPKTINFO), ("minhop", IPV6_MINHOPCOUNT), ("mtu", IPV6_MTU),
            ("pktinfo", IPV6_PKTINFO), ("unknown", 99))}
        r[f"{tn}_ip_level"] = {"ttl": gets(s, 0, socket.IP_TTL), "tos": gets(s, 0, socket.IP_TOS)}
        s.close()
    return r


@case
def v6_options():
    r = {}
    for tn, typ in (("tcp", socket.SOCK_STREAM), ("udp", socket.SOCK_DGRAM)):
        s = socket.socket(V6, typ)
        r[f"{tn}_tclass"] = [[attempt(s.setsockopt, IP6, socket.IPV6_TCLASS, v), gets(s, IP6, socket.IPV6_TCLASS)]
                             for v in (0x23, 255, -1, -2, 256)]
        r[f"{tn}_hops"] = [[attempt(s.setsockopt, IP6, socket.IPV6_UNICAST_HOPS, v),
                            gets(s, IP6, socket.IPV6_UNICAST_HOPS)] for v in (9, 0, 255, -1, -2, 256)]
        r[f"{tn}_mcast_hops"] = [[attempt(s.setsockopt, IP6, socket.IPV6_MULTICAST_HOPS, v),
                                  gets(s, IP6, socket.IPV6_MULTICAST_HOPS)] for v in (5, -1, 256)]
        r[f"{tn}_minhop"] = [[attempt(s.setsockopt, IP6, IPV6_MINHOPCOUNT, v), gets(s, IP6, IPV6_MINHOPCOUNT)]
                             for v in (255, 256, -1)]
        r[f"{tn}_recvpktinfo"] = [attempt(s.setsockopt, IP6, IPV6_RECVPKTINFO, 7), gets(s, IP6, IPV6_RECVPKTINFO)]
        r[f"{tn}_short"] = attempt(s.setsockopt, IP6, socket.IPV6_TCLASS, b"\1")
        r[f"{tn}_ip_level"] = [attempt(s.setsockopt, 0, socket.IP_TTL, 7), gets(s, 0, socket.IP_TTL),
                               attempt(s.setsockopt, 0, socket.IP_TOS, 0x40), gets(s, 0, socket.IP_TOS),
                               gets(s, IP6, socket.IPV6_TCLASS), gets(s, IP6, socket.IPV6_UNICAST_HOPS)]
        r[f"{tn}_unknown"] = attempt(s.setsockopt, IP6, 99, 1)
        s.close()
        s = socket.socket(V4, typ)  # an IPv4 socket has no IPv6 level
        r[f"{tn}_on_ipv4_socket"] = [attempt(s.setsockopt, IP6, socket.IPV6_V6ONLY, 1),
                                     gets(s, IP6, socket.IPV6_V6ONLY), attempt(s.setsockopt, IP6, socket.IPV6_TCLASS, 1)]
        s.close()
    return r


@case
def v6only_option():
    r = {}
    s = sock()
    r["default"] = gets(s, IP6, socket.IPV6_V6ONLY)
    r["set"] = [attempt(s.setsockopt, IP6, socket.IPV6_V6ONLY, 5), gets(s, IP6, socket.IPV6_V6ONLY)]
    r["short"] = attempt(s.setsockopt, IP6, socket.IPV6_V6ONLY, b"\0")
    r["unset"] = [attempt(s.setsockopt, IP6, socket.IPV6_V6ONLY, 0), gets(s, IP6, socket.IPV6_V6ONLY)]
    s.bind(("::", 0))
    r["after_bind"] = [attempt(s.setsockopt, IP6, socket.IPV6_V6ONLY, 1), attempt(s.setsockopt, IP6,
                                                                                socket.IPV6_V6ONLY, 0)]
    s.close()
    s = sock()
    s.listen(1)
    r["after_listen"] = [name(s), attempt(s.setsockopt, IP6, socket.IPV6_V6ONLY, 1)]
    s.close()
    s = sock()
    s.settimeout(3)
    s.connect((M_PEER, ECHO))
    r["after_connect"] = attempt(s.setsockopt, IP6, socket.IPV6_V6ONLY, 1)
    s.close()
    u = udp()
    u.sendto(b"x", (M_PEER, UDP_ECHO))
    r["udp_after_sendto"] = [name(u), attempt(u.setsockopt, IP6, socket.IPV6_V6ONLY, 1)]
    u.close()
    return r


@case
def bind_addresses():
    r = {}
    for tn, typ in (("tcp", socket.SOCK_STREAM), ("udp", socket.SOCK_DGRAM)):
        for a in ("::", M_LOCAL, "::ffff:0.0.0.0", "::ffff:10.9.9.9", "2001:db8::5"):
            for v6only in (0, 1):
                s = sock(typ=typ, v6only=v6only)
                r[f"{tn}.{a}.v6only{v6only}"] = [attempt(s.bind, (a, 0)), c_name(s.fileno())]
                s.close()
        s = sock(typ=typ)
        r[f"{tn}.port"] = [attempt(s.bind, ("::", 20501)), name(s), attempt(s.bind, ("::", 20502))]
        s.close()
    return r


@case
def sockaddrs_of_the_other_family():
    """IPv4 sockaddrs on AF_INET6 sockets and the reverse: each call checks length and family as
    the kernel does (a UDP socket takes an IPv4 sockaddr in connect and sendto)."""
    r = {}
    in16, in6 = raw_in(PEER, ECHO), raw_in6(M_PEER, ECHO)
    for tn, typ in (("tcp", socket.SOCK_STREAM), ("udp", socket.SOCK_DGRAM)):
        for what, raw, ln in (("in_16", raw_in(LOCAL, 0), 16), ("in_28", raw_in(LOCAL, 0) + bytes(12), 28),
                              ("in6_as_inet", raw_in6("::", 0, V4), 28), ("in6_23", raw_in6("::", 0), 23),
                              ("in6_24", raw_in6("::", 0), 24), ("unspec_16", raw_in("0.0.0.0", 0, 0), 16)):
            s = sock(typ=typ)
            r[f"{tn}.v6.bind.{what}"] = c_call(libc.bind, s.fileno(), raw, ln)
            s.close()
        for what, raw, ln in (("in_16", in16, 16), ("in_28", in16 + bytes(12), 28), ("in_8", in16, 8),
                              ("in6_23", in6, 23), ("in6_24", in6, 24)):
            for v6only in (0, 1):
                s = sock(typ=typ, v6only=v6only)  # (blocking: the peername is there when connect returns)
                got = c_call(libc.connect, s.fileno(), raw, ln)
                r[f"{tn}.v6only{v6only}.connect.{what}"] = [got, c_name(s.fileno(), True)]
                s.close()
        for what, raw in (("in6_28", raw_in6("::", 0)), ("in6_mapped_16", raw_in6(M_LOCAL, 0))):
            s = socket.socket(V4, typ)
            r[f"{tn}.v4.bind.{what}"] = [c_call(libc.bind, s.fileno(), raw, 28), c_call(libc.bind, s.fileno(), raw, 16)]
            r[f"{tn}.v4.connect.{what}"] = c_call(libc.connect, s.fileno(), raw_in6(M_PEER, ECHO), 28)
            s.close()
    for v6only in (0, 1):
        u = udp(v6only=v6only)
        u.settimeout(3)
        r[f"udp.v6only{v6only}.sendto"] = {what: c_sendto(u.fileno(), b"x", raw, ln) for what, raw, ln in (
            ("in_16", raw_in(PEER, UDP_ECHO), 16), ("in_8", raw_in(PEER, UDP_ECHO), 8),
            ("in6_23", raw_in6(M_PEER, UDP_ECHO), 23), ("family_99", raw_in6(M_PEER, UDP_ECHO, 99), 28),
            ("in_port0", raw_in(PEER, 0), 16), ("in6_port0", raw_in6(M_PEER, 0), 28),
            ("native", raw_in6(NATIVE, UDP_ECHO), 28), ("native_port0", raw_in6(NATIVE, 0), 28))}
        if not v6only:  # the echo of the AF_INET sockaddr's datagram, from a mapped address
            r["udp.v6only0.echo_of_in_16"] = attempt(lambda s=u: [s.recv(10).decode(), ep(s.getsockname())[:1]])
        u.close()
    return r


@case
def bind_conflicts():
    """A dual-stack socket holds the IPv4 wildcard too; an IPV6_V6ONLY one and an IPv4-mapped one
    hold one family each: the same port clashes where they meet, as on Linux."""
    r = {}
    pairs = (("v4any_dual", (V4, "0.0.0.0", None), (V6, "::", None)),
             ("dual_v4any", (V6, "::", None), (V4, "0.0.0.0", None)),
             ("v4any_v6only", (V4, "0.0.0.0", None), (V6, "::", 1)),
             ("v6only_v4any", (V6, "::", 1), (V4, "0.0.0.0", None)),
             ("v4spec_dual", (V4, LOCAL, None), (V6, "::", None)),
             ("v4spec_mapped", (V4, LOCAL, None), (V6, M_LOCAL, None)),
             ("mapped_v4any", (V6, M_LOCAL, None), (V4, "0.0.0.0", None)),
             ("mapped_v6only", (V6, M_LOCAL, None), (V6, "::", 1)),
             ("v6only_dual", (V6, "::", 1), (V6, "::", None)),
             ("v6only_v6only", (V6, "::", 1), (V6, "::", 1)),
             ("dual_dual", (V6, "::", None), (V6, "::", None)))
    port = 20510
    for tn, typ in (("tcp", socket.SOCK_STREAM), ("udp", socket.SOCK_DGRAM)):
        for pname, a, b in pairs:
            for mode in ("plain", "reuseaddr", "reuseport"):
                port += 1
                x = sock(a[0], typ, a[2], mode == "reuseaddr", mode == "reuseport")
                y = sock(b[0], typ, b[2], mode == "reuseaddr", mode == "reuseport")
                out = [attempt(x.bind, (a[1], port)), attempt(y.bind, (b[1], port))]
                if typ == socket.SOCK_STREAM:
                    out += [attempt(x.listen, 4), attempt(y.listen, 4)]
                r[f"{tn}.{pname}.{mode}"] = out
                x.close()
                y.close()
    return r


@case
def dual_listener_takes_ipv4():
    r = {}
    ls = sock(reuseaddr=True)
    ls.bind(("::", 20601))
    ls.listen(8)
    r["listener"] = [name(ls), c_name(ls.fileno()), ident(ls), tcp_state(ls)]
    k = cid()
    r["peer_connect"] = R("connect", k, port=20601)
    fd, peer = accept_one(ls)
    r["accept"] = peer
    if not isinstance(fd, int):
        return r
    c = socket.socket(fileno=fd)
    r["accepted"] = {"sockname": c_name(fd), "peername": c_name(fd, True), "py": [name(c), name(c, True)],
                     "peer_is_accept_addr": c_name(fd, True) == peer, "ident": ident(c), "state": tcp_state(c),
                     "v6only": gets(c, IP6, socket.IPV6_V6ONLY), "short_buffer": c_name(fd, True, room=16)}
    R("send", k, data="ping")
    c.settimeout(5)
    r["recv"] = recv_exact(c, 4).decode()
    r["send"] = c.send(b"pong")
    r["peer_got"] = R("recv", k, n=4)
    k2 = cid()
    R("connect", k2, port=20601)
    readable(ls)
    c2, a2 = ls.accept()
    r["python_accept"] = [ep(a2), c2.family == V6]
    for x in (c, c2):
        x.close()
    R("close", k)
    R("close", k2)
    ls.close()
    return r


@case
def v6only_listener_refuses_ipv4():
    r = {}
    ls = sock(v6only=1, reuseaddr=True)
    r["bind"] = attempt(ls.bind, ("::", 20602))
    ls.listen(8)
    r["listener"] = [name(ls), gets(ls, IP6, socket.IPV6_V6ONLY)]
    r["peer_connect"] = R("connect", cid(), port=20602)
    r["poll"] = pollmask(ls, timeout_ms=200)
    v4 = sock(V4, reuseaddr=True)  # an IPv4 listener on the same port: they coexist
    r["v4_bind_listen"] = [attempt(v4.bind, ("0.0.0.0", 20602)), attempt(v4.listen, 8)]
    k = cid()
    r["peer_connect_again"] = R("connect", k, port=20602)
    fd, peer = accept_one(v4)
    r["v4_accept"] = peer
    if isinstance(fd, int):
        os.close(fd)
    r["v6only_poll_after"] = pollmask(ls, timeout_ms=200)
    R("close", k)
    v4.close()
    ls.close()
    return r


@case
def ipv4_listener_wins_over_dual():
    """An IPv4 listener and a dual-stack one on one port (SO_REUSEPORT lets them): Linux's lookup
    prefers the IPv4 socket for an IPv4 SYN, whichever listened first."""
    r = {}
    for order in ("v4_first", "dual_first"):
        port = 20603 if order == "v4_first" else 20604
        socks = {"v4": sock(V4, reuseport=True), "dual": sock(V6, reuseport=True)}
        for n in (["v4", "dual"] if order == "v4_first" else ["dual", "v4"]):
            socks[n].bind(("0.0.0.0" if n == "v4" else "::", port))
            socks[n].listen(8)
        got = []
        for _ in range(3):
            k = cid()
            R("connect", k, port=port)
            ready = [n for n, s in socks.items() if readable(s, 0.5)]
            for n in ready:
                fd, peer = c_accept(socks[n].fileno())
                got.append([n, peer and peer[0]])
                if isinstance(fd, int):
                    os.close(fd)
            R("close", k)
        r[order] = got
        for s in socks.values():
            s.close()
    return r


@case
def client_to_mapped_peer():
    r = {}
    s = sock()
    s.settimeout(5)
    r["connect"] = attempt(s.connect, (M_PEER, ECHO))
    r["names"] = [c_name(s.fileno()), c_name(s.fileno(), True), name(s), name(s, True)]
    r["state"] = tcp_state(s)
    s.sendall(b"mapped")
    r["echo"] = recv_exact(s, 6).decode()
    r["ipv6_mtu"] = attempt(lambda: gets(s, IP6, IPV6_MTU) > 0)
    s.close()
    s = sock()
    s.setblocking(False)
    r["nonblocking"] = [attempt(s.connect, (M_PEER, ECHO)), wait_mask(s, lambda m: "POLLOUT" in m),
                        en(s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)), c_name(s.fileno(), True)]
    s.close()
    s = sock()
    r["refused"] = attempt(s.connect, (M_PEER, CLOSED))
    s.close()
    s = sock(v6only=1)
    r["v6only"] = [attempt(s.connect, (M_PEER, ECHO)), name(s)]
    s.close()
    s = sock()
    s.bind((M_LOCAL, 0))
    s.settimeout(5)
    r["bound_mapped"] = [attempt(s.connect, (M_PEER, ECHO)), c_name(s.fileno())]
    s.close()
    return r


@case
def native_ipv6_unreachable():
    """No route to it: connect() and sendto() to an off-link native IPv6 address (the hosts have
    an on-link /127 and no default route) fail at once, as on Linux."""
    r = {}
    for v6only in (0, 1):
        s = sock(v6only=v6only)
        r[f"tcp_v6only{v6only}"] = [attempt(s.connect, (NATIVE, ECHO)), c_name(s.fileno(), True)]
        s.close()
        s = sock(v6only=v6only)
        s.setblocking(False)
        r[f"tcp_nonblocking_v6only{v6only}"] = attempt(s.connect, (NATIVE, ECHO))
        s.close()
        u = udp(v6only=v6only)
        r[f"udp_v6only{v6only}"] = [attempt(u.connect, (NATIVE, UDP_ECHO)), attempt(u.sendto, b"x", (NATIVE, 7)),
                                    name(u, True)]
        u.close()
    return r


@case
def mapped_traffic_takes_ip_options():
    """What the peer sees of a mapped connection's IP header: Linux takes IP_TOS and IP_TTL there,
    and leaves IPV6_TCLASS and IPV6_UNICAST_HOPS to IPv6 traffic."""
    r = {}
    for what, opts in (("default", ()), ("tclass", ((IP6, socket.IPV6_TCLASS, 0x20),)),
                       ("hops", ((IP6, socket.IPV6_UNICAST_HOPS, 9),)), ("ip_tos", ((0, socket.IP_TOS, 0x40),)),
                       ("ip_ttl", ((0, socket.IP_TTL, 7),)),
                       ("all", ((IP6, socket.IPV6_TCLASS, 0x20), (IP6, socket.IPV6_UNICAST_HOPS, 9),
                                (0, socket.IP_TOS, 0x40), (0, socket.IP_TTL, 7)))):
        s = sock()
        for lvl, opt, v in opts:
            s.setsockopt(lvl, opt, v)
        s.settimeout(5)
        try:
            s.connect((M_PEER, HEADER_REPORT))
            s.sendall(b"?")
            r[what] = recv_exact(s, 16).decode()
        except OSError as e:
            r[what] = en(e)
        s.close()
    return r


@case
def udp_dual_client():
    r = {}
    u = udp()
    u.bind(("::", 0))
    u.settimeout(3)
    r["bound"] = c_name(u.fileno())
    r["sendto"] = u.sendto(b"0123456789", (M_PEER, UDP_ECHO))
    d, a = u.recvfrom(100)
    r["recvfrom"] = [d.decode(), ep(a)]
    u.sendto(b"abc", (M_PEER, UDP_ECHO))
    readable(u)
    buf = ctypes.create_string_buffer(100)
    sa = ctypes.create_string_buffer(128)
    ln = ctypes.c_uint32(128)
    libc.recvfrom.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_void_p,
                              ctypes.c_void_p]
    libc.recvfrom.restype = ctypes.c_ssize_t
    n = libc.recvfrom(u.fileno(), buf, 100, 0, sa, ctypes.byref(ln))
    r["c_recvfrom"] = [n, parse(sa.raw, ln.value)]
    u.sendto(b"short", (M_PEER, UDP_ECHO))
    readable(u)
    ln = ctypes.c_uint32(16)  # room for a sockaddr_in only: cut, and the length says 28
    n = libc.recvfrom(u.fileno(), buf, 100, 0, sa, ctypes.byref(ln))
    r["c_recvfrom_short_buffer"] = [n, ln.value]
    u.sendmsg([b"msg"], [], 0, (M_PEER, UDP_ECHO))
    readable(u)
    d, anc, flags, a = u.recvmsg(100)
    r["recvmsg"] = [d.decode(), anc, flags, ep(a)]
    r["native"] = attempt(u.sendto, b"x", (NATIVE, UDP_ECHO))
    r["connect"] = attempt(u.connect, (M_PEER, UDP_ECHO))
    r["connected_names"] = [c_name(u.fileno()), c_name(u.fileno(), True)]
    u.send(b"conn")
    r["recv"] = u.recv(100).decode()
    sa0 = struct.pack("=H26x", socket.AF_UNSPEC)
    r["disconnect"] = [c_call(libc.connect, u.fileno(), sa0, 16), name(u), name(u, True)]
    u.close()
    u = udp()
    u.settimeout(3)
    r["connect_unbound"] = [attempt(u.connect, (M_PEER, UDP_ECHO)), c_name(u.fileno())]
    u.close()
    u = udp(v6only=1)
    r["v6only"] = [attempt(u.sendto, b"x", (M_PEER, UDP_ECHO)), attempt(u.connect, (M_PEER, UDP_ECHO))]
    u.close()
    u = udp()
    u.connect((M_PEER, CLOSED))
    u.send(b"anyone?")
    wait_mask(u, lambda m: m != [], 3, select.POLLIN)
    r["port_unreachable"] = [attempt(u.recv, 100, socket.MSG_DONTWAIT), attempt(u.recv, 100, socket.MSG_DONTWAIT)]
    u.close()
    return r


@case
def udp_dual_server():
    """The peer sends first: a dual-stack UDP socket gets it from ::ffff:10.0.0.1, an IPV6_V6ONLY one
    never does, an IPv4 one on the same port (they coexist) does."""
    r = {}
    u = udp()
    u.bind(("::", 20701))
    k = cid()
    peer = R("udp_send", k, port=20701, data="hello")
    r["peer_send"] = peer.get("r")
    u.settimeout(3)
    d, a = u.recvfrom(100)
    r["recvfrom"] = [d.decode(), a[0], a[1] == peer.get("port"), a[2:]]
    r["reply"] = u.sendto(b"hi " + d, a)
    got = R("udp_recv", k)
    r["peer_got"] = [got.get("data"), got.get("from")]
    u.close()
    v6 = udp(v6only=1)
    v6.bind(("::", 20702))
    v4 = udp(V4)
    r["v4_same_port"] = attempt(v4.bind, ("0.0.0.0", 20702))
    R("udp_send", k, port=20702, data="to whom?")
    r["v4_got"] = readable(v4, 3) and v4.recvfrom(100)[0].decode()
    r["v6only_got"] = pollmask(v6, select.POLLIN, 300)
    v4.close()
    v6.close()
    return r


@case
def pktinfo():
    r = {}

    def recv_cmsgs(s, room=256):
        readable(s)
        d, anc, flags, _a = s.recvmsg(100, room)
        out = []
        for lvl, typ, data in anc:
            if (lvl, typ) == (IP6, IPV6_PKTINFO):
                out.append(["IPV6_PKTINFO", socket.inet_ntop(V6, data[:16]), struct.unpack("=i", data[16:20])[0] > 0])
            elif (lvl, typ) == (0, IP_PKTINFO):
                idx, spec, dst = struct.unpack("=i4s4s", data[:12])
                out.append(["IP_PKTINFO", idx > 0, socket.inet_ntoa(spec), socket.inet_ntoa(dst)])
            else:
                out.append([lvl, typ, len(data)])
        return [d.decode(), out, bool(flags & socket.MSG_CTRUNC)]

    for what, fam, opts in (("v6_recvpktinfo", V6, ((IP6, IPV6_RECVPKTINFO),)), ("v6_ip_pktinfo", V6, ((0, IP_PKTINFO),)),
                            ("v6_both", V6, ((IP6, IPV6_RECVPKTINFO), (0, IP_PKTINFO))),
                            ("v4_ip_pktinfo", V4, ((0, IP_PKTINFO),)), ("v6_none", V6, ())):
        u = udp(fam)
        for lvl, opt in opts:
            u.setsockopt(lvl, opt, 1)
        u.bind(("::" if fam == V6 else "0.0.0.0", 0))
        dst = (M_PEER if fam == V6 else PEER, UDP_ECHO)
        u.sendto(b"a", dst)
        r[what] = recv_cmsgs(u)
        u.sendto(b"b", dst)
        r[what + "_no_room"] = recv_cmsgs(u, 0)
        u.close()
    u = udp()
    u.settimeout(3)
    for what, src in (("mapped_source", M_LOCAL), ("mapped_any", "::ffff:0.0.0.0"), ("native_source", "::1")):
        info = socket.inet_pton(V6, src) + struct.pack("=i", 0)
        sent = attempt(u.sendmsg, [what.encode()], [(IP6, IPV6_PKTINFO, info)], 0, (M_PEER, UDP_ECHO))
        r["sendmsg_" + what] = [sent, readable(u, 2) and u.recv(100).decode() if sent != "EINVAL" else None]
    info = struct.pack("=i4s4s", 0, socket.inet_aton(LOCAL), socket.inet_aton("0.0.0.0"))
    r["sendmsg_ip_pktinfo"] = [attempt(u.sendmsg, [b"ip"], [(0, IP_PKTINFO, info)], 0, (M_PEER, UDP_ECHO)),
                               readable(u, 2) and u.recv(100).decode()]
    r["sendmsg_short_cmsg"] = attempt(u.sendmsg, [b"x"], [(IP6, IPV6_PKTINFO, b"\0" * 8)], 0, (M_PEER, UDP_ECHO))
    u.close()
    return r


CHILD = r"""
import json, socket, sys
s = socket.socket(fileno=int(sys.argv[1]))
out = {"family": s.family == socket.AF_INET6, "sockname": list(s.getsockname())[:1],
       "v6only": s.getsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY)}
if s.type == socket.SOCK_DGRAM:
    s.settimeout(3)
    s.sendto(b"child", ("::ffff:10.0.0.1", 7))
    d, a = s.recvfrom(100)
    out["echo"] = [d.decode(), a[0]]
print(json.dumps(out))
"""


@case
def inherited_across_exec():
    """A program exec'd with an AF_INET6 socket finds it as one (family, v6only, names)."""
    r = {}
    for what, s in (("tcp_v6only_listener", sock(v6only=1)), ("udp_dual", udp())):
        s.bind(("::", 0))
        if s.type == socket.SOCK_STREAM:
            s.listen(1)
        s.set_inheritable(True)
        p = subprocess.run([sys.executable, "-c", CHILD, str(s.fileno())], pass_fds=[s.fileno()],
                           capture_output=True, text=True, timeout=20, check=False)
        r[what] = json.loads(p.stdout) if p.returncode == 0 else f"exit {p.returncode}: {p.stderr[-300:]}"
        s.close()
    return r


def main():
    global R
    R = Remote(family=V6)
    try:
        run(case.cases)
    finally:
        R.close()


if __name__ == "__main__":
    main()
