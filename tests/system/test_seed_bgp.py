"""The seed scenario: unmodified BIRD through `vppsh exec`, peering over vppsh's tap with FRR's
bgpd in the namespace on the kernel side, over IPv4 and over IPv6; and a forking bgpd through
the shim. Configurations are examples/seed/'s (the demo's), with a line or two changed where a
test needs it. The IPv4 tests' tap has no IPv6 (as the seed always had): there the configs'
IPv6 sessions only try, and fail, to connect."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time

import pytest

from tests.helpers.shimnet import ShimNet

SEED = os.path.join(os.path.dirname(__file__), "..", "..", "examples", "seed")
BGPD = "/usr/lib/frr/bgpd"

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(shutil.which("bird") is None or not os.path.exists(BGPD), reason="needs bird2 and frr"),
]


def seed_conf(name: str, tmp_path, edit=lambda s: s) -> str:
    with open(os.path.join(SEED, name)) as f:
        text = edit(f.read())
    p = tmp_path / name
    p.write_text(text)
    return str(p)


class Bgp:
    def __init__(self, net: ShimNet, tmp_path) -> None:
        self.net, self.tmp = net, tmp_path
        self.bird_ctl = str(tmp_path / "bird.ctl")
        self.vty = tmp_path / "vty"
        self.vty.mkdir(exist_ok=True)

    def bgpd_peer(self, conf: str) -> subprocess.Popen:
        """bgpd in the peer namespace (the kernel's side), foreground."""
        return self.net.peer([BGPD, "-Z", "-S", "-f", conf, "-i", str(self.tmp / "bgpd.pid"),
                              "--vty_socket", str(self.vty), "-P", "0"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def bird_shim(self, conf: str, env=None) -> subprocess.Popen:
        return self.net.app(["bird", "-d", "-c", conf, "-s", self.bird_ctl], stderr=subprocess.DEVNULL, env=env)

    def birdc(self, *words: str) -> str:
        return subprocess.run(["birdc", "-s", self.bird_ctl, *words], capture_output=True, text=True,
                              timeout=10).stdout

    def wait(self, fn, what: str, timeout: float = 30) -> float:
        t0 = time.time()
        while time.time() - t0 < timeout:
            if fn():
                return time.time() - t0
            time.sleep(0.2)
        raise AssertionError(f"timed out waiting for {what}")

    def bird_established(self, *proto: str) -> bool:
        return "Established" in self.birdc("show", "protocols", *proto)


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@pytest.fixture
def bgp(tmp_path):
    net = ShimNet().start()
    yield Bgp(net, tmp_path)
    net.stop()


def test_bird_through_vppsh_peers_with_frr(bgp, tmp_path):
    """BIRD's setsockopts, non-blocking connect, poll loop and listen/accept through the shim:
    Established, the peer's prefix learned, seed-shaped `show session verbose`, ~0% idle CPU."""
    bgp.bgpd_peer(seed_conf("bgpd.conf", tmp_path))
    bird = bgp.bird_shim(seed_conf("bird.conf", tmp_path))
    bgp.wait(bgp.bird_established, "BIRD Established")
    bgp.wait(lambda: "192.0.2.0/24" in bgp.birdc("show", "route"), "the peer's prefix in BIRD")
    out = bgp.net.run("show session verbose")
    assert re.search(r"\[0:\d+\]\[T\] 0\.0\.0\.0:179->0\.0\.0\.0:0\s+LISTEN", out), out
    assert re.search(r"\[0:\d+\]\[T\] 10\.0\.0\.0:\d+->10\.0\.0\.1:\d+\s+ESTABLISHED", out), out
    assert re.search(r"bird-ldp-\d+", bgp.net.run("show app"))
    summary = subprocess.run(["vtysh", "--vty_socket", str(bgp.vty), "-c", "show ip bgp summary"],
                             capture_output=True, text=True, timeout=10).stdout
    assert re.search(r"10\.0\.0\.0\s+4\s+31337 .* 1 N/A", summary), summary  # PfxSnt 1
    c0 = cpu_seconds(bird.pid)
    time.sleep(3)
    assert cpu_seconds(bird.pid) - c0 < 0.1  # poll() blocks natively: no spinning
    assert bgp.bird_established()


@pytest.mark.parametrize("who", ["bird-connects", "bird-accepts"])
def test_both_directions(bgp, tmp_path, who):
    """BIRD connects out (bgpd passive) or accepts the peer's connection (BIRD passive)."""
    if who == "bird-connects":
        bgpd = seed_conf("bgpd.conf", tmp_path, lambda s: s.replace(
            " neighbor 10.0.0.0 remote-as 31337\n", " neighbor 10.0.0.0 remote-as 31337\n neighbor 10.0.0.0 passive\n"))
        bird = seed_conf("bird.conf", tmp_path)
    else:
        bgpd = seed_conf("bgpd.conf", tmp_path)
        bird = seed_conf("bird.conf", tmp_path, lambda s: s.replace("  hold time 9;", "  hold time 9;\n  passive on;"))
    bgp.bgpd_peer(bgpd)
    bgp.bird_shim(bird)
    bgp.wait(bgp.bird_established, "Established")
    out = bgp.net.run("show session verbose")
    # BIRD's end of the one session: port 179 is ours when the peer connected in
    local179 = re.search(r"10\.0\.0\.0:179->10\.0\.0\.1:\d+\s+ESTABLISHED", out)
    remote179 = re.search(r"10\.0\.0\.0:\d+->10\.0\.0\.1:179\s+ESTABLISHED", out)
    assert (remote179 if who == "bird-connects" else local179), out


def test_flap_and_recover(bgp, tmp_path):
    bgpd_conf = seed_conf("bgpd.conf", tmp_path)
    peer = bgp.bgpd_peer(bgpd_conf)
    bgp.bird_shim(seed_conf("bird.conf", tmp_path))
    bgp.wait(bgp.bird_established, "Established")
    peer.send_signal(signal.SIGKILL)
    peer.wait()
    bgp.wait(lambda: not bgp.bird_established(), "BIRD noticing the dead peer", timeout=20)
    closed = bgp.net.run("show session verbose")
    bgp.bgpd_peer(bgpd_conf)
    took = bgp.wait(bgp.bird_established, "Established again", timeout=30)
    assert took < 15, took  # within BIRD's connect retry (5 s) and bgpd's (5 s), with margin
    assert "ESTABLISHED" in bgp.net.run("show session verbose"), closed


@pytest.fixture
def bgp6(tmp_path):
    net = ShimNet(ip6=True).start()
    yield Bgp(net, tmp_path)
    net.stop()


def test_bird_over_ipv6_peers_with_frr(bgp6, tmp_path):
    """The seed over IPv6 as well: BIRD's external_peer6 (vppsh's 2001:db8::) Established with
    bgpd's 2001:db8::1, bgpd's 2001:db8:ffff::/48 in BIRD's ipv6 table, the session in
    `show session verbose` as VPP prints IPv6; the IPv4 session beside it on the same tap."""
    bgp = bgp6
    bgp.bgpd_peer(seed_conf("bgpd.conf", tmp_path))
    bird = bgp.bird_shim(seed_conf("bird.conf", tmp_path))
    bgp.wait(lambda: bgp.bird_established("external_peer6"), "BIRD Established over IPv6")
    bgp.wait(lambda: "2001:db8:ffff::/48" in bgp.birdc("show", "route", "table", "master6"),
             "the peer's IPv6 prefix in BIRD's ipv6 table")
    out = bgp.birdc("show", "protocols", "all", "external_peer6")
    assert re.search(r"Neighbor address: 2001:db8::1\n", out) and "Source address:   2001:db8::\n" in out, out
    assert re.search(r"Channel ipv6\n\s+State:\s+UP", out), out
    out = bgp.net.run("show session verbose")
    assert re.search(r"\[0:\d+\]\[T\] :::179->:::0\s+LISTEN", out), out
    assert re.search(r"\[0:\d+\]\[T\] 2001:db8:::\d+->2001:db8::1:\d+\s+ESTABLISHED", out), out
    summary = subprocess.run(["vtysh", "--vty_socket", str(bgp.vty), "-c", "show bgp ipv6 unicast summary"],
                             capture_output=True, text=True, timeout=10).stdout
    assert re.search(r"2001:db8::\s+4\s+31337 .* 1 N/A", summary), summary  # PfxSnt 1
    bgp.wait(lambda: bgp.bird_established("external_peer") and "192.0.2.0/24" in bgp.birdc("show", "route"),
             "the IPv4 session beside it")
    assert re.search(r"\[0:\d+\]\[T\] 10\.0\.0\.0:\d+->10\.0\.0\.1:\d+\s+ESTABLISHED",
                     bgp.net.run("show session verbose"))
    c0 = cpu_seconds(bird.pid)
    time.sleep(3)
    assert cpu_seconds(bird.pid) - c0 < 0.1
    assert bgp.bird_established("external_peer6")


def test_keepalives_traced_to_tcp4_established(bgp, tmp_path):
    bgp.bgpd_peer(seed_conf("bgpd.conf", tmp_path))
    bgp.bird_shim(seed_conf("bird.conf", tmp_path))
    bgp.wait(bgp.bird_established, "Established")
    bgp.net.run("trace add virtio-input 20")
    time.sleep(4)  # bgpd sends a keepalive every 3 s
    trace = bgp.net.run("show trace")
    assert "virtio-input" in trace and "tcp4-established" in trace, trace[-3000:]


FORKING_BGPD = """
hostname vppsh-side
router bgp 31337
 bgp router-id 10.0.0.0
 no bgp network import-check
 no bgp ebgp-requires-policy
 neighbor 10.0.0.1 remote-as 31337
 neighbor 10.0.0.1 timers 3 9
 neighbor 10.0.0.1 timers connect 5
 address-family ipv4 unicast
  network 198.51.100.0/24
 exit-address-family
"""

PEER_BIRD = """
router id 10.0.0.1;
protocol device { }
protocol bgp vppsh_side {
  local 10.0.0.1 as 31337;
  neighbor 10.0.0.0 as 31337;
  connect retry time 5;
  ipv4 { import all; export none; };
}
"""


def test_forking_bgpd_through_the_shim(bgp, tmp_path):
    """bgpd daemonises (fork, parent exits) with its sockets on vppsh; BIRD is the kernel-side
    peer. The shim's sockets and control connection survive the fork."""
    conf = tmp_path / "bgpd-vppsh.conf"
    conf.write_text(FORKING_BGPD)
    peer_conf = tmp_path / "bird-peer.conf"
    peer_conf.write_text(PEER_BIRD)
    ctl = str(tmp_path / "peer-bird.ctl")
    bgp.net.peer(["bird", "-f", "-c", str(peer_conf), "-s", ctl], stderr=subprocess.DEVNULL)
    pidfile = tmp_path / "bgpd-vppsh.pid"
    r = bgp.net.app_run([BGPD, "-d", "-Z", "-S", "-f", str(conf), "-i", str(pidfile), "--vty_socket",
                         str(bgp.vty), "-P", "0"], timeout=30)
    assert r.returncode == 0, r.stderr
    pid = int(pidfile.read_text())
    try:
        def up() -> bool:
            out = subprocess.run(["birdc", "-s", ctl, "show", "protocols"], capture_output=True, text=True).stdout
            return "Established" in out
        bgp.wait(up, "BIRD (kernel side) Established with the daemonised bgpd")
        bgp.wait(lambda: "198.51.100.0/24" in subprocess.run(["birdc", "-s", ctl, "show", "route"],
                                                            capture_output=True, text=True).stdout,
                 "bgpd's prefix in the peer's BIRD")
        assert re.search(rf"bgpd-ldp-{pid}\b", bgp.net.run("show app"))
    finally:
        os.kill(pid, signal.SIGKILL)
