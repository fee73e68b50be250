"""System tests: real taps, namespaces, kernel peers, terminals and programs.

How tests/ is laid out (a new test file follows it):

- tests/ is a package (an __init__.py in each directory; pyproject's `pythonpath = ["."]`), so a
  test imports what it shares by its full name, never by editing sys.path:
      from tests.helpers.tcp_peer import VPP_IP, RawPeer, setup_tap
      from tests.helpers.kernel import tcp_stream, udp_echo_server
      from tests.helpers.shell import Shell          # the `shell` fixture is in tests/conftest.py
- tests/helpers/ holds what more than one test module uses (shell, kernel, tcp_peer, pgnet,
  pgpair, shimnet, preload_env, api_client: see its __init__.py): a test module imports vppsh
  and tests.helpers, never another test module; what a second module needs moves to tests/helpers.
- A test that needs root, /dev/net/tun and nsenter (taps, namespaces, kernel peers: most of this
  directory) says so once, at the top of its module (or on one test function):
      pytestmark = pytest.mark.root
  The hook below skips it, naming what is missing, on a machine without them. A program only some
  tests use (bird, hping3, tmux, nginx...) stays a skipif/skip beside those tests.
- tests/preload/ holds standalone programs that tests run (`python tests/preload/prog_udp.py`),
  not a package: they import their common.py as scripts do, from their own directory.
- scripts/ import vppsh, never tests.
"""

from __future__ import annotations

import os
import shutil

import pytest
from pyroute2 import netns as pr_netns

from tests.helpers.shimnet import nsname

ROOT = "root: needs root, /dev/net/tun and nsenter (namespaces, taps, kernel peers); skipped without them"


def pytest_configure(config):
    config.addinivalue_line("markers", ROOT)


def missing() -> list[str]:
    """What this machine lacks for a `root` test."""
    return [what for what, ok in (("root", os.geteuid() == 0), ("/dev/net/tun", os.path.exists("/dev/net/tun")),
                                  ("nsenter", shutil.which("nsenter") is not None)) if not ok]


def pytest_collection_modifyitems(config, items):
    lacks = missing()
    if lacks:
        skip = pytest.mark.skip(reason=f"needs root, /dev/net/tun and nsenter: no {', '.join(lacks)}")
        for item in items:
            if item.get_closest_marker("root") is not None:
                item.add_marker(skip)


@pytest.fixture
def names():
    """names() gives a fresh namespace name; whatever of them is left is removed afterwards (a
    module may define its own)."""
    made = []

    def new():
        made.append(nsname())
        return made[-1]

    yield new
    for n in made:
        if n in pr_netns.listnetns():
            pr_netns.remove(n)
