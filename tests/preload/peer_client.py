"""The peer's side of the server-side cases: a remote-controlled kernel TCP client in the peer
namespace. Usage: peer_client.py PORT. It connects to the program under test at 10.0.0.0:PORT
(its control connection), then obeys one JSON command per line and answers each with one JSON
line. The program under test (prog_tcp_server.py) decides what happens, in which order; the
connections it asks for are numbered by the program ("id").

  {"op": "connect", "id": K, "port": P}          connect to 10.0.0.0:P -> {"r": "ok"|ERRNO}
                                                  ("host": H: to H instead; an IPv6 link-local H
                                                  with the peer's interface as its scope)
  {"op": "connect_bg", "id": K, "port": P, "delay": S}  the same, S seconds later, in the
                                                  background -> {"r": "started"}
  {"op": "wait", "id": K}                         the background connect's result -> {"r": ...}
  {"op": "send", "id": K, "data": TEXT}           -> {"r": "ok"|ERRNO}
  {"op": "recv", "id": K, "n": N}                 N bytes or fewer at EOF/error/timeout ->
                                                  {"data": TEXT, "end": null|"EOF"|ERRNO|"timeout"}
  {"op": "recv_end", "id": K}                     until EOF or error -> {"bytes": N, "end": ...}
  {"op": "shut_wr" | "close" | "rst", "id": K}    (rst: SO_LINGER {1, 0}, then close) -> {"r": "ok"}
  {"op": "udp_send", "id": K, "port": P, "data": TEXT}  a datagram to 10.0.0.0:P from UDP socket K
                                                  (made at its first use) -> {"r": "ok"|ERRNO, "port": its port}
  {"op": "udp_recv", "id": K, "wait": S}          a datagram on socket K within S s -> {"data": TEXT,
                                                  "from": [IP, PORT]} | {"r": "timeout"|ERRNO}
  {"op": "names", "id": K}                        -> {"sockname": [IP, PORT], "peername": [IP, PORT]}
  {"op": "hdr", "id": K}                          the traffic class and hop limit of the latest
                                                  segment received on IPv6 connection K (the
                                                  kernel keeps them: IPV6_RECVTCLASS/HOPLIMIT)
                                                  -> {"tclass": T, "hops": H}
  {"op": "bye"}                                   exit
"""

import errno
import json
import socket
import struct
import sys
import threading
import time

LOCAL = "10.0.0.0"
IPV6_2292PKTOPTIONS, IPV6_RECVHOPLIMIT, IPV6_HOPLIMIT, IPV6_RECVTCLASS, IPV6_TCLASS = 6, 51, 52, 66, 67
TIMEOUT = 5.0


def en(e: OSError) -> str:
    return errno.errorcode.get(e.errno, str(e.errno)) if e.errno else type(e).__name__


class Client:
    def __init__(self) -> None:
        self.conns: dict = {}
        self.bg: dict = {}

    def connect(self, cid, port, delay=0.0, host=LOCAL):
        time.sleep(delay)
        s = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
        if ":" in host:
            for opt in (IPV6_RECVHOPLIMIT, IPV6_RECVTCLASS):
                s.setsockopt(socket.IPPROTO_IPV6, opt, 1)
        s.settimeout(TIMEOUT)
        try:
            s.connect((host, port, 0, scope()) if host.startswith("fe80:") else (host, port))
        except socket.timeout:
            s.close()
            return "timeout"
        except OSError as e:
            s.close()
            return en(e)
        self.conns[cid] = s
        return "ok"

    def udp(self, c: dict) -> dict:
        u = self.conns.get(c["id"])
        if u is None:
            u = self.conns[c["id"]] = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            u.bind(("0.0.0.0", 0))
        if c["op"] == "udp_send":
            u.sendto(c["data"].encode("latin-1"), (LOCAL, c["port"]))
            return {"r": "ok", "port": u.getsockname()[1]}
        u.settimeout(c.get("wait", TIMEOUT))
        try:
            d, a = u.recvfrom(65536)
        except socket.timeout:
            return {"r": "timeout"}
        return {"data": d.decode("latin-1"), "from": list(a)}

    def do(self, c: dict) -> dict:
        op, cid = c["op"], c.get("id")
        s = self.conns.get(cid)
        try:
            if op in ("udp_send", "udp_recv"):
                return self.udp(c)
            if op == "connect":
                return {"r": self.connect(cid, c["port"], host=c.get("host", LOCAL))}
            if op == "hdr":
                raw = s.getsockopt(socket.IPPROTO_IPV6, IPV6_2292PKTOPTIONS, 256)
                got, off = {}, 0
                while off + 20 <= len(raw):
                    ln, _lvl, typ = struct.unpack_from("=QII", raw, off)
                    if ln < 16:
                        break
                    got[typ] = struct.unpack_from("=i", raw, off + 16)[0]
                    off += (ln + 7) & ~7
                return {"tclass": got.get(IPV6_TCLASS), "hops": got.get(IPV6_HOPLIMIT)}
            if op == "names":
                return {"sockname": list(s.getsockname()[:2]), "peername": list(s.getpeername()[:2])}
            if op == "connect_bg":
                box: list = []
                t = threading.Thread(target=lambda: box.append(self.connect(cid, c["port"], c.get("delay", 0))),
                                     daemon=True)
                t.start()
                self.bg[cid] = (t, box)
                return {"r": "started"}
            if op == "wait":
                t, box = self.bg.pop(cid)
                t.join(TIMEOUT + 5)
                return {"r": box[0] if box else "timeout"}
            if op == "send":
                s.sendall(c["data"].encode("latin-1"))
                return {"r": "ok"}
            if op == "recv":
                out, end = b"", None
                try:
                    while len(out) < c["n"]:
                        d = s.recv(c["n"] - len(out))
                        if not d:
                            end = "EOF"
                            break
                        out += d
                except socket.timeout:
                    end = "timeout"
                except OSError as e:
                    end = en(e)
                return {"data": out.decode("latin-1"), "end": end}
            if op == "recv_end":
                n, end, first = 0, "EOF", b""
                try:
                    while True:
                        d = s.recv(65536)
                        if not d:
                            break
                        if len(first) < 64:
                            first += d[: 64 - len(first)]
                        n += len(d)
                except socket.timeout:
                    end = "timeout"
                except OSError as e:
                    end = en(e)
                return {"bytes": n, "data": first.decode("latin-1"), "end": end}
            if op == "shut_wr":
                s.shutdown(socket.SHUT_WR)
                return {"r": "ok"}
            if op == "close":
                self.conns.pop(cid).close()
                return {"r": "ok"}
            if op == "rst":
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self.conns.pop(cid).close()
                return {"r": "ok"}
            return {"r": f"unknown op {op}"}
        except OSError as e:
            return {"r": en(e)}


def scope() -> int:
    """The peer namespace's one link (lo aside): a link-local address's interface."""
    return next(i for i, n in socket.if_nameindex() if n != "lo")


def main() -> None:
    port = int(sys.argv[1])
    ctl = socket.create_connection((LOCAL, port), timeout=30)
    f = ctl.makefile("rw", encoding="latin-1", newline="\n")
    cl = Client()
    for line in f:
        c = json.loads(line)
        if c["op"] == "bye":
            break
        f.write(json.dumps(cl.do(c)) + "\n")
        f.flush()
    for s in cl.conns.values():
        s.close()


if __name__ == "__main__":
    main()
