"""tcp_error.def: every counter the TCP nodes keep, declared once, as `show errors` prints it
(reason, severity). Code counts by member: a misspelt name fails where it is written, never
counts nothing."""

from __future__ import annotations

from enum import Enum


class TcpError(Enum):
    NO_LISTENER = ("no listener for dst port", "error")
    LOOKUP_DROPS = ("lookup drops", "error")
    MINTTL = ("TTL below the socket's IP_MINTTL", "error")
    LENGTH = ("inconsistent ip/tcp lengths", "error")
    CHECKSUM = ("bad tcp checksum", "error")
    ENQUEUED = ("Packets pushed into rx fifo", "info")
    ENQUEUED_OOO = ("OOO packets pushed into rx fifo", "info")
    FIFO_FULL = ("Packets dropped for lack of rx fifo space", "error")
    PARTIALLY_ENQUEUED = ("Packets partially pushed into rx fifo", "info")
    SEGMENT_OLD = ("Old segment", "info")
    RCV_WND = ("Segment not in receive window", "error")
    ACK_FUTURE = ("Future ACK", "error")
    ACK_OLD = ("Old ACK", "info")
    ACK_DUP = ("Duplicate ACK", "info")
    PURE_ACK = ("Pure ACKs received", "info")
    SYNS_RCVD = ("SYNs received", "info")
    SYN_ACKS_RCVD = ("SYN-ACKs received", "info")
    RST_RCVD = ("Resets received", "info")
    RST_SENT = ("Resets sent", "info")
    FIN_RCVD = ("FINs received", "info")
    CONN_ACCEPTED = ("Connections accepted", "info")
    INVALID_CONNECTION = ("Invalid connection", "error")
    OPTIONS = ("Could not parse options", "error")
    PAWS = ("PAWS check failed", "error")
    CHALLENGE_ACK = ("Challenge ACKs sent", "info")
    COOKIE_SENT = ("SYN cookies sent", "info")
    COOKIE_ACCEPTED = ("SYN cookies accepted", "info")
    SPURIOUS_SYN = ("Spurious SYNs received", "error")
    PKTS_SENT = ("Packets sent", "info")
    NO_FIFO_MEMORY = ("SYNs dropped: no fifo memory", "error")
    SRC_NOT_PEER = ("IPv6 source in ::/96: not a peer", "error")

    @property
    def reason(self) -> str:
        return self.value[0]


ERRORS = tuple(e.value for e in TcpError)  # the TCP nodes' `errors`
