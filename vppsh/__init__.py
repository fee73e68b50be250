"""vppsh: a VPP-style vector packet engine and host stack, driven from a vppctl-like shell."""

__version__ = "0.1.0"
