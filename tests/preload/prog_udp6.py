"""Socket semantics over UDP on native IPv6: prog_udp.py's cases with AF_INET6 sockets against
the kernel at 2001:db8::1 (its IPv6 UDP services: echo on 7, "answer from port 10" on 8, nothing
on 5), from 2001:db8::. Prints one JSON line {case: result}."""

import prog_udp

if __name__ == "__main__":
    prog_udp.ipv6()
    prog_udp.main()
