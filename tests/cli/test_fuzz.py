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
         "mac", "instance", "name", "limit", "data", "IP4:", "->", "null-node", "pg-input", "\t", "é", "'", "`"]

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
