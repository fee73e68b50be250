"""Real, unmodified programs through `vppsh exec` over native IPv6: curl -6 and python's
http.server both ways, nginx's stock `listen P; listen [::]:P;` pair with IPv6 and IPv4 curl
clients, iperf3 -6 both ways; each against the Linux kernel across vppsh's tap (vppsh
2001:db8::, the kernel 2001:db8::1), files checked by sha256. test_preload_apps.py has the
IPv4 and dual-stack-with-IPv4-client ones."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time

import pytest

from tests.helpers.apps import PAYLOAD, need, nginx_conf, sessions_settle, sha
from tests.helpers.shimnet import LOCAL6, PEER6, ShimNet

pytestmark = pytest.mark.root


@pytest.fixture(scope="module")
def net():
    n = ShimNet(ip6=True).start()
    yield n
    n.stop()


def wait_listen(net, port: int, where: str = "vppsh", timeout: float = 10) -> None:
    """Until something listens on port over IPv6 (on vppsh: an IPv6 LISTEN session; in the
    peer: ss)."""
    end = time.time() + timeout
    while time.time() < end:
        if where == "vppsh":
            if re.search(rf"\[T\] [0-9a-f:]*:{port}->:::0\s+LISTEN", net.run("show session verbose")):
                return
        elif re.search(rf"(\[[0-9a-f:]*\]|\*):{port}\s", net.peer_run(["ss", "-Hlt6n"], text=True).stdout):
            return
        time.sleep(0.1)
    raise AssertionError(f"nothing listens on [::]:{port} ({where})\n{net.run('show session verbose')}")


def test_curl6_and_python_http_server_both_ways(net, tmp_path):
    need("curl")
    (tmp_path / "f.bin").write_bytes(PAYLOAD)
    # curl -6 through the shim against python's http.server in the peer namespace
    net.peer([sys.executable, "-m", "http.server", "-b", PEER6, "8600", "-d", str(tmp_path)],
             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_listen(net, 8600, "peer")
    r = net.app_run(["curl", "-6", "-sS", "--max-time", "20", "-w", "%{local_ip} %{remote_ip}",
                     "-o", str(tmp_path / "got.bin"), f"http://[{PEER6}]:8600/f.bin"], text=True)
    assert r.returncode == 0, r.stderr
    assert sha((tmp_path / "got.bin").read_bytes()) == sha(PAYLOAD)
    assert r.stdout.split() == [LOCAL6, PEER6], r.stdout  # curl's getsockname/getpeername
    # python's http.server through the shim (its default bind: ::), curl -6 from the peer
    py = net.app([sys.executable, "-m", "http.server", "8601", "-d", str(tmp_path)],
                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_listen(net, 8601)
    r = net.peer_run(["curl", "-6", "-sS", "--max-time", "20", f"http://[{LOCAL6}]:8601/f.bin"])
    assert r.returncode == 0 and sha(r.stdout) == sha(PAYLOAD), r.stderr
    py.kill()
    out, log = py.communicate(timeout=10)
    assert out.startswith("Serving HTTP on :: port 8601"), out
    assert f"{PEER6} - - " in log and '"GET /f.bin HTTP/1.1" 200' in log, log
    sessions_settle(net)


def test_nginx_listen_ipv6_with_ipv6_and_ipv4_curl(net, tmp_path):
    """nginx's stock pair (its [::] socket is IPV6_V6ONLY, beside the IPv4 one on the port):
    an IPv6 client reaches the [::] listener, an IPv4 one the other; the access log says who."""
    need("nginx", "curl")
    port = 8680
    listen = "listen {port}; listen [::]:{port};" + f" access_log {tmp_path}/access.log;"
    ng = net.app(["nginx", "-c", nginx_conf(tmp_path, port, listen)], stderr=subprocess.PIPE)
    wait_listen(net, port)
    for host in (f"[{LOCAL6}]", "10.0.0.0", f"[{LOCAL6}]"):
        r = net.peer_run(["curl", "-sS", "--max-time", "20", f"http://{host}:{port}/f.bin"])
        assert r.returncode == 0 and sha(r.stdout) == sha(PAYLOAD), (host, r.stderr)
    out = net.run("show session verbose")
    assert re.search(rf"\[T\] :::{port}->:::0\s+LISTEN", out), out
    assert re.search(rf"\[T\] 0\.0\.0\.0:{port}->0\.0\.0\.0:0\s+LISTEN", out), out
    ng.send_signal(signal.SIGQUIT)
    ng.wait(10)
    clients = [line.split()[0] for line in (tmp_path / "access.log").read_text().splitlines()]
    assert clients == [PEER6, "10.0.0.1", PEER6], clients
    sessions_settle(net)


def test_iperf3_over_ipv6_both_ways(net):
    need("iperf3")
    for where in ("app-client", "app-server"):
        if where == "app-client":
            net.peer(["iperf3", "-s", "-1", "-p", "5601"], stdout=subprocess.DEVNULL)
            wait_listen(net, 5601, "peer")
            r = net.app_run(["iperf3", "-6", "-c", PEER6, "-p", "5601", "-t", "3", "-J"], text=True, timeout=40)
        else:
            net.app(["iperf3", "-s", "-1", "-p", "5602"], stdout=subprocess.DEVNULL)
            wait_listen(net, 5602)
            r = net.peer_run(["iperf3", "-6", "-c", LOCAL6, "-p", "5602", "-t", "3", "-J"], text=True, timeout=40)
        assert r.returncode == 0, (where, r.stdout[-2000:], r.stderr)
        res = json.loads(r.stdout)
        assert res["start"]["connected"][0]["remote_host"] == (PEER6 if where == "app-client" else LOCAL6), res["start"]
        got = res["end"]["sum_received"]["bytes"]
        assert got > 3_000_000, (where, res["end"])
    sessions_settle(net)


def test_show_session_prints_ipv6_endpoints(net):
    """A native connection as VPP prints it: [0:N][T] 2001:db8:::P->2001:db8::1:P."""
    need("nc")
    srv = net.peer(["nc", "-6", "-l", "-p", "5603"], stdout=subprocess.DEVNULL)
    wait_listen(net, 5603, "peer")
    app = net.app(["sh", "-c", f"sleep 2 | nc -N {PEER6} 5603"])
    end = time.time() + 10
    out = ""
    while time.time() < end:
        out = net.run("show session verbose")
        if "ESTABLISHED" in out:
            break
        time.sleep(0.1)
    assert re.search(rf"\[0:\d+\]\[T\] {LOCAL6}:\d+->{PEER6}:5603\s+ESTABLISHED", out), out
    app.wait(15)
    srv.wait(15)
