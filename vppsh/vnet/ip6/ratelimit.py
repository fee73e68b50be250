"""How many ICMPv6 errors ip6-icmp-error sends: Linux's limits (net/ipv6/icmp.c), which are
per destination, not one bucket for all (VPP has only a global one):

- types outside net.ipv6.icmp.ratemask (default 0-1,3-127) are never limited: packet too big
  must get through, or path MTU discovery breaks (and informational messages are not errors);
- the rest share a global bucket first (icmp_global_allow: net.ipv4.icmp_msgs_per_sec 1000,
  icmp_msgs_burst 50, refilled no more often than every 20 ms; Linux 6.x takes 0-2 credits per
  message at random, 1 on average: here 1);
- then a token bucket per destination (inet_peer_xrlim_allow): one message per `tmo`, bursts of
  6 (XRLIM_BURST_FACTOR), where tmo is net.ipv6.icmp.ratelimit (100 ms on this machine's
  kernel, also in a fresh namespace; older kernels had 1 s) halved for every 32 bits the route toward the destination is shorter than
  /128 ("more bandwidth to wider prefixes"): a /64 gets 25 ms, the default route 6 ms. The route
  is the FIB's longest match that is not a neighbour's own /128 (Linux keeps none).

A new destination starts with a full bucket (Linux's rate_last of 60 s ago), so a destination
whose bucket is full again needs no state: those are forgotten when MAX_PEERS are held (Linux's
inetpeer pool is bounded the same way), and if a flood of sources still fills it, the oldest
half goes (each of them may get a fresh burst: the global bucket still bounds the total).
"""

from __future__ import annotations

from ...wire import icmp6

MSGS_PER_SEC, MSGS_BURST = 1000, 50
GLOBAL_MIN_GAP = 20_000  # us: HZ / 50
PEER_TIME = 100_000  # us: net.ipv6.icmp.ratelimit
PEER_BURST = 6
FULL_AFTER = PEER_BURST * PEER_TIME  # us idle after which any destination's bucket is full
MAX_PEERS = 4096


def limited(itype: int) -> bool:
    """Is `itype` in the default ratemask (0-1, 3-127)?"""
    return itype < 128 and itype != icmp6.PACKET_TOO_BIG


class Icmp6RateLimit:
    """Times are whole microseconds (Linux counts jiffies): tokens add up exactly."""

    def __init__(self, clock) -> None:
        self.clock = clock  # seconds, monotonic
        self.credit = 0
        self.stamp = -(1 << 62)
        self.peers: dict[int, tuple[int, int]] = {}  # destination -> (tokens, last), in us

    def allow(self, itype: int, dst: int, plen: int) -> bool:
        """May an error of `itype` go to `dst` (reached through a route of length `plen`) now?
        If so, it is counted as sent."""
        if not limited(itype):
            return True
        now = round(self.clock() * 1e6)
        if self.credit <= 0:
            delta = min(now - self.stamp, 1_000_000)
            incr = MSGS_PER_SEC * delta // 1_000_000
            if delta < GLOBAL_MIN_GAP or not incr:
                return False
            self.stamp = now
            self.credit = min(self.credit + incr, MSGS_BURST)
        tmo = PEER_TIME >> ((128 - plen) >> 5)
        tokens, last = self.peers.get(dst, (FULL_AFTER, now))
        tokens = min(tokens + now - last, PEER_BURST * tmo)
        ok = tokens >= tmo
        if ok:
            tokens -= tmo
            self.credit -= 1
        if dst not in self.peers and len(self.peers) >= MAX_PEERS:
            self._prune(now)
        self.peers[dst] = (tokens, now)
        return ok

    def _prune(self, now: int) -> None:
        peers = self.peers
        for d in [d for d, (_t, last) in peers.items() if now - last >= FULL_AFTER]:
            del peers[d]
        if len(peers) >= MAX_PEERS:
            for d in sorted(peers, key=lambda d: peers[d][1])[:len(peers) // 2]:
                del peers[d]
