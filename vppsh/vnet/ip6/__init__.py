"""IPv6: control plane, forwarding, local delivery, neighbour discovery, CLI."""
