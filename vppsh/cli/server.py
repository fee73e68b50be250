"""The CLI socket (VPP's `unix { cli-listen PATH }`): vppctl, `vppsh -s`, socat and telnet clients.

Protocol, as VPP's unix-cli (src/vlib/unix/cli.c): on accept the server sends a telnet option
negotiation asking for the terminal type and window size. The terminal type picks the mode:

* `vppctl` (any case), or a complete line received before any terminal type (socat, nc):
  non-interactive. No banner, prompt or echo; each CR/LF/NUL-terminated line is run in order,
  one at a time; its output is followed by its error line, if any, then one NUL byte, the
  acknowledgement vppctl waits for. Empty lines are skipped without an acknowledgement (vppctl
  sends `cmd\\n\\0`, which must give one ack). `quit` hangs up after its ack.
* anything else (vppctl without a command, telnet): interactive. Banner, `vpp# ` prompt and a
  small server-side line editor: echo, backspace/DEL, Ctrl-U, Ctrl-W, Ctrl-C, up/down history,
  TAB completion, Ctrl-D on an empty line hangs up. Typeahead waits until the command finishes.

Telnet `IAC IP` (Interrupt Process) aborts the running command in both modes.

Everything runs on the engine thread; sockets are non-blocking. Output goes to a per-client
buffer flushed on EPOLLOUT, and a client that lets more than 16 MB pile up is disconnected.
A client that goes away has its running command aborted (like Ctrl-C) and its output dropped.

One server per path: an exclusive flock on PATH.lock is held while serving. A socket file nobody
holds the lock for and nobody accepts on is stale and replaced.
"""

from __future__ import annotations

import errno
import fcntl
import os
import re
import select
import socket
import stat

from .client import (DO, DONT, IAC, IP, OPT_ECHO, OPT_LINEMODE, OPT_NAWS, OPT_SGA, OPT_TTYPE, SB, SE,
                     TTYPE_IS, TTYPE_SEND, WILL, WONT, TelnetParser)
from .session import CliSession
from .complete import complete

PROMPT = "vpp# "
MAX_PENDING = 16 << 20  # bytes of unsent output (or unread input) before a client is dropped

BANNER = (
    "    _______    _        _   _____  ___ \n"
    " __/ __/ _ \\  (_)__    | | / / _ \\/ _ \\\n"
    " _/ _// // / / / _ \\   | |/ / ___/ ___/\n"
    " /_/ /____(_)_/\\___/   |___/_/  /_/    \n"
    "\n"
)

NEGOTIATION = bytes([
    IAC, WONT, OPT_LINEMODE,
    IAC, DONT, OPT_LINEMODE,
    IAC, WILL, OPT_SGA,
    IAC, DO, OPT_SGA,
    IAC, WILL, OPT_ECHO,
    IAC, DONT, OPT_ECHO,
    IAC, DO, OPT_TTYPE,
    IAC, SB, OPT_TTYPE, TTYPE_SEND, IAC, SE,
    IAC, DO, OPT_NAWS,
    IAC, SB, OPT_NAWS, 1, IAC, SE,
])

_EOL = re.compile(rb"[\r\n\0]")
EV_IN = select.EPOLLIN | select.EPOLLRDHUP
HUP = select.EPOLLHUP | select.EPOLLERR


class ServerError(Exception):
    """The CLI socket cannot be served (another server has it, the path is not a socket...)."""


def _crlf(text: str) -> bytes:
    """Output as sent: CR LF line ends, and no NUL (the protocol's acknowledgement) inside."""
    return text.replace("\r\n", "\n").replace("\n", "\r\n").replace("\0", "").encode("utf-8", "replace")


def _cols(s: str) -> int:
    """Terminal columns of an edit line kept as latin-1 decoded bytes (UTF-8 continuations are 0)."""
    return sum(1 for ch in s if not 0x80 <= ord(ch) < 0xC0)


def _columns(words: list[str], width: int) -> str:
    colw = max(len(w) for w in words) + 2
    ncol = max(1, width // colw)
    rows = [words[i:i + ncol] for i in range(0, len(words), ncol)]
    return "".join("".join(w.ljust(colw) for w in row).rstrip() + "\n" for row in rows)


class CliServer:
    def __init__(self, vm, tree, path, prompt: str = PROMPT, banner: bool = True) -> None:
        self.vm = vm
        self.tree = tree
        self.path = os.fspath(path)
        self.prompt = prompt
        self.banner = banner
        self.sock: socket.socket | None = None
        self.clients: dict[int, _Client] = {}
        self._lock_fd: int | None = None
        self._ino: int | None = None

    # ------------------------------------------------------------ life cycle (engine thread)
    def start(self) -> None:
        if self.sock is not None:
            return
        d = os.path.dirname(os.path.abspath(self.path))
        if not os.path.isdir(d):
            os.makedirs(d, exist_ok=True)
            os.chmod(d, 0o700)
        lock = os.open(self.path + ".lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            os.close(lock)
            if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                raise ServerError(f"another vppsh is serving {self.path}") from None
            raise
        s = None
        try:
            self._remove_stale()
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_NONBLOCK | socket.SOCK_CLOEXEC)
            s.bind(self.path)
            os.chmod(self.path, 0o600)
            s.listen(128)
            self._ino = os.stat(self.path).st_ino
        except BaseException:
            if s is not None:
                s.close()
            os.close(lock)
            raise
        self.sock, self._lock_fd = s, lock
        self.vm.add_fd(s.fileno(), select.EPOLLIN, self._on_accept)
        self.vm.at_exit.append(self.stop)

    def _remove_stale(self) -> None:
        try:
            st = os.lstat(self.path)
        except FileNotFoundError:
            return
        if not stat.S_ISSOCK(st.st_mode):
            raise ServerError(f"{self.path} exists and is not a socket")
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        probe.settimeout(1.0)
        try:
            probe.connect(self.path)
        except (ConnectionRefusedError, FileNotFoundError):
            os.unlink(self.path)  # nobody listening: a crashed server's leftover
            return
        except OSError as e:
            raise ServerError(f"{self.path} is in use: {e.strerror or e}") from None
        finally:
            probe.close()
        raise ServerError(f"another process is serving {self.path}")

    def stop(self) -> None:
        """Close every client and the listener, remove the socket and lock files."""
        if self.sock is None:
            return
        for c in list(self.clients.values()):
            c.close()
        self.vm.del_fd(self.sock.fileno())
        self.sock.close()
        self.sock = None
        try:
            if os.stat(self.path).st_ino == self._ino:
                os.unlink(self.path)
        except OSError:
            pass
        try:
            os.unlink(self.path + ".lock")  # still locked by us: nobody else can own it
        except OSError:
            pass
        os.close(self._lock_fd)
        self._lock_fd = None
        try:
            self.vm.at_exit.remove(self.stop)
        except ValueError:
            pass

    def _on_accept(self, _events) -> None:
        while self.sock is not None:
            try:
                conn, _addr = self.sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as e:  # EMFILE and friends: try again on the next event
                self.vm.logs.add("err", "unix-cli", f"accept on {self.path}: {e}")
                return
            conn.setblocking(False)
            _Client(self, conn)


class _Client:
    """One connection: telnet parsing, output buffering, and either line or edit mode."""

    def __init__(self, srv: CliServer, sock: socket.socket) -> None:
        self.srv = srv
        self.vm = srv.vm
        self.sock = sock
        self.fd = sock.fileno()
        self.tn = TelnetParser()
        self.out = bytearray()  # unsent output
        self.want_out = False
        self.inbuf = bytearray()  # received data not handled yet
        self.mode: str | None = None  # None (undecided), "line" (vppctl) or "edit" (interactive)
        self.term = ""
        self.width, self.height = 80, 24
        self.busy = False  # a line is running
        self.closing = False  # hang up once the output is flushed
        self.closed = False
        self.read_eof = False  # the client shut down its sending side: finish its lines, then hang up
        # edit mode state; the line holds raw bytes decoded as latin-1 (one char per byte)
        self.line = ""
        self.esc: str | None = None
        self.last_cr = False
        self.hist_i: int | None = None
        self.saved_line = ""
        self.session = CliSession(self.vm, srv.tree, self.write, f"unix-cli-local:{self.fd}")
        self.session.on_quit = self._hangup
        srv.clients[self.fd] = self
        self.vm.add_fd(self.fd, EV_IN, self._on_event)
        self.send(NEGOTIATION)

    # ------------------------------------------------------------ output
    def write(self, text: str) -> None:
        """Session output: LF becomes CR LF as on any VPP socket session."""
        self.send(_crlf(text))

    def send(self, data: bytes) -> None:
        if self.closed or not data:
            return
        if not self.out:
            try:
                n = self.sock.send(data)
            except (BlockingIOError, InterruptedError):
                n = 0
            except OSError:
                self.close()
                return
            data = data[n:]
            if not data:
                return
        self.out += data
        if len(self.out) > MAX_PENDING:
            self.vm.logs.add("warn", "unix-cli", f"{self.session.proc.name}: client not reading, "
                             f"{len(self.out)} bytes pending, disconnected")
            self.close()
            return
        if not self.want_out:
            self.want_out = True
            self._set_events()

    def _flush(self) -> None:
        while self.out:
            try:
                n = self.sock.send(self.out)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                self.close()
                return
            del self.out[:n]
        if self.want_out:
            self.want_out = False
            self._set_events()
        if self.closing:
            self.close()

    def _set_events(self) -> None:
        self.vm.mod_fd(self.fd, (0 if self.read_eof else EV_IN) | (select.EPOLLOUT if self.want_out else 0))

    def _hangup(self) -> None:
        """Close once everything written so far is sent (quit, Ctrl-D)."""
        self.closing = True
        if not self.session.closed:
            self.session.close()
        if not self.out:
            self.close()

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.vm.del_fd(self.fd)
        self.sock.close()
        self.srv.clients.pop(self.fd, None)
        self.out.clear()
        if not self.session.closed:
            self.session.abort()  # a running command stops at its next suspension point
            self.session.close()

    # ------------------------------------------------------------ input
    def _on_event(self, events: int) -> None:
        if events & select.EPOLLOUT:
            self._flush()
        if self.closed:
            return
        if self.read_eof:  # only hangups are of interest now
            if events & HUP:
                self.close()
            return
        if not events & (EV_IN | HUP):
            return
        try:
            data = self.sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self.close()
            return
        if not data:
            if events & HUP or self.mode == "edit" or self.closing:
                self.close()  # gone: a running command is aborted, its output dropped
                return
            # Half-closed (`printf 'show int\n' | nc -N -U sock`): run what was sent, then hang up.
            self.read_eof = True
            self._set_events()
            if self.inbuf:
                self.inbuf += b"\n"
            self._process()
            return
        if self.closing:
            return
        for item in self.tn.feed(data):
            if isinstance(item, bytes):
                if self.busy and self.mode == "edit" and b"\x03" in item:
                    self.session.abort()  # Ctrl-C while a command runs: stop it, drop typeahead
                    self.inbuf.clear()
                    item = item[item.rindex(b"\x03") + 1:]
                self.inbuf += item
            else:
                self._telnet(*item)
        if len(self.inbuf) > MAX_PENDING:
            self.close()
            return
        self._process()

    def _telnet(self, cmd: int, arg) -> None:
        if cmd == SB and arg[:2] == bytes([OPT_TTYPE, TTYPE_IS]):
            self.term = arg[2:].decode("ascii", "replace")
            if self.mode is None:
                self._set_mode("line" if self.term.lower() == "vppctl" else "edit")
        elif cmd == SB and arg[:1] == bytes([OPT_NAWS]) and len(arg) >= 5:
            self.width = (arg[1] << 8 | arg[2]) or 80
            self.height = (arg[3] << 8 | arg[4]) or 24
        elif cmd == WONT and arg == OPT_TTYPE and self.mode is None:
            self._set_mode("edit")  # a telnet that will not say what it is: a person
        elif cmd == IP:
            if self.busy:
                self.session.abort()
                if self.mode == "edit":
                    self.inbuf.clear()
            elif self.mode == "edit":
                self.inbuf += b"\x03"

    def _set_mode(self, mode: str) -> None:
        self.mode = mode
        if mode == "edit":
            self.write((BANNER if self.srv.banner else "") + self.srv.prompt)

    def _process(self) -> None:
        if self.busy or self.closed or self.closing:
            return
        if self.mode is None and (b"\r" in self.inbuf or b"\n" in self.inbuf):
            self.mode = "line"  # a whole line before any terminal type: socat, nc
        if self.mode == "line":
            self._next_line()
        elif self.mode == "edit":
            self._edit()
        if self.read_eof and not self.busy and not self.closing and not self.closed:
            self._hangup()

    # ------------------------------------------------------------ line mode (vppctl)
    def _next_line(self) -> None:
        while not self.busy and not self.closed:
            m = _EOL.search(self.inbuf)
            if m is None:
                return
            raw = bytes(self.inbuf[:m.start()])
            del self.inbuf[:m.end()]
            line = raw.decode("utf-8", "replace").strip()
            if line:
                self.busy = True
                self.session.submit(line, self._line_done)

    def _line_done(self, err: str | None) -> None:
        self.busy = False
        if self.closed:
            return
        if err:
            self.write(err + "\n")
        self.send(b"\0")
        if not self.session.closed:
            self._process()

    # ------------------------------------------------------------ edit mode (telnet, vppctl without a command)
    def _edit(self) -> None:
        data = bytes(self.inbuf)
        self.inbuf.clear()
        o = bytearray()  # echo and redraws, sent in one go
        for i, c in enumerate(data):
            if self.esc is not None:
                self._escape(chr(c), o)
            elif c in (0x0D, 0x0A):
                if c == 0x0A and self.last_cr:
                    self.last_cr = False
                    continue
                self.last_cr = c == 0x0D
                if self._enter(o):  # a command started: the rest waits for it
                    self.inbuf[:0] = data[i + 1:]
                    return
                continue
            elif c == 0x00:
                continue  # telnet sends CR NUL for a bare CR
            elif c == 0x1B:
                self.esc = ""
            elif c in (0x08, 0x7F):
                self._rubout(1, o)
            elif c == 0x15:  # Ctrl-U: kill the line
                self._rubout(len(self.line), o)
            elif c == 0x17:  # Ctrl-W: kill the previous word
                keep = self.line.rstrip()
                keep = keep[:keep.rfind(" ") + 1] if " " in keep else ""
                self._rubout(len(self.line) - len(keep), o)
            elif c == 0x03:  # Ctrl-C: abandon the line
                o += b"^C\r\n" + self.srv.prompt.encode()
                self.line, self.hist_i = "", None
            elif c == 0x04:  # Ctrl-D: hang up on an empty line
                if not self.line:
                    o += b"\r\n"
                    self.send(bytes(o))
                    self._hangup()
                    return
            elif c == 0x09:
                self._complete(o)
            elif c >= 0x20:
                self.line += chr(c)
                o.append(c)
            self.last_cr = False
        self.send(bytes(o))

    def _rubout(self, n: int, o: bytearray) -> None:
        """Remove n bytes (whole UTF-8 characters) from the end of the line."""
        cut = max(0, len(self.line) - n)
        while 0 < cut < len(self.line) and 0x80 <= ord(self.line[cut]) < 0xC0:
            cut -= 1
        gone = _cols(self.line[cut:])
        self.line = self.line[:cut]
        o += b"\b \b" * gone

    def _replace_line(self, new: str, o: bytearray) -> None:
        self._rubout(len(self.line), o)
        self.line = new
        o += new.encode("latin-1")

    def _escape(self, ch: str, o: bytearray) -> None:
        """ESC [ A / ESC O A (up), B (down); other sequences are swallowed."""
        self.esc += ch
        if len(self.esc) == 1:
            if ch not in "[O":
                self.esc = None
            return
        if not "@" <= ch <= "~" and len(self.esc) < 16:
            return
        final, self.esc = ch, None
        hist = [h for k, h in enumerate(self.session.history) if k == 0 or self.session.history[k - 1] != h]
        if final == "A" and hist:
            if self.hist_i is None:
                self.hist_i, self.saved_line = len(hist), self.line
            if self.hist_i > 0:
                self.hist_i -= 1
                self._replace_line(hist[self.hist_i].encode("utf-8").decode("latin-1"), o)
        elif final == "B" and self.hist_i is not None:
            self.hist_i += 1
            if self.hist_i >= len(hist):
                self.hist_i = None
                self._replace_line(self.saved_line, o)
            else:
                self._replace_line(hist[self.hist_i].encode("utf-8").decode("latin-1"), o)

    def _enter(self, o: bytearray) -> bool:
        line = self.line.encode("latin-1").decode("utf-8", "replace")
        self.line, self.hist_i = "", None
        o += b"\r\n"
        if not line.strip():
            o += self.srv.prompt.encode()
            return False
        self.send(bytes(o))
        o.clear()
        self.busy = True
        self.session.submit(line, self._edit_done)
        return True

    def _edit_done(self, err: str | None) -> None:
        self.busy = False
        if self.closed:
            return
        if err:
            self.write(err + "\n")
        if self.session.closed:  # quit: on_quit hangs up
            return
        self.write(self.srv.prompt)
        self._process()

    def _complete(self, o: bytearray) -> None:
        text = self.line.encode("latin-1").decode("utf-8", "replace")
        try:
            cands = complete(self.srv.tree, self.session.ctx, text)
        except ImportError:
            cands = []
        except Exception as e:  # completion must never break typing
            self.vm.logs.add("err", "unix-cli", f"completion of `{text}' failed: {e!r}")
            cands = []
        partial = "" if not text or text[-1].isspace() else text.split()[-1]
        cands = [c for c in cands if c.startswith(partial)]
        if not cands:
            o += b"\a"
            return
        if len(cands) == 1:
            add = cands[0][len(partial):] + ("" if cands[0].endswith("/") else " ")
        else:
            add = os.path.commonprefix(cands)[len(partial):]
            o += _crlf("\n" + _columns(cands, self.width)) + self.srv.prompt.encode() + self.line.encode("latin-1")
        raw = add.encode("utf-8", "surrogateescape")  # a file name may be any bytes
        self.line += raw.decode("latin-1")
        o += raw
