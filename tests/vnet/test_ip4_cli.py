"""IPv4 and interface CLI on pg interfaces (no kernel needed): addresses, FIB entries, routes,
neighbours, MTU/MAC, and VPP's error wording."""

import re


def setup(shell):
    shell.run("create packet-generator interface pg0 hw-addr 02:00:00:00:00:01")
    shell.run("set interface state pg0 up")
    shell.run("set interface ip address pg0 10.10.1.2/24")


def test_address_adds_connected_local_and_drop_entries(shell):
    setup(shell)
    fib = shell.run("show ip fib")
    assert fib.startswith("ipv4-VRF:0, fib_index:0, flow hash:[src dst sport dport proto flowlabel ]")
    for pfx, dpo in (("10.10.1.0/24", "ipv4-glean: [src:10.10.1.0/24] pg0: mtu:9000"),
                     ("10.10.1.2/32", "dpo-receive: 10.10.1.2 on pg0"),
                     ("10.10.1.0/32", "dpo-drop ip4"), ("10.10.1.255/32", "dpo-drop ip4"),
                     ("0.0.0.0/0", "dpo-drop ip4"), ("224.0.0.0/4", "dpo-drop ip4")):
        block = fib.split(pfx + "\n", 1)[1].split("\n", 3)[2]
        assert dpo in block, (pfx, block)
    assert shell.run("show int addr pg0") == "pg0 (up):\n  L3 10.10.1.2/24\n"
    assert shell.error("set interface ip address pg0 10.10.1.2/24") == \
        "set interface ip address: Prefix 10.10.1.2/24 already found on interface pg0"
    assert shell.error("set interface ip address pg0 10.10.1.3/24") == (
        "set interface ip address: failed to add 10.10.1.3/24 on pg0 which conflicts with "
        "10.10.1.2/24 for interface pg0")
    assert shell.error("set interface ip address del pg0 10.9.9.9/24") == \
        "set interface ip address: 10.9.9.9/24 not found for interface pg0"
    assert shell.error("set interface ip address pg0 10.0.0.1") == \
        "set interface ip address: unknown input `10.0.0.1'"
    shell.run("set interface ip address del pg0 all")
    assert "10.10.1" not in shell.run("show ip fib")


def test_routes_resolve_through_neighbours(shell):
    setup(shell)
    shell.run("ip route add 10.99.0.0/16 via 10.10.1.1")
    assert "arp-ipv4: via 10.10.1.1 pg0" in shell.run("show ip fib 10.99.0.0/16")
    shell.run("set ip neighbor pg0 10.10.1.1 02:fe:11:22:33:44 static")
    fib = shell.run("show ip fib 10.99.1.2")
    assert "ipv4 via 10.10.1.1 pg0: mtu:9000 next:" in fib and "02fe112233440200000000010800" in fib
    nb = shell.run("show ip neighbors")
    assert re.search(r"10\.10\.1\.1\s+S\s+02:fe:11:22:33:44 pg0", nb)
    shell.run("ip route add 10.98.0.0/16 via drop")
    assert "dpo-drop ip4" in shell.run("show ip fib 10.98.0.0/16")
    out = shell.run("ip route add count 1000 20.0.0.0/32 via 10.10.1.1 pg0")
    assert re.fullmatch(r"\d\.\d{6}e\d+ routes/sec\n", out)
    summary = shell.run("show ip fib summary")
    assert re.search(r"^\s+32\s+100[0-9]$", summary, re.M)
    shell.run("ip route del count 1000 20.0.0.0/32")
    shell.run("ip route del 10.99.0.0/16")
    assert "10.99.0.0/16" not in shell.run("show ip fib")
    assert shell.error("ip route add 10.0.0.0/8") == "ip route: expected paths."
    assert shell.error("ip route del 10.7.0.0/16") == "ip route: route 10.7.0.0/16 not found"


def test_mtu_and_mac(shell):
    setup(shell)
    shell.run("set interface mtu 1500 pg0")
    assert "1500/0/0/0" in shell.run("show interface pg0")
    shell.run("set interface mtu ip4 1400 pg0")
    assert "1500/1400/0/0" in shell.run("show interface pg0")
    assert shell.error("set interface mtu 1500 local0") == "set interface mtu: not supported"
    shell.run("set interface mac address pg0 02:00:00:00:00:99")
    assert "Ethernet address 02:00:00:00:00:99" in shell.run("show hardware-interfaces pg0")
    assert shell.error("set interface state pg0 sideways") == "set interface state: unknown input `sideways'"
