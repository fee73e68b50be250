"""LdpMain against an in-process engine (no root, no tap: a loopback interface): what bind,
listen and SO_BINDTODEVICE do with IPv6 addresses, link-local scopes and device names. The
kernel-compared semantics are tests/system/test_preload_semantics.py's; this pins the
engine-side rules where no kernel is needed."""

from __future__ import annotations

import errno
import os
import socket
import types

import pytest

from vppsh.session.transport import TransportProto
from vppsh.vcl import options
from vppsh.vcl.addr import Ep
from vppsh.vcl.main import LdpMain
from vppsh.vcl.proto import AF_INET, AF_INET6, AF_UNSPEC, CAP_IP6, DGRAM_HDR, NO_ADDR, addr_fields

G = int.from_bytes(socket.inet_pton(socket.AF_INET6, "2001:db8::1"), "big")


@pytest.fixture
def ldp(shell):
    shell.run("create loopback interface")
    shell.run("set interface state loop0 up")
    shell.run("set interface ip address loop0 2001:db8::1/64")
    shell.run("session enable")
    ldp = LdpMain(shell.vm)
    client = types.SimpleNamespace(app=None)
    ldp.app = shell.call(lambda: ldp.hello(client, os.getpid(), "t", 0, 0, 0)[2])
    ends = []

    def sock(family=AF_INET6, kind=socket.SOCK_STREAM):
        err, a = shell.call(lambda: ldp.socket(ldp.app, kind, family))
        assert not err
        ends.append(a)
        return ldp.by_ino[os.fstat(a.fileno()).st_ino]

    ldp.sock = sock
    ldp.ends = ends  # the app's end of each socket made, in order
    ldp.sw = shell.vm.interfaces.by_name["loop0"].sw_if_index
    ldp.ll = shell.vm.ip6.link_local[ldp.sw]
    yield ldp
    shell.call(ldp.stop)
    for a in ends:
        a.close()


def test_bind_to_our_ipv6_addresses_and_link_local_scopes(shell, ldp):
    bind = lambda ep: shell.call(lambda: ldp.bind(ldp.sock(), ep, user=True))  # noqa: E731
    assert bind(Ep(AF_INET6, G, 0)) == 0
    assert bind(Ep(AF_INET6, G + 4, 0)) == errno.EADDRNOTAVAIL
    assert bind(Ep(AF_INET6, ldp.ll, 0)) == errno.EINVAL  # a link-local address needs its interface
    assert bind(Ep(AF_INET6, ldp.ll, 0, 999)) == errno.ENODEV
    assert bind(Ep(AF_INET6, ldp.ll, 0, ldp.sw)) == 0
    assert bind(Ep(AF_INET6, ldp.ll ^ 1, 0, ldp.sw)) == errno.EADDRNOTAVAIL


def udp_keys(sm, port: int) -> set:
    return {(k[1], k[2]) for k in sm.listeners if k[0] == TransportProto.UDP and k[3] == port}


@pytest.mark.parametrize("family,v6only,ip,fams", [
    (AF_INET6, False, 0, {False, True}), (AF_INET6, True, 0, {True}), (AF_INET, False, 0, {False}),
    (AF_INET6, False, G, {True})], ids=["dual", "v6only", "ipv4", "native-address"])
def test_a_bound_udp_socket_takes_a_session_per_family_it_holds(shell, ldp, family, v6only, ip, fams):
    u = ldp.sock(family, socket.SOCK_DGRAM)
    u.opts.v6only = v6only
    assert shell.call(lambda: ldp.bind(u, Ep(family, ip, 7101), user=True)) == 0
    sm = shell.vm.session
    assert udp_keys(sm, 7101) == {(f, ip) for f in fams}
    assert u.can_reach(Ep(AF_INET6, G + 1, 7)) == 0
    assert ldp.caps() == CAP_IP6  # the shim's sendto() lets native IPv6 through
    shell.call(u.close)
    assert udp_keys(sm, 7101) == set()


def test_udp_sockets_sharing_a_port_share_each_familys_session(shell, ldp):
    a, b = ldp.sock(AF_INET6, socket.SOCK_DGRAM), ldp.sock(AF_INET6, socket.SOCK_DGRAM)
    c = ldp.sock(AF_INET, socket.SOCK_DGRAM)
    for u in (a, b, c):
        u.opts.reuseaddr = True
    v6only = ldp.sock(AF_INET6, socket.SOCK_DGRAM)
    v6only.opts.v6only = True
    for u, fam in ((a, AF_INET6), (b, AF_INET6), (c, AF_INET)):
        assert shell.call(lambda u=u, fam=fam: ldp.bind(u, Ep(fam, 0, 7102), user=True)) == 0
    assert a.sessions == b.sessions and a.sessions[False] is c.sessions[False]
    assert a.sessions[True].opaque is b and a.sessions[False].opaque is c  # the last bound; IPv4: an AF_INET one
    assert shell.call(lambda: ldp.bind(v6only, Ep(AF_INET6, 0, 7102), user=True)) == errno.EADDRINUSE
    assert v6only.sessions == {} and not v6only.has_port()
    shell.call(b.close)
    assert a.sessions[True].opaque is a and a.sessions[True].conn is not None
    shell.call(a.close)
    sm = shell.vm.session
    assert udp_keys(sm, 7102) == {(False, 0)}  # c's
    shell.call(c.close)
    assert udp_keys(sm, 7102) == set()


def _send(end, family: int, ip: int, port: int, data: bytes) -> None:
    end.send(DGRAM_HDR.pack(*addr_fields(family, ip, port), *NO_ADDR, 0, 0, 0) + data)


def _recv(end) -> tuple:
    end.settimeout(5)
    msg = end.recv(4096)
    rfam, rport, _rs, rraw, lfam, lport, _ls, lraw, _ifx, _fl, _err = DGRAM_HDR.unpack_from(msg)
    ntop = lambda f, raw: socket.inet_ntop(f, raw if f == AF_INET6 else raw[:4])  # noqa: E731
    return (rfam, ntop(rfam, rraw), rport), (lfam, ntop(lfam, lraw), lport), msg[DGRAM_HDR.size:]


def test_a_dual_stack_udp_socket_hears_both_families_and_answers_each(shell, ldp):
    """Datagrams to our own addresses come back through the engine's own stack: a dual-stack
    socket on :: gets both, IPv4 ones from ::ffff:a.b.c.d, and its replies go out by the
    session of their destination's family."""
    shell.run("set interface ip address loop0 10.9.0.1/24")
    srv, v4, v6 = (ldp.sock(f, socket.SOCK_DGRAM) for f in (AF_INET6, AF_INET, AF_INET6))
    srv_end, v4_end, v6_end = ldp.ends[-3:]
    assert shell.call(lambda: ldp.bind(srv, Ep(AF_INET6, 0, 7103), user=True)) == 0
    me4 = int.from_bytes(socket.inet_aton("10.9.0.1"), "big")
    _send(v4_end, AF_INET, me4, 7103, b"over IPv4")
    rmt, lcl, data = _recv(srv_end)
    assert data == b"over IPv4" and rmt[:2] == (AF_INET6, "::ffff:10.9.0.1") and lcl[:2] == (AF_INET6, "::ffff:10.9.0.1")
    _send(srv_end, AF_INET6, (0xFFFF << 32) | me4, rmt[2], b"back by IPv4")
    assert _recv(v4_end)[::2] == ((AF_INET, "10.9.0.1", 7103), b"back by IPv4")
    _send(v6_end, AF_INET6, G, 7103, b"over IPv6")
    rmt, lcl, data = _recv(srv_end)
    assert data == b"over IPv6" and rmt[:2] == (AF_INET6, "2001:db8::1") and lcl == (AF_INET6, "2001:db8::1", 7103)
    _send(srv_end, AF_INET6, G, rmt[2], b"back by IPv6")
    assert _recv(v6_end)[::2] == ((AF_INET6, "2001:db8::1", 7103), b"back by IPv6")
    assert shell.call(lambda: v6.connect(Ep(AF_INET6, G, 7103))) == 0 and v6.connected
    assert v6.local() == Ep(AF_INET6, G, v6.local().port) and v6.peer() == Ep(AF_INET6, G, 7103)
    _send(v6_end, AF_UNSPEC, 0, 0, b"connected")
    assert _recv(srv_end)[2] == b"connected"


@pytest.mark.parametrize("family,v6only,ip,fams", [
    (AF_INET6, False, 0, {False, True}), (AF_INET6, True, 0, {True}), (AF_INET, False, 0, {False}),
    (AF_INET6, False, G, {True})], ids=["dual", "v6only", "ipv4", "native-address"])
def test_a_listener_takes_a_session_listener_per_family_it_holds(shell, ldp, family, v6only, ip, fams):
    vs = ldp.sock(family)
    vs.opts.v6only = v6only
    assert shell.call(lambda: ldp.bind(vs, Ep(family, ip, 7001), user=True)) == 0
    err, lsock = shell.call(lambda: ldp.listen(vs, 8))
    assert err == 0
    try:
        sm = shell.vm.session
        keys = {k for k in sm.listeners if k[0] == TransportProto.TCP and k[3] == 7001}
        assert {k[1] for k in keys} == fams and all(k[2] == ip for k in keys)
        ls = ldp.by_ino[os.fstat(lsock.fileno()).st_ino]
        shell.call(ls.close)
        assert not [k for k in sm.listeners if k[3] == 7001]
    finally:
        lsock.close()


def test_so_bindtodevice_names_vppsh_interfaces(shell, ldp):
    vs = ldp.sock()
    shell.call(lambda: options.setopt(vs, socket.SOL_SOCKET, socket.SO_BINDTODEVICE, b"loop0\0"))
    with pytest.raises(options.OptError) as e:
        shell.call(lambda: options.setopt(vs, socket.SOL_SOCKET, socket.SO_BINDTODEVICE, b"eth99\0"))
    assert e.value.errno == errno.ENODEV


def test_session_disable_takes_listeners_of_both_families(shell, ldp):
    vs = ldp.sock(AF_INET6)
    assert shell.call(lambda: ldp.bind(vs, Ep(AF_INET6, 0, 7002), user=True)) == 0
    err, lsock = shell.call(lambda: ldp.listen(vs, 8))
    try:
        ls = ldp.by_ino[os.fstat(lsock.fileno()).st_ino]
        assert set(ls.sessions) == {False, True}
        shell.run("session disable")
        assert not ls.sessions and ls.session is None and not shell.vm.session.listeners
        shell.call(ls.close)
    finally:
        lsock.close()


def test_session_disable_takes_udp_sockets_sessions_of_both_families(shell, ldp):
    """Every socket on a freed session forgets it, whichever of them receives its datagrams."""
    a, b = ldp.sock(AF_INET6, socket.SOCK_DGRAM), ldp.sock(AF_INET6, socket.SOCK_DGRAM)
    c = ldp.sock(AF_INET6, socket.SOCK_DGRAM)
    for u in (a, b):
        u.opts.reuseaddr = True
        assert shell.call(lambda u=u: ldp.bind(u, Ep(AF_INET6, 0, 7104), user=True)) == 0
    assert shell.call(lambda: c.connect(Ep(AF_INET6, G, 7104))) == 0
    assert set(a.sessions) == set(b.sessions) == {False, True} and c.connected
    shell.run("session disable")
    for u in (a, b, c):
        assert not u.sessions and not u.groups and u.session is None, u
    assert not shell.vm.session.listeners
    for u in (a, b, c):
        shell.call(u.close)
