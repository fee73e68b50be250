"""One running vppsh: the layers composed into an engine, the command tree and the console's
CLI session. The one module that knows every layer: each layer only knows the ones below it
(wire <- vlib <- vnet <- session <- vcl <- cli; linux_cp on vnet), and is attached here."""

from __future__ import annotations

import sys
import threading

from . import linux_cp, session, vnet
from .cli.grammar import load_tree
from .cli.session import CliSession
from .vlib.main import FRAME_SIZE, N_BUFFERS, VlibMain


def make_vm(n_buffers: int = N_BUFFERS, frame_size: int = FRAME_SIZE) -> VlibMain:
    """The engine: vlib's graph and loop, vnet's interfaces and IP, the host stack (disabled
    until `session enable`). Not started."""
    vm = VlibMain(n_buffers=n_buffers, frame_size=frame_size)
    vnet.attach(vm)
    session.attach(vm)
    linux_cp.attach(vm)
    return vm


def _stdout(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()


class Engine:
    def __init__(self, write=_stdout, n_buffers: int = N_BUFFERS, frame_size: int = FRAME_SIZE) -> None:
        self.vm = make_vm(n_buffers=n_buffers, frame_size=frame_size)
        self.tree = load_tree()
        self.quit_requested = False
        self.vm.start()
        self.session = self.call(lambda: CliSession(self.vm, self.tree, write, "unix-cli-stdin"))
        self.session.on_quit = self._quit

    def _quit(self) -> None:
        self.quit_requested = True

    def call(self, fn):
        """Run `fn` on the engine thread and return its result."""
        return self.vm.call(fn).result()

    def run(self, line: str, timeout: float | None = None) -> str | None:
        """Run one command line on the console session; returns its error text or None."""
        done = threading.Event()
        box: dict = {}

        def finished(err):
            box["err"] = err
            done.set()

        self.vm.call(lambda: self.session.submit(line, finished))
        if not done.wait(timeout):
            raise TimeoutError(f"`{line}' did not finish in {timeout} s")
        return box.get("err")

    def stop(self) -> None:
        self.vm.stop()
