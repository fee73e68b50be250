"""The host stack: session layer (sessions, fifos, apps), its transports (tcp/, udp/) and the
built-in apps (apps/)."""

from __future__ import annotations

from .main import SessionMain
from .tcp import attach as tcp_attach
from .udp import attach as udp_attach


def attach(vm) -> None:
    """Give an engine its session layer (disabled until `session enable`) and transports."""
    sm = vm.session = SessionMain(vm)
    sm.register(tcp_attach(vm))
    sm.register(udp_attach(vm))
