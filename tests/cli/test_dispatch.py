"""The dispatcher as a user meets it: VPP error wording, help, `?`, exec, wait, macros."""

import time



def test_error_wording(shell):
    assert shell.error("foo") == "unknown input `foo'"
    assert shell.error("show foo") == "show: unknown input `foo'"
    assert shell.error("show") == "show: unknown input `'"
    assert shell.error("sh version junk") == "show version: unknown input `junk'"
    assert shell.error("show hardware-interfaces br") == "show hardware-interfaces: unknown input `br'"
    assert shell.error("set interface state tap9 up") == "set interface state: unknown interface `tap9 up'"
    assert shell.error("show interface bogus") == "show interface: unknown input `bogus'"
    assert shell.error("show trace junk") == "show trace: expected 'max COUNT', got `junk'"
    assert shell.error("trace add nonode 10") == "trace add: expected NODE COUNT, got `nonode 10'"
    assert shell.error("exec /nonexistent.cli") == \
        "exec: failed to open `/nonexistent.cli': No such file or directory"


def test_abbreviations(shell):
    assert shell.run("sh ver").startswith("vppsh v")
    assert "Name" in shell.run("sh int")
    assert shell.run("loop cre") == "loop0\n"
    assert shell.run("cre loop int") == "loop1\n"
    shell.run("set int st loop0 up")
    assert "loop0" in shell.run("sh hard loop0")


def test_help_and_question_mark(shell):
    out = shell.run("help")
    assert "  show" in out and "Show commands" in out
    out = shell.run("show interface ?")
    first = out.splitlines()[0]
    assert first.startswith("  show interface ") and "[address|addr]" in first
    assert shell.run("sh ver?").startswith("  show version")
    assert "show runtime" in shell.run("?")


def test_comment_and_blank(shell):
    assert shell.run("comment { anything at all }") == ""
    assert shell.run("   ") == ""


def test_exec_stops_at_first_failing_line(shell, tmp_path):
    f = tmp_path / "s.cli"
    f.write_text("echo one\n# a comment\necho two \\\n  continued\nbogus line\necho never\n")
    err = shell.error(f"exec {f}")
    assert err == "exec: CLI line error: bogus line"
    text = "".join(shell.out)
    assert "one\ntwo continued\nunknown input `bogus line'\n" == text


def test_macros_in_exec(shell, tmp_path):
    f = tmp_path / "m.cli"
    f.write_text("echo $greeting, ${who}\n")
    shell.run("define greeting hello")
    shell.run("define who world")
    assert shell.run(f"exec {f}") == "hello, world\n"
    assert "greeting" in shell.run("show macro")


def test_wait_suspends_only_its_session(shell):
    t0 = time.monotonic()
    shell.run("wait 0.3")
    assert time.monotonic() - t0 >= 0.3
    out = shell.run("show runtime")
    assert "unix-cli-stdin" in out


def test_internal_error_never_shows_a_traceback(shell, monkeypatch):
    import vppsh.vlib.cli as vcli

    def boom(ctx, a):
        raise RuntimeError("kaboom")

    monkeypatch.setattr(vcli, "show_clock", boom)
    node = shell.engine.tree.root.child("show").child("clock")
    node.cmd._handler = None
    err = shell.error("show clock")
    assert err == "show clock: internal error: RuntimeError: kaboom (see show logging)"
    assert "Traceback" in shell.run("show logging")


def test_quit_ends_session(shell):
    shell.run("quit")
    assert shell.engine.quit_requested
