"""Packets toward an unresolved neighbour wait for its ARP reply (a few of them, for a while)
instead of being dropped with the request, as Linux's neighbour queue: pg0 -> vppsh -> pg1,
the neighbour on pg1 answering (or not) with frames injected by the test."""

from __future__ import annotations

import time

import pytest
from scapy.all import ARP, IP, UDP, Ether, Raw

from tests.helpers.pgpair import PEER0, PEER1, VPP0, VPP1, errors, inject, setup
from vppsh.vnet.arp.hold import HOLD, HOLD_MAX, HOLD_TIME, HOLD_TRIES


@pytest.fixture
def net(shell):
    return setup(shell, "10.10.2.2/24")


def to_pg1_host(n: int, size: int = 38) -> list[bytes]:
    """n datagrams of `size` IP bytes to the unresolved 10.10.2.1."""
    return [bytes(Ether(src=PEER0, dst=VPP0) / IP(src="10.10.1.1", dst="10.10.2.1") / UDP(sport=5000 + i, dport=9)
                  / Raw(b"x" * (size - 28))) for i in range(n)]


def arp_reply() -> bytes:
    return bytes(Ether(src=PEER1, dst=VPP1) / ARP(op=2, hwsrc=PEER1, psrc="10.10.2.1", hwdst=VPP1, pdst="10.10.2.2"))



def test_held_packets_leave_once_the_neighbour_answers(shell, net):
    inject(shell, "pg0", to_pg1_host(HOLD + 2, 1500))  # Linux keeps 101 full-size packets (unres_qlen)
    arps = [Ether(p) for p in net]
    assert len(arps) == 1 and ARP in arps[0] and arps[0][ARP].pdst == "10.10.2.1", arps
    net.clear()
    inject(shell, "pg1", [arp_reply()])
    out = [Ether(p) for p in net]
    # in order; a full queue dropped its oldest for the newest, as Linux's neighbour queue
    assert [p[UDP].sport for p in out] == [5002 + i for i in range(HOLD)], out
    assert all(p.dst == PEER1 and p[IP].ttl == 63 for p in out)
    e = errors(shell, "ip4-glean")
    assert e.get("packets held for ARP") == HOLD + 2 and e.get("held packets dropped: queue full") == 2, e
    assert shell.vm.buffers.n_used == 0


def test_a_burst_of_small_packets_is_held_whole(shell, net):
    """The bound is Linux's, in bytes: a client's 128 SYNs to a new neighbour all wait (with a
    bound in packets, 27 were dropped and those connects took the 1 s SYN retransmission)."""
    inject(shell, "pg0", to_pg1_host(128, 60))
    net.clear()
    inject(shell, "pg1", [arp_reply()])
    assert [Ether(p)[UDP].sport for p in net] == [5000 + i for i in range(128)]
    assert "held packets dropped: queue full" not in errors(shell, "ip4-glean")


def test_held_packets_are_dropped_without_a_reply(shell, net):
    inject(shell, "pg0", to_pg1_host(1))
    time.sleep(HOLD_TIME * HOLD_TRIES + 0.3)
    shell.run("wait 0.05")
    e = errors(shell, "ip4-glean")
    assert e.get("held packets dropped: no ARP reply") == 1 and e.get("ARP requests sent") == HOLD_TRIES, e
    assert sum(ARP in Ether(p) for p in net) == HOLD_TRIES  # asked again while it waited
    net.clear()
    inject(shell, "pg1", [arp_reply()])  # too late: nothing was kept
    assert net == []
    assert shell.vm.buffers.n_used == 0


def test_the_hold_queues_share_a_bound(shell, net):
    """Per neighbour the newest HOLD are kept; all neighbours together keep at most HOLD_MAX,
    and past that a new packet is the one dropped (a subnet scan cannot pin the buffer pool)."""
    frames = [bytes(Ether(src=PEER0, dst=VPP0) / IP(src="10.10.1.1", dst=f"10.10.2.{h}") / UDP(sport=i, dport=9))
              for h in (1, 3, 4) for i in range(HOLD)]
    inject(shell, "pg0", frames)
    e = errors(shell, "ip4-glean")
    assert e.get("packets held for ARP") == HOLD_MAX and e.get("ARP requests throttled") == 3 * HOLD - HOLD_MAX, e
    assert shell.vm.ip4.held.n == HOLD_MAX
    inject(shell, "pg1", [arp_reply()])  # 10.10.2.1 answers: its packets leave, the others still wait
    assert sum(UDP in Ether(p) for p in net) == HOLD
    assert shell.vm.ip4.held.n == HOLD_MAX - HOLD
