"""Congestion control: NewReno (RFC 5681/6582 window rules) and CUBIC (RFC 9438, VPP's default).

Only the window arithmetic lives here; the connection keeps the recovery bookkeeping (dupacks,
the recovery point, partial ACKs) and calls these hooks.
"""

from __future__ import annotations

SSTHRESH_INIT = 2**31 - 1
IW_SEGMENTS = 10  # RFC 6928 / VPP initial-cwnd-multiplier


class CongestionControl:
    name = "base"

    def __init__(self, mss: int, now: float) -> None:
        self.mss = mss
        self.cwnd = IW_SEGMENTS * mss
        self.ssthresh = SSTHRESH_INIT
        self._acc = 0  # bytes acked in congestion avoidance, toward the next +1 mss

    def set_mss(self, mss: int) -> None:
        self.mss = mss

    def _slow_start(self, acked: int) -> int:
        inc = min(acked, 2 * self.mss)  # appropriate byte counting, L = 2 (RFC 3465)
        self.cwnd += inc
        return acked - inc

    def on_ack(self, acked: int, now: float, rtt: float | None, flight: int) -> None:
        if self.cwnd < self.ssthresh:
            self._slow_start(acked)
            return
        self._avoid(acked, now, rtt)

    def _avoid(self, acked: int, now: float, rtt: float | None) -> None:
        self._acc += acked
        if self._acc >= self.cwnd:
            self._acc -= self.cwnd
            self.cwnd += self.mss

    def on_congestion(self, flight: int, now: float) -> None:
        self.ssthresh = max(flight // 2, 2 * self.mss)
        self.cwnd = self.ssthresh

    def on_recovery_exit(self, now: float) -> None:
        self.cwnd = max(self.ssthresh, 2 * self.mss)
        self._acc = 0

    def on_partial_ack(self, acked: int) -> None:
        # RFC 6582 3.2 step 5: deflate by what was acked, add back one mss
        self.cwnd = max(self.cwnd - acked + self.mss, self.mss)

    def on_rto(self, flight: int, now: float) -> None:
        self.ssthresh = max(flight // 2, 2 * self.mss)
        self.cwnd = self.mss
        self._acc = 0

    def on_idle_restart(self, rto: float) -> None:
        self.cwnd = min(self.cwnd, IW_SEGMENTS * self.mss)

    def format_state(self) -> str:
        return f"cwnd {self.cwnd} ssthresh {self.ssthresh}"


class NewReno(CongestionControl):
    name = "newreno"


class Cubic(CongestionControl):
    """RFC 9438: W_cubic(t) = C (t - K)^3 + W_max, in segments, t in seconds since the epoch
    began; the Reno-friendly estimate keeps it no slower than Reno on short RTTs."""

    name = "cubic"
    C = 0.4
    BETA = 0.7

    def __init__(self, mss: int, now: float) -> None:
        super().__init__(mss, now)
        self.w_max = 0.0
        self.k = 0.0
        self.epoch = None
        self.w_est = 0.0
        self.cwnd_epoch = 0.0

    def _begin_epoch(self, now: float) -> None:
        self.epoch = now
        seg = self.cwnd / self.mss
        self.cwnd_epoch = seg
        self.w_est = seg
        self.k = ((self.w_max - seg) / self.C) ** (1 / 3) if self.w_max > seg else 0.0

    def _avoid(self, acked: int, now: float, rtt: float | None) -> None:
        if self.epoch is None:
            self._begin_epoch(now)
        t = now - self.epoch + (rtt or 0.0)
        target = self.C * (t - self.k) ** 3 + max(self.w_max, self.cwnd_epoch)
        # Reno-friendly region (RFC 9438 4.3), alpha_cubic = 3(1-beta)/(1+beta)
        alpha = 3 * (1 - self.BETA) / (1 + self.BETA)
        seg = self.cwnd / self.mss
        self.w_est += alpha * (acked / self.mss) / max(seg, 1.0)
        cur = seg
        if self.w_est > target:
            target = self.w_est
        if target > cur:
            # grow by (target - cwnd) / cwnd per acked segment, at most 1.5x per RTT
            inc = min((target - cur) / cur, 0.5) * acked
            self._acc += inc
        else:
            self._acc += acked / (100 * cur)  # plateau: very slow growth
        if self._acc >= self.mss:
            k = int(self._acc // self.mss)
            self.cwnd += k * self.mss
            self._acc -= k * self.mss

    def _reduce(self, now: float) -> None:
        seg = self.cwnd / self.mss
        if seg < self.w_max:  # fast convergence (RFC 9438 4.7)
            self.w_max = seg * (1 + self.BETA) / 2
        else:
            self.w_max = seg
        self.ssthresh = max(int(self.cwnd * self.BETA), 2 * self.mss)
        self.epoch = None

    def on_congestion(self, flight: int, now: float) -> None:
        self._reduce(now)
        self.cwnd = self.ssthresh

    def on_rto(self, flight: int, now: float) -> None:
        self._reduce(now)
        self.cwnd = self.mss
        self._acc = 0

    def on_recovery_exit(self, now: float) -> None:
        super().on_recovery_exit(now)
        self.epoch = None

    def format_state(self) -> str:
        return f"cwnd {self.cwnd} ssthresh {self.ssthresh} w_max {self.w_max:.1f} k {self.k:.3f}"


def make(name: str, mss: int, now: float) -> CongestionControl:
    if name == "cubic":
        return Cubic(mss, now)
    if name == "newreno":
        return NewReno(mss, now)
    raise ValueError(f"unknown congestion control algorithm `{name}'")
