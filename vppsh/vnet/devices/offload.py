"""Checksum and segmentation offload: how the host stack asks for it, and the work a device
without a virtio-net header cannot hand to the kernel.

A buffer's offload request is kept as the virtio-net header a gso/csum-offload tap passes on
(pool.vnet): the transports say what they want through tcp_offload(), and only this module
and the devices know the header's layout.

A frame that arrived from a gso/csum-offload tap may carry a partial L4 checksum (the kernel's
NEEDS_CSUM: sum from csum_start, stored at csum_start + csum_offset) or be a GSO super-frame.
Sent out a device that takes no header, the checksum is finished here; GSO frames are dropped
and counted until software segmentation exists.
"""

from __future__ import annotations

import struct

import numpy as np

from ...vlib.buffer import F_GSO, F_LOCALLY_ORIGINATED, F_OFFLOAD, PRE_DATA, VNET_HDR_LEN
from ...wire.checksum import csum

_VNET = struct.Struct("<BBHHHHH")  # virtio_net_hdr_v1: flags, gso_type, hdr_len, gso_size, csum_start/offset
_NEEDS_CSUM, _GSO_TCPV4, _GSO_TCPV6 = 1, 1, 4
_ETH_IP4, _ETH_IP6 = 14 + 20, 14 + 40  # csum_start counts from the ethernet header the rewrite adds
_TCP4_CSUM = _VNET.pack(_NEEDS_CSUM, 0, 0, 0, _ETH_IP4, 16, 0)
_TCP6_CSUM = _VNET.pack(_NEEDS_CSUM, 0, 0, 0, _ETH_IP6, 16, 0)
_FLAGS_CSUM = F_LOCALLY_ORIGINATED | F_OFFLOAD
_FLAGS_GSO = F_LOCALLY_ORIGINATED | F_OFFLOAD | F_GSO


def tcp_offload(pool, b: int, tcp_hdr_len: int, gso: int = 0, ip6: bool = False) -> None:
    """Buffer b (IPv4 or IPv6 + TCP, the TCP checksum left partial: the pseudo-header's sum)
    leaves with its checksum to finish, and cut into gso-byte segments if gso."""
    vo = b * VNET_HDR_LEN
    if gso:
        start, kind = (_ETH_IP6, _GSO_TCPV6) if ip6 else (_ETH_IP4, _GSO_TCPV4)
        _VNET.pack_into(pool.mv_vnet, vo, _NEEDS_CSUM, kind, start + tcp_hdr_len, gso, start, 16, 0)
        pool.mv_flags[b] = _FLAGS_GSO
    else:
        pool.mv_vnet[vo:vo + VNET_HDR_LEN] = _TCP6_CSUM if ip6 else _TCP4_CSUM
        pool.mv_flags[b] = _FLAGS_CSUM


def finish_offload(dev, node, pool, bi: np.ndarray, start: np.ndarray, length: np.ndarray):
    """Filter (bi, start, length) of a frame about to be sent without a virtio-net header."""
    flags = pool.flags[bi]
    todo = (flags & F_OFFLOAD) != 0
    if not todo.any():
        return bi, start, length
    gso = (flags & F_GSO) != 0
    if gso.any():
        dev.count_tx_errors(node, int(gso.sum()))
        keep = ~gso
        bi, start, length, todo = bi[keep], start[keep], length[keep], todo[keep]
    for k in np.flatnonzero(todo):  # rare: a partial checksum to finish in software
        b, s, n = int(bi[k]), int(start[k]), int(length[k])
        h = pool.vnet[b]
        cs, co = int(h[6]) | int(h[7]) << 8, int(h[8]) | int(h[9]) << 8
        row = pool.data[b]
        if 0 < cs and cs + co + 2 <= n:
            value = csum(row[s + cs:s + n].tobytes())
            row[s + cs + co:s + cs + co + 2] = np.frombuffer(value.to_bytes(2, "big"), np.uint8)
        pool.flags[b] &= ~np.uint32(F_OFFLOAD)
    return bi, start, length


def finish_in_place(dev, node, pool, frame: np.ndarray) -> np.ndarray:
    """The same for a device that hands packets on inside the engine (loopback, pg capture):
    returns the buffers to keep; GSO frames are counted and freed."""
    start = PRE_DATA + pool.current_data[frame].astype(np.int64)
    kept, _s, _l = finish_offload(dev, node, pool, frame, start, pool.current_length[frame].astype(np.int64))
    if len(kept) != len(frame):
        pool.free(np.setdiff1d(frame, kept))
    return kept
