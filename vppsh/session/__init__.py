"""The host stack: session layer (sessions, fifos, apps), its transports (tcp/, udp/) and the
built-in apps (apps/)."""


def attach(vm) -> None:
    """Give an engine its session layer (disabled until `session enable`) and transports."""
    from .main import SessionMain
    from .udp import attach as udp_attach

    sm = vm.session = SessionMain(vm)
    try:
        from .tcp import attach as tcp_attach

        sm.transports["T"] = tcp_attach(vm)
    except ImportError:  # TCP not complete yet: UDP works alone
        pass
    sm.transports["U"] = udp_attach(vm)
