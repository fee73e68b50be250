"""The shim's control protocol, as vppsh/preload/proto.h defines it (change both together:
tests/vcl/test_proto.py asks the C compiler what proto.h means and compares)."""

from __future__ import annotations

import socket
import struct

HELLO, SOCKET, BIND, LISTEN, CONNECT, ACCEPTED, NAME, SETOPT, GETOPT, SHUTDOWN, ABORT, LOOKUP, \
    IOCTL, CLOSED = range(1, 15)
K_NONE, K_TCP, K_LISTEN, K_UDP = range(4)
F_CONNECTED, F_V6ONLY = 1, 2
CAP_IP6 = 1
AF_UNSPEC, AF_INET, AF_INET6 = 0, int(socket.AF_INET), int(socket.AF_INET6)

_ADDR = "HHI16s"  # struct vl_addr: family, port, scope id, address (network byte order)
ADDR = struct.Struct("<" + _ADDR)
MSG = struct.Struct("<HHIiiiiIi" + _ADDR)  # op, len, seq, err, a, b, c, d, fd, addr; data follows
ACCEPT_HDR = struct.Struct("<16s" + _ADDR * 2)  # token, rmt addr, lcl addr
DGRAM_HDR = struct.Struct("<" + _ADDR * 2 + "iHH")  # rmt addr, lcl addr, ifindex, flags, err
DG_ERR, DG_PKTINFO, DG_PKTINFO6 = 1, 2, 4
MAX_DATA = 256
NAMES = ("hello", "socket", "bind", "listen", "connect", "accepted", "name", "setsockopt", "getsockopt",
         "shutdown", "abort", "lookup", "ioctl", "closed")
NO_ADDR = (AF_UNSPEC, 0, 0, bytes(16))  # a vl_addr's fields, for none


def addr_fields(family: int, ip: int, port: int, scope: int = 0) -> tuple:
    """A vl_addr's fields (family, port, scope id, 16 address bytes) for an address as an int."""
    raw = ip.to_bytes(16, "big") if family == AF_INET6 else ip.to_bytes(4, "big") + bytes(12)
    return family, port, scope, raw


def addr_ip(family: int, raw: bytes) -> int:
    """A vl_addr's address as an int of its family."""
    return int.from_bytes(raw if family == AF_INET6 else raw[:4], "big")


def op_name(msg: bytes) -> str:
    op = int.from_bytes(msg[:2], "little")
    return NAMES[op - 1] if 1 <= op <= len(NAMES) else f"op {op}"
