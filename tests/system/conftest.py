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
- tests/preload/ holds standalone programs that tests run (`python tests/preload/prog_udp.py`),
  not a package: they import their common.py as scripts do, from their own directory.
- scripts/ import vppsh, never tests.
"""
