#!/usr/bin/env bash
# A tour of the shell, from a fresh clone: install vppsh into .venv, start it headless with the tour
# script, then drive it from another process like an operator with vppctl would.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/install.sh
work=$(mktemp -d /tmp/vppsh-tour.XXXXXX)
sock=$work/cli.sock
.venv/bin/vppsh -d -f examples/tour.cli --cli-socket "$sock" --log "$work/vppsh.log" >"$work/vppsh.out" &
pid=$!
cleanup() { kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
for _ in $(seq 100); do [ -S "$sock" ] && break; sleep 0.1; done
[ -S "$sock" ] || { echo "tour: vppsh did not start (see $work/vppsh.log)" >&2; exit 1; }
vpp() { echo "vpp# $*"; .venv/bin/vppsh -s "$sock" "$@"; echo; }
vpp show version
vpp show interface
vpp show hardware-interfaces brief
sleep 1
vpp show packet-generator
vpp show runtime
vpp show errors
vpp show trace max 1
vpp show buffers
vpp bogus command
# The host stack against the kernel: a tap into a namespace vppsh makes (and removes at exit),
# VPP's echo server, a kernel client in that namespace, the session it holds.
ns=vppsh-demo-$$
vpp create tap id 0 host-ns "$ns" host-ip4-addr 10.0.0.1/31 gso
vpp set interface state tap0 up
vpp set interface ip address tap0 10.0.0.0/31
vpp session enable
vpp test echo server uri tcp://0.0.0.0/1234
nsenter --net=/run/netns/"$ns" .venv/bin/python -c '
import socket, time
s = socket.create_connection(("10.0.0.0", 1234)); s.sendall(b"hello vppsh")
print("kernel client got back:", s.recv(64).decode(), flush=True); time.sleep(2)' &
client=$!
sleep 1
vpp show session verbose
vpp show app
wait "$client"
vpp show errors
echo "tour: ok"
