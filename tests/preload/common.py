"""Shared by the socket-semantics programs (prog_*.py): the addresses, the kernel-side services
(peer.py), and helpers that turn what a call did into something deterministic and comparable:
errno names, sorted poll/epoll flag names, booleans for numbers that legitimately differ.

Every program runs its cases in order and prints ONE JSON object {case: result} on its last line.
A case that raises records "EXCEPTION <type>: <text> (at FILE:LINE)"; a case that overruns its
time limit records "EXCEPTION CaseTimeout (at ...)"; a single call that should return at once but
stays blocked is recorded as "blocked" (attempt()). Each case's result also goes to stderr as it
completes ("#case {json}"), so a program that dies (or is killed after HARD_LIMIT seconds, with
tracebacks) still tells what it saw until then.
"""

import ctypes
import errno
import faulthandler
import fcntl
import json
import os
import select
import signal
import socket
import struct
import sys
import threading
import time
import traceback

LOCAL, PEER = "10.0.0.0", "10.0.0.1"
LOCAL6, PEER6 = "2001:db8::", "2001:db8::1"  # the same, over IPv6 (a /127 each side)
# services on PEER (see peer.py)
ECHO, DISCARD, WATCH, QUERY, RST, DELAYED, STALL, BLACKHOLE, CHARGEN, CLOSED = 7, 9, 11, 12, 13, 15, 16, 17, 19, 5
UDP_ECHO, UDP_OTHER = 7, 8

CASE_LIMIT = 15.0
ATTEMPT_LIMIT = 4.0
HARD_LIMIT = 150.0
IP_MINTTL = 21
TCP_SYNCNT = 7

# The global symbol scope (dlopen(NULL)), not libc's own handle: under LD_PRELOAD the shim's
# accept4/connect/... come first there, exactly as for a C program's calls.
libc = ctypes.CDLL(None, use_errno=True)
libc.recv.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
libc.recv.restype = ctypes.c_ssize_t
libc.send.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
libc.send.restype = ctypes.c_ssize_t
libc.read.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_size_t]
libc.read.restype = ctypes.c_ssize_t


# ---------------------------------------------------------------------------------- results
def en(code) -> str:
    """An errno number (or OSError) as its name."""
    if isinstance(code, str):
        return code  # already a name (from attempt())
    if isinstance(code, OSError):
        code = code.errno
    if not code:
        return 0  # connect_ex / SO_ERROR success
    return errno.errorcode.get(code, f"errno{code}")


class Blocked(Exception):
    pass


def _on_usr2(*_):
    raise Blocked()


def attempt(fn, *args, **kw):
    """fn(*args, **kw): its value ("ok" for None; data as text, EOF ""), or the errno name it
    failed with, or "blocked" if it was still blocked after ATTEMPT_LIMIT seconds (then SIGUSR2
    interrupts it: a call that should return at once must not cost the whole case)."""
    done = None
    if threading.current_thread() is threading.main_thread():
        done, tid = threading.Event(), threading.get_ident()

        def guard():
            if not done.wait(ATTEMPT_LIMIT):
                signal.pthread_kill(tid, signal.SIGUSR2)

        threading.Thread(target=guard, daemon=True).start()
    try:
        r = fn(*args, **kw)
        if isinstance(r, (bytes, bytearray)):
            return r.decode("latin-1")  # data as text; EOF is ""
        return "ok" if r is None else r
    except socket.timeout:
        return "timeout"
    except OSError as e:
        return en(e)
    except Blocked:
        return "blocked"
    finally:
        if done is not None:
            done.set()


def cret(r) -> object:
    """A ctypes libc call's result: the value, or the errno name when it returned -1."""
    return en(ctypes.get_errno()) if r == -1 else r


POLL_NAMES = [(select.POLLIN, "POLLIN"), (select.POLLPRI, "POLLPRI"), (select.POLLOUT, "POLLOUT"),
              (select.POLLERR, "POLLERR"), (select.POLLHUP, "POLLHUP"), (select.POLLNVAL, "POLLNVAL"),
              (select.POLLRDNORM, "POLLRDNORM"), (select.POLLWRNORM, "POLLWRNORM"),
              (getattr(select, "POLLRDHUP", 0x2000), "POLLRDHUP")]
EPOLL_NAMES = [(select.EPOLLIN, "EPOLLIN"), (select.EPOLLPRI, "EPOLLPRI"), (select.EPOLLOUT, "EPOLLOUT"),
               (select.EPOLLERR, "EPOLLERR"), (select.EPOLLHUP, "EPOLLHUP"),
               (select.EPOLLRDHUP, "EPOLLRDHUP")]
POLL_ALL = select.POLLIN | select.POLLOUT | select.POLLPRI | getattr(select, "POLLRDHUP", 0x2000)


def flag_names(mask: int, names) -> list:
    return sorted(n for bit, n in names if mask & bit)


def pollmask(sock, events=POLL_ALL, timeout_ms=0) -> list:
    """The revents poll() reports for sock within timeout_ms, as sorted names ([] = none)."""
    p = select.poll()
    p.register(sock, events)
    ev = p.poll(timeout_ms)
    return flag_names(ev[0][1], POLL_NAMES) if ev else []


def wait_mask(sock, cond, timeout=3.0, events=POLL_ALL) -> list:
    """Poll until cond(mask names) holds (or timeout); the last mask seen."""
    deadline = time.monotonic() + timeout
    while True:
        m = pollmask(sock, events, 50)
        if cond(m) or time.monotonic() > deadline:
            return m
        time.sleep(0.01)


def fd_flags(fd) -> dict:
    """O_NONBLOCK and FD_CLOEXEC of a descriptor (or socket); a non-descriptor (an errno name
    from a failed call) is passed through."""
    if isinstance(fd, socket.socket):
        fd = fd.fileno()
    if not isinstance(fd, int) or fd < 0:
        return fd
    return {"nonblock": bool(fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_NONBLOCK),
            "cloexec": bool(fcntl.fcntl(fd, fcntl.F_GETFD) & fcntl.FD_CLOEXEC)}


def addr(a) -> list:
    """(ip, port) with an ephemeral port (>= 32768: both stacks pick from above there) as "ephemeral"."""
    ip, port = a[0], a[1]
    return [ip, "ephemeral" if port >= 32768 else port]


def sockname(s):
    return attempt(lambda: addr(s.getsockname()))


def peername(s):
    return attempt(lambda: addr(s.getpeername()))


def pos(v):
    """v > 0 for a number; an errno name passes through."""
    return v > 0 if isinstance(v, int) else v


def within(v, lo, hi):
    return lo < v <= hi if isinstance(v, int) else v


TCP_STATES = {1: "ESTABLISHED", 2: "SYN_SENT", 3: "SYN_RECV", 4: "FIN_WAIT1", 5: "FIN_WAIT2", 6: "TIME_WAIT",
              7: "CLOSE", 8: "CLOSE_WAIT", 9: "LAST_ACK", 10: "LISTEN", 11: "CLOSING"}


def tcp_info(s) -> dict:
    """struct tcp_info's first 104 bytes: 8 u8 then 24 u32 (rto, ato, snd_mss, rcv_mss, unacked,
    sacked, lost, retrans, fackets, last_data_sent, last_ack_sent, last_data_recv, last_ack_recv,
    pmtu, rcv_ssthresh, rtt, rttvar, snd_ssthresh, snd_cwnd, advmss, reordering, rcv_rtt,
    rcv_space, total_retrans)."""
    raw = s.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 104)
    raw = raw + bytes(104 - len(raw))
    f = struct.unpack("=8B24I", raw)
    u = f[8:]
    return {"state": TCP_STATES.get(f[0], f[0]), "rto": u[0], "snd_mss": u[2], "rcv_mss": u[3],
            "rtt": u[15], "snd_cwnd": u[18], "len": len(raw)}


def tcp_state(s) -> str:
    """TCP_INFO's state name (or the errno name getsockopt failed with)."""
    try:
        return tcp_info(s)["state"]
    except OSError as e:
        return en(e)


def ident(s) -> dict:
    """SO_TYPE, SO_DOMAIN, SO_PROTOCOL, SO_ACCEPTCONN, SO_ERROR (each value or errno name)."""
    return {n: attempt(s.getsockopt, socket.SOL_SOCKET, o)
            for n, o in (("type", socket.SO_TYPE), ("domain", socket.SO_DOMAIN), ("protocol", socket.SO_PROTOCOL),
                         ("acceptconn", socket.SO_ACCEPTCONN), ("error", socket.SO_ERROR))}


# ---------------------------------------------------------------------------------- sockets
def conn(port=ECHO, timeout=3.0) -> socket.socket:
    """A connected TCP socket to a peer service (Python-level timeout: the fd is non-blocking)."""
    return socket.create_connection((PEER, port), timeout=timeout)


def bconn(port=ECHO) -> socket.socket:
    """A connected TCP socket whose fd is really blocking (the case watchdog bounds it)."""
    s = socket.socket()
    s.connect((PEER, port))
    return s


def reset_conn() -> socket.socket:
    """A connection the peer has reset (RST) by the time this returns."""
    s = conn(RST)
    s.sendall(b"!")
    wait_mask(s, lambda m: "POLLHUP" in m or "POLLERR" in m)
    return s


def recv_exact(s, n, timeout=5.0) -> bytes:
    out = b""
    deadline = time.monotonic() + timeout
    while len(out) < n and time.monotonic() < deadline:
        p = select.poll()
        p.register(s, select.POLLIN)
        if not p.poll(100):
            continue
        d = s.recv(n - len(out), socket.MSG_DONTWAIT)
        if not d:
            break
        out += d
    return out


def recv_until_end(s, timeout=5.0) -> dict:
    """Read until EOF or an error: how many bytes, and how it ended."""
    n, end = 0, "timeout"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        p = select.poll()
        p.register(s, select.POLLIN)
        if not p.poll(100):
            continue
        try:
            d = s.recv(65536, socket.MSG_DONTWAIT)
        except BlockingIOError:
            continue
        except OSError as e:
            end = en(e)
            break
        if not d:
            end = "EOF"
            break
        n += len(d)
    return {"bytes": n, "end": end}


def watch(token: str, send: int = 0, timeout=3.0) -> socket.socket:
    """A connection to the watch service, which records how this connection ends."""
    s = conn(WATCH, timeout)
    s.sendall(f"{token} {send}\n".encode())
    if recv_exact(s, 1) != b"+":  # the peer has read the line: an RST can no longer eat it
        raise RuntimeError("watch service did not answer")
    return s


def watched(token: str) -> dict:
    """What the peer saw on the watch connection `token` (waits for it to end, <= 5 s)."""
    q = conn(QUERY)
    q.sendall(f"{token}\n".encode())
    line = b""
    deadline = time.monotonic() + 8
    while not line.endswith(b"\n") and time.monotonic() < deadline:
        d = q.recv(4096)
        if not d:
            break
        line += d
    q.close()
    return json.loads(line or b'{"end": "no answer"}')


class Sockaddr(ctypes.Structure):
    _fields_ = [("family", ctypes.c_ushort), ("port", ctypes.c_uint16), ("addr", ctypes.c_uint32),
                ("zero", ctypes.c_char * 8)]


def sockaddr(ip: str, port: int, family=socket.AF_INET) -> Sockaddr:
    return Sockaddr(family, socket.htons(port), struct.unpack("=I", socket.inet_aton(ip))[0], b"")


def sockaddr_tuple(sa: Sockaddr) -> list:
    return [socket.inet_ntoa(struct.pack("=I", sa.addr)), socket.ntohs(sa.port)]


def c_connect(fd, ip, port, length=16, family=socket.AF_INET):
    sa = sockaddr(ip, port, family)
    return cret(libc.connect(fd, ctypes.byref(sa), length))


def c_bind(fd, ip, port, length=16, family=socket.AF_INET):
    sa = sockaddr(ip, port, family)
    return cret(libc.bind(fd, ctypes.byref(sa), length))


def c_accept4(fd, flags=0):
    """accept4(): (fd or errno name, peer [ip, port] or None, addrlen)."""
    sa = Sockaddr()
    ln = ctypes.c_uint32(ctypes.sizeof(sa))
    r = libc.accept4(fd, ctypes.byref(sa), ctypes.byref(ln), flags)
    if r == -1:
        return en(ctypes.get_errno()), None, ln.value
    return r, sockaddr_tuple(sa), ln.value


def c_recv(fd, n=100, flags=0):
    buf = ctypes.create_string_buffer(n)
    r = libc.recv(fd, buf, n, flags)
    return (en(ctypes.get_errno()), b"") if r == -1 else (r, buf.raw[:r])


# ---------------------------------------------------------------------------------- signals
_INTERRUPTERS: list = []


def interrupt_later(delay: float, sig=signal.SIGUSR1, tid=None) -> threading.Thread:
    """Send sig to this (main) thread after delay: interrupts the blocking call it is in.
    Caught.restore() waits for it, so that it never lands after the handler is gone."""
    tid = tid or threading.get_ident()

    def fire():
        time.sleep(delay)
        signal.pthread_kill(tid, sig)

    t = threading.Thread(target=fire, daemon=True)
    t.start()
    _INTERRUPTERS.append(t)
    return t


def join_interrupters():
    while _INTERRUPTERS:
        _INTERRUPTERS.pop().join(10)


class Caught:
    """A signal handler that counts; restart=True installs it with SA_RESTART."""

    def __init__(self, sig=signal.SIGUSR1, restart=False):
        self.sig, self.count = sig, 0
        self.old = signal.signal(sig, self._h)
        signal.siginterrupt(sig, not restart)

    def _h(self, *_):
        self.count += 1

    def restore(self):
        join_interrupters()
        signal.signal(self.sig, self.old)


def cpu() -> float:
    t = os.times()
    return t.user + t.system


# ---------------------------------------------------------------------------------- running
class CaseTimeout(Exception):
    pass


def where(e: BaseException) -> str:
    """Where in the test programs an exception came from: the innermost line of a prog_*.py
    (the case's statement) and, if deeper, the innermost line of these files."""
    here = os.path.dirname(os.path.abspath(__file__))
    tb = [f for f in traceback.extract_tb(e.__traceback__) if f.name != "_on_alarm"]
    ours = [f for f in tb if os.path.dirname(os.path.abspath(f.filename)) == here]
    progs = [f for f in ours if os.path.basename(f.filename).startswith("prog_")]
    pick = [x for x in (progs[-1:] + ours[-1:]) if x]
    if len(pick) == 2 and pick[0] is pick[1]:
        pick = pick[:1]
    return " > ".join(f"{os.path.basename(f.filename)}:{f.lineno}" for f in pick) or "?"


def _on_alarm(*_):
    raise CaseTimeout()


def run(cases, limit=CASE_LIMIT) -> None:
    """Run (name, fn) cases in order, print the JSON object of results on one line."""
    faulthandler.dump_traceback_later(HARD_LIMIT, exit=True)
    for sig in (signal.SIGUSR1, signal.SIGPIPE):
        signal.signal(sig, signal.SIG_IGN)  # a stray test signal never kills the program
    signal.signal(signal.SIGUSR2, _on_usr2)  # attempt()'s bound on a call
    signal.siginterrupt(signal.SIGUSR2, True)
    signal.signal(signal.SIGALRM, _on_alarm)
    signal.siginterrupt(signal.SIGALRM, True)
    only = set(sys.argv[1:])
    out = {}
    for name, fn in cases:
        if only and name not in only:
            continue
        signal.setitimer(signal.ITIMER_REAL, limit)
        t0 = time.monotonic()
        try:
            out[name] = fn()
        except CaseTimeout as e:
            out[name] = f"EXCEPTION CaseTimeout (at {where(e)})"
        except Exception as e:  # a case that blows up is a result too
            out[name] = f"EXCEPTION {type(e).__name__}: {e} (at {where(e)})"
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            join_interrupters()
        # progress on stderr: partial results if the program dies, and how long each case took
        print("#case " + json.dumps({"case": name, "result": out[name], "secs": round(time.monotonic() - t0, 2)},
                                    sort_keys=True), file=sys.stderr, flush=True)
    print(json.dumps(out, sort_keys=True), flush=True)
    faulthandler.cancel_dump_traceback_later()


def registry():
    """A decorator that lists functions as cases, in definition order."""
    cases = []

    def case(fn):
        cases.append((fn.__name__, fn))
        return fn

    case.cases = cases
    return case


class Remote:
    """The peer's remote-controlled TCP client (peer_client.py, in the peer namespace). We listen
    for its control connection on an ephemeral port (of `family`: an AF_INET6 listener takes
    the IPv4 client as Linux's dual-stack sockets do) and announce it as "listening PORT" on
    stdout; the test then starts peer_client.py PORT there."""

    def __init__(self, timeout=20.0, family=socket.AF_INET):
        ls = socket.socket(family)
        ls.bind(("::" if family == socket.AF_INET6 else "0.0.0.0", 0))
        ls.listen(1)
        print(f"listening {ls.getsockname()[1]}", flush=True)
        ls.settimeout(timeout)
        self.ctl, _ = ls.accept()
        ls.close()
        self.ctl.settimeout(timeout)
        self.f = self.ctl.makefile("rw", encoding="latin-1", newline="\n")

    def __call__(self, op, cid=None, **kw):
        kw.update(op=op, id=cid)
        self.f.write(json.dumps(kw) + "\n")
        self.f.flush()
        line = self.f.readline()
        if not line:
            raise RuntimeError("the peer client went away")
        r = json.loads(line)
        return r["r"] if list(r) == ["r"] else r

    def close(self):
        try:
            self.f.write(json.dumps({"op": "bye"}) + "\n")
            self.f.flush()
        except OSError:
            pass
        self.ctl.close()
