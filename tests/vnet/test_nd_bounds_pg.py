"""Neighbour discovery under a flood is bounded as ARP is (the table is ip4/neighbor.py's, one
per family, `set ip neighbor-config ip6`): solicitations from thousands of spoofed senders fill
the IPv6 table only to its limit and age back out with their /128s; advertisements for
addresses never asked about teach nothing; one without the override flag does not replace a
known address (RFC 4861 7.2.5); packets toward many unresolved addresses ask no more than the
resolutions allowed in flight. Frames go in on pg0 (tests/vnet/test_neighbor_table.py does the
same for ARP)."""

from __future__ import annotations

import re

from scapy.layers.inet import UDP
from scapy.layers.inet6 import ICMPv6ND_NA, ICMPv6ND_NS, ICMPv6NDOptDstLLAddr, ICMPv6NDOptSrcLLAddr, IPv6

from tests.helpers.pgnet import ME6, PEER6, PM, net6
from tests.helpers.pgnet import frame6 as frame
from vppsh.vnet.ip4.neighbor import MAX_ASKED

LIMIT = 64


def host(k: int) -> str:
    return f"2001:db8::1:{k:x}"


def solicitations(ks, mac: str = PM) -> list[bytes]:
    """NS for our address from senders host(k), each claiming `mac`."""
    return [frame(IPv6(src=host(k), dst=ME6, hlim=255) / ICMPv6ND_NS(tgt=ME6) / ICMPv6NDOptSrcLLAddr(lladdr=mac))
            for k in ks]


def dynamic6(shell) -> int:
    return len(re.findall(r"^\s*\S+\s+\S+\s+D\s", shell.run("show ip6 neighbors"), re.M))


def host_routes(shell) -> int:
    m = re.search(r"^\s+128\s+(\d+)$", shell.run("show ip6 fib summary"), re.M)
    return int(m.group(1)) if m else 0


def counter(shell, node: str, reason: str) -> int:
    m = re.search(rf"^\s*(\d+)\s+{re.escape(node)}\s+{re.escape(reason)}", shell.run("show errors"), re.M)
    return int(m.group(1)) if m else 0


def test_spoofed_solicitations_fill_the_table_only_to_its_limit_then_age_out(shell):
    net = net6(shell, neighbour=False)
    shell.run(f"set ip neighbor-config ip6 limit {LIMIT} age 3")
    assert "ip6:\n  limit:64, age:3, recycle:0" in shell.run("show ip neighbor-config")
    assert "ip4:\n  limit:1024, age:60" in shell.run("show ip neighbor-config")  # the other family's own
    routes0, dpos0 = host_routes(shell), len(shell.vm.ip6.dpo.key)
    net.inject(solicitations(range(3 * LIMIT)))
    assert dynamic6(shell) == LIMIT and shell.vm.ip6.table.n_dynamic == LIMIT
    assert host_routes(shell) - routes0 == LIMIT
    assert counter(shell, "ip6-icmp-input", "neighbor table full") == 2 * LIMIT
    assert shell.vm.ip4.table.n_dynamic == 0  # the other family's table untouched
    net.take()
    t = shell.vm.ip6.table
    clock = t.clock
    shell.call(lambda: setattr(t, "clock", lambda: clock() + 4))  # 4 s on, nobody used
    shell.run("wait 1.0")  # a pass (every age/4 s, at least 0.5 s)
    assert dynamic6(shell) == 0 and host_routes(shell) == routes0 and len(shell.vm.ip6.dpo.key) == dpos0


def test_advertisements_never_asked_for_teach_nothing(shell):
    net = net6(shell, neighbour=False)
    nas = [frame(IPv6(src=host(k), dst=ME6, hlim=255) / ICMPv6ND_NA(tgt=host(k), S=s, O=1)
                 / ICMPv6NDOptDstLLAddr(lladdr=PM)) for k in range(500) for s in (0, 1)]
    net.inject(nas)
    assert dynamic6(shell) == 0 and shell.vm.ip6.table.n_dynamic == 0
    assert counter(shell, "ip6-icmp-input", "NA for unknown target") == 1000
    assert net.take() == []


def test_an_advertisement_without_override_keeps_the_address_we_know(shell):
    net = net6(shell, neighbour=False)
    net.inject(solicitations([1]))
    other = "02:66:66:66:66:66"

    def na(o: int) -> bytes:
        return frame(IPv6(src=host(1), dst=ME6, hlim=255) / ICMPv6ND_NA(tgt=host(1), S=0, O=o)
                     / ICMPv6NDOptDstLLAddr(lladdr=other))

    net.inject([na(0)])
    assert re.search(rf"{host(1)}\s+D\s+{PM}", shell.run("show ip6 neighbors"))
    assert counter(shell, "ip6-icmp-input", "NA without override ignored") == 1
    net.inject([na(1)])
    assert re.search(rf"{host(1)}\s+D\s+{other}", shell.run("show ip6 neighbors"))


def test_packets_toward_unresolved_addresses_ask_within_bounds(shell):
    net = net6(shell)
    shell.run(f"set ip neighbor-config ip6 limit {4 * MAX_ASKED}")
    pkts = [frame(IPv6(src=PEER6, dst=host(k)) / UDP(sport=1, dport=9)) for k in range(2 * MAX_ASKED)]
    net.inject(pkts)
    asked = shell.vm.ip6.table.asked
    assert len(asked) == MAX_ASKED
    sent = [IPv6(p) for p in net.take()]
    assert len([p for p in sent if ICMPv6ND_NS in p]) == MAX_ASKED
    assert shell.vm.ip6.held.n <= MAX_ASKED
    assert counter(shell, "ip6-glean", "neighbor table full") == MAX_ASKED
