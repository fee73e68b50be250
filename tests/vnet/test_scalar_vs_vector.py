"""The nodes' scalar common-case path (frames of a few packets) and their vector path must agree:
the same packets sent one per frame and all in one frame give the same bytes out and the same
counters."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scapy.all import ICMP, IP, UDP, Ether, Raw
from scapy.layers.inet6 import ICMPv6DestUnreach, ICMPv6EchoReply, ICMPv6EchoRequest, IPv6

from vppsh.cli.grammar import load_tree
from vppsh.cli.session import CliSession
from vppsh.vlib.buffer import RX
from vppsh.engine import make_vm

SETUP = ["create packet-generator interface pg0 hw-addr 02:00:00:00:00:01",
         "create packet-generator interface pg1 hw-addr 02:00:00:00:01:01",
         "set interface state pg0 up", "set interface state pg1 up",
         "set interface ip address pg0 10.0.0.1/24", "set interface ip address pg1 10.1.0.1/24",
         "set ip neighbor pg0 10.0.0.2 02:00:00:00:00:02 static",
         "set ip neighbor pg1 10.1.0.2 02:00:00:00:01:02 static",
         "ip route add 10.2.0.0/16 via 10.1.0.2 pg1",
         "set interface mtu packet 1000 pg1",
         "ip6 nd pg0 ra-suppress", "ip6 nd pg1 ra-suppress",  # (no timer-driven packets in the outputs)
         "set interface ip address pg0 2001:db8::1/64", "set interface ip address pg1 2001:db8:1::1/64",
         "set ip neighbor pg0 2001:db8::2 02:00:00:00:00:02 static",
         "set ip neighbor pg1 2001:db8:1::2 02:00:00:00:01:02 static",
         "ip route add 2001:db8:2::/48 via 2001:db8:1::2 pg1", "set interface mtu ip6 1280 pg1"]


class Rig:
    def __init__(self):
        self.vm = make_vm(n_buffers=4096)
        self.sess = CliSession(self.vm, load_tree(), lambda s: None)
        for line in SETUP:
            self.cli(line)
        self.out: list[bytes] = []
        for name in ("pg0", "pg1"):
            dev = self.vm.interfaces.by_name[name].hw.device
            dev.tx = self._sink

    def cli(self, line):
        errs = []
        self.sess.submit(line, errs.append)
        while not errs:
            self.vm.run_once(0)
        assert errs == [None], (line, errs)

    def _sink(self, node, frame):
        buf = node.vm.buffers
        self.out += [buf.packet(int(b)) for b in frame]
        buf.free(frame)

    def inject(self, packets, one_by_one):
        """one_by_one: frames of one packet (scalar path); else one frame, scalar path disabled."""
        import vppsh.vlib.main as vlib_main

        saved = vlib_main.SCALAR_MAX
        vlib_main.SCALAR_MAX = saved if one_by_one else 0
        try:
            return self._inject(packets, one_by_one)
        finally:
            vlib_main.SCALAR_MAX = saved

    def _inject(self, packets, one_by_one):
        vm = self.vm
        self.out.clear()
        vm.errors.clear()
        bis = []
        for p in packets:
            bi = vm.buffers.alloc(1)
            vm.buffers.write(bi, np.frombuffer(p, np.uint8)[None, :], np.array([len(p)]))
            vm.buffers.sw_if_index[RX, bi] = 1
            bis.append(bi)
            if one_by_one:
                vm.stage("ethernet-input", bi)
                vm.dispatch_pending()
        if not one_by_one:
            vm.stage("ethernet-input", np.concatenate(bis))
            vm.dispatch_pending()
        counts = {(n, r): int(c) for (n, r, _s), c in zip(vm.errors.info, vm.errors.since_clear()) if c}
        # nothing leaked on either path (packets to an unresolved host wait for ARP)
        assert vm.buffers.n_free + vm.ip4.held.n + vm.ip6.held.n == vm.buffers.n
        return sorted(self.out), counts


def packets():
    eth = Ether(src="02:00:00:00:00:02", dst="02:00:00:00:00:01")
    dst = st.sampled_from(["10.0.0.1", "10.2.3.4", "10.1.0.2", "10.0.0.9", "10.9.9.9"])
    l4 = st.sampled_from([ICMP(type=8, id=1, seq=2), ICMP(type=0), ICMP(type=3), UDP(sport=1, dport=2)])
    return st.builds(lambda d, ttl, df, ln, l, chk: bytes(eth / IP(src="10.0.0.2", dst=d, ttl=ttl,
                                                                  flags=2 if df else 0, chksum=chk) / l / Raw(bytes(ln))),
                     dst, st.integers(0, 3) | st.just(64), st.booleans(), st.integers(0, 1200), l4,
                     st.none() | st.integers(0, 0xFFFF))


def packets6():
    eth = Ether(src="02:00:00:00:00:02", dst="02:00:00:00:00:01")
    dst = st.sampled_from(["2001:db8::1", "2001:db8:2::4", "2001:db8:1::2", "2001:db8::9", "2001:db8:7::9",
                           "ff02::1"])
    l4 = st.sampled_from([ICMPv6EchoRequest(id=1, seq=2), ICMPv6EchoReply(), ICMPv6DestUnreach(),
                          UDP(sport=1, dport=2)])
    return st.builds(lambda d, hl, ln, l, nh: bytes(eth / IPv6(src="2001:db8::2", dst=d, hlim=hl,
                                                               **({"nh": nh} if nh is not None else {}))
                                                    / l / Raw(bytes(ln))),
                     dst, st.integers(0, 3) | st.just(64), st.integers(0, 1400), l4, st.none() | st.just(253))


@settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(packets() | packets6(), min_size=1, max_size=12))
def test_scalar_and_vector_paths_agree(pkts):
    a, b = Rig(), Rig()
    out_scalar, err_scalar = a.inject(pkts, one_by_one=True)
    out_vector, err_vector = b.inject(pkts, one_by_one=False)
    assert out_scalar == out_vector
    assert err_scalar == err_vector
