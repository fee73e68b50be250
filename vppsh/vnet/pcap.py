"""Classic libpcap files: what `packet-generator capture` writes and `pcap` streams replay."""

from __future__ import annotations

import struct
import time

import numpy as np

MAGIC_US = 0xA1B2C3D4
MAGIC_NS = 0xA1B23C4D
LINKTYPE_ETHERNET = 1
LINKTYPE_RAW = 101
LINKTYPE_IPV4 = 228
SNAPLEN = 65535

_FILE_HDR = struct.Struct("<IHHiIII")
_REC_HDR = struct.Struct("<IIII")


class PcapWriter:
    """Appends packets to a new pcap file (microsecond timestamps, little endian)."""

    def __init__(self, path: str, linktype: int = LINKTYPE_ETHERNET, snaplen: int = SNAPLEN):
        self.path = path
        self.snaplen = snaplen
        self.count = 0
        self._f = open(path, "wb")
        self._f.write(_FILE_HDR.pack(MAGIC_US, 2, 4, 0, 0, snaplen, linktype))

    def _record(self, pkt: bytes, ts: float | None) -> bytes:
        if ts is None:
            ts = time.time()
        sec = int(ts)
        usec = min(int(round((ts - sec) * 1e6)), 999999)
        data = bytes(pkt[:self.snaplen])
        return _REC_HDR.pack(sec, usec, len(data), len(pkt)) + data

    def write(self, pkt: bytes, ts: float | None = None) -> None:
        self._f.write(self._record(pkt, ts))
        self.count += 1

    def write_many(self, rows: np.ndarray, lengths, ts: float | None = None) -> None:
        """One file write for a whole frame of packets held as rows of a uint8 array."""
        rows = np.asarray(rows, dtype=np.uint8)
        lengths = np.asarray(lengths).astype(np.int64)
        if ts is None:
            ts = time.time()
        out = b"".join(self._record(rows[i, :lengths[i]].tobytes(), ts)
                       for i in range(len(lengths)))
        self._f.write(out)
        self.count += len(lengths)

    def flush(self) -> None:
        self._f.flush()

    def close(self) -> None:
        if not self._f.closed:
            self._f.close()

    def __enter__(self) -> "PcapWriter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def read_pcap_with_times(path: str) -> tuple[list[bytes], list[float], int]:
    """(packets, timestamps, linktype); accepts us/ns magics in either byte order."""
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < _FILE_HDR.size:
        raise ValueError(f"{path}: not a pcap file (too short for a pcap header)")
    (magic_le,) = struct.unpack_from("<I", data)
    for endian in "<>":
        (magic,) = struct.unpack_from(endian + "I", data)
        if magic in (MAGIC_US, MAGIC_NS):
            break
    else:
        if magic_le == 0x0A0D0D0A:
            raise ValueError(f"{path}: pcapng files are not supported, only classic pcap")
        raise ValueError(f"{path}: not a pcap file (bad magic 0x{magic_le:08x})")
    scale = 1e-9 if magic == MAGIC_NS else 1e-6
    _, _major, _minor, _tz, _sig, _snap, linktype = struct.unpack_from(endian + "IHHiIII", data)
    rec = struct.Struct(endian + "IIII")
    pkts: list[bytes] = []
    times: list[float] = []
    off = _FILE_HDR.size
    while off < len(data):
        if off + rec.size > len(data):
            raise ValueError(f"{path}: truncated record header after {len(pkts)} packets")
        sec, frac, incl, _orig = rec.unpack_from(data, off)
        off += rec.size
        if off + incl > len(data):
            raise ValueError(f"{path}: truncated packet data after {len(pkts)} packets")
        pkts.append(data[off:off + incl])
        times.append(sec + frac * scale)
        off += incl
    return pkts, times, linktype


def read_pcap(path: str) -> list[bytes]:
    """The packets of a classic pcap file, in order."""
    return read_pcap_with_times(path)[0]
