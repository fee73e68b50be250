"""tap: a Linux TAP whose fd the engine reads and writes (VPP's `create tap`).

As in VPP (v24.10+), /dev/net/tun is opened with this thread inside `host-ns`, so the kernel
side is born there: a host-if-name never collides with, nor briefly appears in, the engine's own
namespace. python-pytun opens it and creates the tap (TUNSETIFF, in the calling thread, so inside
the namespace) and sets persist; the ioctls it lacks (TUNGETIFF, TUNSETVNETHDRSZ, TUNSETOFFLOAD,
TUNSETCARRIER) go to its fd. The data path is one read()/write() per packet on that fd straight
into/out of the numpy buffer pool; the virtio-net header (with `gso`/`csum-offload`) lives in the
buffer headroom, so it costs no extra copy or iovec.
"""

from __future__ import annotations

import errno
import fcntl
import io
import ipaddress
import os
import random
import struct
from ...wire.ethernet import format_mac, parse_mac
from dataclasses import dataclass
from itertools import islice

import numpy as np
import pytun

from ...vlib.buffer import F_GSO, F_OFFLOAD, PRE_DATA
from ..interface import Device
from .offload import finish_offload
from . import netns

# linux/if_tun.h: what python-pytun does not offer
TUNSETOFFLOAD = 0x400454D0
TUNGETIFF = 0x800454D2
TUNSETVNETHDRSZ = 0x400454D8
TUNSETCARRIER = 0x400454E2
IFF_PERSIST = 0x0800
TUN_F_CSUM, TUN_F_TSO4, TUN_F_TSO6 = 0x01, 0x02, 0x04

VNET_HDR_LEN = 12  # struct virtio_net_hdr_v1 (with num_buffers), as VPP uses
VNET_HDR = np.dtype(
    [("flags", "u1"), ("gso_type", "u1"), ("hdr_len", "<u2"), ("gso_size", "<u2"),
     ("csum_start", "<u2"), ("csum_offset", "<u2"), ("num_buffers", "<u2")]
)
TAP_MAX_INSTANCE = 8192
DEFAULT_RING = 256
MIN_FRAME = 14
_EMPTY = np.zeros(0, np.uint32)


_OUR_NS: dict[str, int] = {}  # namespaces vppsh created -> how many of its taps live there


# Errors only open(2) of /dev/net/tun gives, not TUNSETIFF (EPERM, EBUSY, EINVAL, EEXIST, ENFILE...)
_OPEN_ERRNOS = frozenset((errno.ENOENT, errno.ENODEV, errno.ENXIO, errno.EACCES, errno.EMFILE))


class TapError(Exception):
    """`create tap` failure, worded as VPP words it."""


# The kernel side's queue toward us (tun's ring is tx_queue_len frames, default 1000): a burst of
# thousands of short connections answers faster than one engine loop reads, so give it room --
# but not more: under a flood it stays full, and every packet (a new connection's SYN too) waits
# behind all of it. 8192 frames at the engine's ~8 us per flood SYN is ~0.07 s; the 32768 this
# was kept a new connection waiting 0.3-0.5 s after a flood stopped. 4096 is too few: on a busy
# machine bench_tcp.py's short connections lost thousands of frames at it (none at 8192).
HOST_TXQLEN = 8192


def random_mac() -> bytes:
    """VPP's ethernet_mac_address_generate: 02:fe + 4 random bytes."""
    return b"\x02\xfe" + random.getrandbits(32).to_bytes(4, "big")


def _mac(mac: bytes | str | None) -> bytes | None:
    return parse_mac(mac) if isinstance(mac, str) else bytes(mac) if mac else None


def _ring_size(n: int) -> int:
    """VPP's vring init checks: 0 means the default, else a power of 2 up to 32768."""
    if n & (n - 1):
        raise TapError("ring size must be power of 2")
    if n > 32768:
        raise TapError("ring size must be 32768 or lower")
    return n or DEFAULT_RING


@dataclass
class TapOptions:
    """`create tap` arguments; None means "not given" (VPP's defaults apply)."""

    id: int | None = None
    hw_addr: bytes | str | None = None  # VPP-side MAC; default random 02:fe:xx:xx:xx:xx
    host_if_name: str | None = None  # default: kernel-chosen tapN (VPP does the same)
    host_ns: str | None = None  # name, /path or pid:N; a missing name is created
    host_bridge: str | None = None
    host_ip4_addr: ipaddress.IPv4Interface | None = None
    host_ip4_gw: ipaddress.IPv4Address | None = None
    host_ip6_addr: ipaddress.IPv6Interface | None = None
    host_ip6_gw: ipaddress.IPv6Address | None = None
    host_mac_addr: bytes | str | None = None  # default random 02:fe:..., as VPP
    host_mtu_size: int | None = None  # None: kernel default 1500, not shown by `show tap`
    rx_ring_size: int = DEFAULT_RING
    tx_ring_size: int = DEFAULT_RING
    gso: bool = False
    csum_offload: bool = False
    persist: bool = False
    attach: bool = False


def _ioctl_int(fd: int, req: int, value: int, what: str) -> None:
    try:
        fcntl.ioctl(fd, req, value)
    except OSError as e:
        raise TapError(f"ioctl({what}): {e.strerror}") from None


def _ioctl_ptr(fd: int, req: int, buf: bytes, what: str) -> bytes:
    try:
        return fcntl.ioctl(fd, req, buf)
    except OSError as e:
        raise TapError(f"ioctl({what}): {e.strerror}") from None


class TapDevice(Device):
    dev_class = "tap"
    ethernet = True
    rx_queues = True  # `show hardware` prints the RX queue table

    def __init__(self) -> None:
        super().__init__()
        self._tun: pytun.TunTapDevice | None = None  # owns the fd
        self._fd = -1
        self._file: io.FileIO | None = None
        self._created_ns = False
        self.host_ns: str | None = None
        self.persist = False
        self._pool = None
        self._spare, self._spare_offs = _EMPTY, []  # pre-allocated rx buffers and their offsets
        self.rx_hdr: np.ndarray | None = None  # [n_buffers, 12] last vnet header per buffer
        self.admin_up = False
        self.host_carrier_up = False
        self.rx_packets = self.tx_packets = 0
        self.rx_oversize = self.rx_runt = self.rx_errors = self.rx_no_buf = 0
        self.tx_errors = 0

    # ------------------------------------------------------------ create
    @classmethod
    def create(cls, opts: TapOptions, used_ids=()) -> TapDevice:
        """Open and configure a tap; `used_ids` are the ids of live taps (VPP's tap_ids)."""
        o = opts
        if (o.host_ip4_addr or o.host_ip6_addr) and o.host_bridge:
            raise TapError("Please specify either host ip address or host bridge")
        used = set(used_ids)
        if o.id is not None:
            if o.id in used:
                raise TapError("interface already exists")
            tap_id = o.id
        else:
            tap_id = next(i for i in range(len(used) + 1) if i not in used)
        if tap_id > TAP_MAX_INSTANCE:
            raise TapError("cannot find free interface id")
        if o.attach and not o.host_if_name:
            raise TapError("host_if_name is not provided")
        if o.host_if_name is not None and not 0 < len(o.host_if_name.encode()) < 16:
            raise TapError(f"host-if-name `{o.host_if_name}': must be 1 to 15 characters")
        rx_ring, tx_ring = _ring_size(o.rx_ring_size), _ring_size(o.tx_ring_size)

        self = cls()
        self.id = self.instance = tap_id
        self.name = f"tap{tap_id}"
        self.host_ns = o.host_ns
        self.host_mtu_size = o.host_mtu_size
        self.rx_ring_size, self.tx_ring_size = rx_ring, tx_ring
        self.gso = o.gso
        self.csum_offload = o.csum_offload and not o.gso  # v24.10 shows csum-enabled 0 with gso
        self.persist = o.persist
        self.vnet_hdr_len = VNET_HDR_LEN if (o.gso or o.csum_offload) else 0
        self.mac = _mac(o.hw_addr) or random_mac()
        self.host_mac = _mac(o.host_mac_addr) or random_mac()
        try:
            self._open(o)
            netns.configure_link(
                self.host_if_name, o.host_ns, mac=self.host_mac, mtu=o.host_mtu_size,
                ip4=o.host_ip4_addr, gw4=o.host_ip4_gw, ip6=o.host_ip6_addr,
                gw6=o.host_ip6_gw, master=o.host_bridge, up=True, txqlen=HOST_TXQLEN,
            )
        except BaseException as e:
            self.destroy()
            if isinstance(e, netns.NetnsError):
                raise TapError(str(e)) from None
            raise
        # The kernel creates the tap with carrier on and only we change it (VPP: host-carrier-up 1).
        self.host_carrier_up = True
        return self

    def _open(self, o: TapOptions) -> None:
        if o.host_ns is not None:
            if netns.ensure_netns(o.host_ns) or o.host_ns in _OUR_NS:
                _OUR_NS[o.host_ns] = _OUR_NS.get(o.host_ns, 0) + 1
                self._created_ns = True
        if o.attach and not netns.link_exists(o.host_if_name, o.host_ns):
            raise TapError(f"host-if-name {o.host_if_name}: no such interface to attach to")
        flags = pytun.IFF_TAP | pytun.IFF_NO_PI | (pytun.IFF_VNET_HDR if self.vnet_hdr_len else 0)
        try:
            with netns.in_netns(o.host_ns):  # pytun opens and does TUNSETIFF on this thread
                self._tun = pytun.TunTapDevice(name=o.host_if_name or "", flags=flags)
        except pytun.Error as e:  # one call does both; VPP words their failures apart
            what = "open '/dev/net/tun'" if e.errno in _OPEN_ERRNOS else "ioctl(TUNSETIFF)"
            raise TapError(f"{what}: {e.strerror or e}") from None
        self._fd = fd = self._tun.fileno()
        os.set_blocking(fd, False)  # pytun opens O_RDWR only: the engine polls, and no child
        os.set_inheritable(fd, False)  # process may hold the tap after `delete tap`
        self.host_if_name = self._tun.name
        if o.attach or o.persist:  # attach takes over a persistent tap and clears persist
            try:
                self._tun.persist(o.persist)
            except pytun.Error as e:
                raise TapError(f"ioctl(TUNSETPERSIST): {e.strerror}") from None
        if o.persist:
            got = _ioctl_ptr(fd, TUNGETIFF, bytes(40), "TUNGETIFF")
            if not struct.unpack_from("H", got, 16)[0] & IFF_PERSIST:
                raise TapError("persistence not supported")
        if self.vnet_hdr_len:
            _ioctl_ptr(fd, TUNSETVNETHDRSZ, struct.pack("i", VNET_HDR_LEN), "TUNSETVNETHDRSZ")
            offload = TUN_F_CSUM | (TUN_F_TSO4 | TUN_F_TSO6 if o.gso else 0)
            _ioctl_int(fd, TUNSETOFFLOAD, offload, "TUNSETOFFLOAD")
        self._file = io.FileIO(fd, "rb", closefd=False)

    # ------------------------------------------------------------ control
    def fileno(self) -> int:
        """The fd to poll for rx (-1 once destroyed)."""
        return self._fd

    def admin_change(self, up: bool) -> None:
        """The host side's carrier follows our admin state, as a cable would (TUNSETCARRIER)."""
        self.admin_up = up
        if self._fd < 0:
            return
        try:
            fcntl.ioctl(self._fd, TUNSETCARRIER, struct.pack("i", int(up)))
            self.host_carrier_up = up
        except OSError:  # kernel < 4.18 has no TUNSETCARRIER: carrier stays as it is
            pass

    def destroy(self) -> None:
        """Close the fd (the tap vanishes: VPP clears persist on delete too), drop the
        namespace if we made it. Idempotent."""
        tun, self._tun, self._fd = self._tun, None, -1
        if tun is not None:
            self._file = None
            try:
                if self.persist:
                    tun.persist(False)
            except OSError:
                pass
            finally:
                tun.close()
        if self._created_ns:
            self._created_ns = False
            _OUR_NS[self.host_ns] -= 1
            if not _OUR_NS[self.host_ns]:
                del _OUR_NS[self.host_ns]
                netns.remove_netns(self.host_ns)
        self._release_spare()
        self._pool = None

    # ------------------------------------------------------------ data path
    def _bind(self, pool) -> None:
        """Cache flat views of the pool (and the vnet header store) for cheap slicing."""
        if self._pool is pool:
            return
        self._release_spare()
        assert pool.data.flags.c_contiguous
        self._pool = pool
        self._flat = memoryview(pool.data.reshape(-1))
        self._stride = pool.data.shape[1]
        self.rx_hdr = pool.vnet if self.vnet_hdr_len else None  # the pool carries it to tx

    def release_buffers(self) -> None:
        self._release_spare()
        self._pool = None

    def _release_spare(self) -> None:
        if self._pool is not None and len(self._spare):
            self._pool.free(self._spare)
        self._spare, self._spare_offs = _EMPTY, []

    def read_batch(self, pool, max_n: int = 256) -> np.ndarray:
        """Read frames until EAGAIN or `max_n` into fresh pool buffers; their indices.

        Frames land at PRE_DATA (the vnet header, if any, just before it in the headroom), one
        readinto() each. Like VPP's pre-filled rx vring, the device keeps up to `max_n` buffers
        allocated between calls, so an idle poll costs one syscall and no alloc/free.
        """
        if self._fd < 0 or max_n <= 0:
            return _EMPTY
        self._bind(pool)
        hdr = self.vnet_hdr_len
        if len(self._spare) < max_n:
            new = pool.alloc(max_n - len(self._spare))
            self._spare = np.concatenate((self._spare, new)) if len(self._spare) else new
            self._spare_offs += (new.astype(np.int64) * self._stride + (PRE_DATA - hdr)).tolist()
        k = min(max_n, len(self._spare))
        if not k:
            self.rx_no_buf += 1
            return _EMPTY
        flat, readinto, room = self._flat, self._file.readinto, pool.data_size + hdr
        lens = []
        try:
            for o in islice(self._spare_offs, k):
                n = readinto(flat[o:o + room])
                if n is None:  # EAGAIN
                    break
                lens.append(n)
        except OSError:
            self.rx_errors += 1
        got = len(lens)
        if not got:
            return _EMPTY
        bi = self._spare[:got]
        self._spare, self._spare_offs = self._spare[got:], self._spare_offs[got:]
        length = np.array(lens, np.int64) - hdr
        # The kernel truncates a frame that does not fit and returns the truncated length, so a
        # read that filled the whole buffer counts as oversize (until buffers can chain).
        bad = (length >= pool.data_size) | (length < MIN_FRAME)
        if bad.any():
            self.rx_oversize += int((length >= pool.data_size).sum())
            self.rx_runt += int((length < MIN_FRAME).sum())
            pool.free(bi[bad])
            bi, length = bi[~bad], length[~bad]
        pool.current_length[bi] = length
        if hdr:
            self.rx_hdr[bi] = pool.data[bi, PRE_DATA - hdr:PRE_DATA]
            pool.mark_offload(bi)
        self.rx_packets += len(bi)
        return bi

    def vnet_hdr(self, b: int):
        """The virtio-net header buffer `b` arrived with (a VNET_HDR record), or None."""
        return None if self.rx_hdr is None else self.rx_hdr[b].view(VNET_HDR)[0]

    def format_rx_trace(self, b: int, next_index: int = 0, indent: int = 2) -> str:
        """VPP's virtio-input trace text for buffer `b` (a zero header when none is used)."""
        h = self.vnet_hdr(b)
        f = [int(h[k]) for k in VNET_HDR.names] if h is not None else [0] * 6 + [1]
        hw = self.hw.hw_if_index if self.hw is not None else -1
        n = int(self._pool.current_length[b]) if self._pool is not None else 0
        return (
            f"virtio: hw_if_index {hw} next-index {next_index} vring 0 len {n}\n"
            f"{' ' * (indent + 2)}hdr: flags 0x{f[0]:02x} gso_type 0x{f[1]:02x} hdr_len {f[2]} "
            f"gso_size {f[3]} csum_start {f[4]} csum_offset {f[5]} num_buffers {f[6] or 1}"
        )

    def tx(self, node, frame: np.ndarray) -> None:
        """Write each packet (behind the virtio-net header it carries, when enabled); count
        failures; free."""
        pool = node.vm.buffers
        n = len(frame)
        if self._fd < 0 or not n:
            self.count_tx_errors(node, n)
            pool.free(frame)
            return
        self._bind(pool)
        hdr = self.vnet_hdr_len
        if n == 1 and not pool.flags[frame[0]] & F_GSO and (hdr or not pool.flags[frame[0]] & F_OFFLOAD):
            self._tx1(node, pool, int(frame[0]), hdr)  # small lone packets: ACKs, pings
            return
        bi = frame
        start = PRE_DATA + pool.current_data[bi].astype(np.int64) - hdr
        length = pool.current_length[bi].astype(np.int64) + hdr
        if hdr:
            short = start < 0  # not enough headroom for the header: cannot happen with PRE_DATA 128
            if short.any():
                self.count_tx_errors(node, int(short.sum()))
                bi, start, length = bi[~short], start[~short], length[~short]
            pool.data[bi[:, None], start[:, None] + np.arange(hdr)] = pool.tx_vnet_headers(bi)
        else:
            bi, start, length = finish_offload(self, node, pool, bi, start, length)
        offs = (bi.astype(np.int64) * self._stride + start).tolist()
        flat, fd, write = self._flat, self._fd, os.write
        sent = 0
        for o, ln in zip(offs, length.tolist()):
            try:
                write(fd, flat[o:o + ln])
                sent += 1
            except BlockingIOError:  # kernel queue full: drop the rest of the frame
                break
            except OSError:  # e.g. EIO when the host side is down: counted below as not sent
                pass
        self.tx_packets += sent
        self.count_tx_errors(node, len(offs) - sent)
        pool.free(frame)

    def _tx1(self, node, pool, b: int, hdr: int) -> None:
        """One packet (an ACK, a ping reply): the same as tx() without numpy's per-call cost."""
        o = pool.start(b) - hdr
        if hdr:
            self._flat[o:o + hdr] = pool.vnet[b].tobytes() if pool.flags[b] & F_OFFLOAD else bytes(hdr)
        try:
            os.write(self._fd, self._flat[o:o + int(pool.current_length[b]) + hdr])
            self.tx_packets += 1
        except OSError:
            self.count_tx_errors(node, 1)
        pool.free(np.array((b,), np.uint32))

    # ------------------------------------------------------------ show
    def details(self) -> list[str]:
        """`show hardware-interfaces` device lines (VPP's format_virtio_device, verbose)."""
        return [
            "  VIRTIO interface",
            f"     instance {self.instance}",
            "       RX QUEUE : Total Packets",
            f"       {0:8d} : {self.rx_packets}",
            "       TX QUEUE : Total Packets",
            f"       {0:8d} : {self.tx_packets}",
        ]

    def show_tap_lines(self, name: str, hw_if_index: int) -> list[str]:
        """`show tap` block (v24.10 virtio_show) with the lines that are true of an fd-driven tap:
        no vhost-net fds, virtio features or virtqueues exist here, so those are left out."""
        lines = [f"Interface: {name} (ifindex {hw_if_index})", f'  name "{self.host_if_name}"']
        if self.host_ns:
            lines.append(f'  host-ns "{self.host_ns}"')
        if self.host_mtu_size:
            lines.append(f'  host-mtu-size "{self.host_mtu_size}"')
        lines += [
            f"  host-mac-addr: {format_mac(self.host_mac)}",
            f"  host-carrier-up: {int(self.host_carrier_up)}",
            f"  tap-fds {self._fd}" if self._fd >= 0 else "  tap-fds",
            f"  gso-enabled {int(self.gso)}",
            f"  csum-enabled {int(self.csum_offload)}",
            "  packet-coalesce 0",
            "  packet-buffering 0",
            "  rss-enabled 0",
            f"  Mac Address: {format_mac(self.mac)}",
            f"  Device instance: {self.instance}",
            f"  flags 0x{int(self.admin_up):x}",
        ]
        if self.admin_up:
            lines.append("    admin-up (0)")
        return lines
