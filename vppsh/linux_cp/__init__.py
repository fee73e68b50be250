"""linux-cp: VPP interfaces mirrored into Linux namespaces as taps (pairs), control-plane
traffic punted to them, and the namespaces' routes, neighbours and links mirrored back into
vppsh's FIB (VPP's linux-cp and linux-nl plugins). A subsystem on top of vnet: vnet and the
session layer never import it."""

from __future__ import annotations

from .pair import LinuxCp


def attach(vm) -> None:
    """Give an engine its linux-cp state (no pairs until `lcp create`)."""
    vm.lcp = LinuxCp(vm)
