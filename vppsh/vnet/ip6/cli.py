"""CLI handlers for IPv6: enabling it on an interface, `show ip6 interface`, `show ip6 fib`,
router advertisement settings. Addresses, routes, neighbours and ping share IPv4's handlers
(vnet/ip4/cli.py), which pick the family from the address typed, as VPP's ip46 commands do."""

from __future__ import annotations

from ...vlib.errors import CliError
from ...wire.ip6 import format_ip6
from ..ip4.cli import reass_status
from ..ip4.cli import show_fib as _show_fib
from .main import RA_LIFETIME, RA_MAX_INTERVAL, RA_MIN_INTERVAL


def enable(ctx, a):
    ctx.vm.ip6.enable(a["interface"])


def disable(ctx, a):
    ip6 = ctx.vm.ip6
    sw = a["interface"]
    if ip6.addrs.get(sw):
        raise CliError("ip6 is enabled by an address on this interface: delete it first")
    ip6.enable(sw, False)


def show_interface(ctx, a):
    """VPP's `show ip6 interface`: per enabled interface, its addresses and settings."""
    vm = ctx.vm
    ip6 = vm.ip6
    only = a.get("interface")
    shown = False
    for sw in sorted(ip6.link_local):
        if only is not None and sw != only:
            continue
        shown = True
        intf = vm.interfaces.sw[sw]
        ctx.out(f"{intf.name} is admin {'up' if intf.admin_up else 'down'}")
        ctx.out("  Link-local address(es):")
        ctx.out(f"    {format_ip6(ip6.link_local[sw])}")
        glob = ip6.addrs.get(sw, [])
        if glob:
            ctx.out("  Global unicast address(es):")
            for p in glob:
                ctx.out(f"    {format_ip6(int(p.ip))}/{p.network.prefixlen}")
        ctx.out(f"  MTU is {ip6.mtu(sw)}")
        ra = ip6.ra.get(sw, {})
        if ra.get("suppress"):
            ctx.out("  ND router advertisements are suppressed")
        else:
            ctx.out(f"  ND router advertisements are sent every {RA_MAX_INTERVAL} seconds (min interval is "
                    f"{RA_MIN_INTERVAL})")
            ctx.out(f"  ND router advertisements live for {RA_LIFETIME} seconds")
        ctx.out(f"  ND router advertisements sent {ra.get('sent', 0)}")
    if only is not None and not shown:
        raise CliError("IPv6 not enabled on interface")


def show_fib(ctx, a):
    _show_fib(ctx, a, ctx.vm.ip6, "ip6")


def nd(ctx, a):
    """ip6 nd <interface> [no] ra-suppress."""
    ctx.vm.ip6.ra.setdefault(a["interface"], {})["suppress"] = not a.get("no")


def show_reass(ctx, a):
    """show ip6-full-reassembly [details]: VPP's show_ip6_full_reass output. Two differences:
    the fragment id is printed whole (VPP's format takes 16 bits of the 32-bit id, the upper
    ones), and `Buffers in use` is 0: fragments are copied out as they arrive, no buffer waits."""
    node = ctx.vm.node("ip6-local-full-reassembly")

    def key(k):
        fib, src, dst, ident = k
        return f"xx_id: {fib}, src: {format_ip6(src)}, dst: {format_ip6(dst)}, frag_id: {ident}, proto: 0"

    reass_status(ctx, node, "IP6", key, bool(a.get("details")), "Current IP6 reassemblies count")
    ctx.out("Buffers in use: 0\n")
