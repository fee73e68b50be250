"""ip6-icmp-error's rate limit is Linux's (vnet/ip6/ratelimit.py): a burst of 6 per destination,
one more per 100 ms halved per 32 bits the route toward it is shorter than /128, a global
bucket of 50 refilled at 1,000/s, packet too big never limited, and the per-destination state
bounded under a flood of sources. The engine runs on pg0 with the limiter's clock frozen, so
the counts are exact; tests/system/test_ip6_local_kernel.py compares a burst with the kernel's."""

from __future__ import annotations

import re

from scapy.layers.inet import UDP
from scapy.layers.inet6 import ICMPv6PacketTooBig, ICMPv6TimeExceeded, IPv6

from tests.helpers.pgnet import PEER6, PM, net6, sent6
from tests.helpers.pgnet import frame6 as frame
from vppsh.vnet.ip6.ratelimit import MAX_PEERS, Icmp6RateLimit

FAR = "2001:db8:9::1"


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def setup(shell):
    net = net6(shell)
    shell.run(f"ip route add 2001:db8:9::/48 via {PEER6}")
    clock = Clock()
    shell.vm.node("ip6-icmp-error").limit.clock = clock
    return net, clock


def expired(src: str, n: int) -> list[bytes]:
    return [frame(IPv6(src=src, dst=FAR, hlim=1) / UDP(sport=1, dport=2) / b"x")] * n


def limited(shell) -> int:
    m = re.search(r"^\s*(\d+)\s+ip6-icmp-error\s+error message rate limited", shell.run("show errors"), re.M)
    return int(m.group(1)) if m else 0


def test_a_burst_of_six_per_destination_then_one_per_interval_by_route_length(shell):
    net, clock = setup(shell)
    for i in (3, 4, 5):
        shell.run(f"set ip neighbor pg0 2001:db8::{i} {PM} static")
    net.inject(expired("2001:db8::3", 20) + expired("2001:db8::4", 20))
    out = sent6(net)
    assert [p.dst for p in out if ICMPv6TimeExceeded in p] == ["2001:db8::3"] * 6 + ["2001:db8::4"] * 6
    assert limited(shell) == 28
    clock.t += 0.05  # the /64 toward them: one per 25 ms (a neighbour's own /128 does not count)
    net.inject(expired("2001:db8::3", 5))
    assert len(sent6(net)) == 2
    shell.run("ip route add 2001:db8::5/128 via 2001:db8::5 pg0")  # a /128 route: one per 100 ms
    net.inject(expired("2001:db8::5", 10))
    assert len(sent6(net)) == 6
    clock.t += 0.05
    net.inject(expired("2001:db8::5", 3))
    assert sent6(net) == []
    clock.t += 0.05
    net.inject(expired("2001:db8::5", 3))
    assert len(sent6(net)) == 1


def test_packet_too_big_is_never_limited_and_the_global_bucket_holds_fifty(shell):
    net, clock = setup(shell)
    shell.run("set interface mtu ip6 1280 pg0")
    big = frame(IPv6(src="2001:db8::7", dst=FAR) / UDP(sport=1, dport=2) / bytes(1300))
    shell.run(f"set ip neighbor pg0 2001:db8::7 {PM} static")
    net.inject([big] * 30)
    assert len([p for p in sent6(net) if ICMPv6PacketTooBig in p]) == 30
    shell.run("set interface mtu ip6 9000 pg0")
    sources = [f"2001:db8::1:{i:x}" for i in range(70)]  # on the /64: no neighbour needed to answer...
    for s in sources:
        shell.run(f"set ip neighbor pg0 {s} {PM} static")  # ...but the replies need one
    net.inject([f for s in sources for f in expired(s, 1)])
    assert len(sent6(net)) == 50 and limited(shell) == 20
    clock.t += 0.01  # refills come no more often than every 20 ms
    net.inject(expired(sources[0], 1))
    assert sent6(net) == []
    clock.t += 0.01
    net.inject([f for s in sources[:30] for f in expired(s, 1)])
    assert len(sent6(net)) == 20  # 1,000/s for 20 ms


def test_destinations_held_stay_bounded():
    t = [0.0]
    lim = Icmp6RateLimit(lambda: t[0])
    for i in range(3 * MAX_PEERS):  # a flood of sources, 100 a millisecond
        t[0] += 1e-5
        lim.credit = 50  # (the global bucket is not what this is about)
        lim.allow(1, i, 64)
        assert len(lim.peers) <= MAX_PEERS
    t[0] += 1.0  # every bucket full again: forgetting them loses nothing
    lim.credit = 50
    assert lim.allow(1, 0x1234, 64) and len(lim.peers) == 1
