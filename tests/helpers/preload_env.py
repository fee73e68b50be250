"""The topology the socket-semantics programs (tests/preload/prog_*.py) run in, in one of two modes
with the same addresses:

- "native": two namespaces joined by a veth pair; the app namespace holds 10.0.0.0/31 and
  2001:db8::/127, the peer namespace 10.0.0.1/31 and 2001:db8::1/127 (lo up in both). The
  program under test uses the kernel's stack.
- "vppsh": the program runs under `vppsh exec` in a namespace with only lo and no routes; vppsh
  owns 10.0.0.0 and 2001:db8:: and its tap's kernel side in the peer namespace has the peer's
  addresses (shimnet.ShimNet).

Both sides also have link-local addresses; the program finds its own, the peer's and the
interface (scope id) to use in the environment, as JSON in VPPSH_T_LINK_LOCAL: in "native" mode
the kernel's ifindex of its veth, in "vppsh" mode vppsh's sw_if_index of the tap (vcl/addr.py).

The peer namespace is the Linux kernel in both modes. No pytest in here.
"""

from __future__ import annotations

import json
import os
import select
import socket
import signal
import subprocess
import sys
import time
import uuid

from pyroute2 import IPRoute
from pyroute2 import netns as pr_netns

MODES = ("native", "vppsh")
LOCAL, PEER = "10.0.0.0", "10.0.0.1"
LOCAL6, PEER6 = "2001:db8::", "2001:db8::1"


def _nsname() -> str:
    return f"vppsh-t-{uuid.uuid4().hex[:8]}"


class Topology:
    def __init__(self, mode: str) -> None:
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}")
        self.mode = mode
        self.app_ns = _nsname()
        self.peer_ns = _nsname()
        self.procs: list[subprocess.Popen] = []
        self._made_ns: list[str] = []
        self.net = None  # the ShimNet in vppsh mode
        self.env: dict[str, str] = {}  # for the program under test

    # ------------------------------------------------------------------ life cycle
    def start(self) -> "Topology":
        try:
            if self.mode == "vppsh":
                from tests.helpers.shimnet import ShimNet

                self.net = ShimNet(ip6=True).start()
                self.app_ns, self.peer_ns = self.net.app_ns, self.net.peer_ns
                vm = self.net.shell.vm
                sw = vm.interfaces.by_name["tap0"].sw_if_index
                local = socket.inet_ntop(socket.AF_INET6, vm.ip6.link_local[sw].to_bytes(16, "big"))
                self._link_local(sw, local)
                return self
            self._start_native()
        except BaseException:
            self.stop()
            raise
        return self

    def _start_native(self) -> None:
        for n in (self.app_ns, self.peer_ns):
            pr_netns.create(n)
            self._made_ns.append(n)
        tag = self.app_ns[-8:]
        va, vb = f"vs{tag}a", f"vs{tag}b"
        with IPRoute() as ipr:
            ipr.link("add", ifname=va, kind="veth", peer=vb)
            try:
                ipr.link("set", index=ipr.link_lookup(ifname=va)[0], net_ns_fd=self.app_ns)
                ipr.link("set", index=ipr.link_lookup(ifname=vb)[0], net_ns_fd=self.peer_ns)
            except BaseException:
                for name in (va, vb):
                    idx = ipr.link_lookup(ifname=name)
                    if idx:
                        ipr.link("del", index=idx[0])
                raise
        for n, ifname, addr, addr6 in ((self.app_ns, va, LOCAL, LOCAL6), (self.peer_ns, vb, PEER, PEER6)):
            with IPRoute(netns=n) as ipr:
                lo = ipr.link_lookup(ifname="lo")[0]
                ipr.link("set", index=lo, state="up")
                i = ipr.link_lookup(ifname=ifname)[0]
                ipr.addr("add", index=i, address=addr, prefixlen=31)
                ipr.addr("add", index=i, address=addr6, prefixlen=127)
                ipr.link("set", index=i, state="up")
        # the veth carrier comes up asynchronously; wait until both ends are operationally up
        deadline = time.monotonic() + 5
        for n, ifname in ((self.app_ns, va), (self.peer_ns, vb)):
            with IPRoute(netns=n) as ipr:
                while True:
                    link = ipr.get_links(ipr.link_lookup(ifname=ifname)[0])[0]
                    if link.get_attr("IFLA_OPERSTATE") == "UP" or time.monotonic() > deadline:
                        break
                    time.sleep(0.02)
        with IPRoute(netns=self.app_ns) as ipr:
            i = ipr.link_lookup(ifname=va)[0]
        self._link_local(i, _link_local_of(self.app_ns))

    def _link_local(self, scope: int, local: str) -> None:
        """Once both sides' IPv6 addresses finished DAD: what the program needs to know of
        link-local addresses (VPPSH_T_LINK_LOCAL)."""
        from tests.helpers.shimnet import wait_dad

        for n in (self.app_ns, self.peer_ns):
            if self.mode == "native" or n == self.peer_ns:
                wait_dad(n)
        self.env["VPPSH_T_LINK_LOCAL"] = json.dumps({"scope": scope, "local": local,
                                                     "peer": _link_local_of(self.peer_ns)})

    def stop(self) -> None:
        """Kill every process started here (by process group: the programs fork), then remove
        the namespaces (which takes the veth pair with them)."""
        for p in self.procs:
            _kill(p)
        self.procs.clear()
        for n in self._made_ns:
            if os.path.exists(f"/run/netns/{n}"):
                try:
                    pr_netns.remove(n)
                except OSError:
                    pass
        self._made_ns.clear()
        if self.net is not None:
            self.net.stop()
            self.net = None

    def __enter__(self) -> "Topology":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # ------------------------------------------------------------------ processes
    def _app_argv(self, argv: list[str]) -> list[str]:
        if self.mode == "vppsh":
            return self.net.exec_argv(argv)
        return ["nsenter", f"--net=/run/netns/{self.app_ns}", *argv]

    def _peer_argv(self, argv: list[str]) -> list[str]:
        return ["nsenter", f"--net=/run/netns/{self.peer_ns}", *argv]

    def _popen(self, argv: list[str], **kw) -> subprocess.Popen:
        if self.env and argv[:2] == self._app_argv([])[:2]:
            kw.setdefault("env", {**os.environ, **self.env})
        kw.setdefault("stdin", subprocess.DEVNULL)
        kw.setdefault("start_new_session", True)  # its own process group: stop() kills forks too
        p = subprocess.Popen(argv, **kw)
        self.procs.append(p)
        return p

    def _run(self, argv: list[str], timeout: float, **kw) -> subprocess.CompletedProcess:
        kw.setdefault("stdout", subprocess.PIPE)
        kw.setdefault("stderr", subprocess.PIPE)
        kw.setdefault("text", True)
        p = self._popen(argv, **kw)
        try:
            out, err = p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill(p)
            out, err = p.communicate()
            raise subprocess.TimeoutExpired(argv, timeout, out, err) from None
        finally:
            self.kill(p)
        return subprocess.CompletedProcess(argv, p.returncode, out, err)

    def kill(self, p: subprocess.Popen) -> None:
        """Kill p's process group (if anything is left of it) and forget it."""
        _kill(p)
        if p in self.procs:
            self.procs.remove(p)

    def app(self, argv: list[str], **popen_kw) -> subprocess.Popen:
        """Start argv as the program under test (address 10.0.0.0)."""
        return self._popen(self._app_argv(argv), **popen_kw)

    def app_run(self, argv: list[str], timeout: float = 30, **kw) -> subprocess.CompletedProcess:
        """Run argv as the program under test to completion: text stdout/stderr captured."""
        return self._run(self._app_argv(argv), timeout, **kw)

    def peer(self, argv: list[str], **popen_kw) -> subprocess.Popen:
        """Start argv in the peer namespace (the kernel at 10.0.0.1)."""
        return self._popen(self._peer_argv(argv), **popen_kw)

    def peer_run(self, argv: list[str], timeout: float = 30, **kw) -> subprocess.CompletedProcess:
        return self._run(self._peer_argv(argv), timeout, **kw)


def _link_local_of(ns: str) -> str:
    """The link-local address of the one link (lo aside) in namespace ns."""
    with IPRoute(netns=ns) as ipr:
        for a in ipr.get_addr(family=socket.AF_INET6):
            ip = a.get_attr("IFA_ADDRESS")
            if ip.startswith("fe80:"):
                return ip
    raise RuntimeError(f"no link-local address in {ns}")


def _kill(p: subprocess.Popen) -> None:
    """SIGKILL the process group p leads (it was started with start_new_session), then reap p."""
    try:
        os.killpg(p.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        p.wait(5)
    except subprocess.TimeoutExpired:
        pass


# -------------------------------------------------------------------------------------- programs
PRELOAD_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "preload")
PROGRAMS = {"tcp_client": "prog_tcp_client.py", "tcp_server": "prog_tcp_server.py", "udp": "prog_udp.py",
            "poll": "prog_poll.py", "process": "prog_process.py", "dual": "prog_dual.py",
            "tcp6": "prog_tcp6.py"}
SERVERS = {"tcp_server", "dual", "tcp6"}  # announce "listening PORT"; the peer's remote-controlled client connects
EXPECTED = os.path.join(PRELOAD_DIR, "expected.json")


def _readline(f, timeout: float) -> str:
    """One line from a pipe, or "" if none came within timeout."""
    if not select.select([f], [], [], timeout)[0]:
        return ""
    return f.readline()


def start_peer_services(topo: Topology) -> subprocess.Popen:
    """peer.py in the peer namespace, once it says "ready"."""
    p = topo.peer([sys.executable, os.path.join(PRELOAD_DIR, "peer.py")], stdout=subprocess.PIPE,
                  stderr=subprocess.PIPE, text=True)
    line = _readline(p.stdout, 15)
    if line.strip() != "ready":
        topo.kill(p)
        raise RuntimeError(f"peer services did not start: {line!r} {p.stderr.read()[-2000:]}")
    return p


class ProgramRun:
    """One run of a program: its results ({case: result}), exit code and output, for messages.
    Without the final JSON line (the program died), results are what its "#case" progress lines
    on stderr reported, and complete is False; None if there is nothing at all."""

    def __init__(self, name: str, rc, stdout: str, stderr: str, extra: str = "") -> None:
        self.name, self.rc, self.stdout, self.stderr, self.extra = name, rc, stdout, stderr, extra
        self.results, self.complete = None, False
        lines = [ln for ln in stdout.splitlines() if ln.startswith("{")]
        if lines:
            try:
                self.results, self.complete = json.loads(lines[-1]), True
            except ValueError:
                pass
        if self.results is None:
            partial = {}
            for ln in stderr.splitlines():
                if ln.startswith("#case "):
                    try:
                        c = json.loads(ln[6:])
                        partial[c["case"]] = c["result"]
                    except (ValueError, KeyError):
                        pass
            self.results = partial or None

    def timings(self) -> dict:
        out = {}
        for ln in self.stderr.splitlines():
            if ln.startswith("#case "):
                c = json.loads(ln[6:])
                out[c["case"]] = c["secs"]
        return out

    def diagnostics(self) -> str:
        err = "\n".join(ln for ln in self.stderr.splitlines() if not ln.startswith("#case "))
        return (f"{self.name}: exit {self.rc}{'' if self.complete else ' (no final results line)'}\n"
                f"--- stdout (tail)\n{self.stdout[-1500:]}\n--- stderr (tail, without #case lines)\n"
                f"{err[-3000:]}{self.extra}")


def run_program(topo: Topology, name: str, timeout: float = 180) -> ProgramRun:
    argv = [sys.executable, os.path.join(PRELOAD_DIR, PROGRAMS[name])]
    if name not in SERVERS:
        try:
            r = topo.app_run(argv, timeout=timeout)
        except subprocess.TimeoutExpired as e:
            return ProgramRun(name, "timeout", e.stdout or "", e.stderr or "")
        return ProgramRun(name, r.returncode, r.stdout, r.stderr)
    app = topo.app(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    cli = None
    try:
        first = _readline(app.stdout, 20)
        if not first.startswith("listening "):
            topo.kill(app)
            out, err = app.communicate()
            return ProgramRun(name, app.returncode, first + out, err, "\n(no \"listening PORT\" line)")
        cli = topo.peer([sys.executable, os.path.join(PRELOAD_DIR, "peer_client.py"), first.split()[1]],
                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            out, err = app.communicate(timeout=timeout)
            rc = app.returncode
        except subprocess.TimeoutExpired:
            topo.kill(app)
            out, err = app.communicate()
            rc = "timeout"
        try:
            cout, cerr = cli.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            topo.kill(cli)
            cout, cerr = cli.communicate()
        extra = f"\n--- peer_client stderr (tail)\n{cerr[-2000:]}" if cerr.strip() else ""
        return ProgramRun(name, rc, first + out, err, extra)
    finally:
        topo.kill(app)
        if cli is not None:
            topo.kill(cli)
