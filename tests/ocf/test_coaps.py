"""OcfClient over coaps (bridge.ocf.coaps) against a real coaps server on loopback: requests,
Block2, observe, session reuse and re-establishment, refusals, bounds."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest

from bridge.core.errors import DeviceError
from bridge.ocf.coap_client import OcfClient
from bridge.ocf.coaps import SessionLimits
from bridge.ocf.keyring import Keyring
from bridge.ocf.links import Endpoint, parse_endpoint
from tests.ocf.coaps_peer import BIG, CoapsPeer

SERVER = uuid.UUID(bytes=bytes(range(0x80, 0x90)))
GATEWAY = uuid.UUID(bytes=bytes(range(0xF0, 0x100)))
KEY = bytes(range(16))


def endpoint(port: int) -> Endpoint:
    ep = parse_endpoint(f"coaps://[::1]:{port}")
    assert ep is not None
    return ep


@pytest.fixture
async def peer() -> AsyncIterator[CoapsPeer]:
    server = CoapsPeer(SERVER, KEY)
    await server.start()
    yield server
    await server.stop()


async def started(keys: dict[uuid.UUID, bytes], **limits: float) -> OcfClient:
    client = OcfClient(2.0, 65536, keyring=Keyring(GATEWAY, keys),
                       coaps_limits=SessionLimits(**limits))  # type: ignore[arg-type]
    await client.start()
    return client


async def test_get_blockwise_and_reuse(peer: CoapsPeer) -> None:
    client = await started({SERVER: KEY})
    try:
        assert await client.get(endpoint(peer.port), "/big") == BIG
        assert await client.get(endpoint(peer.port), "/counter") == {"value": 0}
        assert client.coaps.handshakes == 1
        assert peer.counter.callers[-1] == [GATEWAY.bytes]
    finally:
        await client.shutdown()


async def test_observe_over_coaps(peer: CoapsPeer) -> None:
    client = await started({SERVER: KEY})
    values: list[object] = []
    got = asyncio.Event()

    def on_value(value: object) -> None:
        values.append(value)
        got.set()

    try:
        observation = client.observe(endpoint(peer.port), "/counter", on_value, print)
        await asyncio.wait_for(got.wait(), 10)
        got.clear()
        peer.counter.bump()
        await asyncio.wait_for(got.wait(), 10)
        assert values == [{"value": 0}, {"value": 1}]
        await client.deregister(observation)
    finally:
        await client.shutdown()


async def test_server_with_only_the_fallback_byte_is_refused() -> None:
    impostor = CoapsPeer(SERVER, GATEWAY.bytes[:1], hint=b"")
    await impostor.start()
    client = await started({SERVER: KEY})
    try:
        with pytest.raises(DeviceError, match="DTLS"):
            await client.get(endpoint(impostor.port), "/counter")
        assert impostor.counter.callers == []
    finally:
        await client.shutdown()
        await impostor.stop()


async def test_server_with_the_hint_but_another_key_is_refused() -> None:
    impostor = CoapsPeer(SERVER, bytes(16))
    await impostor.start()
    client = await started({SERVER: KEY})
    try:
        with pytest.raises(DeviceError, match="DTLS"):
            await client.get(endpoint(impostor.port), "/counter")
        assert impostor.counter.callers == []
    finally:
        await client.shutdown()
        await impostor.stop()


async def test_session_is_re_established_after_the_server_restarts(peer: CoapsPeer) -> None:
    client = await started({SERVER: KEY}, lost_after=1.0)
    client.timeout = 30.0
    try:
        assert await client.get(endpoint(peer.port), "/counter") == {"value": 0}
        port = peer.port
        await peer.stop()
        await peer.start(port)  # a fresh server: the old session is gone
        assert await client.get(endpoint(port), "/counter") == {"value": 0}
        assert client.coaps.handshakes == 2
    finally:
        await client.shutdown()


async def test_sessions_are_bounded_in_number() -> None:
    peers = [CoapsPeer(SERVER, KEY) for _ in range(3)]
    for server in peers:
        await server.start()
    client = await started({SERVER: KEY}, max_sessions=2)
    try:
        for server in peers:
            assert await client.get(endpoint(server.port), "/counter") == {"value": 0}
            assert client.coaps.sessions <= 2
        assert client.coaps.handshakes == 3
    finally:
        await client.shutdown()
        for server in peers:
            await server.stop()


async def test_a_silent_peer_times_out_the_handshake() -> None:
    silent = await asyncio.get_running_loop().create_datagram_endpoint(
        asyncio.DatagramProtocol, local_addr=("::1", 0))
    port = silent[0].get_extra_info("sockname")[1]
    client = await started({SERVER: KEY}, handshake_timeout=1.5)
    client.timeout = 30.0
    try:
        with pytest.raises(DeviceError, match="handshake"):
            await client.get(endpoint(port), "/counter")
        assert client.coaps.sessions == 0
    finally:
        await client.shutdown()
        silent[0].close()


async def test_handshakes_beyond_the_bound_wait_their_turn() -> None:
    """A client that reaches more devices at once than ``max_handshakes`` (a gateway starting
    with many owned devices) establishes every session, that many at a time, and drops none
    of its own handshakes."""
    peers = [CoapsPeer(SERVER, KEY) for _ in range(6)]
    for server in peers:
        await server.start()
    client = await started({SERVER: KEY}, max_handshakes=2)
    client.timeout = 30.0
    try:
        answers = await asyncio.gather(*(client.get(endpoint(server.port), "/counter")
                                         for server in peers))
        assert answers == [{"value": 0}] * 6
        assert client.coaps.handshakes == 6
        assert client.coaps.sessions == 6 and client.coaps.handshaking == 0
    finally:
        await client.shutdown()
        for server in peers:
            await server.stop()


async def test_the_wait_for_a_handshake_slot_is_not_the_requests_timeout(
        peer: CoapsPeer) -> None:
    """A request whose session waits behind a handshake that never ends (a silent device
    holds the only slot until its handshake times out) still gets its whole timeout for
    the request itself once its own session is up."""
    silent = await asyncio.get_running_loop().create_datagram_endpoint(
        asyncio.DatagramProtocol, local_addr=("::1", 0))
    port = silent[0].get_extra_info("sockname")[1]
    client = await started({SERVER: KEY}, max_handshakes=1, handshake_timeout=2.0)
    client.timeout = 1.0
    try:
        stuck = asyncio.ensure_future(client.get(endpoint(port), "/counter"))
        await asyncio.sleep(0)  # the silent device's handshake takes the slot first
        assert await client.get(endpoint(peer.port), "/counter") == {"value": 0}
        with pytest.raises(DeviceError, match="handshake"):
            await stuck
    finally:
        await client.shutdown()
        silent[0].close()


async def test_coaps_waits_for_the_first_key_when_asked_to(peer: CoapsPeer) -> None:
    # The OCF side's client: no coaps transport (nor the DTLS library behind it) while the
    # gateway holds no key; the first request after a key arrived has it.
    keyring = Keyring(GATEWAY)
    client = OcfClient(2.0, 65536, keyring=keyring, coaps_once_keyed=True)
    await client.start()
    try:
        assert client.coaps is None
        keyring.replace({SERVER: KEY})
        assert await client.get(endpoint(peer.port), "/counter") == {"value": 0}
        assert client.coaps is not None and client.coaps.handshakes == 1
    finally:
        await client.shutdown()
