"""vppinfra's text formats: how VPP prints numbers and sizes, and quotes input it cannot parse.

Every VPP table is defined by format()'s rules (column widths truncate, centre pads left-heavy,
floats drop the leading zero), so output matches column for column. Pure functions: the CLI,
its handlers at every layer, and the packet generator's spec parser share them.
"""

from __future__ import annotations

import re


def j(s, w: int, how: str = "+") -> str:
    """Justify `s` in width `w`: '-' left, '+' right, '=' centre (odd pad on the left); longer is cut."""
    s = str(s)
    if w == 0:
        return s
    if len(s) > w:
        return s[:w]
    n = w - len(s)
    if how == "-":
        return s + " " * n
    if how == "+":
        return " " * n + s
    return " " * (n // 2 + n % 2) + s + " " * (n // 2)


def ff(x: float, prec: int = 2) -> str:
    """`%.Nf` as format_float prints it: no leading zero for |x| < 1, exact zero is `0.00`."""
    if x == 0:
        return "0." + "0" * prec if prec else "0"
    s = f"{abs(x):.{prec}f}"
    if s.startswith("0.") and prec:
        s = s[1:]
    return ("-" if x < 0 else "") + s


def fe(x: float, prec: int = 2) -> str:
    """`%.Ne` as format_float prints it: `2.64e2`, `5.47e-1`, zero `0.00e0`."""
    if x == 0:
        return f"{0:.{prec}f}e0"
    m, e = f"{x:.{prec}e}".split("e")
    return f"{m}e{int(e)}"


def format_memory_size(n: int) -> str:
    """format_memory_size: `1023`, `64k`, `1m`, `1.50m`."""
    lg = n.bit_length() - 1 if n > 0 else 0
    u = 0 if lg < 10 else 10 if lg < 20 else 20 if lg < 30 else 30
    s = f"{n / (1 << u):.2f}" if n & ((1 << u) - 1) else str(n >> u)
    return s + (" kmg"[u // 10] if u else "")


_SIZE = re.compile(r"(0x[0-9a-f]+|[0-9]+)([kmg]?)", re.I)


def unformat_memory_size(word: str, unit: str = "") -> int:
    """unformat_memory_size: `64k`, `1m`, `2g`, `0x100000`; a plain number counts `unit`s
    ("", "k", "m", "g"). ValueError if it is none of these."""
    m = _SIZE.fullmatch(word) if len(word) <= 24 else None
    if m is None:
        raise ValueError(word)
    n, shift = m.group(1), {"": 0, "k": 10, "m": 20, "g": 30}[m.group(2).lower() or unit]
    return int(n, 16 if n[:2].lower() == "0x" else 10) << shift


def format_unformat_error(rest: str) -> str:
    """format_unformat_error: the input not parsed, at most 30 characters then `...`; white
    space at its end trimmed when it is all shown; CR, LF and tab escaped."""
    if len(rest) > 30:
        shown, more = rest[:30], "..."
    else:
        shown, more = rest.rstrip(" \t\r\n"), ""
    return shown.replace("\r", "\\r").replace("\n", "\\n").replace("\t", "\\t") + more
