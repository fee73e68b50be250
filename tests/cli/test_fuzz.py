"""Hypothesis throws random and mangled command lines at the parser and the live engine:
each gets a VPP-style result or error, never a traceback, an internal error or a hang."""

import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vppsh.cli.grammar import load_tree, match_args, ParseFailure, tokenize

TREE = load_tree()
PATHS = [" ".join(n.path) for n in TREE.root.walk() if n.cmd is not None]
# commands that would end the session or sleep for a random time are not fuzzed
SKIP = re.compile(r"^(quit|q|exit|wait|exec)\b")
# ...and on the live engine, neither are those that touch the host (namespaces, host links, files):
# their syntax is fuzzed by the parser test, their behaviour by the system tests.
HOST = re.compile(r"^\s*(cre\w*\s+(tap|h\w*)|pc\w*\s+t\w*|pa[\w-]*\s+cap\w*|def\w*|ping)\b")
VOCAB = ["up", "down", "verbose", "max", "0", "1", "256", "-1", "99999999999", "loop0", "local0", "pg0",
         "10.0.0.1", "10.0.0.0/8", "1.2.3.4/33", "de:ad:00:00:00:01", "{", "}", "{ }", "{ name x }", "?",
         "mac", "instance", "name", "limit", "data", "IP4:", "->", "null-node", "pg-input", "\t", "é", "'", "`",
         # the usual range edges: u8, u16, int, u32, u64 and beyond, MTUs, floats that are no number
         "255", "256", "65535", "65536", "9216", "9217", "2147483647", "2147483648", "4294967295",
         "4294967296", "18446744073709551616", "1e999", "nan", "-0", "0x100000000", "\ufffd"]

mangled = st.builds(
    lambda path, words: " ".join([path] + words),
    st.sampled_from(PATHS),
    st.lists(st.one_of(st.sampled_from(VOCAB), st.text(min_size=1, max_size=8)), max_size=8),
).filter(lambda l: not SKIP.match(l.strip()))
anything = st.text(max_size=80).filter(lambda l: not SKIP.match(l.strip()) and "\n" not in l and "\r" not in l)


@settings(max_examples=3000, deadline=None)
@given(st.one_of(mangled, anything))
def test_parser_never_crashes(line):
    toks = tokenize(line)
    node, i = TREE.root, 0
    while i < len(toks) and node.child(toks[i].text) is not None:
        node, i = node.child(toks[i].text), i + 1
    if node.cmd is not None:
        try:
            match_args(node.cmd.items, toks[i:], line, None)
        except ParseFailure as e:
            assert re.search(r"`.*'$", str(e), re.S), str(e)


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.one_of(mangled, anything))
def test_live_engine_answers_everything(shell, line):
    if HOST.match(line):
        return
    shell.out.clear()
    err = shell.engine.run(line, timeout=10)
    text = "".join(shell.out)
    assert "Traceback" not in text
    if err is not None:
        assert "internal error" not in err, (line, err)
        assert "Traceback" not in err


# ------------------------------------------------------------ numbers at and beyond their ranges
# Every numeric placeholder of every command gets values at its range's edges and beyond:
# in range, the line parses to that value and the engine runs it without an internal error;
# out of range, the parse fails with the command's own wording. Lines are built from the grammar
# (the other placeholders get valid values), so each reaches the placeholder under test.

import random

import pytest

from vppsh.cli.grammar import Alt, Kw, Opt, Ph, Rep, Seq

VALID = {"interface": "loop0", "node": "pg-input", "node-name": "pg-input", "stream": "s0",
         "ip4-address": "10.9.0.1", "ip4-prefix": "10.9.0.0/24", "ip6-address": "2001:db8:9::1",
         "ip6-prefix": "2001:db8:9::/64", "mac-address": "de:ad:00:00:00:01",
         "file": "/nonexistent/x", "word": "x", "block": "{ }", "rest": "x"}
# Lines whose run time grows with a number (a million routes, hours of pinging) are parsed
# but not run at their upper edge; the host-touching ones are not run at all (as above).
SLOW = re.compile(r"^(ip route|set ip neighbor|ip neighbor|test echo clients|ping)\b")


def _edges(ph: Ph) -> list[tuple[str, bool]]:
    """(text, in range) at and beyond the edges of a placeholder's range."""
    lo, hi = ph.lo, ph.hi
    if ph.type.name == "float":
        inside = [lo, hi, (lo + hi) / 2]
        outside = [hi + max(1e-3, hi * 1e-9), hi * 2 + 1, 1e308]
        if lo > 0:
            outside.append(lo / 2)
        return ([(repr(v), True) for v in inside] + [(repr(v), False) for v in outside]
                + [(t, False) for t in ("1e999", "-1e999", "nan", "inf", "-1", "0x10")])
    inside = sorted({lo, hi, lo + 1 if lo < hi else lo, (lo + hi) // 2})
    outside = [hi + 1, hi * 10 + 9, 10 ** 20, 10 ** 70]
    texts = [(str(v), True) for v in inside] + [(str(v), False) for v in outside]
    texts += [(hex(hi + 1), False), ("-1", False), ("1.5", False), ("9" * 5000, False)]
    if lo > 0:
        texts.append((str(lo - 1), False))
    return texts


def _contains(node, target) -> bool:
    if node is target:
        return True
    if isinstance(node, (Opt, Rep)):
        return _contains(node.item, target)
    if isinstance(node, Seq):
        return any(_contains(i, target) for i in node.items)
    if isinstance(node, Alt):
        return any(_contains(o, target) for o in node.options)
    return False


def _words(node, target, value, rng) -> list[str]:
    """Words for `node`: the path to `target` (given `value`), valid choices elsewhere."""
    if isinstance(node, Kw):
        return [node.words[0]]
    if isinstance(node, Ph):
        if node is target:
            return [value]
        if node.lo is not None:
            return [str(node.lo) if node.type.name == "n" else repr(float(node.lo))]
        return [VALID[node.type.name]]
    if isinstance(node, Seq):
        return [w for i in node.items for w in _words(i, target, value, rng)]
    if isinstance(node, Alt):
        opts = [o for o in node.options if _contains(o, target)] or node.options
        return _words(rng.choice(opts), target, value, rng)
    if isinstance(node, (Opt, Rep)):
        return _words(node.item, target, value, rng)
    raise TypeError(node)


def _placeholders(node):
    if isinstance(node, Ph):
        yield node
    elif isinstance(node, (Opt, Rep)):
        yield from _placeholders(node.item)
    elif isinstance(node, (Seq, Alt)):
        for i in getattr(node, "items", None) or node.options:
            yield from _placeholders(i)


def _edge_cases():
    rng = random.Random(14)
    for n in TREE.root.walk():
        cmd = n.cmd
        if cmd is None or SKIP.match(" ".join(n.path)):
            continue
        for ph in (p for item in cmd.items for p in _placeholders(item) if p.lo is not None):
            for text, ok in _edges(ph):
                words = list(n.path)
                for item in cmd.items:
                    if _contains(item, ph) or not isinstance(item, Opt):
                        words += _words(item, ph, text, rng)
                yield pytest.param(cmd, ph, " ".join(words), text, ok, id=f"{' '.join(words)[:60]}")


EDGES = list(_edge_cases())


def test_every_numeric_placeholder_is_tried():
    phs = {id(p) for n in TREE.root.walk() if n.cmd is not None and not SKIP.match(" ".join(n.path))
           for item in n.cmd.items for p in _placeholders(item) if p.type.numeric}
    assert phs and phs == {id(c.values[1]) for c in EDGES}


@pytest.fixture(scope="module")
def edge_shell():
    from tests.helpers.shell import Shell

    s = Shell()
    s.run("create loopback interface")
    s.run("create packet-generator interface pg0")
    s.run("packet-generator new { name s0 limit 1 node null-node data { hex 0x00 } }")
    yield s
    s.close()


@pytest.mark.parametrize("cmd,ph,line,text,ok", EDGES)
def test_numbers_at_and_beyond_their_range(edge_shell, cmd, ph, line, text, ok):
    path = " ".join(cmd.path)
    toks = tokenize(line)[len(cmd.path):]
    ctx = edge_shell.engine.session.ctx
    try:
        args = edge_shell.call(lambda: match_args(cmd.items, toks, line, ctx, cmd.error))
    except ParseFailure as e:
        assert not ok, f"`{line}': {e}"
        msg = str(e)
        lead = cmd.error.split("%s")[0]
        assert msg.startswith(lead), msg
        if "%s" in cmd.error and len(text) < 30:
            assert text[:8] in msg, msg  # quoted from the start of the unformat call that failed
        assert edge_shell.error(line) == f"{path}: {msg}"
        return
    if not ok:  # only a catch-all `<junk:rest>` may swallow a bad number, and the handler refuses it
        assert "junk" in args, (line, args)
        assert "unknown input" in edge_shell.error(line)
        return
    want = float(text) if ph.type.name == "float" else int(text)
    assert any(v == want for v in args.values() if isinstance(v, (int, float)) and not isinstance(v, bool)), args
    if HOST.match(line) or (SLOW.match(line) and want > max(ph.lo, 1) * 4):
        return
    edge_shell.out.clear()
    err = edge_shell.engine.run(line, timeout=30)
    assert "Traceback" not in "".join(edge_shell.out)
    assert err is None or ("internal error" not in err and "Traceback" not in err), (line, err)


def test_no_node_failed_during_the_edge_runs(edge_shell):
    """What passed the parse did not break the engine later: no node or timer raised."""
    edge_shell.run("wait 0.2")
    logs = [m for _t, _l, _c, m in edge_shell.vm.logs.entries if "Traceback" in m]
    assert not logs, logs[0]
