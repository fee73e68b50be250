"""CLI handlers for interfaces: show interface / hardware-interfaces, state, loopbacks, pcap, nsim."""

from __future__ import annotations

from ..vlib.errors import CliError
from ..wire.ethernet import format_mac
from ..wire.format import j
from .devices.loopback import Loopback
from .ip4.cli import address_lines
from .nsim import Nsim, remove

_PAD = 32 + 5 + 10 + 21  # continuation lines of the counter column start here


def _selected(ctx, a):
    ifs = ctx.vm.interfaces
    chosen = a.get("interface")
    if chosen:
        return [ifs.sw[i] for i in dict.fromkeys(chosen)]
    return ifs.all()


def show_interface(ctx, a):
    ifs = ctx.vm.interfaces
    sws = _selected(ctx, a)
    if a.get("address"):
        for sw in sws:
            ctx.out(f"{sw.name} ({'up' if sw.admin_up else 'dn'}):")
            for line in address_lines(ctx.vm, sw.sw_if_index):
                ctx.out(line)
        return
    ctx.out(j("Name", 32, "=") + j("Idx", 5, "=") + j("State", 10, "=") + j("MTU (L3/IP4/IP6/MPLS)", 21, "=")
            + j("Counter", 16, "=") + j("Count", 16, "="))
    for sw in sws:
        row = (j(sw.name, 32, "-") + j(sw.sw_if_index, 5, "=") + j(sw.state, 10, "=")
               + j("/".join(str(m) for m in sw.mtu), 21, "="))
        counters = ifs.counters(sw)
        if not counters:
            ctx.out(row)
            continue
        for k, (name, v) in enumerate(counters):
            ctx.out((row if k == 0 else " " * _PAD) + j(name, 16, "-") + j(v, 16))


def show_hardware(ctx, a):
    sws = _selected(ctx, a)
    brief = a.get("brief")
    ctx.out(j("Name", 32, "=") + j("Idx", 6, "=") + j("Link", 8, "=") + "Hardware")
    for sw in sws:
        hw = sw.hw
        ctx.out(j(hw.name, 32, "-") + j(hw.hw_if_index, 6, "=") + j("up" if hw.link_up else "down", 8, "=")
                + hw.name)
        ctx.out("  Link speed: unknown")
        if brief:
            continue
        dev = hw.device
        if getattr(dev, "rx_queues", False):
            ctx.out("  RX Queues:")
            ctx.out("    queue thread         mode      ")
            ctx.out(f"    0     main (0)       {hw.rx_mode:<10}")
        if hw.mac is not None:
            ctx.out(f"  Ethernet address {format_mac(hw.mac)}")
        for line in dev.details():
            ctx.out(line)


def clear_interfaces(ctx, a):
    ctx.vm.interfaces.clear()


def set_state(ctx, a):
    ifs = ctx.vm.interfaces
    sw = ifs.sw[a["interface"]]
    if a.get("punt") or a.get("enable"):
        sw.punt = bool(a.get("punt"))
        return
    if not (a.get("up") or a.get("down")):
        raise CliError("unknown flags `'")
    if sw.sw_if_index == 0 and a.get("up"):
        raise CliError("interface local0 cannot be brought up")
    try:
        ifs.set_admin(sw, bool(a.get("up")))
    except OSError as e:
        raise CliError(f"failed to set {sw.name} {'up' if a.get('up') else 'down'}: {e.strerror}") from None


def set_mtu(ctx, a):
    vm = ctx.vm
    sw = vm.interfaces.sw[a["interface"]]
    mtu = a["mtu"]
    proto = next((i for i, k in enumerate(("packet", "ip4", "ip6", "mpls")) if a.get(k)), None)
    if proto is None:  # hardware MTU (the grammar holds the ranges)
        if not sw.hw.device.ethernet:
            raise CliError("not supported")
        sw.hw.mtu = sw.mtu[0] = mtu
    else:
        sw.mtu[proto] = mtu
    vm.ip4.refresh_adjacencies(sw.sw_if_index)
    vm.ip6.refresh_adjacencies(sw.sw_if_index)


def set_mac(ctx, a):
    vm = ctx.vm
    sw = vm.interfaces.sw[a["interface"]]
    sw.hw.mac = a["mac_address"]
    if hasattr(sw.hw.device, "mac"):
        sw.hw.device.mac = a["mac_address"]
    vm.node("ethernet-input").set_mac(sw.sw_if_index, sw.hw.mac)
    vm.ip4.refresh_adjacencies(sw.sw_if_index)
    vm.ip6.mac_changed(sw.sw_if_index)


def set_rx_mode(ctx, a):
    sw = ctx.vm.interfaces.sw[a["interface"]]
    mode = next((m for m in ("polling", "interrupt", "adaptive") if a.get(m)), None)
    if mode is None:
        raise CliError("please specify valid rx-mode [polling|interrupt|adaptive]")
    if not getattr(sw.hw.device, "rx_queues", False):
        raise CliError(f"{sw.name} has no rx queues")
    if a.get("queue", 0) != 0:  # one rx queue per device, queue 0
        raise CliError(f"unknown queue {a['queue']} on interface {sw.hw.name}")
    sw.hw.rx_mode = mode  # the tap is always read from epoll; the mode is recorded and shown


def loopback_create(ctx, a):
    ifs = ctx.vm.interfaces
    used = {sw.hw.device.instance for sw in ifs.all() if isinstance(sw.hw.device, Loopback)}
    inst = a.get("instance")
    if inst is None:
        inst = next(i for i in range(len(used) + 1) if i not in used)
    elif inst in used or f"loop{inst}" in ifs.by_name:
        raise CliError(f"instance {inst} already in use")
    mac = a.get("mac") or bytes([0xDE, 0xAD, 0, 0, (inst >> 8) & 0xFF, inst & 0xFF])
    sw = ifs.create(f"loop{inst}", Loopback(inst), mac)
    ctx.out(sw.name)


def loopback_delete(ctx, a):
    ifs = ctx.vm.interfaces
    sw = ifs.sw[a["intfc"]]
    if not isinstance(sw.hw.device, Loopback):
        raise CliError(f"interface {sw.name} is not a loopback")
    ifs.delete(sw)


# ------------------------------------------------------------ pcap trace


def pcap_trace(ctx, a):
    p = ctx.vm.pcap
    if a.get("status"):
        ctx.out(p.status())
        return
    if a.get("off"):
        if not p.active:
            raise CliError("pcap capture is not enabled")
        n = p.stop()
        ctx.out(f"Write {n} packets to {p.path}, and stop capture..." if n else "No packets captured...")
        return
    rx, tx, drop = bool(a.get("rx")), bool(a.get("tx")), bool(a.get("drop"))
    if not (rx or tx or drop):
        raise CliError("choose at least one of rx, tx, drop")
    if p.active:
        raise CliError("pcap capture already enabled, turn it off first")
    if not 32 <= a.get("max_bytes_per_pkt", 512) <= 9000:  # VPP's sanity check, and its wording
        raise CliError("Max bytes per pkt must be > 32, < 9000...")
    intfc = a.get("intfc")
    try:
        p.start(rx, tx, drop, a.get("max", 100), None if intfc is None or isinstance(intfc, bool) else intfc,
                a.get("file"))
    except (OSError, ValueError) as e:  # ValueError: a NUL in the name
        raise CliError(f"failed to open `{a.get('file')}': {getattr(e, 'strerror', None) or 'Invalid argument'}") from None


def set_nsim(ctx, a):
    """set interface nsim <if> [delay <ms>] [loss|reorder|duplicate|corrupt <percent>] [seed <n>] [disable]"""
    vm = ctx.vm
    sw = vm.interfaces.get(a["interface"])
    remove(vm, sw.sw_if_index)
    if a.get("disable"):
        return
    pct = {k: a.get(k, 0.0) for k in ("loss", "reorder", "duplicate", "corrupt")}
    vm.nsim[sw.sw_if_index] = Nsim(vm, sw, a.get("delay", 0.0) / 1000, seed=a.get("seed"), **pct)


def show_nsim(ctx, a):
    imps = list(ctx.vm.nsim.values())
    if not imps:
        ctx.out("nsim not enabled on any interface")
    for imp in imps:
        ctx.out(imp.describe())
