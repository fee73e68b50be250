"""CLI handlers for host interfaces (af_packet): create host-interface, delete host-interface."""

from __future__ import annotations

from ...vlib.errors import CliError
from .af_packet import AfPacketDevice, AfPacketError
from .cli import ensure_gso_buffers


def _find(vm, host_if_name: str):
    sw = vm.interfaces.by_name.get(f"host-{host_if_name}")
    return sw if sw is not None and isinstance(sw.hw.device, AfPacketDevice) else None


def create(ctx, a):
    vm = ctx.vm
    if a.get("v2"):
        raise CliError("v2 (TPACKET_V2) is not supported, only TPACKET_V3")
    if a.get("mode"):
        raise CliError("mode ip is not supported, only ethernet mode")
    if a.get("num_rx_queues", 1) != 1 or a.get("num_tx_queues", 1) != 1:
        raise CliError("multiple rx or tx queues are not supported")
    name = a["name"]
    # VPP's CLI prints the existing interface again here (it tests the wrong error code).
    if _find(vm, name) is not None or f"host-{name}" in vm.interfaces.by_name:
        raise CliError("Interface already exists")
    try:
        dev = AfPacketDevice.create(name, a.get("hw_addr"), qdisc_bypass=not a.get("qdisc_bypass_disable"),
                                    cksum_gso=not a.get("cksum_gso_disable"))
    except AfPacketError as e:
        raise CliError(str(e)) from None
    if dev.vnet_hdr_len:  # the host link offloads: GSO super-frames will arrive
        try:
            ensure_gso_buffers(vm)
        except CliError:
            dev.destroy()
            raise
    sw = vm.interfaces.create(dev.name, dev, dev.mac)
    sw.hw.link_up = True  # VPP marks the link up at create; after that it follows admin state
    vm.node_by_name["af-packet-input"].add(dev)
    ctx.out(sw.name)


def delete(ctx, a):
    vm = ctx.vm
    sw = _find(vm, a["name"])
    if sw is None:  # VPP logs this and returns success; say so instead
        raise CliError(f"Host interface {a['name']} does not exist")
    vm.node_by_name["af-packet-input"].remove(sw.hw.device)
    vm.interfaces.delete(sw)
