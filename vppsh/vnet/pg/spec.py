"""`packet-generator new { ... }`: stream parameters, checked the way VPP's cli.c checks them.

Only the text is interpreted here; interface and node names are resolved by the engine.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from ...wire.format import format_unformat_error
from .data import PacketTemplate, PgSpecError, Scanner, parse_data

__all__ = ["PgSpecError", "StreamSpec", "parse_stream"]

VLIB_FRAME_SIZE = 256
MAX_PACKET_BYTES = 65535

BUFFER_FLAGS = ("l4-cksum-computed", "l4-cksum-correct", "vlan-2-deep", "vlan-1-deep",
                "span-clone", "loop-counter-valid", "local", "ip4", "ip6", "offload", "natted",
                "l2_hdr_offset_valid", "l3_hdr_offset_valid", "l4_hdr_offset_valid",
                "flow-report", "dvr", "qos-data-valid", "gso")
BUFFER_OFFLOAD_FLAGS = ("offload-ip-cksum", "offload-tcp-cksum", "offload-udp-cksum",
                        "offload-outer-ip-cksum", "offload-outer-udp-cksum",
                        "offload-vxlan-tunnel", "offload-ipip-tunnel")


@dataclass
class StreamSpec:
    name: str | None = None  # VPP names an unnamed stream `stream<index>`
    limit: int = 0  # packets; 0 = forever
    rate: float = 0.0  # pps; 0 = as fast as possible
    size_min: int | None = None  # None: the template's own length
    size_max: int | None = None
    size_mode: str = "fixed"  # fixed | increment (`A-B`) | random (`A+B`)
    buffer_size: int = 2048
    node: str | None = None
    interface: str | None = None  # RX sw interface name
    tx_interface: str | None = None
    source: str | None = None  # `pgN`
    maxframe: int | None = None
    worker: int | None = None
    pcap: str | None = None
    data: PacketTemplate | None = None
    data_text: str | None = None
    buffer_flags: list[str] = field(default_factory=list)
    buffer_offload_flags: list[str] = field(default_factory=list)
    gso_size: int | None = None

    def sizes(self, seq0: int, n: int, rng: np.random.Generator | None = None) -> np.ndarray | None:
        """Frame sizes for packets seq0..seq0+n-1, or None for the template's own length."""
        if self.size_min is None or self.size_max is None:
            return None
        lo, hi = self.size_min, self.size_max
        if self.size_mode == "random" and hi > lo:
            rng = rng or np.random.default_rng()
            return rng.integers(lo, hi, size=n, endpoint=True).astype(np.uint32)
        return (lo + (seq0 + np.arange(n, dtype=np.int64)) % (hi - lo + 1)).astype(np.uint32)

    def generate(self, seq0: int, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Convenience: the template's packets with this stream's sizes."""
        if self.data is None:
            raise PgSpecError("no packet data given")
        return self.data.generate(seq0, n, self.sizes(seq0, n))


def _normalise(text: str) -> str:
    """Join backslash continuations and drop a `packet-generator new` prefix and outer braces."""
    text = re.sub(r"\\[ \t]*\r?\n", " ", text)
    text = re.sub(r"\\(?=\s|$)", " ", text).strip()
    m = re.match(r"packet-generator\s+new\b", text)
    if m:
        text = text[m.end():].strip()
    if text.startswith("{"):
        sc = Scanner(text)
        inner = sc.token()
        if inner is not None and sc.at_end():
            text = inner
    return text


def _flags(sc: Scanner, names) -> list[str]:
    got = []
    while (f := next((x for x in names if sc.kw(x)), None)) is not None:
        got.append(f)
    return got


def _buffer_flags(sc: Scanner):
    flags = _flags(sc, BUFFER_FLAGS)
    if not flags:
        return None
    pos, gso = sc.i, None
    if "gso" in flags and sc.kw("gso-size"):
        gso = sc.number()
        if gso is None:
            sc.i = pos  # left for the main loop to report
    return flags, gso


def _offload_flags(sc: Scanner):
    return _flags(sc, BUFFER_OFFLOAD_FLAGS) or None


def _uint32(sc: Scanner) -> int | None:
    v = sc.number()
    return v if v is not None and v < 1 << 32 else None


def _limit(sc: Scanner) -> int | None:
    x = sc.float()
    return int(x) if x is not None and 0 <= x < 2 ** 63 else None


_SOURCE = re.compile(r"pg(\d{1,9})(?!\S)")


def _source(sc: Scanner) -> str | None:
    m = sc.match(_SOURCE)
    return f"pg{int(m.group(1))}" if m else None


def _size(sc: Scanner):
    """`A-B` increments per packet, `A+B` is random; a bare `A` (not VPP) is fixed."""
    lo = sc.number()
    if lo is None:
        return None
    after = sc.i
    for sym, mode in (("-", "increment"), ("+", "random")):
        if sc.sym(sym) and (hi := sc.number()) is not None:
            return lo, hi, "fixed" if lo == hi else mode
        sc.i = after
    return lo, lo, "fixed"


# keyword, value parser, the StreamSpec field(s) it sets; tried in VPP's order.
_PARAMS = (
    ("name", Scanner.token, "name"),
    ("node", Scanner.token, "node"),
    ("source", _source, "source"),
    ("buffer-flags", _buffer_flags, ("buffer_flags", "gso_size")),
    ("buffer-offload-flags", _offload_flags, "buffer_offload_flags"),
    ("maxframe", _uint32, "maxframe"),
    ("worker", _uint32, "worker"),
    ("interface", Scanner.token, "interface"),
    ("tx-interface", Scanner.token, "tx_interface"),
    ("pcap", Scanner.token, "pcap"),
    ("data", Scanner.token, "data_text"),
    ("limit", _limit, "limit"),
    ("rate", Scanner.float, "rate"),
    ("size", _size, ("size_min", "size_max", "size_mode")),
    ("buffer-size", _uint32, "buffer_size"),
)


def parse_stream(text: str) -> StreamSpec:
    """Parse the body of `packet-generator new { ... }` (or its brace-less form)."""
    text = _normalise(text)
    sc = Scanner(text)
    s = StreamSpec()
    while not sc.at_end():
        pos = sc.i
        for word, parse, fields in _PARAMS:
            sc.i = pos
            if word == "data" and s.data_text is not None:
                continue  # a second `data` is unknown input, as in VPP
            if sc.kw(word) and (v := parse(sc)) is not None:
                for f, x in zip(fields, v) if isinstance(fields, tuple) else [(fields, v)]:
                    setattr(s, f, x)
                break
        else:
            sc.i = pos
            raise PgSpecError(f"unknown input `{format_unformat_error(text[pos:])}'")
    if s.maxframe is not None:
        s.maxframe = min(s.maxframe, VLIB_FRAME_SIZE)

    if s.data_text is None and s.pcap is None:
        raise PgSpecError("no packet data given")
    if s.node is None:
        if s.pcap is None:
            raise PgSpecError("output interface or node not given")
        if s.source is None:
            s.node = "ethernet-input"  # else: the pg interface's own input node (engine)
    if s.pcap is None:
        s.data = parse_data(s.data_text, s.node)
    validate(s)
    return s


def validate(s: StreamSpec) -> None:
    """VPP's validate_stream checks, in its order and wording."""
    if s.size_min is not None:
        if s.size_max < s.size_min:
            raise PgSpecError("max-size < min-size")
        hdr = s.data.header_len if s.data is not None else 0
        if s.size_min < hdr:
            raise PgSpecError(f"min-size < total header size {hdr}")
        if s.size_max > MAX_PACKET_BYTES:
            raise PgSpecError(f"max-size > {MAX_PACKET_BYTES}")
    if s.buffer_size == 0:
        raise PgSpecError("buffer-size must be positive")
    if s.rate < 0:
        raise PgSpecError("negative rate")
