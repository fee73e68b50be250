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
from vppsh.vcl.proto import AF_INET, AF_INET6

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


def test_udp_stays_ipv4_only(shell, ldp):
    u = ldp.sock(kind=socket.SOCK_DGRAM)
    assert shell.call(lambda: ldp.bind(u, Ep(AF_INET6, G, 0), user=True)) == errno.EADDRNOTAVAIL
    assert u.can_reach(Ep(AF_INET6, G + 1, 7)) == errno.ENETUNREACH
    assert ldp.caps() == 0  # the shim's sendto() refuses native IPv6 at once


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
