"""vnet: interfaces and devices, ethernet, ARP, IPv4, IPv6, FIB, packet generator, pcap."""

from __future__ import annotations

from .arp.node import ArpInput, ArpReply, Ip4Arp, Ip4Glean
from .devices.input import DeviceInput
from .ethernet.node import EthernetInput, NotEnabled
from .interface import Interfaces
from .ip4.forward import Ip4Drop, Ip4Input, Ip4Lookup, Ip4Rewrite
from .ip4.icmp_err import Ip4IcmpErrorInput
from .ip4.local import Ip4IcmpEchoReply, Ip4IcmpEchoRequest, Ip4IcmpError, Ip4IcmpInput, Ip4Receive
from .ip4.main import Ip4Main
from .ip6.forward import Ip6Drop, Ip6Input, Ip6Lookup, Ip6Rewrite
from .ip6.frag import Ip6Frag
from .ip6.icmp_err import Ip6IcmpErrorInput
from .ip6.local import Ip6DiscoverNeighbor, Ip6Glean, Ip6IcmpError, Ip6IcmpInput, Ip6Receive
from .ip6.main import Ip6Main
from .ip6.reass import Ip6LocalFullReass
from .nsim import remove as nsim_remove
from .pcap_trace import PcapTrace
from .pg.stream import PacketGenerator


def attach(vm) -> None:
    """Give an engine its network subsystems and their graph nodes (VPP's vnet_main init)."""
    vm.pcap = PcapTrace(vm)
    vm.nsim = {}  # sw_if_index -> nsim.Nsim: impairment on that interface
    vm.ip4 = Ip4Main(vm)
    vm.ip6 = Ip6Main(vm)
    eth = vm.register(EthernetInput(vm))
    for cls in (Ip4Input, Ip4Lookup, Ip4Rewrite, Ip4Drop, Ip4Receive, Ip4IcmpInput, Ip4IcmpEchoRequest,
                Ip4IcmpEchoReply, Ip4IcmpError, Ip4IcmpErrorInput, ArpInput, ArpReply, Ip4Glean, Ip4Arp):
        vm.register(cls(vm))
    for cls in (Ip6Input, Ip6Lookup, Ip6Rewrite, Ip6Drop, Ip6Receive, Ip6IcmpInput, Ip6IcmpError, Ip6Glean,
                Ip6DiscoverNeighbor, Ip6Frag, Ip6LocalFullReass, Ip6IcmpErrorInput):
        vm.register(cls(vm))
    vm.register(NotEnabled(vm, "ip4"))
    vm.register(NotEnabled(vm, "ip6"))
    vm.interfaces = Interfaces(vm)
    vm.interfaces.on_create.append(lambda sw: eth.set_mac(sw.sw_if_index, sw.hw.mac))
    for ip in (vm.ip4, vm.ip6):
        vm.interfaces.on_create.append(lambda sw, ip=ip: ip.interface_created(sw.sw_if_index))
        vm.interfaces.on_delete.append(lambda sw, ip=ip: ip.interface_deleted(sw.sw_if_index))
    vm.interfaces.on_delete.append(lambda sw: nsim_remove(vm, sw.sw_if_index))
    vm.pg = PacketGenerator(vm)
    vm.register(DeviceInput(vm, "virtio-input"))
    vm.register(DeviceInput(vm, "af-packet-input"))
    vm.drop_hooks.append(lambda frame: vm.interfaces.count_drops(vm.buffers.sw_if_index[0, frame]))
    vm.drop_hooks.append(vm.pcap.capture_drops)
    vm.at_exit.append(vm.pcap.stop)
    vm.at_exit.append(vm.interfaces.destroy_all)  # taps, their namespaces: gone when we stop
