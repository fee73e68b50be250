"""IPv6 reassembly (ip6-local-full-reassembly) and fragmentation of what we originate (ip6-frag,
big echo replies), with fragments built by scapy and injected on a pg interface: any order,
duplicates, overlaps (RFC 5722), atomic fragments (RFC 6946), the RFC 8200 4.5 parameter
problems, the reassembly timeout's time exceeded, limits and `show ip6-full-reassembly`.
tests/system/test_ip6_local_kernel.py holds the same rules against Linux's answers."""

from __future__ import annotations

import random
import re
import time

import pytest
from scapy.layers.inet import UDP
from scapy.layers.inet6 import (ICMPv6DestUnreach, ICMPv6EchoReply, ICMPv6EchoRequest, ICMPv6ParamProblem,
                                ICMPv6TimeExceeded, IPv6, IPv6ExtHdrDestOpt, IPv6ExtHdrFragment,
                                IPv6ExtHdrHopByHop, IPv6ExtHdrRouting, defragment6, fragment6)
from scapy.packet import Raw

from tests.helpers.pgnet import ME6, PEER6, net6, sent6
from tests.helpers.pgnet import frame6 as frame
from vppsh.vnet.ip4.frag import FragError
from vppsh.vnet.ip6.frag import fragment6 as vfragment6

NODE = "ip6-local-full-reassembly"


@pytest.fixture
def net(shell):
    n = net6(shell)
    shell.run("set interface mtu 1500 pg0")
    return n


def count(shell, node: str, reason: str) -> int:
    m = re.search(rf"^\s*(\d+)\s+{re.escape(node)}\s+{re.escape(reason[:35])}", shell.run("show errors"), re.M)
    return int(m.group(1)) if m else 0


def reass_count(shell) -> int:
    return int(re.search(r"Current IP6 reassemblies count: (\d+)", shell.run("show ip6-full-reassembly")).group(1))


def echo(ident: int, size: int, seq: int = 1, src: str = PEER6, ext=None):
    """An echo request of `size` data bytes with a fragment header (id `ident`), unfragmented."""
    data = bytes(random.Random(ident).randbytes(size))
    p = IPv6(src=src, dst=ME6)
    if ext is not None:
        p = p / ext
    return p / IPv6ExtHdrFragment(id=ident) / ICMPv6EchoRequest(id=0x77, seq=seq, data=data)


def frag(ident: int, offset: int, data: bytes, m: bool, nh: int = 58, src: str = PEER6) -> IPv6:
    """One hand-made fragment: `offset` in bytes (a multiple of 8)."""
    return IPv6(src=src, dst=ME6) / IPv6ExtHdrFragment(id=ident, offset=offset // 8, m=int(m), nh=nh) / Raw(data)


def replies(net) -> list:
    """Echo replies out of what left pg0 (fragmented ones put back together), each checked."""
    pkts = sent6(net)
    whole = [p for p in pkts if IPv6ExtHdrFragment not in p]
    frags = [p for p in pkts if IPv6ExtHdrFragment in p]
    for p in frags:
        assert len(bytes(p)) <= 1500
        if p[IPv6ExtHdrFragment].m:
            assert (len(bytes(p[IPv6ExtHdrFragment].payload))) % 8 == 0
    if frags:  # one datagram's fragments at most, in these tests
        whole.append(IPv6(bytes(defragment6(frags))))
    return whole


@pytest.mark.parametrize("order", ["in-order", "reversed", "shuffled"])
@pytest.mark.parametrize("size,fragsize", [(1000, 400), (1800, 1280), (4000, 1280), (60000, 1500)])
def test_fragmented_ping_is_answered_in_any_order(shell, net, order, size, fragsize):
    req = echo(0x1234 + size, size)
    frags = fragment6(req, fragsize)
    assert len(frags) > 1
    if order == "reversed":
        frags = frags[::-1]
    elif order == "shuffled":
        random.Random(7).shuffle(frags)
    net.inject([frame(f) for f in frags])
    (rep,) = replies(net)
    assert (rep.src, rep.dst) == (ME6, PEER6)
    e = rep[ICMPv6EchoReply]
    assert (e.id, e.seq, e.data) == (0x77, 1, req[ICMPv6EchoRequest].data)
    chk = e.cksum
    del e.cksum
    assert IPv6(bytes(rep))[ICMPv6EchoReply].cksum == chk
    assert count(shell, NODE, "successful reassemblies") == 1
    assert count(shell, NODE, "fragments reassembled") == len(frags)
    assert count(shell, NODE, "fragments received") == len(frags)
    assert count(shell, "ip6-icmp-input", "echo replies sent") == 1
    assert reass_count(shell) == 0
    # what does not fit a buffer is answered from the reassembly's bytes; what fits but exceeds
    # the MTU once answered is cut by ip6-frag
    assert count(shell, "ip6-frag", "number of sent fragments") == (
        -(-(size + 8) // 1448) if 1452 < size + 48 <= shell.vm.buffers.data_size else 0)


def test_per_fragment_headers_are_kept_and_next_headers_may_differ(shell, net):
    """The first fragment's per-fragment headers (hop-by-hop here) lead the datagram; only the
    first fragment's next header counts (RFC 8200 4.5)."""
    req = echo(0x99, 3000, ext=IPv6ExtHdrHopByHop())
    frags = fragment6(req, 1280)
    later = [IPv6(bytes(f)) for f in frags[1:]]
    for f in later:
        f[IPv6ExtHdrFragment].nh = 17  # what later fragments name is ignored
    net.inject([frame(f) for f in [frags[0]] + later])
    (rep,) = replies(net)
    assert rep[ICMPv6EchoReply].data == req[ICMPv6EchoRequest].data


def test_atomic_fragment_is_a_whole_datagram_and_leaves_reassembly_alone(shell, net):
    pending = fragment6(echo(5, 2000), 1280)[0]
    net.inject([frame(pending)])
    assert reass_count(shell) == 1
    net.inject([frame(echo(5, 100, seq=9))])  # same id, offset 0, M clear: RFC 6946
    (rep,) = sent6(net)
    assert rep[ICMPv6EchoReply].seq == 9 and IPv6ExtHdrFragment not in rep
    assert reass_count(shell) == 1
    assert count(shell, NODE, "fragments received") == 1
    assert re.search(r"#000: range: \[0, \d+\]", shell.run("show ip6-full-reassembly details"))


def test_duplicates_are_dropped_alone(shell, net):
    frags = fragment6(echo(77, 7000), 1280)
    net.inject([frame(f) for f in frags[:-1] + frags[1:3] + frags[-1:]])
    assert len(replies(net)) == 1
    assert count(shell, NODE, "duplicate fragments") == 2
    assert reass_count(shell) == 0


def test_overlap_discards_the_datagram(shell, net):
    """RFC 5722: an overlapping fragment discards the whole datagram (and the fragments held)."""
    net.inject([frame(frag(9, 0, bytes(32), True)), frame(frag(9, 16, bytes(16), True))])
    assert count(shell, NODE, "overlapping fragments") == 2
    assert reass_count(shell) == 0
    net.inject([frame(frag(10, 0, bytes(32), True)), frame(frag(10, 8, bytes(8), True)),
                frame(frag(10, 32, bytes(8), False))])  # inside: an overlap too; the last starts anew
    assert count(shell, NODE, "overlapping fragments") == 4
    assert reass_count(shell) == 1
    assert sent6(net) == []


def test_inconsistent_or_empty_fragments_discard_the_datagram(shell, net):
    net.inject([frame(frag(11, 0, bytes(32), True)), frame(frag(11, 48, bytes(8), False)),
                frame(frag(11, 32, bytes(32), True))])  # beyond the last fragment's end
    assert count(shell, NODE, "invalid fragment length") == 3
    net.inject([frame(frag(12, 0, bytes(32), True)), frame(frag(12, 32, b"", True))])  # empty (Linux: discard)
    assert count(shell, NODE, "invalid fragment length") == 5
    assert reass_count(shell) == 0 and sent6(net) == []


def test_too_long_and_ragged_fragments_get_parameter_problems(shell, net):
    """RFC 8200 4.5: past 65,535 bytes of payload, a pointer at the fragment offset; M set and
    not a multiple of 8 bytes, a pointer at the payload length. Neither starts a reassembly."""
    # (UDP: Linux's rule, which ip6-icmp-error keeps, reads a non-first fragment's first data
    # byte as an ICMPv6 type when it names ICMPv6, and sends no error about an error)
    net.inject([frame(frag(13, 65528, bytes(16), False, nh=17))])
    (pp,) = sent6(net)
    assert (pp[ICMPv6ParamProblem].code, pp[ICMPv6ParamProblem].ptr) == (0, 42)
    assert (pp.src, pp.dst) == (ME6, PEER6) and pp[ICMPv6ParamProblem].payload[IPv6ExtHdrFragment].id == 13
    net.inject([frame(frag(14, 0, bytes(8) + bytes(13), True, nh=17))])
    (pp,) = sent6(net)
    assert (pp[ICMPv6ParamProblem].code, pp[ICMPv6ParamProblem].ptr) == (0, 4)
    hbh = IPv6(src=PEER6, dst=ME6) / IPv6ExtHdrHopByHop() / IPv6ExtHdrFragment(id=15, offset=65520 // 8, nh=17) \
        / Raw(bytes(8))  # 65528 bytes of data but 8 of hop-by-hop before: too long too
    net.inject([frame(hbh)])
    (pp,) = sent6(net)
    assert (pp[ICMPv6ParamProblem].code, pp[ICMPv6ParamProblem].ptr) == (0, 50)
    assert count(shell, NODE, "drop due to invalid fragment size") == 3
    assert count(shell, "ip6-icmp-error", "parameter problem response sent") == 3
    assert reass_count(shell) == 0


def test_first_fragment_without_upper_layer_header(shell, net):
    """RFC 8200 4.5 / RFC 7112: parameter problem code 3, pointer 0 — also for an atomic one."""
    cut = bytes(IPv6ExtHdrDestOpt(nh=43))  # destination options naming a routing header, then nothing
    net.inject([frame(IPv6(src=PEER6, dst=ME6) / IPv6ExtHdrFragment(id=16, m=1, nh=60) / Raw(cut)),
                frame(IPv6(src=PEER6, dst=ME6) / IPv6ExtHdrFragment(id=17, m=0, nh=58) / Raw(b"\x80\0\0\0"))])
    out = sent6(net)
    assert [(p[ICMPv6ParamProblem].code, p[ICMPv6ParamProblem].ptr) for p in out] == [(3, 0), (3, 0)]
    assert count(shell, NODE, "missing-upper layer drops") == 2
    assert reass_count(shell) == 0


def test_timeout_sends_time_exceeded_when_the_first_fragment_came(shell, net):
    shell.run("set ip reassembly timeout 600000 expire-walk-interval 10 ip6")
    assert "Maximum configured full IP6 reassembly timeout: 600000ms" in shell.run("show ip6-full-reassembly")
    frags = fragment6(echo(321, 6000), 1280)
    held = frags[:2] + frags[3:]
    net.inject([frame(f) for f in held])
    net.inject([frame(f) for f in fragment6(echo(322, 3000), 1280)[1:]])  # its first fragment lost
    details = shell.run("show ip6-full-reassembly details")
    assert f"key: xx_id: 0, src: {PEER6}, dst: {ME6}, frag_id: 321, proto: 0" in details, details
    assert "Current IP6 reassemblies count: 2" in details and "Buffers in use: 0" in details
    assert len(re.findall(r"  #\d{3}: range: \[", details)) == len(held) + 2
    shell.run("set ip reassembly timeout 1 ip6")
    deadline = time.monotonic() + 30
    while reass_count(shell) and time.monotonic() < deadline:
        shell.run("wait 0.05")
    assert reass_count(shell) == 0
    (te,) = sent6(net)  # only the datagram whose first fragment arrived
    assert (te[ICMPv6TimeExceeded].code, te.dst, te.src) == (1, PEER6, ME6)
    quoted = te[ICMPv6TimeExceeded].payload
    assert quoted[IPv6ExtHdrFragment].id == 321 and quoted[IPv6ExtHdrFragment].offset == 0
    assert count(shell, NODE, "fragments dropped due to reassembly timeout") == len(held) + 2
    assert count(shell, "ip6-icmp-error", "hop limit exceeded response sent") == 1


def test_limits_and_ip4_untouched(shell, net):
    shell.run("set ip reassembly max-reassemblies 2 max-reassembly-length 4 ip6")
    out = shell.run("show ip6-full-reassembly")
    assert "Maximum configured concurrent full IP6 reassemblies per worker-thread: 2" in out
    assert "Maximum configured amount of fragments per full IP6 reassembly: 4" in out
    assert "Maximum configured concurrent full IP4 reassemblies per worker-thread: 1024" in \
        shell.run("show ip4-full-reassembly")
    net.inject([frame(frag(i, 0, bytes(16), True)) for i in (20, 21, 22)])
    assert count(shell, NODE, "drops due to concurrent reassemblies limit") == 1
    shell.run("set ip reassembly max-reassemblies 10 ip6")
    frags = fragment6(echo(30, 3000), 520)  # 7 fragments > 4
    net.inject([frame(f) for f in frags])
    assert count(shell, NODE, "fragment chain too long (drop)") == 5
    net.inject([frame(f) for f in fragment6(echo(31, 1200), 520)])  # 3: fine
    assert len(replies(net)) == 1


def test_reassembled_udp_to_a_closed_port(shell, net):
    """With no UDP transport, a reassembled datagram that fits a buffer gets port unreachable
    quoting the datagram as reassembled (no fragment header)."""
    p = IPv6(src=PEER6, dst=ME6) / IPv6ExtHdrFragment(id=40) / UDP(sport=1, dport=999) / Raw(bytes(1800))
    net.inject([frame(f) for f in fragment6(p, 1280)])
    (pu,) = sent6(net)
    assert pu[ICMPv6DestUnreach].code == 4
    q = pu[ICMPv6DestUnreach].payload
    assert q.nh == 17 and q.plen == 1808 and IPv6ExtHdrFragment not in q


def test_fragment6_keeps_per_fragment_headers_and_refuses_no_room():
    p = IPv6(src=ME6, dst=PEER6) / IPv6ExtHdrHopByHop() / IPv6ExtHdrDestOpt() / IPv6ExtHdrRouting(
        segleft=0) / ICMPv6EchoRequest(data=bytes(range(256)) * 12)
    frags = [IPv6(f) for f in vfragment6(bytes(p), 1280, 0xABCDEF01)]
    assert len(frags) == 3 and all(len(bytes(f)) <= 1280 for f in frags)
    for f in frags:  # hop-by-hop, destination options (before routing) and routing in each
        assert IPv6ExtHdrHopByHop in f and IPv6ExtHdrRouting in f and f[IPv6ExtHdrFragment].id == 0xABCDEF01
    whole = IPv6(bytes(defragment6(frags)))
    assert bytes(whole[ICMPv6EchoRequest]) == bytes(p[ICMPv6EchoRequest])
    assert vfragment6(bytes(p), 3200, 1) == [bytes(p)]
    with pytest.raises(FragError, match="can't fragment header"):
        vfragment6(bytes(p), 79, 1)  # 64 bytes of headers + 8: no room


def test_per_fragment_headers_that_make_the_datagram_too_long(shell, net):
    """Each fragment fits (its per-fragment part plus its data stay within 65,535 bytes) but the
    first carries a hop-by-hop header the others lack: the datagram they make would be 8 bytes
    too long, so the fragment that completes it gets the parameter problem and the rest go."""
    data = bytes(65535)  # the fragmentable part: as long as a payload may be, with no header before
    offsets = list(range(0, len(data), 1232))
    frags = [frag(51, o, data[o:o + 1232], o != offsets[-1], nh=17) for o in offsets]
    frags[0] = IPv6(src=PEER6, dst=ME6) / IPv6ExtHdrHopByHop() / IPv6ExtHdrFragment(id=51, m=1, nh=17) \
        / Raw(data[:1232])
    net.inject([frame(f) for f in frags])
    (pp,) = sent6(net)
    assert (pp[ICMPv6ParamProblem].code, pp[ICMPv6ParamProblem].ptr) == (0, 42)
    assert pp[ICMPv6ParamProblem].payload[IPv6ExtHdrFragment].offset == offsets[-1] // 8
    assert count(shell, NODE, "drop due to invalid fragment size") == len(frags)
    assert count(shell, NODE, "successful reassemblies") == 0 and reass_count(shell) == 0
