"""CLI handlers for the packet generator."""

from __future__ import annotations

import dataclasses
import re

from ...vlib.errors import CliError
from ...wire.format import format_unformat_error, j
from ..pcap import PcapWriter
from .spec import PgSpecError, parse_stream, validate
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
    """VPP's change_stream_parameters: the new parameters are validated as a new stream's."""
    s = ctx.vm.pg.streams.get(_stream(ctx, a["stream"]))
    spec = dataclasses.replace(s.spec)
    if "limit" in a:
        spec.limit = a["limit"]
    if "rate" in a:
        spec.rate = a["rate"]
    if "size" in a:
        m = re.fullmatch(r"([0-9]{1,9})([-+])([0-9]{1,9})", a["size"])  # `size %d-%d` or `%d+%d`
        if not m:
            raise CliError(f"unknown input `{format_unformat_error('size ' + a['size'])}'")
        spec.size_min, spec.size_max = int(m.group(1)), int(m.group(3))
        spec.size_mode = "fixed" if spec.size_min == spec.size_max else "random" if m.group(2) == "+" else "increment"
    try:
        validate(spec)
    except PgSpecError as e:
        raise CliError(str(e)) from None
    s.reconfigure(spec)


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
    m = re.fullmatch(r"pg([0-9]{1,10})", a["name"])  # VPP: `interface pg%u`
    if not m or int(m.group(1)) > 0xFFFFFFFF:
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
    except (OSError, ValueError) as e:  # ValueError: a NUL in the name
        raise CliError(f"failed to open `{a['pcap']}': {getattr(e, 'strerror', None) or 'Invalid argument'}") from None
    dev.capture_left = a.get("count", 0)
    dev.capture_path = a["pcap"]
