"""Shell: the in-process engine, driven through its console CLI session like a user at `vpp# `;
waiting for it, and measuring this process (the engine's)."""

from __future__ import annotations

import re
import time

from vppsh.engine import Engine


class Shell:
    """Runs command lines like a user at `vpp# `: output text, or the error line."""

    def __init__(self, **kw) -> None:
        self.out: list[str] = []
        self.engine = Engine(write=self.out.append, **kw)
        self.vm = self.engine.vm

    def run(self, line: str, timeout: float = 30) -> str:
        self.out.clear()
        err = self.engine.run(line, timeout=timeout)
        if err:
            raise AssertionError(f"`{line}' failed: {err}")
        return "".join(self.out)

    def error(self, line: str) -> str:
        self.out.clear()
        err = self.engine.run(line, timeout=30)
        assert err is not None, f"`{line}' unexpectedly succeeded: {''.join(self.out)}"
        return err

    def call(self, fn):
        return self.engine.call(fn)

    def close(self) -> None:
        self.engine.stop()


def wait_for(pred, timeout=5.0, step=0.05):
    """Polls pred() until it is true or `timeout` s passed; returns its last value."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(step)
    return pred()


def rss_kb() -> int:
    """This process's resident memory (the engine runs in it), in kB."""
    with open("/proc/self/status") as f:
        return int(re.search(r"^VmRSS:\s+(\d+) kB", f.read(), re.M).group(1))
