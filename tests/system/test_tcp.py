"""vppsh's TCP against the Linux kernel across a tap, and against a scripted peer on the wire.

Every address lives in a namespace the test creates; kernel-side programs run via nsenter.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time

import pytest

from tests.helpers.kernel import ECHO_CLIENT, ns_py
from tests.helpers.shell import wait_for
from tests.helpers.tcp_peer import KERNEL_IP, VPP_IP, RawPeer, setup_tap

from vppsh.session.transport import TransportProto

pytestmark = pytest.mark.root


@pytest.fixture
def tcp(shell, ns):
    setup_tap(shell, ns)
    shell.run("test echo server uri tcp://0.0.0.0/1234")
    return shell


def sessions(shell) -> str:
    return shell.run("show session verbose")


def test_kernel_client_echo_intact(tcp, ns):
    r = ns_py(ns, ECHO_CLIENT, VPP_IP, 1234, 20 << 20)
    assert r.stdout.split() == [str(20 << 20), "True"], r.stdout + r.stderr
    assert wait_for(lambda: "ESTABLISHED" not in sessions(tcp))
    out = sessions(tcp)
    assert re.search(r"^\[0:\d+\]\[T\] 0\.0\.0\.0:1234->0\.0\.0\.0:0\s+LISTEN", out, re.M), out


def test_established_row_and_details(tcp, ns):
    code = ("import socket,time,sys; s=socket.create_connection((sys.argv[1],1234)); s.sendall(b'x'*10);"
            "s.recv(10); print(s.getsockname()[1], flush=True); time.sleep(2)")
    p = subprocess.Popen(["nsenter", f"--net=/run/netns/{ns}", sys.executable, "-c", code, VPP_IP],
                         stdout=subprocess.PIPE, text=True)
    try:
        port = p.stdout.readline().strip()
        out = sessions(tcp)
        assert re.search(rf"^\[0:\d+\]\[T\] {VPP_IP}:1234->{KERNEL_IP}:{port}\s+ESTABLISHED\s+0\s+0", out, re.M), out
        assert re.search(r"^Thread 0: active sessions 2", out, re.M), out
        v2 = tcp.run("show session verbose 2")
        assert "snd_una" in v2 and "algo cubic" in v2 and "Rx fifo: cursize 0" in v2, v2
    finally:
        p.wait(10)


def test_connect_to_closed_port_is_refused(tcp, ns):
    code = ("import socket,sys\ntry:\n socket.create_connection((sys.argv[1],4321),timeout=5)\n"
            "except ConnectionRefusedError: print('refused')")
    assert ns_py(ns, code, VPP_IP).stdout.strip() == "refused"
    assert "no listener for dst port" in tcp.run("show errors")


def test_rst_and_syn_checks_rfc5961(tcp, ns):
    peer = RawPeer(ns, sport=40001)
    try:
        sa = peer.connect(1234)
        assert sa is not None
        assert wait_for(lambda: "10.0.0.77:40001" in sessions(tcp))
        # RST outside the window: silently dropped
        peer.send("R", seq=peer.seq + 10_000_000)
        # RST inside the window but not at rcv_nxt: a challenge ACK, the connection stays
        peer.send("R", seq=peer.seq + 100)
        ch = peer.recv(want=lambda t: t.flags & 0x10 and not t.flags & 0x04)
        assert ch is not None and ch.ack == peer.seq, "no challenge ACK"
        # SYN on an established connection: a challenge ACK too
        peer.send("S", seq=peer.seq + 5)
        assert peer.recv(want=lambda t: t.flags == 0x10) is not None
        assert "10.0.0.77:40001" in sessions(tcp)
        # RST exactly at rcv_nxt: the connection goes
        peer.send("R", seq=peer.seq)
        assert wait_for(lambda: "10.0.0.77:40001" not in sessions(tcp))
    finally:
        peer.close()


def test_zero_window_persist_probe(tcp, ns):
    peer = RawPeer(ns, sport=40002)
    try:
        peer.connect(1234, window=0)
        # the echo server has 1000 bytes to send back and a zero window in front of it
        peer.send("PA", payload=b"y" * 1000, window=0)
        peer.seq += 1000
        probes = [t for t in peer.collect(3.5) if t.flags & 0x10 and not len(t.payload)]
        probe_seqs = [t.seq for t in probes if t.ack == peer.seq]
        assert len(probe_seqs) >= 2, probes  # persist probes keep coming, backing off
        # open the window: the data arrives
        peer.send("A", window=65535)
        data = peer.recv(want=lambda t: len(t.payload) > 0)
        assert data is not None and bytes(data.payload) == b"y" * 1000
    finally:
        peer.close()


def test_keepalive_probes_then_reset(tcp, ns):
    tcp.run("set tcp keepalive idle 1 interval 0.5 probes 2")
    peer = RawPeer(ns, sport=40003)
    try:
        sa = peer.connect(1234)
        segs = peer.collect(3.5)
        probes = [t for t in segs if t.flags & 0x10 and not t.flags & 0x04 and t.seq == sa.seq]
        assert len(probes) >= 2, segs  # SEG.SEQ = SND.NXT - 1
        assert wait_for(lambda: "10.0.0.77:40003" not in sessions(tcp), timeout=5)
    finally:
        peer.close()


def test_time_wait_then_reuse(tcp, ns):
    """vppsh closes first (clear session), sits in TIME_WAIT; the same 4-tuple reconnects."""
    code = ("import socket,sys,time; s=socket.socket(); s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1);"
            "s.bind(('0.0.0.0',45678)); s.connect((sys.argv[1],1234)); print('up',flush=True);"
            "print(repr(s.recv(10)),flush=True); s.close(); time.sleep(0.5)")
    p = subprocess.Popen(["nsenter", f"--net=/run/netns/{ns}", sys.executable, "-c", code, VPP_IP],
                         stdout=subprocess.PIPE, text=True)
    try:
        assert p.stdout.readline().strip() == "up"
        out = sessions(tcp)
        idx = re.search(r"^\[0:(\d+)\]\[T\] \S+->10\.0\.0\.1:45678", out, re.M).group(1)
        tcp.run(f"clear session thread 0 session {idx}")
        assert p.stdout.readline().strip() == "b''"  # our FIN
        p.wait(10)
        assert wait_for(lambda: re.search(r"closed \d+", sessions(tcp)) is not None)
        r = ns_py(ns, ECHO_CLIENT, VPP_IP, 1234, 1000, 45678)
        assert r.stdout.split() == ["1000", "True"], r.stdout + r.stderr
    finally:
        p.kill()
        p.wait()


def test_half_close_keeps_the_other_direction(tcp, ns):
    """The kernel shuts its sending side first; vppsh keeps echoing until everything is back."""
    code = ("import socket,sys; s=socket.create_connection((sys.argv[1],1234)); s.sendall(b'z'*300000);"
            "s.shutdown(socket.SHUT_WR); n=0\nwhile True:\n d=s.recv(65536)\n if not d: break\n n+=len(d)\n"
            "print(n)")
    assert ns_py(ns, code, VPP_IP).stdout.strip() == "300000"


def test_simultaneous_close(tcp, ns):
    """Both FINs cross: vppsh goes FIN_WAIT_1 -> CLOSING -> TIME_WAIT and acks the peer's FIN."""
    peer = RawPeer(ns, sport=40004)
    try:
        peer.connect(1234)
        out = sessions(tcp)
        idx = re.search(r"^\[0:(\d+)\]\[T\] \S+->10\.0\.0\.77:40004", out, re.M).group(1)
        tcp.run(f"clear session thread 0 session {idx}")  # the echo app closes: vppsh sends FIN
        fin = peer.recv(want=lambda t: t.flags & 0x01)
        assert fin is not None
        peer.send("FA", ack=peer.ack)  # our FIN crosses theirs: it does not ack it
        peer.seq += 1
        ack = peer.recv(want=lambda t: t.flags & 0x10 and t.ack == peer.seq)
        assert ack is not None, "vppsh did not ack our FIN"
        peer.send("A", ack=fin.seq + 1)
        assert wait_for(lambda: re.search(r"closed \d+", sessions(tcp)) is not None)
    finally:
        peer.close()


def serve(shell, ns: str, app, port: int, sport: int) -> RawPeer:
    """tap0 up, `app` listening on `port`, and a raw peer (not yet connected) from `sport`."""
    setup_tap(shell, ns)
    vm = shell.vm

    def listen():
        vm.session.attach(app)
        vm.session.listen(app, TransportProto.TCP, 0, port)

    shell.call(listen)
    return RawPeer(ns, sport=sport)


def late_echo(vm):
    """An app that answers each request 5 ms later, as a process behind the shim does; b"quiet"
    (or anything with it) gets no answer. Its 4 MB rx fifo is more than the default window scale can advertise."""
    from vppsh.session.app import App

    class LateEcho(App):
        def on_rx(self, s):
            data = vm.session.recv(s, 1 << 16)
            if b"quiet" not in data:
                vm.timers.add(vm.now() + 0.005, lambda: vm.session.send(s, data) if s.conn else None)

    return LateEcho("late-echo", 4 << 20, 1 << 16)


def request(peer: RawPeer, payload: bytes) -> list:
    """Send `payload`; the segments that acknowledge it within 0.3 s (the peer ACKs their data)."""
    peer.send("PA", payload=payload)
    peer.seq += len(payload)
    segs = [t for t in peer.collect(0.3) if t.ack == peer.seq]
    if segs:
        peer.ack = max(peer.ack, segs[-1].seq + len(segs[-1].payload))
    return segs


def slow_delack(shell) -> None:
    """The ACK delay at 0.3 s instead of 40 ms: the app's 5 ms reply, an ACK sent at once and a
    delayed one stay apart on a slow or loaded machine."""
    shell.vm.session.transports[TransportProto.TCP].cfg.delack = 0.3


def test_delayed_ack_rides_on_the_late_reply(shell, ns):
    """An interactive connection (the app answered within the ACK delay) gets no pure ACK for a
    request: the reply carries it. A request left unanswered is ACKed after the delay, and the
    next request at once (as Linux's delayed ACK and pingpong mode)."""
    slow_delack(shell)
    peer = serve(shell, ns, late_echo(shell.vm), 1235, 40005)
    try:
        peer.connect(1235)
        first = request(peer, b"one")  # not yet interactive: a pure ACK at once, then the reply
        assert [len(t.payload) for t in first] == [0, 3], first
        for i in range(3):
            segs = request(peer, b"again")
            assert [bytes(t.payload) for t in segs] == [b"again"], (i, segs)
        t0 = time.monotonic()
        peer.send("PA", payload=b"quiet")
        peer.seq += 5
        ack = peer.recv(want=lambda t: t.ack == peer.seq)
        waited = time.monotonic() - t0
        assert ack is not None and not len(ack.payload) and 0.25 < waited < 1.0, (ack, waited)
        first = request(peer, b"two")  # no longer interactive: ACKed at once again
        assert [len(t.payload) for t in first] == [0, 3], first
    finally:
        peer.close()


def test_loss_sends_acks_at_once_again(shell, ns):
    """After a sign of loss (out-of-order data) an interactive connection ACKs at once for a while
    (Linux's quickack): a sender recovering from a loss must not wait 40 ms per ACK."""
    slow_delack(shell)
    peer = serve(shell, ns, late_echo(shell.vm), 1236, 40006)
    try:
        peer.connect(1236)
        for payload in (b"one", b"two"):  # the app answers within DELACK: interactive now
            assert request(peer, payload)
        peer.send("PA", payload=b"quiet", seq=peer.seq + 5)  # 5 bytes missing before it
        assert peer.recv(want=lambda t: t.ack == peer.seq) is not None  # a duplicate ACK
        for n in (10, 5):  # the hole (5 bytes, joining the 5 held), then 5 more in order: all
            t0 = time.monotonic()  # unanswered, each ACKed at once, not DELACK later
            peer.send("PA", payload=b"quiet")
            peer.seq += n
            ack = peer.recv(want=lambda t: t.ack == peer.seq)
            waited = time.monotonic() - t0
            assert ack is not None and waited < 0.15, (n, waited)
    finally:
        peer.close()


def test_a_late_read_sends_no_window_update(shell, ns):
    """An app that reads a little, later (as a process behind the shim), frees too little to
    announce: one ACK per segment, none per read. With a 4 MB fifo and no window scaling each
    read used to force a window-update ACK (the fifo's free space was compared with what the
    window field can say)."""
    from vppsh.session.app import App

    vm = shell.vm

    class LateReader(App):
        def on_rx(self, s):
            vm.timers.add(vm.now() + 0.005, lambda: vm.session.recv(s, 1 << 16) if s.conn else None)

    peer = serve(shell, ns, LateReader("late-reader", 4 << 20, 1 << 16), 1235, 40005)
    try:
        peer.connect(1235)  # MSS only: no window scaling
        for payload in (b"one", b"two", b"three"):
            peer.send("PA", payload=payload)
            peer.seq += len(payload)
            acks = [t for t in peer.collect(0.3) if t.ack == peer.seq]
            assert len(acks) == 1, acks
    finally:
        peer.close()
