"""Kernel-backed devices (tap, host-interface) and the netlink helpers they share."""
