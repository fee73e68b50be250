"""Fast header gathers and scatters for whole frames.

`pool.data[bi, o:o + n]` (a row gather with a column slice) costs numpy ~30 ns of fixed work per
row, whatever n is. Seen instead as a 1-D array of n-byte items strided by the buffer size, the
same bytes come with one plain fancy index; items of 1, 2, 4, 8 or 16 bytes at an aligned address
take numpy's specialised copy loops and are ~4x cheaper again. So a node reads the header bytes it
needs once, through the cheapest view that covers them, and writes back only what it changed.

Views are cached per buffer pool (a pool is replaced, never resized, by resize_buffers).
"""

from __future__ import annotations

import numpy as np

from ...vlib.buffer import PRE_DATA

_NATIVE = {1: np.dtype(np.uint8), 2: np.dtype("<u2"), 4: np.dtype("<u4"), 8: np.dtype("<u8"), 16: np.dtype("V16")}
_cache: dict = {"data": None, "views": {}}


def col_view(pool, col: int, dtype) -> np.ndarray:
    """Item `col` (an absolute byte column) of every buffer, as a 1-D strided array of `dtype`."""
    data = pool.data
    if _cache["data"] is not data:
        _cache["data"], _cache["views"] = data, {}
    dtype = np.dtype(dtype)
    key = (col, dtype)
    v = _cache["views"].get(key)
    if v is None:
        v = _cache["views"][key] = np.ndarray((data.shape[0],), dtype=dtype, buffer=data, offset=col,
                                              strides=(data.strides[0],))
    return v


def uniform_col(pool, frame: np.ndarray) -> int:
    """The absolute column where every buffer of the frame starts, or -1 if they differ."""
    cd = pool.current_data[frame]
    c0 = cd[0]
    if (cd == c0).all():
        return PRE_DATA + int(c0)
    return -1


def _window(col: int, width: int, stride: int) -> tuple[int, int]:
    """(start, size) of the cheapest view item that covers [col, col + width)."""
    for size in (1, 2, 4, 8, 16):
        if size >= width:
            lo = col & ~(size - 1)
            if col + width <= lo + size and lo + size <= stride:
                return lo, size
    return col, width


def gather(pool, frame: np.ndarray, col: int, width: int) -> np.ndarray:
    """Bytes [col, col + width) of each buffer as an (n, width) uint8 array (read only use:
    it may be a view into a wider gathered item)."""
    lo, size = _window(col, width, pool.stride)
    dt = _NATIVE.get(size) if lo % size == 0 and size in _NATIVE else None
    g = col_view(pool, lo, dt or f"V{size}")[frame]
    rows = g.view(np.uint8).reshape(len(frame), size)
    return rows if (lo, size) == (col, width) else rows[:, col - lo:col - lo + width]


def gather_block(pool, frame: np.ndarray, col: int, width: int) -> tuple[np.ndarray, int]:
    """Bytes covering [col, col + width) as a writable (n, k) uint8 array and its first column,
    for scatter_block: 16-byte aligned chunks when they fit, else one item of exactly `width`."""
    lo = col & ~15
    hi = (col + width + 15) & ~15
    if hi > pool.stride or (hi - lo) > 32:
        g = col_view(pool, col, f"V{width}")[frame]
        return g.view(np.uint8).reshape(len(frame), width), col
    k = (hi - lo) // 16
    if k == 1:
        g = col_view(pool, lo, "V16")[frame]
        return g.view(np.uint8).reshape(len(frame), 16), lo
    out = np.empty((len(frame), k), "V16")
    for j in range(k):
        out[:, j] = col_view(pool, lo + 16 * j, "V16")[frame]
    return out.view(np.uint8).reshape(len(frame), 16 * k), lo


def scatter_block(pool, frame: np.ndarray, lo: int, rows: np.ndarray) -> None:
    """Write back what gather_block returned (whole items: every byte of them)."""
    width = rows.shape[1]
    if lo % 16 or width % 16:
        col_view(pool, lo, f"V{width}")[frame] = rows.view(f"V{width}").reshape(len(frame))
        return
    items = rows.view("V16")
    for j in range(width // 16):
        col_view(pool, lo + 16 * j, "V16")[frame] = items[:, j]


def be32_at(pool, frame: np.ndarray, col: int) -> np.ndarray:
    """The big-endian 32-bit field at absolute column `col` of each buffer, host order uint32
    (one gather even when unaligned: cheaper than two aligned halves)."""
    return col_view(pool, col, ">u4")[frame].astype(np.uint32)
