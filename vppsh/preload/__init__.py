"""The preload shim (ldp.c), built into a shared library by `pip install` (setup.py)."""

from __future__ import annotations

import glob
import os


def library() -> str | None:
    """The built shim's path, or None if this install has none."""
    here = os.path.dirname(os.path.abspath(__file__))
    found = sorted(glob.glob(os.path.join(here, "libvppsh_ldp*.so")))
    return found[0] if found else None
