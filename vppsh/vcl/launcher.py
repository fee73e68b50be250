"""`vppsh exec [--vcl-config FILE] [--api-socket PATH] [--app-name NAME] -- PROGRAM ARGS...`:
run an unmodified program with its TCP/UDP sockets on a running vppsh (LD_PRELOAD shim)."""

from __future__ import annotations

import argparse
import os
import socket
import sys

from ..preload import library
from .conf import api_socket


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="vppsh exec", description="Run PROGRAM with its sockets on vppsh's host stack.")
    p.add_argument("--vcl-config", metavar="FILE", help="vcl.conf (VPP's format): fifo sizes, app-socket-api...")
    p.add_argument("--api-socket", metavar="PATH", help="the engine's API socket (default: from vcl.conf, "
                                                         "else /run/vppsh/api.sock)")
    p.add_argument("--app-name", metavar="NAME", help="name in `show app` (default: the program's)")
    p.add_argument("program", metavar="PROGRAM")
    p.add_argument("args", nargs=argparse.REMAINDER, metavar="ARGS")
    return p


def main(argv: list[str]) -> int:
    if argv and argv[0] == "--":
        argv = argv[1:]
    elif "--" in argv:
        i = argv.index("--")
        argv = argv[:i] + argv[i + 1:]
    args = _parser().parse_args(argv)
    lib = library()
    if lib is None:
        print("vppsh exec: the preload shim is not built (reinstall vppsh: pip install .)", file=sys.stderr)
        return 1
    env = dict(os.environ)
    if args.vcl_config:
        if not os.path.isfile(args.vcl_config):
            print(f"vppsh exec: {args.vcl_config}: no such file", file=sys.stderr)
            return 1
        env["VCL_CONFIG"] = os.path.abspath(args.vcl_config)
    if args.api_socket:
        env["VCL_VPP_SAPI_SOCKET"] = args.api_socket
    path = api_socket(env.get("VCL_CONFIG"), env)
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    try:
        probe.connect("\0" + path[9:] if path.startswith("abstract:") else path)
    except OSError as e:
        print(f"vppsh exec: cannot reach vppsh at {path}: {e.strerror} (is `vppsh -d` running?)", file=sys.stderr)
        return 1
    finally:
        probe.close()
    if args.app_name:
        env["LDP_APP_NAME"] = args.app_name
    pre = env.get("LD_PRELOAD", "")
    env["LD_PRELOAD"] = lib + (" " + pre if pre else "")
    try:
        os.execvpe(args.program, [args.program, *args.args], env)
    except OSError as e:
        print(f"vppsh exec: {args.program}: {e.strerror}", file=sys.stderr)
        return 127
    return 0
