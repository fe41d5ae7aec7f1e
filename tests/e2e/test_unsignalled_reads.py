"""Issue 21 point 4: an OCF GET of a property the AllJoyn device does not signal reads through
to the device (bounded by ``[alljoyn] read_cache``) and answers with its current value."""

from __future__ import annotations

import asyncio

from aiocoap import Context

from bridge.sim.pytest_plugin import DeviceFactory
from bridge.sim.testing.gateways import TestGateways
from tests.e2e.ocf_client import body, dotted, request
from tests.e2e.waiting import virtual_ocf_device

BRIGHTNESS_RT = "oic.r.light.brightness"
SWITCH_RT = "oic.r.switch.binary"


async def test_ocf_get_reads_an_unsignalled_alljoyn_property_through(
        alljoyn_device: DeviceFactory, gateway_factory: TestGateways, coap: Context) -> None:
    lamp = alljoyn_device("light", "Quiet Lamp", behaviour={"silent": ["brightness"]})
    # No polling: only the read through can bring the new value.
    await asyncio.to_thread(gateway_factory, "gw", own_host=True,
                            alljoyn={"poll_interval": 0, "read_cache": 0})
    device = await virtual_ocf_device(coap, "Quiet Lamp", gateway_factory)
    uri = device.uri(BRIGHTNESS_RT)
    first = await request(coap, "GET", uri)
    assert dotted(first) == "2.05", (dotted(first), first.payload, gateway_factory.logs())
    assert body(first)["brightness"] == 60

    await asyncio.to_thread(lamp.set, "brightness", {"brightness": 8})
    # The device sent no signal and nothing polls it: the very next GET has the new value.
    second = await request(coap, "GET", uri)
    assert body(second)["brightness"] == 8, (body(second), gateway_factory.logs())

    # The switch signals its changes: answered from the kept state, which follows them.
    switch = body(await request(coap, "GET", device.uri(SWITCH_RT)))
    assert switch["value"] is False, switch


async def test_ocf_get_sees_a_change_the_producer_did_not_signal(
        alljoyn_device: DeviceFactory, gateway_factory: TestGateways, coap: Context) -> None:
    """A producer whose introspection says ``EmitsChangedSignal="true"`` changes a property
    without ``PropertiesChanged`` (``--mute``): the OCF GET still answers the device's value
    (the default ``read_through = "all"``)."""
    lamp = alljoyn_device("light", "Mute Lamp", behaviour={"mute": ["brightness"]})
    await asyncio.to_thread(gateway_factory, "gw", own_host=True,
                            alljoyn={"poll_interval": 0, "read_cache": 0})
    device = await virtual_ocf_device(coap, "Mute Lamp", gateway_factory)
    uri = device.uri(BRIGHTNESS_RT)
    assert body(await request(coap, "GET", uri))["brightness"] == 60
    await asyncio.to_thread(lamp.set, "brightness", {"brightness": 8})
    second = await request(coap, "GET", uri)
    assert dotted(second) == "2.05", (dotted(second), second.payload, gateway_factory.logs())
    assert body(second)["brightness"] == 8, (body(second), gateway_factory.logs())
