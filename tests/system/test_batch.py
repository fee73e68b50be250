"""`vppsh -f`, `-d` and `-s` as separate processes, the way scripts and operators use them."""

import os
import signal
import subprocess
import sys
import time

import pytest

VPPSH = [sys.executable, "-m", "vppsh"]


def run(*args, **kw):
    return subprocess.run(VPPSH + list(args), capture_output=True, text=True, timeout=60, **kw)


def test_batch_prints_only_output_and_exits_zero(tmp_path):
    f = tmp_path / "ok.cli"
    f.write_text("create loopback interface\nset interface state loop0 up\nshow interface\n")
    r = run("-f", str(f))
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == "loop0"
    assert lines[1].split() == ["Name", "Idx", "State", "MTU", "(L3/IP4/IP6/MPLS)", "Counter", "Count"]
    assert lines[3].split()[:3] == ["loop0", "1", "up"]
    assert r.stderr == ""


def test_batch_stops_at_first_failing_line(tmp_path):
    f = tmp_path / "bad.cli"
    f.write_text("echo before\n\nshow bogus\necho after\n")
    r = run("-f", str(f))
    assert r.returncode == 1
    assert r.stdout == "before\n"
    assert r.stderr.strip() == f"{f}:3: show: unknown input `bogus'"


def test_batch_out_of_range_mtu_is_a_cli_error(tmp_path):
    """Issue 14: an MTU beyond any range was taken, and the next command failed with a
    traceback on the terminal. Now the MTU line fails, in VPP's words, and nothing else shows."""
    f = tmp_path / "mtu.cli"
    f.write_text("create loopback interface\nset interface mtu ip4 99999999999999999999 loop0\n"
                 "set interface ip address loop0 10.9.0.1/24\n")
    r = run("-f", str(f))
    assert r.returncode == 1
    assert r.stdout == "loop0\n"
    assert r.stderr == f"{f}:2: set interface mtu: unknown input `ip4 99999999999999999999 loop0'\n"


def test_log_records_go_to_the_log_not_the_terminal(tmp_path):
    """An engine log line (the echo server's `No uri provided') is in `show logging` and in
    --log FILE; the terminal of a -f run gets command output and error lines only."""
    f = tmp_path / "log.cli"
    f.write_text("test echo server\nshow logging\n")
    r = run("-f", str(f))
    assert r.returncode == 0 and r.stderr == ""
    assert "echo_server" in r.stdout and "No uri provided! Using default: tcp://0.0.0.0/1234" in r.stdout
    log = tmp_path / "vppsh.log"
    r = run("--log", str(log), "-f", str(f))
    assert r.returncode == 0 and r.stderr == ""
    assert "No uri provided! Using default: tcp://0.0.0.0/1234" in log.read_text()
    r = run("--log", str(tmp_path / "no" / "such" / "dir.log"), "show", "version")
    assert r.returncode == 1 and r.stderr.startswith("vppsh: --log ") and "Traceback" not in r.stderr


def test_words_that_are_not_utf8(tmp_path):
    """Command words are bytes to a shell: undecodable ones are U+FFFD, never a traceback,
    even with a strict stdout."""
    env = dict(os.environ, PYTHONIOENCODING="utf-8:strict")
    r = subprocess.run(VPPSH + [b"echo", b"caf\xe9"], capture_output=True, timeout=60, env=env)
    assert (r.returncode, r.stdout, r.stderr) == (0, "caf\ufffd\n".encode(), b"")
    r = subprocess.run(VPPSH + [b"show", b"\xff"], capture_output=True, timeout=60, env=env)
    assert (r.returncode, r.stderr) == (1, "show: unknown input `\ufffd'\n".encode())


def test_output_the_terminal_cannot_show(tmp_path):
    r = subprocess.run(VPPSH + ["echo", "caf\u00e9"], capture_output=True, timeout=60,
                       env=dict(os.environ, PYTHONIOENCODING="ascii"))
    assert (r.returncode, r.stdout, r.stderr) == (0, b"caf?\n", b"")


def test_missing_script(tmp_path):
    r = run("-f", str(tmp_path / "nope.cli"))
    assert r.returncode == 1 and "No such file or directory" in r.stderr


@pytest.fixture
def daemon(tmp_path):
    sock = tmp_path / "cli.sock"
    setup = tmp_path / "setup.cli"
    setup.write_text("create loopback interface\n")
    p = subprocess.Popen(VPPSH + ["-d", "-f", str(setup), "--cli-socket", str(sock),
                                  "--api-socket", str(tmp_path / "api.sock")],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    for _ in range(100):
        if sock.exists():
            break
        time.sleep(0.05)
    yield p, sock
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)
        p.wait(10)


def test_daemon_and_client(daemon, tmp_path):
    p, sock = daemon
    r = run("-s", str(sock), "show", "interface")
    assert r.returncode == 0 and "loop0" in r.stdout
    r = run("-s", str(sock), "foo")
    assert r.returncode == 0 and "unknown input `foo'" in r.stdout  # like vppctl: exit 0
    script = tmp_path / "more.cli"
    script.write_text("create loopback interface\nshow interface\n")
    r = run("-s", str(sock), "-f", str(script))
    assert "loop1" in r.stdout
    # a second vppsh on the same socket gets a clear error, not a stolen socket
    r = run("-d", "--cli-socket", str(sock), "--api-socket", str(sock.parent / "api2.sock"))
    assert r.returncode != 0 and "another vppsh" in r.stderr
    assert run("-s", str(sock), "show", "interface").stdout.count("loop") == 2
    p.send_signal(signal.SIGTERM)
    assert p.wait(10) == 0
    assert not sock.exists()


def test_daemon_idles_at_zero_cpu(daemon):
    p, sock = daemon
    time.sleep(0.5)

    def cpu():
        with open(f"/proc/{p.pid}/stat") as f:
            v = f.read().rsplit(")", 1)[1].split()
        return (int(v[11]) + int(v[12])) / os.sysconf("SC_CLK_TCK")

    c0, t0 = cpu(), time.monotonic()
    time.sleep(2.0)
    used = (cpu() - c0) / (time.monotonic() - t0)
    assert used < 0.02, f"idle daemon used {used:.1%} CPU"


@pytest.mark.parametrize("io_encoding", [None, "utf-8:strict"])
def test_client_sends_bytes_as_given(daemon, io_encoding):
    """`vppsh -s` with words and stdin that are not UTF-8: sent as given, answered in VPP's
    wording, printed as received; exit 0 as vppctl's; the server keeps serving."""
    p, sock = daemon
    env = dict(os.environ)
    if io_encoding:
        env["PYTHONIOENCODING"] = io_encoding  # a locale whose streams refuse what is not UTF-8

    def client(*words, stdin=None):
        return subprocess.run(VPPSH + ["-s", str(sock)] + list(words), input=stdin, capture_output=True,
                              timeout=60, env=env)

    bad = "`\ufffd'".encode()
    r = client(b"show", b"\xff")
    assert (r.returncode, r.stdout, r.stderr) == (0, b"show: unknown input " + bad + b"\n", b"")
    r = client(b"echo", b"caf\xe9", b"\xff\xfe")
    assert (r.returncode, r.stdout, r.stderr) == (0, "caf\ufffd \ufffd\ufffd\n".encode(), b"")
    r = client(stdin=b"show \xff\necho caf\xc3\xa9 \xe9\nshow int\n")
    assert r.returncode == 0 and r.stderr == b""
    lines = r.stdout.split(b"\n")
    assert lines[0] == b"show: unknown input " + bad and lines[1] == "café \ufffd".encode()
    assert b"loop0" in r.stdout
    assert p.poll() is None


def test_client_without_server(tmp_path):
    r = run("-s", str(tmp_path / "absent.sock"), "show", "version")
    assert r.returncode == 1 and "No such file or directory" in r.stderr
