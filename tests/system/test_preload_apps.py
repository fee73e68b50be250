"""Real, unmodified programs through `vppsh exec`: nc, socat, curl, python's http.server,
nginx (master + 2 workers), iperf3 (TCP and UDP), each against the Linux kernel on the other
side of vppsh's tap. Programs run in an app namespace with no routes (shimnet.py)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time

import pytest

from tests.helpers.apps import PAYLOAD, need, nginx_conf, sessions_settle, sha
from tests.helpers.shimnet import VPPSH, ShimNet

pytestmark = pytest.mark.root


@pytest.fixture(scope="module")
def net():
    n = ShimNet().start()
    yield n
    n.stop()


def wait_port(net, port: int, where: str = "vppsh", timeout: float = 10) -> None:
    """Until something listens on port (on vppsh: a LISTEN session; in the peer: ss)."""
    end = time.time() + timeout
    while time.time() < end:
        if where == "vppsh":
            if re.search(rf"0\.0\.0\.0:{port}->0\.0\.0\.0:0\s+LISTEN", net.run("show session verbose")):
                return
        elif f":{port} " in net.peer_run(["ss", "-Hltun"], text=True).stdout:
            return
        time.sleep(0.1)
    raise AssertionError(f"nothing listens on {port} ({where})")




def test_nc_client_and_server(net, tmp_path):
    need("nc")
    src = tmp_path / "payload"
    src.write_bytes(PAYLOAD)
    # nc through the shim connects out to a kernel nc
    srv = net.peer(["sh", "-c", "nc -l -p 5000 | sha256sum"], stdout=subprocess.PIPE)
    wait_port(net, 5000, "peer")
    r = net.app_run(["sh", "-c", f"nc -N 10.0.0.1 5000 < {src}"])
    assert r.returncode == 0, r.stderr
    assert srv.communicate(timeout=20)[0].split()[0].decode() == sha(PAYLOAD)
    # nc through the shim listens; a kernel nc connects in
    app = net.app(["sh", "-c", "nc -l -p 5001 | sha256sum"], stdout=subprocess.PIPE)
    wait_port(net, 5001)
    r = net.peer_run(["sh", "-c", f"nc -N 10.0.0.0 5001 < {src}"])
    assert r.returncode == 0, r.stderr
    assert app.communicate(timeout=20)[0].split()[0].decode() == sha(PAYLOAD)
    sessions_settle(net)


def test_socat_echo_both_ways(net, tmp_path):
    need("socat")
    src = tmp_path / "payload"
    src.write_bytes(PAYLOAD)
    net.app(["socat", "TCP-LISTEN:5002,reuseaddr,fork", "EXEC:cat"])
    wait_port(net, 5002)
    r = net.peer_run(["sh", "-c", f"socat -t 5 - TCP:10.0.0.0:5002 < {src}"], timeout=30)
    assert r.returncode == 0 and sha(r.stdout) == sha(PAYLOAD), r.stderr
    net.peer(["socat", "TCP-LISTEN:5003,reuseaddr", "EXEC:cat"])
    wait_port(net, 5003, "peer")
    r = net.app_run(["sh", "-c", f"socat -t 5 - TCP:10.0.0.1:5003 < {src}"], timeout=30)
    assert r.returncode == 0 and sha(r.stdout) == sha(PAYLOAD), r.stderr


def test_curl_and_python_http_server(net, tmp_path):
    need("curl")
    (tmp_path / "f.bin").write_bytes(PAYLOAD)
    # curl through the shim against python's http.server in the peer namespace
    net.peer([sys.executable, "-m", "http.server", "-b", "10.0.0.1", "8000", "-d", str(tmp_path)],
             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_port(net, 8000, "peer")
    r = net.app_run(["curl", "-sS", "--max-time", "20", "http://10.0.0.1:8000/f.bin"])
    assert r.returncode == 0 and sha(r.stdout) == sha(PAYLOAD), r.stderr
    # python's http.server through the shim, curl from the peer namespace
    net.app([sys.executable, "-m", "http.server", "-b", "0.0.0.0", "8001", "-d", str(tmp_path)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_port(net, 8001)
    r = net.peer_run(["curl", "-sS", "--max-time", "20", "http://10.0.0.0:8001/f.bin"])
    assert r.returncode == 0 and sha(r.stdout) == sha(PAYLOAD), r.stderr


def test_nginx_through_the_shim(net, tmp_path):
    """master + 2 workers (fork, epoll, accept4, sendfile) serving curl and wrk."""
    need("nginx", "curl", "wrk")
    ng = net.app(["nginx", "-c", nginx_conf(tmp_path, 8080)], stderr=subprocess.PIPE)
    wait_port(net, 8080)
    for _ in range(3):
        r = net.peer_run(["curl", "-sS", "--max-time", "20", "http://10.0.0.0:8080/f.bin"])
        assert r.returncode == 0 and sha(r.stdout) == sha(PAYLOAD), r.stderr
    r = net.peer_run(["wrk", "-t1", "-c8", "-d2s", "http://10.0.0.0:8080/f.bin"], text=True)
    reqs = int(re.search(r"(\d+) requests in", r.stdout).group(1))
    assert reqs > 20 and "Socket errors" not in r.stdout, r.stdout
    apps = net.run("show app")
    assert len(re.findall(r"nginx-ldp-\d+", apps)) == 3, apps  # the master and both workers
    ng.send_signal(signal.SIGQUIT)
    ng.wait(10)
    sessions_settle(net)


def test_dual_stack_servers_serve_an_ipv4_client(net, tmp_path):
    """Servers on AF_INET6 sockets through the shim, an IPv4 curl in the peer namespace: python's
    http.server on :: (dual-stack; also its default), nginx's stock pair `listen P; listen [::]:P;` (its [::] is
    IPV6_V6ONLY: beside the IPv4 listener on the same port) and `listen [::]:P ipv6only=off`. The
    file arrives whole, and the servers saw the client as ::ffff:10.0.0.1 where it came in on
    the AF_INET6 socket."""
    need("curl", "nginx")
    (tmp_path / "f.bin").write_bytes(PAYLOAD)
    for port, bind in ((8002, ["-b", "::"]), (8005, [])):  # (with no -b it takes getaddrinfo's first: ::)
        py = net.app([sys.executable, "-m", "http.server", *bind, str(port), "-d", str(tmp_path)],
                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        wait_port(net, port)
        r = net.peer_run(["curl", "-sS", "--max-time", "20", f"http://10.0.0.0:{port}/f.bin"])
        assert r.returncode == 0 and sha(r.stdout) == sha(PAYLOAD), r.stderr
        py.kill()
        out, log = py.communicate(timeout=10)
        assert out.startswith(f"Serving HTTP on :: port {port}"), out
        assert '::ffff:10.0.0.1 - - ' in log and '"GET /f.bin HTTP/1.1" 200' in log, log
    for port, listen in ((8083, "listen {port}; listen [::]:{port};"), (8084, "listen [::]:{port} ipv6only=off;")):
        d = tmp_path / str(port)
        d.mkdir()
        conf = nginx_conf(d, port, listen + " access_log {d}/access.log;".replace("{d}", str(d)))
        ng = net.app(["nginx", "-c", conf], stderr=subprocess.PIPE)
        wait_port(net, port)
        for _ in range(2):
            r = net.peer_run(["curl", "-sS", "--max-time", "20", f"http://10.0.0.0:{port}/f.bin"])
            assert r.returncode == 0 and sha(r.stdout) == sha(PAYLOAD), (listen, r.stderr)
        ng.send_signal(signal.SIGQUIT)
        ng.wait(10)
        clients = {line.split()[0] for line in (d / "access.log").read_text().splitlines()}
        assert clients == {"10.0.0.1" if "ipv6only" not in listen else "::ffff:10.0.0.1"}, (listen, clients)
    sessions_settle(net)


def test_curl_to_nginx_in_the_peer(net, tmp_path):
    need("nginx", "curl")
    net.peer(["nginx", "-c", nginx_conf(tmp_path, 8081)], stderr=subprocess.DEVNULL)
    wait_port(net, 8081, "peer")
    r = net.app_run(["curl", "-sS", "--max-time", "20", "http://10.0.0.1:8081/f.bin"])
    assert r.returncode == 0 and sha(r.stdout) == sha(PAYLOAD), r.stderr


@pytest.mark.parametrize("udp", [False, True], ids=["tcp", "udp"])
def test_iperf3_client_and_server(net, udp):
    need("iperf3")
    extra = ["-u", "-b", "50M"] if udp else []
    for where in ("app-client", "app-server"):
        if where == "app-client":
            net.peer(["iperf3", "-s", "-1", "-p", "5201"], stdout=subprocess.DEVNULL)
            wait_port(net, 5201, "peer")
            r = net.app_run(["iperf3", "-c", "10.0.0.1", "-t", "1", "-J", *extra], text=True)
        else:
            net.app(["iperf3", "-s", "-1", "-p", "5202"], stdout=subprocess.DEVNULL)
            wait_port(net, 5202)
            r = net.peer_run(["iperf3", "-c", "10.0.0.0", "-p", "5202", "-t", "1", "-J", *extra], text=True)
        assert r.returncode == 0, (where, r.stdout[-2000:], r.stderr)
        import json

        end = json.loads(r.stdout)["end"]
        got = end["sum"]["bytes"] if udp else end["sum_received"]["bytes"]
        assert got > 1_000_000, (where, end)
        if udp:
            assert end["sum"]["lost_percent"] < 5, end["sum"]


def test_show_app_and_sessions_name_the_program(net):
    need("nc")
    app = net.app(["nc", "-l", "-p", "5010"], stdout=subprocess.DEVNULL)
    wait_port(net, 5010)
    out = net.run("show app")
    assert "nc-ldp-" in out
    assert re.search(r"\[0:\d+\]\[T\] 0\.0\.0\.0:5010->0\.0\.0\.0:0\s+LISTEN", net.run("show session verbose"))
    app.kill()
    app.wait()
    end = time.time() + 3  # the listener goes within a second of the app's death
    while time.time() < end and ":5010->" in net.run("show session verbose"):
        time.sleep(0.1)
    assert ":5010->" not in net.run("show session verbose")


def test_sigkilled_app_mid_transfer_frees_its_sessions(net):
    need("nc")
    sink = net.peer(["sh", "-c", "nc -l -p 5020 > /dev/null"])
    wait_port(net, 5020, "peer")
    app = net.app(["sh", "-c", "exec nc 10.0.0.1 5020 < /dev/zero"])
    end = time.time() + 10
    while time.time() < end and "10.0.0.1:5020" not in net.run("show session verbose"):
        time.sleep(0.1)
    time.sleep(0.5)
    app.send_signal(signal.SIGKILL)
    app.wait()
    t0 = time.time()
    while "10.0.0.1:5020" in net.run("show session verbose") and time.time() - t0 < 5:
        time.sleep(0.05)
    assert time.time() - t0 < 1.5, net.run("show session verbose")
    sink.wait(10)


def test_connect_close_cycles_do_not_grow(net):
    need("nc")
    net.peer(["socat", "TCP-LISTEN:5030,reuseaddr,fork", "EXEC:cat"])
    wait_port(net, 5030, "peer")
    prog = r"""
import os, socket, sys
def cycle():
    s = socket.create_connection(("10.0.0.1", 5030)); s.sendall(b"x"); s.recv(1); s.close()
for _ in range(50): cycle()
fds0 = len(os.listdir("/proc/self/fd"))
for _ in range(int(sys.argv[1])): cycle()
print(fds0, len(os.listdir("/proc/self/fd")))
"""
    import resource

    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    r = net.app_run([sys.executable, "-c", prog, "1000"], timeout=120, text=True)
    assert r.returncode == 0, r.stderr
    fds0, fds1 = map(int, r.stdout.split())
    assert fds1 == fds0
    n_engine_fds = len(os.listdir("/proc/self/fd"))
    out = net.run("show session")
    active = int(re.search(r"active sessions (\d+)", out).group(1)) if "active" in out else 0
    assert active < 1000 + 10, out  # TIME_WAIT ones only, expiring
    assert n_engine_fds < 200, n_engine_fds  # no socketpair end left behind in the engine
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss0 < 200_000  # KB


def test_engine_unreachable_fails_closed(net, tmp_path):
    r = subprocess.run([VPPSH, "exec", "--api-socket", str(tmp_path / "none"),
                        "--", "true"], capture_output=True, text=True)
    assert r.returncode != 0 and "cannot reach vppsh" in r.stderr
    from vppsh.preload import library

    env = dict(os.environ, LD_PRELOAD=library(), VCL_VPP_SAPI_SOCKET=str(tmp_path / "none"))
    prog = "import socket\ntry:\n socket.socket()\nexcept OSError as e:\n print('errno', e.errno)"
    r = subprocess.run(["nsenter", f"--net=/run/netns/{net.app_ns}", sys.executable, "-c", prog], env=env,
                       capture_output=True, text=True, timeout=10)
    assert r.stdout.startswith("errno"), r
    assert f"vppsh-ldp: cannot reach vppsh at {tmp_path / 'none'}" in r.stderr


def test_vcl_conf_options_and_unknown_option_warning(net, tmp_path):
    conf = tmp_path / "vcl.conf"
    conf.write_text(f"vcl {{\n  rx-fifo-size 65536\n  tx-fifo-size 65536\n  app-scope-global\n"
                    f"  no-such-option 1\n  app-socket-api {net.api}\n}}\n")
    prog = "import socket\ns = socket.socket(); print(s.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF))"
    r = subprocess.run(["nsenter", f"--net=/run/netns/{net.app_ns}", VPPSH,
                        "exec", "--vcl-config", str(conf), "--", sys.executable, "-c", prog],
                       capture_output=True, text=True, timeout=20)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "65536"
    assert f"{conf}:5: Unknown vppcom config option: 'no-such-option 1'" in r.stderr


def test_engine_stop_leaves_no_app_hanging(tmp_path):
    need("nc")
    n = ShimNet().start()
    try:
        n.peer(["sh", "-c", "nc -l -p 5040 > /dev/null"])
        wait_port(n, 5040, "peer")
        reader = n.app(["nc", "-l", "-p", "5041"], stdout=subprocess.DEVNULL)
        wait_port(n, 5041)
        n.peer(["sh", "-c", "sleep 30 | nc 10.0.0.0 5041"])
        writer = n.app(["sh", "-c", "exec nc 10.0.0.1 5040 < /dev/zero"])
        time.sleep(1.5)
        n.shell.close()
        n.shell = None
        for p in (reader, writer):
            p.wait(10)  # EOF/ECONNRESET reached them: no hang
    finally:
        n.stop()


def test_ip_minttl_drops_segments_below_it(net):
    """GTSM (RFC 5082), as BIRD's `ttl security`: IP_MINTTL 255 makes the kernel peer's TTL-64
    segments drops, counted in `show errors`."""
    need("socat")
    net.peer(["socat", "TCP-LISTEN:5050,reuseaddr,fork", "EXEC:cat"])
    wait_port(net, 5050, "peer")
    prog = r"""
import socket
s = socket.create_connection(("10.0.0.1", 5050), timeout=10)
s.sendall(b"a"); print(s.recv(1).decode())
s.setsockopt(socket.IPPROTO_IP, 21, 255)  # IP_MINTTL
s.settimeout(1.5); s.sendall(b"b")
try:
    print(s.recv(1).decode())
except socket.timeout:
    print("dropped")
"""
    r = net.app_run([sys.executable, "-c", prog], text=True)
    assert r.stdout.split() == ["a", "dropped"], (r.stdout, r.stderr)
    assert re.search(r"\d+\s+tcp4-established\s+TTL below the socket's IP_MINTTL", net.run("show errors"))


def test_half_close_then_close_leaves_the_engine_idle(net):
    """shutdown(SHUT_WR), then close: the engine hears the close (FIN sent, then the session
    closes) and does not spin on its end's HUP."""
    srv = net.peer([sys.executable, "-c", """
import socket, time
l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); l.bind(("10.0.0.1", 5040)); l.listen()
c, _ = l.accept(); c.settimeout(10); print(repr(c.recv(100)), repr(c.recv(100)), flush=True); time.sleep(30)
"""], stdout=subprocess.PIPE, text=True)
    wait_port(net, 5040, "peer")
    app = net.app([sys.executable, "-c", """
import socket, time
s = socket.create_connection(("10.0.0.1", 5040)); s.send(b"hi"); s.shutdown(socket.SHUT_WR)
time.sleep(0.3); s.close(); time.sleep(30)
"""])
    try:
        end = time.time() + 10
        while time.time() < end and "FIN_WAIT_2" not in (out := net.run("show session verbose")):
            time.sleep(0.1)
        assert "FIN_WAIT_2" in out, out  # the half-close: vppsh's FIN went out and was acked
        assert srv.stdout.readline() == "b'hi' b''\n"  # the data, then the FIN
        time.sleep(1)
        t0 = os.times()
        time.sleep(1)
        t1 = os.times()
        assert (t1.user - t0.user) + (t1.system - t0.system) < 0.2  # the engine runs in this process
    finally:
        app.kill()
        srv.kill()
