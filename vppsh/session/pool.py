"""VPP's pool: objects in a list, where an object's index is its handle and a freed slot is
reused first (sessions, TCP and UDP connections)."""

from __future__ import annotations


class Pool(list):
    def __init__(self) -> None:
        super().__init__()
        self._free: list[int] = []

    def next_index(self) -> int:
        """The slot put() will fill."""
        return self._free[-1] if self._free else len(self)

    def put(self, obj) -> int:
        if self._free:
            idx = self._free.pop()
            self[idx] = obj
        else:
            idx = len(self)
            self.append(obj)
        return idx

    def release(self, idx: int, obj) -> bool:
        """Empty slot idx if it holds obj (False if it does not: already released)."""
        if 0 <= idx < len(self) and self[idx] is obj:
            self[idx] = None
            self._free.append(idx)
            return True
        return False
