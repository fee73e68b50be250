"""A session: one app's end of one transport connection, with its rx and tx fifos.

The session layer sits between transports (TCP, UDP) and applications (the built-in echo apps,
later the preload shim's apps): transports move bytes between packets and the fifos, apps move
bytes between the fifos and themselves, and each side is told through callbacks.
"""

from __future__ import annotations

from .fifo import Fifo

# session_types.h, in order: a session "is closed" from CLOSED on (the footer's `closed N`)
STATES = ("created", "listening", "connecting", "accepting", "ready", "opened", "transport-closing",
          "closing", "app-closed", "transport-closed", "closed", "transport-deleted")
CLOSED_FROM = STATES.index("closed")
# flags of sessions and TCP connections: one shared empty set until a flag is added (one object
# less per session for the garbage collector to walk, thousands of times)
NO_FLAGS: frozenset[str] = frozenset()


class Session:
    __slots__ = ("index", "thread", "proto", "state", "app", "conn", "rx_fifo", "tx_fifo",
                 "listener", "opaque", "flags", "want_tx_space", "app_closed")

    def __init__(self, index: int, proto: str, app, conn) -> None:
        self.index = index
        self.thread = 0
        self.proto = proto  # a TransportProto
        self.state = "created"
        self.app = app
        self.conn = conn  # the transport connection (tcp.connection.TcpConnection, udp...)
        self.rx_fifo: Fifo | None = None
        self.tx_fifo: Fifo | None = None
        self.listener: Session | None = None  # for accepted sessions
        self.opaque = None  # the app's own handle
        self.flags: frozenset[str] = NO_FLAGS  # replaced by a new set when one is added
        self.want_tx_space = False  # app asked to hear when tx fifo space frees up
        self.app_closed = False

    @property
    def handle(self) -> int:
        return (self.thread << 32) | self.index

    @property
    def is_listener(self) -> bool:
        return self.state == "listening"

    def __repr__(self) -> str:
        return f"<Session [{self.thread}:{self.index}][{self.proto}] {self.state}>"
