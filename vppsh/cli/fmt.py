"""vppinfra format() rules: column widths truncate, centre pads left-heavy, floats drop the leading zero.

Every VPP table is defined by these rules, so output matches column for column.
"""


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


def unformat_error(rest: str) -> str:
    """format_unformat_error: the remaining input, trailing space trimmed, cut at 30 chars."""
    rest = rest.rstrip().replace("\r", "\\r").replace("\n", "\\n").replace("\t", "\\t")
    return rest if len(rest) <= 30 else rest[:30] + "..."
