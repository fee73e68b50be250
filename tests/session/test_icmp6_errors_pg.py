"""ICMPv6 errors about what we sent reach the transport that sent it (ip6-icmp-input ->
ip6-icmp-error-input -> the handler TCP registered), on a pg interface: a SYN answered with
destination unreachable fails the connect with Linux's errno for it, packet too big lowers a
connection's MSS, and errors about nothing of ours, too short or quoting a non-first fragment
are counted and dropped."""

from __future__ import annotations

import ipaddress
import re

from scapy.layers.inet import TCP
from scapy.layers.inet6 import ICMPv6DestUnreach, ICMPv6PacketTooBig, IPv6, IPv6ExtHdrFragment

from tests.helpers.pgnet import ME6, PEER6, net6
from tests.helpers.pgnet import frame6 as frame
from vppsh.session.app import App
from vppsh.session.transport import TransportProto
from vppsh.vcl.socks import session_errno

ROUTER = "2001:db8::fe"


class Opener(App):
    def __init__(self) -> None:
        super().__init__("opener", 1 << 16, 1 << 16)
        self.results: list = []

    def on_connected(self, s, err, opaque):
        self.results.append((s, err))


def count(shell, reason: str) -> int:
    m = re.search(rf"^\s*(\d+)\s+ip6-icmp-error-input\s+{re.escape(reason[:35])}", shell.run("show errors"), re.M)
    return int(m.group(1)) if m else 0


def connect(shell, app: Opener, port: int):
    vm = shell.vm

    def go():
        vm.session.attach(app)
        return vm.session.connect(app, TransportProto.TCP, int(ipaddress.IPv6Address(PEER6)), port)

    shell.call(go)
    shell.run("wait 0.05")


def test_destination_unreachable_fails_the_connect_and_strays_are_counted(shell):
    net = net6(shell)
    shell.run("session enable")
    app = Opener()
    connect(shell, app, 80)
    (syn,) = net.take()
    assert IPv6(syn)[TCP].flags == "S"
    net.inject([frame(IPv6(src=ROUTER, dst=ME6) / ICMPv6DestUnreach(code=1) / IPv6(syn))])
    assert app.results == [(None, "permission denied")] and session_errno("permission denied") == 13
    assert count(shell, "ICMP errors delivered to sessions") == 1
    stray = IPv6(syn)
    stray[TCP].sport ^= 1
    quoted_frag = IPv6(src=ME6, dst=PEER6) / IPv6ExtHdrFragment(offset=100, nh=6) / bytes(40)
    net.inject([frame(IPv6(src=ROUTER, dst=ME6) / ICMPv6DestUnreach(code=0) / stray),
                frame(IPv6(src=ROUTER, dst=ME6) / ICMPv6DestUnreach(code=0) / bytes(IPv6(syn))[:30]),
                frame(IPv6(src=ROUTER, dst=ME6) / ICMPv6DestUnreach(code=0) / quoted_frag)])
    assert count(shell, "ICMP errors about no session") == 1
    assert count(shell, "ICMP error too short") == 2
    assert net.take() == []  # never an error about an error


def test_packet_too_big_lowers_the_mss_of_a_connection(shell):
    net = net6(shell)
    shell.run("session enable")
    app = Opener()
    connect(shell, app, 81)
    (syn,) = net.take()
    s = IPv6(syn)
    synack = IPv6(src=PEER6, dst=ME6) / TCP(sport=81, dport=s[TCP].sport, flags="SA", seq=1000, ack=s[TCP].seq + 1,
                                              options=[("MSS", 1440)])
    net.inject([frame(synack)])
    ((sess, err),) = app.results
    assert err is None
    c = sess.conn
    assert c.snd_mss == 1440
    net.take()
    data = IPv6(src=ME6, dst=PEER6) / TCP(sport=s[TCP].sport, dport=81, flags="A", seq=s[TCP].seq + 1) / bytes(1400)
    net.inject([frame(IPv6(src=ROUTER, dst=ME6) / ICMPv6PacketTooBig(mtu=1300) / IPv6(syn))])
    assert c.snd_mss == 1440 and count(shell, "ICMP errors ignored: stale or invalid") == 1  # the SYN: acked
    net.inject([frame(IPv6(src=ROUTER, dst=ME6) / ICMPv6PacketTooBig(mtu=1300) / data)])
    assert c.snd_mss == 1240 and count(shell, "path MTU lowered by ICMP") == 1
    net.inject([frame(IPv6(src=ROUTER, dst=ME6) / ICMPv6PacketTooBig(mtu=1000) / data)])
    assert c.snd_mss == 1240 and count(shell, "ICMP errors ignored: stale or invalid") == 2
