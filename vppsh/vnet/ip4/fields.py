"""Vectorised IPv4 header field access on [n, k] uint8 header rows (big-endian on the wire)."""

from __future__ import annotations

import numpy as np


def be16(rows: np.ndarray, off: int) -> np.ndarray:
    return (rows[:, off].astype(np.uint32) << 8) | rows[:, off + 1]


def be32(rows: np.ndarray, off: int) -> np.ndarray:
    r = rows[:, off:off + 4].astype(np.uint32)
    return (r[:, 0] << 24) | (r[:, 1] << 16) | (r[:, 2] << 8) | r[:, 3]


def put16(rows: np.ndarray, off: int, v) -> None:
    v = np.asarray(v, np.uint32)
    rows[:, off] = (v >> 8) & 0xFF
    rows[:, off + 1] = v & 0xFF


def put32(rows: np.ndarray, off: int, v) -> None:
    v = np.asarray(v, np.uint32)
    for k in range(4):
        rows[:, off + k] = (v >> (24 - 8 * k)) & 0xFF


def header_checksum(rows: np.ndarray) -> np.ndarray:
    """Checksum of 20-byte headers with the checksum field taken as zero."""
    w = rows[:, :20].astype(np.uint32)
    words = (w[:, 0::2] << 8) | w[:, 1::2]
    s = words.sum(axis=1) - words[:, 5]
    s = (s & 0xFFFF) + (s >> 16)
    s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


def decrement_ttl(hdr: np.ndarray) -> None:
    """TTL - 1 and the matching checksum update (+0x0100, one's complement) on header rows."""
    hdr[:, 8] -= 1
    c = add_to_checksum(be16(hdr, 10), 0x0100)
    hdr[:, 10] = c >> 8
    hdr[:, 11] = c & 0xFF


def add_to_checksum(csum: np.ndarray, delta: int) -> np.ndarray:
    """One's-complement add of a constant to a checksum field (RFC 1624 style shortcut)."""
    s = csum.astype(np.uint32) + delta
    return ((s & 0xFFFF) + (s >> 16)) & 0xFFFF
