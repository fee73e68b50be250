"""Session layer CLI (VPP: src/vnet/session/session_cli.c, application.c, udp/udp_cli.c):
`session enable|disable`, `show session`, `clear session`, `show app`, `show udp ports`.

Formats are VPP's format strings column for column: connection ids `%-60U`, states `%-15s`,
fifo fill `%-10u%-10u`; the transports render their own id, state name and detail lines.
"""

from __future__ import annotations

from ..vlib.errors import CliError
from ..wire.format import format_memory_size, j
from .budget import MAX_FIFO_SIZE
from .main import SessionError
from .session import CLOSED_FROM, STATES
from .transport import TransportProto
from .udp.main import KNOWN_PORTS

RT_BACKENDS = {"none": "enable without rt-backend", "rule-table": "enable with rt-backend rule table",
               "sdl": "enable with rt-backend sdl", "disable": "disable"}
SESSION_FLAGS = ("rx-event", "proxy", "custom-tx", "migrating", "unidirectional", "custom-fifo-tuning",
                 "half-open", "app-closed", "connectionless")
APP_FLAGS = ("accept-redirect", "add-segment", "builtin", "transport-app", "proxy", "global-scope",
             "local-scope", "mq-eventfd", "builtin-memfd", "huge-page", "original-dst", "evt-collector",
             "no-dump-segments")
PROTOS = {"tcp": TransportProto.TCP, "udp": TransportProto.UDP}
MAX_VERBOSE_SESSIONS = 50


def _sm(ctx, check: bool = True):
    sm = ctx.vm.session
    if check and not sm.enabled:
        raise CliError("session layer is not enabled")
    return sm


# ------------------------------------------------------------ session enable | disable


def session(ctx, a):
    sm = _sm(ctx, check=False)
    if a.get("disable"):
        try:
            sm.disable()
        except SessionError as e:
            raise CliError(str(e)) from None
        sm.rt_backend = "disable"
        return
    want = "sdl" if a.get("sdl") else "rule-table" if a.get("rule_table") else "none"
    if sm.enabled:
        if want != getattr(sm, "rt_backend", "none"):
            raise CliError("session is already enable. Must disable first")
        return
    sm.enable()
    sm.rt_backend = want


# ------------------------------------------------------------ show session


def _fifo_lines(sm, s, verbose: int) -> list[str]:
    """format_session_fifos / format_svm_fifo (v24.10 layout)."""
    if s.rx_fifo is None or s.tx_fifo is None:
        return []
    out = []
    app_session = s.opaque if isinstance(s.opaque, int) else s.index
    pad = " " * 10
    for name, f in (("Rx", s.rx_fifo), ("Tx", s.tx_fifo)):
        ev = int(name == "Tx" and s.index in sm.queue.pending)
        out.append(f" {name} fifo: cursize {f.size} nitems {f.nitems} has_event {ev} min_alloc 0")
        out.append(f"{pad}head {f.head} tail {f.tail} segment manager {s.app.index + 1}")
        if verbose > 1:
            out.append(f"{pad}vpp session {s.index} thread {s.thread} app session {app_session} thread 0")
        n_ooo = len(getattr(f, "ooo", ()))
        out.append(f"{pad}ooo pool {n_ooo} active elts newest {n_ooo - 1 if n_ooo else 4294967295}")
    return out


def _flags(names: tuple, have) -> str:
    return ", ".join(f for f in names if f in have)


def format_session(sm, s, verbose: int) -> list[str]:
    """format_session: the lines one session prints at this verbosity."""
    if STATES.index(s.state) >= CLOSED_FROM or s.conn is None:
        return [f"[{s.thread}:{s.index}] CLOSED"]
    t = sm.transports[s.proto]
    cid = t.format_id(s.conn)
    if verbose == 0:
        return [j(cid, 60, "-")]
    line = j(cid, 60, "-") + j(t.state_name(s.conn), 15, "-")
    if verbose == 1:
        rxf = s.rx_fifo.size if s.rx_fifo is not None else 0
        txf = s.tx_fifo.size if s.tx_fifo is not None else 0
        return [line + j(rxf, 10, "-") + j(txf, 10, "-")]
    out = [line] + list(t.format_details(s.conn, verbose)) + _fifo_lines(sm, s, verbose)
    if not s.is_listener:
        opaque = s.opaque if isinstance(s.opaque, int) else 0
        out.append(f" session: state: {s.state} opaque: 0x{opaque:x} flags: {_flags(SESSION_FLAGS, s.flags)}")
    out.append(f" app: {s.app.name} app-index {s.app.index}")  # who owns it (the shim's apps by pid)
    return out


def show_session(ctx, a):
    sm = _sm(ctx)
    if a.get("protos"):
        ctx.out("".join(f"{p}\n" for p in sorted(sm.transports)))
        return
    if a.get("states"):
        for st in STATES:
            ctx.out(st)
        return
    if a.get("rt_backend"):
        ctx.out(RT_BACKENDS.get(getattr(sm, "rt_backend", "none"), "unknown"))
        return
    verbose = a.get("n", 1) if a.get("verbose") else 0
    if "listeners" in a:
        _show_listeners(ctx, sm, a["listeners"])
        return
    if "index" in a:
        thread, idx = a.get("thread", 0), a["index"]
        s = sm.pool[idx] if thread == 0 and idx < len(sm.pool) else None
        if s is None:
            ctx.out("session is not allocated")
            return
        ctx.out("\n".join(format_session(sm, s, 3)))
        return
    if "thread" in a or "proto" in a or "state" in a:
        _show_filtered(ctx, sm, a, verbose)
        return
    sessions = sm.sessions()
    if not sessions:
        ctx.out("Thread 0: no sessions")
        return
    if not verbose:
        ctx.out(f"Thread 0: {len(sessions)} sessions")
        return
    if len(sessions) > MAX_VERBOSE_SESSIONS:
        ctx.out(f"Thread 0: {len(sessions)} sessions. Verbose output suppressed. For more details use filters.")
        return
    if verbose == 1:
        ctx.out(j("Connection", 60, "-") + j("State", 15, "-") + j("Rx-f", 10, "-") + j("Tx-f", 10, "-"))
    for s in sessions:
        if STATES.index(s.state) < CLOSED_FROM:  # closed ones only count (VPP: transport-deleted)
            ctx.out("\n".join(format_session(sm, s, verbose)))
    n_closed = sm.closed_count()
    active = len(sessions) - n_closed
    ctx.out(f"Thread 0: active sessions {active}" + (f" closed {n_closed}" if n_closed else ""))


def _show_listeners(ctx, sm, proto_word: str):
    proto = PROTOS.get(proto_word.lower())
    if proto is None:
        raise CliError(f"unknown input `listeners {proto_word}'")
    ctx.out(j("Listener", 60, "-") + j("App", 24, "-"))
    for s in sm.sessions():
        if s.is_listener and s.proto == proto:
            ctx.out(format_session(sm, s, 0)[0] + j(s.app.name, 25, "-"))


def _show_filtered(ctx, sm, a, verbose: int):
    """session_cli_show_session_filter: `thread`, `proto`, `state` filters."""
    thread = a.get("thread", 0)
    if thread != 0:
        ctx.out(f"invalid thread index {thread}")
        return
    proto = None
    if "proto" in a:
        proto = PROTOS.get(a["proto"].lower())
        if proto is None:
            raise CliError(f"unknown input `proto {a['proto']}'")
    state = a.get("state")
    if state is not None and state not in STATES:
        raise CliError(f"unknown input `state {state}'")
    sessions = sm.sessions()
    if proto is None and state is None and not verbose:
        ctx.out(f"Thread 0: {len(sessions)} sessions")
        return
    count, suppressed = 0, False
    for s in sessions:
        if (state is not None and s.state != state) or (proto is not None and s.proto != proto) \
                or STATES.index(s.state) >= CLOSED_FROM:
            continue
        count += 1
        if verbose:
            if count > 50 or (verbose > 1 and count > 10):
                suppressed = True
                continue
            ctx.out("\n".join(format_session(sm, s, verbose)))
    if suppressed:
        ctx.out(f"Thread 0: {count} sessions matched filter. Not all shown. Use finer grained filter.")
    else:
        ctx.out(f"Thread 0: {count} sessions matched filter")


# ------------------------------------------------------------ clear session


def clear_session(ctx, a):
    """Tell the owning app its session is closing (app_worker_close_notify); the app closes it.
    A listener is unlistened."""
    sm = _sm(ctx)
    if not a.get("all") and "session" not in a:
        raise CliError("session <nn> required, but not set.")
    if "session" in a:
        thread, idx = a.get("thread", 0), a["session"]
        s = sm.pool[idx] if thread == 0 and idx < len(sm.pool) else None
        if s is None:
            raise CliError(f"no session {idx} on thread {thread}")
        _clear(sm, s)
    if a.get("all"):
        for s in sm.sessions():
            if s.is_listener:
                continue
            _clear(sm, s)


def _clear(sm, s) -> None:
    if s.is_listener:
        sm.unlisten(s)
    elif s.conn is not None and s.state not in ("closed", "transport-deleted"):
        sm.notify_disconnect(s)


# ------------------------------------------------------------ show app


def _app_block(sm, app) -> list[str]:
    """format_application and its worker's segment manager, verbose (HEAD layout, as
    vppctl.md §1.9 shows it): the segment is the app's fifo budget, and its usage line
    what the app's fifos hold against it."""
    flags = ", ".join(f for f in APP_FLAGS if f in app.flags) or "none"
    ms = format_memory_size
    fifos = [f for s in app.sessions for f in (s.rx_fifo, s.tx_fifo) if f is not None and f.nitems]
    return [f"app:\t {app.name} app-index {app.index} ns 0:{app.namespace}",
            f"flags:\t {flags}",
            "runtime: tls-engine openssl evt-collector 4294967295",
            f"memory:\t seg-size {ms(app.budget.limit)} add-seg-size 128m mq-size 2048 max-segments 0",
            f"\t rx-fifo-size {ms(app.rx_fifo_size)} tx-fifo-size {ms(app.tx_fifo_size)} "
            f"max-fifo-size {ms(MAX_FIFO_SIZE)}",
            "\t segment-type memfd prealloc-fifos 0 prealloc-fifo-hdrs 0",
            "\t high-watermark 80 low-watermark 50 pct-first-alloc 100",
            "workers:",
            f"  wrk-index {app.index} app-index {app.index} map-index 0 api-client-index -1 mq-cong 0",
            "  segment managers:",
            f"  [{app.index}] {app.name} app-wrk: {app.index} segs: 1 max-fifo-sz: {ms(MAX_FIFO_SIZE)} "
            f"wmarks: 80 50 no-tuning flags: ",
            f"    {app.name}-segment type: memfd size: {ms(app.budget.limit)} active fifos: {len(fifos)}",
            f"    {app.budget.usage(fifos)}"]


def show_app(ctx, a):
    sm = _sm(ctx)
    apps = sm.apps.all()
    if a.get("server") or a.get("listeners"):
        if not apps:
            ctx.out("No active server bindings")
            return
        ctx.out(j("Connection", 60, "-") + j("App", 25, "-") + j("Wrk", 10, "-"))
        for app in apps:
            for s in sorted(app.sessions, key=lambda x: x.index):
                if s.is_listener:
                    ctx.out(format_session(sm, s, 0)[0] + j(app.name, 25, "-") + j(0, 10, "-"))
        return
    if a.get("client"):
        if not apps:
            ctx.out("No active apps")
            return
        ctx.out(j("Connection", 60, "-") + j("App", 25, "-"))
        for app in apps:
            for s in sorted(app.sessions, key=lambda x: x.index):
                if not s.is_listener and s.listener is None:
                    ctx.out(format_session(sm, s, 0)[0] + j(app.name, 25, "-"))
        return
    if "index" in a:
        idx = a["index"]
        app = sm.apps.apps[idx] if idx < len(sm.apps.apps) else None
        if app is None:
            raise CliError(f"No app with index {idx}")
        ctx.out("\n".join(_app_block(sm, app)))
        return
    ctx.out(j("Index", 10, "-") + j("Name", 20, "-") + j("Namespace", 40, "-"))
    transports = bool(a.get("transports"))
    for app in apps:
        if ("transport-app" in app.flags) == transports:
            ctx.out(j(app.index, 10, "-") + j(app.name, 20, "-") + j(app.namespace, 40, "-"))


# ------------------------------------------------------------ show udp ports


def _table(rows: list[list[str]]) -> list[str]:
    """vppinfra format_table without colours: header centred, body right-aligned, one space
    between columns, each column as wide as its widest cell."""
    widths = [max(len(r[c]) for r in rows) for c in range(len(rows[0]))]
    out = []
    for i, r in enumerate(rows):
        out.append(" ".join(j(cell, w, "=" if i == 0 else "+") for cell, w in zip(r, widths)))
    return out


def _port_arg(a) -> int:
    port = a.get("port", -1)
    if port > 65535:
        raise CliError(f"wrong port {port}")
    return port


def show_udp_ports(ctx, a):
    """Ports with a registered UDP handler (`bind`, the default) or every known port (`all`).
    Like VPP, ports the session layer uses are listed only when they have a well-known name."""
    vm = ctx.vm
    port = _port_arg(a)
    afs = ["ip4", "ip6"]
    if a.get("ip4"):
        afs = ["ip4"]
    elif a.get("ip6"):
        afs = ["ip6"]
    um = vm.session.transports.get(TransportProto.UDP)
    bound = um.ports_in_use() if um is not None else {}
    rows = [["port", "proto", "node", "desc"]]
    ports = range(65536) if port < 0 else (port,)
    known = sorted(set(KNOWN_PORTS["ip4"]) | set(KNOWN_PORTS["ip6"]))
    for p in (x for x in known if x in ports):
        for af in afs:
            name = KNOWN_PORTS[af].get(p)
            if name is None:
                continue
            valid = (p, af == "ip6") in bound
            if not a.get("all") and not valid:
                continue
            rows.append([str(p), af, "none", name])
    ctx.out("\n".join(_table(rows)))


def show_udp_transport_ports(ctx, a):
    """Ports the UDP transport holds, with how many connections share each."""
    vm = ctx.vm
    port = _port_arg(a)
    um = vm.session.transports.get(TransportProto.UDP)
    rows = [["port", "proto", "ref-cnt"]]
    if um is not None:
        used = um.ports_in_use()
        for ip6 in (False, True):  # VPP lists its ip4 table, then its ip6 one
            if a.get("ip4" if ip6 else "ip6"):
                continue
            rows += [[str(p), "ip6" if ip6 else "ip4", str(n)] for (p, f), n in sorted(used.items())
                     if f == ip6 and (port < 0 or p == port)]
    ctx.out("\n".join(_table(rows)))
