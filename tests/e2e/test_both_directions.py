"""Issue 5 point 2: reads, commands and state changes cross one gateway both ways, and bad
input is refused on the side it came from without reaching the device. Each test runs the
gateway on both of its event loops (``[gateway] event_loop``): uvloop's, the default where
uvloop is installed as here, and asyncio's own."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiocoap import Context
from dbus_fast import MessageType, Variant

from bridge.sim.pytest_plugin import DeviceFactory
from bridge.sim.testing.gateways import TestGateways
from tests.e2e.alljoyn_consumer import (
    BRIGHTNESS,
    ON_CONTROL,
    ON_OFF_STATUS,
    Consumer,
)
from tests.e2e.conftest import THERMOSTAT
from tests.e2e.ocf_client import Device, Observation, body, dotted, request
from tests.e2e.waiting import virtual_ocf_device

#: the gateway's event loop in each run (``[gateway] event_loop``).
LOOPS = pytest.mark.parametrize("loop_choice", ["auto", "asyncio"])


@LOOPS
async def test_alljoyn_consumer_switches_and_dims_an_ocf_light(
        ocf_device: DeviceFactory, gateway_factory: TestGateways, consumer: Consumer,
        loop_choice: str) -> None:
    lamp = ocf_device("light", "Lamp")
    gateway = await asyncio.to_thread(gateway_factory, "gw", own_host=True,
                                      gateway={"event_loop": loop_choice})
    assert _runs_on(loop_choice) in gateway.log(), gateway.log()
    # The compiled GET path is built in the test environment and on by default.
    assert "compiled GET path: on" in gateway.log(), gateway.log()
    logs = gateway_factory.logs
    app = await consumer.wait_app("Lamp", virtual=True)
    assert await consumer.get(app, ON_OFF_STATUS, "IsOn") is False, logs()

    reply = await consumer.invoke(app, ON_CONTROL, "SwitchOn")
    assert reply.message_type is MessageType.METHOD_RETURN, (reply.error_name, reply.body,
                                                              logs())
    assert await lamp.received("switch") == {"on": True}
    await consumer.wait_change(app.unique_name, ON_OFF_STATUS, "IsOn", True)
    assert await consumer.get(app, ON_OFF_STATUS, "IsOn") is True

    # A change at the OCF device (its own button) reaches the AllJoyn consumer.
    await asyncio.to_thread(lamp.set, "switch", {"on": False})
    await consumer.wait_change(app.unique_name, ON_OFF_STATUS, "IsOn", False)

    # Brightness 2.0 is outside AllJoyn's 0.0..1.0: refused on D-Bus, naming the property.
    refused = await consumer.set(app, BRIGHTNESS, "Brightness", Variant("d", 2.0))
    assert refused.message_type is MessageType.ERROR, logs()
    assert "Brightness" in f"{refused.error_name} {refused.body}", (refused.error_name,
                                                                    refused.body)
    accepted = await consumer.set(app, BRIGHTNESS, "Brightness", Variant("d", 0.25))
    assert accepted.message_type is MessageType.METHOD_RETURN, (accepted.error_name,
                                                                accepted.body, logs())
    assert await lamp.received("brightness") == {"brightness": 25}
    # The valid write is the only brightness write the device ever got: the bad one never
    # left the gateway.
    assert lamp.writes("brightness") == [{"brightness": 25}]


def _runs_on(loop_choice: str) -> str:
    """The start log's line for the loop (uvloop is installed here: auto picks it)."""
    return "event loop: asyncio" if loop_choice == "asyncio" else "event loop: uvloop"


@LOOPS
async def test_ocf_client_observes_and_controls_an_alljoyn_thermostat(
        alljoyn_device: DeviceFactory, gateway_factory: TestGateways, coap: Context,
        loop_choice: str) -> None:
    thermo = alljoyn_device(THERMOSTAT, "Thermo")
    gateway = await asyncio.to_thread(gateway_factory, "gw", own_host=True,
                                      gateway={"event_loop": loop_choice})
    assert _runs_on(loop_choice) in gateway.log(), gateway.log()
    device = await virtual_ocf_device(coap, "Thermo", gateway_factory)
    current = _temperature_uri(device, "oic.if.s")
    target = _temperature_uri(device, "oic.if.a")

    observation = Observation(coap, current)
    first = await observation.start()
    assert first["temperature"] == 21.5, first
    await asyncio.to_thread(thermo.set, "temperature", {"temperature": 25.0})
    note = await observation.until({"temperature": 25.0})
    assert note["units"] == "C"
    observation.cancel()

    answer = await request(coap, "POST", target, {"temperature": 23.5})
    assert dotted(answer) == "2.04", (dotted(answer), answer.payload, gateway_factory.logs())
    assert await thermo.received("target_temperature") == {"target_temperature": 23.5}
    assert body(await request(coap, "GET", target))["temperature"] == 23.5

    # 99 degrees is outside the set point range 5..35: 4.00 and nothing reaches the device.
    refused = await request(coap, "POST", target, {"temperature": 99.0})
    assert dotted(refused) == "4.00", (dotted(refused), refused.payload)
    assert dotted(await request(coap, "POST", target, {"temperature": 22.0})) == "2.04"
    assert await thermo.received("target_temperature") == {"target_temperature": 22.0}
    assert thermo.writes() == [{"target_temperature": 23.5}, {"target_temperature": 22.0}]


def _temperature_uri(device: Device, interface: str) -> str:
    links: list[dict[str, Any]] = [link for link in device.links
                                   if "oic.r.temperature" in link.get("rt", [])
                                   and interface in link.get("if", [])]
    assert len(links) == 1, device.links
    eps = [ep["ep"] for ep in links[0]["eps"] if ep["ep"].startswith("coap://169.254.")]
    assert eps, links[0]
    return str(eps[0] + links[0]["href"])
