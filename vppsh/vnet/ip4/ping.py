"""`ping`: a CLI command that runs as its session's process, sending echo requests into
ip4-lookup and sleeping on events that ip4-icmp-echo-reply signals for its ICMP id."""

from __future__ import annotations

import os
import struct

import numpy as np

from ...vlib.errors import CliError
from ...wire.format import ff
from ...vlib.buffer import F_LOCALLY_ORIGINATED, RX
from ...vlib.process import WaitEvent
from ...wire.checksum import csum
from ...wire import icmp6, ip6
from ..ip6.egress import egress6
from .egress import egress

PING_MAXIMUM_DATA_SIZE = 32768  # VPP's ping plugin limits
MAX_PING_BURST = 256  # VLIB_FRAME_SIZE


def _echo(src: int, dst: int, ident: int, seq: int, size: int, ttl: int = 64) -> bytes:
    body = struct.pack("!Q", seq) + bytes((i & 0xFF) for i in range(size))
    icmp = struct.pack("!BBHHH", 8, 0, 0, ident, seq) + body
    icmp = icmp[:2] + struct.pack("!H", csum(icmp)) + icmp[4:]
    hdr = struct.pack("!BBHHHBBHII", 0x45, 0, 20 + len(icmp), seq, 0, ttl, 1, 0, src, dst)
    hdr = hdr[:10] + struct.pack("!H", csum(hdr)) + hdr[12:]
    return hdr + icmp


def _echo6(src: int, dst: int, ident: int, seq: int, size: int) -> bytes:
    body = icmp6.build_echo(src, dst, icmp6.ECHO_REQUEST, ident, seq,
                            struct.pack("!Q", seq) + bytes((i & 0xFF) for i in range(size)))
    return ip6.build(src, dst, ip6.PROTO_ICMP6, len(body), 64) + body


def ping(ctx, a):
    vm = ctx.vm
    target = a.get("ip4_address") or a.get("ipv4") or a.get("ip6_address") or a.get("ipv6")
    if target is None:
        raise CliError("expecting IP4/IP6 address `'. Possible usage: ping <addr>")
    dst = int(target)
    v6 = target.version == 6
    fam = vm.ip6 if v6 else vm.ip4
    repeat, interval, size = a.get("repeat", 5), a.get("interval", 1.0), a.get("size", 60)
    burst = a.get("burst", 1)
    limit = min(PING_MAXIMUM_DATA_SIZE, vm.buffers.data_size - 36)  # IP + ICMP + timestamp: one buffer
    if size > limit:
        raise CliError(f"{size} is bigger than maximum allowed payload size {limit}")
    if not 1 <= burst <= MAX_PING_BURST:
        raise CliError(f"burst size must be between 1 and {MAX_PING_BURST}")
    if ctx.session is None:
        raise CliError("ping needs a CLI session")
    waiters = fam.ping_waiters
    ident = int.from_bytes(os.urandom(2), "big")
    while ident in waiters:
        ctx.out(f"ICMP ID collision at {ident}, incrementing")
        ident = (ident + 1) & 0xFFFF
    waiters[ident] = ctx.session.proc
    sent = received = 0
    sent_at: dict[int, float] = {}
    try:
        for seq in range(1, repeat + 1):
            if v6:
                sw, src, _mtu, _tso = egress6(vm, dst, a.get("source"))
            else:
                sw, src, _mtu, _tso = egress(vm, dst, a.get("source"))
            for _ in range(burst):
                if sw < 0:
                    ctx.out("Failed: no egress interface")
                elif not src:
                    ctx.out("Failed: no source address for egress interface")
                else:
                    bi = vm.buffers.alloc(1)
                    if not len(bi):
                        ctx.out("Failed: could not allocate a new buffer")
                    else:
                        pkt = (_echo6 if v6 else _echo)(src, dst, ident, seq & 0xFFFF, size)  # a u16 on the wire
                        vm.buffers.write(bi, np.frombuffer(pkt, np.uint8)[None, :], np.array([len(pkt)]))
                        vm.buffers.flags[bi] |= F_LOCALLY_ORIGINATED
                        vm.buffers.sw_if_index[RX, bi] = sw
                        vm.stage(fam.LOOKUP, bi)
                        sent_at[seq & 0xFFFF] = vm.now()
                        sent += 1
            deadline = vm.now() + interval
            while True:
                left = deadline - vm.now()
                if left <= 0:
                    break
                for ev, data in (yield WaitEvent(left)):
                    if ev != "reply":
                        continue
                    rseq, ttl, nbytes, rsrc, t = data
                    if rseq not in sent_at:
                        continue
                    received += 1
                    rtt = (t - sent_at[rseq]) * 1000
                    ctx.out(f"{nbytes} bytes from {fam.format(rsrc)}: icmp_seq={rseq} ttl={ttl} time={ff(rtt, 4)} ms")
    finally:
        waiters.pop(ident, None)
    loss = 100.0 * (sent - received) / sent if sent else 100.0
    ctx.out("")
    ctx.out(f"Statistics: {sent} sent, {received} received, {loss:.0f}% packet loss")
    ctx.out("")
