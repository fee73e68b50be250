"""Hypothesis strategies for malformed IPv6 frames, shared by the pure pg fuzz
(tests/vnet/test_fuzz_ip6_pg.py) and the one through a real tap (tests/system/test_fuzz_frames.py):
random and mangled IPv6 headers, extension header chains (long, truncated, routing type 0,
hop-by-hop not first), fragment sets (overlapping, duplicated, lost, beyond 65,535 bytes, tiny,
ragged), truncated ICMPv6 and neighbour discovery with bad options, each a burst of frames."""

from __future__ import annotations

import functools
import operator
import random

from hypothesis import strategies as st
from scapy.layers.inet import TCP, UDP
from scapy.layers.inet6 import (ICMPv6DestUnreach, ICMPv6EchoReply, ICMPv6EchoRequest, ICMPv6ND_NA, ICMPv6ND_NS,
                                ICMPv6ND_RA, ICMPv6ND_RS, ICMPv6NDOptDstLLAddr, ICMPv6NDOptPrefixInfo,
                                ICMPv6NDOptSrcLLAddr, ICMPv6PacketTooBig, ICMPv6ParamProblem, ICMPv6TimeExceeded,
                                IPv6, IPv6ExtHdrDestOpt, IPv6ExtHdrFragment, IPv6ExtHdrHopByHop, IPv6ExtHdrRouting,
                                fragment6)
from scapy.layers.l2 import Ether
from scapy.packet import Raw


def bursts(src_mac: str, dst_mac: str, me: str, peer: str, far: str, link_local: str):
    """Bursts (lists of ethernet frames) from `peer` at `src_mac` toward vppsh at `dst_mac`
    (addresses `me`, `link_local`), some to be forwarded to `far`."""
    eth = Ether(src=src_mac, dst=dst_mac)
    src = st.sampled_from([peer, peer, peer, "::", "ff02::1", "fe80::1", "2001:db8:77::1"])
    dst = st.sampled_from([me, me, me, link_local, "ff02::1", "ff02::1:ff00:1", "ff02::2", "ff05::1", far,
                           "2001:db8:66::1"])
    hlim = st.sampled_from([255, 255, 64, 1, 0])

    def ext(kind: int, seed: int):
        if kind == 0:
            return IPv6ExtHdrHopByHop()
        if kind == 1:
            return IPv6ExtHdrDestOpt(options=[]) if seed % 2 else IPv6ExtHdrDestOpt(len=seed % 4)
        if kind == 2:
            return IPv6ExtHdrRouting(type=seed % 5, segleft=seed % 3, addresses=["2001:db8::9"] * (seed % 3))
        return IPv6ExtHdrFragment(offset=(seed * 37) % 8192, m=seed % 2, id=seed)

    chain = st.one_of(st.just([]), st.just([]), st.just([]),  # most frames have none
                      st.lists(st.tuples(st.sampled_from([0, 0, 1, 1, 2, 3]), st.integers(0, 255)), max_size=11))
    options = st.lists(st.sampled_from([ICMPv6NDOptSrcLLAddr(lladdr=src_mac), ICMPv6NDOptDstLLAddr(lladdr=src_mac),
                                        ICMPv6NDOptSrcLLAddr(len=0), ICMPv6NDOptDstLLAddr(len=9),
                                        ICMPv6NDOptPrefixInfo(), Raw(b"\x01\x00"), Raw(b"\x05\x01\x00")]),
                       max_size=3)
    upper = st.one_of(
        st.sampled_from([ICMPv6EchoRequest(id=3, seq=4, data=b"x" * 20), ICMPv6EchoReply(id=9), ICMPv6ND_RS(),
                         ICMPv6DestUnreach() / IPv6(src=me, dst=peer) / UDP(), ICMPv6PacketTooBig(mtu=600),
                         ICMPv6TimeExceeded(), ICMPv6ParamProblem(ptr=6), UDP(sport=1, dport=7),
                         TCP(dport=80), TCP(dport=80, dataofs=15), UDP(len=3), Raw(b"\x80\x00"), Raw(b"")]),
        st.builds(lambda t, o, c: functools.reduce(operator.truediv, o, t) if c else t,
                  st.sampled_from([ICMPv6ND_NS(tgt=me), ICMPv6ND_NS(tgt="ff02::1"), ICMPv6ND_NS(tgt="2001:db8::99"),
                                   ICMPv6ND_NA(tgt=me, S=1), ICMPv6ND_NA(tgt=peer, S=1, O=1),
                                   ICMPv6ND_NA(tgt="2001:db8::98", S=0), ICMPv6ND_RA(), ICMPv6ND_NS(tgt=me, code=1)]),
                  options, st.booleans()))

    def single(version, s, d, h, plen, nh, exts, up, payload, cut, flip):
        p = IPv6(version=version, src=s, dst=d, hlim=h)
        if plen is not None:
            p.plen = plen
        if nh is not None:
            p.nh = nh
        for kind, seed in exts:
            p = p / ext(kind, seed)
        raw = bytearray(bytes(eth / p / up / Raw(payload)))
        if flip is not None and len(raw) > 14:
            raw[14 + flip % (len(raw) - 14)] ^= 0x5A  # a checksum or a field gone wrong
        return [bytes(raw[:cut] if cut else raw)]

    maybe = lambda s: st.one_of(st.none(), st.none(), st.none(), s)  # noqa: E731  (mostly left as built)
    one = st.builds(single, st.sampled_from([6, 6, 6, 6, 4, 0]), src, dst, hlim, maybe(st.integers(0, 2000)),
                    maybe(st.sampled_from([0, 43, 44, 59, 60, 253])), chain, upper, st.binary(max_size=64),
                    maybe(st.integers(14, 120)), maybe(st.integers(0, 200)))

    def nd(s, d, h, msg, opts, cut):
        raw = bytes(eth / IPv6(src=s, dst=d, hlim=h) / functools.reduce(operator.truediv, opts, msg))
        return [raw[:cut] if cut else raw]

    nds = st.builds(nd, st.sampled_from([peer, peer, "::", "fe80::fe:ff:fe00:1"]),
                    st.sampled_from([me, me, "ff02::1:ff00:1", "ff02::1", link_local]), st.sampled_from([255, 255, 255, 64]),
                    st.sampled_from([ICMPv6ND_NS(tgt=me), ICMPv6ND_NS(tgt=me), ICMPv6ND_NS(tgt="ff02::1"),
                                     ICMPv6ND_NS(tgt="2001:db8::99"), ICMPv6ND_NA(tgt=me, S=1), ICMPv6ND_NA(tgt=peer, S=1, O=1),
                                     ICMPv6ND_NA(tgt=peer, S=0, O=0), ICMPv6ND_NA(tgt="2001:db8::98", S=0), ICMPv6ND_RA(),
                                     ICMPv6ND_RS(), ICMPv6ND_NS(tgt=me, code=1)]),
                    options, maybe(st.integers(54, 100)))
    frags = st.builds(functools.partial(fragments, eth, peer, me), st.integers(0, 5000), st.sampled_from([1280, 600, 104]), st.integers(0, (1 << 32) - 1),
                      st.integers(1, 6), st.none() | st.integers(0, 99), st.none() | st.integers(0, 99),
                      st.none() | st.integers(0, 99), st.none() | st.integers(0, 99), st.booleans(), st.booleans())
    return st.one_of(one, one, nds, frags)


def fragments(eth, peer: str, me: str, size, fragsize, ident, order, lose, dup, shift, ragged, huge, tiny) -> list[bytes]:
    """An echo request of `size` bytes cut into fragments of `fragsize`, then mangled: one lost,
    one duplicated, one shifted onto the next, one made ragged, one beyond 65,535, one tiny."""
    req = IPv6(src=peer, dst=me) / IPv6ExtHdrFragment(id=ident) / ICMPv6EchoRequest(id=5, seq=ident & 0xFFFF,
                                                                                 data=bytes(size))
    state = random.getstate()  # (scapy's fragment6 draws from it; hypothesis wants it left alone)
    fr = [IPv6(bytes(f)) for f in fragment6(req, fragsize)]
    random.setstate(state)
    if lose is not None and len(fr) > 1:
        del fr[lose % len(fr)]
    if dup is not None and fr:
        fr.append(fr[dup % len(fr)].copy())
    if shift is not None and fr:
        fr[shift % len(fr)][IPv6ExtHdrFragment].offset += 1  # overlaps the next one
    if ragged is not None and fr:
        f = fr[ragged % len(fr)]
        f[IPv6ExtHdrFragment].m = 1
        f = IPv6(bytes(f)[:-3])  # not a multiple of 8 any more
        f.plen = None
        fr[ragged % len(fr)] = IPv6(bytes(f))
    if huge:
        fr.append(IPv6(src=peer, dst=me) / IPv6ExtHdrFragment(id=ident, offset=8190, m=0, nh=58) / Raw(bytes(24)))
    if tiny:
        fr.append(IPv6(src=peer, dst=me) / IPv6ExtHdrFragment(id=ident, offset=0, m=1, nh=58) / Raw(bytes(8)))
    def offset(f):  # from the bytes: a ragged cut can leave scapy no fragment header to show
        raw = bytes(f)
        return int.from_bytes(raw[42:44], "big") >> 3 if len(raw) >= 44 else 0
    fr = sorted(fr, key=lambda f: (order * offset(f)) % 7)
    return [bytes(eth / f) for f in fr]


def echo_frame(src_mac: str, dst_mac: str, me: str, peer: str, seq: int) -> bytes:
    """A well-formed echo request from `peer` to `me`."""
    return bytes(Ether(src=src_mac, dst=dst_mac) / IPv6(src=peer, dst=me) / ICMPv6EchoRequest(id=0x3131, seq=seq))
