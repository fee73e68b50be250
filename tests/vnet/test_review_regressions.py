"""Regressions found in review: each of these once hung the engine, leaked, or crashed a command."""

import subprocess
import sys

import numpy as np


def test_ping_out_a_loopback_does_not_loop_forever(shell):
    shell.run("create loopback interface")
    shell.run("set interface state loop0 up")
    shell.run("set interface ip address loop0 10.5.0.1/24")
    shell.run("set ip neighbor loop0 10.5.0.2 de:ad:00:00:00:00 static")  # our own MAC: comes back
    out = shell.run("ping 10.5.0.2 repeat 1 interval 0.1", timeout=20)
    assert "Statistics: 1 sent" in out
    assert "ip4 ttl <= 1" in shell.run("show errors")  # TTL ended the loop
    assert shell.run("show version")  # and the engine still answers


def test_ping_own_address(shell):
    shell.run("create loopback interface")
    shell.run("set interface state loop0 up")
    shell.run("set interface ip address loop0 10.6.0.1/24")
    out = shell.run("ping 10.6.0.1 repeat 2 interval 0.1")
    assert "2 received, 0% packet loss" in out, out


def test_many_interfaces_without_addresses(shell):
    for _ in range(70):
        shell.run("create loopback interface")
    shell.run("set interface state loop69 up")
    vm = shell.vm
    sw = vm.interfaces.by_name["loop69"].sw_if_index

    def inject():
        bi = vm.buffers.alloc(1)
        pkt = bytes.fromhex("dead00000045") + bytes(6) + b"\x08\x00" + bytes(40)
        vm.buffers.write(bi, np.frombuffer(pkt, np.uint8)[None, :], np.array([len(pkt)]))
        vm.buffers.sw_if_index[0, bi] = sw
        vm.stage("ethernet-input", bi)

    shell.call(inject)
    shell.run("wait 0.05")
    errors = shell.run("show errors")
    assert "node exceptions" not in errors and "ip4 not enabled" in errors


def test_deleting_an_interface_takes_its_routes_and_captures_along(shell, tmp_path):
    shell.run("create loopback interface")
    shell.run("set interface ip address loop0 10.7.0.1/24")
    shell.run("ip route add 10.70.0.0/16 via 10.7.0.2 loop0")
    shell.run(f"pcap trace rx max 5 intfc loop0 file {tmp_path / 'x.pcap'}")
    shell.run("delete loopback interface intfc loop0")
    assert "10.70.0.0/16" not in shell.run("show ip fib")
    assert "deleted" in shell.run("pcap trace status")
    shell.run("pcap trace off")
    shell.run("create loopback interface")  # reuses the index: nothing stale points at it
    errors_before = shell.run("show errors")
    assert errors_before.count("loop0-output") <= 1


def test_quit_then_a_command_exits(tmp_path):
    f = tmp_path / "q.cli"
    f.write_text("echo before\nquit\necho after\n")
    r = subprocess.run([sys.executable, "-m", "vppsh", "-f", str(f), "show", "version"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0 and r.stdout == "before\n"
