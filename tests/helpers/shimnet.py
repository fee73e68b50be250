"""vppsh with a tap into a peer namespace (the seed's addresses: vppsh 10.0.0.0, the kernel
10.0.0.1; with ip6, also vppsh 2001:db8::/127 and the kernel 2001:db8::1) and an empty app
namespace (lo only, no routes) where programs run under `vppsh exec`, so a shim bug can never
send their traffic anywhere."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid

from pyroute2 import NetNS
from pyroute2 import netns as pr_netns

from tests.helpers.shell import Shell

VPPSH = os.path.join(os.path.dirname(sys.executable), "vppsh")
LOCAL6, PEER6 = "2001:db8::", "2001:db8::1"  # vppsh, the kernel (a /127, as the seed's /31)


def wait_dad(ns: str, timeout: float = 10) -> None:
    """Until no IPv6 address in `ns` is tentative (the kernel drops what is sent to one)."""
    deadline = time.monotonic() + timeout
    with NetNS(ns) as ipr:
        while any(a["flags"] & 0x40 for a in ipr.get_addr(family=10)) and time.monotonic() < deadline:
            time.sleep(0.05)


def host_link(ns: str) -> tuple[str, str]:
    """(name, MAC) of the one non-loopback link in `ns`, once its IPv6 addresses finished DAD."""
    wait_dad(ns)
    with NetNS(ns) as ipr:
        link = next(link for link in ipr.get_links() if link.get_attr("IFLA_IFNAME") != "lo")
        return link.get_attr("IFLA_IFNAME"), link.get_attr("IFLA_ADDRESS")


def nsname() -> str:
    return f"vppsh-t-{uuid.uuid4().hex[:8]}"


class ShimNet:
    def __init__(self, vcl_conf: str | None = None, tap_opts: str = "", ip6: bool = False) -> None:
        self.peer_ns, self.app_ns = nsname(), nsname()
        self.tmp = tempfile.mkdtemp(prefix="vppsh-shim-")
        self.api = os.path.join(self.tmp, "api.sock")
        self.vcl_conf = vcl_conf
        self.tap_opts = tap_opts
        self.ip6 = ip6
        self.shell: Shell | None = None
        self.procs: list[subprocess.Popen] = []

    def start(self) -> "ShimNet":
        from vppsh.vcl.server import ApiServer

        pr_netns.create(self.app_ns)
        self.shell = sh = Shell()
        six = f"host-ip6-addr {PEER6}/127 " if self.ip6 else ""
        sh.run(f"create tap id 0 host-ns {self.peer_ns} host-ip4-addr 10.0.0.1/31 {six}{self.tap_opts}")
        sh.run("set interface state tap0 up")
        sh.run("set interface ip address tap0 10.0.0.0/31")
        if self.ip6:
            sh.run(f"set interface ip address tap0 {LOCAL6}/127")
        sh.run("session enable")
        sh.call(ApiServer(sh.vm, self.api).start)
        if self.ip6:
            wait_dad(self.peer_ns)
        return self

    def exec_argv(self, argv: list[str]) -> list[str]:
        conf = ["--vcl-config", self.vcl_conf] if self.vcl_conf else []
        return ["nsenter", f"--net=/run/netns/{self.app_ns}", VPPSH, "exec", "--api-socket", self.api, *conf,
                "--", *argv]

    def peer_argv(self, argv: list[str]) -> list[str]:
        return ["nsenter", f"--net=/run/netns/{self.peer_ns}", *argv]

    def app(self, argv: list[str], **kw) -> subprocess.Popen:
        return self._start(self.exec_argv(argv), **kw)

    def peer(self, argv: list[str], **kw) -> subprocess.Popen:
        return self._start(self.peer_argv(argv), **kw)

    def _start(self, argv: list[str], **kw) -> subprocess.Popen:
        """In a process group of its own, so stop() takes a program's children too (nginx's
        workers must not outlive a killed master)."""
        kw.setdefault("stdin", subprocess.DEVNULL)
        p = subprocess.Popen(argv, start_new_session=True, **kw)
        self.procs.append(p)
        return p

    def app_run(self, argv: list[str], timeout: float = 30, **kw) -> subprocess.CompletedProcess:
        kw.setdefault("stdin", subprocess.DEVNULL)
        return subprocess.run(self.exec_argv(argv), timeout=timeout, capture_output=True, **kw)

    def peer_run(self, argv: list[str], timeout: float = 30, **kw) -> subprocess.CompletedProcess:
        kw.setdefault("stdin", subprocess.DEVNULL)
        return subprocess.run(self.peer_argv(argv), timeout=timeout, capture_output=True, **kw)

    def run(self, line: str) -> str:
        return self.shell.run(line)

    def stop(self) -> None:
        for p in self.procs:
            try:
                os.killpg(p.pid, signal.SIGKILL)  # the group's id is the leader's pid
            except ProcessLookupError:
                pass
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                pass
            for f in (p.stdin, p.stdout, p.stderr):
                if f is not None:
                    f.close()
        if self.shell is not None:
            self.shell.close()
        for n in (self.peer_ns, self.app_ns):
            if os.path.exists(f"/run/netns/{n}"):
                pr_netns.remove(n)
        subprocess.run(["rm", "-rf", self.tmp])
