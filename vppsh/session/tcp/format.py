"""`show session verbose 2` for a TCP connection: VPP's format_tcp_vars layout (seq numbers
relative to iss/irs, times in ms, the congestion and scoreboard state); the session CLI adds
the fifo and session lines common to every transport."""

from __future__ import annotations

from .connection import TcpConnection

W32 = 0xFFFFFFFF


def details(tm, c, level: int) -> list[str]:
    if not isinstance(c, TcpConnection):  # a listener
        return [f" index: {c.session.index} cfg_flags:  cong_algo: {tm.cfg.cc_algo} snd_mss: 1460",
                " next_node 0 opaque 0x0 fib_index 0 sw_if_index -1"]
    cc = c.cc
    cwnd, ssthresh = (cc.cwnd, cc.ssthresh) if cc else (0, 0)
    flags = ", ".join(sorted(f for f in c.flags if f not in ("half-open", "young")))
    now = c.tm.now()
    st = c.stats
    iss, irs = c.iss, c.irs
    snd_una, snd_nxt = c.snd_una - iss, c.snd_nxt - iss
    rcv_nxt, rcv_las = c.rcv_nxt - irs, c.rcv_las - irs
    rcv_wnd = max(0, c.rcv_las - c.rcv_nxt)
    sb = c.sb
    lines = [
        f" index: {c.index} cfg: {' TSO' if c.tso_max else ''} flags: {flags} timers: {' '.join(c.timer_names())}",
        f" snd_una {snd_una} snd_nxt {snd_nxt} rcv_nxt {rcv_nxt} rcv_las {rcv_las}",
        f" snd_wnd {c.snd_wnd} rcv_wnd {rcv_wnd} rcv_wscale {c.rcv_wscale} snd_wl1 {c.snd_wl1 - irs} "
        f"snd_wl2 {c.snd_wl2 - iss}",
        f" flight size {c.flight()} out space {max(0, min(cwnd, c.snd_wnd) - c.flight())} "
        f"rcv_wnd_av {c.rcv_wnd_avail()} tsval_recent {c.tsval_recent}",
        f" tsecr {c.tsval_recent} tsecr_last_ack {c.tsval_recent} tsval_recent_age "
        f"{int((now - c.tsval_recent_age) * 1000) if c.ts_ok else 0} snd_mss {c.snd_mss}",
        f" rto {int(c.rto * 1000)} rto_boff {c.rto_boff} srtt {c.srtt * 1000:.1f} us {c.srtt * 1e6:.3f} "
        f"rttvar {c.rttvar * 1000:.1f} rtt_ts {c.rtt_ts:.4f} rtt_seq {c.rtt_seq - iss if c.rtt_seq else 0}",
        f" next_node 0 opaque 0x0 fib_index 0 sw_if_index {c.sw_if_index}",
        f" cong:   {'recovery' if c.recovery else 'none'} algo {c.cc_algo} cwnd {cwnd} ssthresh {ssthresh} "
        f"bytes_acked 0",
        f"         cc space {max(0, cwnd - c.flight())} prev_cwnd {c.prev_cwnd} prev_ssthresh {c.prev_ssthresh}",
        f"         snd_cong {c.recover - iss if c.recover else 0} dupack {c.dupacks} limited_tx 0",
        f"         rxt_bytes {st['rxt_bytes']} rxt_delivered 0 rxt_head {c.high_rxt - iss if c.high_rxt else 0} "
        f"rxt_ts 0",
        f" sboard: sacked {sb.sacked_bytes} last_sacked 0 lost {sb.lost_bytes} last_lost 0 rxt_sacked 0",
        f"         last_delivered 0 high_sacked {max(0, sb.high_sacked - iss) if sb.high_sacked else 0} "
        f"is_reneging 0 reorder 1",
        f"         cur_rxt_hole 4294967295 high_rxt {c.high_rxt - iss if c.high_rxt else 0} rescue_rxt 0",
        f" stats: in segs {st['in_segs']} dsegs {st['in_dsegs']} bytes {st['in_bytes']} dupacks {st['in_dupacks']}",
        f"        out segs {st['out_segs']} dsegs {st['out_dsegs']} bytes {st['out_bytes']} dupacks "
        f"{st['out_dupacks']}",
        f"        fr {st['fr']} tr {st['tr']} rxt segs {st['rxt_segs']} bytes {st['rxt_bytes']} "
        f"duration {now - c.created:.3f}",
        "        err wnd data below 0 above 0 ack below 0 above 0",
    ]
    return lines
