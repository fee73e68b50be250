"""Typed placeholders of the command grammar: how a token is read, what error it gives, how it completes.

A type's `error` is used only when the placeholder was committed to (required, or after its
keyword), matching how VPP handlers word a bad value (`unknown interface `tap9 up'`); an
optional bare placeholder that fails falls back to `unknown input `...'`.
"""

from __future__ import annotations

import glob
import ipaddress
import os
import re
from dataclasses import dataclass
from typing import Callable


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


def _uint(text, ctx):
    try:
        v = int(text, 0) if text.lower().startswith("0x") else int(text, 10)
    except ValueError:
        raise TypeMismatch(text) from None
    if v < 0:
        raise TypeMismatch(text)
    return v


def _float(text, ctx):
    try:
        v = float(text)
    except ValueError:
        raise TypeMismatch(text) from None
    if v != v or v in (float("inf"), float("-inf")):
        raise TypeMismatch(text)
    return v


_DOTTED = re.compile(r"\d{1,3}(\.\d{1,3}){3}")


def _ip4(text, ctx):
    if not _DOTTED.fullmatch(text):
        raise TypeMismatch(text)
    try:
        return ipaddress.IPv4Address(text)
    except ValueError:
        raise TypeMismatch(text) from None


def _ip4_prefix(text, ctx):
    addr, sep, plen = text.partition("/")
    if not sep or not (plen.isascii() and plen.isdigit()) or int(plen) > 32:
        raise TypeMismatch(text)
    return ipaddress.IPv4Interface(f"{_ip4(addr, ctx)}/{int(plen)}")


_MAC_COLON = re.compile(r"[0-9a-fA-F]{1,2}(:[0-9a-fA-F]{1,2}){5}")
_MAC_DOT = re.compile(r"[0-9a-fA-F]{4}\.[0-9a-fA-F]{4}\.[0-9a-fA-F]{4}")


def _mac(text, ctx):
    if _MAC_COLON.fullmatch(text):
        return bytes(int(x, 16) for x in text.split(":"))
    if _MAC_DOT.fullmatch(text):
        return bytes.fromhex(text.replace(".", ""))
    raise TypeMismatch(text)


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
        ArgType("n", _uint, "expected number `%s'"),
        ArgType("float", _float, "expected number `%s'"),
        ArgType("ip4-address", _ip4, "expected IP4 address `%s'"),
        ArgType("ip4-prefix", _ip4_prefix, "expected IP4/IP6 address/length `%s'"),
        ArgType("mac-address", _mac, "expected MAC address `%s'"),
        ArgType("file", _word, "expecting file name, got `%s'", _files),
        ArgType("word", _word),
        ArgType("block", _block, "expected `{ ... }' block `%s'"),
        ArgType("rest", _word, rest=True),
    )
}
