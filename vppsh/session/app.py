"""Applications attached to the session layer (`show app`) and the callbacks they implement.

A built-in app (the echo server/client) subclasses App and runs on the engine thread; the
preload shim's apps will be Apps whose callbacks talk to a process over its control socket.
Callbacks must not block: they read/write fifos through SessionMain and return.
"""

from __future__ import annotations

from .budget import DEFAULT_SEGMENT_SIZE, MAX_FIFO_SIZE, Budget

DEFAULT_FIFO_SIZE = 1 << 20  # 1m, VPP's default rx/tx-fifo-size for apps


class App:
    """Fifo sizes are capped at MAX_FIFO_SIZE; what all the app's fifos hold together is
    bounded by its segment size (its budget, set when it attaches, inside the engine's)."""

    flags = ("accept-redirect", "add-segment", "global-scope", "local-scope")
    budget: Budget | None = None

    def __init__(self, name: str, rx_fifo_size: int = DEFAULT_FIFO_SIZE,
                 tx_fifo_size: int = DEFAULT_FIFO_SIZE, namespace: str = "default",
                 segment_size: int = DEFAULT_SEGMENT_SIZE) -> None:
        self.name = name
        self.index = -1
        self.namespace = namespace
        self.rx_fifo_size = min(rx_fifo_size, MAX_FIFO_SIZE)
        self.tx_fifo_size = min(tx_fifo_size, MAX_FIFO_SIZE)
        self.segment_size = segment_size
        self.sessions: set = set()  # every session this app owns, listeners included

    # -- callbacks (the session layer calls them on the engine thread)
    def on_accept(self, s) -> None:
        """A new session on one of our listeners is established."""

    def on_connected(self, s, err: str | None, opaque) -> None:
        """Our connect finished: `s` established, or None with `err` ("connection refused"...)."""

    def on_rx(self, s) -> None:
        """New in-order data in s.rx_fifo (for UDP: datagrams)."""

    def on_tx_space(self, s) -> None:
        """Room freed in s.tx_fifo after we asked (s.want_tx_space)."""

    def on_disconnect(self, s) -> None:
        """The peer closed its side (FIN); the app closes ours when it is done."""

    def on_reset(self, s) -> None:
        """The connection was reset or timed out; the session is going away."""

    def on_cleanup(self, s) -> None:
        """The session is freed; drop any reference to it."""

    def on_error(self, s, err: int) -> None:
        """A hard ICMP error (errno) for a connected UDP session, as Linux reports it once."""

    def detach(self) -> None:
        """Called when the app is removed (e.g. `session disable`)."""


class AppRegistry:
    def __init__(self) -> None:
        self.apps: list[App | None] = []

    def add(self, app: App) -> App:
        free = next((i for i, a in enumerate(self.apps) if a is None), None)
        if free is None:
            free = len(self.apps)
            self.apps.append(None)
        app.index = free
        self.apps[free] = app
        return app

    def remove(self, app: App) -> None:
        if 0 <= app.index < len(self.apps) and self.apps[app.index] is app:
            self.apps[app.index] = None

    def all(self) -> list[App]:
        return [a for a in self.apps if a is not None]

    def by_name(self, name: str) -> App | None:
        return next((a for a in self.all() if a.name == name), None)
