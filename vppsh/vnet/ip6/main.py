"""IPv6 control plane: Ip4Main's model (addresses add a connected prefix and a local host
route, neighbours add adjacency host routes, routes point at adjacencies) with IPv6's rules.

What differs: enabling IPv6 on an interface (an address does it, or `enable ip6 interface`)
gives it a link-local address from its MAC (modified EUI-64), as VPP does; fe80::/10 is on
every link, so link-local neighbours resolve on the interface they were learned on; there are
no broadcast addresses; neighbour discovery replaces ARP (nd.py); routers advertise (ra.py).
"""

from __future__ import annotations

import ipaddress
import random

import numpy as np

from ...wire.ip6 import ALL_NODES, format_ip6, is_link_local, link_local_from_mac
from ..fib.mtrie import ip6_vector
from ..fib.table import FibTable
from ..ip4 import dpo as D
from ..ip4.main import SRC_INTERFACE, Ip4Error, Ip4Main

# VPP's ip6-nd defaults: unsolicited advertisements every 150-200 s (the first three 16 s apart,
# RFC 4861 6.2.4's MAX_INITIAL_RTR_ADVERT_INTERVAL), router lifetime three times the interval.
RA_MAX_INTERVAL, RA_MIN_INTERVAL, RA_INITIAL, RA_INITIAL_INTERVAL = 200, 150, 3, 16
RA_LIFETIME = 3 * RA_MAX_INTERVAL


class Ip6Main(Ip4Main):
    BITS = 128
    ETHERTYPE = b"\x86\xdd"
    LOOKUP = "ip6-lookup"
    Address = ipaddress.IPv6Address

    def __init__(self, vm) -> None:
        super().__init__(vm)
        self.explicit: set[int] = set()  # `enable ip6 interface`: on without an address
        self.link_local: dict[int, int] = {}  # sw_if_index -> its link-local address
        self.ra: dict[int, dict] = {}  # sw_if_index -> {"suppress": bool, "sent": n, "timer": entry}

    def _make_fib(self) -> FibTable:
        return FibTable.default(0, bits=128)

    def _register_nodes(self) -> None:
        pass  # vnet.attach registers the ip6 nodes

    @staticmethod
    def _dropped(pfx) -> tuple[int, ...]:
        return ()

    @staticmethod
    def _fib_keys(keys: list[int]):
        return ip6_vector(keys)

    @staticmethod
    def format(a: int) -> str:
        return format_ip6(a)

    def mtu(self, sw_if_index: int) -> int:
        sw = self.vm.interfaces.sw[sw_if_index]
        return sw.mtu[2] or sw.mtu[0] or 9000

    # ------------------------------------------------------------ enabling
    def _sync_if(self, sw_if_index: int) -> None:
        super()._sync_if(sw_if_index)
        lst = self.addrs.get(sw_if_index) or []
        on = bool(lst) or sw_if_index in self.explicit
        self.enabled[sw_if_index] = on
        if on and sw_if_index not in self.link_local:
            self._link_local_add(sw_if_index)
        elif not on and sw_if_index in self.link_local:
            self._link_local_del(sw_if_index)

    def enable(self, sw_if_index: int, on: bool = True) -> None:
        """`enable ip6 interface` / `disable ip6 interface`."""
        (self.explicit.add if on else self.explicit.discard)(sw_if_index)
        self._sync_if(sw_if_index)

    def _link_local_add(self, sw: int) -> None:
        ll = link_local_from_mac(self.mac(sw))
        self.link_local[sw] = ll
        r = self.dpo.get(("receive", sw, ll), D.RECEIVE, sw, ll, 128)
        self._fib_add(ll, 128, SRC_INTERFACE, r)
        ra = self.ra.setdefault(sw, {})
        if ra.get("timer") is None:
            ra["timer"] = self.vm.timer(random.uniform(0, 1), lambda: self._advertise(sw))

    def _advertise(self, sw: int) -> None:
        """An unsolicited router advertisement to all nodes, then the next one scheduled."""
        ra = self.ra.get(sw)
        if ra is None or sw not in self.link_local:
            return
        intf = self.vm.interfaces.get(sw)
        if not ra.get("suppress") and intf is not None and intf.admin_up:
            self.vm.node("ip6-icmp-input").send_ra(sw, ALL_NODES, None)
            ra["sent"] = ra.get("sent", 0) + 1
        early = ra.get("sent", 0) < RA_INITIAL
        delay = RA_INITIAL_INTERVAL if early else random.uniform(RA_MIN_INTERVAL, RA_MAX_INTERVAL)
        ra["timer"] = self.vm.timer(delay, lambda: self._advertise(sw))

    def _link_local_del(self, sw: int) -> None:
        ra = self.ra.get(sw)
        if ra is not None and ra.get("timer") is not None:
            self.vm.timers.cancel(ra.pop("timer"))
        ll = self.link_local.pop(sw)
        self._fib_del(ll, 128, SRC_INTERFACE)
        for key in [k for k in self.neighbors if k[0] == sw]:
            self.neighbor_del(*key)

    def mac_changed(self, sw: int) -> None:
        """A new MAC makes a new link-local address, as on VPP and Linux."""
        if sw in self.link_local:
            self._link_local_del(sw)
            self._link_local_add(sw)
        self.refresh_adjacencies(sw)

    # ------------------------------------------------------------ addresses
    def address_add(self, sw_if_index: int, pfx: ipaddress.IPv6Interface) -> None:
        if is_link_local(int(pfx.ip)) or pfx.ip.is_multicast or pfx.ip.is_unspecified:
            raise Ip4Error(f"{pfx} is not a valid unicast address for an interface")
        super().address_add(sw_if_index, pfx)

    def connected(self, sw_if_index: int, ip: int) -> bool:
        if is_link_local(ip):
            return bool(self.enabled[sw_if_index]) if sw_if_index < len(self.enabled) else False
        return super().connected(sw_if_index, ip)

    def is_local(self, sw_if_index: int, ip: int) -> bool:
        return self.link_local.get(sw_if_index) == ip or super().is_local(sw_if_index, ip)

    def interface_deleted(self, sw_if_index: int) -> None:
        super().interface_deleted(sw_if_index)
        self.explicit.discard(sw_if_index)
        if sw_if_index in self.link_local:
            self._link_local_del(sw_if_index)
        self.ra.pop(sw_if_index, None)

    def source_for(self, sw: int, dst: int) -> int:
        """Our address to send to `dst` out `sw` from (RFC 6724, the rules that matter here):
        link-local for a link-local or multicast-scope-link destination, else a global address
        on `sw` whose prefix holds dst, else the first on `sw`, else any global one."""
        ll = self.link_local.get(sw, 0)
        if is_link_local(dst) or dst >> 112 == 0xFF02:
            return ll
        lst = self.addrs.get(sw) or []
        a = ipaddress.IPv6Address(dst)
        for p in lst:
            if a in p.network:
                return int(p.ip)
        if lst:
            return int(lst[0].ip)
        return next((int(p.ip) for ps in self.addrs.values() for p in ps), ll)

    def ours(self, ip: int) -> bool:
        """Is `ip` one of our unicast addresses (any interface)?"""
        return ip in self.link_local.values() or any(int(p.ip) == ip for ps in self.addrs.values() for p in ps)


def dst_bytes(buf, frame, off: int = 24) -> np.ndarray:
    """Destination addresses of a frame's IPv6 headers as (n, 16) network-order bytes."""
    return buf.gather(frame, off, 16)


def strip_ext(buf, b: int, off: int, proto: int) -> None:
    """Move buffer b's IPv6 header up against its upper-layer header at `off` (protocol
    `proto`), dropping the extension headers between them (ip6-receive checked them), so the
    transport's nodes find their header right after 40 bytes."""
    o = buf.start(b)
    mv = buf.mv
    k = off - 40
    hdr = bytearray(mv[o:o + 40])
    hdr[6] = proto
    hdr[4:6] = (((hdr[4] << 8) | hdr[5]) - k).to_bytes(2, "big")
    mv[o + k:o + off] = hdr
    buf.current_data[b] += k
    buf.current_length[b] -= k
