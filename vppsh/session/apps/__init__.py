"""Built-in session-layer apps (VPP's hs_apps): the echo server and client."""
