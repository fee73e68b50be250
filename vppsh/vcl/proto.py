"""The shim's control protocol, as vppsh/preload/proto.h defines it (change both together:
tests/vcl/test_proto.py asks the C compiler what proto.h means and compares)."""

from __future__ import annotations

import struct

HELLO, SOCKET, BIND, LISTEN, CONNECT, ACCEPTED, NAME, SETOPT, GETOPT, SHUTDOWN, ABORT, LOOKUP, \
    IOCTL, CLOSED = range(1, 15)
K_NONE, K_TCP, K_LISTEN, K_UDP = range(4)
F_CONNECTED = 1

MSG = struct.Struct("<HHIiiiiIHH")  # op, len, seq, err, a, b, c, addr, port, fd; data follows
ACCEPT_HDR = struct.Struct("<16sIHHI")  # token, rmt addr, rmt port, lcl port, lcl addr
DGRAM_HDR = struct.Struct("<IHH")  # addr, port, flags
DGRAM_ERR = 1  # DGRAM_HDR flags: not a datagram but an ICMP error; addr = its errno
MAX_DATA = 256
NAMES = ("hello", "socket", "bind", "listen", "connect", "accepted", "name", "setsockopt", "getsockopt",
         "shutdown", "abort", "lookup", "ioctl", "closed")


def op_name(msg: bytes) -> str:
    op = int.from_bytes(msg[:2], "little")
    return NAMES[op - 1] if 1 <= op <= len(NAMES) else f"op {op}"
