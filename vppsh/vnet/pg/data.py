"""The `data { ... }` stanza of `packet-generator new`, and the packets it describes.

VPP parses the stanza layer by layer (ethernet, then ip4, then udp/tcp/icmp, then a
payload), each layer choosing the next from its type field and falling back to a raw
payload when the next layer does not parse. Every header field is an "edit": a fixed
value, an `A-B` range that increments per packet, or an `A+B` range chosen at random.
We keep the same grammar but generate a whole frame of packets as one numpy array.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from ...wire import icmp as icmp_wire
from ...wire import tcp as tcp_wire
from ...wire.checksum import csum_rows, fold
from ...wire.format import format_unformat_error
from ...wire import icmp6 as icmp6_wire
from ...wire.ethernet import ETHERTYPE_ARP, ETHERTYPE_BY_NAME, ETHERTYPE_IP4, ETHERTYPE_IP6, ETHERTYPE_VLAN
from ...wire.ip4 import PROTO_BY_NAME, PROTO_ICMP, PROTO_TCP, PROTO_UDP
from ...wire.ip6 import PROTO_ICMP6, parse_ip6

MAX_PAYLOAD = 65535


class PgSpecError(Exception):
    """A `packet-generator new` spec that VPP would refuse; the message is VPP's wording."""


# ---------------------------------------------------------------------------- scanning

_WS = " \t\r\n"
_NUM = re.compile(r"0[xX][0-9a-fA-F]{1,16}(?![0-9a-zA-Z_])|\d{1,20}(?![0-9a-zA-Z_.])")
_FLOAT = re.compile(r"[-+]?(?:\d{1,30}\.?\d{0,30}|\.\d{1,30})(?:[eE][-+]?\d{1,4})?")
_IP4 = re.compile(r"(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})(?![0-9])")
_IP6 = re.compile(r"[0-9a-fA-F:]*:[0-9a-fA-F:]*(?![0-9a-zA-Z_.:])")
LOW64 = (1 << 64) - 1
_MAC_UNIX = re.compile(r"([0-9a-fA-F]{1,8})" + r":([0-9a-fA-F]{1,8})" * 5)
_MAC_CISCO = re.compile(r"([0-9a-fA-F]{1,8})\.([0-9a-fA-F]{1,8})\.([0-9a-fA-F]{1,8})(?![0-9a-fA-F])")
_NAME = re.compile(r"[A-Za-z0-9_]+")
_HEX = re.compile(r"(?:0[xX])?([0-9a-fA-F]+)(?![0-9a-zA-Z_])")


class Scanner:
    """A cursor over CLI text with VPP unformat's habit of skipping whitespace first."""

    def __init__(self, text: str) -> None:
        self.s = text
        self.i = 0

    def ws(self) -> None:
        while self.i < len(self.s) and self.s[self.i] in _WS:
            self.i += 1

    def at_end(self) -> bool:
        self.ws()
        return self.i >= len(self.s)

    def match(self, rx: re.Pattern):
        self.ws()
        m = rx.match(self.s, self.i)
        if m:
            self.i = m.end()
        return m

    def sym(self, text: str) -> bool:
        self.ws()
        if self.s.startswith(text, self.i):
            self.i += len(text)
            return True
        return False

    def kw(self, word: str, nocase: bool = False) -> bool:
        """A whole word: the next char may not continue an identifier."""
        self.ws()
        j = self.i + len(word)
        got = self.s[self.i:j]
        if (got.lower() == word.lower()) if nocase else (got == word):
            if j >= len(self.s) or not (self.s[j].isalnum() or self.s[j] in "_-"):
                self.i = j
                return True
        return False

    def number(self) -> int | None:
        m = self.match(_NUM)
        if not m:
            return None
        t = m.group(0)
        return int(t, 16) if t[:2] in ("0x", "0X") else int(t)

    def float(self) -> float | None:
        m = self.match(_FLOAT)
        if not m:
            return None
        try:
            v = float(m.group(0))
        except ValueError:
            return None
        return v if np.isfinite(v) else None

    def token(self) -> str | None:
        """VPP's %v: a brace-delimited group (braces removed) or a whitespace-free word."""
        self.ws()
        if self.i >= len(self.s):
            return None
        if self.s[self.i] == "{":
            depth, j = 0, self.i
            while j < len(self.s):
                c = self.s[j]
                depth += c == "{"
                depth -= c == "}"
                if depth == 0:
                    out = self.s[self.i + 1:j]
                    self.i = j + 1
                    return out
                j += 1
            return None
        j = self.i
        while j < len(self.s) and self.s[j] not in _WS:
            j += 1
        out = self.s[self.i:j]
        self.i = j
        return out


# ---------------------------------------------------------------------------- values


def _ip4(sc: Scanner) -> int | None:
    m = sc.match(_IP4)
    if not m:
        return None
    parts = [int(x) for x in m.groups()]
    if any(p > 255 for p in parts):
        return None
    return (parts[0] << 24) | (parts[1] << 16) | (parts[2] << 8) | parts[3]


def _ip6(sc: Scanner) -> int | None:
    start = sc.i
    m = sc.match(_IP6)
    if m:
        try:
            return parse_ip6(m.group(0))
        except ValueError:
            sc.i = start
    return None


def _mac(sc: Scanner) -> int | None:
    """`xx:xx:xx:xx:xx:xx` or Cisco `x.x.x` (pg's `1.2.3` is 0001.0002.0003)."""
    start = sc.i
    m = sc.match(_MAC_UNIX)
    if m:
        parts = [int(x, 16) for x in m.groups()]
        if all(p < 256 for p in parts):
            return int.from_bytes(bytes(parts), "big")
        sc.i = start
        return None
    m = sc.match(_MAC_CISCO)
    if m:
        parts = [int(x, 16) for x in m.groups()]
        if all(p < 65536 for p in parts):
            return (parts[0] << 32) | (parts[1] << 16) | parts[2]
        sc.i = start
    return None


def _named(table: dict[str, int]):
    def parse(sc: Scanner) -> int | None:
        start = sc.i
        m = sc.match(_NAME)
        if m:
            v = table.get(m.group(0), table.get(m.group(0).upper()))
            if v is not None:
                return v
        sc.i = start
        return None
    return parse


def _number_or(named):
    def parse(sc: Scanner) -> int | None:
        v = sc.number()
        return v if v is not None else named(sc)
    return parse


_ethertype = _number_or(_named(ETHERTYPE_BY_NAME))
_ip_proto = _number_or(_named(PROTO_BY_NAME))
_ARP_OPCODES = {"request": 1, "reply": 2, "reverse_request": 3, "reverse_reply": 4}
_arp_opcode = _number_or(_named({**_ARP_OPCODES, **{k.upper(): v for k, v in _ARP_OPCODES.items()}}))


@dataclass(frozen=True)
class Value:
    """A parsed edit: fixed (lo == hi), incrementing or random over lo..hi."""
    lo: int
    hi: int
    mode: str = "fixed"


def _edit(sc: Scanner, parse) -> Value | None:
    """VALUE, VALUE - VALUE (increment per packet) or VALUE + VALUE (random)."""
    start = sc.i
    lo = parse(sc)
    if lo is None:
        sc.i = start
        return None
    after = sc.i
    for sym, mode in (("-", "increment"), ("+", "random")):
        if sc.sym(sym):
            hi = parse(sc)
            if hi is not None:
                return Value(lo, hi, mode)
        sc.i = after
    return Value(lo, lo)


# ---------------------------------------------------------------------------- template


@dataclass(frozen=True)
class Edit:
    """A varying field: bits [shift, shift+nbits) of the big-endian word at offset."""
    offset: int
    nbytes: int
    shift: int
    nbits: int
    lo: int
    hi: int
    mode: str


@dataclass(frozen=True)
class Layer:
    kind: str  # ethernet | ip4 | ip6 | udp | tcp | icmp | icmp6 | arp
    offset: int
    length: int
    fixed_length: bool = False
    fixed_checksum: bool = False


class PacketTemplate:
    """Headers (with their varying fields) plus a payload pattern, generating whole frames."""

    def __init__(self, header: bytes, payload: bytes, edits: list[Edit],
                 layers: list[Layer], text: str = "", seed: int = 0) -> None:
        self.header = bytes(header)
        self.payload = bytes(payload)
        self.edits = list(edits)
        self.layers = list(layers)
        self.text = text
        self.seed = seed

    @property
    def header_len(self) -> int:
        return len(self.header)

    @property
    def length(self) -> int:
        """The template's own frame length: headers plus the payload as written."""
        return len(self.header) + len(self.payload)

    def __repr__(self) -> str:
        return (f"PacketTemplate(layers={[l.kind for l in self.layers]}, "
                f"header_len={self.header_len}, payload_len={len(self.payload)})")

    def generate(self, seq0: int, n: int, sizes=None) -> tuple[np.ndarray, np.ndarray]:
        """Packets seq0..seq0+n-1 as (uint8 rows [n, maxlen], uint32 lengths [n]).

        `sizes` are whole-frame lengths (never below the header length); the payload pattern
        is truncated to fit, or zero-padded beyond its end as VPP does.
        """
        hl = len(self.header)
        if sizes is None:
            lengths = np.full(n, self.length, dtype=np.int64)
        else:
            lengths = np.maximum(np.asarray(sizes, dtype=np.int64).reshape(n), hl)
        width = int(lengths.max()) if n else self.length
        rows = np.zeros((n, width), dtype=np.uint8)
        rows[:, :hl] = np.frombuffer(self.header, np.uint8)
        p = min(len(self.payload), width - hl)
        if p > 0:
            rows[:, hl:hl + p] = np.frombuffer(self.payload, np.uint8, p)
        if n and int(lengths.min()) < width:
            rows[np.arange(width)[None, :] >= lengths[:, None]] = 0
        seq = np.uint64(seq0) + np.arange(n, dtype=np.uint64)
        rng = np.random.default_rng([self.seed, seq0 & 0xFFFFFFFF])
        for e in self.edits:
            _apply_edit(rows, e, seq, rng)
        self._fixup(rows, lengths)
        return rows, lengths.astype(np.uint32)

    def _fixup(self, rows: np.ndarray, lengths: np.ndarray) -> None:
        """Lengths first, then L4 checksums (they read the IP header), then IP checksums."""
        ip = None
        l3_of: dict[int, Layer] = {}
        for layer in self.layers:
            if layer.kind == "ip4":
                ip = layer
                if not layer.fixed_length:
                    _put16(rows, layer.offset + 2, lengths - layer.offset)
            elif layer.kind == "ip6":
                ip = layer
                _put16(rows, layer.offset + 4, lengths - layer.offset - 40)  # payload length
            elif layer.kind in ("udp", "tcp", "icmp", "icmp6") and ip is not None:
                l3_of[layer.offset] = ip
                if layer.kind == "udp" and not layer.fixed_length:
                    _put16(rows, layer.offset + 4, lengths - layer.offset)
        for layer in reversed(self.layers):
            ip = l3_of.get(layer.offset)
            if ip is None or layer.fixed_checksum:
                continue
            room = lengths - layer.offset
            if layer.kind == "udp":
                seg = np.minimum(_get16(rows, layer.offset + 4), room) if layer.fixed_length else room
            elif ip.kind == "ip6":  # tcp/icmp follow the IP length, as VPP's pg does
                seg = np.minimum(_get16(rows, ip.offset + 4) + 40 - (layer.offset - ip.offset), room)
            else:
                seg = np.minimum(_get16(rows, ip.offset + 2) - (layer.offset - ip.offset), room)
            seg = np.maximum(seg, 0)
            ck = {"udp": 6, "tcp": 16, "icmp": 2, "icmp6": 2}[layer.kind]
            _put16(rows, layer.offset + ck, np.zeros(len(rows), np.int64))
            if layer.kind == "icmp":
                c = csum_rows(rows, layer.offset, seg)
            else:
                o = ip.offset
                if ip.kind == "ip6":  # addresses, upper-layer length, next header (RFC 8200 8.1)
                    pseudo = sum(_get16(rows, o + k) for k in range(8, 40, 2)) + rows[:, o + 6].astype(np.uint64)
                else:
                    pseudo = (_get16(rows, o + 12) + _get16(rows, o + 14) + _get16(rows, o + 16)
                              + _get16(rows, o + 18) + rows[:, o + 9].astype(np.uint64))
                c = csum_rows(rows, layer.offset, seg, fold(pseudo + seg.astype(np.uint64)))
                if layer.kind == "udp":
                    c[c == 0] = 0xFFFF  # zero means "no checksum" in UDP
            _put16(rows, layer.offset + ck, c)
        for layer in self.layers:
            if layer.kind == "ip4" and not layer.fixed_checksum:
                _put16(rows, layer.offset + 10, np.zeros(len(rows), np.int64))
                _put16(rows, layer.offset + 10, csum_rows(rows, layer.offset, 20))


def _get16(rows: np.ndarray, off: int) -> np.ndarray:
    return (rows[:, off].astype(np.uint64) << np.uint64(8)) | rows[:, off + 1]


def _put16(rows: np.ndarray, off: int, v) -> None:
    v = np.asarray(v).astype(np.int64) & 0xFFFF
    rows[:, off] = v >> 8
    rows[:, off + 1] = v & 0xFF


def _apply_edit(rows: np.ndarray, e: Edit, seq: np.ndarray, rng) -> None:
    n = len(rows)
    if e.mode == "increment":
        span = np.uint64(e.hi - e.lo + 1)
        v = np.uint64(e.lo) + seq % span
    else:
        v = rng.integers(e.lo, e.hi, size=n, dtype=np.uint64, endpoint=True)
    word = np.zeros(n, dtype=np.uint64)
    for k in range(e.nbytes):
        word = (word << np.uint64(8)) | rows[:, e.offset + k]
    mask = np.uint64(((1 << e.nbits) - 1) << e.shift)
    word = (word & ~mask) | ((v << np.uint64(e.shift)) & mask)
    for k in range(e.nbytes):
        rows[:, e.offset + k] = (word >> np.uint64(8 * (e.nbytes - 1 - k))) & np.uint64(0xFF)


# ---------------------------------------------------------------------------- building


class _Builder:
    def __init__(self) -> None:
        self.hdr = bytearray()
        self.edits: list[Edit] = []
        self.layers: list[Layer] = []
        self.payload = b""

    def mark(self):
        return len(self.hdr), len(self.edits), len(self.layers)

    def reset(self, m) -> None:
        del self.hdr[m[0]:]
        del self.edits[m[1]:]
        del self.layers[m[2]:]

    def field(self, off: int, nbytes: int, v: Value, shift: int = 0, nbits: int | None = None) -> bool:
        """Store v's low value in the template and, if it varies, an Edit; False if it won't fit."""
        nbits = nbytes * 8 if nbits is None else nbits
        limit = 1 << nbits
        if not (0 <= v.lo < limit and 0 <= v.hi < limit) or v.hi < v.lo:
            return False
        word = int.from_bytes(self.hdr[off:off + nbytes], "big")
        mask = (limit - 1) << shift
        word = (word & ~mask) | (v.lo << shift)
        self.hdr[off:off + nbytes] = word.to_bytes(nbytes, "big")
        if v.mode != "fixed" and v.hi != v.lo:
            self.edits.append(Edit(off, nbytes, shift, nbits, v.lo, v.hi, v.mode))
        return True


def _attempt(sc: Scanner, b: _Builder, fn) -> bool:
    """Run a layer parser; on failure put both the input and the template back."""
    pos, m = sc.i, b.mark()
    if fn(sc, b):
        return True
    sc.i = pos
    b.reset(m)
    return False


def _option(sc: Scanner, b: _Builder, base: int, table: dict) -> str | None:
    """One `keyword VALUE` header option from `table` (keyword -> offset, bytes[, shift, bits]).

    Like unformat, a keyword whose value does not parse (or fit) is left unconsumed.
    """
    pos = sc.i
    for word, (o, nb, *bits) in table.items():
        if sc.kw(word):
            v = _edit(sc, Scanner.number)
            if v is not None and b.field(base + o, nb, v, *bits):
                return word
            sc.i = pos
    return None


def _payload(sc: Scanner, b: _Builder) -> bool:
    if sc.kw("incrementing"):
        n = sc.number()
        if n is None or n > MAX_PAYLOAD:
            return False
        b.payload = (np.arange(n) & 0xFF).astype(np.uint8).tobytes()
        return True
    if sc.kw("fixed"):
        n = sc.number()
        if n is None or n > MAX_PAYLOAD:
            return False
        b.payload = bytes(n)
        return True
    if sc.kw("hex"):
        m = sc.match(_HEX)
        if not m or len(m.group(1)) % 2 or len(m.group(1)) > 2 * MAX_PAYLOAD:
            return False
        b.payload = bytes.fromhex(m.group(1))
        return True
    return False


def _ethernet(sc: Scanner, b: _Builder) -> bool:
    off = len(b.hdr)
    b.hdr += bytes(14)
    etype = _edit(sc, _ethertype)
    if etype is None or not sc.sym(":"):
        return False
    src = _edit(sc, _mac)
    if src is None or not sc.sym("->"):
        return False
    dst = _edit(sc, _mac)
    if dst is None or not b.field(off + 6, 6, src) or not b.field(off, 6, dst):
        return False
    type_off = off + 12
    n_vlan = 0
    while sc.kw("vlan"):
        vid = _edit(sc, Scanner.number)
        if vid is None or n_vlan >= 2:
            return False
        b.field(type_off, 2, Value(ETHERTYPE_VLAN, ETHERTYPE_VLAN))
        tci = len(b.hdr)
        b.hdr += bytes(4)
        if not b.field(tci, 2, vid, 0, 12):
            return False
        if sc.kw("priority"):
            pri = _edit(sc, Scanner.number)
            if pri is None or not b.field(tci, 2, pri, 13, 3):
                return False
        if sc.kw("cfi"):
            cfi = _edit(sc, Scanner.number)
            if cfi is None or not b.field(tci, 2, cfi, 12, 1):
                return False
        type_off = tci + 2
        n_vlan += 1
    if not b.field(type_off, 2, etype):
        return False
    b.layers.append(Layer("ethernet", off, len(b.hdr) - off))
    if etype.lo == etype.hi:
        nxt = {ETHERTYPE_IP4: _ip4_header, ETHERTYPE_IP6: _ip6_header, ETHERTYPE_ARP: _arp}.get(etype.lo)
        if nxt is not None and _attempt(sc, b, nxt):
            return True
    return _payload(sc, b)


def _arp(sc: Scanner, b: _Builder) -> bool:
    off = len(b.hdr)
    b.hdr += bytes.fromhex("0001080006040000") + bytes(20)
    op = _edit(sc, _arp_opcode)
    if op is None or not sc.sym(":") or not b.field(off + 6, 2, op):
        return False
    for i, pos in enumerate((off + 8, off + 18)):
        if i and not sc.sym("->"):
            return False
        mac = _edit(sc, _mac)
        if mac is None or not sc.sym("/"):
            return False
        ip = _edit(sc, _ip4)
        if ip is None or not b.field(pos, 6, mac) or not b.field(pos + 6, 4, ip):
            return False
    b.layers.append(Layer("arp", off, 28))
    return True


_IP4_OPTIONS = {"version": (0, 1, 4, 4), "header-length": (0, 1, 0, 4), "tos": (1, 1),
                "length": (2, 2), "checksum": (10, 2), "ttl": (8, 1), "id": (4, 2)}
_IP4_FLAGS = {"mf": 13, "df": 14, "ce": 15}


def _ip4_header(sc: Scanner, b: _Builder) -> bool:
    off = len(b.hdr)
    b.hdr += bytes([0x45, 0, 0, 0, 0, 0, 0, 0, 64]) + bytes(11)
    proto = _edit(sc, _ip_proto)
    if proto is None or not sc.sym(":") or not b.field(off + 9, 1, proto):
        return False
    pos = sc.i
    src = _edit(sc, _ip4)
    dst = _edit(sc, _ip4) if src is not None and sc.sym("->") else None
    if dst is None:
        sc.i = pos  # VPP also accepts `PROTO:` alone, leaving the addresses zero
    elif not b.field(off + 12, 4, src) or not b.field(off + 16, 4, dst):
        return False
    fixed_len = fixed_ck = False
    while True:
        key = _option(sc, b, off, _IP4_OPTIONS)
        if key is not None:
            fixed_len |= key == "length"
            fixed_ck |= key == "checksum"
            continue
        pos = sc.i
        if sc.kw("fragment"):
            ident = _edit(sc, Scanner.number) if sc.kw("id") else None
            fo = _edit(sc, Scanner.number) if ident is not None and sc.kw("offset") else None
            if fo is None or not b.field(off + 4, 2, ident) or not b.field(
                    off + 6, 2, Value(fo.lo // 8, fo.hi // 8, fo.mode), 0, 13):
                sc.i = pos
                break
            continue
        flag = next((f for f in _IP4_FLAGS if sc.kw(f, nocase=True)), None)
        if flag is None:
            break
        b.field(off + 6, 2, Value(1, 1), _IP4_FLAGS[flag], 1)
    b.layers.append(Layer("ip4", off, 20, fixed_len, fixed_ck))
    if proto.lo == proto.hi:
        nxt = {PROTO_UDP: _udp, PROTO_TCP: _tcp, PROTO_ICMP: _icmp}.get(proto.lo)
        if nxt is not None and _attempt(sc, b, nxt):
            return True
    return _payload(sc, b)


def _ip6_header(sc: Scanner, b: _Builder) -> bool:
    """VPP's unformat_ip6_header: `PROTO: SRC -> DST [tos N] [hop-limit N]`. An address range
    varies the low 64 bits (both ends share the top 64)."""
    off = len(b.hdr)
    b.hdr += bytes([0x60]) + bytes(6) + bytes([64]) + bytes(32)
    proto = _edit(sc, _ip_proto)
    if proto is None or not sc.sym(":") or not b.field(off + 6, 1, proto):
        return False
    src = _edit(sc, _ip6)
    dst = _edit(sc, _ip6) if src is not None and sc.sym("->") else None
    if dst is None:
        return False
    for pos, v in ((off + 8, src), (off + 24, dst)):
        if v.lo >> 64 != v.hi >> 64 or not b.field(pos, 16, Value(v.lo, v.lo)):
            return False
        if v.mode != "fixed" and not b.field(pos + 8, 8, Value(v.lo & LOW64, v.hi & LOW64, v.mode)):
            return False
    while _option(sc, b, off, {"tos": (0, 2, 4, 8), "hop-limit": (7, 1)}) is not None:
        pass
    b.layers.append(Layer("ip6", off, 40))
    if proto.lo == proto.hi:
        nxt = {PROTO_UDP: _udp, PROTO_TCP: _tcp, PROTO_ICMP6: _icmp6}.get(proto.lo)
        if nxt is not None and _attempt(sc, b, nxt):
            return True
    return _payload(sc, b)


def _ports(sc: Scanner, b: _Builder, off: int) -> bool:
    src = _edit(sc, Scanner.number)
    if src is None or not sc.sym("->"):
        return False
    dst = _edit(sc, Scanner.number)
    return dst is not None and b.field(off, 2, src) and b.field(off + 2, 2, dst)


def _udp(sc: Scanner, b: _Builder) -> bool:
    off = len(b.hdr)
    b.hdr += bytes(8)
    if not (sc.kw("UDP", nocase=True) and sc.sym(":") and _ports(sc, b, off)):
        return False
    keys = set()
    while (key := _option(sc, b, off, {"length": (4, 2), "checksum": (6, 2)})) is not None:
        keys.add(key)
    fixed_len, fixed_ck = "length" in keys, "checksum" in keys
    b.layers.append(Layer("udp", off, 8, fixed_len, fixed_ck))
    return _payload(sc, b)


_TCP_FLAGS = dict(tcp_wire.FLAG_NAMES)
# VPP's words plus short forms; `ack N` is the ack number, a bare `ACK` the flag.
_TCP_OPTIONS = {"window": (14, 2), "win": (14, 2), "checksum": (16, 2), "seqnum": (4, 4),
                "seq": (4, 4), "acknum": (8, 4), "ack": (8, 4), "urgent": (18, 2)}


def _tcp(sc: Scanner, b: _Builder) -> bool:
    off = len(b.hdr)
    b.hdr += bytes(20)
    if not (sc.kw("TCP", nocase=True) and sc.sym(":") and _ports(sc, b, off)):
        return False
    b.field(off + 14, 2, Value(4096, 4096))  # VPP's pg default window
    fixed_ck = False
    while True:
        key = _option(sc, b, off, _TCP_OPTIONS)
        if key is not None:
            fixed_ck |= key == "checksum"
            continue
        flag = next((f for f in _TCP_FLAGS if sc.kw(f, nocase=True)), None)
        if flag is None:
            break
        b.hdr[off + 13] |= _TCP_FLAGS[flag]
    opt_off = len(b.hdr)
    while sc.kw("opt"):
        if not _tcp_option(sc, b):
            return False
    b.hdr += bytes([tcp_wire.OPT_NOP]) * (-(len(b.hdr) - opt_off) % 4)
    hlen = len(b.hdr) - off
    if hlen > 60:
        return False
    b.hdr[off + 12] = (hlen // 4) << 4
    b.layers.append(Layer("tcp", off, hlen, False, fixed_ck))
    return _payload(sc, b)


def _tcp_option(sc: Scanner, b: _Builder) -> bool:
    """`opt mss N`, `opt winscale N`, `opt timestamp A B`, `opt sackperm`,
    `opt sack nvalues K <2K numbers>` as in VPP's tcp_pg.c."""
    num = Scanner.number
    o = len(b.hdr)
    if sc.kw("mss"):
        b.hdr += bytes([tcp_wire.OPT_MSS, 4, 0, 0])
        v = _edit(sc, num)
        return v is not None and b.field(o + 2, 2, v)
    if sc.kw("winscale"):
        b.hdr += bytes([tcp_wire.OPT_WSCALE, 3, 0])
        v = _edit(sc, num)
        return v is not None and b.field(o + 2, 1, v)
    if sc.kw("timestamp"):
        b.hdr += bytes([tcp_wire.OPT_TIMESTAMP, 10]) + bytes(8)
        a = _edit(sc, num)
        c = _edit(sc, num) if a is not None else None
        return c is not None and b.field(o + 2, 4, a) and b.field(o + 6, 4, c)
    if sc.kw("sackperm"):
        b.hdr += bytes([tcp_wire.OPT_SACK_PERMITTED, 2])
        return True
    if sc.kw("sack"):
        k = sc.number() if sc.kw("nvalues") else None
        if not k or k > 4:
            return False
        b.hdr += bytes([tcp_wire.OPT_SACK, 2 + 8 * k]) + bytes(8 * k)
        for j in range(2 * k):
            v = _edit(sc, num)
            if v is None or not b.field(o + 2 + 4 * j, 4, v):
                return False
        return True
    return False


# type_and_code names first (`port_unreachable` is type 3 code 3), then bare type names.
_ICMP_NAMES = {**{k: (v, 0) for k, v in icmp_wire.TYPE_BY_NAME.items()},
               **icmp_wire.CODE_BY_NAME}
_ICMP6_NAMES = {k: (v, 0) for k, v in icmp6_wire.TYPE_BY_NAME.items()}
_ICMP_OPTIONS = {"checksum": (2, 2), "code": (1, 1), "id": (4, 2), "seq": (6, 2)}


def _icmp_of(keyword: str, names: dict, kind: str):
    def parse(sc: Scanner, b: _Builder) -> bool:
        """VPP writes `ICMP echo_request` (a 4-byte header; id/seq are then payload bytes).
        We also take `ICMP: echo_request id N seq N`, which adds the 4 echo bytes (ICMP6 alike)."""
        off = len(b.hdr)
        b.hdr += bytes(8)
        if not sc.kw(keyword, nocase=True):
            return False
        sc.sym(":")
        start = sc.i
        m = sc.match(_NAME)
        tc = names.get(m.group(0).lower()) if m else None
        if tc is None:
            sc.i = start
            v = sc.number()
            if v is None or v > 255:
                return False
            tc = (v, 0)
        b.hdr[off], b.hdr[off + 1] = tc
        keys = set()
        while (key := _option(sc, b, off, _ICMP_OPTIONS)) is not None:
            keys.add(key)
        if not keys & {"id", "seq"}:
            del b.hdr[off + 4:]
        b.layers.append(Layer(kind, off, len(b.hdr) - off, False, "checksum" in keys))
        return _payload(sc, b)
    return parse


_icmp = _icmp_of("ICMP", _ICMP_NAMES, "icmp")
_icmp6 = _icmp_of("ICMP6", _ICMP6_NAMES, "icmp6")


def parse_data(text: str, node: str | None = None, seed: int = 0) -> PacketTemplate:
    """Parse a data stanza (the text inside `data { ... }`).

    It may start with an ethernet header (`IP4: 1.2.3 -> 4.5.6`) or, for ip4 nodes, directly
    with an IPv4 header (`UDP: 1.1.1.1 -> 2.2.2.2`); both are tried, the node's kind first.
    """
    sc = Scanner(text)
    b = _Builder()
    node = node or ""
    order = [_ip4_header, _ethernet] if node.startswith("ip4") else [_ip6_header, _ethernet] \
        if node.startswith("ip6") else [_ethernet, _ip4_header, _ip6_header]
    if not any(_attempt(sc, b, fn) for fn in order) and not _attempt(sc, b, _payload):
        raise PgSpecError(f"failed to parse packet data from `{format_unformat_error(text)}'")
    if not sc.at_end():
        raise PgSpecError(f"failed to parse packet data from `{format_unformat_error(text[sc.i:])}'")
    return PacketTemplate(bytes(b.hdr), b.payload, b.edits, b.layers, text, seed)
