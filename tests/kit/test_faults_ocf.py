"""OCF fault injection: each request to a faulty simulated device meets the fate its seeded
``Faults`` draws, seen by a real aiocoap client over loopback unicast."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import cbor2
import pytest
from aiocoap import CON, GET, Context, Message
from aiocoap.optiontypes import UintOption

from bridge.model import load_catalogue
from bridge.sim.device import FaultAction, Faults, SimDevice
from bridge.sim.ocf import OcfSimServer, SimListing

OCF_CBOR = 10000
ACCEPT_VERSION = 2049
#: Long enough for an answer on loopback, short enough that 40 dropped requests stay quick.
DROP_WAIT = 0.5


@pytest.fixture
async def lamp() -> AsyncIterator[OcfSimServer]:
    device = SimDevice.of_type("Flaky Lamp", load_catalogue(), "light")
    server = OcfSimServer(device, SimListing(multicast=False), bind_host="127.0.0.1")
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def client() -> AsyncIterator[Any]:
    context = await Context.create_client_context()
    yield context
    await context.shutdown()


def _get(uri: str) -> Message:
    message = Message(code=GET, mtype=CON, uri=uri, accept=OCF_CBOR)
    message.opt.add_option(UintOption(ACCEPT_VERSION, 2048))
    return message


async def _fate(client: Any, uri: str) -> tuple[FaultAction, Any]:
    """What the client saw: an answer, nothing, an error code, or an undecodable payload."""
    try:
        response = await asyncio.wait_for(client.request(_get(uri)).response, DROP_WAIT)
    except TimeoutError:
        return FaultAction.DROP, None
    if not response.code.is_successful():
        return FaultAction.ERROR, (str(response.code), response.payload.decode())
    try:
        return FaultAction.ANSWER, cbor2.loads(response.payload)
    except cbor2.CBORDecodeError:
        assert response.opt.content_format == OCF_CBOR
        return FaultAction.MALFORMED, response.payload


async def test_seeded_faults_decide_every_request(lamp: OcfSimServer, client: Any) -> None:
    settings = {"drop": 0.2, "error": 0.2, "malformed": 0.2, "error_code": 503, "seed": 11}
    lamp.device.faults = Faults(**settings)  # type: ignore[arg-type]
    twin = Faults(**settings)  # type: ignore[arg-type]  # same seed: the same draws
    expected = [twin.decide() for _ in range(40)]
    uri = f"coap://127.0.0.1:{lamp.port}{lamp.hrefs['switch']}"
    seen = [await _fate(client, uri) for _ in range(40)]
    assert [fate for fate, _ in seen] == expected
    assert set(expected) == set(FaultAction)  # the seed exercises every fate
    for fate, detail in seen:
        if fate is FaultAction.ERROR:
            assert detail == ("5.03 Service Unavailable", "injected fault: Flaky Lamp answers 503")
        if fate is FaultAction.ANSWER:
            assert detail == {"value": False}


async def test_discovery_and_identity_are_never_faulted(lamp: OcfSimServer, client: Any) -> None:
    lamp.device.faults = Faults(drop=1.0)
    for path in ("/oic/res", "/oic/d", "/oic/p"):
        fate, _ = await _fate(client, f"coap://127.0.0.1:{lamp.port}{path}")
        assert fate is FaultAction.ANSWER, path


async def test_error_code_and_delay(lamp: OcfSimServer, client: Any) -> None:
    lamp.device.faults = Faults(error=1.0, error_code=404, delay=0.1)
    fate, detail = await _fate(client, f"coap://127.0.0.1:{lamp.port}{lamp.hrefs['switch']}")
    assert (fate, detail[0]) == (FaultAction.ERROR, "4.04 Not Found")
    lamp.device.faults = Faults(delay=0.1)
    fate, detail = await _fate(client, f"coap://127.0.0.1:{lamp.port}{lamp.hrefs['switch']}")
    assert (fate, detail) == (FaultAction.ANSWER, {"value": False})
