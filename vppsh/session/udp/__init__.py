"""UDP for the session layer: bound and connected sessions with datagram boundaries kept."""

from .dgram import Datagram, udp_drop, udp_next_len, udp_recv_dgram, udp_recvfrom, udp_send, udp_sendto

__all__ = ("Datagram", "attach", "udp_drop", "udp_next_len", "udp_recv_dgram", "udp_recvfrom", "udp_send",
           "udp_sendto")


def attach(vm):
    """Register the UDP nodes and return the transport (enabled by `session enable`)."""
    from .main import UdpMain
    from .nodes import NODES

    for cls in NODES:
        vm.register(cls(vm))
    return UdpMain(vm)
