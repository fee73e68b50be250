"""IPv4 control plane: interface addresses, the FIB, routes, neighbours and their adjacencies.

Mirrors VPP's model: an address adds a connected prefix (glean: ARP for unknown hosts) and a
local /32 (receive); a learned neighbour adds an adjacency /32 (adj-fib); a route via a next
hop points at the adjacency of (interface, next hop), incomplete until ARP resolves it.
"""

from __future__ import annotations

import ipaddress
from ...wire.ip4 import format_ip4
from dataclasses import dataclass

import numpy as np

from ..arp.hold import HoldQueue
from ..fib.table import FibTable
from . import dpo as D
from .dpo import DpoTable
from .neighbor import NeighborTable
from .frag import Ip4Frag
from .reass import Ip4LocalFullReass

SRC_INTERFACE, SRC_ADJ, SRC_CLI = "interface", "adjacency", "CLI"


class Ip4Error(Exception):
    pass


@dataclass
class Neighbor:
    sw_if_index: int
    ip: int
    mac: bytes
    static: bool
    updated: float  # last learned or confirmed (NeighborTable.clock)
    used: float = 0.0  # last seen carrying traffic (NeighborTable, from its adjacency's counter)
    pkts: int = 0  # that counter when last looked at


class Ip4Main:
    """One address family's control plane; Ip6Main (vnet/ip6/main.py) is this with IPv6's
    constants and its own address rules."""

    BITS = 32  # host prefix length
    ETHERTYPE = b"\x08\x00"
    LOOKUP = "ip4-lookup"
    Address = ipaddress.IPv4Address

    def __init__(self, vm) -> None:
        self.vm = vm
        self.dpo = DpoTable(addr_dtype=np.uint32 if self.BITS == 32 else object)
        self.fib = self._make_fib()
        self.addrs: dict[int, list[ipaddress.IPv4Interface]] = {}
        self.neighbors: dict[tuple[int, int], Neighbor] = {}
        self.routes: dict[tuple[int, int], Path] = {}  # (addr, plen) -> path; bulk adds share one
        self.ping_waiters: dict = {}  # ICMP id -> the CLI process of the ping waiting for replies
        self.held = HoldQueue(vm, self.LOOKUP)  # packets waiting for ARP (ip4-glean / ip4-arp)
        self.table = NeighborTable(self)  # the neighbours' bound and ageing
        # per sw_if_index, for the data path: is ip4 enabled, the first address (ICMP source)
        self.enabled = np.zeros(64, bool)
        self.if_addr = np.zeros(64, np.uint32 if self.BITS == 32 else object)
        self._register_nodes()

    def _make_fib(self) -> FibTable:
        return FibTable.default(0)

    def _register_nodes(self) -> None:
        for cls in (Ip4Frag, Ip4LocalFullReass):  # fragmentation and reassembly nodes
            self.vm.register(cls(self.vm))

    # ------------------------------------------------------------ per-interface arrays
    def _sync_if(self, sw_if_index: int) -> None:
        if sw_if_index >= len(self.enabled):
            n = max(len(self.enabled) * 2, sw_if_index + 1)
            self.enabled = np.concatenate([self.enabled, np.zeros(n - len(self.enabled), bool)])
            self.if_addr = np.concatenate([self.if_addr, np.zeros(n - len(self.if_addr), self.if_addr.dtype)])
        lst = self.addrs.get(sw_if_index) or []
        self.enabled[sw_if_index] = bool(lst)
        self.if_addr[sw_if_index] = int(lst[0].ip) if lst else 0

    def mac(self, sw_if_index: int) -> bytes:
        return self.vm.interfaces.sw[sw_if_index].hw.mac or bytes(6)

    def mtu(self, sw_if_index: int) -> int:
        sw = self.vm.interfaces.sw[sw_if_index]
        return sw.mtu[1] or sw.mtu[0] or 9000

    # ------------------------------------------------------------ addresses
    def address_add(self, sw_if_index: int, pfx: ipaddress.IPv4Interface) -> None:
        name = self.vm.interfaces.sw[sw_if_index].name
        for sw, lst in self.addrs.items():
            for have in lst:
                if have == pfx and sw == sw_if_index:
                    raise Ip4Error(f"Prefix {pfx} already found on interface {name}")
                if have.network.overlaps(pfx.network):
                    other = self.vm.interfaces.sw[sw].name
                    raise Ip4Error(f"failed to add {pfx} on {name} which conflicts with {have} "
                                   f"for interface {other}")
        self.addrs.setdefault(sw_if_index, []).append(pfx)
        self._sync_if(sw_if_index)
        net, plen, ip = int(pfx.network.network_address), pfx.network.prefixlen, int(pfx.ip)
        mtu = self.mtu(sw_if_index)
        if plen < self.BITS:
            g = self.dpo.get(("glean", sw_if_index, net, plen), D.GLEAN, sw_if_index, net, plen, mtu)
            self._fib_add(net, plen, SRC_INTERFACE, g)
        r = self.dpo.get(("receive", sw_if_index, ip), D.RECEIVE, sw_if_index, ip, self.BITS)
        self._fib_add(ip, self.BITS, SRC_INTERFACE, r)
        for a in self._dropped(pfx):
            self._fib_add(a, self.BITS, SRC_INTERFACE, 0)
        self.refresh_adjacencies(sw_if_index)
        self._resolve_routes()

    def address_del(self, sw_if_index: int, pfx: ipaddress.IPv4Interface | None) -> None:
        lst = self.addrs.get(sw_if_index, [])
        targets = list(lst) if pfx is None else [p for p in lst if p == pfx]
        if pfx is not None and not targets:
            name = self.vm.interfaces.sw[sw_if_index].name
            raise Ip4Error(f"{pfx} not found for interface {name}")
        for p in targets:
            lst.remove(p)
            net, plen, ip = int(p.network.network_address), p.network.prefixlen, int(p.ip)
            if plen < self.BITS:
                self._fib_del(net, plen, SRC_INTERFACE)
            self._fib_del(ip, self.BITS, SRC_INTERFACE)
            for a in self._dropped(p):
                self._fib_del(a, self.BITS, SRC_INTERFACE)
            for key, nb in list(self.neighbors.items()):  # neighbours no longer on a subnet go
                if nb.sw_if_index == sw_if_index and not self.connected(sw_if_index, nb.ip):
                    self.neighbor_del(sw_if_index, nb.ip)
        self._sync_if(sw_if_index)
        self._resolve_routes()

    @staticmethod
    def _dropped(pfx) -> tuple[int, ...]:
        """Host routes an address adds as drops: network and broadcast, as in VPP (not /31)."""
        if pfx.network.prefixlen >= 31:
            return ()
        return int(pfx.network.network_address), int(pfx.network.broadcast_address)

    def connected(self, sw_if_index: int, ip: int) -> bool:
        a = self.Address(ip)
        return any(a in p.network for p in self.addrs.get(sw_if_index, []))

    def on_link(self, sw_if_index: int, ip: int) -> bool:
        """Is `ip` reached directly on the interface: in a connected subnet, covered by an
        attached route (`ip route add <prefix> via <interface>`: glean) or a neighbour's /32
        there? VPP's FIB_ENTRY_FLAG_CONNECTED | ATTACHED, what arp-input asks of a sender."""
        if self.connected(sw_if_index, ip):
            return True
        t = self.dpo
        d = self.lookup(ip)
        k = int(t.kind[d])
        return int(t.sw_if_index[d]) == sw_if_index and (
            k == D.GLEAN or k in (D.ADJ, D.ADJ_INCOMPLETE) and int(t.addr[d]) == ip)

    def is_local(self, sw_if_index: int, ip: int) -> bool:
        return any(int(p.ip) == ip for p in self.addrs.get(sw_if_index, []))

    def interface_created(self, sw_if_index: int) -> None:
        self._sync_if(sw_if_index)

    def interface_deleted(self, sw_if_index: int) -> None:
        """Addresses, neighbours and the routes through it go with the interface."""
        gone = [k for k, p in self.routes.items() if p.sw_if_index == sw_if_index]
        for a, plen in gone:
            self._unroute([a], plen)
        if self.addrs.get(sw_if_index):
            self.address_del(sw_if_index, None)
        for k in [k for k in self.neighbors if k[0] == sw_if_index]:
            self.neighbor_del(*k)

    # ------------------------------------------------------------ FIB
    def _fib_add(self, addr: int, plen: int, source: str, dpo: int) -> None:
        old = self.fib.exact(addr, plen)
        old_dpo = self._entry_dpo(old, source)
        self.fib.add(addr, plen, source, dpo)
        if old_dpo is not None:
            self.dpo.unlock(old_dpo)

    def _fib_del(self, addr: int, plen: int, source: str) -> None:
        e = self.fib.exact(addr, plen)
        d = self._entry_dpo(e, source)
        if d is None:
            return
        self.fib.remove(addr, plen, source)
        self.dpo.unlock(d)

    @staticmethod
    def _entry_dpo(entry, source: str):
        if entry is None:
            return None
        return entry.sources.get(source)

    def lookup(self, addr: int) -> int:
        return int(self.fib.forwarding.lookup_one(addr))

    # ------------------------------------------------------------ neighbours
    def rewrite(self, sw_if_index: int, dst_mac: bytes) -> np.ndarray:
        return np.frombuffer(dst_mac + self.mac(sw_if_index) + self.ETHERTYPE, np.uint8)

    def neighbor_learn(self, sw_if_index: int, ip: int, mac: bytes, static: bool = False) -> bool:
        """Add or refresh a neighbour; False when a new dynamic one finds the table full."""
        key = (sw_if_index, ip)
        nb = self.neighbors.get(key)
        if nb is not None and nb.static and not static:
            return True  # a static entry is not overwritten by ARP
        now = self.table.clock()
        if nb is None and not static and key not in self.table.asked and not self.table.room(now):
            return False  # (an answer to our request takes the place its resolution held)
        fresh = nb is None or nb.mac != mac
        self.neighbors[key] = Neighbor(sw_if_index, ip, mac, static, now, *((nb.used, nb.pkts) if nb else ()))
        self.table.learned(key, not static and nb is None)
        if nb is not None and static and not nb.static:
            self.table.forgotten(True)  # a dynamic entry made static
        if fresh:
            adj = self.dpo.get(("adj", sw_if_index, ip), D.ADJ, sw_if_index, ip, self.BITS, self.mtu(sw_if_index))
            self.dpo.kind[adj] = D.ADJ
            self.dpo.rewrite[adj] = self.rewrite(sw_if_index, mac)
            if nb is None and self.on_link(sw_if_index, ip):
                self._fib_add(ip, self.BITS, SRC_ADJ, adj)  # adj-fib: hands the reference to the FIB
            else:
                self.dpo.unlock(adj)
        self.held.release(sw_if_index, ip)
        return True

    def neighbor_del(self, sw_if_index: int, ip: int) -> None:
        nb = self.neighbors.pop((sw_if_index, ip), None)
        if nb is None:
            return
        self.table.forgotten(not nb.static)
        self._fib_del(ip, self.BITS, SRC_ADJ)
        adj = self.dpo.find(("adj", sw_if_index, ip))
        if adj is not None:
            self.dpo.kind[adj] = D.ADJ_INCOMPLETE

    def refresh_adjacencies(self, sw_if_index: int) -> None:
        """MAC or MTU changed: rebuild the rewrites of this interface's adjacencies."""
        for i in self.dpo.adjacencies(sw_if_index):
            nb = self.neighbors.get((sw_if_index, int(self.dpo.addr[i])))
            self.dpo.mtu[i] = self.mtu(sw_if_index)
            if nb is not None:
                self.dpo.rewrite[i] = self.rewrite(sw_if_index, nb.mac)

    # ------------------------------------------------------------ routes
    def route_add(self, addr: int, plen: int, nh: int | None, sw_if_index: int | None, drop: bool,
                  count: int = 1) -> None:
        """Add `count` consecutive prefixes with one path; bulk adds share the path and DPO."""
        path = Path(nh, sw_if_index, drop)
        keys = self._prefixes(addr, plen, count)
        old = [k for k in keys if (k, plen) in self.routes] if self.routes else []
        if old:
            self._unroute(old, plen)
        d = self._resolve(path, addr, plen)
        if count == 1:
            self._fib_add(keys[0], plen, SRC_CLI, d)
        else:
            self.fib.add_many(self._fib_keys(keys), plen, SRC_CLI, d)
            if d:
                self.dpo.refs[d] += count - 1
        self.routes.update(dict.fromkeys(((k, plen) for k in keys), path))

    def route_del(self, addr: int, plen: int, count: int = 1) -> None:
        keys = self._prefixes(addr, plen, count)
        missing = [k for k in keys if (k, plen) not in self.routes]
        if missing:
            raise Ip4Error(f"route {self.format(missing[0])}/{plen} not found")
        self._unroute(keys, plen)

    def _unroute(self, keys: list[int], plen: int) -> None:
        for k in keys:
            del self.routes[(k, plen)]
            e = self.fib.exact(k, plen)
            d = e.sources.get(SRC_CLI) if e is not None else None
            if d is not None:
                self.dpo.unlock(d)
        self.fib.remove_many(self._fib_keys(keys), plen, SRC_CLI)

    def _prefixes(self, addr: int, plen: int, count: int) -> list[int]:
        """`count` consecutive prefixes of length `plen` from `addr`."""
        step = 1 << (self.BITS - plen) if plen else 0
        if count and addr + (count - 1) * step >= 1 << self.BITS:  # before allocating the keys
            raise Ip4Error(f"count {count} runs past the end of the address space")
        if self.BITS == 32:
            return (addr + np.arange(count, dtype=np.uint64) * np.uint64(step)).tolist()
        return list(range(addr, addr + count * step, step)) if step else [addr] * min(count, 1)

    @staticmethod
    def _fib_keys(keys: list[int]):
        """Keys as the FIB's bulk calls take them."""
        return np.array(keys, np.uint32)

    @staticmethod
    def format(a: int) -> str:
        return format_ip4(a)

    def _resolve(self, p: "Path", addr: int, plen: int) -> int:
        """The DPO a path resolves to (the caller owns one reference)."""
        if p.drop or p.nh is None and p.sw_if_index is None:
            return 0
        if p.nh is None:  # attached route via an interface: glean on it
            m = self.mtu(p.sw_if_index)
            return self.dpo.get(("glean", p.sw_if_index, addr, plen), D.GLEAN, p.sw_if_index, addr, plen, m)
        sw = p.sw_if_index
        if sw is None:  # find the interface whose connected subnet holds the next hop
            sw = next((s for s in self.addrs if self.connected(s, p.nh)), None)
        if sw is None or not self.connected(sw, p.nh):
            # recursive: share the covering route's forwarding if it is an adjacency
            d = self.lookup(p.nh)
            if self.dpo.kind[d] in (D.ADJ, D.ADJ_INCOMPLETE) and (addr, plen) != (p.nh, self.BITS):
                self.dpo.refs[d] += 1
                return d
            if sw is None:
                return 0
        nb = self.neighbors.get((sw, p.nh))
        adj = self.dpo.get(("adj", sw, p.nh), D.ADJ_INCOMPLETE, sw, p.nh, self.BITS, self.mtu(sw))
        if nb is not None:
            self.dpo.kind[adj] = D.ADJ
            self.dpo.rewrite[adj] = self.rewrite(sw, nb.mac)
        return adj

    def _resolve_routes(self) -> None:
        """Addresses changed: re-resolve every route, one resolution per distinct path."""
        by_path: dict = {}
        for (a, plen), path in self.routes.items():
            by_path.setdefault(path, []).append((a, plen))
        for path, keys in by_path.items():
            shared = None
            for a, plen in keys:
                if shared is not None:
                    d = shared
                    if d:
                        self.dpo.refs[d] += 1
                else:
                    d = self._resolve(path, a, plen)
                    if path.nh is not None and (a, plen) != (path.nh, self.BITS):
                        shared = d
                e = self.fib.exact(a, plen)
                if e is not None and e.sources.get(SRC_CLI) == d:
                    self.dpo.unlock(d)
                else:
                    self._fib_add(a, plen, SRC_CLI, d)


@dataclass(frozen=True)
class Path:
    nh: int | None
    sw_if_index: int | None
    drop: bool
