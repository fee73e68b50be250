"""IPv6 over real taps with the Linux kernel on the other side, in namespaces these tests own:
neighbour discovery and echo both ways, link-local, forwarding between two namespaces with the
kernel's own ping and TCP, and the ICMPv6 errors Linux's ping reports (hop limit, packet too
big). tests/vnet/test_ip6_pg.py checks the same node by node without a kernel."""

from __future__ import annotations

import re

import pytest
from pyroute2 import NetNS

from tests.helpers.kernel import ns_run, tcp_stream
from tests.helpers.shimnet import host_link

pytestmark = pytest.mark.root


def loss(out: str) -> float:
    return float(re.search(r"([\d.]+)% packet loss", out).group(1))


def tap6(shell, i: int, ns: str, net: str) -> None:
    """tap<i> into `ns`: the kernel side ::2, vppsh ::1, the kernel's default route via vppsh."""
    assert shell.run(f"create tap id {i} host-ns {ns} host-ip6-addr {net}::2/64 host-ip6-gw {net}::1") == f"tap{i}\n"
    shell.run(f"set interface state tap{i} up")
    shell.run(f"set interface ip address tap{i} {net}::1/64")


def routed(shell, names) -> tuple[str, str]:
    """Two namespaces, 2001:db8:a::2 and 2001:db8:b::2, routed through vppsh (::1 on each tap)."""
    a, b = names(), names()
    tap6(shell, 0, a, "2001:db8:a")
    tap6(shell, 1, b, "2001:db8:b")
    host_link(a)
    host_link(b)
    return a, b


def test_ping6_both_ways_and_link_local(shell, names):
    ns = names()
    tap6(shell, 0, ns, "2001:db8:1")
    ifname, mac = host_link(ns)
    r = ns_run(ns, "ping", "-6", "-c", "50", "-i", "0.01", "-W", "1", "2001:db8:1::1", check=False)
    assert loss(r.stdout) == 0.0, r.stdout + r.stderr
    out = shell.run("ping 2001:db8:1::2 interval 0.1")
    assert int(re.search(r"(\d) received", out).group(1)) == 5, out
    assert re.search(rf"2001:db8:1::2\s+D\s+{mac}\s+tap0", shell.run("show ip neighbors"))
    ll = re.search(r"Link-local address\(es\):\n\s+(\S+)", shell.run("show ip6 interface tap0")).group(1)
    r = ns_run(ns, "ping", "-6", "-c", "3", "-i", "0.1", f"{ll}%{ifname}", check=False)
    assert loss(r.stdout) == 0.0, r.stdout + r.stderr
    counters = shell.run("show errors")
    assert re.search(r"ip6-icmp-input\s+neighbor solicitations received", counters)
    assert re.search(r"ip6-icmp-input\s+echo replies sent", counters)


def test_forwarding_between_namespaces(shell, names):
    a, b = routed(shell, names)
    r = ns_run(a, "ping", "-6", "-c", "20", "-i", "0.01", "-W", "1", "2001:db8:b::2", check=False)
    assert loss(r.stdout) == 0.0 and "ttl=63" in r.stdout, r.stdout + r.stderr
    r = ns_run(a, "ping", "-6", "-c", "1", "-t", "1", "-W", "1", "2001:db8:b::2", check=False)
    assert "From 2001:db8:a::1 icmp_seq=1 Time exceeded: Hop limit" in r.stdout, r.stdout
    shell.run("set interface mtu ip6 1280 tap1")
    r = ns_run(a, "ping", "-6", "-c", "1", "-s", "1400", "-M", "do", "-W", "1", "2001:db8:b::2", check=False)
    assert "Packet too big: mtu=1280" in r.stdout, r.stdout
    shell.run("set interface mtu ip6 9000 tap1")
    tcp_stream(a, b, "2001:db8:b::2", 20)


def test_static_route_to_a_prefix_behind_a_namespace(shell, names):
    a, b = routed(shell, names)
    with NetNS(b) as ipr:
        ipr.addr("add", index=ipr.link_lookup(ifname="lo")[0], address="2001:db8:99::1", prefixlen=128)
    shell.run("ip route add 2001:db8:99::/48 via 2001:db8:b::2")
    fib = shell.run("show ip6 fib 2001:db8:99::1")
    assert fib.splitlines()[1] == "2001:db8:99::/48", fib
    r = ns_run(a, "ping", "-6", "-c", "5", "-i", "0.05", "-W", "1", "2001:db8:99::1", check=False)
    assert loss(r.stdout) == 0.0, r.stdout + r.stderr
    shell.run("ip route del 2001:db8:99::/48")
    r = ns_run(a, "ping", "-6", "-c", "1", "-W", "1", "2001:db8:99::1", check=False)
    assert loss(r.stdout) == 100.0
