"""CLI handlers for IPv4: addresses, routes, `show ip fib`, neighbours."""

from __future__ import annotations

import time

from ...cli.dispatch import CliError
from ...cli.fmt import j
from . import dpo as D
from .main import Ip4Error, a2i, i2a


def set_address(ctx, a):
    ip4 = ctx.vm.ip4
    sw = a["interface"]
    try:
        if a.get("del"):
            if not a.get("all") and a.get("ip4_prefix") is None:
                raise CliError("expected IP4/IP6 address/length `'")
            ip4.address_del(sw, None if a.get("all") else a["ip4_prefix"])
        else:
            if a.get("ip4_prefix") is None:
                raise CliError("expected IP4/IP6 address/length `all'")
            ip4.address_add(sw, a["ip4_prefix"])
    except Ip4Error as e:
        raise CliError(str(e)) from None


def address_lines(vm, sw_if_index: int) -> list[str]:
    return [f"  L3 {p}" for p in vm.ip4.addrs.get(sw_if_index, [])]


def route(ctx, a):
    ip4 = ctx.vm.ip4
    pfx = a.get("ip4_prefix")
    if pfx is None:
        raise CliError("expected ip4/ip6 destination address/length.")
    if a.get("table"):
        raise CliError(f"Nonexistent table id {a['table']}")
    addr, plen = int(pfx.network.network_address), pfx.network.prefixlen
    if int(pfx.ip) != addr:
        addr = int(pfx.ip) & ((0xFFFFFFFF << (32 - plen)) & 0xFFFFFFFF)
    count = a.get("count", 1)
    t0 = time.perf_counter()
    try:
        if a.get("del"):
            ip4.route_del(addr, plen, count)
        else:
            via, sw = a.get("via"), a.get("interface")
            if via is None and sw is None and not a.get("drop"):
                raise CliError("expected paths.")
            if isinstance(via, int) and not isinstance(via, bool):  # `via <interface>`
                via, sw = None, via
            nh = a2i(via) if via is not None and not isinstance(via, bool) else None
            ip4.route_add(addr, plen, nh, sw, bool(a.get("drop")), count)
    except Ip4Error as e:
        raise CliError(str(e)) from None
    if count > 1:
        from ...cli.fmt import fe

        ctx.out(f"{fe(count / max(time.perf_counter() - t0, 1e-9), 6)} routes/sec")


def _dpo_line(vm, d: int) -> str:
    t = vm.ip4.dpo
    k = int(t.kind[d])
    sw = vm.interfaces.get(int(t.sw_if_index[d]))
    name = sw.name if sw is not None else str(int(t.sw_if_index[d]))
    if k == D.DROP:
        return "[@0]: dpo-drop ip4"
    if k == D.RECEIVE:
        return f"[@{d}]: dpo-receive: {i2a(t.addr[d])} on {name}"
    if k == D.GLEAN:
        mac = vm.ip4.mac(int(t.sw_if_index[d])).hex()
        return (f"[@{d}]: ipv4-glean: [src:{i2a(t.addr[d])}/{int(t.plen[d])}] {name}: mtu:{int(t.mtu[d])} "
                f"next:1 flags:[] ffffffffffff{mac}0806")
    if k == D.ADJ:
        return (f"[@{d}]: ipv4 via {i2a(t.addr[d])} {name}: mtu:{int(t.mtu[d])} next:{d} flags:[] "
                f"{t.rewrite[d].tobytes().hex()}")
    return f"[@{d}]: arp-ipv4: via {i2a(t.addr[d])} {name}"


def _entry_lines(vm, e) -> list[str]:
    t = vm.ip4.dpo
    d = e.dpo
    counts = f"to:[{int(t.to_pkts[d])}:{int(t.to_bytes[d])}]"
    return [f"{i2a(e.addr)}/{e.plen}", "  unicast-ip4-chain",
            f"  [@0]: dpo-load-balance: [proto:ip4 index:{d} buckets:1 uRPF:{d} {counts}]",
            f"    [0] {_dpo_line(vm, d)}"]


HEADER = ("ipv4-VRF:0, fib_index:0, flow hash:[src dst sport dport proto flowlabel ] epoch:0 flags:none "
          "locks:[default-route:1, ]")


def show_fib(ctx, a):
    vm = ctx.vm
    fib = vm.ip4.fib
    if a.get("table"):
        raise CliError(f"unknown input `table {a['table']}'")
    ctx.out(HEADER)
    if a.get("summary"):
        ctx.out(j("Prefix length", 20, "=") + j("Count", 16, "="))
        for plen, n in sorted(fib.prefix_lengths_summary(), reverse=True):
            ctx.out(j(plen, 20) + j(n, 16))
        return
    if a.get("mtrie"):
        for line in fib.forwarding.dump(50):
            ctx.out(line)
        return
    want = a.get("ip4_prefix")
    if want is None and a.get("ip4_address") is not None:
        e = fib.longest_match(int(a["ip4_address"]))
        entries = [e] if e else []
    elif want is not None:
        e = fib.exact(int(want.ip), want.network.prefixlen) or fib.longest_match(int(want.ip), want.network.prefixlen)
        entries = [e] if e else []
    else:
        entries = fib.entries()
    for e in entries:
        for line in _entry_lines(vm, e):
            ctx.out(line)


def show_neighbors(ctx, a):
    vm = ctx.vm
    ip4 = vm.ip4
    only = a.get("interface")
    ctx.out(j("Age", 12, "=") + j("IP", 40, "=") + j("Flags", 6, "=") + j("Ethernet", 20, "=")
            + j("Interface", 24, "="))
    now = time.monotonic()
    for (sw, ip), nb in sorted(ip4.neighbors.items(), key=lambda kv: (kv[0][0], kv[0][1])):
        if only is not None and sw != only:
            continue
        intf = vm.interfaces.get(sw)
        age = 0.0 if nb.static else now - nb.updated
        mac = ":".join(f"{x:02x}" for x in nb.mac)
        ctx.out(j(f"{age:.4f}", 12, "=") + j(i2a(ip), 40, "=") + j("S" if nb.static else "D", 6, "=")
                + j(mac, 20, "=") + (intf.name if intf else str(sw)))


def set_neighbor(ctx, a):
    ip4 = ctx.vm.ip4
    sw, ip, mac = a["interface"], a2i(a["ip4_address"]), a["mac_address"]
    for k in range(a.get("count", 1)):
        nip = (ip + k) & 0xFFFFFFFF  # VPP's ip_address_increment wraps
        if a.get("del"):
            ip4.neighbor_del(sw, nip)
        else:
            ip4.neighbor_learn(sw, nip, mac, static=bool(a.get("static")))
