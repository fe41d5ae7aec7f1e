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
from bridge.sim.ocf_faults import FaultyListingEndpoint
from bridge.sim.testing.procs import free_udp_port

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


@pytest.mark.parametrize("path", ["/oic/res", "/oic/d", "/oic/p"])
async def test_named_paths_fault_the_core_resources_too(lamp: OcfSimServer, client: Any,
                                                        path: str) -> None:
    lamp.device.faults = Faults(error=1.0, error_code=401, paths=(path,))
    base = f"coap://127.0.0.1:{lamp.port}"
    fate, detail = await _fate(client, base + path)
    assert (fate, detail) == (FaultAction.ERROR, ("4.01 Unauthorized",
                                                  "injected fault: Flaky Lamp answers 401"))
    # Only the named path: the rest of the device answers as usual.
    for other in {"/oic/res", "/oic/d", "/oic/p", lamp.hrefs["switch"]} - {path}:
        fate, _ = await _fate(client, base + other)
        assert fate is FaultAction.ANSWER, other


async def test_the_process_listing_takes_the_faults_of_a_device_that_names_oic_res(
        client: Any) -> None:
    catalogue = load_catalogue()
    servers = [OcfSimServer(SimDevice.of_type(name, catalogue, model),
                            SimListing(multicast=False), bind_host="127.0.0.1")
               for name, model in (("Quiet", "switch"), ("Broken", "light"))]
    for server in servers:
        await server.start()
    # The multicast responder of SimListing, here without groups: reached by unicast.
    listing = FaultyListingEndpoint(lambda: [s.device for s in servers],
                                    port=free_udp_port("127.0.0.1"), multicast=[],
                                    listed=lambda: [(s.served, s.port) for s in servers])
    port = await listing.start()
    broken = servers[1]
    try:
        uri = f"coap://127.0.0.1:{port}/oic/res"
        fate, links = await _fate(client, uri)
        assert fate is FaultAction.ANSWER and len({link["anchor"] for link in links}) == 2
        broken.device.faults = Faults(error=1.0, error_code=500, paths=("/oic/d",))
        assert (await _fate(client, uri))[0] is FaultAction.ANSWER  # /oic/res not named
        broken.device.faults = Faults(error=1.0, error_code=500, paths=("/oic/res",))
        fate, detail = await _fate(client, uri)
        assert (fate, detail) == (FaultAction.ERROR, ("5.00 Internal Server Error",
                                                      "injected fault: Broken answers 500"))
    finally:
        await listing.shutdown()
        for server in servers:
            await server.stop()


def test_fault_paths_must_be_hrefs() -> None:
    with pytest.raises(ValueError, match="hrefs"):
        Faults(error=1.0, paths=("oic/d",))
    assert not Faults(paths=("/oic/d",)).applies_to("/oic/d")  # no fault set: nothing applies
    assert Faults(drop=1.0).applies_to("/switch") and not Faults(drop=1.0).applies_to("/oic/d")
