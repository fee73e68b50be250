"""A scripted TCP peer on the wire: scapy frames through an AF_PACKET socket opened on the kernel
side of a tap, inside the test's namespace, from an address the kernel does not own (vppsh is
given a static neighbour for it), so the kernel neither answers nor resets what it sees.
"""

from __future__ import annotations

import socket
import time

from scapy.all import IP, TCP, Ether, Raw

from vppsh.vnet.devices.netns import in_netns

VPP_MAC, PEER_MAC = "02:fe:00:00:00:01", "02:fe:00:00:00:02"
VPP_IP, KERNEL_IP, RAW_IP = "10.0.0.2", "10.0.0.1", "10.0.0.77"


def setup_tap(shell, ns: str, extra: str = "") -> None:
    """tap0 with the kernel at 10.0.0.1/24 in `ns`, vppsh at 10.0.0.2/24, sessions on, and a
    static neighbour for the raw peer's 10.0.0.77 pointing at the kernel side's MAC."""
    out = shell.run(f"create tap id 0 host-ns {ns} host-if-name vtap0 host-ip4-addr {KERNEL_IP}/24 "
                    f"hw-addr {VPP_MAC} host-mac-addr {PEER_MAC} {extra}".rstrip())
    assert out == "tap0\n", out
    shell.run("set interface state tap0 up")
    shell.run(f"set interface ip address tap0 {VPP_IP}/24")
    shell.run(f"set ip neighbor tap0 {RAW_IP} {PEER_MAC} static")
    shell.run("session enable")


class RawPeer:
    def __init__(self, ns: str, iface: str = "vtap0", sport: int = 40000) -> None:
        with in_netns(ns):
            self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0800))
            self.sock.bind((iface, 0))
        self.sock.settimeout(0.2)
        self.sport = sport
        self.seq = 1000
        self.ack = 0
        self.dport = 0

    def close(self) -> None:
        self.sock.close()

    def send(self, flags: str, seq: int | None = None, ack: int | None = None, payload: bytes = b"",
             window: int = 65535, options=None, dport: int | None = None) -> None:
        tcp = TCP(sport=self.sport, dport=dport or self.dport, flags=flags,
                  seq=self.seq if seq is None else seq, ack=self.ack if ack is None else ack,
                  window=window, options=options or [])
        pkt = Ether(src=PEER_MAC, dst=VPP_MAC) / IP(src=RAW_IP, dst=VPP_IP) / tcp
        if payload:
            pkt = pkt / Raw(payload)
        self.sock.send(bytes(pkt))

    def recv(self, timeout: float = 2.0, want=None):
        """Next TCP segment vppsh sent to the raw peer (optionally the first matching `want`)."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            try:
                frame = self.sock.recv(65535)
            except socket.timeout:
                continue
            p = Ether(frame)
            if IP in p and TCP in p and p[IP].src == VPP_IP and p[IP].dst == RAW_IP \
                    and p[TCP].dport == self.sport:
                if want is None or want(p[TCP]):
                    return p[TCP]
        return None

    def collect(self, seconds: float) -> list:
        out, end = [], time.monotonic() + seconds
        while time.monotonic() < end:
            t = self.recv(max(0.05, end - time.monotonic()))
            if t is not None:
                out.append(t)
        return out

    def connect(self, dport: int, window: int = 65535, options=None):
        """Three-way handshake to vppsh:dport; returns the SYN-ACK."""
        self.dport = dport
        self.send("S", options=options if options is not None else [("MSS", 1460)], window=window)
        sa = self.recv(want=lambda t: t.flags & 0x12 == 0x12)
        assert sa is not None, "no SYN-ACK"
        self.seq += 1
        self.ack = sa.seq + 1
        self.send("A", window=window)
        return sa
