"""setsockopt/getsockopt for the shim's sockets, with Linux's ranges, defaults and errnos.

Options that mean something to vppsh's TCP (TTL, TOS, MINTTL, NODELAY, MAXSEG, keepalive,
buffer sizes, linger) are applied to the connection, now or when it exists; the rest that
Linux accepts are recorded and read back, so programs that set them (BIRD's SO_PRIORITY,
IP_MTU_DISCOVER...) work. What vppsh cannot do is refused the way Linux refuses what it does
not know (ENOPROTOOPT), never silently pretended.

An AF_INET6 socket has both levels, as on Linux: its IPv4 traffic (to ::ffff:a.b.c.d) takes
IP_TTL, IP_TOS and IP_MINTTL, its IPv6 traffic IPV6_UNICAST_HOPS, IPV6_TCLASS and
IPV6_MINHOPCOUNT (Linux's mapped connections never look at the IPv6 ones).
"""

from __future__ import annotations

import errno
import functools
import socket
import struct

from ..session.transport import ConnOptions, TransportProto

SOL_SOCKET, SOL_IP, SOL_TCP, SOL_IPV6 = socket.SOL_SOCKET, socket.IPPROTO_IP, socket.IPPROTO_TCP, 41
SO_PROTOCOL, SO_DOMAIN = 38, 39
IP_PKTINFO, IP_MINTTL, IP_BIND_ADDRESS_NO_PORT = 8, 21, 24
IPV6_UNICAST_HOPS, IPV6_MULTICAST_HOPS, IPV6_MULTICAST_LOOP, IPV6_MTU_DISCOVER, IPV6_MTU = 16, 18, 19, 23, 24
IPV6_V6ONLY, IPV6_RECVPKTINFO, IPV6_PKTINFO, IPV6_TCLASS, IPV6_MINHOPCOUNT = 26, 49, 50, 67, 73
AF_INET, AF_INET6 = int(socket.AF_INET), int(socket.AF_INET6)
TCP_SYNCNT, TCP_INFO, TCP_CONGESTION, TCP_MD5SIG, TCP_USER_TIMEOUT = 7, 11, 13, 14, 18
SIOCOUTQ, SIOCOUTQNSD = 0x5411, 0x894B

# recorded and read back as set (Linux accepts them; vppsh has nothing more to do with them)
PLAIN = {
    (SOL_SOCKET, socket.SO_DONTROUTE): 0, (SOL_SOCKET, socket.SO_BROADCAST): 0,
    (SOL_SOCKET, socket.SO_OOBINLINE): 0, (SOL_SOCKET, socket.SO_PRIORITY): 0,
    (SOL_SOCKET, socket.SO_RCVLOWAT): 1, (SOL_SOCKET, 29): 0,  # SO_TIMESTAMP
    (SOL_SOCKET, 36): 0, (SOL_SOCKET, 49): -1,  # SO_MARK, SO_INCOMING_CPU
    (SOL_IP, 10): 1,  # IP_MTU_DISCOVER (SOL_IP, 11): 0,  # IP_RECVERR
    (SOL_IP, 12): 0, (SOL_IP, 13): 0, (SOL_IP, 8): 0,  # IP_RECVTTL, IP_RECVTOS, IP_PKTINFO
    (SOL_IP, 15): 0, (SOL_IP, 19): 0, (SOL_IP, IP_BIND_ADDRESS_NO_PORT): 0,  # FREEBIND, TRANSPARENT
    (SOL_IP, 33): 1, (SOL_IP, 34): 1,  # IP_MULTICAST_TTL, IP_MULTICAST_LOOP
    (SOL_TCP, socket.TCP_CORK): 0, (SOL_TCP, TCP_SYNCNT): 6, (SOL_TCP, 8): 60,  # CORK, SYNCNT, LINGER2
    (SOL_TCP, 9): 0, (SOL_TCP, 10): 0, (SOL_TCP, 12): 1,  # DEFER_ACCEPT, WINDOW_CLAMP, QUICKACK
    (SOL_TCP, TCP_USER_TIMEOUT): 0, (SOL_TCP, 23): 0, (SOL_TCP, 25): 0xFFFFFFFF,  # FASTOPEN, NOTSENT_LOWAT
}
TCP_ONLY = {(SOL_TCP, n) for n in range(1, 40)}
# an AF_INET6 socket's booleans Linux keeps (and reads back as 0/1), with their defaults
BOOL6 = {
    25: 0, IPV6_RECVPKTINFO: 0, 51: 0, 62: 0, 66: 0,  # RECVERR, RECVPKTINFO, RECVHOPLIMIT, DONTFRAG, RECVTCLASS
    70: 1, 74: 0, 75: 0, 78: 0,  # AUTOFLOWLABEL, RECVORIGDSTADDR, TRANSPARENT, FREEBIND
}

TCP_INFO_FMT = struct.Struct("=8B24I")  # the first 104 bytes of struct tcp_info
TCP_INFO_FIELDS = ("state", "ca_state", "retransmits", "probes", "backoff", "options", "wscale",
                   "delivery_rate_app_limited", "rto", "ato", "snd_mss", "rcv_mss", "unacked", "sacked", "lost",
                   "retrans", "fackets", "last_data_sent", "last_ack_sent", "last_data_recv", "last_ack_recv",
                   "pmtu", "rcv_ssthresh", "rtt", "rttvar", "snd_ssthresh", "snd_cwnd", "advmss", "reordering",
                   "rcv_rtt", "rcv_space", "total_retrans")
TCP_CLOSED, TCP_LISTEN = 7, 10  # Linux's numbers (tcp_states.h), as the transport reports them


@functools.cache
def kernel_errno(level: int, name: int, get: bool, family: int = AF_INET) -> int:
    """What this machine's kernel answers for an option it does not know: unknown IP options
    fall through to netfilter, whose answer changed between kernel versions (EOPNOTSUPP on 6.1,
    ENOPROTOOPT on 6.18), so the engine asks its own kernel once rather than assume one (for a
    socket of the family in question: an AF_INET one answers SOL_IPV6 too)."""
    try:
        s = socket.socket(family, socket.SOCK_STREAM)
    except OSError:  # a kernel without IPv6
        return errno.ENOPROTOOPT
    with s:
        try:
            s.getsockopt(level, name) if get else s.setsockopt(level, name, 1)
        except OSError as e:
            return e.errno
    return errno.ENOPROTOOPT


class OptError(Exception):
    def __init__(self, code: int) -> None:
        super().__init__(errno.errorcode.get(code, str(code)))
        self.errno = code


def _int(data: bytes, level: int) -> int:
    if len(data) >= 4:
        return struct.unpack_from("=i", data)[0]
    if level == SOL_IP and len(data) >= 1:  # ip_setsockopt takes a char too
        return data[0]
    raise OptError(errno.EINVAL)


class SockOpts:
    """One socket's options, Linux's defaults."""

    def __init__(self) -> None:
        self.ttl = -1  # -1: the route's default (64)
        self.tos = 0
        self.minttl = 0
        self.nodelay = False
        self.maxseg = 0
        self.keepalive = False
        self.keep_idle, self.keep_intvl, self.keep_cnt = 7200, 75, 9
        self.reuseaddr = self.reuseport = False
        self.linger = (0, 0)
        self.sndbuf = self.rcvbuf = 0  # 0: the app's fifo sizes
        self.cc = "cubic"
        self.v6only = False  # IPV6_V6ONLY (AF_INET6 sockets; /proc/sys/net/ipv6/bindv6only is 0)
        self.hops = -1  # IPV6_UNICAST_HOPS; -1: the route's default (64)
        self.tclass = 0  # IPV6_TCLASS
        self.minhop = 0  # IPV6_MINHOPCOUNT
        self.pktinfo6 = bytes(20)  # IPV6_PKTINFO set as an option (struct in6_pktinfo): kept for IPv6
        self.plain: dict[tuple[int, int], int] = {}

    def inherit(self) -> "SockOpts":
        """What an accepted socket gets from its listener."""
        o = SockOpts()
        o.__dict__.update({k: v for k, v in self.__dict__.items() if k != "plain"})
        o.plain = dict(self.plain)
        return o

    def conn_opts(self, family: int = AF_INET) -> ConnOptions:
        """What the socket's connection of this family takes of these options."""
        v6 = family == AF_INET6
        ttl = self.hops if v6 else self.ttl
        return ConnOptions(ttl=64 if ttl < 0 else ttl, tos=self.tclass if v6 else self.tos,
                           minttl=self.minhop if v6 else self.minttl,
                           nodelay=self.nodelay, maxseg=self.maxseg, keepalive=self.keepalive,
                           keep_idle=self.keep_idle, keep_intvl=self.keep_intvl, keep_cnt=self.keep_cnt,
                           syn_retries=self.plain.get((SOL_TCP, TCP_SYNCNT), PLAIN[(SOL_TCP, TCP_SYNCNT)]),
                           cc_algo=self.cc)


def setopt(vs, level: int, name: int, data: bytes) -> None:
    """Raise OptError(errno) as Linux would; else record/apply."""
    o: SockOpts = vs.opts
    tcp = vs.proto == TransportProto.TCP
    if level == SOL_TCP and not tcp:
        raise OptError(errno.ENOPROTOOPT)
    if level == SOL_SOCKET:
        if len(data) < 4 and name != socket.SO_BINDTODEVICE:
            raise OptError(errno.EINVAL)
        if name == socket.SO_LINGER:
            if len(data) < 8:
                raise OptError(errno.EINVAL)
            on, secs = struct.unpack_from("=ii", data)
            o.linger = (1 if on else 0, secs)
            return
        if name == socket.SO_BINDTODEVICE:
            dev = data.split(b"\0", 1)[0].decode(errors="replace")
            if dev and dev not in vs.vm.interfaces.by_name:
                raise OptError(errno.ENODEV)
            o.plain[(level, name)] = 0
            return
        v = _int(data, level)
        if name == socket.SO_REUSEADDR:
            o.reuseaddr = bool(v)
        elif name == socket.SO_REUSEPORT:
            o.reuseport = bool(v)
        elif name == socket.SO_KEEPALIVE:
            o.keepalive = bool(v)
        elif name in (socket.SO_SNDBUF, socket.SO_RCVBUF, 32, 33):  # (FORCE variants)
            size = max(v, 0) * 2  # as Linux: it doubles the value, for bookkeeping overhead
            if name in (socket.SO_SNDBUF, 32):
                o.sndbuf = max(size, 4608)
            else:
                o.rcvbuf = max(size, 2304)
            vs.buffers_changed()
            return
        elif (level, name) in PLAIN:
            o.plain[(level, name)] = v
        else:
            raise OptError(errno.ENOPROTOOPT)
    elif level == SOL_IP:
        if name == socket.IP_OPTIONS:
            if data:
                raise OptError(errno.EINVAL)  # no IP options are sent
            return
        v = _int(data, level)
        if name == socket.IP_TTL:
            if v != -1 and not 1 <= v <= 255:
                raise OptError(errno.EINVAL)
            o.ttl = v
        elif name == socket.IP_TOS:
            o.tos = (v & 0xFC) | (o.tos & 3) if tcp else v & 0xFF
        elif name == IP_MINTTL:
            if not 0 <= v <= 255:
                raise OptError(errno.EINVAL)
            o.minttl = v
        elif (level, name) in PLAIN:
            o.plain[(level, name)] = v
        else:
            raise OptError(kernel_errno(level, name, False))  # unknown IP options fall to netfilter
    elif level == SOL_IPV6:
        _setopt6(vs, o, tcp, name, data)
    elif level == SOL_TCP:
        if name == TCP_CONGESTION:
            algo = data.split(b"\0", 1)[0].decode(errors="replace")
            if algo not in ("cubic", "reno", "newreno"):
                raise OptError(errno.ENOENT)
            o.cc = algo
            return
        if name == TCP_MD5SIG:
            raise OptError(errno.ENOPROTOOPT)  # no TCP-MD5 in vppsh's TCP (yet)
        if len(data) < 4:
            raise OptError(errno.EINVAL)
        v = _int(data, level)
        if name == socket.TCP_NODELAY:
            o.nodelay = bool(v)
        elif name == socket.TCP_MAXSEG:
            if v and not 88 <= v <= 32767:
                raise OptError(errno.EINVAL)
            o.maxseg = v
        elif name == socket.TCP_KEEPIDLE:
            if not 1 <= v <= 32767:
                raise OptError(errno.EINVAL)
            o.keep_idle = v
        elif name == socket.TCP_KEEPINTVL:
            if not 1 <= v <= 32767:
                raise OptError(errno.EINVAL)
            o.keep_intvl = v
        elif name == socket.TCP_KEEPCNT:
            if not 1 <= v <= 127:
                raise OptError(errno.EINVAL)
            o.keep_cnt = v
        elif name == TCP_SYNCNT:
            if not 1 <= v <= 127:
                raise OptError(errno.EINVAL)
            o.plain[(level, name)] = v
        elif (level, name) in PLAIN:
            o.plain[(level, name)] = v
        else:
            raise OptError(errno.ENOPROTOOPT)
    else:
        raise OptError(errno.ENOPROTOOPT)
    c = vs.conn()
    if c is not None:
        vs.vm.session.set_options(c, vs.conn_opts())


def _setopt6(vs, o: SockOpts, tcp: bool, name: int, data: bytes) -> None:
    """SOL_IPV6, as Linux's do_ipv6_setsockopt checks it."""
    if vs.family != AF_INET6:
        raise OptError(kernel_errno(SOL_IPV6, name, False))  # an AF_INET socket: ENOPROTOOPT
    if name == IPV6_PKTINFO:  # sticky: native IPv6 datagrams' source (Linux's mapped ones ignore it)
        if len(data) < 20:
            raise OptError(errno.EINVAL)
        o.pktinfo6 = bytes(data[:20])
        return
    if name not in (IPV6_V6ONLY, IPV6_TCLASS, IPV6_UNICAST_HOPS, IPV6_MULTICAST_HOPS, IPV6_MULTICAST_LOOP,
                    IPV6_MTU_DISCOVER, IPV6_MINHOPCOUNT) and name not in BOOL6:
        raise OptError(kernel_errno(SOL_IPV6, name, False, AF_INET6))
    if len(data) < 4:
        raise OptError(errno.EINVAL)
    v = struct.unpack_from("=i", data)[0]
    if name == IPV6_V6ONLY:
        if vs.has_port():  # fixed once the socket has a port, as Linux
            raise OptError(errno.EINVAL)
        o.v6only = bool(v)
    elif name == IPV6_TCLASS:
        if not -1 <= v <= 255:
            raise OptError(errno.EINVAL)
        v = max(v, 0)
        o.tclass = (v & 0xFC) | (o.tclass & 3) if tcp else v  # TCP keeps its ECN bits
    elif name in (IPV6_UNICAST_HOPS, IPV6_MULTICAST_HOPS):
        if name == IPV6_MULTICAST_HOPS and tcp:
            raise OptError(errno.ENOPROTOOPT)  # as Linux: no multicast on a stream socket
        if not -1 <= v <= 255:
            raise OptError(errno.EINVAL)
        if name == IPV6_UNICAST_HOPS:
            o.hops = v
        else:
            o.plain[(SOL_IPV6, name)] = 1 if v < 0 else v
    elif name == IPV6_MULTICAST_LOOP:
        if v not in (0, 1):
            raise OptError(errno.EINVAL)
        o.plain[(SOL_IPV6, name)] = v
    elif name == IPV6_MTU_DISCOVER:
        if not 0 <= v <= 5:
            raise OptError(errno.EINVAL)
        o.plain[(SOL_IPV6, name)] = v
    elif name == IPV6_MINHOPCOUNT:
        if not 0 <= v <= 255:
            raise OptError(errno.EINVAL)
        o.minhop = v
    else:
        o.plain[(SOL_IPV6, name)] = int(bool(v))


def _getopt6(vs, o: SockOpts, name: int, info: dict | None, connected: bool) -> int:
    if vs.family != AF_INET6:
        raise OptError(kernel_errno(SOL_IPV6, name, True))  # an AF_INET socket: EOPNOTSUPP
    if name == IPV6_V6ONLY:
        return int(o.v6only)
    if name == IPV6_TCLASS:
        return o.tclass
    if name == IPV6_UNICAST_HOPS:
        return 64 if o.hops < 0 else o.hops
    if name == IPV6_MINHOPCOUNT:
        return o.minhop
    if name == IPV6_MTU:
        if not connected:
            raise OptError(errno.ENOTCONN)
        return info["pmtu"]
    defaults = {IPV6_MULTICAST_HOPS: 1, IPV6_MULTICAST_LOOP: 1, IPV6_MTU_DISCOVER: 1, **BOOL6}
    if name in defaults:
        return o.plain.get((SOL_IPV6, name), defaults[name])
    raise OptError(kernel_errno(SOL_IPV6, name, True, AF_INET6))  # (IPV6_PKTINFO too: ENOPROTOOPT)


def _pack_int(v: int) -> bytes:
    return struct.pack("=i", v)


def tcp_info(info: dict | None) -> bytes:
    """struct tcp_info from what the transport says (a socket with no connection: CLOSED)."""
    info = info or {"state": TCP_CLOSED}
    return TCP_INFO_FMT.pack(*(info.get(f, 0) for f in TCP_INFO_FIELDS))


def getopt(vs, level: int, name: int, optlen: int) -> bytes:
    o: SockOpts = vs.opts
    tcp = vs.proto == TransportProto.TCP
    if optlen < 0:
        raise OptError(errno.EINVAL)
    if level == SOL_TCP and not tcp:
        raise OptError(errno.EOPNOTSUPP)  # as Linux: udp_getsockopt passes it to ip's
    c = vs.conn()
    info = vs.vm.session.info(c) if c is not None else None
    connected = info is not None and info["state"] not in (TCP_LISTEN, TCP_CLOSED)
    if level == SOL_SOCKET:
        if name == socket.SO_TYPE:
            v = socket.SOCK_STREAM if tcp else socket.SOCK_DGRAM
        elif name == SO_DOMAIN:
            v = vs.family
        elif name == SO_PROTOCOL:
            v = socket.IPPROTO_TCP if tcp else socket.IPPROTO_UDP
        elif name == socket.SO_ACCEPTCONN:
            v = int(vs.listening)
        elif name == socket.SO_ERROR:
            v, vs.error = vs.error, 0
        elif name == socket.SO_REUSEADDR:
            v = int(o.reuseaddr)
        elif name == socket.SO_REUSEPORT:
            v = int(o.reuseport)
        elif name == socket.SO_KEEPALIVE:
            v = int(o.keepalive)
        elif name == socket.SO_SNDBUF:
            v = o.sndbuf or vs.fifo_sizes()[1]
        elif name == socket.SO_RCVBUF:
            v = o.rcvbuf or vs.fifo_sizes()[0]
        elif name == socket.SO_LINGER:
            return struct.pack("=ii", *o.linger)[:max(optlen, 0)]
        elif name == socket.SO_BINDTODEVICE:
            return b""
        elif name == 57:  # SO_COOKIE
            return struct.pack("=Q", vs.ino)[:optlen]
        elif (level, name) in PLAIN:
            v = o.plain.get((level, name), PLAIN[(level, name)])
        else:
            raise OptError(errno.ENOPROTOOPT)
    elif level == SOL_IP:
        if name == socket.IP_TTL:
            v = 64 if o.ttl < 0 else o.ttl
        elif name == socket.IP_TOS:
            v = o.tos
        elif name == IP_MINTTL:
            v = o.minttl
        elif name == socket.IP_OPTIONS:
            return b""
        elif name == 14:  # IP_MTU
            if not connected:
                raise OptError(errno.ENOTCONN)
            v = info["pmtu"]
        elif (level, name) in PLAIN:
            v = o.plain.get((level, name), PLAIN[(level, name)])
        else:
            raise OptError(kernel_errno(level, name, True))
    elif level == SOL_IPV6:
        v = _getopt6(vs, o, name, info, connected)
    elif level == SOL_TCP:
        if name == TCP_INFO:
            return tcp_info(info)[:optlen]
        if name == TCP_CONGESTION:
            return o.cc.encode().ljust(16, b"\0")[:optlen]
        if name == socket.TCP_NODELAY:
            v = int(o.nodelay)
        elif name == socket.TCP_MAXSEG:
            v = info["snd_mss"] if connected and vs.connected else (o.maxseg or 536)
        elif name == socket.TCP_KEEPIDLE:
            v = o.keep_idle
        elif name == socket.TCP_KEEPINTVL:
            v = o.keep_intvl
        elif name == socket.TCP_KEEPCNT:
            v = o.keep_cnt
        elif name == TCP_MD5SIG:
            raise OptError(errno.ENOPROTOOPT)
        elif (level, name) in PLAIN:
            v = o.plain.get((level, name), PLAIN[(level, name)])
        else:
            raise OptError(errno.ENOPROTOOPT)
    else:
        raise OptError(errno.ENOPROTOOPT)
    if level == SOL_IP and optlen < 4 and optlen >= 1 and 0 <= v < 256:
        return bytes([v])  # ip_getsockopt answers a char when asked for one
    return _pack_int(v)[:optlen]
