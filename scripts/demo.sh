#!/usr/bin/env bash
# The seed scenario, from a fresh clone: an unpatched BIRD, its sockets on vppsh's host stack,
# holds an Established BGP session with FRR's bgpd in the namespace `external-peer` across
# vppsh's tap, over IPv4 and over IPv6. Installs what it needs, prints each side's view, tears
# everything down.
# Exits 0, or non-zero naming the step that failed. Configuration: examples/seed/.
set -uo pipefail
cd "$(dirname "$0")/.."
step() { echo; echo "=== $*"; }
fail() { echo "demo: FAILED at step: $*" >&2; exit 1; }

step "1/5 install vppsh (.venv), bird2 and frr"
. scripts/install.sh || fail "install"
command -v bird >/dev/null && [ -x /usr/lib/frr/bgpd ] || fail "install (bird2/frr missing)"

work=$(mktemp -d /tmp/vppsh-demo.XXXXXX)
pids=()
vppsh_pid=""
cleanup() {  # the apps first, then vppsh (it removes its tap and the namespace it created)
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
  pids=()
  if [ -n "$vppsh_pid" ]; then kill -TERM "$vppsh_pid" 2>/dev/null; wait "$vppsh_pid" 2>/dev/null; fi
  vppsh_pid=""
  [ -n "${KEEP:-}" ] || rm -rf "$work"
}
trap cleanup EXIT
VPPSH=.venv/bin/vppsh
cli=$work/cli.sock
vpp() { echo "vpp# $*"; $VPPSH -s "$cli" "$@"; }

step "2/5 start vppsh -d with the seed's configuration (examples/seed/vppsh.cli)"
cat examples/seed/vppsh.cli | grep -v '^#'
[ -e /run/netns/external-peer ] && fail "vppsh (a namespace external-peer already exists: not ours to use)"
$VPPSH -d -f examples/seed/vppsh.cli --cli-socket "$cli" --log "$work/vppsh.log" >"$work/vppsh.out" 2>&1 &
vppsh_pid=$!
ready=""
for _ in $(seq 150); do  # the sockets, then the script's last line (session enable) done
  if [ -S "$cli" ] && [ -S /run/vppsh/api.sock ] && [ -e /run/netns/external-peer ] \
     && $VPPSH -s "$cli" show session 2>/dev/null | grep -qv "not enabled"; then ready=1; break; fi
  sleep 0.2
done
[ -n "$ready" ] || { cat "$work/vppsh.out" >&2; fail "vppsh did not start"; }

step "3/5 start FRR's bgpd in external-peer (AS 31337, router-id 1.1.1.1, announcing 192.0.2.0/24 and 2001:db8:ffff::/48)"
mkdir -p "$work/frr"
nsenter --net=/run/netns/external-peer /usr/lib/frr/bgpd -Z -S -f examples/seed/bgpd.conf \
  -i "$work/bgpd.pid" --vty_socket "$work/frr" -P 0 >"$work/bgpd.log" 2>&1 &
pids+=($!)

step "4/5 start unmodified BIRD through vppsh exec, in a network namespace with no routes"
echo "\$ vppsh exec --vcl-config examples/seed/vcl.conf -- bird -d -c examples/seed/bird.conf"
unshare --net -- $VPPSH exec --vcl-config examples/seed/vcl.conf -- \
  bird -d -c examples/seed/bird.conf -s "$work/bird.ctl" >"$work/bird.log" 2>&1 &
pids+=($!)
birdc() { command birdc -s "$work/bird.ctl" "$@"; }
up=""
for _ in $(seq 120); do
  if birdc show protocols external_peer 2>/dev/null | grep -q Established; then up=1; break; fi
  sleep 0.5
done
[ -n "$up" ] || { tail -n 20 "$work/bird.log" "$work/bgpd.log" >&2; fail "BGP session did not reach Established in 60 s"; }
for _ in $(seq 40); do birdc show protocols external_peer6 2>/dev/null | grep -q Established && break; sleep 0.5; done
for _ in $(seq 20); do
  birdc show route 2>/dev/null | grep -q 192.0.2.0/24 && birdc show route 2>/dev/null | grep -q 2001:db8:ffff::/48 && break
  sleep 0.5
done

step "5/5 each side's view"
echo "--- BIRD (through vppsh): show protocols"; birdc show protocols
echo "--- BIRD: show route"; birdc show route
echo "--- FRR bgpd (external-peer): show ip bgp summary"
vtysh --vty_socket "$work/frr" -c "show ip bgp summary"
echo "--- FRR bgpd (external-peer): show bgp ipv6 unicast summary"
vtysh --vty_socket "$work/frr" -c "show bgp ipv6 unicast summary"
echo "--- vppsh"
vpp show session verbose
vpp show app
vpp show interface
vpp show runtime
birdc show route | grep -q 192.0.2.0/24 || fail "BIRD did not learn 192.0.2.0/24"
birdc show route | grep -q 2001:db8:ffff::/48 || fail "BIRD did not learn 2001:db8:ffff::/48 (over IPv6)"

step "teardown: BIRD, bgpd, vppsh (it removes its tap and the namespace it created)"
cleanup
trap - EXIT
[ -e /run/netns/external-peer ] && fail "teardown (external-peer left behind)"
echo "demo: ok"
