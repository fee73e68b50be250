"""Session-layer CLI: VPP's formats and error wording for session enable/disable, show session,
show app, clear session, show udp ports, and the echo apps' argument handling."""

import re

import pytest

from tests.helpers.pgnet import PgNet, udp

LISTENER = "[0:0][U] 0.0.0.0:1234->0.0.0.0:0"


def row(cid: str, state: str, rx: int = 0, tx: int = 0) -> str:
    return f"{cid:<60}{state:<15}{rx:<10}{tx:<10}"


def test_everything_needs_the_session_layer(shell):
    for cmd in ("show session", "show session verbose", "show app", "show app 0", "clear session all"):
        path = " ".join(cmd.split()[:2])
        assert shell.error(cmd) == f"{path}: session layer is not enabled"
    assert shell.error("session disable") == "session: session is already disabled"
    assert shell.error("session") == "session: unknown input `'"
    assert shell.error("session enable rt-backend bogus") == "session: unknown input `bogus'"


def test_enable_twice_and_backends(shell):
    shell.run("session enable")
    shell.run("session enable")  # same backend: nothing to do, no error
    assert shell.error("session enable rt-backend sdl") == "session: session is already enable. Must disable first"
    assert shell.run("show session rt-backend") == "enable without rt-backend\n"
    shell.run("session disable")
    shell.run("session enable rt-backend rule-table")
    assert shell.run("show session rt-backend") == "enable with rt-backend rule table\n"


def test_empty_session_layer(shell):
    shell.run("session enable")
    assert shell.run("show session") == "Thread 0: no sessions\n"
    assert shell.run("show session verbose") == "Thread 0: no sessions\n"
    assert shell.run("show app") == f"{'Index':<10}{'Name':<20}{'Namespace':<40}\n"
    assert shell.run("show app server") == "No active server bindings\n"
    assert shell.error("show app 7") == "show app: No app with index 7"
    assert shell.run("show session states").split() == [
        "created", "listening", "connecting", "accepting", "ready", "opened", "transport-closing", "closing",
        "app-closed", "transport-closed", "closed", "transport-deleted"]
    assert "udp\n" in shell.run("show session protos")
    assert shell.error("clear session") == "clear session: session <nn> required, but not set."
    assert shell.error("clear session thread 0 session 9") == "clear session: no session 9 on thread 0"
    assert shell.run("show session thread 0 index 3") == "session is not allocated\n"


def test_udp_listener_formats(shell):
    shell.run("session enable")
    shell.run("test echo server uri udp://0.0.0.0/1234")
    assert shell.run("show session") == "Thread 0: 1 sessions\n"
    assert shell.run("show session verbose") == (
        f"{'Connection':<60}{'State':<15}{'Rx-f':<10}{'Tx-f':<10}\n" + row(LISTENER, "LISTEN") + "\n"
        "Thread 0: active sessions 1\n")
    v2 = shell.run("show session verbose 2").splitlines()
    assert v2[0] == f"{LISTENER:<60}{'LISTEN':<15}"
    assert v2[1:4] == [" index 0 cfg:  flags: OWNS_PORT, LISTEN", " fib_index 0 next_node 0 opaque 0",
                       " Rx fifo: cursize 0 nitems 65536 has_event 0 min_alloc 0"]
    assert v2[4] == "          head 0 tail 0 segment manager 1"
    assert v2[-1] == "Thread 0: active sessions 1"
    assert shell.run("show session listeners udp") == f"{'Listener':<60}{'App':<24}\n{LISTENER:<60}{'echo_server':<25}\n"
    assert shell.run("show session listeners tcp") == f"{'Listener':<60}{'App':<24}\n"
    assert shell.run("show session proto udp") == "Thread 0: 1 sessions matched filter\n"
    assert shell.run("show session state ready") == "Thread 0: 0 sessions matched filter\n"
    assert shell.run("show app") == (f"{'Index':<10}{'Name':<20}{'Namespace':<40}\n"
                                     f"{0:<10}{'echo_server':<20}{'default':<40}\n")
    app = shell.run("show app 0").splitlines()
    assert app[0] == "app:\t echo_server app-index 0 ns 0:default"
    assert app[1] == "flags:\t builtin, global-scope, local-scope"
    assert "\t rx-fifo-size 64k tx-fifo-size 64k max-fifo-size 32m" in app
    # the app's fifos against its segment (budget): a UDP listener's two 64k rings, untouched
    assert app[-2] == "    echo_server-segment type: memfd size: 256m active fifos: 2"
    assert app[-1] == "    segment usage: 0.00% (0 / 256m) virt: 128k status: No pressure"
    assert shell.run("show app server") == (f"{'Connection':<60}{'App':<25}{'Wrk':<10}\n"
                                            f"{LISTENER:<60}{'echo_server':<25}{0:<10}\n")
    assert shell.run("show udp transport ports") == "port proto ref-cnt\n1234   ip4       1\n"
    assert shell.run("show udp ports") == "port proto node desc\n"
    assert shell.error("show udp ports 70000") == "show udp ports: wrong port 70000"


def test_show_udp_ports_all_lists_the_well_known_ports(shell):
    out = shell.run("show udp ports all ip4").splitlines()
    assert out[0] == " port proto node      desc     "
    assert "   53   ip4 none            dns" in out
    assert "4789   ip4 none         vxlan6" in " ".join(out) or any(r.endswith("vxlan6") for r in out)
    assert shell.run("show udp ports 4789 all ip6") == "port proto node desc\n"  # no ip6 name for 4789
    shell.run("session enable")
    shell.run("test echo server uri udp://0.0.0.0/3784")  # bound and well known: listed as bound
    assert shell.run("show udp ports ip4") == "port proto node desc\n3784   ip4 none bfd4\n"


def test_fifo_fill_shows_in_rx_f(shell):
    shell.run("session enable")
    net = PgNet(shell)
    shell.run("test echo server uri udp://0.0.0.0/1234 no-echo")
    shell.run("test echo server uri udp://0.0.0.0/1235")
    net.inject([udp(b"x" * 10, dport=1234)])
    out = shell.run("show session verbose")
    assert row(LISTENER, "LISTEN") in out  # no-echo drops what arrives
    assert shell.run("show app").count("echo_server") == 2
    shell.run("test echo server stop")  # stops the newest
    assert "1235" not in shell.run("show session verbose")
    shell.run("test echo server stop")
    assert shell.error("test echo server stop") == "test echo server: failed: server not running"


def test_clear_session(shell):
    shell.run("session enable")
    shell.run("test echo server uri udp://0.0.0.0/1234")
    shell.run("clear session all")  # listeners stay
    assert shell.run("show session") == "Thread 0: 1 sessions\n"
    shell.run("clear session thread 0 session 0")
    assert shell.run("show session") == "Thread 0: no sessions\n"


def test_echo_argument_errors(shell):
    assert shell.error("test echo server uri tcp:/0.0.0.0/1234") == "test echo server: Uri parse error: -19"
    assert shell.error("test echo server uri udp://0.0.0.0/1234 bogus 3") == \
        "test echo server: failed: unknown input `bogus 3'"
    assert shell.error("test echo clients uri quic://1.2.3.4/5") == "test echo clients: Uri parse error: -19"
    assert shell.error("test echo clients bytes 12q") == "test echo clients: failed: unknown input `bytes 12q'"
    assert shell.error("test echo client uri udp://10.0.0.1/1 sideways") == \
        "test echo clients: failed: unknown input `sideways'"
    shell.run("test echo server uri udp://0.0.0.0/1234")  # enables the session layer, as VPP's does
    assert shell.error("test echo server uri udp://0.0.0.0/1234") == \
        "test echo server: failed: server_create returned -1"
    assert shell.run("show app").count("echo_server") == 1


def test_echo_client_over_udp_to_our_own_server(shell):
    PgNet(shell)
    shell.run("test echo server uri udp://0.0.0.0/1234 fifo-size 1024")
    out = shell.run("test echo clients uri udp://10.10.1.2/1234 bytes 200000 nclients 2 test-bytes")
    lines = out.splitlines()
    assert re.fullmatch(r"2 three-way handshakes in \d*\.\d\d seconds \d*\.\d\d/s", lines[0]), out
    assert re.fullmatch(r"Test started at \d*\.\d{6}", lines[1]), out
    assert re.fullmatch(r"Test finished at \d*\.\d{6}", lines[2]), out
    assert re.fullmatch(r"400000 bytes \(0 mbytes, 0 gbytes\) in \d*\.\d\d seconds", lines[3]), out
    assert re.fullmatch(r"\d*\.\d\d bytes/second full-duplex", lines[4]), out
    assert re.fullmatch(r"\d*\.\d{4} gbit/second full-duplex", lines[5]), out
    assert shell.run("show app").count("echo_client") == 0  # detached when done
    half = shell.run("test echo client uri udp://10.10.1.2/1234 bytes 5000 no-return")
    assert "5000 bytes (0 mbytes, 0 gbytes)" in half and "half-duplex" in half


def test_echo_client_failures(shell):
    PgNet(shell)
    shell.out.clear()
    err = shell.error("test echo clients uri udp://10.99.0.1/1234")  # no route
    assert err == "test echo clients: failed: connect returned"
    assert "".join(shell.out) == "test failed\n"
    # nobody answers: the datagrams go out, nothing comes back
    shell.out.clear()
    err = shell.error("test echo clients uri udp://10.10.1.1/1234 test-timeout 0.3")
    assert err == "test echo clients: failed: timeout with 1 sessions"
    assert re.search(r"^Timeout at \d*\.\d{6} with 1 sessions still active\.\.\.$", "".join(shell.out), re.M)
    assert "echo_client" not in shell.run("show app")


@pytest.mark.parametrize("size,text", [(0, "0"), (1000, "1000"), (1024, "1k"), (65536, "64k"), (1 << 20, "1m"),
                                       (1536 << 10, "1.50m"), (256 << 20, "256m"), (1 << 30, "1g")])
def test_format_memory_size(size, text):
    from vppsh.wire.format import format_memory_size

    assert format_memory_size(size) == text
