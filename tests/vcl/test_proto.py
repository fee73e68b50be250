"""The shim's protocol is written twice, in C (vppsh/preload/proto.h) for the shim and in Python
(vppsh/vcl/proto.py) for the engine: the C compiler says what proto.h means, and every number,
size and field offset must be what proto.py packs."""

from __future__ import annotations

import json
import os
import re
import shutil
import struct
import subprocess

import pytest

from vppsh.vcl import proto

PROTO_H = os.path.join(os.path.dirname(proto.__file__), "..", "preload", "proto.h")

PROBE = r"""
#include <stddef.h>
#include <stdio.h>
#include "proto.h"
#define F(t, f) printf("\"%s.%s\": [%zu, %zu],", #t, #f, offsetof(struct t, f), sizeof(((struct t *)0)->f))
#define A(t, a) F(t, a.family); F(t, a.port); F(t, a.scope_id); F(t, a.addr)
int main(void)
{
    printf("{");
    F(vl_addr, family); F(vl_addr, port); F(vl_addr, scope_id); F(vl_addr, addr);
    F(vl_msg, op); F(vl_msg, len); F(vl_msg, seq); F(vl_msg, err); F(vl_msg, a); F(vl_msg, b); F(vl_msg, c);
    F(vl_msg, d); F(vl_msg, fd); A(vl_msg, addr); F(vl_msg, data);
    F(vl_accept_hdr, token); A(vl_accept_hdr, rmt); A(vl_accept_hdr, lcl);
    A(vl_dgram_hdr, rmt); A(vl_dgram_hdr, lcl); F(vl_dgram_hdr, ifindex); F(vl_dgram_hdr, flags);
    F(vl_dgram_hdr, err);
    printf("\"sizeof.vl_addr\": %zu, \"sizeof.vl_accept_hdr\": %zu, \"sizeof.vl_dgram_hdr\": %zu, "
           "\"VL_HDR_LEN\": %d,", sizeof(struct vl_addr), sizeof(struct vl_accept_hdr),
           sizeof(struct vl_dgram_hdr), VL_HDR_LEN);
    printf("\"ops\": [%d, %d, %d, %d, %d, %d, %d, %d, %d, %d, %d, %d, %d, %d],", VL_HELLO, VL_SOCKET, VL_BIND,
           VL_LISTEN, VL_CONNECT, VL_ACCEPTED, VL_NAME, VL_SETOPT, VL_GETOPT, VL_SHUTDOWN, VL_ABORT, VL_LOOKUP,
           VL_IOCTL, VL_CLOSED);
    printf("\"kinds\": [%d, %d, %d, %d], \"flags\": [%d, %d], \"caps\": [%d], \"dgram_flags\": [%d, %d, %d]}",
           VL_K_NONE, VL_K_TCP, VL_K_LISTEN, VL_K_UDP, VL_F_CONNECTED, VL_F_V6ONLY, VL_CAP_IP6, VL_DG_ERR,
           VL_DG_PKTINFO, VL_DG_PKTINFO6);
    return 0;
}
"""


@pytest.fixture(scope="module")
def c(tmp_path_factory):
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.skip("no C compiler")
    d = tmp_path_factory.mktemp("proto")
    (d / "probe.c").write_text(PROBE)
    subprocess.run([cc, "-Wall", "-I", os.path.dirname(PROTO_H), "-o", str(d / "probe"), str(d / "probe.c")],
                   check=True)
    return json.loads(subprocess.run([str(d / "probe")], check=True, capture_output=True, text=True).stdout)


def _layout(fmt: str, names: list[str]) -> dict:
    """{field: [offset, size]} of a little-endian struct format without padding."""
    out, off = {}, 0
    for name, code in zip(names, re.findall(r"\d*[a-zA-Z]", fmt.lstrip("<"))):
        size = struct.calcsize("<" + code)
        out[name] = [off, size]
        off += size
    return out


def test_every_op_kind_and_flag_has_the_same_number(c):
    ops = [proto.HELLO, proto.SOCKET, proto.BIND, proto.LISTEN, proto.CONNECT, proto.ACCEPTED, proto.NAME,
           proto.SETOPT, proto.GETOPT, proto.SHUTDOWN, proto.ABORT, proto.LOOKUP, proto.IOCTL, proto.CLOSED]
    assert c["ops"] == ops
    assert [proto.op_name(op.to_bytes(2, "little")) for op in ops] == [
        "hello", "socket", "bind", "listen", "connect", "accepted", "name", "setsockopt", "getsockopt",
        "shutdown", "abort", "lookup", "ioctl", "closed"]
    assert c["kinds"] == [proto.K_NONE, proto.K_TCP, proto.K_LISTEN, proto.K_UDP]
    assert c["flags"] == [proto.F_CONNECTED, proto.F_V6ONLY]
    assert c["caps"] == [proto.CAP_IP6]
    assert c["dgram_flags"] == [proto.DG_ERR, proto.DG_PKTINFO, proto.DG_PKTINFO6]


ADDR_FIELDS = ["family", "port", "scope_id", "addr"]


def _fields(*parts: str) -> list[str]:
    """Field names, a vl_addr (given as "rmt:addr") spelled out as its four."""
    out = []
    for p in parts:
        out += [f"{p[:-5]}.{f}" for f in ADDR_FIELDS] if p.endswith(":addr") else [p]
    return out


def _compiled(c, struct_name: str) -> dict:
    return {k[len(struct_name) + 1:]: v for k, v in c.items() if k.startswith(struct_name + ".")}


def test_every_struct_packs_as_the_compiler_lays_it_out(c):
    assert _layout(proto.ADDR.format, ADDR_FIELDS) == _compiled(c, "vl_addr")
    assert c["sizeof.vl_addr"] == proto.ADDR.size
    msg = _layout(proto.MSG.format, _fields("op", "len", "seq", "err", "a", "b", "c", "d", "fd", "addr:addr"))
    want = _compiled(c, "vl_msg")
    data = want.pop("data")
    assert msg == want
    assert c["VL_HDR_LEN"] == proto.MSG.size == data[0]
    assert data[1] == proto.MAX_DATA
    hdr = _layout(proto.ACCEPT_HDR.format, _fields("token", "rmt:addr", "lcl:addr"))
    assert hdr == _compiled(c, "vl_accept_hdr")
    assert c["sizeof.vl_accept_hdr"] == proto.ACCEPT_HDR.size
    dg = _layout(proto.DGRAM_HDR.format, _fields("rmt:addr", "lcl:addr", "ifindex", "flags", "err"))
    assert dg == _compiled(c, "vl_dgram_hdr")
    assert c["sizeof.vl_dgram_hdr"] == proto.DGRAM_HDR.size


def test_addresses_pack_as_in_addr_and_in6_addr():
    """The bytes are the kernel's own (network order), IPv4 in the first four."""
    import socket

    v4 = proto.addr_fields(proto.AF_INET, 0x0A000001, 7)
    assert v4 == (socket.AF_INET, 7, 0, socket.inet_aton("10.0.0.1") + bytes(12))
    assert proto.addr_ip(*v4[::3]) == 0x0A000001
    ip6 = int.from_bytes(socket.inet_pton(socket.AF_INET6, "2001:db8::1"), "big")
    v6 = proto.addr_fields(proto.AF_INET6, ip6, 179, 3)
    assert v6 == (socket.AF_INET6, 179, 3, socket.inet_pton(socket.AF_INET6, "2001:db8::1"))
    assert proto.addr_ip(*v6[::3]) == ip6
