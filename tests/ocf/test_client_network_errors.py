"""The OCF client beside a port that refuses: an ICMP error for one remote must not fail a
request to another, live one (aiocoap 0.4 shares one socket for every remote, and the error
of a closed port can surface on the next send to any remote)."""

from __future__ import annotations

import asyncio

import pytest

from bridge.core.errors import DeviceError, DeviceTimeout
from bridge.model.types import Catalogue
from bridge.ocf.coap_client import OcfClient
from bridge.ocf.links import Endpoint
from bridge.sim.device import SimDevice
from bridge.sim.ocf import OcfSimServer, SimListing
from bridge.sim.testing.procs import free_udp_port

ROUNDS = 40


async def test_a_refusing_port_never_fails_a_live_device(catalogue: Catalogue) -> None:
    lamp = OcfSimServer(SimDevice.of_type("Lamp", catalogue, "light"),
                        SimListing(multicast=False), bind_host="::1")
    facts = await lamp.start()
    client = OcfClient(timeout=5.0, max_payload=16384)
    await client.start()
    live = Endpoint("coap", "::1", int(facts["port"]))
    dead = Endpoint("coap", "::1", free_udp_port("::1"))
    try:
        live_failures: list[str] = []
        for _ in range(ROUNDS):
            results = await asyncio.gather(
                *(client.get(dead, "/oic/d") for _ in range(3)),
                *(client.get(live, href) for href in ("/oic/d", "/oic/p", "/switch")),
                return_exceptions=True)
            for result in results[:3]:
                assert isinstance(result, DeviceTimeout), result
            live_failures += [repr(r) for r in results[3:] if isinstance(r, BaseException)]
        assert live_failures == [], f"{len(live_failures)} failed: {live_failures[:3]}"
        with pytest.raises(DeviceError):
            await client.get(dead, "/oic/d")
    finally:
        await client.shutdown()
        await lamp.stop()
