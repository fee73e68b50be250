"""Where an IPv6 packet we originate toward `dst` leaves, and from which of our addresses:
ip4/egress.py's answer for IPv6 (ping, TCP, UDP share it)."""

from __future__ import annotations

from ..ip4 import dpo as D
from ..ip4.egress import DEFAULT_MTU, NO_ROUTE, Egress

IP6_TCP = 40 + 60  # what a TSO super-segment's headers may take


def egress6(vm, dst: int, sw: int | None = None) -> Egress:
    """The way toward dst; `sw` forces the interface (ping's `source`, a connection that
    arrived on it). A link-local destination needs its interface: its neighbour's /128."""
    ip6 = vm.ip6
    d = ip6.lookup(dst)
    kind = int(ip6.dpo.kind[d])
    if sw is None:
        if kind == D.DROP:
            return NO_ROUTE
        sw = int(ip6.dpo.sw_if_index[d])
    src = dst if kind == D.RECEIVE else ip6.source_for(sw, dst)
    mtu = int(ip6.dpo.mtu[d]) or ip6.mtu(sw)
    tso = min(65535, vm.buffers.data_size) - IP6_TCP if getattr(vm.interfaces.sw[sw].hw.device, "gso", False) else 0
    return Egress(sw, src, mtu or DEFAULT_MTU, tso)
