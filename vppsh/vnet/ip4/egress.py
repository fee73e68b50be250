"""Where a packet we originate toward `dst` leaves, and from which of our addresses (the FIB's
route, then VPP's source address choice): one answer for ping, TCP, UDP and the ICMP replies of
reassembly, so they never disagree about a path."""

from __future__ import annotations

from typing import NamedTuple

from . import dpo as D

DEFAULT_MTU = 1500


class Egress(NamedTuple):
    sw_if_index: int  # -1: no route (a drop)
    src: int  # our address on that interface (dst itself if it is ours), 0 if it has none
    mtu: int  # IP MTU of the path: its adjacency's, else its interface's
    tso: int  # bytes of one TSO super-segment the interface takes, 0 if it takes none


NO_ROUTE = Egress(-1, 0, DEFAULT_MTU, 0)


def egress(vm, dst: int, sw: int | None = None) -> Egress:
    """The way toward dst; `sw` forces the interface (ping's `source`, a connection that
    arrived on it) and takes its first address."""
    ip4 = vm.ip4
    d = ip4.lookup(dst)
    if sw is not None:
        addrs = ip4.addrs.get(sw)
        src = int(addrs[0].ip) if addrs else 0
    else:
        if int(ip4.dpo.kind[d]) == D.DROP:
            return NO_ROUTE
        sw = int(ip4.dpo.sw_if_index[d])
        src = dst if int(ip4.dpo.kind[d]) == D.RECEIVE else _source(ip4.addrs.get(sw), dst)
    mtu = int(ip4.dpo.mtu[d]) or ip4.mtu(sw)
    tso = min(65535, vm.buffers.data_size) - 20 - 60 if getattr(vm.interfaces.sw[sw].hw.device, "gso", False) else 0
    return Egress(sw, src, mtu or DEFAULT_MTU, tso)


def _source(addrs, dst: int) -> int:
    """The interface's address on dst's subnet, else its first (VPP's ip4 source choice)."""
    if not addrs:
        return 0
    for p in addrs:
        a = p._ip  # IPv4Interface's own address and prefix length, without building objects
        if (dst ^ a) >> (32 - p._prefixlen) == 0:
            if a:
                return a
            break
    return int(addrs[0])
