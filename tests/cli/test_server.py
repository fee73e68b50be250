"""The CLI socket: vppctl's protocol byte by byte, `vppsh -s` (run_client), telnet-style sessions,
several clients, misbehaving clients, and owning the socket path."""

from __future__ import annotations

import io
import os
import shutil
import socket
import tempfile
import time

import pytest

from vppsh.cli import server as server_mod
from vppsh.cli.client import TelnetParser, run_client, ttype_is
from vppsh.cli.grammar import load_tree
from vppsh.cli.server import NEGOTIATION, CliServer, ServerError
from vppsh.engine import make_vm

IAC, SB, SE, DO = 255, 250, 240, 253


@pytest.fixture
def sockdir():
    d = tempfile.mkdtemp(prefix="vsh")  # short: AF_UNIX paths are limited to 107 bytes
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def served(sockdir):
    vm = make_vm()
    vm.start()
    tree = load_tree()
    path = os.path.join(sockdir, "run", "cli.sock")
    srv = CliServer(vm, tree, path)
    vm.call(srv.start).result()
    yield vm, srv, path
    vm.call(srv.stop).result()
    vm.stop()


class Raw:
    """A hand-rolled client, to check the bytes on the wire."""

    def __init__(self, path: str, term: str | None = "vppctl") -> None:
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.settimeout(5)
        self.s.connect(path)
        self.buf = b""
        self.negotiation = self.read_n(len(NEGOTIATION))
        if term is not None:
            self.s.sendall(ttype_is(term))

    def read_n(self, n: int) -> bytes:
        while len(self.buf) < n:
            chunk = self.s.recv(65536)
            assert chunk, "connection closed"
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def read_until(self, marker: bytes) -> bytes:
        """Everything up to and including `marker`."""
        while marker not in self.buf:
            chunk = self.s.recv(65536)
            assert chunk, f"connection closed, got {self.buf!r}"
            self.buf += chunk
        k = self.buf.index(marker) + len(marker)
        out, self.buf = self.buf[:k], self.buf[k:]
        return out

    def read_all(self) -> bytes:
        """Until the server hangs up."""
        while True:
            chunk = self.s.recv(65536)
            if not chunk:
                out, self.buf = self.buf, b""
                return out
            self.buf += chunk

    def cmd(self, line: str) -> bytes:
        """Send a line, return its output (without the NUL acknowledgement)."""
        self.s.sendall(line.encode() + b"\n")
        return self.read_until(b"\0")[:-1]

    def close(self) -> None:
        self.s.close()


def sessions(vm) -> list[str]:
    return vm.call(lambda: sorted(n for n in vm.node_by_name if n.startswith("unix-cli-local"))).result()


# ------------------------------------------------------------------ vppctl's protocol


def test_negotiation_then_vppctl_commands(served):
    vm, srv, path = served
    c = Raw(path, term=None)
    assert c.negotiation == NEGOTIATION
    assert bytes([IAC, DO, 24]) in c.negotiation and bytes([IAC, SB, 24, 1, IAC, SE]) in c.negotiation
    # exactly what vppctl writes: TTYPE, then "cmd\n" plus the string's NUL terminator
    c.s.sendall(ttype_is("VPPCTL") + b"show version\n\0")
    out = c.read_until(b"\0")[:-1]
    assert out.startswith(b"vppsh v") and out.endswith(b"\r\n") and out.count(b"\n") == 1
    assert c.cmd("foo") == b"unknown input `foo'\r\n"
    assert c.cmd("show foo") == b"show: unknown input `foo'\r\n"
    assert c.cmd("echo hello") == b"hello\r\n"
    assert c.cmd("create loopback interface") == b"loop0\r\n"
    show = c.cmd("show interface")
    assert b"loop0" in show and b"local0" in show
    assert show.count(b"\n") == show.count(b"\r\n") == 3  # header + 2 rows, all CR LF
    assert c.cmd("show runtime")
    c.s.sendall(b"quit\n")
    assert c.read_all() == b"\0"  # quit is acknowledged, then the server hangs up
    c.close()


def test_lines_run_in_order_one_ack_each(served):
    _vm, _srv, path = served
    c = Raw(path)
    c.s.sendall(b"echo one\r\nwait 0.2\necho two\0\n\necho three\n")
    assert c.read_until(b"three\r\n\0") == b"one\r\n\0\0two\r\n\0three\r\n\0"
    c.s.sendall(b"echo four\n")  # empty lines above gave no acknowledgement
    assert c.read_until(b"\0") == b"four\r\n\0"
    c.close()


def test_bytes_that_are_not_utf8(served, tmp_path):
    """Raw clients (socat, vppctl) send any bytes, 0xff unescaped included: each line gets VPP's
    answer, undecodable bytes shown as U+FFFD, and output never holds a NUL but the ack."""
    _vm, _srv, path = served
    c = Raw(path)
    bad = "`\ufffd'\r\n".encode()
    c.s.sendall(b"show \xff\n")  # IAC then LF: not a telnet command, so data
    assert c.read_until(b"\0") == b"show: unknown input " + bad + b"\0"
    c.s.sendall(b"show \xff\xff\xc3\n")  # escaped 0xff, then a cut UTF-8 sequence
    assert c.read_until(b"\0") == b"show: unknown input `\xef\xbf\xbd\xef\xbf\xbd'\r\n\0"
    c.s.sendall("echo caf\xe9\n".encode())
    assert c.read_until(b"\0") == "caf\xe9\r\n\0".encode()
    script = tmp_path / "nul.cli"
    script.write_bytes(b"echo a\0b\n")  # output with a NUL would end the command early for vppctl
    assert c.cmd(f"exec {script}") == b"ab\r\n"
    assert c.cmd("echo still here") == b"still here\r\n"
    c.close()


def test_telnet_parser_keeps_a_stray_iac_as_data():
    p = TelnetParser()
    assert p.feed(b"a\xff\nb\xff\xffc") == [b"a\xff\nb\xffc"]
    assert p.feed(b"\xff\xf4x\xff") == [(244, None), b"x"]  # IAC IP; a trailing IAC waits
    assert p.feed(b"\xfb\x01") == [(251, 1)]


def test_run_client_escapes_0xff(served, capsys):
    _vm, _srv, path = served
    assert run_client(path, ["echo", "\udcff\udcfe", "ok"], None, False) == 0
    assert capsys.readouterr().out == "\ufffd\ufffd ok\n"


def test_line_before_ttype_is_non_interactive(served):
    """socat/nc users never answer TTYPE: no banner, no prompt, no echo."""
    _vm, _srv, path = served
    c = Raw(path, term=None)
    c.s.sendall(b"echo hi\n")
    assert c.read_until(b"\0") == b"hi\r\n\0"
    c.s.sendall(b"echo bye\n")
    c.s.shutdown(socket.SHUT_WR)  # `printf ... | nc -N -U sock`: the lines still run
    assert c.read_all() == b"bye\r\n\0"
    c.close()


def test_run_client_words(served, capsys):
    _vm, _srv, path = served
    assert run_client(path, ["show", "version"], None, False) == 0
    out = capsys.readouterr().out
    assert out.startswith("vppsh v") and out.endswith("\n") and "\r" not in out and "\0" not in out
    assert run_client(path, ["foo"], None, False) == 0  # like vppctl: errors are output
    assert capsys.readouterr().out == "unknown input `foo'\n"
    assert run_client(path, ["wait", "0.1"], None, False) == 0
    assert capsys.readouterr().out == ""


def test_run_client_script_uses_exec(served, capsys, tmp_path):
    _vm, _srv, path = served
    f = tmp_path / "setup.cli"
    f.write_text("echo a   # comment\n\necho b \\\n  c\nshow bogus\necho never\n")
    assert run_client(path, None, str(f), False) == 0
    assert capsys.readouterr().out == "a\nb c\nshow: unknown input `bogus'\nexec: CLI line error: show bogus\n"


def test_run_client_stdin(served, capsys, monkeypatch):
    _vm, _srv, path = served
    stdin = io.TextIOWrapper(io.BytesIO(b"echo x\n# nothing\n\nshow bogus\necho y\nquit\necho z\n"))
    monkeypatch.setattr("sys.stdin", stdin)
    assert run_client(path, None, None, False) == 0
    assert capsys.readouterr().out == "x\nshow: unknown input `bogus'\ny\n"


def test_run_client_missing_socket(sockdir, capsys):
    path = os.path.join(sockdir, "nope.sock")
    assert run_client(path, ["show", "version"], None, False) == 1
    err = capsys.readouterr().err
    assert err == f"vppsh: cannot connect to {path}: No such file or directory\n"


# ------------------------------------------------------------------ several clients


def test_two_clients_get_only_their_own_output(served):
    vm, _srv, path = served
    a, b = Raw(path), Raw(path)
    assert len(sessions(vm)) == 2
    a.s.sendall(b"echo A1\nwait 0.4\necho A2\n")
    assert a.read_until(b"\0") == b"A1\r\n\0"
    t0 = time.monotonic()
    assert b.cmd("echo B") == b"B\r\n"  # not held up by a's wait
    assert time.monotonic() - t0 < 0.3
    assert a.read_until(b"A2\r\n\0") == b"\0A2\r\n\0"
    a.close()
    b.close()


def test_client_gone_mid_command(served):
    vm, srv, path = served
    a = Raw(path)
    a.s.sendall(b"wait 1\n")
    time.sleep(0.1)
    a.close()  # gone while its command waits
    b = Raw(path)
    t0 = time.monotonic()
    assert b.cmd("echo still here") == b"still here\r\n"
    assert time.monotonic() - t0 < 0.5
    time.sleep(0.1)
    assert len(sessions(vm)) == 1  # a's session was ended, its wait aborted
    assert vm.call(lambda: len(srv.clients)).result() == 1
    b.close()


def test_interrupt_aborts_running_command(served):
    _vm, _srv, path = served
    c = Raw(path)
    t0 = time.monotonic()
    c.s.sendall(b"wait 5\n")
    time.sleep(0.1)
    c.s.sendall(bytes([IAC, 244]))  # telnet Interrupt Process, what `vppsh -s` sends on Ctrl-C
    c.read_until(b"\0")
    assert time.monotonic() - t0 < 2
    assert c.cmd("echo alive") == b"alive\r\n"
    e = Raw(path, term="xterm")
    e.read_until(b"vpp# ")
    t0 = time.monotonic()
    e.s.sendall(b"wait 5\rlost typeahead")
    time.sleep(0.1)
    e.s.sendall(b"\x03")  # Ctrl-C in an interactive session
    e.read_until(b"vpp# ")
    assert time.monotonic() - t0 < 2
    e.s.sendall(b"echo ok\r")
    assert e.read_until(b"vpp# ") == b"echo ok\r\nok\r\nvpp# "
    c.close()
    e.close()


def test_client_that_stops_reading_is_dropped(served, monkeypatch):
    vm, srv, path = served
    monkeypatch.setattr(server_mod, "MAX_PENDING", 1 << 20)
    c = Raw(path)
    line = b"echo " + b"x" * 50000 + b"\n"
    try:
        for _ in range(80):  # ~4 MB of output nobody reads
            c.s.sendall(line)
    except OSError:
        pass  # the server may hang up while we are still sending
    deadline = time.monotonic() + 5
    while vm.call(lambda: len(srv.clients)).result() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert vm.call(lambda: len(srv.clients)).result() == 0
    c.close()
    assert Raw(path).cmd("echo ok") == b"ok\r\n"


# ------------------------------------------------------------------ interactive (telnet-style)


def test_interactive_session(served):
    vm, _srv, path = served
    c = Raw(path, term="xterm")
    assert c.read_until(b"vpp# ") == server_mod.BANNER.replace("\n", "\r\n").encode() + b"vpp# "
    c.s.sendall(b"echo hellx\x7fo\r\n")  # typo, backspace, Enter (telnet sends CR LF)
    assert c.read_until(b"vpp# ") == b"echo hellx\b \bo\r\nhello\r\nvpp# "
    c.s.sendall(b"show foo\r")
    assert c.read_until(b"vpp# ") == b"show foo\r\nshow: unknown input `foo'\r\nvpp# "
    c.s.sendall(b"abc\x15")  # Ctrl-U kills the line
    assert c.read_until(b"\b \b" * 3) == b"abc" + b"\b \b" * 3
    c.s.sendall(b"xyz\x03")  # Ctrl-C abandons it
    assert c.read_until(b"vpp# ") == b"xyz^C\r\nvpp# "
    c.s.sendall(b"\x1b[A\x1b[A")  # history: show foo, then echo hello
    assert c.read_until(b"echo hello") == b"show foo" + b"\b \b" * 8 + b"echo hello"
    c.s.sendall(b"\x1b[B\x1b[B\r")  # down twice: back to the (empty) line
    assert c.read_until(b"vpp# ") == b"\b \b" * 10 + b"show foo" + b"\b \b" * 8 + b"\r\nvpp# "
    c.s.sendall(b"show vers\t")  # unique completion: word + space
    assert c.read_until(b"ion ") == b"show version "
    c.s.sendall(b"\x15show ha\t")
    assert c.read_until(b"show ha") == b"\b \b" * 13 + b"show ha"
    assert c.read_until(b"rdware-interfaces ") == b"rdware-interfaces "
    c.s.sendall(b"\x15zzz\t")  # nothing matches: bell
    assert c.read_until(b"\a").endswith(b"zzz\a")
    c.s.sendall(b"\x15show ve\x15")
    c.read_until(b"\b \b" * 7)
    c.s.sendall(b"show c\t")  # several: list them, redraw extended to the common prefix
    assert c.read_until(b"vpp# show cl") == b"show c\r\ncli    clock\r\nvpp# show cl"
    c.s.sendall(b"\x15\x04")  # Ctrl-D on an empty line hangs up
    c.read_all()
    c.close()
    time.sleep(0.05)
    assert sessions(vm) == []


def test_interactive_bytes_that_are_not_utf8(served, tmp_path):
    """Typed bytes that are not UTF-8, and a file name that is not, completed by TAB."""
    vm, _srv, path = served
    open(tmp_path.as_posix().encode() + b"/n\xffme.cli", "w").close()
    c = Raw(path, term="xterm")
    c.read_until(b"vpp# ")
    c.s.sendall(b"show \xff\xff\r")  # an escaped 0xff typed
    assert c.read_until(b"vpp# ").endswith("show: unknown input `\ufffd'\r\nvpp# ".encode())
    c.s.sendall(f"exec {tmp_path}/n".encode() + b"\t")
    assert c.read_until(b"me.cli ") == f"exec {tmp_path}/n".encode() + b"\xffme.cli "
    c.s.sendall(b"\r")
    assert c.read_until(b"vpp# ").endswith(b"vpp# ")
    assert not [m for _t, _l, _c, m in vm.logs.entries if "failed" in m]
    c.close()


def test_interactive_quit_and_typeahead(served):
    _vm, _srv, path = served
    c = Raw(path, term="xterm-256color")
    c.read_until(b"vpp# ")
    c.s.sendall(b"wait 0.2\recho next\rquit\r")  # typed ahead while wait runs
    out = c.read_all()
    assert out == b"wait 0.2\r\nvpp# echo next\r\nnext\r\nvpp# quit\r\n"
    c.close()


# ------------------------------------------------------------------ owning the path


def test_second_server_on_same_path_refused(served):
    vm, _srv, path = served
    other = CliServer(vm, load_tree(), path)
    with pytest.raises(ServerError, match="another vppsh is serving"):
        vm.call(other.start).result()
    assert Raw(path).cmd("echo first") == b"first\r\n"


def test_stale_socket_replaced_and_stop_removes_files(sockdir):
    path = os.path.join(sockdir, "cli.sock")
    dead = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    dead.bind(path)  # a crashed server's leftover: nobody listens, nobody holds the lock
    dead.close()
    vm = make_vm()
    vm.start()
    try:
        srv = CliServer(vm, load_tree(), path)
        vm.call(srv.start).result()
        assert oct(os.stat(path).st_mode & 0o777) == oct(0o600)
        c = Raw(path)
        assert c.cmd("echo fresh") == b"fresh\r\n"
        vm.call(srv.stop).result()
        assert c.read_all() == b""  # clients are disconnected
        assert not os.path.exists(path) and not os.path.exists(path + ".lock")
        with pytest.raises(OSError):
            Raw(path)
        assert srv.stop not in vm.at_exit
    finally:
        vm.stop()


def test_path_that_is_not_a_socket(sockdir):
    path = os.path.join(sockdir, "cli.sock")
    open(path, "w").close()
    vm = make_vm()
    vm.start()
    try:
        srv = CliServer(vm, load_tree(), path)
        with pytest.raises(ServerError, match="not a socket"):
            vm.call(srv.start).result()
        assert os.path.isfile(path)
    finally:
        vm.stop()


def test_directory_created_private(served):
    _vm, _srv, path = served
    assert os.stat(os.path.dirname(path)).st_mode & 0o777 == 0o700
