"""Initial sequence numbers (RFC 6528) and SYN cookies.

ISN = M + F(4-tuple, secret): M is a 4 us clock, F a keyed hash, so an off-path attacker cannot
guess the next connection's ISN. A cookie packs a hash, a 64 s time slot and the peer's MSS
class into the SYN-ACK's ISN, so a SYN flood beyond the backlog costs no state.
"""

from __future__ import annotations

import hashlib
import os
import struct
import time

import numpy as np

_SECRET = os.urandom(16)
MSS_TABLE = (536, 1200, 1360, 1400, 1440, 1460, 4312, 8960)


_KEYED = hashlib.blake2s(key=_SECRET, digest_size=4)  # copied per hash: cheaper than keying anew
_TUPLE = struct.Struct("!IIII")


def _h(*vals: int, extra: bytes = b"") -> int:
    h = _KEYED.copy()
    h.update(b"".join(v.to_bytes(4 if v <= 0xFFFFFFFF else 16, "big") for v in vals) + extra)  # IPv6: 16
    return int.from_bytes(h.digest(), "big")


def isn(lcl_ip: int, lcl_port: int, rmt_ip: int, rmt_port: int) -> int:
    m = int(time.monotonic() * 250_000)  # 4 us ticks
    if rmt_ip > 0xFFFFFFFF:  # IPv6
        return (m + _h(lcl_ip, lcl_port, rmt_ip, rmt_port)) & 0xFFFFFFFF
    h = _KEYED.copy()
    h.update(_TUPLE.pack(lcl_ip, lcl_port, rmt_ip, rmt_port))  # = _h(lcl_ip, lcl_port, rmt_ip, rmt_port)
    return (m + int.from_bytes(h.digest(), "big")) & 0xFFFFFFFF


def _slot() -> int:
    return int(time.monotonic()) >> 6


def cookie(lcl_ip: int, lcl_port: int, rmt_ip: int, rmt_port: int, peer_seq: int, mss: int) -> int:
    """The SYN-ACK ISN for a stateless reply: hash(24 bits) | slot(5) | mss class(3)."""
    cls = max(i for i, m in enumerate(MSS_TABLE) if m <= max(mss, MSS_TABLE[0]))
    t = _slot() & 0x1F
    h = _h(lcl_ip, lcl_port, rmt_ip, rmt_port, peer_seq, t, extra=b"c") & 0xFFFFFF
    return (h << 8) | (t << 3) | cls


_COOKIE_MSG = np.dtype([(f"w{i}", ">u4") for i in range(6)] + [("c", "u1")])


def cookies(lcl_ip, lcl_port, rmt_ip, rmt_port, peer_seq, cls) -> np.ndarray:
    """cookie() for arrays of SYNs (cls: each one's MSS class): the messages are laid out with
    numpy, only the keyed hash runs per SYN (~1 us)."""
    n = len(lcl_ip)
    t = _slot() & 0x1F
    msg = np.empty(n, _COOKIE_MSG)  # the bytes cookie() hashes, one record per SYN
    msg["w0"], msg["w1"], msg["w2"], msg["w3"], msg["w4"] = lcl_ip, lcl_port, rmt_ip, rmt_port, peer_seq
    msg["w5"], msg["c"] = t, ord("c")
    mv = memoryview(msg.view(np.uint8))
    copy = _KEYED.copy
    digests = []
    for i in range(0, 25 * n, 25):
        h = copy()
        h.update(mv[i:i + 25])
        digests.append(h.digest())
    h24 = np.frombuffer(b"".join(digests), ">u4").astype(np.uint32) & 0xFFFFFF
    return (h24 << 8) | np.uint32(t << 3) | np.asarray(cls, np.uint32)


def check_cookie(lcl_ip: int, lcl_port: int, rmt_ip: int, rmt_port: int, peer_seq: int,
                 ack: int) -> int | None:
    """The MSS the cookie in `ack - 1` encodes, if it is ours and at most ~2 slots old."""
    c = (ack - 1) & 0xFFFFFFFF
    t, cls = (c >> 3) & 0x1F, c & 7
    now = _slot()
    for age in (0, 1):
        if ((now - age) & 0x1F) == t:
            if _h(lcl_ip, lcl_port, rmt_ip, rmt_port, peer_seq, t, extra=b"c") & 0xFFFFFF == c >> 8:
                return MSS_TABLE[cls]
    return None
