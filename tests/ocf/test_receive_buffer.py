"""The receive buffers of the gateway's client sockets, the kernel's count of drops, and the
follow-up rounds they call for."""

from __future__ import annotations

import socket

from bridge.ocf.receive_buffer import RECEIVE_BUFFER, _counter, drops, enlarge
from bridge.ocf.side import _follow_up_reason

SNMP = """Ip: Forwarding DefaultTTL InReceives
Ip: 1 64 4242
Udp: InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors SndbufErrors
Udp: 13338 0 81 13221 81 0
UdpLite: InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors SndbufErrors
UdpLite: 0 0 0 0 7 0
"""
SNMP6 = """Udp6InDatagrams                 	120
Udp6RcvbufErrors                	5
UdpLite6RcvbufErrors            	9
"""


def test_the_counters_are_read_from_both_files_layouts() -> None:
    assert _counter(SNMP, "RcvbufErrors") == 81  # the Udp: line, not UdpLite:
    assert _counter(SNMP6, "Udp6RcvbufErrors") == 5
    assert _counter("garbage\n", "RcvbufErrors") == 0
    assert _counter("Udp: RcvbufErrors\n", "RcvbufErrors") == 0  # no values line


def test_drops_reads_the_namespace_counters() -> None:
    with open("/proc/net/snmp") as v4, open("/proc/net/snmp6") as v6:
        expected = (_counter(v4.read(), "RcvbufErrors")
                    + _counter(v6.read(), "Udp6RcvbufErrors"))
    assert drops() >= expected >= 0


def test_a_socket_gets_a_larger_receive_buffer_within_the_kernel_limit() -> None:
    with open("/proc/sys/net/core/rmem_max") as limit:
        rmem_max = int(limit.read())
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        before = sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
        granted = enlarge(sock, "test socket")
        assert granted == sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
        # Linux doubles what it grants (for its own overhead), up to twice rmem_max.
        assert granted == 2 * min(RECEIVE_BUFFER, rmem_max)
        assert granted >= before or rmem_max < before


def test_a_round_is_followed_up_for_incomplete_listings_and_for_drops() -> None:
    assert _follow_up_reason(0, 0) == ""
    assert _follow_up_reason(2, 0) == "2 block-wise listing(s) incomplete"
    assert _follow_up_reason(0, 5) == (
        "5 datagram(s) dropped by the kernel (receive buffers full)")
    assert _follow_up_reason(1, 1).count(",") == 1
