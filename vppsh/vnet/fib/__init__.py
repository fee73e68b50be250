"""FIB: the IPv4 forwarding trie (mtrie) and the per-table control plane (entries, sources)."""
