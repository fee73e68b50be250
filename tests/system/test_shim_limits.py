"""The shim under attack and at the engine's limits: no other process reaches a program's
listener, every request is answered whatever fails in the engine, no call waits for ever, and a
peer cannot make the engine hold more fifo memory than the budgets allow.

Programs run under `vppsh exec` in namespaces of their own with no routes; attackers run as
another uid (65534) or as root in other namespaces; every address lives in namespaces made here.
"""

from __future__ import annotations

import errno
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

import pytest

from tests.helpers.shimnet import VPPSH, ShimNet

pytestmark = pytest.mark.root
NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--"]
SYS_PY = "/usr/bin/python3"  # readable by uid 65534, unlike a checkout's venv may be

# Prints its pid and its listener's fd, then for each connection the peer and what it sent.
SERVER = r"""
import os, socket
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", 7000)); s.listen(16)
print(os.getpid(), s.fileno(), flush=True)
while True:
    c, peer = s.accept()
    data = c.recv(100)
    print("accepted", peer[0], data.decode(errors="replace"), flush=True)
    c.sendall(b"ok " + data); c.close()
"""

# Tries the listener's abstract name: connect, a forged header with guessed tokens, a peer
# line; then stays connected a while (a stall). Prints what happened.
ATTACK = r"""
import socket, struct, sys, time
name = bytes.fromhex(sys.argv[1])
listed = name[1:].decode(errors="replace") in open("/proc/net/unix").read()
try:
    c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM); c.settimeout(2); c.connect(name)
except OSError as e:
    print("refused", e.errno, "listed" if listed else "unlisted", flush=True)
    sys.exit(0)
for guess in range(1, 50):
    try:
        c.send(struct.pack("<16sHHI16sHHI16s", guess.to_bytes(16, "little"), 2, 31337, 0, bytes([1, 2, 3, 4]) + bytes(12),
                           2, 7000, 0, bytes(16)) + b"SPOOFED\n")
    except OSError:
        break
print("connected", "listed" if listed else "unlisted", flush=True)
time.sleep(float(sys.argv[2]))
"""


def _listener_name(pid: int, fd: int) -> bytes:
    from vppsh.vcl.diag import app_socket

    s = app_socket(pid, fd, os.stat(f"/proc/{pid}/fd/{fd}").st_ino)
    assert s is not None
    try:
        return s.getsockname()
    finally:
        s.close()


def _real_client(net, data: str) -> tuple[str, float]:
    prog = ("import socket,sys,time; t=time.time(); c=socket.create_connection(('10.0.0.0',7000),timeout=10); "
            "c.sendall(sys.argv[1].encode()); print(c.recv(100).decode(), time.time()-t)")
    r = net.peer_run([sys.executable, "-c", prog, data], text=True)
    assert r.returncode == 0, r.stderr
    out, secs = r.stdout.rsplit(maxsplit=1)
    return out, float(secs)


def _serve(net):
    srv = net.app([sys.executable, "-u", "-c", SERVER], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    pid, fd = map(int, srv.stdout.readline().split())
    return srv, pid, fd


def _attacks(net, name: bytes, stall: float) -> list[subprocess.Popen]:
    """As uid 65534 in the engine's namespace and in the app's, as root in a new namespace and
    in the app's: all at once, each staying connected for `stall` s if it gets in."""
    argv = [SYS_PY, "-c", ATTACK, name.hex(), str(stall)]
    kw = dict(stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    return [subprocess.Popen(NOBODY + argv, **kw),
            subprocess.Popen(["nsenter", f"--net=/run/netns/{net.app_ns}"] + NOBODY + argv, **kw),
            subprocess.Popen(["unshare", "--net", "--"] + argv, **kw),
            subprocess.Popen(["nsenter", f"--net=/run/netns/{net.app_ns}"] + argv, **kw)]


def _finish(procs) -> list[str]:
    out = []
    for p in procs:
        try:
            out.append(p.communicate(timeout=15)[0].strip())
        finally:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
    return out


def test_no_other_process_can_reach_a_shim_listener():
    """The listener is named in the engine's private namespace: another uid, root in another
    namespace, and the program's own namespace cannot connect to it, nor see it listed; the
    real client is served at once and only it is accepted."""
    net = ShimNet().start()
    try:
        srv, pid, fd = _serve(net)
        name = _listener_name(pid, fd)
        assert name.startswith(b"\0")
        attackers = _attacks(net, name, 5)
        results = _finish(attackers)
        assert all(r.startswith("refused 111 unlisted") for r in results), results  # ECONNREFUSED
        out, secs = _real_client(net, "real")
        assert out == "ok real" and secs < 2, (out, secs)
        srv.kill()
        log = srv.communicate()[0]
        assert log.splitlines() == ["accepted 10.0.0.1 real"], log
    finally:
        net.stop()


def test_without_a_private_namespace_the_shim_drops_what_the_engine_did_not_connect(monkeypatch):
    """Where the engine cannot make its namespace (not root), the listener is named in its own:
    other processes can connect, but the shim takes only connections made by the engine's pid
    (SO_PEERCRED), at once and without reading them: no forged peer, no stall."""
    import vppsh.vcl.private as private

    def no_netns():
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(private, "private_netns", no_netns)
    net = ShimNet().start()
    try:
        srv, pid, fd = _serve(net)
        name = _listener_name(pid, fd)
        attackers = _attacks(net, name, 8)
        time.sleep(1)  # they are connected and holding on
        out, secs = _real_client(net, "real")
        assert out == "ok real" and secs < 2, (out, secs)
        results = _finish(attackers)
        assert results[0] == "connected listed", results  # uid 65534 in the engine's namespace got in
        srv.kill()
        log = srv.communicate()[0]
        assert log.splitlines() == ["accepted 10.0.0.1 real"], log
    finally:
        net.stop()


def test_a_guessed_token_takes_no_connection():
    """An attached process (root, the API socket's owner) naming its own socket with guessed
    tokens in ACCEPTED claims nothing; the next real connection is served."""
    from tests.helpers.api_client import Client
    from vppsh.vcl import proto

    net = ShimNet().start()
    try:
        srv, _pid, _fd = _serve(net)
        c = Client(net.api)
        assert c.call(proto.HELLO, a=os.getpid(), data=b"thief")[0] == 0
        err, _a, _addr, _data, sock = c.call(proto.SOCKET, a=socket.SOCK_STREAM, b=socket.AF_INET)
        assert err == 0 and sock is not None
        for guess in range(1, 200):
            assert c.call(proto.ACCEPTED, data=guess.to_bytes(16, "little"), fd=sock)[0] == errno.ECONNABORTED
        out, _secs = _real_client(net, "real")
        assert out == "ok real"
        c.close()
        os.close(sock)
    finally:
        net.stop()


# ------------------------------------------------------------------ vppsh -d as a process
class Daemon:
    """`vppsh -d` with the session layer on and no interfaces (nothing can reach a network),
    optionally under an fd limit; programs attach through its API socket from a namespace of
    their own (`unshare --net`)."""

    def __init__(self, nofile: int | None = None) -> None:
        self.tmp = tempfile.mkdtemp(prefix="vppsh-d-")
        self.api, self.cli = os.path.join(self.tmp, "api.sock"), os.path.join(self.tmp, "cli.sock")
        script = os.path.join(self.tmp, "s.cli")
        with open(script, "w") as f:
            f.write("session enable\n")
        pre = ["prlimit", f"--nofile={nofile}:{nofile}", "--"] if nofile else []
        self.p = subprocess.Popen(pre + [VPPSH, "-d", "-f", script, "--cli-socket", self.cli, "--api-socket", self.api,
                                         "--log", os.path.join(self.tmp, "log")], stdin=subprocess.DEVNULL)
        end = time.time() + 20
        while not (os.path.exists(self.api) and os.path.exists(self.cli)):
            assert time.time() < end and self.p.poll() is None, "vppsh -d did not start"
            time.sleep(0.1)
        self.procs: list[subprocess.Popen] = []

    def app(self, prog: str, *args, conf: str = "", env=None, **kw) -> subprocess.Popen:
        argv = ["unshare", "--net", "--", VPPSH, "exec", "--api-socket", self.api]
        if conf:
            path = os.path.join(self.tmp, f"vcl{len(self.procs)}.conf")
            with open(path, "w") as f:
                f.write("vcl {\n" + conf + "\n}\n")
            argv += ["--vcl-config", path]
        p = subprocess.Popen(argv + ["--", sys.executable, "-u", "-c", prog, *args], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, start_new_session=True,
                             env=dict(os.environ, **(env or {})), **kw)
        self.procs.append(p)
        return p

    def cli_run(self, line: str) -> str:
        return subprocess.run([VPPSH, "-s", self.cli, *line.split()], capture_output=True, text=True,
                              timeout=20).stdout

    def stop(self) -> None:
        for p in self.procs:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            p.wait()
        if self.p.poll() is None:
            os.kill(self.p.pid, signal.SIGCONT)
            self.p.terminate()
            self.p.wait(20)
        subprocess.run(["rm", "-rf", self.tmp])


@pytest.fixture
def daemon():
    d = Daemon()
    yield d
    d.stop()


BLOCKING_ACCEPT = r"""
import errno, socket, time
s = socket.socket(); s.bind(("0.0.0.0", 7100)); s.listen(8)
print("listening", flush=True)
t = time.time()
try:
    s.accept(); print("accepted?!")
except OSError as e:
    print(errno.errorcode[e.errno], round(time.time() - t, 1))
"""
EPOLL_ACCEPT = r"""
import errno, select, socket, time
s = socket.socket(); s.bind(("0.0.0.0", 7101)); s.listen(8); s.setblocking(False)
ep = select.epoll(); ep.register(s.fileno(), select.EPOLLIN)
print("listening", flush=True)
ev = ep.poll(30)
try:
    s.accept(); print("accepted?!")
except OSError as e:
    print(bool(ev), errno.errorcode[e.errno])
"""


def test_the_engines_death_wakes_a_blocked_accept(daemon):
    """SIGKILL the engine under a server blocked in accept() and one in epoll_wait() on its
    listener: both wake at once, as from a Linux listener shut down (EINVAL), and say why."""
    a, b = daemon.app(BLOCKING_ACCEPT), daemon.app(EPOLL_ACCEPT)
    for p in (a, b):
        assert p.stdout.readline().strip() == "listening", p.stderr.read()
    time.sleep(0.5)  # both blocked
    t = time.time()
    daemon.p.send_signal(signal.SIGKILL)
    daemon.p.wait()
    out_a, err_a = a.communicate(timeout=5)
    out_b, _ = b.communicate(timeout=5)
    assert time.time() - t < 2
    assert out_a.split()[0] == "EINVAL" and out_b.split() == ["True", "EINVAL"], (out_a, out_b)
    assert "went away: 1 listener shut" in err_a


SOCKETS = r"""
import errno, socket, sys, time
socks, worst, err = [], 0.0, None
for i in range(int(sys.argv[1])):
    t = time.time()
    try:
        socks.append(socket.socket())
    except OSError as e:
        err = e.errno
    worst = max(worst, time.time() - t)
    if err:
        break
print(len(socks), errno.errorcode.get(err), round(worst, 2), flush=True)
for s in socks[:10]:
    s.close()
time.sleep(1)  # the engine hears of the closes
socket.socket()
print("again ok", flush=True)
"""


def test_an_engine_out_of_fds_answers_every_request():
    """Under a low fd limit the engine cannot make a socketpair: socket() fails at once with
    ENFILE (the system's table, not the program's), LDP_DEBUG says why, and sockets work again
    once some are closed."""
    d = Daemon(nofile=64)
    try:
        p = d.app(SOCKETS, "200", env={"LDP_DEBUG": "1"})
        out, err = p.communicate(timeout=60)
        lines = out.splitlines()
        n, code, worst = lines[0].split()
        assert code == "ENFILE" and 10 < int(n) < 64 and float(worst) < 1, (out, err[-2000:])
        assert lines[1] == "again ok", (out, err[-2000:])
        assert "socket() = Too many open files in system: vppsh: out of file descriptors" in err
        assert d.p.poll() is None  # still serving
    finally:
        d.stop()


STOPPED = r"""
import errno, socket, sys, time
socket.socket()  # attached
print("ready", flush=True)
sys.stdin.readline()
t = time.time()
try:
    socket.socket(); print("answered?!")
except OSError as e:
    print(errno.errorcode[e.errno], round(time.time() - t, 1), flush=True)
sys.stdin.readline()
socket.socket(); print("again ok", flush=True)
"""


def test_an_engine_that_stops_answering_fails_the_call_within_app_timeout(daemon):
    p = daemon.app(STOPPED, conf="app-timeout 1", stdin=subprocess.PIPE)
    assert p.stdout.readline().strip() == "ready"
    os.kill(daemon.p.pid, signal.SIGSTOP)
    try:
        p.stdin.write("\n")
        p.stdin.flush()
        code, secs = p.stdout.readline().split()
        assert code == "ETIMEDOUT" and 0.9 <= float(secs) < 3
    finally:
        os.kill(daemon.p.pid, signal.SIGCONT)
    p.stdin.write("\n")
    p.stdin.flush()
    assert p.stdout.readline().strip() == "again ok"
    _out, err = p.communicate(timeout=10)
    assert "did not answer socket within 1000 ms" in err


# ------------------------------------------------------------------ fifo memory
def _rss() -> int:
    with open("/proc/self/status") as f:
        return int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1)) << 10


SINK = r"""
import socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", 7200)); s.listen(16)
print("listening", flush=True)
conns = []
while True:
    c, _ = s.accept(); conns.append(c)  # and never read
"""
PUSH = r"""
import socket, sys, time
c = socket.create_connection(("10.0.0.0", 7200), timeout=5)
c.setblocking(False)
buf, sent, end = bytes(1 << 16), 0, time.time() + float(sys.argv[1])
while time.time() < end:
    try:
        sent += c.send(buf)
    except BlockingIOError:
        time.sleep(0.01)
print(sent, flush=True)
time.sleep(float(sys.argv[2]))
"""


def _sinks(net, conf: str):
    path = os.path.join(net.tmp, "vcl.conf")
    with open(path, "w") as f:
        f.write("vcl {\n" + conf + "\n}\n")
    net.vcl_conf = path
    sink = net.app([sys.executable, "-u", "-c", SINK], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert sink.stdout.readline().strip() == "listening"
    return sink


def _app_usage(net) -> int:
    """Bytes the sink's fifos hold, from `show app 0`'s segment usage line."""
    out = net.run("show app 0")
    m = re.search(r"segment usage: [\d.]+% \((\S+) /", out)
    size = m.group(1)
    return int(float(size[:-1]) * (1 << {"k": 10, "m": 20, "g": 30}[size[-1]])) if size[-1] in "kmg" else int(size)


def test_a_2gb_fifo_request_is_capped_and_a_peer_cannot_grow_the_engine():
    """vcl.conf asks for 2 GB fifos: the shim warns in VCL's words and gets 32 MB; a kernel
    peer pushing to a program that never reads moves the engine's RSS by about that, not by
    what it sent (1.2 GB in 3 s before the cap)."""
    net = ShimNet().start()
    try:
        sink = _sinks(net, "  rx-fifo-size 2000000000\n  tx-fifo-size 2000000000")
        base = _rss()
        push = net.peer([sys.executable, "-c", PUSH, "3", "1"], stdout=subprocess.PIPE, text=True)
        sent = int(push.stdout.readline())
        grown = _rss() - base
        assert 32 << 20 <= sent and grown < 48 << 20, (sent >> 20, grown >> 20)
        assert "\t rx-fifo-size 32m tx-fifo-size 32m max-fifo-size 32m" in net.run("show app 0")
        sink.kill()
        err = sink.communicate()[1]
        assert re.search(r"VCL<\d+>: configured rx-fifo-size 2000000000 \(0x77359400\) is above vppsh's limit: "
                         r"using 33554432 \(0x2000000\)", err), err
    finally:
        net.stop()


def test_an_apps_segment_bounds_all_its_fifos_and_refuses_more_connections():
    """segment-size 8m, 2m fifos, a program that never reads: four peers pushing fill its
    segment and no more (a window is paid for when offered); a fifth connection is not
    accepted while it is full ("SYNs dropped: no fifo memory")."""
    net = ShimNet().start()
    try:
        _sinks(net, "  segment-size 8m\n  rx-fifo-size 2m\n  tx-fifo-size 2m")
        pushers = []
        for _ in range(4):
            pushers.append(net.peer([sys.executable, "-c", PUSH, "2", "5"], stdout=subprocess.PIPE, text=True))
            time.sleep(0.3)
        sent = [int(p.stdout.readline()) for p in pushers]
        used = _app_usage(net)
        assert (8 << 20) - (256 << 10) <= used <= (8 << 20) + (64 << 10), (used, sent)
        assert "status: No memory" in net.run("show app 0")
        r = net.peer_run([sys.executable, "-c", "import socket; socket.create_connection(('10.0.0.0', 7200), timeout=2)"],
                         text=True)
        assert "timed out" in r.stderr, r
        assert re.search(r"\d+\s+\S+\s+SYNs dropped: no fifo memory", net.run("show errors"))
    finally:
        net.stop()


@pytest.mark.skipif(shutil.which("bird") is None, reason="needs bird (apt: bird2)")
def test_the_engines_death_reaches_bird(daemon, tmp_path):
    """BIRD's thread-local storage (~196 KB) does not fit the watcher thread's usual 64 KB stack:
    the shim takes a bigger one, so BIRD's BGP listener is shut when the engine dies too."""
    conf = tmp_path / "bird.conf"
    conf.write_text("router id 10.9.0.1;\nprotocol device {}\nprotocol bgp p {\n local as 65000;\n"
                    " neighbor 10.9.0.2 as 65000;\n passive on;\n ipv4 { import none; export none; };\n}\n")
    p = subprocess.Popen(["unshare", "--net", "--", VPPSH, "exec", "--api-socket", daemon.api, "--", "bird", "-f",
                          "-c", str(conf), "-s", str(tmp_path / "bird.ctl")],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True)
    daemon.procs.append(p)
    deadline = time.time() + 15
    while "LISTEN" not in daemon.cli_run("show session verbose"):
        assert time.time() < deadline and p.poll() is None, "BIRD did not listen on vppsh"
        time.sleep(0.2)
    daemon.p.send_signal(signal.SIGKILL)
    daemon.p.wait()
    time.sleep(1.5)
    p.terminate()
    err = p.communicate(timeout=10)[1]
    assert "went away: 1 listener shut" in err, err
