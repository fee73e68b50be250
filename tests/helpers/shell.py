"""Shell: the in-process engine, driven through its console CLI session like a user at `vpp# `."""

from __future__ import annotations

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
