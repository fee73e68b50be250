"""What a transport is to the session layer (VPP's transport_proto_vft_t and
transport_connection_t): the session layer, and through it the apps and vcl, see transports
only through this interface; a transport registers under its protocol number.

Addresses are plain ints of the connection's family; a connection's endpoints are part of the
interface, so the session layer and vcl read them from any transport's connections. The family
of a connection is its remote address's: IPv6 peers are never in ::/96 (unspecified, loopback,
the deprecated IPv4-compatible form), so an address above 32 bits is IPv6 (`is_ip6`). Only a
wildcard says nothing of its family: listeners carry theirs.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum


def is_ip6(ip: int) -> bool:
    return ip > 0xFFFFFFFF


class TransportProto(IntEnum):
    """transport_proto_t, in VPP's order; `short` is the letter `show session` prints."""

    TCP = 0
    UDP = 1

    @property
    def short(self) -> str:
        return self.name[0]

    def __str__(self) -> str:
        return self.name.lower()

    def __format__(self, spec: str) -> str:
        return format(str(self), spec)


class TransportConnection:
    """The part of every transport's connection the session layer may read (a connectionless
    transport's also say whether they have a default peer: `connected`)."""

    __slots__ = ()
    proto: TransportProto
    session = None  # the Session it belongs to, once there is one
    lcl_ip = lcl_port = rmt_ip = rmt_port = 0
    ip6 = False  # the family (a listener's is given; a connection's is is_ip6(rmt_ip))
    sw_if_index = -1  # the interface its traffic takes (-1: none yet): a link-local address's scope
    abort_reason: str | None = None  # why the transport gave up ("timed out"), for the app


@dataclass
class ConnOptions:
    """What an app sets on its connections (a socket's options): each transport applies what it
    knows and leaves the rest (VPP's transport attributes)."""

    ttl: int = 64
    tos: int = 0
    minttl: int = 0  # IP_MINTTL: segments below it are dropped
    nodelay: bool = False
    maxseg: int = 0  # TCP_MAXSEG before connect: the MSS to announce (0: the path's)
    keepalive: bool = False
    keep_idle: float = 7200.0
    keep_intvl: float = 75.0
    keep_cnt: int = 9
    syn_retries: int = 6
    cc_algo: str = "cubic"


class Transport:
    """transport_proto_vft_t: what the session layer asks of a transport. Connections are the
    transport's own objects (TransportConnection's fields readable by all)."""

    proto: TransportProto

    def enable(self) -> None:
        """`session enable`: hook into the IP layer."""

    def disable(self) -> None:
        """`session disable`: every connection goes, the IP layer forgets us."""

    def listen(self, session, ip: int, port: int) -> TransportConnection:
        raise NotImplementedError

    def unlisten(self, conn) -> None:
        raise NotImplementedError

    def connect(self, app, ip: int, port: int, opaque=None, opts: ConnOptions | None = None,
                lcl_ip: int = 0, lcl_port: int = 0, **how) -> TransportConnection:
        """Open toward ip:port; the app's on_connected tells how it went (synchronously for a
        connectionless transport). SessionError for what fails at once. `how` may name the
        interface (sw_if_index=N), which a link-local peer needs; only given when set."""
        raise NotImplementedError

    def push(self, conn) -> None:
        """The app wrote to the tx fifo: send what the transport may (custom_tx)."""

    def rx_consumed(self, conn) -> None:
        """The app read from the rx fifo (app_rx_evt): a window may open."""

    def close(self, conn) -> None:
        """Graceful close: what the tx fifo holds goes first."""

    def shutdown(self, conn) -> None:
        """Half-close (SHUT_WR)."""

    def reset(self, conn) -> None:
        """Abort at once."""

    def set_options(self, conn, opts: ConnOptions) -> None:
        """Apply an app's options to a live (or opening) connection."""

    def info(self, conn) -> dict | None:
        """The connection's state for the app (TCP: Linux's tcp_info fields), or None."""
        return None

    def flush(self) -> None:
        """End of a batch of app calls: send what they made ready (ACKs, data)."""

    def icmp_error(self, lcl_ip: int, lcl_port: int, rmt_ip: int, rmt_port: int, e):
        """An ICMP error (vnet's IcmpError: the message, Linux's errno for it, hard or soft,
        the MTU a packet too big reports, the quoted transport header) about what the
        connection lcl -> rmt sent; the transport registers this with each family's
        <family>-icmp-error-input on enable. Returns what became of it, for `show errors`:
        True (the app heard a hard error), False (soft: not reported), "pmtu" (the path MTU
        was lowered), "ignored" (stale or bogus), None (no such connection)."""
        return None

    # `show session`
    def format_id(self, conn) -> str:
        raise NotImplementedError

    def state_name(self, conn) -> str:
        raise NotImplementedError

    def format_details(self, conn, level: int) -> list[str]:
        return []
