"""Kernel-side services for the socket-semantics programs, run in the peer namespace (10.0.0.1,
and 2001:db8::1 with its link-local address) for the duration of a test module. Prints "ready"
once everything listens.

TCP  7  echo
TCP  9  discard
TCP 11  watch: first line "TOKEN [N]"; sends b"+" and N bytes (b"w" * N), reads until EOF or error
        and records what it saw for TOKEN: {"bytes": after the line, "end": "EOF"/"ECONNRESET"/...}
TCP 12  query: line "TOKEN"; answers the watch record for TOKEN as one JSON line (waits <= 5 s)
TCP 13  accept, read one byte (the client's go), then abortive close (SO_LINGER {1, 0}: RST)
TCP 14  header report: read one byte, answer "TOS TTL" of the IP header that carried it, close
TCP 15  delayed echo: lines "MS TEXT"; sleeps MS milliseconds, then sends TEXT back
TCP 16  stall: accepts, never reads, holds the connection open until the peer goes away
TCP 17  black hole: a listener with a full accept queue; the kernel drops SYNs to it
TCP 19  "send N then close": first line "N"; sends N pattern bytes (i & 0xff), then closes
IPv6 (any of the peer's IPv6 addresses): TCP 7 echo, 13 abortive close, 14 header report
        ("TCLASS HOPLIMIT" of what carried the byte, as the kernel's IPV6_RECVTCLASS/HOPLIMIT say).
UDP  7  echo (empty datagrams too)
UDP  8  answers from another port (10.0.0.1:10) with the same payload
Nothing on TCP/UDP 5: connection refused / port unreachable.
"""

import ctypes
import json
import socket
import struct
import sys
import threading
import time

ADDR = "10.0.0.1"
HOLD = 60.0  # nothing a test does takes longer; then every held connection goes


def serve(port, handler, backlog=128, ip6=False):
    """A TCP service on ADDR:port, or (ip6) on every IPv6 address of the peer ([::], IPv6 only)."""
    ls = socket.socket(socket.AF_INET6 if ip6 else socket.AF_INET)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if ip6:
        ls.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        for opt in (IPV6_RECVHOPLIMIT, IPV6_RECVTCLASS):  # (for the header report: inherited)
            ls.setsockopt(socket.IPPROTO_IPV6, opt, 1)
    ls.bind(("::", port) if ip6 else (ADDR, port))
    ls.listen(backlog)

    def run(c):
        try:
            c.settimeout(HOLD)
            handler(c)
        except OSError:
            pass
        finally:
            c.close()

    def loop():
        while True:
            try:
                c, _ = ls.accept()
            except OSError:
                continue
            threading.Thread(target=run, args=(c,), daemon=True).start()

    threading.Thread(target=loop, daemon=True).start()
    return ls


def readline(c, limit=256):
    out = b""
    while not out.endswith(b"\n") and len(out) < limit:
        d = c.recv(1)
        if not d:
            break
        out += d
    return out.decode(errors="replace").strip()


def echo(c):
    while True:
        d = c.recv(65536)
        if not d:
            return
        c.sendall(d)


def discard(c):
    while c.recv(65536):
        pass


WATCHED: dict = {}
WATCH_LOCK = threading.Condition()


def watch(c):
    words = readline(c).split()
    token = words[0] if words else "?"
    c.sendall(b"+" + b"w" * (int(words[1]) if len(words) > 1 else 0))
    n, end = 0, "EOF"
    try:
        while True:
            d = c.recv(65536)
            if not d:
                break
            n += len(d)
    except socket.timeout:
        end = "timeout"
    except OSError as e:
        end = {104: "ECONNRESET", 32: "EPIPE"}.get(e.errno, f"errno {e.errno}")
    with WATCH_LOCK:
        WATCHED[token] = {"bytes": n, "end": end}
        WATCH_LOCK.notify_all()


def query(c):
    token = readline(c)
    with WATCH_LOCK:
        WATCH_LOCK.wait_for(lambda: token in WATCHED, timeout=5)
        rec = WATCHED.get(token, {"end": "not seen in 5 s"})
    c.sendall((json.dumps(rec) + "\n").encode())


def rst(c):
    c.recv(1)
    c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


def delayed_echo(c):
    while True:
        line = readline(c, 65536)
        if not line:
            return
        ms, _, text = line.partition(" ")
        time.sleep(int(ms) / 1000)
        c.sendall(text.encode())


def stall(c):
    time.sleep(HOLD)


def chargen(c):
    n = int(readline(c) or 0)
    block = bytes(i & 0xFF for i in range(65536))
    while n > 0:
        c.sendall(block[: min(n, len(block))])
        n -= min(n, len(block))


SO_ATTACH_FILTER = 26
HEADERS: dict = {}  # client port -> (TOS, TTL) of its first segment with data, to TCP 14
HEADERS_SEEN = threading.Condition()


def sniff_port_14():
    """A raw socket sees the IP header of what reaches TCP 14 (a BPF filter keeps the rest out)."""
    raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_TCP)
    prog = [(0xB1, 0, 0, 0),  # ldxb 4*([0]&0xf): the IP header's length
            (0x48, 0, 0, 2),  # ldh [x+2]: the destination port
            (0x15, 0, 1, 14),  # jeq #14
            (0x06, 0, 0, 0xFFFF), (0x06, 0, 0, 0)]  # accept, drop
    code = ctypes.create_string_buffer(b"".join(struct.pack("HBBI", *ins) for ins in prog))
    raw.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, struct.pack("HL", len(prog), ctypes.addressof(code)))
    while True:
        d = raw.recv(65536)
        ihl = (d[0] & 15) * 4
        sport = struct.unpack_from("!H", d, ihl)[0]
        if len(d) > ihl + (d[ihl + 12] >> 4) * 4:  # carries data
            with HEADERS_SEEN:
                HEADERS.setdefault(sport, (d[1], d[8]))
                HEADERS_SEEN.notify_all()


IPV6_2292PKTOPTIONS, IPV6_RECVHOPLIMIT, IPV6_HOPLIMIT, IPV6_RECVTCLASS, IPV6_TCLASS = 6, 51, 52, 66, 67


def header_report6(c):
    """The traffic class and hop limit of the segment that brought the byte: a TCP socket keeps
    the cmsgs of its latest segment for IPV6_2292PKTOPTIONS (what IPV6_RECV* asked for)."""
    c.recv(1)
    raw = c.getsockopt(socket.IPPROTO_IPV6, IPV6_2292PKTOPTIONS, 256)
    got, off = {}, 0
    while off + 20 <= len(raw):
        ln, lvl, typ = struct.unpack_from("=QII", raw, off)
        if ln < 16:
            break
        got[typ] = struct.unpack_from("=i", raw, off + 16)[0]
        off += (ln + 7) & ~7
    c.sendall(f"{got.get(IPV6_TCLASS)} {got.get(IPV6_HOPLIMIT)}".encode())


def header_report(c):
    c.recv(1)
    port = c.getpeername()[1]
    with HEADERS_SEEN:
        HEADERS_SEEN.wait_for(lambda: port in HEADERS, timeout=5)
        tos, ttl = HEADERS.pop(port, (None, None))
    c.sendall(f"{tos} {ttl}".encode())


def udp_echo():
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.bind((ADDR, 7))
    while True:
        d, a = u.recvfrom(65536)
        u.sendto(d, a)


def udp_other_port():
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.bind((ADDR, 8))
    o = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    o.bind((ADDR, 10))
    while True:
        d, a = u.recvfrom(65536)
        o.sendto(d, a)


def black_hole():
    """A listener whose accept queue (backlog 0: room for one) is taken by a connection of our
    own that is never accepted: Linux then drops every SYN to it, so connects stay in SYN_SENT."""
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((ADDR, 17))
    ls.listen(0)
    filler = socket.create_connection((ADDR, 17), timeout=5)
    time.sleep(0.05)  # the handshake's last ACK queues it
    return ls, filler


def lo_up():
    """The black hole's own connection goes over lo, which a fresh namespace has down."""
    from pyroute2 import IPRoute

    with IPRoute() as ipr:
        ipr.link("set", index=ipr.link_lookup(ifname="lo")[0], state="up")


def main():
    lo_up()
    keep = [serve(7, echo), serve(9, discard), serve(11, watch), serve(12, query), serve(13, rst),
            serve(14, header_report), serve(15, delayed_echo), serve(16, stall), serve(19, chargen), black_hole(),
            serve(7, echo, ip6=True), serve(13, rst, ip6=True), serve(14, header_report6, ip6=True)]
    for fn in (udp_echo, udp_other_port, sniff_port_14):
        threading.Thread(target=fn, daemon=True).start()
    print("ready", flush=True)
    try:
        sys.stdin.read()  # until the test closes our stdin or kills us
        while True:
            time.sleep(3600)
    finally:
        del keep


if __name__ == "__main__":
    main()
