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


def test_numbers_out_of_range_in_vpp_wording(shell):
    """The grammar's ranges answer as each VPP handler words input its unformat cannot take
    (quoting from the unformat call that failed); handlers keep VPP's own checks inside them."""
    shell.run("create loopback interface")
    e = shell.error
    assert e("set interface mtu ip4 99999999999999999999 loop0") == \
        "set interface mtu: unknown input `ip4 99999999999999999999 loop0'"
    assert e("set interface mtu 9217 loop0") == "set interface mtu: unknown input `9217 loop0'"
    assert e("set interface mtu packet 67 loop0") == "set interface mtu: unknown input `packet 67 loop0'"
    shell.run("set interface mtu ip4 1400 loop0")
    shell.run("set interface ip address loop0 10.9.0.1/24")  # the issue: OverflowError here
    assert e("create loopback interface instance 16384") == \
        "create loopback interface: unknown input `instance 16384'"
    assert e("show trace max 2147483648") == "show trace: expected 'max COUNT', got `max 2147483648'"
    assert e("trace add pg-input 1e3") == "trace add: expected NODE COUNT, got `pg-input 1e3'"
    assert e("ip route add 10.0.0.0/8 table 4294967296 via drop") == \
        "ip route: parse error `table 4294967296 via drop'"
    assert e("ip route add 10.0.0.0/8 via 10.9.0.2 loop0 weight 256") == "ip route: parse error `weight 256'"
    assert e("ip route add count 1048577 10.0.0.0/32 via drop") == \
        "ip route: parse error `count 1048577 10.0.0.0/32 via ...'"
    assert e("set interface nsim loop0 delay 5 loss 100.5") == "set interface nsim: unknown input `loss 100.5'"
    assert e("show session verbose 2147483648") == "show session: unknown input `2147483648'"
    assert e("set ip reassembly timeout 0") == "set ip reassembly: unknown input `timeout 0'"
    # VPP's own checks inside the C type's range, in VPP's words
    assert e("wait 86401") == e("wait 0.0005") == ("wait: <sec> must be a positive value and less than 86400 "
                                                     "(one day) with no more than msec precision.")
    assert e("show udp ports 65536") == "show udp ports: wrong port 65536"
    assert e("show udp ports 2147483648") == "show udp ports: unknown input `2147483648'"
    assert e("ping 10.9.0.2 burst 257") == "ping: burst size must be between 1 and 256"
    assert e("ping 10.9.0.2 size 40000").startswith("ping: 40000 is bigger than maximum allowed payload size ")
    assert e("ping 10.9.0.2 repeat 4294967296") == "ping: unknown input `repeat 4294967296'"
    assert e("pcap trace rx max-bytes-per-pkt 9001") == "pcap trace: Max bytes per pkt must be > 32, < 9000..."
    assert e("create tap rx-ring-size 40000") == "create tap: ring size must be power of 2"
    assert e("create tap rx-ring-size 65536") == "create tap: unknown input `rx-ring-size 65536'"
    shell.run("session enable")
    assert e("set tcp mtu 70000") == "set tcp: mtu must not exceed 65535"
    assert e("set tcp probes 128") == "set tcp: unknown input `probes 128'"
    assert e("test echo clients nclients 65536") == "test echo clients: failed: unknown input `nclients 65536'"
    assert e("test echo server fifo-size 2097153") == "test echo server: failed: unknown input `fifo-size 2097153'"


def test_input_that_used_to_raise_is_refused(shell, tmp_path):
    """User input that reached Python's own limits (a NUL in a file name, a 5000-digit number)."""
    assert shell.error("exec /tmp/a\0b") == "exec: failed to open `/tmp/a\0b': Invalid argument"
    assert shell.error("show ip fib 1.2.3.4/" + "9" * 5000).startswith("show ip fib: unknown input `1.2.3.4/999")
    assert shell.error("test echo clients bytes 010x") == "test echo clients: failed: unknown input `bytes 010x'"
    shell.run("create packet-generator interface pg0")
    assert shell.error(f"packet-generator capture pg0 pcap {tmp_path}/a\0b") == \
        f"packet-generator capture: failed to open `{tmp_path}/a\0b': Invalid argument"
    assert shell.error("create packet-generator interface pg4294967296") == \
        "create packet-generator interface: unknown input `pg4294967296'"


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
