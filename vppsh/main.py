"""`vppsh` command line: interactive shell, batch (-f), daemon (-d), client (-s)."""

from __future__ import annotations

import argparse
import gc
import logging
import resource
import signal
import sys
import threading

DEFAULT_CLI_SOCKET = "/run/vppsh/cli.sock"
DEFAULT_API_SOCKET = "/run/vppsh/api.sock"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="vppsh",
        description="A VPP-style userspace network stack with a vppctl-like shell.",
        epilog="Examples: vppsh | vppsh -f setup.cli | vppsh -d -f setup.cli | vppsh -s /run/vppsh/cli.sock show int"
               " | vppsh exec [--vcl-config FILE] [--api-socket PATH] -- PROGRAM ARGS",
    )
    p.add_argument("-f", dest="file", metavar="FILE", help="run the commands in FILE (batch), stop at the first error")
    p.add_argument("-i", dest="interactive", action="store_true", help="stay interactive after -f FILE")
    p.add_argument("-d", dest="daemon", action="store_true", help="run headless, serving the CLI socket until SIGTERM")
    p.add_argument("-s", dest="socket", metavar="SOCKET", help="be a client of the vppsh serving SOCKET")
    p.add_argument("--cli-socket", default=DEFAULT_CLI_SOCKET, metavar="PATH", help=f"CLI socket (default {DEFAULT_CLI_SOCKET})")
    p.add_argument("--api-socket", default=DEFAULT_API_SOCKET, metavar="PATH", help=f"API socket for the preload shim (default {DEFAULT_API_SOCKET})")
    p.add_argument("--log", metavar="FILE",
                   help="also log to FILE (the log is always in `show logging`; -d logs to stderr without it)")
    p.add_argument("--frame-size", type=int, default=None, metavar="N",
                   help="max packets per node call (default 4096; VPP uses 256)")
    p.add_argument("--buffers", type=int, default=None, metavar="N", help="packet buffers (default 32768)")
    p.add_argument("words", nargs="*", help="a command to run (with -s: on the running vppsh)")
    return p


def _batch(engine, path: str) -> int:
    from .cli.dispatch import expand_macros, logical_lines

    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            text = f.read()
    except OSError as e:
        print(f"vppsh: {path}: {e.strerror}", file=sys.stderr)
        return 1
    for no, line in logical_lines(text):
        err = engine.run(expand_macros(line, engine.session.macros))
        if err:
            sys.stdout.flush()
            print(f"{path}:{no}: {err}", file=sys.stderr)
            return 1
        if engine.quit_requested:
            break
    return 0


def _logging(args) -> None:
    """Engine log records are always in `show logging`. Beyond that they go to `--log FILE`;
    without it, a daemon (-d) writes them to stderr, its service log, and a terminal session
    (interactive, -f, a command) never shows them: VPP logs to syslog, not to the CLI."""
    if args.log:
        try:
            handler = logging.FileHandler(args.log, encoding="utf-8", errors="backslashreplace")
        except OSError as e:
            raise SystemExit(f"vppsh: --log {args.log}: {e.strerror}") from None
    elif args.daemon:
        handler = logging.StreamHandler()
    else:
        handler = logging.NullHandler()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", handlers=[handler])


def _line(words: list[str]) -> str:
    """Command words as one line; bytes that are not UTF-8 (surrogate escapes in argv) become
    U+FFFD, as they do on the CLI socket."""
    return " ".join(words).encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _serve(engine, args):
    from .cli.server import CliServer, ServerError
    from .vcl.server import ApiError, ApiServer

    srv = CliServer(engine.vm, engine.tree, args.cli_socket)
    api = ApiServer(engine.vm, args.api_socket)
    try:
        engine.call(srv.start)
        engine.call(api.start)
    except (ServerError, ApiError, OSError) as e:
        raise SystemExit(f"vppsh: {e}")
    return srv


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["exec"]:
        from .vcl.launcher import main as exec_main

        return exec_main(argv[1:])
    args = _parser().parse_args(argv)
    sys.stdout.reconfigure(errors="replace")  # output a terminal cannot show is `?', not a traceback
    if args.socket:
        from .cli.client import run_client

        return run_client(args.socket, args.words or None, args.file, sys.stdin.isatty())
    _logging(args)

    from .engine import Engine

    # every shim socket is an fd here: take what the hard limit allows (systemd's 1024 soft
    # limit would stop the engine at a thousand sockets)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    kw = {k: v for k, v in (("frame_size", args.frame_size), ("n_buffers", args.buffers)) if v is not None}
    if any(v < 1 for v in kw.values()):
        raise SystemExit("vppsh: --frame-size and --buffers must be positive")
    engine = Engine(**kw)
    # What start-up made (modules, the command tree, node graph) lives as long as the process:
    # out of the collector's sight, it no longer adds 5-25 ms to every full collection, the one
    # stall of the engine thread
    gc.collect()
    gc.freeze()
    stop = threading.Event()

    def on_signal(signum, frame):
        stop.set()
        if not args.daemon:
            raise SystemExit(0)

    signal.signal(signal.SIGTERM, on_signal)
    rc = 0
    try:
        if args.daemon or (args.interactive or not (args.file or args.words)):
            _serve(engine, args)
        if args.file:
            rc = _batch(engine, args.file)
            if rc and not args.daemon:
                return rc
        if args.words and not engine.quit_requested:
            err = engine.run(_line(args.words))
            if err:
                print(err, file=sys.stderr)
                return 1
        if args.daemon:
            signal.signal(signal.SIGINT, on_signal)
            while not stop.wait(1.0) and not engine.quit_requested:
                pass
            return 0
        if args.interactive or not (args.file or args.words):
            from .cli.repl import run_repl

            return run_repl(engine) or rc
        return rc
    except KeyboardInterrupt:
        return 130
    finally:
        engine.stop()
        sys.stdout.flush()


if __name__ == "__main__":
    sys.exit(main())
