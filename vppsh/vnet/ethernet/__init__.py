"""Ethernet: the input node that classifies frames by ethertype and destination MAC."""
