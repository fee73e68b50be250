"""Typed placeholders of the command grammar: how a token is read, what error it gives, how it completes.

A type's `error` is used only when the placeholder was committed to (required, or after its
keyword), matching how VPP handlers word a bad value (`unknown interface `tap9 up'`); an
optional bare placeholder that fails falls back to `unknown input `...'`. Numeric types have
no error of their own: a bad number is reported the way VPP's `unformat` loop reports it (see
the grammar compiler), and each numeric placeholder carries its range in the grammar.
"""

from __future__ import annotations

import glob
import ipaddress
import os
import re
from dataclasses import dataclass
from typing import Callable

from ..wire.ethernet import parse_mac
from ..wire.ip4 import parse_ip4, parse_prefix
from ..wire.ip6 import parse_ip6, parse_ip6_prefix


class TypeMismatch(Exception):
    pass


def _no_completion(ctx, prefix: str) -> list[str]:
    return []


@dataclass(frozen=True)
class ArgType:
    name: str
    parse: Callable
    error: str = "unknown input `%s'"
    complete: Callable = _no_completion
    rest: bool = False
    numeric: bool = False  # placeholders of this type must carry a range (`<n 1-64>`)


def _vm(ctx):
    vm = getattr(ctx, "vm", None)
    if vm is None:
        raise TypeMismatch("no engine")
    return vm


def _interface(text, ctx):
    sw = _vm(ctx).interfaces.by_name.get(text)
    if sw is None:
        raise TypeMismatch(text)
    return sw.sw_if_index


def _interface_names(ctx, prefix):
    vm = getattr(ctx, "vm", None)
    return [] if vm is None else [n for n in vm.interfaces.by_name if n.startswith(prefix)]


def _node(text, ctx):
    node = _vm(ctx).node_by_name.get(text)
    if node is None:
        raise TypeMismatch(text)
    return node


def _node_names(ctx, prefix):
    vm = getattr(ctx, "vm", None)
    return [] if vm is None else [n for n in vm.node_by_name if n.startswith(prefix)]


def _stream_names(ctx, prefix):
    vm = getattr(ctx, "vm", None)
    pg = getattr(vm, "pg", None) if vm is not None else None
    return [] if pg is None else [n for n in pg.streams if n.startswith(prefix)]


def _files(ctx, prefix):
    out = []
    for p in glob.glob(os.path.expanduser(prefix) + "*")[:200]:
        out.append(p + "/" if os.path.isdir(p) else p)
    return out


# ASCII only: Python's int()/float() also take `1_000`, ` 5`, `nan` and non-ASCII digits
_UINT = re.compile(r"[0-9]+|0[xX][0-9a-fA-F]+")
_FLOAT = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?")
_MAX_DIGITS = 64  # a longer number is out of every range: not worth converting


def _uint(text, ctx):
    if len(text) > _MAX_DIGITS or not _UINT.fullmatch(text):
        raise TypeMismatch(text)
    return int(text, 16 if text[:2] in ("0x", "0X") else 10)


def _float(text, ctx):
    if len(text) > _MAX_DIGITS or not _FLOAT.fullmatch(text):
        raise TypeMismatch(text)
    return float(text)  # may be inf (1e999): every range rejects it


def _ip4(text, ctx):
    try:
        return ipaddress.IPv4Address(parse_ip4(text))
    except ValueError:
        raise TypeMismatch(text) from None


def _ip4_prefix(text, ctx):
    try:
        return ipaddress.IPv4Interface(parse_prefix(text))
    except ValueError:
        raise TypeMismatch(text) from None


def _ip6(text, ctx):
    try:
        return ipaddress.IPv6Address(parse_ip6(text))
    except ValueError:
        raise TypeMismatch(text) from None


def _ip6_prefix(text, ctx):
    try:
        return ipaddress.IPv6Interface(parse_ip6_prefix(text))
    except ValueError:
        raise TypeMismatch(text) from None


def _mac(text, ctx):
    try:
        return parse_mac(text)
    except ValueError:
        raise TypeMismatch(text) from None


def _word(text, ctx):
    return text


def _block(text, ctx):
    if not (text.startswith("{") and text.endswith("}")):
        raise TypeMismatch(text)
    return text[1:-1].strip()


TYPES: dict[str, ArgType] = {
    t.name: t
    for t in (
        ArgType("interface", _interface, "unknown interface `%s'", _interface_names),
        ArgType("node", _node, "unknown node `%s'", _node_names),
        ArgType("node-name", _word, complete=_node_names),
        ArgType("stream", _word, complete=_stream_names),
        ArgType("n", _uint, numeric=True),
        ArgType("float", _float, numeric=True),
        ArgType("ip4-address", _ip4, "expected IP4 address `%s'"),
        ArgType("ip4-prefix", _ip4_prefix, "expected IP4/IP6 address/length `%s'"),
        ArgType("ip6-address", _ip6, "expected IP6 address `%s'"),
        ArgType("ip6-prefix", _ip6_prefix, "expected IP4/IP6 address/length `%s'"),
        ArgType("mac-address", _mac, "expected MAC address `%s'"),
        ArgType("file", _word, "expecting file name, got `%s'", _files),
        ArgType("word", _word),
        ArgType("block", _block, "expected `{ ... }' block `%s'"),
        ArgType("rest", _word, rest=True),
    )
}
