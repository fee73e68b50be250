"""The neighbour table's bound and ageing (ip4/neighbor.py: VPP's `ip neighbor-config`, Linux's
gc_thresh numbers), fed frames through pg: ARP requests from many spoofed senders, packets toward
many unresolved addresses. pg1 is on 10.20.0.0/16, room for thousands of on-link addresses."""

from __future__ import annotations

import re

import pytest
from scapy.all import ARP, IP, UDP, Ether

from tests.helpers.pgpair import PEER0, PEER1, VPP0, VPP1, errors, inject, setup
from vppsh.vnet.ip4.neighbor import AGE, FORCED_GC_FRESH, LIMIT, MAX_ASKED

LIMIT_SMALL = 64


@pytest.fixture
def net(shell):
    return setup(shell, "10.20.0.2/16")


def host(k: int) -> str:
    return f"10.20.{1 + k // 250}.{1 + k % 250}"


def arp_requests(ks) -> list[bytes]:
    """ARP requests for us from senders host(k), each claiming PEER1's MAC."""
    return [bytes(Ether(src=PEER1, dst="ff:ff:ff:ff:ff:ff") / ARP(op=1, hwsrc=PEER1, psrc=host(k), pdst="10.20.0.2"))
            for k in ks]


def datagrams_to(ks) -> list[bytes]:
    return [bytes(Ether(src=PEER0, dst=VPP0) / IP(src="10.10.1.1", dst=host(k)) / UDP(sport=5000, dport=9))
            for k in ks]


def dynamic(shell) -> int:
    return shell.run("show ip neighbors").count(" D ")


def adj_fibs(shell) -> int:
    m = re.search(r"^\s+32\s+(\d+)$", shell.run("show ip fib summary"), re.M)
    return int(m.group(1))


def later(shell, seconds: float, then_inject: tuple[str, list[bytes]] | None = None) -> None:
    """Move the neighbour table's clock on (the engine's timers keep real time); with
    `then_inject`, frames go in within the same engine call, before any timer can run."""
    t = shell.vm.ip4.table
    clock = t.clock
    shell.call(lambda: setattr(t, "clock", lambda: clock() + seconds))
    if then_inject:
        inject(shell, *then_inject)


def test_the_defaults_are_linuxs(shell):
    assert (LIMIT, AGE) == (1024, 60)  # gc_thresh3, gc_stale_time
    assert shell.run("show ip neighbor-config") == "ip4:\n  limit:1024, age:60, recycle:0\nip6:\n" \
                                                   "  limit:1024, age:60, recycle:0\n"
    shell.run("set ip neighbor-config ip6 limit 10 age 5 recycle")  # each family its own table
    assert shell.run("show ip neighbor-config") == "ip4:\n  limit:1024, age:60, recycle:0\nip6:\n" \
                                                   "  limit:10, age:5, recycle:1\n"


def test_spoofed_senders_fill_the_table_only_to_its_limit(shell, net):
    """Past the limit a sender is answered but not learned (Linux: "neighbour table overflow");
    every learned one has its adjacency and /32, and nothing more is kept for the rest."""
    shell.run(f"set ip neighbor-config ip4 limit {LIMIT_SMALL}")
    fibs0 = adj_fibs(shell)
    inject(shell, "pg1", arp_requests(range(3 * LIMIT_SMALL)))
    assert dynamic(shell) == LIMIT_SMALL and shell.vm.ip4.table.n_dynamic == LIMIT_SMALL
    assert adj_fibs(shell) - fibs0 == LIMIT_SMALL
    assert sum(ARP in Ether(p) and Ether(p)[ARP].op == 2 for p in net) == 3 * LIMIT_SMALL  # all answered
    e = errors(shell, "arp-reply")
    assert e["neighbor table full"] == 2 * LIMIT_SMALL and e["ARP replies sent"] == 3 * LIMIT_SMALL


def test_static_entries_count_toward_nothing(shell, net):
    shell.run(f"set ip neighbor-config ip4 limit {LIMIT_SMALL}")
    shell.run(f"set ip neighbor pg1 10.20.200.1 {PEER1} static count {2 * LIMIT_SMALL}")
    inject(shell, "pg1", arp_requests(range(LIMIT_SMALL)))
    assert dynamic(shell) == LIMIT_SMALL
    assert shell.run("show ip neighbors").count(" S ") == 2 * LIMIT_SMALL + 1


def test_a_full_table_makes_room_from_idle_entries(shell, net):
    """Linux's forced collection: at the limit, entries idle for 5 s make room (down to half the
    limit); fresh ones never do, and with nothing idle the newcomer is refused."""
    shell.run(f"set ip neighbor-config ip4 limit {LIMIT_SMALL}")
    inject(shell, "pg1", arp_requests(range(LIMIT_SMALL)))
    inject(shell, "pg1", arp_requests([1000]))
    assert dynamic(shell) == LIMIT_SMALL and host(1000) not in shell.run("show ip neighbors")
    later(shell, FORCED_GC_FRESH + 1)
    inject(shell, "pg1", arp_requests([1001]))
    out = shell.run("show ip neighbors")
    assert host(1001) in out and dynamic(shell) == LIMIT_SMALL // 2 + 1


def test_a_flood_of_unresolved_destinations_sends_a_bounded_number_of_requests(shell, net):
    """Resolutions in flight count as Linux's INCOMPLETE entries: past the limit a packet to a
    new address is dropped without an ARP broadcast; ones that failed leave room again."""
    shell.run(f"set ip neighbor-config ip4 limit {LIMIT_SMALL}")
    inject(shell, "pg0", datagrams_to(range(4 * LIMIT_SMALL)))
    e = errors(shell, "ip4-glean")
    assert e["ARP requests sent"] == LIMIT_SMALL and e["neighbor table full"] == 3 * LIMIT_SMALL, e
    assert len(shell.vm.ip4.table.asked) == LIMIT_SMALL
    net.clear()
    later(shell, 5, ("pg0", datagrams_to([999])))  # all of them failed long ago
    assert host(999) in [Ether(p)[ARP].pdst for p in net]
    assert len(shell.vm.ip4.table.asked) < LIMIT_SMALL


def test_resolutions_in_flight_are_fewer_than_the_table(shell, net):
    """At most MAX_ASKED (the packets the hold queues keep in all) resolutions at once, however
    large the table: the answers a flood leaves queued are that many neighbours to learn."""
    assert MAX_ASKED < LIMIT
    inject(shell, "pg0", datagrams_to(range(MAX_ASKED + 100)))
    e = errors(shell, "ip4-glean")
    assert e["ARP requests sent"] == MAX_ASKED and e["neighbor table full"] == 100, e


def test_idle_entries_age_out_with_their_adjacencies(shell, net):
    """The periodic pass: entries neither used nor confirmed for `age` s go with their adjacency
    and /32, however few (Linux keeps up to gc_thresh1 for good); the table and the FIB return
    to what they were."""
    shell.run(f"set ip neighbor-config ip4 limit {LIMIT_SMALL} age 3")
    fibs0, dpos0 = adj_fibs(shell), len(shell.vm.ip4.dpo.key)
    inject(shell, "pg1", arp_requests(range(3)))
    assert dynamic(shell) == 3 and adj_fibs(shell) - fibs0 == 3
    later(shell, 4)
    shell.run("wait 1.0")  # a pass (every age/4 s, at least 0.5 s)
    assert dynamic(shell) == 0 and adj_fibs(shell) == fibs0 and len(shell.vm.ip4.dpo.key) == dpos0


def test_entries_carrying_traffic_stay(shell, net):
    shell.run(f"set ip neighbor-config ip4 limit {LIMIT_SMALL} age 3")
    inject(shell, "pg1", arp_requests(range(LIMIT_SMALL // 2)))
    later(shell, 4, ("pg0", datagrams_to([0])))  # host(0) is used, the others idle for 4 s
    shell.run("wait 1.0")
    out = shell.run("show ip neighbors")
    assert dynamic(shell) == 1 and host(0) in out, out


def test_recycle_makes_room_at_once(shell, net):
    """VPP's `recycle`: with nothing idle, the least recently active entry makes room."""
    shell.run(f"set ip neighbor-config ip4 limit {LIMIT_SMALL} recycle")
    inject(shell, "pg1", arp_requests(range(LIMIT_SMALL + 5)))
    out = shell.run("show ip neighbors")
    assert dynamic(shell) == LIMIT_SMALL and host(LIMIT_SMALL + 4) in out


def test_senders_on_an_attached_route_are_learned(shell, net):
    """As VPP's arp-input: a sender covered by an attached route (`via <interface>`: on the
    link, though not in its subnet) is learned with its /32, and a packet toward it waits
    for the reply; one covered by a route via a next hop is not on the link."""
    shell.run("ip route add 198.51.100.0/24 via pg1")
    shell.run("ip route add 203.0.113.0/24 via 10.20.0.1 pg1")
    inject(shell, "pg0", [bytes(Ether(src=PEER0, dst=VPP0) / IP(src="10.10.1.1", dst="198.51.100.7")
                                / UDP(sport=5000, dport=9))])
    assert [Ether(p)[ARP].pdst for p in net if ARP in Ether(p)] == ["198.51.100.7"]
    net.clear()
    inject(shell, "pg1", [bytes(Ether(src=PEER1, dst=VPP1) / ARP(op=2, hwsrc=PEER1, psrc="198.51.100.7",
                                                                 hwdst=VPP1, pdst="10.20.0.2")),
                          bytes(Ether(src=PEER1, dst=VPP1) / ARP(op=2, hwsrc=PEER1, psrc="203.0.113.9",
                                                                 hwdst=VPP1, pdst="10.20.0.2"))])
    assert [Ether(p)[IP].dst for p in net if IP in Ether(p)] == ["198.51.100.7"]  # the held datagram
    out = shell.run("show ip neighbors")
    assert "198.51.100.7" in out and "203.0.113.9" not in out
    assert "ipv4 via 198.51.100.7 pg1" in shell.run("show ip fib 198.51.100.7/32")
    assert errors(shell, "arp-reply")["IP4 source address not local to sub"] == 1  # (the column cuts it)


def test_an_answer_to_our_request_fits_a_full_table(shell, net):
    """A reply for a resolution in flight takes the place that resolution held."""
    shell.run(f"set ip neighbor-config ip4 limit {LIMIT_SMALL}")
    inject(shell, "pg0", datagrams_to(range(LIMIT_SMALL)))  # the table is full of resolutions
    net.clear()
    inject(shell, "pg1", [bytes(Ether(src=PEER1, dst=VPP1) / ARP(op=2, hwsrc=PEER1, psrc=host(k), hwdst=VPP1,
                                                                 pdst="10.20.0.2")) for k in range(LIMIT_SMALL)])
    assert dynamic(shell) == LIMIT_SMALL and not shell.vm.ip4.table.asked
    assert len([p for p in net if UDP in Ether(p)]) == LIMIT_SMALL  # every held datagram left
