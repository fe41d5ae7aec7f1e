"""The request caps as the lean GET path asks them (``Admission.admits``): per client
address whatever its ports, a zone of its own, the key aiocoap's path uses."""

from __future__ import annotations

from bridge.ocf.admission import Admission
from bridge.ocf.config import OcfConfig
from bridge.ocf.limits import ClientLimits

#: IPV6_PKTINFO of an arrival on loopback (``::1``, interface 1).
LOOPBACK = bytes(15) + b"\x01" + (1).to_bytes(4, "little")


def gate(per_client: int, total: int = 1000) -> tuple[Admission, ClientLimits]:
    limits = ClientLimits(OcfConfig(max_requests_per_client=per_client, max_requests=total))
    return Admission(limits), limits


def test_new_ports_of_one_address_count_as_one_client_up_to_its_cap() -> None:
    admission, limits = gate(per_client=3)
    taken = [admission.admits(("::ffff:127.0.0.9", 40000 + n, 0, 0), LOOPBACK, n)
             for n in range(5)]
    assert taken == [True, True, True, False, False]
    assert limits.requests is not None
    assert limits.requests.count("127.0.0.9") == 3
    # Another client address still has room.
    assert admission.admits(("::ffff:127.0.0.10", 40000, 0, 0), LOOPBACK, 1)


def test_a_repeated_request_takes_no_room() -> None:
    admission, limits = gate(per_client=1)
    assert admission.admits(("::1", 5683, 0, 0), LOOPBACK, 7)
    assert admission.admits(("::1", 5683, 0, 0), LOOPBACK, 7)
    assert not admission.admits(("::1", 5683, 0, 0), LOOPBACK, 8)
    # aiocoap's path counts the same request under the same key: no second place.
    assert limits.requests is not None
    assert limits.requests.take("::1", ("::1", 5683, 7)) is None
    assert limits.requests.count("::1") == 1


def test_a_zoned_source_is_its_own_client() -> None:
    admission, limits = gate(per_client=1)
    assert admission.admits(("fe80::5", 5683, 0, 0), LOOPBACK, 1)
    # The same address with a zone is another client address (fe80::5%3), and the
    # address without one is still the first.
    assert admission.admits(("fe80::5", 5684, 0, 3), LOOPBACK, 2)
    assert not admission.admits(("fe80::5", 5685, 0, 0), LOOPBACK, 3)
    assert limits.requests is not None
    assert limits.requests.count("fe80::5%3") == 1
    assert limits.requests.count("fe80::5") == 1
