import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scapy.layers.inet import ICMP, IP, UDP
from scapy.layers.l2 import Ether

from vppsh.vnet.pg.spec import PgSpecError, StreamSpec, parse_stream

DOC = """packet-generator new {
  name pg0
  limit 100
  rate 1e6
  size 300-300
  interface loop0
  node ethernet-input
  data { IP4: 1.2.3 -> 4.5.6
         UDP: 192.168.1.10 - 192.168.1.254 -> 192.168.2.10
         UDP: 1234 -> 2345
         incrementing 286
  }
}"""

# VPP's src/scripts/vnet/icmp, verbatim (tabs and backslash continuations).
SCRIPT = (
    "packet-generator new {\t\t\t\t\t\t\\\n  name x\t\t\t\t\t\t\t\\\n  limit 1\t\t\t\t\t\t\t\\\n"
    "  node ip4-input\t\t\t\t\t\t\\\n  size 64-64\t\t\t\t\t\t\t\\\n  data {\t\t\t\t\t\t\t\\\n"
    "    ICMP: 1.2.3.4 -> 5.6.7.8\t\t\t\t\t\\\n    ICMP echo_request\t\t\t\t\t\t\\\n"
    "    incrementing 100\t\t\t\t\t\t\\\n  }\t\t\t\t\t\t\t\t\\\n}\n")


def test_doc_example():
    inner = DOC[DOC.index("{") + 1:DOC.rindex("}")]
    for text in (DOC, inner, " ".join(inner.split())):
        s = parse_stream(text)
        assert (s.name, s.limit, s.rate) == ("pg0", 100, 1e6)
        assert (s.size_min, s.size_max, s.size_mode) == (300, 300, "fixed")
        assert (s.interface, s.node, s.buffer_size, s.pcap, s.source) == ("loop0", "ethernet-input", 2048, None, None)
        assert [l.kind for l in s.data.layers] == ["ethernet", "ip4", "udp"]
    rows, lengths = s.generate(0, 3)
    assert lengths.tolist() == [300] * 3
    assert Ether(rows[2, :300].tobytes())[IP].src == "192.168.1.12"


def test_vpp_script_with_continuations():
    s = parse_stream(SCRIPT)
    assert (s.name, s.limit, s.node, s.size_min) == ("x", 1, "ip4-input", 64)
    rows, lengths = s.generate(0, 1)
    p = IP(rows[0, :lengths[0]].tobytes())
    assert p.dst == "5.6.7.8" and p[ICMP].type == 8 and len(p) == 64


def test_braceless_form_and_other_params():
    s = parse_stream("name x limit 5 node null-node worker 1 maxframe 1000 tx-interface loop1 "
                     "source pg3 buffer-size 4096 buffer-flags ip4 offload "
                     "buffer-offload-flags offload-ip-cksum offload-udp-cksum "
                     "data { IP4: 1.2.3 -> 4.5.6 UDP: 1.1.1.1 -> 2.2.2.2 UDP: 1 -> 2 incrementing 10 }")
    assert (s.name, s.limit, s.node, s.worker, s.maxframe) == ("x", 5, "null-node", 1, 256)
    assert (s.tx_interface, s.source, s.buffer_size) == ("loop1", "pg3", 4096)
    assert s.buffer_flags == ["ip4", "offload"]
    assert s.buffer_offload_flags == ["offload-ip-cksum", "offload-udp-cksum"]
    assert s.size_min is None and s.sizes(0, 4) is None
    rows, lengths = s.generate(0, 2)
    assert lengths.tolist() == [52, 52]
    s = parse_stream("node n data { hex 0x00 } limit 1.5e1 rate 10")
    assert s.name is None and s.limit == 15 and s.rate == 10.0


def test_size_modes():
    base = "node ethernet-input data { IP4: 1.2.3 -> 4.5.6 UDP: 1.1.1.1 -> 2.2.2.2 UDP: 1 -> 2 incrementing 1 } "
    s = parse_stream(base + "size 64-67")
    assert (s.size_min, s.size_max, s.size_mode) == (64, 67, "increment")
    assert s.sizes(2, 6).tolist() == [66, 67, 64, 65, 66, 67]
    rows, lengths = s.generate(0, 4)
    for i in range(4):
        p = Ether(rows[i, :lengths[i]].tobytes())
        assert len(p) == 64 + i and p[IP].len == 50 + i and p[UDP].len == 30 + i
        q = Ether(bytes(p))
        del q[IP].chksum, q[UDP].chksum
        q = Ether(bytes(q))
        assert (q[IP].chksum, q[UDP].chksum) == (p[IP].chksum, p[UDP].chksum)
    s = parse_stream(base + "size 100+200")
    assert (s.size_min, s.size_max, s.size_mode) == (100, 200, "random")
    got = s.sizes(0, 500, np.random.default_rng(1))
    assert got.min() >= 100 and got.max() <= 200 and len(set(got.tolist())) > 50
    s = parse_stream(base + "size 80")
    assert (s.size_min, s.size_max, s.size_mode) == (80, 80, "fixed")
    assert s.sizes(0, 2).tolist() == [80, 80]


def test_pcap_streams():
    s = parse_stream("name p pcap /tmp/x.pcap")
    assert (s.pcap, s.node, s.data) == ("/tmp/x.pcap", "ethernet-input", None)
    s = parse_stream("name p source pg1 pcap /tmp/x.pcap")
    assert s.node is None and s.source == "pg1"  # the engine picks pg1's input node
    s = parse_stream("name p node ip4-input pcap f.pcap data { bogus }")
    assert s.data is None  # pcap wins over data, as in VPP


@pytest.mark.parametrize("text,message", [
    ("name x node ethernet-input", "no packet data given"),
    ("name x data { IP4: 1.2.3 -> 4.5.6 incrementing 10 }", "output interface or node not given"),
    ("name x node ethernet-input data { IP4: bogus }", "failed to parse packet data from ` IP4: bogus'"),
    ("name x node n data { hex 0x00 } zork ", "unknown input `zork'"),
    ("name x bogus-keyword and a rather long tail of text node n",
     "unknown input `bogus-keyword and a rather lon...'"),
    ("name x limit abc node n data { hex 00 }", "unknown input `limit abc node n data { hex 00...'"),
    ("name x node n data { hex 00 } data { hex 01 }", "unknown input `data { hex 01 }'"),
    ("node n size 64 - x data { hex 00 }", "unknown input `- x data { hex 00 }'"),
    ("node n size 100-50 data { hex 00 }", "max-size < min-size"),
    ("node n size 20-20 data { IP4: 1.2.3 -> 4.5.6 UDP: 1.1.1.1 -> 2.2.2.2 UDP: 1 -> 2 incrementing 1 }",
     "min-size < total header size 42"),
    ("node n buffer-size 0 data { hex 00 }", "buffer-size must be positive"),
    ("node n rate -5 data { hex 00 }", "negative rate"),
    ("node n data { hex 00 } source pgx", "unknown input `source pgx'"),
    ("node n data\t{ hex 00 }\n\tmaxframe\n", "unknown input `maxframe'"),
    ("node n data { hex 00 } limit 1\nlimit x rate 1 name abcdefghijklmnop",
     "unknown input `limit x rate 1 name abcdefghij...'"),
])
def test_errors_have_vpp_wording(text, message):
    with pytest.raises(PgSpecError) as e:
        parse_stream(text)
    assert str(e.value) == message


def test_unknown_input_escapes_newlines():
    with pytest.raises(PgSpecError) as e:
        parse_stream("node n data { hex 00 } what\tis\nthis")
    assert str(e.value) == "unknown input `what\\tis\\nthis'"


def test_stream_spec_defaults():
    s = StreamSpec()
    assert (s.limit, s.rate, s.buffer_size, s.size_mode, s.data) == (0, 0.0, 2048, "fixed", None)
    with pytest.raises(PgSpecError):
        s.generate(0, 1)


WORDS = ["name", "limit", "rate", "size", "node", "interface", "tx-interface", "source", "pg1",
         "maxframe", "worker", "pcap", "data", "{", "}", "IP4:", "1.2.3", "->", "4.5.6", "UDP:",
         "1.1.1.1", "2.2.2.2", "1", "2", "incrementing", "10", "hex", "0x00", "64-128", "1e6",
         "-1", "buffer-size", "buffer-flags", "gso", "gso-size", "ip4", "buffer-offload-flags",
         "\\", "\n", "packet-generator", "new", "64+128", "0", "1e999", "x"]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.lists(st.sampled_from(WORDS), max_size=16).map(" ".join), st.text(max_size=80)))
def test_fuzz_only_pgspecerror(text):
    try:
        s = parse_stream(text)
    except PgSpecError:
        return
    assert s.node is not None or s.pcap is not None
    if s.data is not None:
        rows, lengths = s.generate(0, 2)
        assert len(lengths) == 2


def test_a_keyword_without_its_value_is_not_skipped():
    # VPP restores the input when `limit` has no number, so `rate 5` is not taken instead.
    with pytest.raises(PgSpecError, match=r"^unknown input `limit rate 5'$"):
        parse_stream("node n data { hex 00 } limit rate 5")
    with pytest.raises(PgSpecError, match=r"^unknown input `buffer-flags size 64-64'$"):
        parse_stream("node n data { hex 00 } buffer-flags size 64-64")
    with pytest.raises(PgSpecError, match=r"^unknown input `gso-size x'$"):
        parse_stream("node n data { hex 00 } buffer-flags gso gso-size x")
    s = parse_stream("node n data { hex 00 } buffer-flags ip4 gso gso-size 1400")
    assert (s.buffer_flags, s.gso_size) == (["ip4", "gso"], 1400)
