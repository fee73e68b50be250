"""IPv4: control plane (addresses, FIB, routes, neighbours), data-plane nodes, ping, CLI."""
