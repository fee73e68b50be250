"""The grammar compiler: VPP short_help syntax lines -> a command tree that parses, completes and helps.

A grammar file (grammar/*.cli) holds one command per line:

    create loopback interface [mac <mac-address>] [instance <n 0-16383>]   => vnet.loopback:create  "help"
    show                                                            "Show commands"
    show trace [max <n 0-2147483647>]  => vlib.cli:show_trace  "help"  !"expected 'max COUNT', got `%s'"

The leading bare words are the command path (abbreviable to a unique prefix, exact word wins).
The rest is the argument syntax: `kw`, `a|b` alternatives, `[...]` optional, `{...}` required
group, `<type>` or `<name:type>` typed placeholders, `...` after an element to repeat it.
Top-level optional items may come in any order (VPP handlers loop over `unformat` calls), and
required items keep their order. pyparsing reads the syntax lines; a small backtracking matcher
walks the resulting tree, so parsing, TAB completion and help all come from one source.

Numbers: a numeric placeholder (`n`, an unsigned integer; `float`) must carry its range after
the type, `<mtu:n 64-9216>`, `<seconds:float 0.001-86400>`, bounds included. The range is
what the command accepts: VPP's (or Linux's) limit for that value, or, where VPP's handler
checks a narrower limit with a message of its own (`burst size must be between 1 and 256`),
the C type VPP reads the value into (`%u`: 0-4294967295), the handler keeping VPP's check.
So a value that passes the parse fits whatever the engine stores it in.

A bad number (not a number, or out of range) is reported as VPP's `unformat` loop reports it:
the handler's error for input it cannot parse, quoting the rest of the line from the start of
the unformat call that failed: the innermost `[...]`/`{...}` group around the number, or the
command's arguments when there is none (`set interface mtu: unknown input `ip4 1e99 loop0'`).
That error is `unknown input `%s'` unless the line gives the handler's own after a `!`, as
`show trace` does above; it is also used for any input that matches nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Callable, Iterator

import pyparsing as pp

from ..wire.format import format_unformat_error
from .types import TYPES, ArgType, TypeMismatch
import importlib


class GrammarError(Exception):
    """A grammar file line that does not compile (a bug in vppsh, reported at load)."""


class ParseFailure(Exception):
    """Input that does not match a command's syntax; the message is VPP's wording."""


UNKNOWN_INPUT = "unknown input `%s'"


# ---------------------------------------------------------------- syntax tree


@dataclass
class Kw:
    words: tuple[str, ...]
    keys: tuple[str, ...]  # binding key per word (aliases bind their canonical word's key)


@dataclass
class Ph:
    key: str
    type: ArgType
    lo: float | None = None  # the range of a numeric placeholder, bounds included
    hi: float | None = None


@dataclass
class Seq:
    items: list


@dataclass
class Alt:
    options: list


@dataclass
class Opt:
    item: object


@dataclass
class Rep:
    item: object


def _key(word: str) -> str:
    return word.replace("-", "_")


def _kw_alternatives(words: list[str]) -> Kw:
    """`verbose|v`: a word that abbreviates an earlier one is its alias (binds the same key)."""
    keys = []
    for i, w in enumerate(words):
        canon = next((p for p in words[:i] if p.startswith(w)), w)
        keys.append(_key(canon))
    return Kw(tuple(words), tuple(keys))


def _meta_parser() -> pp.ParserElement:
    kw = pp.Regex(r"[A-Za-z0-9_.\-/:+]+").set_name("keyword")
    ph = pp.Regex(r"<[^<>]+>").set_name("placeholder")
    elem = pp.Forward()
    seq = pp.Group(pp.OneOrMore(elem))("seq")
    alts = pp.Group(seq + pp.ZeroOrMore(pp.Suppress("|") + seq))
    opt = pp.Group(pp.Literal("[") + alts + pp.Suppress("]"))
    req = pp.Group(pp.Literal("{") + alts + pp.Suppress("}"))
    elem <<= pp.Group((opt | req | ph | kw) + pp.Optional(pp.Literal("...")))
    return alts + pp.StringEnd()


_META = None


def _convert_seq(parsed) -> Seq:
    items: list = []
    for el in parsed:
        atom, rep = el[0], len(el) > 1
        if isinstance(atom, str) and not atom.startswith("<"):
            node = Kw((atom,), (_key(atom),))
        elif isinstance(atom, str):
            spec, _, rng = atom[1:-1].partition(" ")
            name, _, tname = spec.partition(":")
            tname = tname or name
            if tname not in TYPES:
                raise GrammarError(f"unknown placeholder type <{tname}>")
            lo, hi = _range(TYPES[tname], rng.strip(), atom)
            key = name if ":" in spec else None
            if key is None:  # a placeholder after a keyword is named by it: `mac <mac-address>`
                prev = items[-1] if items else None
                key = name
                if isinstance(prev, Kw) and len(prev.words) == 1 and prev.keys[0]:
                    key, prev.keys = prev.keys[0], (None,)  # the value binds, not the keyword
            node = Ph(_key(key), TYPES[tname], lo, hi)
        else:
            node = _convert_alts(atom[1])
            node = Opt(node) if atom[0] == "[" else node
        items.append(Rep(node) if rep else node)
    return Seq(items)


_RANGE = re.compile(r"(-?[0-9]+(?:\.[0-9]+)?)-(-?[0-9]+(?:\.[0-9]+)?)")


def _range(t: ArgType, text: str, atom: str) -> tuple:
    """`lo-hi` of a numeric placeholder; every numeric placeholder has one, no other has any."""
    if not t.numeric:
        if text:
            raise GrammarError(f"{atom}: only numbers take a range")
        return None, None
    m = _RANGE.fullmatch(text)
    if m is None:
        raise GrammarError(f"{atom}: a number needs its range, `<{t.name} LO-HI>'")
    conv = float if t.name == "float" else int
    try:
        lo, hi = conv(m.group(1)), conv(m.group(2))
    except ValueError:
        raise GrammarError(f"{atom}: bad range `{text}'") from None
    if lo > hi or (conv is int and lo < 0):
        raise GrammarError(f"{atom}: bad range `{text}'")
    return lo, hi


def _convert_alts(parsed):
    seqs = [_convert_seq(s) for s in parsed]
    if len(seqs) == 1:
        s = seqs[0]
        return s.items[0] if len(s.items) == 1 else s
    if all(len(s.items) == 1 and isinstance(s.items[0], Kw) for s in seqs):
        return _kw_alternatives([w for s in seqs for w in s.items[0].words])
    return Alt([s.items[0] if len(s.items) == 1 else s for s in seqs])


def compile_args(syntax: str) -> list:
    """Compile the argument part of a syntax line into top-level items."""
    global _META
    if not syntax.strip():
        return []
    if _META is None:
        _META = _meta_parser()
    try:
        parsed = _META.parse_string(syntax, parse_all=True)
    except pp.ParseException as e:
        raise GrammarError(f"bad syntax `{syntax}': {e}") from None
    top = _convert_alts(parsed[0])
    if isinstance(top, Seq):
        return top.items
    return [top]


# ---------------------------------------------------------------- input tokens


@dataclass
class Token:
    text: str
    start: int


def tokenize(line: str) -> list[Token]:
    """Split on blanks; a `{...}` block (nesting allowed) is one token; a trailing `?` is its own."""
    toks: list[Token] = []
    i, n = 0, len(line)
    while i < n:
        c = line[i]
        if c.isspace():
            i += 1
            continue
        start = i
        if c == "{":
            depth = 0
            while i < n:
                if line[i] == "{":
                    depth += 1
                elif line[i] == "}":
                    depth -= 1
                    if depth == 0:
                        i += 1
                        break
                i += 1
            toks.append(Token(line[start:i], start))
            continue
        while i < n and not line[i].isspace() and line[i] != "{":
            i += 1
        word = line[start:i]
        if len(word) > 1 and word.endswith("?"):
            toks.append(Token(word[:-1], start))
            toks.append(Token("?", i - 1))
        else:
            toks.append(Token(word, start))
    return toks


# ---------------------------------------------------------------- matcher


class _Budget(Exception):
    pass


@dataclass
class _State:
    toks: list[Token]
    line: str
    ctx: object
    steps: int = 0
    far: int = -1
    far_msg: str | None = None
    expect: list | None = None  # completion mode: elements wanted at end of input
    bad_number: int = -1  # farthest start of an unformat call that failed on a number

    def fail(self, pos: int, msg: str | None) -> None:
        if pos > self.far:
            self.far, self.far_msg = pos, msg
        elif pos == self.far and msg and not self.far_msg:
            self.far_msg = msg

    def tick(self) -> None:
        self.steps += 1
        if self.steps > 50000:
            raise _Budget


def _m(node, pos: int, st: _State, committed: bool, anchor: int) -> Iterator[tuple[int, tuple]]:
    """Yield (new position, bindings) for every way `node` matches at `pos`.

    `anchor` is where the unformat call that would read `node` starts (the enclosing group).
    """
    st.tick()
    toks = st.toks
    if isinstance(node, Kw):
        if pos < len(toks):
            try:
                i = node.words.index(toks[pos].text)
            except ValueError:
                st.fail(pos, None)
                return
            yield pos + 1, (((node.keys[i], True),) if node.keys[i] else ())
        else:
            if st.expect is not None:
                st.expect.append(node)
            st.fail(pos, None)
    elif isinstance(node, Ph):
        yield from _ph(node, pos, st, committed, anchor)
    elif isinstance(node, Seq):
        yield from _seq(node.items, 0, pos, st, committed, pos)
    elif isinstance(node, Alt):
        for o in node.options:
            yield from _m(o, pos, st, committed, pos)
    elif isinstance(node, Opt):
        yield from _m(node.item, pos, st, False, pos)
        yield pos, ()
    elif isinstance(node, Rep):
        for p, b in _m(node.item, pos, st, committed, anchor):
            b = tuple((k, [v]) for k, v in b)
            yielded = False
            if p > pos:
                for p2, b2 in _m(node, p, st, False, p):
                    yielded = True
                    yield p2, _merge_lists(b, b2)
            if not yielded:
                yield p, b
    else:  # pragma: no cover - grammar compiler bug
        raise TypeError(node)


def _ph(node: Ph, pos: int, st: _State, committed: bool, anchor: int) -> Iterator[tuple[int, tuple]]:
    toks, t = st.toks, node.type
    if pos >= len(toks):
        if st.expect is not None:
            st.expect.append(node)
        elif committed and t.numeric:
            st.bad_number = max(st.bad_number, anchor)
        st.fail(pos, t.error if committed else None)
        return
    if t.rest:
        yield len(toks), ((node.key, st.line[toks[pos].start:].rstrip()),)
        return
    try:
        value = t.parse(toks[pos].text, st.ctx)
    except TypeMismatch:
        if committed and t.numeric:
            st.bad_number = max(st.bad_number, anchor)
        st.fail(pos, t.error if committed and not t.numeric else None)
        return
    if node.lo is not None and not node.lo <= value <= node.hi:
        st.bad_number = max(st.bad_number, anchor)  # a number, meant for this place: too big
        st.fail(pos, None)
        return
    yield pos + 1, ((node.key, value),)


def _merge_lists(a: tuple, b: tuple) -> tuple:
    d: dict = {}
    for k, v in a + b:
        d.setdefault(k, []).extend(v)
    return tuple(d.items())


def _seq(items: list, i: int, pos: int, st: _State, committed: bool, anchor: int) -> Iterator[tuple[int, tuple]]:
    if i == len(items):
        yield pos, ()
        return
    for p, b in _m(items[i], pos, st, committed, anchor):
        for p2, b2 in _seq(items, i + 1, p, st, committed or p > pos, anchor):
            yield p2, b + b2


def _first_kw(node, word: str) -> bool:
    """Does `node` start with a keyword spelled `word`? (Keywords are tried before placeholders.)"""
    while True:
        if isinstance(node, Kw):
            return word in node.words
        if isinstance(node, (Opt, Rep)):
            node = node.item
        elif isinstance(node, Seq):
            node = node.items[0]
        elif isinstance(node, Alt):
            return any(_first_kw(o, word) for o in node.options)
        else:
            return False


def _top(items: list, req: list, opt: list, pos: int, ri: int, used: frozenset, st: _State):
    """Required items in order, optional items interleaved anywhere, each at most once."""
    toks = st.toks
    if pos == len(toks) and ri == len(req):
        yield pos, ()
        if st.expect is None:
            return
    word = toks[pos].text if pos < len(toks) else None
    cands = [(o, False) for o in opt if o not in used]
    if ri < len(req):
        cands.append((req[ri], True))
    if word is not None:
        cands.sort(key=lambda c: not _first_kw(items[c[0]], word))
    elif ri < len(req) and st.expect is None:
        # end of input with a required item left: record why (its placeholder error if any)
        list(_m(items[req[ri]], pos, st, True, 0))
        return
    for idx, is_req in cands:
        node = items[idx]
        inner = node.item if isinstance(node, Opt) else node
        for p, b in _m(inner, pos, st, is_req, 0 if is_req else pos):
            if p == pos and not is_req:
                continue
            if is_req:
                rest = _top(items, req, opt, p, ri + 1, used, st)
            else:
                rest = _top(items, req, opt, p, ri, used | {idx}, st)
            for p2, b2 in rest:
                yield p2, b + b2
    if pos < len(toks):
        st.fail(pos, None)


def match_args(items: list, toks: list[Token], line: str, ctx, error: str = UNKNOWN_INPUT) -> dict:
    """Parse argument tokens against compiled items; return bindings or raise ParseFailure.

    `error` is the command's wording for input it cannot parse (see the module docstring).
    """
    st = _State(toks, line, ctx)
    req = [i for i, it in enumerate(items) if not isinstance(it, Opt)]
    opt = [i for i, it in enumerate(items) if isinstance(it, Opt)]
    try:
        for _pos, binds in _top(items, req, opt, 0, 0, frozenset(), st):
            out: dict = {}
            for k, v in binds:
                if isinstance(v, list) and isinstance(out.get(k), list):
                    out[k].extend(v)
                else:
                    out.setdefault(k, v)
            return out
    except (_Budget, RecursionError):
        pass
    far, msg = max(st.far, 0), st.far_msg or error
    if st.bad_number >= 0:
        far, msg = st.bad_number, error
    rest = line[toks[far].start:] if far < len(toks) else ""
    raise ParseFailure(msg % format_unformat_error(rest) if "%s" in msg else msg)


def expected_next(items: list, toks: list[Token], line: str, ctx) -> list:
    """Every Kw/Ph that could follow `toks` (for TAB completion)."""
    st = _State(toks, line, ctx, expect=[])
    req = [i for i, it in enumerate(items) if not isinstance(it, Opt)]
    opt = [i for i, it in enumerate(items) if isinstance(it, Opt)]
    try:
        for _ in _top(items, req, opt, 0, 0, frozenset(), st):
            pass
    except (_Budget, RecursionError):
        pass
    return st.expect


# ---------------------------------------------------------------- the command tree


@dataclass
class Command:
    path: tuple[str, ...]
    syntax: str
    items: list
    handler_name: str
    help: str
    error: str = UNKNOWN_INPUT  # the handler's wording for input it cannot parse
    _handler: Callable | None = None

    @property
    def handler(self) -> Callable:
        if self._handler is None:
            mod, _, fn = self.handler_name.partition(":")
            self._handler = getattr(importlib.import_module("vppsh." + mod), fn)
        return self._handler

    @property
    def short_help(self) -> str:
        return self.help or " ".join(self.path + ((self.syntax,) if self.syntax else ()))


@dataclass
class CmdNode:
    name: str
    path: tuple[str, ...] = ()
    children: dict[str, "CmdNode"] = field(default_factory=dict)
    cmd: Command | None = None
    help: str = ""

    def child(self, word: str) -> "CmdNode | None":
        """VPP's sub-command match: exact word wins, else a unique prefix."""
        c = self.children.get(word)
        if c is not None:
            return c
        if not word or not re.fullmatch(r"[A-Za-z0-9_\-]+", word):
            return None
        cands = [c for name, c in self.children.items() if name.startswith(word)]
        return cands[0] if len(cands) == 1 else None

    def walk(self) -> Iterator["CmdNode"]:
        for name in sorted(self.children):
            c = self.children[name]
            yield c
            yield from c.walk()


_LINE = re.compile(r'^(?P<syntax>.*?)\s*(?:=>\s*(?P<handler>[\w.]+:\w+))?\s*(?:"(?P<help>[^"]*)")?'
                   r'\s*(?:!"(?P<error>[^"]*)")?\s*$')


def _split_path(syntax: str) -> tuple[tuple[str, ...], str]:
    words = syntax.split()
    path = []
    for w in words:
        if re.fullmatch(r"[A-Za-z0-9_\-]+", w):
            path.append(w)
        else:
            break
    rest = syntax.split(None, len(path))[len(path)] if len(words) > len(path) else ""
    return tuple(path), rest


class CommandTree:
    """All commands, loaded from grammar files; the single source for parse, completion and help."""

    def __init__(self) -> None:
        self.root = CmdNode("")

    def node(self, path: tuple[str, ...]) -> CmdNode:
        n = self.root
        for i, w in enumerate(path):
            n = n.children.setdefault(w, CmdNode(w, path[: i + 1]))
        return n

    def add_line(self, line: str, where: str = "") -> None:
        m = _LINE.match(line)
        if not m or not m.group("syntax"):
            raise GrammarError(f"{where}: cannot read `{line}'")
        path, args = _split_path(m.group("syntax"))
        if not path:
            raise GrammarError(f"{where}: no command path in `{line}'")
        if m.group("handler") is None:
            if args or m.group("error"):
                # A handler-less line names a path with a prose help, nothing else.
                raise GrammarError(f"{where}: arguments without a handler in `{line}'")
            self.node(path).help = m.group("help") or ""
            return
        try:
            items = compile_args(args)
        except GrammarError as e:
            raise GrammarError(f"{where}: {e}") from None
        node = self.node(path)
        if node.cmd is not None:
            raise GrammarError(f"{where}: duplicate command `{' '.join(path)}'")
        error = m.group("error") or UNKNOWN_INPUT
        if error.count("%s") > 1 or "%" in error.replace("%s", ""):
            raise GrammarError(f"{where}: the error wording takes one `%s' (the rest of the line)")
        node.cmd = Command(path, args, items, m.group("handler"), m.group("help") or "", error)

    def load_text(self, text: str, where: str = "") -> None:
        for no, raw in enumerate(text.splitlines(), 1):
            line = raw.split(" #", 1)[0].strip() if not raw.lstrip().startswith("#") else ""
            if line:
                self.add_line(line, f"{where}:{no}")


def grammar_dir():
    """The grammar files: top-level `grammar/` in a checkout, `vppsh.grammar` when installed."""
    from pathlib import Path

    src = Path(__file__).resolve().parents[2] / "grammar"
    if src.is_dir():
        return src
    from importlib import resources

    return resources.files("vppsh.grammar")


def load_tree() -> CommandTree:
    """Load every grammar file, in name order."""
    tree = CommandTree()
    for f in sorted((f for f in grammar_dir().iterdir() if f.name.endswith(".cli")), key=lambda f: f.name):
        tree.load_text(f.read_text(), f.name)
    return tree
