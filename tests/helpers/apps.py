"""Unmodified programs through the shim, what their tests share: skipping when one is not
installed, a payload and its digest, waiting for `show session` to settle, nginx's config."""

from __future__ import annotations

import hashlib
import os
import shutil
import time

import pytest

PAYLOAD = os.urandom(300_000)


def need(*progs):
    missing = [p for p in progs if shutil.which(p) is None]
    if missing:
        pytest.skip(f"not installed: {' '.join(missing)}")


def sessions_settle(net, timeout: float = 15) -> str:
    """`show session` once only listeners (or nothing) are left."""
    end = time.time() + timeout
    out = ""
    while time.time() < end:
        out = net.run("show session verbose")
        rows = [r for r in out.splitlines() if r.startswith("[")]
        if all("LISTEN" in r for r in rows):
            return out
        time.sleep(0.2)
    raise AssertionError(out)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


NGINX_CONF = """
daemon off;
user root;
master_process on;
worker_processes 2;
pid {d}/nginx.pid;
error_log {d}/error.log notice;
events {{ use epoll; worker_connections 1024; }}
http {{
  access_log off;
  sendfile on;
  tcp_nodelay on;
  keepalive_timeout 5;
  client_body_temp_path {d}/body; proxy_temp_path {d}/proxy; fastcgi_temp_path {d}/fcgi;
  uwsgi_temp_path {d}/uwsgi; scgi_temp_path {d}/scgi;
  server {{ {listen} root {d}; }}
}}
"""


def nginx_conf(tmp_path, port: int, listen: str = "listen {port};"):
    conf = tmp_path / "nginx.conf"
    conf.write_text(NGINX_CONF.format(d=tmp_path, listen=listen.format(port=port)))
    (tmp_path / "f.bin").write_bytes(PAYLOAD)
    return str(conf)
