"""TCP CLI: `show tcp stats`, `set tcp`, `show tcp config`."""

from __future__ import annotations

from ...vlib.errors import CliError
from ..transport import TransportProto
from .host import STAT_NAMES

MIN_MTU = 1280  # VPP's `set tcp mtu` minimum


def _tm(ctx):
    return ctx.vm.session.transports[TransportProto.TCP]


def show_stats(ctx, a):
    tm = _tm(ctx)
    ctx.out("Thread 0:")
    for name in STAT_NAMES:
        v = tm.stats.get(name, 0)
        if v:
            ctx.out(f" {v} {name}")


def clear_stats(ctx, a):
    _tm(ctx).stats.clear()


def set_tcp(ctx, a):
    cfg = _tm(ctx).cfg
    if "cc_algo" in a:
        if a["cc_algo"] not in ("cubic", "newreno"):
            raise CliError(f"unknown cc algo `{a['cc_algo']}'")
        cfg.cc_algo = a["cc_algo"]
    if "mtu" in a:  # VPP's checks and wording (the segment size must stay positive)
        if a["mtu"] < MIN_MTU:
            raise CliError(f"mtu must be at least {MIN_MTU}")
        if a["mtu"] > 0xFFFF:
            raise CliError("mtu must not exceed 65535")
        cfg.mtu = a["mtu"]
    for flag in ("tso", "sack", "timestamps"):
        v = a.get(flag)
        if v is not None:
            setattr(cfg, flag, v != "disable")
    if "keepalive" in a:
        cfg.keepalive = True
        cfg.keep_idle = a.get("idle", cfg.keep_idle)
        cfg.keep_intvl = a.get("interval", cfg.keep_intvl)
        cfg.keep_cnt = a.get("probes", cfg.keep_cnt)
    for k in ("timewait_time", "finwait2_time", "syn_backlog"):
        if k.replace("_", "-") in a or k in a:
            setattr(cfg, k, a.get(k, a.get(k.replace("_", "-"))))


def show_config(ctx, a):
    cfg = _tm(ctx).cfg
    for k, v in vars(cfg).items():
        ctx.out(f"{k.replace('_', '-')} {v}")
