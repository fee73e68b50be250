"""TCP over IPv6 hearing ICMPv6 from a real router, compared with a kernel client on the same
router: a Linux namespace routes between vppsh (a tap), a kernel server behind a 1,280-byte
link (its MSS says 1,500), and a kernel client. Sending to the server, both get packet too big from the router and
must end with the same MSS and path MTU (TCP_INFO's) and every byte delivered; connecting into
the router's `prohibit` and `unreachable` routes, both must fail at once with the same errno.
tests/session/test_tcp_icmp.py checks the rules without packets."""

from __future__ import annotations

import errno
import hashlib
import ipaddress
import json
import subprocess
import sys
import time
import uuid

import pytest
from pyroute2 import NetNS
from pyroute2 import netns as pr_netns

from tests.helpers.kernel import ipv6_settled, ns_popen, ns_run, readline, stop
from vppsh.session.app import App
from vppsh.session.transport import TransportProto
from vppsh.vcl.socks import session_errno

pytestmark = pytest.mark.root

VPP6, R_TAP = "2001:db8:1::1", "2001:db8:1::2"
R_SRV, SRV = "2001:db8:2::1", "2001:db8:2::2"  # the 1,280-byte link
R_CLI, CLI = "2001:db8:3::1", "2001:db8:3::2"
PROHIBITED, UNREACHABLE = "2001:db8:99::1", "2001:db8:98::1"
SIZE = 2 << 20

SERVER = r"""
import hashlib, socket, sys
ls = socket.socket(socket.AF_INET6)
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind((sys.argv[1], 5001))
ls.listen(4)
ls.settimeout(120)
print("ready", flush=True)
for _ in range(2):
    c, _ = ls.accept()
    h, n = hashlib.sha256(), 0
    while True:
        d = c.recv(1 << 20)
        if not d:
            break
        h.update(d)
        n += len(d)
    c.close()
    print(n, h.hexdigest(), flush=True)
"""

# The kernel's client: sends argv[2] bytes to argv[1], then prints TCP_INFO's snd_mss and pmtu;
# then the errno of a connect to each further address.
CLIENT = r"""
import errno, json, socket, struct, sys
s = socket.create_connection((sys.argv[1], 5001), timeout=30)
s.sendall(bytes(i & 0xFF for i in range(int(sys.argv[2]))))
info = s.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 104)
snd_mss, pmtu = struct.unpack_from("I", info, 16)[0], struct.unpack_from("I", info, 60)[0]
s.close()
fails = {}
for dst in sys.argv[3:]:
    c = socket.socket(socket.AF_INET6)
    c.settimeout(10)
    try:
        c.connect((dst, 80))
        fails[dst] = None
    except OSError as e:
        fails[dst] = errno.errorcode.get(e.errno, str(e))
print(json.dumps([snd_mss, pmtu, fails]))
"""


class Sender(App):
    def __init__(self) -> None:
        super().__init__("pmtu-sender", 1 << 20, 1 << 20)
        self.results: list = []

    def on_connected(self, s, err, opaque):
        self.results.append((s, err))


@pytest.fixture
def nets():
    names = [f"vppsh-p6{k}-{uuid.uuid4().hex[:6]}" for k in "rsc"]
    yield names
    for n in names:
        if n in pr_netns.listnetns():
            pr_netns.remove(n)


def veth(r: str, other: str, r_addr: str, addr: str, mtu: int) -> None:
    """A veth from router namespace `r` to `other` (made here), /64s, `other` routed via r. The
    router's end has `mtu`, the other's 1500: what the router forwards toward `other` is cut to
    `mtu` (packet too big for more) while `other` still announces a 1500-byte MSS."""
    pr_netns.create(other)
    with NetNS(r) as ipr:
        ipr.link("add", ifname="to-" + other[-6:], kind="veth", peer={"ifname": "up0", "net_ns_fd": f"/run/netns/{other}"})
        idx = ipr.link_lookup(ifname="to-" + other[-6:])[0]
        ipr.link("set", index=idx, mtu=mtu, state="up")
        ipr.addr("add", index=idx, address=r_addr, prefixlen=64)
    with NetNS(other) as ipr:
        idx = ipr.link_lookup(ifname="up0")[0]
        ipr.link("set", index=idx, mtu=1500, state="up")
        ipr.addr("add", index=idx, address=addr, prefixlen=64)
        ipr.link("set", index=ipr.link_lookup(ifname="lo")[0], state="up")
        ipr.route("add", dst="::/0", gateway=r_addr, family=10)


def topology(shell, r: str, srv: str, cli: str) -> None:
    shell.run(f"create tap id 0 host-ns {r} host-if-name vtap0 host-ip6-addr {R_TAP}/64")
    shell.run("set interface state tap0 up")
    shell.run(f"set interface ip address tap0 {VPP6}/64")
    shell.run(f"ip route add 2001:db8::/32 via {R_TAP}")
    shell.run("session enable")
    veth(r, srv, R_SRV, SRV, 1280)
    veth(r, cli, R_CLI, CLI, 1500)
    ns_run(r, "sysctl", "-qw", "net.ipv6.conf.all.forwarding=1")
    ns_run(r, "ip", "-6", "route", "add", "prohibit", "2001:db8:99::/48")
    ns_run(r, "ip", "-6", "route", "add", "unreachable", "2001:db8:98::/48")
    for ns in (r, srv, cli):
        ipv6_settled(ns)
    shell.run(f"ping {R_TAP} repeat 1 interval 0.1")  # the router resolved before TCP starts


def vpp_connect(shell, app: Sender, dst: str, port: int):
    vm = shell.vm
    shell.call(lambda: vm.session.connect(app, TransportProto.TCP, int(ipaddress.IPv6Address(dst)), port))
    deadline = time.monotonic() + 15
    while not app.results and time.monotonic() < deadline:
        shell.run("wait 0.05")
    return app.results.pop()


def test_packet_too_big_and_unreachable_from_a_router_as_the_kernel_hears_them(shell, nets):
    r, srv_ns, cli_ns = nets
    topology(shell, r, srv_ns, cli_ns)
    vm = shell.vm
    server = ns_popen(srv_ns, sys.executable, "-c", SERVER, SRV, stdout=subprocess.PIPE, text=True)
    try:
        assert readline(server, 10).strip() == "ready"
        k = subprocess.run(["nsenter", f"--net=/run/netns/{cli_ns}", sys.executable, "-c", CLIENT, SRV, str(SIZE),
                            PROHIBITED, UNREACHABLE], capture_output=True, text=True, timeout=120)
        assert k.returncode == 0, k.stderr
        k_mss, k_pmtu, k_fails = json.loads(k.stdout)
        pattern = bytes(i & 0xFF for i in range(SIZE))
        assert readline(server, 30).split() == [str(SIZE), hashlib.sha256(pattern).hexdigest()]

        app = Sender()
        shell.call(lambda: vm.session.attach(app))
        s, err = vpp_connect(shell, app, SRV, 5001)
        assert err is None
        sent, deadline = 0, time.monotonic() + 60
        while sent < SIZE and time.monotonic() < deadline:
            sent += shell.call(lambda: vm.session.send(s, pattern[sent:sent + (256 << 10)]))
            shell.run("wait 0.02")
        while shell.call(lambda: s.conn.snd_una < s.conn.snd_max) and time.monotonic() < deadline:
            shell.run("wait 0.05")  # all acknowledged: TCP_INFO's values are final, as the kernel's
        c = s.conn
        v_mss, v_pmtu = c.snd_mss, c.info()["pmtu"]
        shell.call(lambda: vm.session.close(s))
        assert readline(server, 30).split() == [str(SIZE), hashlib.sha256(pattern).hexdigest()]
    finally:
        stop(server)
    assert (v_mss, v_pmtu) == (k_mss, k_pmtu) == (1208, 1280), (v_mss, v_pmtu, k_mss, k_pmtu)
    v_fails = {}
    for dst in (PROHIBITED, UNREACHABLE):
        t0 = time.monotonic()
        s, err = vpp_connect(shell, app, dst, 80)
        assert s is None and time.monotonic() - t0 < 0.9, (dst, err)  # before the first SYN retry
        v_fails[dst] = errno.errorcode[session_errno(err)]
    assert v_fails == k_fails == {PROHIBITED: "EACCES", UNREACHABLE: "ENETUNREACH"}, (v_fails, k_fails)
    err = shell.run("show errors")
    assert "node exceptions" not in err
    for reason in ("path MTU lowered by ICMP", "ICMP errors delivered to sessions"):
        assert reason in err, err
