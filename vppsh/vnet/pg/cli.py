"""CLI handlers for the packet generator."""

from __future__ import annotations

import re

from ...cli.dispatch import CliError
from ...cli.fmt import j
from ..pcap import PcapWriter
from .spec import PgSpecError, parse_stream
from .stream import PgDevice, PgError


def new(ctx, a):
    text = a.get("block") if a.get("block") is not None else a.get("text", "")
    try:
        spec = parse_stream(text)
        ctx.vm.pg.add(spec)
    except (PgSpecError, PgError) as e:
        raise CliError(str(e)) from None


def _stream(ctx, name):
    pg = ctx.vm.pg
    if name is not None and name not in pg.streams:
        raise CliError(f"no such stream `{name}'")
    return name


def enable(ctx, a):
    ctx.vm.pg.set_enabled(_stream(ctx, a.get("stream")), True)


def disable(ctx, a):
    ctx.vm.pg.set_enabled(_stream(ctx, a.get("stream")), False)


def delete(ctx, a):
    ctx.vm.pg.delete(_stream(ctx, a["stream"]))


def configure(ctx, a):
    s = ctx.vm.pg.streams.get(_stream(ctx, a["stream"]))
    if "limit" in a:
        s.spec.limit = a["limit"]
    if "rate" in a:
        s.spec.rate = a["rate"]
    if "size" in a:
        m = re.fullmatch(r"(\d+)([-+])(\d+)", a["size"])
        if not m or int(m.group(1)) > int(m.group(3)):
            raise CliError(f"unknown input `{a['size']}'")
        s.spec.size_min, s.spec.size_max = int(m.group(1)), int(m.group(3))
        s.spec.size_mode = "random" if m.group(2) == "+" else "increment"


def show(ctx, a):
    pg = ctx.vm.pg
    if not pg.streams:
        ctx.out("no streams currently defined")
        return
    ctx.out(j("Name", 16, "-") + j("Enabled", 12, "=") + j("Count", 16, "=") + "Parameters")
    for s in pg.streams.values():
        ctx.out(j(s.name, 16, "-") + j("Yes" if s.enabled else "No", 12, "=") + j(s.sent, 16, "=")
                + s.parameters())


def create_interface(ctx, a):
    m = re.fullmatch(r"pg(\d+)", a["name"])
    if not m:
        raise CliError(f"unknown input `{a['name']}'")
    ctx.vm.pg.create_interface(int(m.group(1)), a.get("hw_addr"))


def capture(ctx, a):
    sw = ctx.vm.interfaces.sw[a["interface"]]
    dev = sw.hw.device
    if not isinstance(dev, PgDevice):
        raise CliError(f"{sw.name} is not a packet-generator interface")
    if a.get("disable"):
        dev.stop_capture()
        return
    if not a.get("pcap"):
        raise CliError("pcap file name not specified")
    dev.stop_capture()
    try:
        dev.capture = PcapWriter(a["pcap"])
    except OSError as e:
        raise CliError(f"failed to open `{a['pcap']}': {e.strerror}") from None
    dev.capture_left = a.get("count", 0)
    dev.capture_path = a["pcap"]
