"""The interface pairs (VPP's lcp_itf_pair_t): a phy (any vppsh interface) and the tap whose
kernel side, the host-if, lives in a Linux namespace with the phy's MAC and MTU.

The registry is what the rest of linux-cp shares: the punt/xc nodes find a pair by the phy or
by the tap, the netlink mirror by (namespace, Linux ifindex), and anything that follows pairs
subscribes to `on_add` / `on_delete`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class LcpPair:
    index: int  # VPP's pair index, as `show lcp` prints it
    phy: int  # sw_if_index of the VPP interface
    host: int  # sw_if_index of vppsh's side of the tap (VPP: tap4096...)
    host_if: str  # the Linux name of the kernel side
    ifindex: int  # its Linux ifindex, in `netns`
    netns: str | None  # None: the namespace vppsh itself runs in
    tun: bool = False


class LinuxCp:
    """linux-cp's settings (`lcp default netns`, `lcp lcp-sync`, `lcp param ...`) and pairs."""

    def __init__(self, vm) -> None:
        self.vm = vm
        self.default_netns: str | None = None
        self.auto_subint = False
        self.sync = False
        self.del_static_on_link_down = False
        self.del_dynamic_on_link_down = False
        self.pairs: dict[int, LcpPair] = {}  # index -> pair
        self.on_add: list[Callable[[LcpPair], None]] = []
        self.on_delete: list[Callable[[LcpPair], None]] = []

    def add(self, pair: LcpPair) -> None:
        self.pairs[pair.index] = pair
        for fn in self.on_add:
            fn(pair)

    def remove(self, pair: LcpPair) -> None:
        for fn in self.on_delete:
            fn(pair)
        del self.pairs[pair.index]

    def next_index(self) -> int:
        return next(i for i in range(len(self.pairs) + 1) if i not in self.pairs)

    def by_phy(self, sw_if_index: int) -> LcpPair | None:
        return next((p for p in self.pairs.values() if p.phy == sw_if_index), None)

    def by_host(self, sw_if_index: int) -> LcpPair | None:
        return next((p for p in self.pairs.values() if p.host == sw_if_index), None)

    def by_ifindex(self, netns: str | None, ifindex: int) -> LcpPair | None:
        return next((p for p in self.pairs.values() if p.netns == netns and p.ifindex == ifindex), None)
