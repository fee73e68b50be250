"""vnet: interfaces and devices, ethernet, ARP, IPv4, FIB, packet generator, pcap."""
