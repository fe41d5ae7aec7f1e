"""Hostile CoAP clients cannot make the gateway keep unbounded state (issue 15, point 4).

Real virtual OCF devices on real UDP (loopback: 127.0.0.1 and ::1 are two client addresses),
driven by a hand-made client that holds observations, leaves block-wise uploads unfinished
and floods requests. Each cap is checked by counts: the first request past it gets 5.03, the
ledger shows what is held, and abandoned uploads disappear through the expiry counter.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import cbor2
import pytest
from aiocoap import CON
from aiocoap.numbers.codes import Code

from bridge.core.identity import IdentityBook
from bridge.core.registry import Registry
from bridge.core.thing import Side
from bridge.model.types import Catalogue
from bridge.ocf.config import OcfConfig
from bridge.ocf.limits import ClientLimits
from bridge.ocf.virtual import VirtualOcfDevices
from tests.faults.coap_peer import CoapPeer
from tests.ocf.things import RecordingOrigin, alljoyn_lamp

GET, POST = Code.GET, Code.POST
V4, V6 = "127.0.0.1", "::1"

Lamp = Callable[..., Awaitable[tuple[VirtualOcfDevices, int]]]


async def until(predicate: Callable[[], bool], within: float = 20.0) -> None:
    async with asyncio.timeout(within):
        while not predicate():  # noqa: ASYNC110 (counters have no event)
            await asyncio.sleep(0.01)


def dotted(message: object) -> str:
    return str(message.code.dotted)  # type: ignore[attr-defined]


@pytest.fixture
async def lamp(registry: Registry, catalogue: Catalogue) -> AsyncIterator[Lamp]:
    """``lamp(**ocf_keys)``: a virtual OCF lamp under those caps; (devices, its port)."""
    started: list[VirtualOcfDevices] = []

    async def make(**keys: object) -> tuple[VirtualOcfDevices, int]:
        config = OcfConfig(**keys)  # type: ignore[arg-type]
        registry.register_handler(Side.ALLJOYN, RecordingOrigin())
        registry.upsert(alljoyn_lamp(catalogue, IdentityBook()))
        virtual = VirtualOcfDevices(registry, gateway_name="Test gateway", bind_host="",
                                    server_port=0, multicast=[],
                                    max_payload=config.max_payload, limits=ClientLimits(config))
        started.append(virtual)
        await virtual.start()
        await virtual.wait_idle()
        [device] = virtual.virtuals.values()
        return virtual, device.endpoint.port

    yield make
    for virtual in started:
        await virtual.shutdown()


def peer(port: int, host: str = V4) -> CoapPeer:
    return CoapPeer(host, port)


async def test_the_observer_past_the_cap_of_its_address_is_refused_with_5_03(lamp: Lamp) -> None:
    virtual, port = await lamp(max_observers_per_client=3, max_observers=5)
    observers = virtual.limits.observers
    # Two ports of one address share its cap.
    first, second, other = peer(port), peer(port), peer(port, V6)
    held = []
    for client in (first, first, second):
        message = client.message(GET, "/switch", observe=0)
        answer = await client.exchange(message)
        assert dotted(answer) == "2.05" and answer.opt.observe is not None
        held.append((client, message.token))
    assert observers.count(V4) == 3

    refused = await second.request(GET, "/switch", observe=0)
    assert dotted(refused) == "5.03", refused.payload
    assert b"at most 3 per client address" in refused.payload
    assert observers.count(V4) == 3 and virtual.limits.refused.observers == 1

    # Another address may, until all clients together hold max_observers.
    for _ in range(2):
        assert (await other.request(GET, "/switch", observe=0)).opt.observe is not None
    refused = await other.request(GET, "/switch", observe=0)
    assert dotted(refused) == "5.03" and b"at most 5 for all clients" in refused.payload
    assert observers.total == 5

    # A deregistration (RFC 7641 3.6: GET with Observe 1, same token) gives the place back.
    client, token = held[0]
    await client.request(GET, "/switch", observe=1, token=token)
    await until(lambda: observers.count(V4) == 2)
    assert (await first.request(GET, "/switch", observe=0)).opt.observe is not None

    # Withdrawing the device ends every observation of it, and with them their places.
    await virtual.shutdown()
    assert observers.total == 0
    for client in (first, second, other):
        client.close()


async def test_a_quiet_observation_gets_a_confirmable_check_of_the_current_state(
        lamp: Lamp) -> None:
    virtual, port = await lamp(observe_check=0.3)
    alive = peer(port, V6)
    assert (await alive.request(GET, "/switch", observe=0)).opt.observe is not None
    check = await alive.receive()
    assert check.mtype == CON and check.opt.observe is not None
    assert cbor2.loads(check.payload) == {"value": False}
    assert virtual.limits.observers.total == 1
    alive.close()


def _checking() -> list[asyncio.Task[object]]:
    """The running checks of quiet observations (``CoapEndpoint._check_observers``)."""
    return [task for task in asyncio.all_tasks()
            if getattr(task.get_coro(), "__qualname__", "") == "CoapEndpoint._check_observers"]


async def test_quiet_observations_are_checked_only_while_there_are_some(lamp: Lamp) -> None:
    virtual, port = await lamp(observe_check=0.3)
    assert _checking() == []  # no observer: no timer per virtual device
    gone = peer(port, V6)
    assert (await gone.request(GET, "/switch", observe=0)).opt.observe is not None
    assert len(_checking()) == 1
    gone.close()
    await until(lambda: virtual.limits.observers.total == 0)
    await until(lambda: _checking() == [])
    # The next observation starts the checks again, and is checked as the first was.
    alive = peer(port, V6)
    assert (await alive.request(GET, "/switch", observe=0)).opt.observe is not None
    check = await alive.receive()
    assert check.mtype == CON and cbor2.loads(check.payload) == {"value": False}
    alive.close()


@pytest.mark.parametrize("host", [V4, V6])
async def test_an_observation_whose_client_is_gone_ends_at_the_liveness_check(
        lamp: Lamp, host: str) -> None:
    virtual, port = await lamp(observe_check=0.3)
    observers = virtual.limits.observers
    gone = peer(port, host)
    assert (await gone.request(GET, "/switch", observe=0)).opt.observe is not None
    assert observers.total == 1
    gone.close()
    # The check's notification meets a closed port: the observation and its place end.
    await until(lambda: observers.total == 0)


async def test_closed_ports_of_some_clients_do_not_end_the_observation_of_another(
        lamp: Lamp, registry: Registry) -> None:
    # Each notification to a closed port comes back as an ICMP error, which the kernel also
    # holds as the socket's pending error until the next send to anyone.
    virtual, port = await lamp()
    observers = virtual.limits.observers
    [device] = virtual.virtuals.values()
    alive = peer(port, V6)
    assert (await alive.request(GET, "/switch", observe=0)).opt.observe is not None
    gone = [peer(port) for _ in range(20)]
    for client in gone:
        assert (await client.request(GET, "/switch", observe=0)).opt.observe is not None
        client.close()
    assert observers.count(V4) == 20
    for value in (True, False, True):
        registry.update_state(device.thing.id, "switch", {"on": value})
        notification = await alive.receive()
        assert cbor2.loads(notification.payload) == {"value": value}
        await alive.acknowledge(notification)
    await until(lambda: observers.count(V4) == 0)
    assert observers.count(V6) == 1
    alive.close()


async def test_unfinished_uploads_are_capped_per_address_and_in_total(lamp: Lamp) -> None:
    virtual, port = await lamp(max_uploads_per_client=2, max_uploads=3)
    uploads = virtual.limits.uploads
    mine = [peer(port) for _ in range(3)]
    first_block = {"payload": b"x" * 16, "block1": (0, True, 0)}
    for client in mine[:2]:
        assert dotted(await client.request(POST, "/switch", **first_block)) == "2.31"
    refused = await mine[2].request(POST, "/switch", **first_block)
    assert dotted(refused) == "5.03" and b"at most 2 per client address" in refused.payload

    other = [peer(port, V6) for _ in range(2)]
    assert dotted(await other[0].request(POST, "/switch", **first_block)) == "2.31"
    refused = await other[1].request(POST, "/switch", **first_block)
    assert dotted(refused) == "5.03" and b"at most 3 for all clients" in refused.payload
    assert uploads.count(V4) == 2 and uploads.total == 3
    assert virtual.limits.refused.uploads == 2
    for client in mine + other:
        client.close()


async def test_an_abandoned_upload_is_dropped_after_the_expiry(lamp: Lamp) -> None:
    virtual, port = await lamp(upload_expiry=0.2)
    limits = virtual.limits
    client = peer(port)
    body = cbor2.dumps({"value": True, "note": "n" * 40})
    blocks = [body[i:i + 16] for i in range(0, len(body), 16)]

    # A finished upload is put together and carried out.
    for number, block in enumerate(blocks):
        more = number < len(blocks) - 1
        answer = await client.request(POST, "/switch", payload=block,
                                      block1=(number, more, 0))
        assert dotted(answer) == ("2.31" if more else "2.04"), answer.payload
    assert limits.uploads.total == 0

    # An abandoned one holds its place until the expiry drops it.
    assert dotted(await client.request(POST, "/switch", payload=blocks[0],
                                       block1=(0, True, 0))) == "2.31"
    assert limits.uploads.count(V4) == 1
    await until(lambda: limits.refused.uploads_expired == 1)
    assert limits.uploads.total == 0
    late = await client.request(POST, "/switch", payload=blocks[1], block1=(1, True, 0))
    assert dotted(late) == "4.08"
    client.close()


async def test_requests_past_the_cap_get_5_03_with_max_age_and_repeats_are_free(
        lamp: Lamp) -> None:
    virtual, port = await lamp(max_requests_per_client=5, max_requests=8)
    limits = virtual.limits
    assert limits.requests is not None
    client, other = peer(port), peer(port, V6)
    first = client.message(GET, "/switch")
    assert dotted(await client.exchange(first)) == "2.05"
    for _ in range(4):
        assert dotted(await client.request(GET, "/switch")) == "2.05"
    refused = await client.request(GET, "/switch")
    assert dotted(refused) == "5.03"
    assert 1 <= refused.opt.max_age <= 247
    # A repeated message (same id) is the same request: answered again, not counted again.
    assert dotted(await client.exchange(first)) == "2.05"
    assert limits.requests.count(V4) == 5 and limits.refused.requests == 1

    for _ in range(3):
        assert dotted(await other.request(GET, "/switch")) == "2.05"
    assert dotted(await other.request(GET, "/switch")) == "5.03"
    assert limits.requests.total == 8 and limits.refused.requests == 2
    client.close()
    other.close()


async def test_the_status_counts_what_clients_make_the_gateway_keep(lamp: Lamp) -> None:
    virtual, port = await lamp()
    assert virtual.clients() == {"observers": 0, "uploads": 0, "requests": 0,
                                 "memory_trims": 0, "memory_trim_pending": False}
    client = peer(port)
    assert dotted(await client.exchange(client.message(GET, "/switch", observe=0))) == "2.05"
    assert dotted(await client.request(POST, "/switch", payload=b"x" * 16,
                                       block1=(0, True, 0))) == "2.31"
    counts = virtual.clients()
    assert (counts["observers"], counts["uploads"], counts["requests"]) == (1, 1, 2)
    client.close()
