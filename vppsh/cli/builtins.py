"""The CLI's own commands: echo, wait, exec, quit, help-adjacent introspection, macros, history."""

from __future__ import annotations

import errno
import math
import os

from ..vlib.process import Wait
from ..vlib.errors import CliError
from .dispatch import CliFailure, Quit, expand_macros, logical_lines, run_line


def echo(ctx, a):
    ctx.out(a.get("text", ""))


def wait(ctx, a):
    sec = a["seconds"]  # the grammar holds the range; VPP also wants no more than ms precision
    if math.floor(sec * 1000) / 1000 != sec:
        raise CliError("<sec> must be a positive value and less than 86400 (one day) with no more than msec precision.")
    yield Wait(sec)


def quit_(ctx, a):
    raise Quit


def exec_(ctx, a):
    path = a.get("file")
    if not path:
        raise CliError("expecting file name, got `'")
    try:
        st = os.stat(path)
    except OSError as e:
        raise CliError(f"failed to open `{path}': {os.strerror(e.errno)}") from None
    except ValueError:  # a NUL in the name: no such file can exist
        raise CliError(f"failed to open `{path}': {os.strerror(errno.EINVAL)}") from None
    if not os.path.isfile(path):
        raise CliError(f"not a regular file `{path}'")
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            text = f.read()
    except OSError as e:
        raise CliError(f"failed to open `{path}': {os.strerror(e.errno)}") from None
    if st.st_size == 0 or not text.strip():
        raise CliError(f"empty file `{path}'")
    macros = ctx.session.macros if ctx.session is not None else {}
    for _no, line in logical_lines(text):
        line = expand_macros(line, macros)
        try:
            yield from run_line(ctx, line)
        except CliFailure as e:
            ctx.out(str(e))
            raise CliError(f"CLI line error: {line}") from None


def define(ctx, a):
    ctx.session.macros[a["name"]] = a["value"]


def undefine(ctx, a):
    ctx.session.macros.pop(a["name"], None)


def show_macro(ctx, a):
    for k in sorted(ctx.session.macros):
        ctx.out(f"{k:<16} {ctx.session.macros[k]}")


def history(ctx, a):
    for i, line in enumerate(ctx.session.history, 1):
        ctx.out(f"{i:>4}  {line}")


def show_cli(ctx, a):
    for n in ctx.tree.root.walk():
        if n.cmd is not None:
            ctx.out(" ".join(n.path))
