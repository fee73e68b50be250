"""A misbehaving process on the API socket (the preload shim's control connection) cannot hurt
the engine or another app: random requests, fields and passed fds get a reply or a closed
connection, never a failed handler; the well-behaved app beside it keeps working.

The engine has no interfaces here, so nothing a request does can reach a network."""

from __future__ import annotations

import errno
import os
import random
import socket

import pytest

from tests.helpers.api_client import Client
from vppsh.vcl import proto
from vppsh.vcl.server import ApiServer

pytestmark = pytest.mark.root  # SOCKET sizes the pair with SO_SNDBUFFORCE (CAP_NET_ADMIN): EPERM otherwise


@pytest.fixture
def api(shell, tmp_path):
    shell.run("session enable")
    path = str(tmp_path / "api.sock")
    shell.call(ApiServer(shell.vm, path).start)
    return path


def hello(c: Client, name: str):
    return c.call(proto.HELLO, os.getpid(), 0, 0, data=name.encode())


def test_random_requests_get_replies_and_hurt_nobody(shell, api):
    good = Client(api)
    assert hello(good, "good")[0] == 0
    err, *_, sock_fd = good.call(proto.SOCKET, socket.SOCK_STREAM, socket.AF_INET)
    assert err == 0 and sock_fd is not None
    mine = socket.socket(fileno=sock_fd)

    rnd = random.Random(5)
    bad = Client(api)
    assert hello(bad, "bad")[0] == 0
    held = []  # fds the bad app owns: its own sockets, and things that are no socket of ours
    devnull = os.open(os.devnull, os.O_RDONLY)
    pair = socket.socketpair()
    ints = (0, 1, -1, 2, 6, 17, 255, 0xFFFF, 0x7FFFFFFF, -0x80000000)

    def r() -> int:  # a field: an edge value or any int32
        return rnd.choice(ints) if rnd.random() < 0.5 else rnd.randint(-0x80000000, 0x7FFFFFFF)

    for _ in range(2000):
        op = rnd.choice(range(0, 17))
        fd = rnd.choice([None, devnull, pair[0].fileno()] + [s.fileno() for s in held])
        if rnd.random() < 0.05:  # short, long or garbage frames
            raw = rnd.randbytes(rnd.randint(0, proto.MSG.size + 40))
            bad.send(0, raw=raw, fd=fd)
        else:
            data = rnd.randbytes(rnd.choice((0, 1, 4, 8, 16, 255)))
            addr = (rnd.choice((0, 2, 10, rnd.getrandbits(16))), rnd.getrandbits(16), rnd.getrandbits(32),
                    rnd.randbytes(16))
            bad.send(op, r(), r(), r(), rnd.getrandbits(32), addr, data, fd=fd)
        rep = bad.reply()
        if rep is None:  # the engine hung up on garbage: a fresh connection, a fresh app
            bad.close()
            bad = Client(api)
            assert hello(bad, "bad")[0] == 0
            continue
        if rep[4] is not None:
            if len(held) < 20:
                held.append(socket.socket(fileno=rep[4]))
            else:
                os.close(rep[4])
    bad.close()
    for s in held + list(pair):
        s.close()
    os.close(devnull)

    shell.run("wait 0.1")
    assert "bad-ldp" not in shell.run("show app"), "an app outlived its control connection"
    log = shell.run("show logging")
    assert "failed" not in log and "Traceback" not in log, log
    # the good app's socket still works through the engine
    assert good.call(proto.BIND, fd=mine.fileno(), addr=proto.addr_fields(proto.AF_INET, 0, 0))[0] == 0
    err, _a, (family, _ip, port), _d, _fd = good.call(proto.NAME, 0, fd=mine.fileno())
    assert err == 0 and family == proto.AF_INET and port > 0
    assert good.call(proto.LISTEN, 16, fd=mine.fileno())[0] == 0
    assert f"0.0.0.0:{port}->0.0.0.0:0" in shell.run("show session verbose")
    mine.close()
    good.close()


def test_one_app_per_connection(shell, api):
    c = Client(api)
    assert c.call(proto.SOCKET, socket.SOCK_STREAM, socket.AF_INET)[0] == errno.EPROTO  # no hello yet
    assert hello(c, "once")[0] == 0
    assert hello(c, "twice")[0] == errno.EISCONN
    assert "once-ldp" in shell.run("show app") and "twice-ldp" not in shell.run("show app")
    c.close()
    shell.run("wait 0.1")
    assert "once-ldp" not in shell.run("show app")


def test_a_request_the_engine_fails_still_gets_its_answer(shell, api, monkeypatch):
    """A bug in a handler (injected here; the engine out of fds is test_shim_limits's, for
    real): the app hears EIO and why at once, the traceback goes to the log, and the
    connection goes on serving."""
    from vppsh.vcl.main import LdpMain

    c = Client(api)
    assert hello(c, "app")[0] == 0
    err, *_, sock_fd = c.call(proto.SOCKET, socket.SOCK_STREAM, socket.AF_INET)
    assert err == 0

    def bug(*_a, **_kw):
        raise RuntimeError("a bug")

    monkeypatch.setattr(LdpMain, "bind", bug)
    err, _a, _addr, why, _fd = c.call(proto.BIND, fd=sock_fd, addr=proto.addr_fields(proto.AF_INET, 0, 0))
    assert err == errno.EIO and why == b"internal error: RuntimeError (see its log)"
    assert "RuntimeError: a bug" in shell.run("show logging")
    monkeypatch.undo()
    assert c.call(proto.BIND, fd=sock_fd, addr=proto.addr_fields(proto.AF_INET, 0, 0))[0] == 0
    os.close(sock_fd)
    c.close()
