"""TCP (RFC 9293) for the session layer: nodes, connections, congestion control, SACK."""

from __future__ import annotations

from .main import TcpMain
from .nodes import NODES


def attach(vm):
    """Register the TCP nodes and return the transport (enabled by `session enable`)."""
    for cls in NODES:
        vm.register(cls(vm))
    return TcpMain(vm)
