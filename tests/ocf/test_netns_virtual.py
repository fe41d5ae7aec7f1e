"""A generic CoAP client (aiocoap-client, a subprocess in another network namespace) finds a
virtual device through the gateway's /oic/res and reads it, over IPv4 and IPv6."""

from __future__ import annotations

import asyncio
from pathlib import Path

import cbor2
import pytest

from bridge.core.identity import IdentityBook
from bridge.core.registry import Registry
from bridge.model.types import Catalogue
from bridge.sim.testing.netns import OcfNetwork
from tests.ocf.conftest import SideFactory
from tests.ocf.things import alljoyn_lamp

CLIENT = str(Path(__file__).resolve().parents[2] / ".venv" / "bin" / "aiocoap-client")


@pytest.mark.parametrize("gateway", ["169.254.0.1", "[fd00:cfa::1]"])
async def test_aiocoap_client_discovers_and_reads_a_virtual_device(
        ocf_network: OcfNetwork, ocf_side: SideFactory, registry: Registry,
        catalogue: Catalogue, gateway: str) -> None:
    thing = registry.upsert(alljoyn_lamp(catalogue, IdentityBook()))
    side = await ocf_side()
    assert side.virtual is not None
    await side.virtual.wait_idle()
    host = ocf_network.add_host("client")

    def fetch(uri: str) -> object:
        done = host.run([CLIENT, "--no-pretty-print", uri], capture_output=True, timeout=30,
                        check=False)
        assert done.returncode == 0, done.stderr
        return cbor2.loads(done.stdout)

    links = await asyncio.to_thread(fetch, f"coap://{gateway}/oic/res")
    assert isinstance(links, list)
    switch = next(link for link in links if link["href"] == "/switch"
                  and link["anchor"] == f"ocf://{thing.identity.di}")
    [endpoint] = [ep["ep"] for ep in switch["eps"]]
    assert endpoint.startswith(f"coap://{gateway}:")
    assert await asyncio.to_thread(fetch, endpoint + "/switch") == {"value": False}
    device = await asyncio.to_thread(fetch, endpoint + "/oic/d?if=oic.if.baseline")
    assert isinstance(device, dict) and "oic.d.virtual" in device["rt"]
