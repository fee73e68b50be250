"""CLI handlers for tap interfaces: create tap, delete tap, show tap."""

from __future__ import annotations

import ipaddress

from ...vlib.errors import CliError
from .tap import TapDevice, TapError, TapOptions

GSO_BUFFER_SIZE = 65536 + 512  # a 64 KB IP packet, its ethernet header, with room to spare


def _taps(vm):
    return [sw for sw in vm.interfaces.all() if isinstance(sw.hw.device, TapDevice)]


def _ip6(text, what):
    if text is None:
        return None
    try:
        return ipaddress.IPv6Interface(text) if "/" in text or what == "addr" else ipaddress.IPv6Address(text)
    except ValueError:
        raise CliError(f"unknown input `{text}'") from None


def ensure_gso_buffers(vm) -> None:
    """64 KB super-frames need 64 KB buffers (VPP chains 2 KB ones instead): grow them once."""
    if vm.buffers.data_size >= GSO_BUFFER_SIZE:
        return
    vm.ip4.held.drop_all()  # packets waiting for ARP hold buffers of the old pool
    for sw in vm.interfaces.all():  # and devices keep buffers for rx
        sw.hw.device.release_buffers()
    try:
        vm.resize_buffers(GSO_BUFFER_SIZE)
    except RuntimeError as e:
        raise CliError(f"gso needs {GSO_BUFFER_SIZE}-byte buffers and they cannot be resized now: {e}") from None
    vm.logs.add("notice", "buffer", f"packet buffers resized to {GSO_BUFFER_SIZE} bytes for gso")


def create_tap(ctx, a):
    vm = ctx.vm
    if a.get("tun"):
        raise CliError("tun mode is not supported, use a tap")
    if a.get("num_rx_queues", 1) > 1 or a.get("num_tx_queues", 1) > 1:
        raise CliError("only one rx and one tx queue are supported")
    opts = TapOptions(
        id=a.get("id"), hw_addr=a.get("hw_addr"), host_if_name=a.get("host_if_name"),
        host_ns=a.get("host_ns"), host_bridge=a.get("host_bridge"),
        host_ip4_addr=a.get("host_ip4_addr"), host_ip4_gw=a.get("host_ip4_gw"),
        host_ip6_addr=_ip6(a.get("host_ip6_addr"), "addr"), host_ip6_gw=_ip6(a.get("host_ip6_gw"), "gw"),
        host_mac_addr=a.get("host_mac_addr"), host_mtu_size=a.get("host_mtu_size"),
        rx_ring_size=a.get("rx_ring_size", 256), tx_ring_size=a.get("tx_ring_size", 256),
        gso=bool(a.get("gso")), csum_offload=bool(a.get("csum_offload")), persist=bool(a.get("persist")),
        attach=bool(a.get("attach")))
    if opts.gso:
        ensure_gso_buffers(vm)
    used = [sw.hw.device.id for sw in _taps(vm)]
    try:
        dev = TapDevice.create(opts, used)
    except TapError as e:
        raise CliError(str(e)) from None
    except OSError as e:
        raise CliError(f"failed to create tap: {e.strerror or e}") from None
    try:
        sw = vm.interfaces.create(dev.name, dev, dev.mac)
    except ValueError:
        dev.destroy()
        raise CliError("interface already exists") from None
    vm.node_by_name["virtio-input"].add(dev)
    ctx.out(sw.name)


def delete_tap(ctx, a):
    vm = ctx.vm
    idx = a.get("interface", a.get("sw_if_index"))
    if idx is None:
        raise CliError("Missing <interface>")
    sw = vm.interfaces.get(idx)
    if sw is None:
        raise CliError(f"unknown interface index `{idx}'")
    if not isinstance(sw.hw.device, TapDevice):
        raise CliError("not a tap interface")
    vm.node_by_name["virtio-input"].remove(sw.hw.device)
    vm.interfaces.delete(sw)


def show_tap(ctx, a):
    vm = ctx.vm
    chosen = a.get("interface")
    taps = [vm.interfaces.sw[i] for i in chosen] if chosen else _taps(vm)
    for sw in taps:
        if not isinstance(sw.hw.device, TapDevice):
            raise CliError(f"{sw.name} is not a tap interface")
        for line in sw.hw.device.show_tap_lines(sw.name, sw.hw.hw_if_index):
            ctx.out(line)
