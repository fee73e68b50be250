"""Netlink helpers over pyroute2 shared by the tap and host-interface devices.

A namespace is named as VPP's `host-ns` takes it: a name under /var/run/netns, an absolute path,
or `pid:N`. Netlink sockets are opened per call inside the target namespace and closed before
returning: entering the namespace costs one setns() on this thread only (no fork, unlike
`IPRoute(netns=...)`), and a cached socket would keep a removed namespace alive.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import ipaddress
import os

from ...wire.ethernet import format_mac
from pyroute2 import IPRoute
from pyroute2 import netns as _pr_netns
from pyroute2.netlink.exceptions import NetlinkError

CLONE_NEWNET = 0x40000000
NETNS_RUN_DIR = "/var/run/netns"
IFF_UP = 0x1

_libc = ctypes.CDLL(None, use_errno=True)


class NetnsError(NetlinkError):
    """A namespace or netlink failure, worded for the CLI user (`host-ns foo: ...`)."""

    def __init__(self, message: str, code: int = errno.EINVAL) -> None:
        super().__init__(code, message)
        self.message = message

    def __str__(self) -> str:
        return self.message


# ------------------------------------------------------------------ namespaces
def ns_path(ns: str) -> str:
    """The nsfs path of `ns` (VPP's clib_netns_open rules)."""
    if ns.startswith("pid:"):
        pid = ns[4:]
        if not (pid.isascii() and pid.isdigit()):
            raise NetnsError(f"host-ns {ns}: invalid pid")
        return f"/proc/{pid}/ns/net"
    if ns.startswith("/"):
        return ns
    if not ns or "/" in ns or ns in (".", ".."):
        raise NetnsError(f"host-ns {ns}: invalid namespace name")
    return os.path.join(NETNS_RUN_DIR, ns)


def _named(ns: str) -> bool:
    return not ns.startswith(("/", "pid:"))


def netns_exists(ns: str) -> bool:
    return os.path.exists(ns_path(ns))


def _open_ns(ns: str) -> int:
    try:
        return os.open(ns_path(ns), os.O_RDONLY | os.O_CLOEXEC)
    except OSError as e:
        raise NetnsError(f"host-ns {ns}: {e.strerror}", e.errno) from None


def _setns(fd: int) -> None:
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))


@contextlib.contextmanager
def in_netns(ns: str | None):
    """Run the body with this thread in `ns` (None: stay), then come back.

    Sockets and /dev/net/tun opened in the body belong to `ns` for their whole life.
    """
    if ns is None:
        yield
        return
    target = _open_ns(ns)
    try:
        with in_netns_fd(target, f"host-ns {ns}"):
            yield
    finally:
        os.close(target)


@contextlib.contextmanager
def in_netns_fd(target: int, what: str = "netns"):
    """in_netns for a namespace held by an fd (nsfs); `what` names it in errors."""
    home = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        try:
            _setns(target)
        except OSError as e:
            raise NetnsError(f"{what}: setns: {e.strerror}", e.errno) from None
        try:
            yield
        finally:
            try:
                _setns(home)
            except OSError as e:  # cannot happen with our own fd; never carry on silently
                raise RuntimeError(f"cannot return from {what}: {e.strerror}") from None
    finally:
        os.close(home)


def private_netns() -> int:
    """A new network namespace with no name and nobody in it, held only by the fd returned
    (needs CAP_SYS_ADMIN; OSError otherwise). This thread stays where it was."""
    home = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        if _libc.unshare(CLONE_NEWNET) != 0:
            e = ctypes.get_errno()
            raise OSError(e, f"unshare: {os.strerror(e)}")
        try:
            return os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        finally:
            _setns(home)
    finally:
        os.close(home)


def ensure_netns(ns: str) -> bool:
    """Create `ns` if missing; True only if we created it (so only those get removed)."""
    if netns_exists(ns):
        return False
    if not _named(ns):
        raise NetnsError(f"host-ns {ns}: No such file or directory", errno.ENOENT)
    try:
        _pr_netns.create(ns)
    except FileExistsError:  # created concurrently by someone else: not ours
        return False
    except OSError as e:
        raise NetnsError(f"host-ns {ns}: cannot create: {e.strerror or e}", e.errno or errno.EIO) from None
    return True


def remove_netns(ns: str) -> None:
    """Remove a named namespace (its links go with it once nothing holds it)."""
    if not _named(ns):
        raise NetnsError(f"host-ns {ns}: only named namespaces can be removed")
    try:
        _pr_netns.remove(ns)
    except FileNotFoundError:
        pass
    except OSError as e:
        raise NetnsError(f"host-ns {ns}: cannot remove: {e.strerror}", e.errno) from None


# ------------------------------------------------------------------ links
@contextlib.contextmanager
def _rtnl(ns: str | None):
    with in_netns(ns):
        ipr = IPRoute()
    try:
        yield ipr
    finally:
        ipr.close()


def _where(ifname: str, ns: str | None) -> str:
    return f"host-ns {ns}: {ifname}" if ns else ifname


def _err(ctx: str, e: NetlinkError) -> NetnsError:
    msg = e.args[1] if len(e.args) > 1 and e.args[1] else os.strerror(e.code)
    return NetnsError(f"{ctx}: {msg}", e.code)


def _index(ipr, ifname: str, ns: str | None) -> int:
    idx = ipr.link_lookup(ifname=ifname)
    if not idx:
        raise NetnsError(f"{_where(ifname, ns)}: no such interface", errno.ENODEV)
    return idx[0]


def link_exists(ifname: str, ns: str | None = None) -> bool:
    if ns is not None and not netns_exists(ns):
        return False
    with _rtnl(ns) as ipr:
        return bool(ipr.link_lookup(ifname=ifname))


def link_delete(ifname: str, ns: str | None = None) -> bool:
    """Delete a link; False if it was not there."""
    if ns is not None and not netns_exists(ns):
        return False
    with _rtnl(ns) as ipr:
        idx = ipr.link_lookup(ifname=ifname)
        if not idx:
            return False
        try:
            ipr.link("del", index=idx[0])
        except NetlinkError as e:
            if e.code == errno.ENODEV:
                return False
            raise _err(f"{_where(ifname, ns)}: delete", e) from None
    return True


def move_link(ifname: str, ns: str, from_ns: str | None = None) -> None:
    """Move a link (e.g. a veth end) into namespace `ns`."""
    fd = _open_ns(ns)
    try:
        with _rtnl(from_ns) as ipr:
            idx = _index(ipr, ifname, from_ns)
            try:
                ipr.link("set", index=idx, net_ns_fd=fd)
            except NetlinkError as e:
                raise _err(f"{ifname}: move to host-ns {ns}", e) from None
    finally:
        os.close(fd)


def configure_link(
    ifname: str,
    ns: str | None = None,
    mac=None,
    mtu: int | None = None,
    ip4: ipaddress.IPv4Interface | None = None,
    gw4: ipaddress.IPv4Address | None = None,
    up: bool = True,
    ip6: ipaddress.IPv6Interface | None = None,
    gw6: ipaddress.IPv6Address | None = None,
    master: str | None = None,
    txqlen: int | None = None,
) -> None:
    """Set mac, mtu, txqueuelen, bridge, addresses, link up, then default routes via the gateways (in VPP's
    order: a gateway is only reachable once the link is up with its address)."""
    where = _where(ifname, ns)
    with _rtnl(ns) as ipr:
        idx = _index(ipr, ifname, ns)
        step = ""
        try:
            if mac is not None:
                step = f"set host-mac-addr {format_mac(mac)}"
                ipr.link("set", index=idx, address=format_mac(mac))
            if mtu is not None:
                step = f"set host-mtu-size {mtu}"
                ipr.link("set", index=idx, mtu=int(mtu))
            if txqlen is not None:
                step = f"set txqueuelen {txqlen}"
                ipr.link("set", index=idx, txqlen=int(txqlen))
            if master is not None:
                step = f"set host-bridge {master}"
                m = _index(ipr, master, ns)
                ipr.link("set", index=idx, master=m)
            for a in (ip4, ip6):
                if a is not None:
                    step = f"add address {a}"
                    ipr.addr("add", index=idx, address=str(a.ip), prefixlen=a.network.prefixlen)
            if up:
                step = "set link up"
                ipr.link("set", index=idx, state="up")
            for gw, dst in ((gw4, "0.0.0.0/0"), (gw6, "::/0")):
                if gw is not None:
                    step = f"add default route via {gw}"
                    ipr.route("add", dst=dst, gateway=str(gw))
        except NetlinkError as e:
            raise _err(f"{where}: {step}", e) from None


def link_info(ifname: str, ns: str | None = None) -> dict | None:
    """State of a link as the kernel sees it (None if absent): for `show` and tests."""
    if ns is not None and not netns_exists(ns):
        return None
    with _rtnl(ns) as ipr:
        idx = ipr.link_lookup(ifname=ifname)
        if not idx:
            return None
        link = ipr.get_links(idx[0])[0]
        addrs = []
        for a in ipr.get_addr(index=idx[0]):
            addrs.append(ipaddress.ip_interface(f"{a.get('IFA_ADDRESS')}/{a['prefixlen']}"))
        routes = [
            (r.get("RTA_DST"), r["dst_len"], r.get("RTA_GATEWAY"), r.get("RTA_OIF"))
            for r in ipr.get_routes(family=2)
        ]
    return {
        "index": idx[0],
        "ifname": link.get("IFLA_IFNAME"),
        "mtu": link.get("IFLA_MTU"),
        "mac": link.get("IFLA_ADDRESS"),
        "up": bool(link["flags"] & IFF_UP),
        "carrier": link.get("IFLA_CARRIER"),
        "operstate": link.get("IFLA_OPERSTATE"),
        "addresses": addrs,
        "default_gw4": next((gw for dst, ln, gw, _ in routes if ln == 0 and gw), None),
    }
