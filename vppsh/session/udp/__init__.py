"""UDP for the session layer: bound and connected sessions with datagram boundaries kept."""

from __future__ import annotations

from .main import UdpMain
from .nodes import NODES


def attach(vm):
    """Register the UDP nodes and return the transport (enabled by `session enable`)."""
    for cls in NODES:
        vm.register(cls(vm))
    return UdpMain(vm)
