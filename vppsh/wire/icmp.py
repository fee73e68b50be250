"""ICMPv4: echo request/reply build/parse and VPP's type/code names."""

from __future__ import annotations

import struct
from typing import NamedTuple

from .checksum import csum

ICMP_HDR_LEN = 4  # type, code, checksum; echo adds id+seq
ECHO_HDR_LEN = 8

ECHO_REPLY = 0
DESTINATION_UNREACHABLE = 3
SOURCE_QUENCH = 4
REDIRECT = 5
ECHO_REQUEST = 8
TIME_EXCEEDED = 11
PARAMETER_PROBLEM = 12

# src/vnet/ip/icmp46_packet.h names (VPP's pg and traces use them).
TYPE_NAMES = {
    0: "echo_reply", 3: "destination_unreachable", 4: "source_quench", 5: "redirect",
    6: "alternate_host_address", 8: "echo_request", 9: "router_advertisement",
    10: "router_solicitation", 11: "time_exceeded", 12: "parameter_problem",
    13: "timestamp_request", 14: "timestamp_reply", 15: "information_request",
    16: "information_reply", 17: "address_mask_request", 18: "address_mask_reply",
    30: "traceroute", 31: "datagram_conversion_error", 32: "mobile_host_redirect",
    33: "ip6_where_are_you", 34: "ip6_i_am_here", 35: "mobile_registration_request",
    36: "mobile_registration_reply", 37: "domain_name_request", 38: "domain_name_reply",
    39: "skip", 40: "photuris",
}
TYPE_BY_NAME = {v: k for k, v in TYPE_NAMES.items()}
CODE_NAMES = {
    (3, 0): "destination_unreachable_net", (3, 1): "destination_unreachable_host",
    (3, 2): "protocol_unreachable", (3, 3): "port_unreachable",
    (3, 4): "fragmentation_needed_and_dont_fragment_set", (3, 5): "source_route_failed",
    (3, 6): "destination_network_unknown", (3, 7): "destination_host_unknown",
    (3, 8): "source_host_isolated", (3, 9): "network_administratively_prohibited",
    (3, 10): "host_administratively_prohibited",
    (3, 11): "network_unreachable_for_type_of_service",
    (3, 12): "host_unreachable_for_type_of_service",
    (3, 13): "communication_administratively_prohibited",
    (3, 14): "host_precedence_violation", (3, 15): "precedence_cutoff_in_effect",
    (5, 0): "network_redirect", (5, 1): "host_redirect",
    (5, 2): "type_of_service_and_network_redirect",
    (5, 3): "type_of_service_and_host_redirect",
    (9, 0): "normal_router_advertisement", (9, 16): "does_not_route_common_traffic",
    (11, 0): "ttl_exceeded_in_transit", (11, 1): "fragment_reassembly_time_exceeded",
    (12, 0): "pointer_indicates_error", (12, 1): "missing_required_option",
    (12, 2): "bad_length",
}
CODE_BY_NAME = {v: k for k, v in CODE_NAMES.items()}


class IcmpHeader(NamedTuple):
    type: int
    code: int
    checksum: int
    ident: int  # echo only (else the first half of the rest-of-header word)
    seq: int
    payload: bytes


def build(type_: int, code: int = 0, rest: bytes = b"\x00\x00\x00\x00",
          payload: bytes = b"") -> bytes:
    """Any ICMP message: type, code, checksum, the 4-byte rest-of-header, payload."""
    msg = bytearray(struct.pack("!BBH", type_, code, 0) + bytes(rest) + bytes(payload))
    struct.pack_into("!H", msg, 2, csum(msg))
    return bytes(msg)


def build_echo(type_: int, ident: int, seq: int, payload: bytes = b"") -> bytes:
    return build(type_, 0, struct.pack("!HH", ident, seq), payload)


def build_echo_request(ident: int, seq: int, payload: bytes = b"") -> bytes:
    return build_echo(ECHO_REQUEST, ident, seq, payload)


def build_echo_reply(ident: int, seq: int, payload: bytes = b"") -> bytes:
    return build_echo(ECHO_REPLY, ident, seq, payload)


def parse(b: bytes) -> IcmpHeader:
    if len(b) < ICMP_HDR_LEN:
        raise ValueError("ICMP header truncated")
    t, c, ck = struct.unpack_from("!BBH", b)
    ident, seq = struct.unpack_from("!HH", b, 4) if len(b) >= ECHO_HDR_LEN else (0, 0)
    return IcmpHeader(t, c, ck, ident, seq, bytes(b[ECHO_HDR_LEN:]))


def checksum_ok(b: bytes) -> bool:
    return csum(b) == 0


def type_name(t: int) -> str:
    return TYPE_NAMES.get(t, f"unknown 0x{t:x}")


def format_type_and_code(t: int, c: int) -> str:
    if t not in TYPE_NAMES:
        return f"unknown 0x{t:x}"
    name = TYPE_NAMES[t]
    return f"{name} {CODE_NAMES[(t, c)]}" if (t, c) in CODE_NAMES else name


def format_icmp4_header(b: bytes) -> str:
    """VPP trace line: `ICMP echo_request checksum 0x1234 id 7`."""
    if len(b) < ICMP_HDR_LEN:
        return "ICMP header truncated"
    t, c, ck = struct.unpack_from("!BBH", b)
    s = f"ICMP {format_type_and_code(t, c)} checksum 0x{ck:x}"
    if t in (ECHO_REQUEST, ECHO_REPLY) and len(b) > ICMP_HDR_LEN + 2:
        s += f" id {struct.unpack_from('!H', b, 4)[0]}"
    return s
