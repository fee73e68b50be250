"""ARP: answering for our addresses, learning neighbours, resolving next hops (glean, ip4-arp)."""
