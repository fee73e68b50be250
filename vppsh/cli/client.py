"""`vppsh -s SOCKET [command...]`: a client of a running vppsh's CLI socket, like `vppctl -s`.

It speaks vppctl's protocol (minimal telnet, see CliServer): answer the server's TTYPE request with
`vppctl`, which makes the session non-interactive, then send one line at a time and wait for the NUL
byte the server sends when a line is done. Output is printed as it arrives (a `ping` shows its
replies live) with telnet sequences and NULs removed and CR LF turned into LF.

Bytes go through unchanged, as with vppctl: command words and stdin lines are sent as given
(UTF-8 or not: Python hands non-UTF-8 argv bytes over as surrogate escapes, which are turned
back into the same bytes), and the server's output is written to stdout as received.

Modes:
  * command words: run the one line, then `quit` (exit 0 even if the command failed, like vppctl:
    the protocol does not tell errors from output).
  * `-f FILE`: send `exec <absolute path of FILE>`, so the server's own exec semantics apply (macros,
    `\\` continuations, stop at the first failing line with `exec: CLI line error: ...`). Sending the
    lines one by one could not stop at the first error, because in this protocol an error is just
    more output. The server must be able to read FILE (same host, same mount namespace; it runs as root).
  * stdin is a tty: a local prompt_toolkit line editor (`vpp# `, history in ~/.vppsh_history); each
    line goes to the server non-interactively. Ctrl-C while a command runs sends telnet IAC IP,
    which aborts it. TAB completion is not available over the socket.
  * stdin is not a tty: read commands from stdin, each sent and acknowledged in turn.

This module only needs the standard library (and prompt_toolkit for the interactive mode), so a
client starts fast. The telnet constants and parser here are shared with the server.
"""

from __future__ import annotations

import os
import socket
import sys
import time

# ------------------------------------------------------------------ telnet (RFC 854) bits

IAC, DONT, DO, WONT, WILL, SB, IP, SE = 255, 254, 253, 252, 251, 250, 244, 240
OPT_ECHO, OPT_SGA, OPT_TTYPE, OPT_NAWS, OPT_LINEMODE = 1, 3, 24, 31, 34
TTYPE_IS, TTYPE_SEND = 0, 1
MAX_SUBNEG = 4096  # an unterminated subnegotiation longer than this is dropped


def ttype_is(term: str) -> bytes:
    return bytes([IAC, SB, OPT_TTYPE, TTYPE_IS]) + term.encode("ascii", "replace") + bytes([IAC, SE])


class TelnetParser:
    """Split a telnet byte stream into data and commands, in order.

    `feed(data)` returns a list whose items are `bytes` (plain data, `IAC IAC` unescaped) or
    `(cmd, arg)` tuples: `(WILL|WONT|DO|DONT, option)`, `(SB, payload)` with the option as the
    payload's first byte, `(other_cmd, None)` for two-byte commands such as IP. A sequence cut by
    a read boundary is kept until the next feed. IAC before a byte that is no telnet command
    (below SE) is data: a raw client's 0xff (Latin-1 `ÿ`, broken UTF-8) must not eat the
    newline after it and leave the line hanging.
    """

    def __init__(self) -> None:
        self._rest = b""

    def feed(self, data: bytes) -> list:
        buf, self._rest = self._rest + data, b""
        items: list = []
        plain = bytearray()

        def flush():
            if plain:
                items.append(bytes(plain))
                plain.clear()

        i, n = 0, len(buf)
        while i < n:
            j = buf.find(IAC, i)
            if j < 0:
                plain += buf[i:]
                break
            plain += buf[i:j]
            if j + 1 >= n:
                self._rest = buf[j:]
                break
            cmd = buf[j + 1]
            if cmd == IAC:  # escaped 0xff data byte
                plain.append(IAC)
                i = j + 2
            elif cmd < SE:  # not a command: an unescaped 0xff, data like what follows
                plain.append(IAC)
                i = j + 1
            elif WILL <= cmd <= DONT:
                if j + 2 >= n:
                    self._rest = buf[j:]
                    break
                flush()
                items.append((cmd, buf[j + 2]))
                i = j + 3
            elif cmd == SB:
                k, payload, end = j + 2, bytearray(), None
                while k < n:
                    if buf[k] == IAC:
                        if k + 1 >= n:
                            break
                        if buf[k + 1] == IAC:
                            payload.append(IAC)
                            k += 2
                            continue
                        end = k + 2  # IAC SE (or a malformed IAC x: end the subnegotiation there)
                        break
                    payload.append(buf[k])
                    k += 1
                if end is None:
                    self._rest = buf[j:] if n - j <= MAX_SUBNEG else b""
                    break
                flush()
                items.append((SB, bytes(payload)))
                i = end
            else:
                flush()
                items.append((cmd, None))
                i = j + 2
        flush()
        return items


# ------------------------------------------------------------------ the connection


class ConnectionClosed(Exception):
    """The server closed the connection before acknowledging the line."""


class CliConnection:
    """One non-interactive (TTYPE vppctl) session on a CLI socket."""

    def __init__(self, path: str, timeout: float = 5.0) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            self.sock.connect(path)
        except OSError:
            self.sock.close()
            raise
        self.tn = TelnetParser()
        self.asked_ttype = False
        self.eof = False
        self._data = bytearray()  # received plain data not consumed yet
        self._cr = False  # a CR held back until we know whether LF follows
        self._negotiate(timeout)

    def _recv(self, timeout: float | None = None) -> bool:
        """Read once; telnet commands are handled, data kept. False on EOF or timeout."""
        self.sock.settimeout(timeout)
        try:
            chunk = self.sock.recv(65536)
        except socket.timeout:
            return False
        except ConnectionError:
            chunk = b""
        if not chunk:
            self.eof = True
            return False
        for item in self.tn.feed(chunk):
            if isinstance(item, bytes):
                self._data += item
            elif item[0] == SB and item[1][:2] == bytes([OPT_TTYPE, TTYPE_SEND]):
                self.asked_ttype = True
        return True

    def _negotiate(self, timeout: float) -> None:
        """Wait for the server's TTYPE request (VPP and vppsh send it on accept), answer `vppctl`."""
        deadline = time.monotonic() + timeout
        while not self.asked_ttype and not self.eof:
            left = deadline - time.monotonic()
            if left <= 0 or not self._recv(left):
                break
        if self.eof:
            raise ConnectionClosed("connection closed by the server")
        self.sock.sendall(ttype_is("vppctl"))
        self._data.clear()  # nothing meaningful precedes our first command

    def _emit(self, raw: bytes, out, final: bool = False) -> None:
        """Print output (`out` takes bytes); a trailing CR waits for the next bytes (CR LF
        becomes LF) unless final."""
        if self._cr:
            raw = b"\r" + raw
            self._cr = False
        if raw.endswith(b"\r") and not final:
            raw, self._cr = raw[:-1], True
        if raw:
            out.write(raw.replace(b"\r\n", b"\n"))
            out.flush()

    def wait_ack(self, out) -> None:
        """Print output until the line's NUL acknowledgement; ConnectionClosed if it never comes."""
        while True:
            k = self._data.find(0)
            if k >= 0:
                self._emit(bytes(self._data[:k]), out, final=True)
                del self._data[:k + 1]
                return
            if self._data:
                self._emit(bytes(self._data), out)
                self._data.clear()
            if not self._recv(None):
                self._emit(b"", out, final=True)
                raise ConnectionClosed("connection closed by the server")

    def command(self, line: str, out) -> None:
        self.sock.sendall(_wire(line))
        self.wait_ack(out)

    def interrupt(self) -> None:
        """Telnet `Interrupt Process`: the server aborts the running command (like Ctrl-C)."""
        try:
            self.sock.sendall(bytes([IAC, IP]))
        except OSError:
            pass

    def close(self) -> None:
        """Say `quit` like vppctl and wait (briefly) for the server to hang up."""
        try:
            if not self.eof:
                self.sock.sendall(b"quit\n")
                deadline = time.monotonic() + 2.0
                while not self.eof and time.monotonic() < deadline:
                    self._recv(max(0.0, deadline - time.monotonic()))
        except OSError:
            pass
        self.sock.close()


# ------------------------------------------------------------------ modes

def _wire(line: str) -> bytes:
    """A command line as the bytes the user gave (surrogate escapes are undecodable input),
    a 0xff data byte escaped as telnet wants it (IAC IAC)."""
    return line.encode("utf-8", "surrogateescape").replace(b"\xff", b"\xff\xff") + b"\n"


def _is_quit(line: str) -> bool:
    """`quit`, `q`, `exit` or an unambiguous abbreviation: the server hangs up after the ack."""
    w = line.split()[0] if line.split() else ""
    return w == "q" or (len(w) >= 2 and "quit".startswith(w)) or (len(w) >= 3 and "exit".startswith(w))


def _run_one(conn: CliConnection, line: str, out) -> bool:
    """Run a line (Ctrl-C aborts it on the server). False when the connection is gone after it."""
    try:
        conn.sock.sendall(_wire(line))
    except OSError:
        return False
    while True:
        try:
            conn.wait_ack(out)
            break
        except KeyboardInterrupt:
            conn.interrupt()
        except ConnectionClosed:
            return False
    if _is_quit(line):  # the server closes right after acknowledging quit
        deadline = time.monotonic() + 1.0
        while not conn.eof and time.monotonic() < deadline:
            conn._recv(max(0.0, deadline - time.monotonic()))
    return not conn.eof


def _run_lines(conn: CliConnection, lines, out) -> int:
    for line in lines:
        if not _run_one(conn, line, out):
            if _is_quit(line):
                return 0
            print("vppsh: connection closed by the server", file=sys.stderr)
            return 1
    return 0


def _logical_stream(lines):
    """Logical lines from a stream of physical lines, as exec reads a file (continuations, #)."""
    from .dispatch import logical_lines

    buf, depth = "", 0
    for raw in lines:
        buf += raw if raw.endswith("\n") else raw + "\n"
        body = raw.split("#", 1)[0].rstrip()  # braces in comments do not count
        depth += body.count("{") - body.count("}")
        if body.endswith("\\") or depth > 0:
            continue
        depth = 0
        for _no, line in logical_lines(buf):
            yield line
        buf = ""
    if buf:
        for _no, line in logical_lines(buf):
            yield line


def _interactive(conn: CliConnection) -> int:
    from prompt_toolkit import PromptSession
    from prompt_toolkit.history import FileHistory, InMemoryHistory

    try:
        history = FileHistory(os.path.expanduser("~/.vppsh_history"))
    except OSError:
        history = InMemoryHistory()
    ps = PromptSession(history=history)
    while True:
        try:
            line = ps.prompt("vpp# ")
        except KeyboardInterrupt:
            continue
        except EOFError:
            return 0
        if not line.strip():
            continue
        if not _run_one(conn, line, sys.stdout.buffer):
            if _is_quit(line):
                return 0
            print("vppsh: connection closed by the server", file=sys.stderr)
            return 1


def run_client(path: str, words: list[str] | None, script: str | None, interactive: bool) -> int:
    """`vppsh -s SOCKET ...`; returns the exit code."""
    try:
        conn = CliConnection(path)
    except (OSError, ConnectionClosed) as e:
        why = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
        print(f"vppsh: cannot connect to {path}: {why}", file=sys.stderr)
        return 1
    out = sys.stdout.buffer
    try:
        lines: list[str] | None = None
        if script:
            lines = [f"exec {os.path.abspath(script)}"]
        if words:
            lines = (lines or []) + [" ".join(words)]
        if lines is not None:
            return _run_lines(conn, lines, out)
        if interactive:
            return _interactive(conn)
        stdin = (raw.decode("utf-8", "surrogateescape") for raw in sys.stdin.buffer)
        return _run_lines(conn, _logical_stream(stdin), out)
    finally:
        conn.close()
        out.flush()
