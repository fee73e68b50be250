"""The grammar compiler: syntax lines -> parse, typed placeholders, abbreviation, completion, help."""

import pytest

from vppsh.cli.complete import complete
from vppsh.cli.grammar import CommandTree, GrammarError, ParseFailure, load_tree, match_args, tokenize


def parse(cmd, line, ctx=None):
    return match_args(cmd.items, tokenize(line), line, ctx)


@pytest.fixture
def tree():
    t = CommandTree()
    t.load_text("""
show                                            "Show commands"
show runtime [verbose|v] [max|m] [summary|sum|su] => a:b
show interface [address|addr] [<word>...]       => a:b
show ip fib [<ip4-prefix>]                      => a:b
show ip neighbors                               => a:b
show ip neighbor-config                         => a:b
create loopback interface [mac <mac-address>] [instance <n 0-16383>] => a:b
set interface state <word> [up|down]            => a:b
ip route [add|del] <ip4-prefix> {via <ip4-address> [<word>] | via drop} => a:b
echo [<text:rest>]                              => a:b
ping <ip4-address> [repeat <n 0-4294967295>] [interval <float 0-2147483>] [size <n 0-65535>] => a:b
packet-generator new {<block> | <text:rest>}    => a:b
""", "test")
    return t


def test_path_abbreviation_exact_word_wins(tree):
    r = tree.root
    assert r.child("sh").child("ru").name == "runtime"
    assert r.child("show").child("ip").child("neighbors").name == "neighbors"
    # `neighbor` is a prefix of neighbors and neighbor-config: ambiguous
    assert r.child("show").child("ip").child("neighbor") is None
    assert r.child("show").child("i") is None  # interface, ip: ambiguous
    assert r.child("cre").child("loop").child("int").cmd is not None


def test_options_any_order_and_aliases(tree):
    c = tree.root.child("show").child("runtime").cmd
    assert parse(c, "max v") == {"max": True, "verbose": True}
    assert parse(c, "sum") == {"summary": True}
    with pytest.raises(ParseFailure, match="unknown input `verbose'"):
        parse(c, "verbose verbose")  # each option once


def test_argument_keywords_are_not_abbreviated(tree):
    c = tree.root.child("show").child("runtime").cmd
    with pytest.raises(ParseFailure, match="unknown input `verb'"):
        parse(c, "verb")


def test_typed_placeholders(tree):
    c = tree.root.child("create").child("loopback").child("interface").cmd
    assert parse(c, "instance 7 mac 02:00:00:00:00:01") == {"instance": 7, "mac": bytes([2, 0, 0, 0, 0, 1])}
    assert parse(c, "mac aabb.ccdd.eeff")["mac"] == bytes.fromhex("aabbccddeeff")
    with pytest.raises(ParseFailure, match="expected MAC address `zz'"):
        parse(c, "mac zz")
    with pytest.raises(ParseFailure, match="unknown input `instance -1'"):
        parse(c, "instance -1")


def test_numbers_carry_their_range():
    t = CommandTree()
    t.load_text("""
set mtu {<mtu:n 64-9216> <word> | {ip4|ip6} <mtu:n 68-65535> <word>} => a:b
wait <sec:float 0.001-86400>                                    => a:b  !"bad <sec>"
show trace [max <n 0-2147483647>] [verbose [<level:n 0-3>]]     => a:b  "Show trace"  !"expected 'max COUNT', got `%s'"
""", "test")
    mtu = t.root.child("set").child("mtu").cmd
    assert parse(mtu, "9216 x") == {"mtu": 9216, "word": "x"}
    assert parse(mtu, "ip4 65535 x") == {"ip4": True, "mtu": 65535, "word": "x"}
    for line in ("9217 x", "63 x", "ip4 67 x", "ip4 0x10000 x", "ip4 1e3 x", "ip4 -1 x", "ip4 " + "9" * 5000):
        with pytest.raises(ParseFailure) as e:  # the rest of the line from the group's start
            parse(mtu, line)
        assert str(e.value).startswith("unknown input `" + line[:20]), str(e.value)
    wait = t.root.child("wait").cmd
    assert parse(wait, "0.5") == {"sec": 0.5}
    for bad in ("0", "86400.5", "1e999", "nan", "inf", "1_0", "\u0661", ""):
        with pytest.raises(ParseFailure, match="^bad <sec>$"):
            match_args(wait.items, tokenize(bad), bad, None, wait.error)
    trace = t.root.child("show").child("trace").cmd
    assert trace.short_help == "Show trace"
    err = trace.error

    def fails(line):
        with pytest.raises(ParseFailure) as e:
            match_args(trace.items, tokenize(line), line, None, err)
        return str(e.value)

    assert fails("max 2147483648") == "expected 'max COUNT', got `max 2147483648'"
    assert fails("verbose 1 max x") == "expected 'max COUNT', got `max x'"
    assert fails("junk") == "expected 'max COUNT', got `junk'"
    assert fails("verbose 4") == "expected 'max COUNT', got `4'"  # the level is optional: `4' is left over


def test_numeric_placeholders_without_a_range_are_refused():
    for line in ("x <n> => a:b", "x <count:float> => a:b", "x <n 5-1> => a:b", "x <n -1-5> => a:b",
                 "x <word 1-2> => a:b", "x <n 1..2> => a:b", 'x <n 0-1> => a:b !"a %s and %s"'):
        with pytest.raises(GrammarError):
            CommandTree().load_text(line)


def test_required_groups_and_alternatives(tree):
    c = tree.root.child("ip").child("route").cmd
    a = parse(c, "add 10.0.0.0/8 via 10.1.1.1 tap0")
    assert str(a["ip4_prefix"]) == "10.0.0.0/8" and str(a["via"]) == "10.1.1.1" and a["word"] == "tap0"
    assert parse(c, "10.0.0.0/8 via drop")["drop"] is True
    with pytest.raises(ParseFailure, match="expected IP4/IP6 address/length `10.0.0.1 via 1.1.1.1'"):
        parse(c, "add 10.0.0.1 via 1.1.1.1")
    with pytest.raises(ParseFailure, match=r"unknown input `'"):
        parse(c, "add 10.0.0.0/8")


def test_repeat_collects_a_list(tree):
    c = tree.root.child("show").child("interface").cmd
    assert parse(c, "addr tap0 tap1") == {"address": True, "word": ["tap0", "tap1"]}


def test_rest_of_line_and_blocks(tree):
    c = tree.root.child("echo").cmd
    assert parse(c, "hello   there ") == {"text": "hello   there"}
    c = tree.root.child("packet-generator").child("new").cmd
    line = "{ name x data { IP4: 1.2.3 -> 4.5.6 } }"
    assert parse(c, line) == {"block": "name x data { IP4: 1.2.3 -> 4.5.6 }"}
    assert parse(c, "name x node null-node")["text"] == "name x node null-node"


def test_error_message_is_cut_at_30_chars(tree):
    c = tree.root.child("show").child("runtime").cmd
    with pytest.raises(ParseFailure) as e:
        parse(c, "x" * 40)
    assert str(e.value) == "unknown input `" + "x" * 30 + "...'"


def test_completion_paths_keywords(tree):
    assert complete(tree, None, "sh") == ["show"]
    assert complete(tree, None, "show ") == ["interface", "ip", "runtime"]
    assert complete(tree, None, "show ip ") == ["fib", "neighbor-config", "neighbors"]
    assert complete(tree, None, "show runtime m") == ["m", "max"]
    assert complete(tree, None, "show runtime max ") == ["su", "sum", "summary", "v", "verbose"]
    assert "instance" in complete(tree, None, "create loopback interface mac 02:00:00:00:00:01 ")
    assert "mac" not in complete(tree, None, "create loopback interface mac 02:00:00:00:00:01 ")


def test_bad_grammar_lines_are_rejected():
    t = CommandTree()
    with pytest.raises(GrammarError):
        t.load_text("show x [unbalanced => a:b")
    with pytest.raises(GrammarError):
        t.load_text("show y <no-such-type> => a:b")


def test_shipped_grammar_loads_and_every_handler_resolves():
    t = load_tree()
    cmds = [n.cmd for n in t.root.walk() if n.cmd is not None]
    assert len(cmds) > 30
    for c in cmds:
        assert callable(c.handler), c.path
