"""Strings that a target protocol cannot carry, on the CoAP and D-Bus sides (issue 15 point 2;
MQTT in ``tests/mqtt/test_text.py``).

- CoAP: a POST to a virtual OCF device of an AllJoyn device with a NUL in a string (CBOR holds
  it, D-Bus cannot) is answered 4.00 and nothing reaches the device; an invalid UTF-8 text
  string (a CBOR-encoded lone surrogate) too.
- D-Bus: an OCF device's state holding a NUL is exported without it instead of in a message
  the bus would reject (dropping the virtual producer's connection): the producer keeps
  answering.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiocoap
import cbor2
import pytest
from dbus_fast import MessageType, Variant
from dbus_fast.aio import MessageBus

from bridge.core.identity import IdentityBook
from bridge.core.registry import Registry
from bridge.core.thing import Capability, DeviceInfo, GenericProperty, GenericSpec, Side, Thing
from bridge.model.types import Catalogue
from bridge.ocf.virtual import VirtualOcfDevices
from bridge.sim.testing.procs import await_until, free_udp_port
from tests.alljoyn.conftest import SideFactory, client, make_side
from tests.alljoyn.producers_fixtures import dbus_call, export_lamp
from tests.ocf.coap import code, request
from tests.ocf.things import APP_ID, DEVICE_ID, RecordingOrigin

__all__ = ["client", "make_side"]

PROPS = "org.freedesktop.DBus.Properties"
RT = "x.org.example.-labelled.true"


def labelled(book: IdentityBook) -> Thing:
    thing_id, identity = book.for_alljoyn_device(DEVICE_ID, APP_ID)
    spec = GenericSpec(interface="org.example.Labelled",
                       properties=(GenericProperty("Label", "s", "rw", "true"),))
    return Thing(thing_id, Side.ALLJOYN, identity,
                 DeviceInfo(name="Labelled", device_types=("oic.d.light",)),
                 {"labelled": Capability("labelled", "/labelled", generic=spec,
                                         state={"Label": "x"})})


@pytest.fixture
async def served(registry: Registry) -> AsyncIterator[tuple[str, RecordingOrigin, Any]]:
    origin = RecordingOrigin()
    registry.register_handler(Side.ALLJOYN, origin)
    thing = registry.upsert(labelled(IdentityBook()))
    virtual = VirtualOcfDevices(registry, gateway_name="gw", bind_host="::",
                                server_port=free_udp_port("::1"), multicast=[],
                                max_payload=1024)
    await virtual.start()
    await virtual.wait_idle()
    ctx = await aiocoap.Context.create_client_context(transports=["udp6"])
    port = virtual.virtuals[thing.id].endpoint.port
    try:
        yield f"coap://[::1]:{port}/labelled/{RT}", origin, ctx
    finally:
        await ctx.shutdown()
        await virtual.shutdown()


async def test_a_coap_post_with_nul_for_an_alljoyn_device_is_answered_4_00(
        served: tuple[str, RecordingOrigin, Any]) -> None:
    uri, origin, ctx = served
    answer = await request(ctx, "POST", uri, cbor2.dumps({"Label": "a\x00b"}),
                           content_format=10000)
    assert code(answer) == "4.00", answer.payload
    assert b"NUL" in answer.payload
    # A text string whose bytes are a UTF-8-encoded lone surrogate (ED A0 80): not UTF-8.
    answer = await request(ctx, "POST", uri, b"\xa1\x65Label\x63\xed\xa0\x80",
                           content_format=10000)
    assert code(answer) == "4.00", answer.payload
    assert origin.commands == []
    answer = await request(ctx, "POST", uri, cbor2.dumps({"Label": "fine"}),
                           content_format=10000)
    assert code(answer) == "2.04" and len(origin.commands) == 1


async def test_a_state_with_nul_never_reaches_the_bus_and_the_producer_lives_on(
        client: MessageBus, make_side: SideFactory, registry: Registry, book: IdentityBook,
        catalogue: Catalogue) -> None:
    ex = await export_lamp(make_side, registry, book, catalogue)
    registry.update_state(ex.thing.id, "widget", {"serial": "B\x00-2", "my.level": 5})
    reply = await dbus_call(client, ex.name, "/widget/1", PROPS, "GetAll", "s",
                            ["example.Widget"])
    assert reply.message_type is MessageType.METHOD_RETURN, reply.body
    values = {k: v.value for k, v in reply.body[0].items()}
    assert values["my_dlevel"] == 5 and "\x00" not in values["serial"]
    reply = await dbus_call(client, ex.name, "/widget/1", PROPS, "Set", "ssv",
                            ["example.Widget", "my_dlevel", Variant("i", 6)])
    assert reply.message_type is MessageType.METHOD_RETURN, reply.body
    await await_until(lambda: ex.thing.capabilities["widget"].state["my.level"] == 6)
