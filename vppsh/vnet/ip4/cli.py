"""CLI handlers for IPv4: addresses, routes, `show ip fib`, neighbours."""

from __future__ import annotations

import time

from ...wire.ip4 import format_ip4
from ...vlib.errors import CliError
from ...wire.format import fe, j
from . import dpo as D
from .main import Ip4Error


def set_address(ctx, a):
    vm = ctx.vm
    sw = a["interface"]
    pfx = a.get("ip4_prefix") or a.get("ip6_prefix")
    try:
        if a.get("del"):
            if a.get("all"):
                vm.ip4.address_del(sw, None)
                vm.ip6.address_del(sw, None)
                return
            if pfx is None:
                raise CliError("expected IP4/IP6 address/length `'")
            _family(vm, pfx).address_del(sw, pfx)
        else:
            if pfx is None:
                raise CliError("expected IP4/IP6 address/length `all'")
            _family(vm, pfx).address_add(sw, pfx)
    except Ip4Error as e:
        raise CliError(str(e)) from None


def _family(vm, x):
    """vm.ip4 or vm.ip6, by the kind of address or prefix the user gave."""
    return vm.ip6 if x.version == 6 else vm.ip4


def address_lines(vm, sw_if_index: int) -> list[str]:
    return [f"  L3 {p}" for ip in (vm.ip4, vm.ip6) for p in ip.addrs.get(sw_if_index, [])]


def route(ctx, a):
    pfx = a.get("ip4_prefix") or a.get("ip6_prefix")
    if pfx is None:
        raise CliError("expected ip4/ip6 destination address/length.")
    if a.get("table"):
        raise CliError(f"Nonexistent table id {a['table']}")
    ip4 = _family(ctx.vm, pfx)
    via = a.get("via")
    if via is not None and hasattr(via, "version") and via.version != pfx.version:
        raise CliError(f"parse error `via {via}'")
    addr, plen = int(pfx.network.network_address), pfx.network.prefixlen
    count = a.get("count", 1)
    t0 = time.perf_counter()
    try:
        if a.get("del"):
            ip4.route_del(addr, plen, count)
        else:
            via, sw = a.get("via"), a.get("interface")
            if via is None and sw is None and not a.get("drop"):
                raise CliError("expected paths.")
            if type(via) is int:  # `via <interface>`
                via, sw = None, via
            nh = int(via) if via is not None and not isinstance(via, bool) else None
            ip4.route_add(addr, plen, nh, sw, bool(a.get("drop")), count)
    except Ip4Error as e:
        raise CliError(str(e)) from None
    if count > 1:

        ctx.out(f"{fe(count / max(time.perf_counter() - t0, 1e-9), 6)} routes/sec")


def _dpo_line(vm, d: int, ip=None) -> str:
    ip = ip or vm.ip4
    t = ip.dpo
    v, p, fmt = ("ipv6", "ip6", ip.format) if ip.BITS == 128 else ("ipv4", "ip4", format_ip4)
    k = int(t.kind[d])
    sw = vm.interfaces.get(int(t.sw_if_index[d]))
    name = sw.name if sw is not None else str(int(t.sw_if_index[d]))
    if k == D.DROP:
        return f"[@0]: dpo-drop {p}"
    if k == D.RECEIVE:
        return f"[@{d}]: dpo-receive: {fmt(t.addr[d])} on {name}"
    if k == D.GLEAN:
        mac = ip.mac(int(t.sw_if_index[d])).hex()
        bcast = "333300000000" if ip.BITS == 128 else "ffffffffffff"
        return (f"[@{d}]: {v}-glean: [src:{fmt(t.addr[d])}/{int(t.plen[d])}] {name}: mtu:{int(t.mtu[d])} "
                f"next:1 flags:[] {bcast}{mac}{ip.ETHERTYPE.hex() if ip.BITS == 128 else '0806'}")
    if k == D.ADJ:
        return (f"[@{d}]: {v} via {fmt(t.addr[d])} {name}: mtu:{int(t.mtu[d])} next:{d} flags:[] "
                f"{t.rewrite[d].tobytes().hex()}")
    return f"[@{d}]: arp-{v}: via {fmt(t.addr[d])} {name}"


def _entry_lines(vm, e, ip=None) -> list[str]:
    ip = ip or vm.ip4
    t = ip.dpo
    d = e.dpo
    p = "ip6" if ip.BITS == 128 else "ip4"
    counts = f"to:[{int(t.to_pkts[d])}:{int(t.to_bytes[d])}]"
    return [f"{ip.format(e.addr)}/{e.plen}", f"  unicast-{p}-chain",
            f"  [@0]: dpo-load-balance: [proto:{p} index:{d} buckets:1 uRPF:{d} {counts}]",
            f"    [0] {_dpo_line(vm, d, ip)}"]


HEADER = ("ipv4-VRF:0, fib_index:0, flow hash:[src dst sport dport proto flowlabel ] epoch:0 flags:none "
          "locks:[default-route:1, ]")


def show_fib(ctx, a, ip=None, key="ip4"):
    vm = ctx.vm
    ip = ip or vm.ip4
    fib = ip.fib
    if a.get("table"):
        raise CliError(f"unknown input `table {a['table']}'")
    ctx.out(HEADER.replace("ipv4", "ipv6") if ip.BITS == 128 else HEADER)
    if a.get("summary"):
        ctx.out(j("Prefix length", 20, "=") + j("Count", 16, "="))
        for plen, n in sorted(fib.prefix_lengths_summary(), reverse=True):
            ctx.out(j(plen, 20) + j(n, 16))
        return
    if a.get("mtrie"):
        for line in fib.forwarding.dump(50):
            ctx.out(line)
        return
    want = a.get(f"{key}_prefix")
    if want is None and a.get(f"{key}_address") is not None:
        e = fib.longest_match(int(a[f"{key}_address"]))
        entries = [e] if e else []
    elif want is not None:
        e = fib.exact(int(want.ip), want.network.prefixlen) or fib.longest_match(int(want.ip), want.network.prefixlen)
        entries = [e] if e else []
    else:
        entries = fib.entries()
    for e in entries:
        for line in _entry_lines(vm, e, ip):
            ctx.out(line)


def show_neighbors(ctx, a, families=("ip4", "ip6")):
    """VPP's ip_neighbor_show: one table, IPv4 rows then IPv6 rows."""
    vm = ctx.vm
    only = a.get("interface")
    ctx.out(j("Age", 12, "=") + j("IP", 40, "=") + j("Flags", 6, "=") + j("Ethernet", 20, "=")
            + j("Interface", 24, "="))
    for ip4 in (getattr(vm, f) for f in families):
        now = ip4.table.clock()
        for (sw, ip), nb in sorted(ip4.neighbors.items(), key=lambda kv: (kv[0][0], kv[0][1])):
            if only is not None and sw != only:
                continue
            intf = vm.interfaces.get(sw)
            age = 0.0 if nb.static else now - nb.updated
            mac = ":".join(f"{x:02x}" for x in nb.mac)
            ctx.out(j(f"{age:.4f}", 12, "=") + j(ip4.format(ip), 40, "=") + j("S" if nb.static else "D", 6, "=")
                    + j(mac, 20, "=") + (intf.name if intf else str(sw)))


def show_neighbors4(ctx, a):
    show_neighbors(ctx, a, ("ip4",))


def show_neighbors6(ctx, a):
    show_neighbors(ctx, a, ("ip6",))


def set_neighbor(ctx, a):
    target = a.get("ip4_address") or a.get("ip6_address")
    ip4 = _family(ctx.vm, target)
    sw, ip, mac = a["interface"], int(target), a["mac_address"]
    for k in range(a.get("count", 1)):
        nip = (ip + k) & ((1 << ip4.BITS) - 1)  # VPP's ip_address_increment wraps
        if a.get("del"):
            ip4.neighbor_del(sw, nip)
        else:
            ip4.neighbor_learn(sw, nip, mac, static=bool(a.get("static")))


# ------------------------------------------------------------ reassembly
def show_reass(ctx, a):
    """show ip4-full-reassembly [details]: VPP's show_ip4_reass output."""
    node = ctx.vm.node("ip4-local-full-reassembly")

    def key(k):
        fib, src, dst, ident, proto = k
        return (f"fib_index: {fib}, src: {format_ip4(int.from_bytes(src, 'big'))}, "
                f"dst: {format_ip4(int.from_bytes(dst, 'big'))}, frag_id: {ident}, proto: {proto}")

    reass_status(ctx, node, "IP4", key, bool(a.get("details")), "Current full IP4 reassemblies count")


def reass_status(ctx, node, fam: str, key, details: bool, current: str) -> None:
    """What VPP's show_ip4_reass and show_ip6_full_reass share: the reassemblies (`details`,
    each key formatted by `key`), then the configuration (`current`: the count's label, which
    VPP words differently per family)."""
    ctx.out("---------------------")
    ctx.out(f"{fam} reassembly status")
    ctx.out("---------------------")
    if details:
        for r in list(node.table.values()):
            lines = [f"ID: {r.id}, key: {key(r.key)}",
                     f"  first_bi: {r.first_bi}, data_len: {r.data_len}, "
                     f"last_packet_octet: {r.last_octet if r.last_octet >= 0 else 0xFFFFFFFF}, "
                     f"trace_op_counter: {r.ops}"]
            for k, (first, last, _data, bi) in enumerate(r.ranges):
                lines.append(f"  #{k:03d}: range: [{first}, {last}], bi: {bi}, off: 0, len: {last - first + 1}, "
                             f"fragment[{first}, {last}]")
            ctx.out("\n".join(lines) + "\n")
    ctx.out("---------------------")
    ctx.out(f"{current}: {len(node.table)}\n")
    ctx.out(f"Maximum configured concurrent full {fam} reassemblies per worker-thread: {node.max_reassemblies}\n")
    ctx.out(f"Maximum configured amount of fragments per full {fam} reassembly: {node.max_reassembly_length}\n")
    ctx.out(f"Maximum configured full {fam} reassembly timeout: {node.timeout_ms}ms\n")
    ctx.out(f"Maximum configured full {fam} reassembly expire walk interval: {node.expire_walk_interval_ms}ms\n")


def set_reass(ctx, a):
    """set ip reassembly [timeout <msec>] [max-reassemblies <n>] [max-reassembly-length <n>]
    [expire-walk-interval <msec>] [ip4|ip6] (VPP sets these through its ip_reassembly_set API,
    one family at a time: IPv4 unless ip6 is named)."""
    vals = {k: a.get(k) for k in ("timeout", "max_reassemblies", "max_reassembly_length", "expire_walk_interval")}
    name = "ip6-local-full-reassembly" if a.get("ip6") else "ip4-local-full-reassembly"
    ctx.vm.node(name).configure(vals["timeout"], vals["max_reassemblies"], vals["max_reassembly_length"],
                                vals["expire_walk_interval"])


def set_neighbor_config(ctx, a):
    """set ip neighbor-config ip4|ip6 [limit <n>] [age <s>] [recycle|norecycle] (ip4/neighbor.py)."""
    recycle = True if a.get("recycle") else False if a.get("norecycle") else None
    t = (ctx.vm.ip6 if a.get("ip6") else ctx.vm.ip4).table
    t.configure(a.get("limit"), a.get("age"), recycle)


def show_neighbor_config(ctx, a):
    for af in ("ip4", "ip6"):
        t = getattr(ctx.vm, af).table
        ctx.out(f"{af}:")
        ctx.out(f"  limit:{t.limit}, age:{t.age}, recycle:{int(t.recycle)}")
