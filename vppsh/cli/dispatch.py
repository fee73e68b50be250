"""Run one command line the way VPP's CLI does: walk the path, parse, call, wrap errors.

Handlers take `(ctx, args)`, print with `ctx.out()`, fail by raising `CliError(msg)` (shown as
`<command path>: <msg>`), and may be generators that yield `Wait`/`WaitEvent` to suspend their
CLI process (ping, wait) without holding up the engine. Any other exception is logged with its
traceback for `show logging` and reported as one line: a traceback never reaches the user.
"""

from __future__ import annotations

import inspect
import re
import traceback

from ..vlib.errors import CliError
from ..wire.format import format_unformat_error, j
from .grammar import CmdNode, CommandTree, ParseFailure, match_args, tokenize


class CliFailure(Exception):
    """A failed command line, message complete (`show: unknown input `foo'`)."""


class Quit(Exception):
    """`quit`: end this CLI session."""


class Interrupted(Exception):
    """Ctrl-C while a command runs (thrown into the session's process at its current yield)."""


class Ctx:
    """What a handler sees: the engine, the output, the session (macros, history, terminal)."""

    def __init__(self, vm, tree: CommandTree, write, session=None) -> None:
        self.vm = vm
        self.tree = tree
        self._write = write
        self.session = session

    def out(self, text: str = "") -> None:
        """vlib_cli_output: a newline is added unless the text already ends with one."""
        self._write(text if text.endswith("\n") else text + "\n")


def _resolve(tree: CommandTree, toks) -> tuple[list[tuple[CmdNode, int]], int]:
    """The path nodes matched (with token counts) and how many tokens the path took."""
    node, i = tree.root, 0
    chain = [(node, 0)]
    while i < len(toks):
        c = node.child(toks[i].text)
        if c is None:
            break
        node, i = c, i + 1
        chain.append((node, i))
    return chain, i


def _help_lines(node: CmdNode, width: int, recursive: bool) -> list[str]:
    rows = []
    if recursive:
        if node.cmd is not None:
            rows.append((" ".join(node.path), node.cmd.short_help))
        for n in node.walk():
            if n.cmd is not None:
                rows.append((" ".join(n.path), n.cmd.short_help))
    else:
        for name in sorted(node.children):
            c = node.children[name]
            rows.append((name, c.cmd.short_help if c.cmd is not None and not c.help else c.help))
    return [f"  {j(p, width, '-')} {h}" for p, h in sorted(rows)]


def run_line(ctx: Ctx, line: str):
    """Execute one command line; a generator (drive it with `yield from` inside a process)."""
    toks = tokenize(line)
    if not toks:
        return
    first = toks[0].text
    if first == "comment":
        return
    if first in ("?", "choices"):
        ctx.out("\n".join(_help_lines(ctx.tree.root, 40, True)))
        return
    if first == "help":
        chain, i = _resolve(ctx.tree, toks[1:])
        node = chain[-1][0]
        if i + 1 < len(toks):
            raise CliFailure(f"help: unknown input `{format_unformat_error(line[toks[i + 1].start:])}'")
        if node.children:
            ctx.out("\n".join(_help_lines(node, 30, False)))
        elif node.cmd is not None:
            ctx.out(f"  {node.cmd.short_help}")
        return
    chain, i = _resolve(ctx.tree, toks)
    node = chain[-1][0]
    if i < len(toks) and toks[i].text in ("?", "choices"):
        ctx.out("\n".join(_help_lines(node, 40, True)))
        return
    if node is ctx.tree.root:
        raise CliFailure(f"unknown input `{format_unformat_error(line)}'")
    # The deepest node with a handler parses the rest; if it rejects it, a shallower handler
    # may still take the input (VPP's dispatcher falls back the same way).
    failure = None
    for n, used in reversed(chain[1:]):
        if n.cmd is None:
            continue
        try:
            args = match_args(n.cmd.items, toks[used:], line, ctx, n.cmd.error)
        except ParseFailure as e:
            failure = failure or (n, str(e))
            continue
        yield from _call(ctx, n, args)
        return
    if failure is not None:
        raise CliFailure(f"{' '.join(failure[0].path)}: {failure[1]}")
    rest = line[toks[i].start:] if i < len(toks) else ""
    raise CliFailure(f"{' '.join(node.path)}: unknown input `{format_unformat_error(rest)}'")


def _call(ctx: Ctx, node: CmdNode, args: dict):
    path = " ".join(node.path)
    try:
        r = node.cmd.handler(ctx, args)
        if inspect.isgenerator(r):
            yield from r
    except CliError as e:
        raise CliFailure(f"{path}: {e}") from None
    except (CliFailure, Quit, Interrupted):
        raise
    except Exception as e:
        ctx.vm.logs.add("err", "cli", f"`{path}' failed:\n{traceback.format_exc().rstrip()}")
        raise CliFailure(f"{path}: internal error: {type(e).__name__}: {e} (see show logging)") from None


# ------------------------------------------------------------ scripts


def logical_lines(text: str) -> list[tuple[int, str]]:
    """exec/batch files: `\\`-newline continues, `#` to end of line is a comment, blanks skipped.

    Returns (first physical line number, logical line). Braced blocks may span lines.
    """
    out: list[tuple[int, str]] = []
    buf, start, depth = "", 0, 0
    for no, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0]
        if not buf:
            start = no
        cont = line.rstrip().endswith("\\")
        if cont:
            line = line.rstrip()[:-1]
        buf += (" " if buf else "") + line.strip()
        depth += line.count("{") - line.count("}")
        if not cont and depth <= 0:
            if buf.strip():
                out.append((start, buf.strip()))
            buf, depth = "", 0
    if buf.strip():
        out.append((start, buf.strip()))
    return out


_MACRO = re.compile(r"\$(\{(\w+)\}|(\w+))")


def expand_macros(line: str, macros: dict[str, str]) -> str:
    return _MACRO.sub(lambda m: macros.get(m.group(2) or m.group(3), ""), line) if "$" in line else line
