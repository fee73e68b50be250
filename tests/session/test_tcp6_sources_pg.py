"""tcp6-input and sources no peer can have: a segment from ::, ::1 or an IPv4-compatible
address (::/96, which transport.py's family rule leaves to IPv4) is dropped and counted, with
or without a listener; it used to reach tcp6-reset, which built an IPv4 RST for it and raised.
Found by tests/vnet/test_fuzz_ip6_pg.py."""

from __future__ import annotations

import re

from scapy.layers.inet import TCP
from scapy.layers.inet6 import IPv6

from tests.helpers.pgnet import ME6, PEER6, net6
from tests.helpers.pgnet import frame6 as frame


def test_segments_from_sources_in_the_ipv4_compatible_range_are_dropped(shell):
    net = net6(shell)
    shell.run("session enable")
    shell.run("test echo server uri tcp://::/1234")
    srcs = ["::", "::1", "::10.0.0.1"]
    net.inject([frame(IPv6(src=s, dst=ME6) / TCP(sport=999, dport=p, flags=f))
                for s in srcs for p in (1234, 80) for f in ("S", "A")])
    assert net.take() == []
    err = shell.run("show errors")
    assert "node exceptions" not in err, err
    assert re.search(r"^\s*12\s+tcp6-input\s+IPv6 source in ::/96: not a peer", err, re.M), err
    net.inject([frame(IPv6(src=PEER6, dst=ME6) / TCP(sport=999, dport=80, flags="S"))])
    (rst,) = [IPv6(p) for p in net.take()]  # a real peer still gets its reset
    assert rst[TCP].flags == "RA" and rst.dst == PEER6
