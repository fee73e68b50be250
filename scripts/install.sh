# Sourced by test.sh / demo.sh / bench scripts: system packages and the virtualenv, idempotent.
APT_PACKAGES="tmux tcpdump iproute2 socat procps iputils-ping traceroute iperf3 util-linux netcat-openbsd curl hping3
  gcc libc6-dev nginx-light wrk bird2 frr"
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  missing=""
  for p in $APT_PACKAGES; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
  if [ -n "$missing" ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
  fi
fi
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
if ! .venv/bin/python -c 'import vppsh, pytest, hypothesis, scapy, tabulate' 2>/dev/null \
   || [ pyproject.toml -nt .venv/.installed ] || [ vppsh/preload/ldp.c -nt .venv/.installed ] \
   || [ vppsh/preload/proto.h -nt .venv/.installed ] || ! ls vppsh/preload/libvppsh_ldp*.so >/dev/null 2>&1; then
  .venv/bin/pip install -q --disable-pip-version-check -e '.[test,bench]'
  touch .venv/.installed
fi
