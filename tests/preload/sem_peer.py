"""Kernel-side services for the socket-semantics programs (run in the peer namespace, 10.0.0.1):
TCP echo 7, discard 9, "hello" then close 19, accept then RST 13; UDP echo 7. Nothing on 5."""

import socket
import struct
import threading


def serve(port, handler):
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("10.0.0.1", port))
    ls.listen(64)

    def loop():
        while True:
            c, _ = ls.accept()
            threading.Thread(target=handler, args=(c,), daemon=True).start()
    threading.Thread(target=loop, daemon=True).start()


def echo(c):
    while True:
        d = c.recv(65536)
        if not d:
            break
        c.sendall(d)
    c.close()


def discard(c):
    while c.recv(65536):
        pass
    c.close()


def hello(c):
    c.sendall(b"hello")
    c.close()


def rst(c):
    c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    c.close()


serve(7, echo)
serve(9, discard)
serve(19, hello)
serve(13, rst)
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.bind(("10.0.0.1", 7))
print("ready", flush=True)
while True:
    d, a = u.recvfrom(65536)
    u.sendto(d, a)
