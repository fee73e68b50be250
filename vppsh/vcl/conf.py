"""The bits of vcl.conf (VPP's format) the launcher needs: which socket the engine serves.
The shim reads the whole file itself (vppsh/preload/ldp.c), warnings included."""

from __future__ import annotations

import os

DEFAULT_API_SOCKET = "/run/vppsh/api.sock"


def api_socket(conf_path: str | None, env=os.environ) -> str:
    """As the shim decides: VCL_VPP_SAPI_SOCKET, VCL_VPP_API_SOCKET, app-socket-api,
    api-socket-name, then the default."""
    for var in ("VCL_VPP_SAPI_SOCKET", "VCL_VPP_API_SOCKET"):
        if env.get(var):
            return env[var]
    sapi = bapi = None
    if conf_path:
        in_vcl = False
        with open(conf_path, encoding="utf-8", errors="replace") as f:
            for line in f:
                words = line.split("#", 1)[0].split()
                if not words:
                    continue
                if not in_vcl:
                    in_vcl = words[0] == "vcl"
                    continue
                if words[0] == "}":
                    in_vcl = False
                elif words[0] == "app-socket-api" and len(words) > 1:
                    sapi = words[1]
                elif words[0] == "api-socket-name" and len(words) > 1:
                    bapi = words[1]
    return sapi or bapi or DEFAULT_API_SOCKET
