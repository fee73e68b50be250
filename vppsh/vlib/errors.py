"""Error counters (`show errors`): one global numpy counter array, an index per (node, reason);
and the error a command handler raises.

A dropped buffer carries its error index in `buffers.error`, so error-drop counts a whole frame
with one bincount; nodes count non-drop events (`ARP replies sent`) directly.
"""

from __future__ import annotations

import numpy as np


class CliError(Exception):
    """A command handler's error (VPP's clib_error_t), in VPP's wording; the dispatcher
    prefixes the command path. Handlers of every layer raise it, so it lives down here."""


class ErrorCounters:
    def __init__(self) -> None:
        self.info: list[tuple[str, str, str]] = [("unknown", "no error", "info")]
        self._index: dict[tuple[str, str], int] = {}
        self.counts = np.zeros(64, np.int64)
        self.baseline = np.zeros(64, np.int64)
        self.mv = memoryview(self.counts)  # scalar counting (`mv[code] += 1`) without numpy's cost

    def register(self, node: str, reason: str, severity: str = "error") -> int:
        """The counter of (node, reason); a re-created node (same name) gets its old one back."""
        known = self._index.get((node, reason))
        if known is not None:
            return known
        self._index[(node, reason)] = len(self.info)
        self.info.append((node, reason, severity))
        i = len(self.info) - 1
        if i >= len(self.counts):
            grow = len(self.counts)
            self.counts = np.concatenate([self.counts, np.zeros(grow, np.int64)])
            self.baseline = np.concatenate([self.baseline, np.zeros(grow, np.int64)])
            self.mv = memoryview(self.counts)
        return i

    def count_buffers(self, codes: np.ndarray) -> None:
        self.counts[: len(self.info)] += np.bincount(codes, minlength=len(self.info))[: len(self.info)]

    def clear(self) -> None:
        self.baseline[:] = self.counts

    def since_clear(self) -> np.ndarray:
        return self.counts[: len(self.info)] - self.baseline[: len(self.info)]

    def value(self, node: str, reason: str) -> int:
        i = self._index.get((node, reason))
        return 0 if i is None else int(self.counts[i] - self.baseline[i])
