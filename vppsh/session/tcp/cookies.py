"""SYN cookies for a whole frame: past a listener's backlog a SYN costs no state, and here no
Python per packet beyond its hash.

Under a SYN flood the engine's input queue is the state that matters: the tap's host side holds
thousands of frames, and a new connection's SYN waits behind all of them. Answered one segment
at a time (a connection object, a route lookup and a fresh buffer each) a cookie cost ~30 us, so
a full queue took over a second to drain after the flood stopped. Here the SYN's own buffer
becomes its SYN-ACK (as VPP's tcp_make_synack), the headers of the frame are read and written
as numpy record fields, and the frame goes on as one vector. The bytes on the wire are those of
TcpMain.send_cookie, which still answers what this path leaves alone (IP options, TCP option
layouts other than the common ones).
"""

from __future__ import annotations

import numpy as np

from ...vlib.buffer import F_LOCALLY_ORIGINATED, F_TRACED, RX
from ...wire.tcp import ACK, RST, SYN
from . import isn as isn_mod

# IPv4 without options, TCP, and the first 20 option bytes, as big-endian record fields
_HDR = np.dtype([("vihl", "u1"), ("tos", "u1"), ("len", ">u2"), ("id", ">u2"), ("frag", ">u2"),
                 ("ttl", "u1"), ("proto", "u1"), ("csum", ">u2"), ("src", ">u4"), ("dst", ">u4"),
                 ("sport", ">u2"), ("dport", ">u2"), ("seq", ">u4"), ("ack", ">u4"), ("off", "u1"),
                 ("flags", "u1"), ("wnd", ">u2"), ("tcsum", ">u2"), ("urg", ">u2"),
                 ("o0", ">u4"), ("o4", ">u4"), ("o8", ">u4"), ("o12", ">u4"), ("o16", ">u4")])
SYNACK_LEN = 44  # IP 20 + TCP 20 + the MSS option
_MSS_TABLE = np.array(isn_mod.MSS_TABLE)
_MSS_KIND = 0x0204  # kind 2, length 4


def _distinct(a: np.ndarray) -> list[int]:
    """The values in `a` (np.unique costs ~50 us even when, as usual, there is one)."""
    return [int(a[0])] if (a == a[0]).all() else np.unique(a).tolist()


def _fold(s: np.ndarray) -> np.ndarray:
    s = (s & 0xFFFF) + (s >> 16)
    return (s & 0xFFFF) + (s >> 16)


def _words(v: np.ndarray) -> np.ndarray:
    """A 32-bit field's two 16-bit words, summed."""
    return (v >> 16) + (v & 0xFFFF)


def cookie_syns(vm, tm, frame: np.ndarray, aux: np.ndarray) -> np.ndarray | None:
    """Which segments of tcp4-listen's frame get a cookie here: plain SYNs (no IP options; no
    TCP options, or the layouts Segment.options reads without parsing) to a listener over its
    backlog. Returns each one's peer MSS (0 where not taken), or None when none are."""
    sm = vm.session
    backlog = tm.cfg.syn_backlog
    over, full = [], []
    listeners = _distinct(aux)
    for a in listeners:
        ls = sm.pool[a - 1] if 0 < a <= len(sm.pool) else None
        # (an app out of fifo memory takes no connection: its SYNs are dropped per segment)
        if ls is not None and ls.is_listener and ls.conn.half_open >= backlog and sm.has_memory(ls.app):
            over.append(a)
            full.append(ls.conn)
    if not over:
        return None
    h = vm.buffers.gather(frame, 0, _HDR.itemsize).view(_HDR)[:, 0]
    hl = h["off"] >> 4
    o0, o4, o16 = h["o0"], h["o4"], h["o16"]
    linux = (o4 == 0x0402080A) & (o16 >> 8 == 0x010303)  # MSS, SACK-permitted, TS, NOP, WS
    ours = (o4 >> 16 == 0x0303) & (o4 & 0xFF == 4) & (h["o8"] >> 8 == 0x02080A) & (o16 & 0xFF == 1)
    mss_first = o0 >> 16 == _MSS_KIND
    opts_ok = (hl == 5) | mss_first & ((hl == 6) | (hl == 10) & (linux | ours))
    take = (h["vihl"] == 0x45) & (h["flags"] & (SYN | RST | ACK) == SYN) & opts_ok
    if len(over) < len(listeners):
        take &= np.isin(aux, over)
    if not take.any():
        return None
    if not take.all():  # a 4-tuple also in the per-segment part keeps its order there
        key = (h["src"].astype(np.uint64) << 16) | h["sport"]
        take[take] = ~np.isin(key[take], key[~take])
        if not take.any():
            return None
    now = vm.now()
    for ls in full:  # the backlog overflowed (TcpMain.synack_retries)
        ls.cookie_at = now
    mss = np.where(hl == 5, 536, o0 & 0xFFFF).astype(np.int64)
    return np.where(take, np.where(mss == 0, 536, mss), 0)


def answer(vm, tm, bi: np.ndarray, peer_mss: np.ndarray) -> None:
    """Turn SYN buffers `bi` (current data at the IP header) into cookie SYN-ACKs in place."""
    buf = vm.buffers
    n = len(bi)
    h = buf.gather(bi, 0, _HDR.itemsize).view(_HDR)[:, 0]
    src, dst = h["src"].astype(np.int64), h["dst"].astype(np.int64)
    sport, dport = h["sport"].astype(np.int64), h["dport"].astype(np.int64)
    seq = h["seq"].astype(np.int64)
    cls = np.maximum(np.searchsorted(_MSS_TABLE, peer_mss, side="right") - 1, 0)
    iss = isn_mod.cookies(dst, dport, src, sport, seq, cls).astype(np.int64)
    # our MSS as init_options gives it, per route back to the peer (a few distinct ones)
    sw_rx = np.zeros(n, np.uint32)
    our_mss = np.empty(n, np.int64)
    dpo = vm.ip4.fib.forwarding.lookup(src.astype(np.uint32))
    cap = min(tm.cfg.mtu, buf.data_size - 40)
    for d in _distinct(dpo):
        m = dpo == d
        sw, mtu, _tso = tm.egress(int(src[np.argmax(m)]))
        sw_rx[m] = max(sw, 0)
        our_mss[m] = min(min(mtu, cap) - 40, isn_mod.MSS_TABLE[-1])
    ip_id = (tm.ip_id + 1 + np.arange(n)) & 0xFFFF
    tm.ip_id = (tm.ip_id + n) & 0xFFFF
    wnd = min(tm.cfg.rx_fifo, 0xFFFF)
    ack = (seq + 1) & 0xFFFFFFFF
    addrs = _words(src) + _words(dst)

    out = np.zeros(n, _HDR)
    out["vihl"], out["len"], out["id"], out["frag"], out["ttl"], out["proto"] = 0x45, SYNACK_LEN, ip_id, 0x4000, 64, 6
    out["src"], out["dst"], out["sport"], out["dport"] = dst, src, dport, sport
    out["seq"], out["ack"], out["off"], out["flags"], out["wnd"] = iss, ack, 6 << 4, SYN | ACK, wnd
    out["o0"] = (_MSS_KIND << 16) | our_mss
    out["csum"] = ~_fold(0x4500 + SYNACK_LEN + ip_id + 0x4000 + (64 << 8 | 6) + addrs) & 0xFFFF
    # complete, not partial: no device has to finish it
    tcp = (addrs + 6 + SYNACK_LEN - 20 + sport + dport + _words(iss) + _words(ack) + ((6 << 12) | SYN | ACK)
           + wnd + _MSS_KIND + our_mss)
    out["tcsum"] = ~_fold(tcp) & 0xFFFF

    buf.scatter(bi, 0, out.view(np.uint8).reshape(n, -1)[:, :SYNACK_LEN])
    ix = bi.astype(np.intp)
    buf.current_length[ix] = SYNACK_LEN
    buf.flags[ix] = (buf.flags[ix] & F_TRACED) | F_LOCALLY_ORIGINATED  # a trace carries on
    buf.sw_if_index[RX, ix] = sw_rx
    buf.aux[ix] = 0
    buf.error[ix] = 0
