"""A CLI session: a process node that runs submitted lines in order on the engine thread.

The REPL, each CLI-socket client and a batch run each own one. A command that waits (`wait`,
`ping`) suspends this process only; the engine and other sessions keep running.
"""

from __future__ import annotations

from collections import deque

from ..vlib.process import WaitEvent
from .dispatch import CliFailure, Ctx, Interrupted, Quit, run_line
import traceback


class CliSession:
    def __init__(self, vm, tree, write, name: str = "unix-cli-local") -> None:
        self.vm = vm
        self.ctx = Ctx(vm, tree, write, self)
        self.macros: dict[str, str] = {}
        self.history: list[str] = []
        self.queue: deque = deque()
        self.closed = False
        self.running = False
        self.on_quit = None
        self.proc = vm.spawn(name, self._run())

    def submit(self, line: str, done=None) -> None:
        """Queue a line (engine thread only); `done(error_or_None)` is called when it ends."""
        if self.closed or self.proc.done:
            if done is not None:
                done("session closed")
            return
        self.queue.append((line, done))
        if not self.running:  # a running command may itself wait for events: don't wake it
            self.vm.signal(self.proc, "input")

    def _run(self):
        while not self.closed:
            while self.queue and not self.closed:
                line, done = self.queue.popleft()
                if line.strip():
                    self.history.append(line.strip())
                err = None
                self.running = True
                try:
                    yield from run_line(self.ctx, line)
                except CliFailure as e:
                    err = str(e)
                except Quit:
                    self.closed = True
                except Interrupted:
                    err = "Aborted due to a keypress."
                except Exception as e:  # a dispatcher bug must not kill the session
                    self.vm.logs.add("err", "cli", f"`{line}' failed:\n{traceback.format_exc().rstrip()}")
                    err = f"internal error: {type(e).__name__} (see show logging)"
                self.running = False
                if done is not None:
                    done(err)
            if not self.closed:
                yield WaitEvent()
        while self.queue:  # lines after `quit` are not run
            _line, done = self.queue.popleft()
            if done is not None:
                done(None)
        if self.on_quit is not None:
            self.on_quit()

    def abort(self) -> None:
        """Stop the running command, if any (engine thread)."""
        if self.running:
            self.vm.throw(self.proc, Interrupted())

    def close(self) -> None:
        """End the session (client gone): a running command is interrupted."""
        self.closed = True
        if self.running:
            self.vm.throw(self.proc, Interrupted())
        else:
            self.vm.signal(self.proc, "close")
