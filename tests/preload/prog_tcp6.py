"""Socket semantics of TCP over native IPv6, both sides: the program connects to the kernel at
2001:db8::1 (its IPv6 services, peer.py) and listens while the kernel's remote-controlled client
(peer_client.py) connects to 2001:db8:: and 10.0.0.0: names, dual-stack and v6-only listeners,
refused and reset connections, IPV6_TCLASS and IPV6_UNICAST_HOPS as the peer sees them, and
link-local addresses with their scope (VPPSH_T_LINK_LOCAL: the interface to use, which differs
between the kernel and vppsh, so results say whether a scope is that one, not its number).
Prints "listening PORT" first, then one JSON line {case: result}."""

import ctypes
import json
import os
import select
import socket
import struct

from common import CLOSED, ECHO, LOCAL, PEER, RST, Remote, attempt, cret, en, ident, libc, pollmask, recv_exact, registry, run, \
    tcp_state, wait_mask
from prog_dual import HEADER_REPORT, IP6, V4, V6, c_accept, c_call, gets, parse, raw_in6, readable, sock

case = registry()
R: Remote = None  # type: ignore[assignment]
_next = [0]
LOCAL6, PEER6 = "2001:db8::", "2001:db8::1"
OFF_LINK = "2001:db8:dead::1"  # no route reaches it
LL = json.loads(os.environ.get("VPPSH_T_LINK_LOCAL", "{}"))
SCOPE = LL.get("scope", 0)
IPV6_MTU, IPV6_MINHOPCOUNT = 24, 73


def cid() -> int:
    _next[0] += 1
    return _next[0]


def norm(v):
    """An address as comparable between the kernel and vppsh: ephemeral ports and the
    link-local addresses and scope of this run by name."""
    if isinstance(v, list):
        return [norm(x) for x in v]
    if v == LL.get("local"):
        return "LOCAL_LL"
    if v == LL.get("peer"):
        return "PEER_LL"
    return v


def parse6(raw: bytes, length: int) -> list:
    """A sockaddr a call wrote, as [family, host, port, flowinfo, scope, length] (an AF_INET one
    as prog_dual's parse says it): a scope (host byte order) is "SCOPE" when it is the link's."""
    fam = struct.unpack_from("=H", raw)[0]
    if fam != V6:
        return parse(raw, length)
    port, flow, a = struct.unpack_from("!HI16s", raw, 2)
    scope = struct.unpack_from("=I", raw, 24)[0]
    return [fam, norm(socket.inet_ntop(V6, a)), "ephemeral" if port >= 32768 else port, flow,
            "SCOPE" if scope and scope == SCOPE else scope, length]


def c_name6(fd, peer=False):
    buf = ctypes.create_string_buffer(128)
    ln = ctypes.c_uint32(128)
    r = (libc.getpeername if peer else libc.getsockname)(fd, buf, ctypes.byref(ln))
    return cret(r) if r == -1 else parse6(buf.raw, ln.value)


def accept6(ls, timeout=5.0):
    """(accepted fd, the address accept() wrote) once a connection is pending."""
    if not readable(ls, timeout):
        return "nothing to accept", None
    buf = ctypes.create_string_buffer(128)
    ln = ctypes.c_uint32(128)
    r = libc.accept4(ls.fileno(), buf, ctypes.byref(ln), 0)
    return (cret(r), None) if r == -1 else (r, parse6(buf.raw, ln.value))


def names(fd) -> dict:
    return {"sockname": c_name6(fd), "peername": c_name6(fd, True)}


def to6(host, port, scope=0):
    return (host, port, 0, scope)


def connected(host=PEER6, port=ECHO, scope=0, timeout=5, **kw):
    s = sock(**kw)
    s.settimeout(timeout)
    s.connect(to6(host, port, scope))
    return s


# ---------------------------------------------------------------------------- client side
@case
def client_connect():
    r = {}
    s = sock()
    s.settimeout(5)
    r["connect"] = attempt(s.connect, (PEER6, ECHO))
    r["names"] = names(s.fileno())
    r["ident"] = ident(s)
    r["state"] = tcp_state(s)
    r["v6only"] = gets(s, IP6, socket.IPV6_V6ONLY)
    s.sendall(b"native six")
    r["echo"] = recv_exact(s, 10).decode()
    r["ipv6_mtu"] = attempt(lambda: gets(s, IP6, IPV6_MTU) >= 1280)
    r["connect_again"] = attempt(s.connect, (PEER6, ECHO))
    s.close()
    s = sock(v6only=1)
    s.settimeout(5)
    r["v6only_socket"] = [attempt(s.connect, (PEER6, ECHO)), names(s.fileno())["peername"]]
    s.close()
    s = socket.socket(V4)  # an AF_INET socket takes no IPv6 sockaddr
    r["ipv4_socket"] = c_call(libc.connect, s.fileno(), raw_in6(PEER6, ECHO), 28)
    s.close()
    return r


@case
def client_nonblocking():
    r = {}
    s = sock()
    s.setblocking(False)
    r["connect"] = attempt(s.connect, (PEER6, ECHO))
    r["writable"] = wait_mask(s, lambda m: "POLLOUT" in m)
    r["so_error"] = gets(s, socket.SOL_SOCKET, socket.SO_ERROR)
    r["names"] = names(s.fileno())
    r["connect_after"] = attempt(s.connect, (PEER6, ECHO))
    s.send(b"nb")
    r["echo"] = recv_exact(s, 2).decode()
    s.close()
    return r


@case
def client_refused_and_reset():
    r = {}
    s = sock()
    s.settimeout(5)
    r["refused"] = [attempt(s.connect, (PEER6, CLOSED)), names(s.fileno())]
    s.close()
    s = sock()
    s.setblocking(False)
    r["refused_nonblocking"] = [attempt(s.connect, (PEER6, CLOSED)),
                                wait_mask(s, lambda m: "POLLERR" in m or "POLLHUP" in m),
                                gets(s, socket.SOL_SOCKET, socket.SO_ERROR), attempt(s.recv, 10)]
    s.close()
    s = connected(port=RST)
    s.sendall(b"!")
    r["reset_poll"] = wait_mask(s, lambda m: "POLLHUP" in m or "POLLERR" in m)
    r["reset"] = [attempt(s.recv, 10), attempt(s.recv, 10), attempt(s.send, b"x"), tcp_state(s)]
    s.close()
    s = sock()
    s.settimeout(5)
    r["off_link"] = attempt(s.connect, (OFF_LINK, ECHO))
    s.close()
    return r


@case
def client_bound():
    r = {}
    for what, a in (("local", LOCAL6), ("any", "::")):
        for v6only in (0, 1):
            s = sock(v6only=v6only)
            s.bind((a, 0))
            s.settimeout(5)
            r[f"{what}.v6only{v6only}"] = [attempt(s.connect, (PEER6, ECHO)), names(s.fileno())]
            s.close()
    s = sock(reuseaddr=True)
    s.bind((LOCAL6, 20801))
    s.settimeout(5)
    r["fixed_port"] = [attempt(s.connect, (PEER6, ECHO)), names(s.fileno())["sockname"]]
    s.close()
    s = sock()
    s.bind(("::ffff:" + LOCAL, 0))  # an IPv4-mapped source for a native peer
    s.settimeout(5)
    r["mapped_source"] = attempt(s.connect, (PEER6, ECHO))
    s.close()
    s = sock()
    s.bind((LOCAL6, 0))  # a native source for an IPv4 peer
    s.settimeout(5)
    r["native_source_to_mapped"] = attempt(s.connect, ("::ffff:" + PEER, ECHO))
    s.close()
    return r


@case
def bind_native():
    r = {}
    for what, a in (("local", to6(LOCAL6, 0)), ("not_ours", to6("2001:db8::5", 0)), ("peer", to6(PEER6, 0)),
                    ("off_link", to6(OFF_LINK, 0)), ("ll_no_scope", to6(LL["local"], 0)),
                    ("ll", to6(LL["local"], 0, SCOPE)), ("ll_no_such_if", to6(LL["local"], 0, 999)),
                    ("peer_ll", to6(LL["peer"], 0, SCOPE)), ("global_with_scope", to6(LOCAL6, 0, 999))):
        for v6only in (0, 1):
            s = sock(v6only=v6only)
            r[f"{what}.v6only{v6only}"] = [attempt(s.bind, a), names(s.fileno())["sockname"]]
            s.close()
    s = sock()
    s.bind((LOCAL6, 20802))
    t = sock()
    r["same_port"] = [attempt(t.bind, (LOCAL6, 20802)), attempt(t.bind, ("::", 20802))]
    v4 = socket.socket(V4)
    r["ipv4_same_port"] = attempt(v4.bind, ("0.0.0.0", 20802))  # a native address: no IPv4 part
    for x in (s, t, v4):
        x.close()
    return r


@case
def traffic_class_and_hops():
    """What the peer sees of a native connection's IPv6 header: IPV6_TCLASS and
    IPV6_UNICAST_HOPS, not IP_TOS and IP_TTL (those are for mapped traffic)."""
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
            s.connect((PEER6, HEADER_REPORT))
            s.sendall(b"?")
            r[what] = recv_exact(s, 16).decode()
        except OSError as e:
            r[what] = en(e)
        s.close()
    s = sock()  # set once connected: the next segment carries it
    s.settimeout(5)
    s.connect((PEER6, HEADER_REPORT))
    s.setsockopt(IP6, socket.IPV6_TCLASS, 0x48)
    s.setsockopt(IP6, socket.IPV6_UNICAST_HOPS, 33)
    s.sendall(b"?")
    r["after_connect"] = recv_exact(s, 16).decode()
    s.close()
    return r


@case
def minhopcount_drops_below_it():
    """IPV6_MINHOPCOUNT (GTSM, RFC 5082) on a native connection: what arrives with a lower hop
    limit (the peer's 64) is dropped; lowered again, the peer's retransmission gets through."""
    r = {}
    s = connected()
    r["set"] = attempt(s.setsockopt, IP6, IPV6_MINHOPCOUNT, 255)
    s.sendall(b"gtsm")
    r["poll_1s"] = pollmask(s, select.POLLIN, 1000)
    r["unset"] = attempt(s.setsockopt, IP6, IPV6_MINHOPCOUNT, 0)
    r["then"] = recv_exact(s, 4, 10).decode()
    s.close()
    return r


# ---------------------------------------------------------------------------- server side
def listen6(port, v6only=None, host="::", family=V6, reuseport=False):
    ls = sock(family, v6only=v6only, reuseaddr=True, reuseport=reuseport)
    ls.bind((host, port))
    ls.listen(8)
    return ls


def take(ls, k, host, port):
    """The peer connects (connection k) to host:port; what it got, and what accept() gave us."""
    got = R("connect", k, port=port, host=host)
    if got != "ok":
        return {"peer": got, "poll": pollmask(ls, select.POLLIN, 200)}
    fd, peer = accept6(ls)
    out = {"peer": got, "accept": peer}
    if isinstance(fd, int):
        c = socket.socket(fileno=fd)
        out["names"] = names(fd)
        pn = R("names", k)
        out["peer_names"] = {n: [norm(v[0]), "ephemeral" if v[1] >= 32768 else v[1]] for n, v in pn.items()} \
            if isinstance(pn, dict) else pn
        R("send", k, data="ping")
        c.settimeout(5)
        out["data"] = [recv_exact(c, 4).decode(), c.send(b"pong"), R("recv", k, n=4)]
        out["state"] = tcp_state(c)
        c.close()
    R("close", k)
    return out


@case
def dual_listener_takes_both():
    r = {}
    ls = listen6(20811)
    r["listener"] = names(ls.fileno())["sockname"]
    r["ipv6"] = take(ls, cid(), LOCAL6, 20811)
    r["ipv4"] = take(ls, cid(), LOCAL, 20811)
    ls.close()
    r["after_close"] = R("connect", cid(), port=20811, host=LOCAL6)
    return r


@case
def v6only_listener():
    r = {}
    ls = listen6(20812, v6only=1)
    r["ipv4"] = take(ls, cid(), LOCAL, 20812)
    r["ipv6"] = take(ls, cid(), LOCAL6, 20812)
    v4 = listen6(20812, family=V4, host="0.0.0.0")  # an IPv4 listener beside it: each its family
    r["ipv4_beside"] = take(v4, cid(), LOCAL, 20812)
    r["ipv6_beside"] = take(ls, cid(), LOCAL6, 20812)
    r["v4_poll_after"] = pollmask(v4, select.POLLIN, 100)
    v4.close()
    ls.close()
    return r


@case
def ipv4_listener_refuses_ipv6():
    r = {}
    ls = listen6(20813, family=V4, host="0.0.0.0")
    r["ipv6"] = take(ls, cid(), LOCAL6, 20813)
    r["ipv4"] = take(ls, cid(), LOCAL, 20813)
    ls.close()
    return r


@case
def address_listener():
    """A dual-stack socket bound to a native address listens on IPv6 only."""
    r = {}
    ls = listen6(20814, host=LOCAL6)
    r["listener"] = names(ls.fileno())["sockname"]
    r["ipv4"] = take(ls, cid(), LOCAL, 20814)
    r["ipv6"] = take(ls, cid(), LOCAL6, 20814)
    ls.close()
    return r


@case
def refused_and_reset_server_side():
    r = {}
    r["no_listener"] = R("connect", cid(), port=20815, host=LOCAL6)
    ls = listen6(20815)
    k = cid()
    r["connect"] = R("connect", k, port=20815, host=LOCAL6)
    fd, _peer = accept6(ls)
    if isinstance(fd, int):
        c = socket.socket(fileno=fd)
        r["peer_rst"] = R("rst", k)
        r["poll"] = wait_mask(c, lambda m: "POLLHUP" in m or "POLLERR" in m)
        r["after"] = [attempt(c.recv, 10), attempt(c.recv, 10), gets(c, socket.SOL_SOCKET, socket.SO_ERROR)]
        c.close()
    ls.close()
    return r


@case
def accepted_takes_tclass_and_hops():
    """An accepted native connection inherits the listener's IPV6_TCLASS and IPV6_UNICAST_HOPS;
    what the peer sees of our segments, then after changing them on the connection."""
    r = {}
    ls = listen6(20819)
    ls.setsockopt(IP6, socket.IPV6_TCLASS, 0x28)
    ls.setsockopt(IP6, socket.IPV6_UNICAST_HOPS, 17)
    k = cid()
    r["peer_connect"] = R("connect", k, port=20819, host=LOCAL6)
    fd, _peer = accept6(ls)
    if isinstance(fd, int):
        c = socket.socket(fileno=fd)
        r["inherited"] = [gets(c, IP6, socket.IPV6_TCLASS), gets(c, IP6, socket.IPV6_UNICAST_HOPS)]
        c.send(b"one")
        r["seen"] = [R("recv", k, n=3), R("hdr", k)]
        c.setsockopt(IP6, socket.IPV6_TCLASS, 0x10)
        c.setsockopt(IP6, socket.IPV6_UNICAST_HOPS, 5)
        c.send(b"two")
        r["changed"] = [R("recv", k, n=3), R("hdr", k)]
        c.close()
    R("close", k)
    ls.close()
    return r


@case
def reuseport_dual_listeners():
    """Two dual-stack listeners sharing a port (SO_REUSEPORT): every connection, of either
    family, reaches one of them."""
    r = {}
    a, b = listen6(20816, reuseport=True), listen6(20816, reuseport=True)
    got = 0
    for host in (LOCAL6, LOCAL6, LOCAL, LOCAL6, LOCAL):
        k = cid()
        R("connect", k, port=20816, host=host)
        for ls in (a, b):
            if readable(ls, 0.3):
                fd, _ = c_accept(ls.fileno())
                if isinstance(fd, int):
                    got += 1
                    os.close(fd)
        R("close", k)
    r["accepted"] = got
    a.close()
    b.close()
    return r


# ---------------------------------------------------------------------------- link-local
@case
def link_local_server():
    r = {}
    ls = listen6(20817)
    r["ipv6"] = take(ls, cid(), LL["local"], 20817)
    ls.close()
    ls = sock(reuseaddr=True)
    r["bind_ll"] = attempt(ls.bind, to6(LL["local"], 20818, SCOPE))
    ls.listen(8)
    r["ll_listener"] = names(ls.fileno())["sockname"]
    r["ll"] = take(ls, cid(), LL["local"], 20818)
    r["global_to_ll_listener"] = R("connect", cid(), port=20818, host=LOCAL6)
    ls.close()
    return r


@case
def link_local_client():
    r = {}
    s = sock()
    s.settimeout(5)
    r["no_scope"] = attempt(s.connect, (LL["peer"], ECHO))
    r["connect"] = attempt(s.connect, to6(LL["peer"], ECHO, SCOPE))
    r["names"] = names(s.fileno())
    s.sendall(b"ll")
    r["echo"] = recv_exact(s, 2).decode()
    s.close()
    s = sock()
    s.bind(to6(LL["local"], 0, SCOPE))
    s.settimeout(5)
    r["bound_then_no_scope"] = [attempt(s.connect, (LL["peer"], ECHO)), names(s.fileno())]
    s.close()
    s = sock()
    s.bind(to6(LL["local"], 0, SCOPE))
    r["bound_other_scope"] = attempt(s.connect, to6(LL["peer"], ECHO, SCOPE + 1))
    s.close()
    s = sock()  # (a socket of its own: Linux keeps a failed connect's scope as its device)
    r["no_such_if"] = attempt(s.connect, to6(LL["peer"], ECHO, 999))
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
