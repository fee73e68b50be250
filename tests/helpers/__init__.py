"""What more than one test module uses (see tests/system/conftest.py for the layout):

shell        Shell, the in-process engine driven through its CLI; wait_for; rss_kb
kernel       kernel-side programs run in the tests' namespaces (nsenter wrappers, UDP echo server,
             TCP stream and echo client, frame injector)
tcp_peer     a tap to a namespace, and a scripted TCP peer on it (scapy over AF_PACKET)
pgnet        frames in and out of a pg interface, for session tests without a kernel
pgpair       two pg interfaces routed by vppsh: frames injected, `show errors` rows
shimnet      vppsh with a tap and an app namespace where programs run under `vppsh exec`
apps         what tests of real programs through the shim share (need, sha, nginx_conf...)
preload_env  the topology and runner of the socket-semantics programs in tests/preload/
api_client   a raw client of the engine's API socket (the shim's side of the protocol)
"""
