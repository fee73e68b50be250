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
int main(void)
{
    printf("{");
    F(vl_msg, op); F(vl_msg, len); F(vl_msg, seq); F(vl_msg, err); F(vl_msg, a); F(vl_msg, b); F(vl_msg, c);
    F(vl_msg, addr); F(vl_msg, port); F(vl_msg, fd); F(vl_msg, data);
    F(vl_accept_hdr, token); F(vl_accept_hdr, rmt_addr); F(vl_accept_hdr, rmt_port); F(vl_accept_hdr, lcl_port);
    F(vl_accept_hdr, lcl_addr);
    F(vl_dgram_hdr, addr); F(vl_dgram_hdr, port); F(vl_dgram_hdr, flags);
    printf("\"sizeof.vl_accept_hdr\": %zu, \"sizeof.vl_dgram_hdr\": %zu, \"VL_HDR_LEN\": %d,",
           sizeof(struct vl_accept_hdr), sizeof(struct vl_dgram_hdr), VL_HDR_LEN);
    printf("\"ops\": [%d, %d, %d, %d, %d, %d, %d, %d, %d, %d, %d, %d, %d, %d],", VL_HELLO, VL_SOCKET, VL_BIND,
           VL_LISTEN, VL_CONNECT, VL_ACCEPTED, VL_NAME, VL_SETOPT, VL_GETOPT, VL_SHUTDOWN, VL_ABORT, VL_LOOKUP,
           VL_IOCTL, VL_CLOSED);
    printf("\"kinds\": [%d, %d, %d, %d], \"VL_F_CONNECTED\": %d, \"VL_DGRAM_ERR\": %d}", VL_K_NONE, VL_K_TCP,
           VL_K_LISTEN, VL_K_UDP, VL_F_CONNECTED, VL_DGRAM_ERR);
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
    assert (c["VL_F_CONNECTED"], c["VL_DGRAM_ERR"]) == (proto.F_CONNECTED, proto.DGRAM_ERR)


def test_every_struct_packs_as_the_compiler_lays_it_out(c):
    msg = _layout(proto.MSG.format, ["op", "len", "seq", "err", "a", "b", "c", "addr", "port", "fd"])
    assert {f"vl_msg.{k}": v for k, v in msg.items()} == {k: v for k, v in c.items() if k.startswith("vl_msg.")
                                                          and k != "vl_msg.data"}
    assert c["VL_HDR_LEN"] == proto.MSG.size == c["vl_msg.data"][0]
    assert c["vl_msg.data"][1] == proto.MAX_DATA
    hdr = _layout(proto.ACCEPT_HDR.format, ["token", "rmt_addr", "rmt_port", "lcl_port", "lcl_addr"])
    assert {f"vl_accept_hdr.{k}": v for k, v in hdr.items()} == {k: v for k, v in c.items()
                                                                  if k.startswith("vl_accept_hdr.")}
    assert c["sizeof.vl_accept_hdr"] == proto.ACCEPT_HDR.size
    dg = _layout(proto.DGRAM_HDR.format, ["addr", "port", "flags"])
    assert {f"vl_dgram_hdr.{k}": v for k, v in dg.items()} == {k: v for k, v in c.items()
                                                                if k.startswith("vl_dgram_hdr.")}
    assert c["sizeof.vl_dgram_hdr"] == proto.DGRAM_HDR.size
