"""af_packet: VPP's `create host-interface`, an existing Linux link read through an mmap ring.

The socket is bound to the link in the engine's own namespace. Rx uses a TPACKET_V3 ring viewed
as numpy: the kernel packs many packets into a block and wakes us once per block (full or retired
after RETIRE_TOV_MS), so one epoll wake-up yields a whole frame. The only per-packet Python work is
following the block's tp_next_offset chain and one slice copy into the pool buffer; header
fields come from a single vectorised gather. Tx is one sendmmsg() per frame over iovecs pointing
straight into the buffer pool: no per-packet Python, and measured faster than a send() loop or a
PACKET_TX_RING (whose per-packet copy into the ring costs what the syscalls save).
As VPP does: random 02:fe MAC, host link set up at create and following our admin state after,
PACKET_QDISC_BYPASS and (cksum-gso) PACKET_VNET_HDR unless disabled, promiscuity left alone.
The virtio-net header of each received frame is kept per buffer as tap keeps it (`vnet_hdr(b)`:
NEEDS_CSUM marks a checksum the peer left to offload); frames larger than a buffer, such as
GSO super-frames from a TSO-enabled peer, are dropped and counted (no buffer chains yet).
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import logging
import mmap
import os
import socket
import struct

import numpy as np
from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError

from ...vlib.buffer import PRE_DATA
from ..interface import Device
from .offload import finish_offload
from .tap import VNET_HDR, random_mac

log = logging.getLogger("vppsh")

# linux/if_packet.h, linux/if_ether.h, linux/ethtool.h
SOL_PACKET = 263
PACKET_RX_RING, PACKET_VERSION, PACKET_VNET_HDR, PACKET_QDISC_BYPASS = 5, 10, 15, 20
TPACKET_V3 = 2
ETH_P_ALL = 0x0003
TP_STATUS_KERNEL, TP_STATUS_USER = 0, 1
TP_STATUS_VLAN_VALID, TP_STATUS_BLK_TMO, TP_STATUS_VLAN_TPID_VALID = 0x10, 0x20, 0x40
PACKET_OUTGOING = 4
SIOCETHTOOL = 0x8946
ETHTOOL_GTXCSUM, ETHTOOL_GGSO = 0x16, 0x23
IFF_UP = 0x1
MSG_DONTWAIT = 0x40

# Ring geometry, 8 MiB: a block holds a 64 KB GSO super-frame (smaller blocks made the kernel
# truncate them), ~80 full-size or ~800 minimum frames. A block is retired after RETIRE_TOV_MS
# even when nearly empty, so the block count bounds how long the engine may stall under light
# traffic before the kernel drops (64 ms here).
BLOCK_SIZE = 128 << 10  # must hold a whole 64 KB GSO super-frame, or the kernel truncates it
BLOCK_NR = 64
FRAME_SIZE = 2048  # only sizes tp_frame_nr in V3: packets are packed by length
RETIRE_TOV_MS = 1  # VPP's value: a partly filled block reaches us within a millisecond
VIRTIO_HDR_LEN = 10  # struct virtio_net_hdr as PACKET_VNET_HDR puts it before each frame
MIN_FRAME = 14
TX_BATCH = 256  # sendmmsg vector, grown on demand

_EMPTY = np.zeros(0, np.uint32)
_COLS = np.arange(16, dtype=np.int64)  # u32 words: tpacket3_hdr (0-11), sockaddr_ll to sll_pkttype
_NEXT = struct.Struct("<I").unpack_from
_libc = ctypes.CDLL(None, use_errno=True)
_sendmmsg = _libc.sendmmsg
_sendmmsg.argtypes = (ctypes.c_int, ctypes.c_void_p, ctypes.c_uint, ctypes.c_int)
_sendmmsg.restype = ctypes.c_int


class AfPacketError(Exception):
    """`create host-interface` failure, worded as VPP words it."""


def _syscall_error(e: OSError) -> AfPacketError:
    """VPP's VNET_API_ERROR_SYSCALL_ERROR_1 text: `<strerror> (errno N)`."""
    code = e.errno or errno.EIO
    return AfPacketError(f"{os.strerror(code)} (errno {code})")


def _tx_offloads(sock: socket.socket, ifname: str) -> tuple[bool, bool]:
    """(tx-checksumming, generic-segmentation-offload) of the host link, as VPP asks ethtool."""
    out = []
    for cmd in (ETHTOOL_GTXCSUM, ETHTOOL_GGSO):
        ev = ctypes.create_string_buffer(struct.pack("II", cmd, 0))
        ifr = struct.pack("16sP16x", ifname.encode()[:15], ctypes.addressof(ev))
        try:
            fcntl.ioctl(sock.fileno(), SIOCETHTOOL, ifr)
        except OSError:
            return False, False
        out.append(bool(struct.unpack_from("I", ev.raw, 4)[0]))
    return out[0], out[1]


def _vlan_tci(tci: int) -> str:
    """format_ethernet_vlan_tci."""
    s = str(tci & 0xFFF)
    if tci >> 13:
        s += f" priority {tci >> 13}"
    return s + (" cfi" if (tci >> 12) & 1 else "")


class AfPacketDevice(Device):
    dev_class = "af-packet"
    ethernet = True
    rx_queues = True

    def __init__(self) -> None:
        super().__init__()
        self._sock: socket.socket | None = None
        self._fd = -1
        self._mm: mmap.mmap | None = None
        self._ring = self._r32 = None  # numpy views of the mmap
        self._pool = None
        self.host_if_name = ""
        self.host_if_index = -1
        self.is_bridge = False
        self.qdisc_bypass = self.cksum_gso = False
        self.vnet_hdr_len = 0
        self.admin_up = False
        self.rx_hdr: np.ndarray | None = None
        # ring position: current block, packets left in it, offset of the next one
        self._blk = self._left = self._off = 0
        self._last = None  # last batch's (buffers, header rows, offsets, block info) for trace
        self.rx_packets = self.tx_packets = 0
        self.rx_blocks = self.rx_timedout_blocks = 0
        self.rx_outgoing = self.rx_oversize = self.rx_partial = self.rx_runt = self.rx_no_buf = 0
        self.rx_errors = 0  # socket errors read back (link down/gone)
        self.tx_errors = 0

    # ------------------------------------------------------------ create
    @classmethod
    def create(cls, host_if_name: str, hw_addr: bytes | None = None, qdisc_bypass: bool = True,
               cksum_gso: bool = True) -> AfPacketDevice:
        """Bind a host-interface to the existing link `host_if_name` (brought up if down)."""
        self = cls()
        self.host_if_name = host_if_name
        self.name = f"host-{host_if_name}"
        self.mac = bytes(hw_addr) if hw_addr is not None else random_mac()
        try:
            self._lookup_and_up()
            self._open(qdisc_bypass, cksum_gso)
        except BaseException as e:
            self.destroy()
            if isinstance(e, OSError) and not isinstance(e, NetlinkError):
                raise _syscall_error(e) from None
            raise
        return self

    def _lookup_and_up(self) -> None:
        """VPP's SIOCGIFINDEX / SIOCGIFFLAGS / SIOCSIFFLAGS(IFF_UP) steps, over netlink."""
        try:
            with IPRoute() as ipr:
                idx = ipr.link_lookup(ifname=self.host_if_name) if len(self.host_if_name) < 16 else []
                if not idx:
                    raise AfPacketError("Invalid interface name")
                link = ipr.get_links(idx[0])[0]
                self.host_if_index = idx[0]
                self.is_bridge = link.get_nested("IFLA_LINKINFO", "IFLA_INFO_KIND") == "bridge"
                if not link["flags"] & IFF_UP:
                    ipr.link("set", index=idx[0], state="up")
        except NetlinkError as e:
            raise AfPacketError(f"{os.strerror(e.code)} (errno {e.code})") from None

    def _open(self, qdisc_bypass: bool, cksum_gso: bool) -> None:
        # Protocol 0 until bind(): nothing is queued outside the ring (a stale skb in the
        # receive queue would keep the fd readable forever).
        s = self._sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW | socket.SOCK_NONBLOCK, 0)
        self._fd = s.fileno()
        s.setsockopt(SOL_PACKET, PACKET_VERSION, TPACKET_V3)
        if cksum_gso and any(_tx_offloads(s, self.host_if_name)):
            try:
                s.setsockopt(SOL_PACKET, PACKET_VNET_HDR, 1)
                self.cksum_gso, self.vnet_hdr_len = True, VIRTIO_HDR_LEN
            except OSError:
                pass
        if qdisc_bypass:
            try:
                s.setsockopt(SOL_PACKET, PACKET_QDISC_BYPASS, 1)
                self.qdisc_bypass = True
            except OSError:
                pass
        frame_nr = BLOCK_SIZE // FRAME_SIZE * BLOCK_NR
        s.setsockopt(SOL_PACKET, PACKET_RX_RING,
                     struct.pack("7I", BLOCK_SIZE, BLOCK_NR, FRAME_SIZE, frame_nr, RETIRE_TOV_MS, 0, 0))
        self._mm = mmap.mmap(self._fd, BLOCK_SIZE * BLOCK_NR, mmap.MAP_SHARED,
                             mmap.PROT_READ | mmap.PROT_WRITE)
        self._ring = np.frombuffer(self._mm, np.uint8)
        self._r32 = self._ring.view(np.uint32)
        self._ring_addr = self._ring.ctypes.data
        s.bind((self.host_if_name, ETH_P_ALL))

    # ------------------------------------------------------------ control
    def fileno(self) -> int:
        return self._fd

    def admin_change(self, up: bool) -> None:
        """The host link follows our admin state (VPP: vnet_netlink_set_link_state), errors
        only logged as VPP does; a bridge is left alone."""
        self.admin_up = up
        if self._fd < 0 or self.is_bridge or self.host_if_index < 0:
            return
        try:
            with IPRoute() as ipr:
                ipr.link("set", index=self.host_if_index, state="up" if up else "down")
        except (NetlinkError, OSError) as e:
            log.warning("%s: set link %s: %s", self.host_if_name, "up" if up else "down", e)

    def destroy(self) -> None:
        """Unmap the ring and close the socket. Idempotent."""
        self._ring = self._r32 = None
        self._last = None
        self._pool = None
        mm, self._mm = self._mm, None
        if mm is not None:
            try:
                mm.close()  # also closes the fd mmap duplicated
            except BufferError:  # a stray view still exports it: unmapped when that dies
                log.warning("%s: ring still referenced, unmapped later", self.name)
        s, self._sock = self._sock, None
        self._fd = -1
        if s is not None:
            s.close()

    # ------------------------------------------------------------ data path
    def _bind(self, pool) -> None:
        """Cache flat views of the pool (and the vnet header store) for cheap slicing."""
        if self._pool is pool:
            return
        assert pool.data.flags.c_contiguous
        self._pool = pool
        self._flat = memoryview(pool.data.reshape(-1))
        self._stride = pool.data.shape[1]
        self._pool_addr = pool.data.ctypes.data
        self.rx_hdr = pool.vnet if self.vnet_hdr_len else None  # the pool carries it to tx
        self._tx_vec(TX_BATCH)

    def _tx_vec(self, n: int) -> None:
        """struct mmsghdr[n] (64 bytes each) + struct iovec[n], one iovec per message."""
        self._iov = np.zeros((n, 2), np.uint64)
        self._msgs = np.zeros((n, 8), np.uint64)
        self._msgs[:, 2] = self._iov.ctypes.data + 16 * np.arange(n, dtype=np.uint64)  # msg_iov
        self._msgs[:, 3] = 1  # msg_iovlen

    def read_batch(self, pool, max_n: int = 256) -> np.ndarray:
        """Up to `max_n` packets from the ring into fresh pool buffers; their indices.

        Blocks go back to the kernel once every packet in them is copied; a partly read block
        is resumed on the next call. Our own host's outgoing packets (PACKET_OUTGOING), frames
        the buffers cannot hold and truncated frames are skipped and counted.
        """
        if self._fd < 0 or max_n <= 0:
            return _EMPTY
        self._bind(pool)
        mm, r32, nxt = self._mm, self._r32, _NEXT
        blk, left, o = self._blk, self._left, self._off
        offs: list[int] = []
        append = offs.append
        done: list[int] = []  # blocks fully walked: released after the copy
        blocks = []  # (block, first index in offs, pkt_num of that packet, seq_num) for trace
        need = max_n
        while need:
            if not left:
                w = blk * BLOCK_SIZE >> 2
                status = int(r32[w + 2])
                if not status & TP_STATUS_USER:
                    break
                left, o = int(r32[w + 3]), blk * BLOCK_SIZE + int(r32[w + 4])
                self.rx_blocks += 1
                if status & TP_STATUS_BLK_TMO:
                    self.rx_timedout_blocks += 1
                if not left:
                    done.append(blk)
                    blk = (blk + 1) % BLOCK_NR
                    continue
            w = blk * BLOCK_SIZE >> 2
            blocks.append((blk, len(offs), int(r32[w + 3]) - left, int(r32[w + 6]) | int(r32[w + 7]) << 32))
            k = min(left, need)
            for _ in range(k):
                append(o)
                o += nxt(mm, o)[0]
            left -= k
            need -= k
            if not left:
                done.append(blk)
                blk = (blk + 1) % BLOCK_NR
        self._blk, self._left, self._off = blk, left, o
        if not offs:
            self._release(done)
            self._clear_error()
            return _EMPTY
        try:
            return self._copy(pool, np.array(offs, np.int64), blocks)
        finally:
            self._release(done)

    def _clear_error(self) -> None:
        """Read (so clear) a pending socket error: the kernel sets ENETDOWN whenever the host
        link goes down or away, and until read it keeps the fd in EPOLLERR, which would wake
        the input node in a loop."""
        try:
            if self._sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR):
                self.rx_errors += 1
        except OSError:
            pass

    def _release(self, blocks: list[int]) -> None:
        r32 = self._r32
        for b in blocks:
            r32[(b * BLOCK_SIZE >> 2) + 2] = TP_STATUS_KERNEL

    def _copy(self, pool, offs: np.ndarray, blocks) -> np.ndarray:
        h = rows = self._r32[(offs >> 2)[:, None] + _COLS]  # one gather: every header field
        snap, length, status = h[:, 3].astype(np.int64), h[:, 4], h[:, 5]
        mac = (h[:, 6] & 0xFFFF).astype(np.int64)
        pkttype = (h[:, 14] >> 16) & 0xFF
        vlan = (status & TP_STATUS_VLAN_VALID) != 0
        out = pkttype == PACKET_OUTGOING
        big = snap + 4 * vlan > pool.data_size
        partial = length != snap
        runt = snap < MIN_FRAME
        keep = ~(out | big | partial | runt)
        if not keep.all():
            self.rx_outgoing += int(out.sum())
            self.rx_oversize += int((big & ~out).sum())
            self.rx_partial += int((partial & ~out & ~big).sum())
            self.rx_runt += int((runt & ~out & ~big & ~partial).sum())
            sel = np.flatnonzero(keep)
        else:
            sel = None
        n = len(offs) if sel is None else len(sel)
        bi = pool.alloc(n)
        if len(bi) < n:
            self.rx_no_buf += n - len(bi)
            sel = np.arange(len(bi)) if sel is None else sel[:len(bi)]
        if sel is not None:
            offs, snap, mac, vlan, rows = offs[sel], snap[sel], mac[sel], vlan[sel], rows[sel]
        if not len(bi):
            return _EMPTY
        vh = self.vnet_hdr_len
        flat, ring = self._flat, memoryview(self._mm)
        try:
            dst = (bi.astype(np.int64) * self._stride + (PRE_DATA - vh)).tolist()
            for d, s, ln in zip(dst, (offs + mac - vh).tolist(), (snap + vh).tolist()):
                flat[d:d + ln] = ring[s:s + ln]
        finally:
            ring.release()
        if vh:
            self.rx_hdr[bi, :vh] = pool.data[bi, PRE_DATA - vh:PRE_DATA]
            pool.mark_offload(bi)
        pool.current_length[bi] = snap
        if vlan.any():
            self._reinsert_vlan(pool, bi[vlan], rows[vlan])
        self.rx_packets += len(bi)
        self._last = (bi, rows, offs, blocks, sel)
        return bi

    def _reinsert_vlan(self, pool, bi: np.ndarray, h: np.ndarray) -> None:
        """The kernel strips the 802.1Q tag into tp_vlan_tci: put it back, as VPP does."""
        for b, tci, tpid, st in zip(bi.tolist(), h[:, 8].tolist(), (h[:, 9] & 0xFFFF).tolist(),
                                    h[:, 5].tolist()):
            n = int(pool.current_length[b])
            p = pool.data[b, PRE_DATA:PRE_DATA + n + 4]
            p[16:] = p[12:n].copy()
            tpid = tpid if st & TP_STATUS_VLAN_TPID_VALID and tpid else 0x8100
            p[12:16] = np.frombuffer(struct.pack("!HH", tpid, tci & 0xFFFF), np.uint8)
            pool.current_length[b] = n + 4

    def vnet_hdr(self, b: int):
        """The virtio-net header buffer `b` arrived with (a VNET_HDR record), or None."""
        return None if self.rx_hdr is None else self.rx_hdr[b].view(VNET_HDR)[0]

    def format_rx_trace(self, b: int, next_index: int = 0, indent: int = 0) -> str:
        """VPP's af-packet-input trace (format_af_packet_input_trace, TPACKET_V3) for a buffer
        of the last batch; continuation lines relative to the first (`show trace` indents all)."""
        hw = self.hw.hw_if_index if self.hw is not None else -1
        s = f"af_packet: hw_if_index {hw} rx-queue 0 next-index {next_index}"
        if self._last is None:
            return s
        bi, rows, offs, blocks, sel = self._last
        where = np.flatnonzero(bi == b)
        if not len(where):
            return s
        i = int(where[0])
        walk_i = i if sel is None else int(sel[i])  # index in the walk (before skipping)
        blk, first, pkt0, seq = next(x for x in reversed(blocks) if x[1] <= walk_i)
        h = rows[i]
        hh = h.view("<u2")
        p1, p2 = " " * (indent + 2), " " * (indent + 4)
        v = self.vnet_hdr(b)
        f = [int(v[k]) for k in VNET_HDR.names[:6]] if v is not None else [0] * 6
        return (
            f"{s}\n{p1}block {blk}:\n{p2}address 0x{self._ring_addr + blk * BLOCK_SIZE:x} "
            f"version {TPACKET_V3} seq_num {seq} pkt_num {pkt0 + walk_i - first}\n"
            f"{p1}tpacket3_hdr:\n{p2}status 0x{int(h[5]):x} len {int(h[4])} snaplen {int(h[3])} "
            f"mac {int(hh[12])} net {int(hh[13])}\n"
            f"{p2}sec 0x{int(h[1]):x} nsec 0x{int(h[2]):x} vlan {_vlan_tci(int(h[8]))} "
            f"vlan_tpid {int(hh[18])}\n"
            f"{p1}vnet-hdr:\n{p2}flags 0x{f[0]:02x} gso_type 0x{f[1]:02x} hdr_len {f[2]}\n"
            f"{p2}gso_size {f[3]} csum_start {f[4]} csum_offset {f[5]}"
        )

    def tx(self, node, frame: np.ndarray) -> None:
        """Send the frame with one sendmmsg() (behind the virtio-net header each packet carries,
        when enabled); count failures; free."""
        pool = node.vm.buffers
        n = len(frame)
        if self._fd < 0 or not n:
            self.count_tx_errors(node, n)
            pool.free(frame)
            return
        self._bind(pool)
        vh = self.vnet_hdr_len
        cd = pool.current_data[frame]
        start = PRE_DATA + cd.astype(np.int64) - vh
        if vh:  # the virtio-net header each packet carries (zero when none) just before it
            pool.data[frame[:, None], start[:, None] + np.arange(vh)] = pool.tx_vnet_headers(frame)[:, :vh]
        else:
            length = pool.current_length[frame].astype(np.int64)
            whole = frame
            frame, start, length = finish_offload(self, node, pool, frame, start, length)
            n = len(frame)
            if not n:
                pool.free(whole)
                return
            frame_to_free = whole
        if n > len(self._iov):
            self._tx_vec(max(n, 2 * len(self._iov)))
        iov = self._iov
        iov[:n, 0] = self._pool_addr + frame.astype(np.int64) * self._stride + start
        iov[:n, 1] = pool.current_length[frame] + vh
        base, fd = self._msgs.ctypes.data, self._fd
        i = sent = 0
        while i < n:
            r = _sendmmsg(fd, base + 64 * i, n - i, MSG_DONTWAIT)
            if r > 0:
                i += r
                sent += r
                continue
            if ctypes.get_errno() in (errno.EAGAIN, errno.EINTR):
                break  # socket buffer full: drop the rest of the frame
            i += 1  # this packet failed (e.g. ENOBUFS, ENETDOWN, EMSGSIZE): skip it
        self.tx_packets += sent
        self.count_tx_errors(node, n - sent)
        pool.free(frame if vh else frame_to_free)

    # ------------------------------------------------------------ show
    def details(self) -> list[str]:
        """`show hardware-interfaces` device lines (v24.10 format_af_packet_device, the parts
        that exist here: no TX ring, so no TX queue frame accounting)."""
        lines = ["  Linux PACKET socket interface v3", "  FEATURES:"]
        if self.qdisc_bypass:
            lines.append("    qdisc-bpass-enabled")
        if self.cksum_gso:
            lines.append("    cksum-gso-enabled")
        lines += [
            "  RX Queue 0:",
            f"    block size:{BLOCK_SIZE} nr:{BLOCK_NR}  frame size:{FRAME_SIZE} "
            f"nr:{BLOCK_SIZE // FRAME_SIZE * BLOCK_NR} next block:{self._blk}",
        ]
        if self._left:
            lines.append(f"    Pending Request: num-rx-pkts:{self._left} "
                         f"next-frame-offset:{self._off - self._blk * BLOCK_SIZE}")
        return lines
