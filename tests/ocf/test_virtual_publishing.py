"""Virtual OCF devices are published several Things at a time, each Thing's changes in order.

Forty Things arrive at once and every other one is removed again before its virtual device
can have been published: each remaining one ends on a port of its own, answering with its own
``di``, and no removed one is left published (its removal waited for its publication).
"""

from __future__ import annotations

import dataclasses
import uuid
from typing import Any

import aiocoap
import cbor2

from bridge.core.identity import IdentityBook
from bridge.core.registry import Registry
from bridge.model.types import Catalogue
from bridge.ocf import virtual as virtual_module
from bridge.ocf.virtual import VirtualOcfDevices
from bridge.sim.testing.procs import free_udp_port
from tests.ocf.things import alljoyn_lamp

THINGS = 40


async def _di_at(ctx: Any, port: int) -> str:
    response = await ctx.request(aiocoap.Message(
        code=aiocoap.GET, uri=f"coap://[::1]:{port}/oic/d")).response
    assert response.code.is_successful(), response
    return str(cbor2.loads(response.payload)["di"])


async def test_things_arriving_together_are_published_together_and_in_order(
        registry: Registry, catalogue: Catalogue) -> None:
    assert THINGS > virtual_module.PUBLISH_AT_ONCE  # some wait for a free slot
    book = IdentityBook()
    virtual = VirtualOcfDevices(registry, gateway_name="Test gateway", bind_host="::",
                                server_port=free_udp_port("::1"), multicast=[],
                                max_payload=1024)
    await virtual.start()
    ctx = await aiocoap.Context.create_client_context(transports=["udp6"])
    try:
        lamp = alljoyn_lamp(catalogue, book)
        kept, removed = [], []
        for n in range(THINGS):
            thing_id, identity = book.for_alljoyn_device(str(uuid.UUID(int=n + 1)),
                                                         bytes([n + 1]) * 16)
            thing = registry.upsert(dataclasses.replace(lamp, id=thing_id,
                                                        identity=identity))
            if n % 2:
                registry.remove(thing.id)
                removed.append(thing.id)
            else:
                kept.append(thing)
        await virtual.wait_idle()
        assert sorted(virtual.virtuals) == sorted(t.id for t in kept)
        ports = {t.id: virtual.virtuals[t.id].endpoint.port for t in kept}
        assert len(set(ports.values())) == len(kept), ports
        for thing in kept:
            assert await _di_at(ctx, ports[thing.id]) == thing.identity.di
        assert not set(removed) & set(virtual.virtuals)
    finally:
        await ctx.shutdown()
        await virtual.shutdown()
    assert not virtual.virtuals
