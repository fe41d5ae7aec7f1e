"""Issue 13 point 4: ranges and roles come from the device, through the real gateway.

The simulated thermostat is the reference stack's ``/temp``: one ``oic.r.temperature``
resource offering ``oic.if.a`` and ``oic.if.s`` that declares ``range: [0, 100]`` and
``step: 1`` (the model's defaults are 5..35 in steps of 0.5). It must cross as both the
measured and the target temperature, with the device's range, and a write of 50 (outside the
model's default, inside the device's range) must reach the device.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

import aiomqtt
from aiocoap import Context
from dbus_fast import MessageType, Variant

from bridge.sim.pytest_plugin import OcfDeviceFactory
from bridge.sim.testing.gateways import TestGateways
from bridge.sim.testing.mosquitto import Mosquitto
from tests.e2e.alljoyn_consumer import CURRENT_TEMPERATURE, TARGET_TEMPERATURE, Consumer
from tests.e2e.ocf_client import body, dotted, request

#: What the device says about its set point, over the model's 5..35 step 0.5.
LIMITS = {"target_temperature": {"min": 0.0, "max": 100.0, "step": 1.0}}
DUAL = [("temperature", "target_temperature")]
THERMOSTAT = "temperature,target_temperature"


def reference_thermostat(ocf_device: OcfDeviceFactory) -> Any:
    """A ``/temp`` that is sensor and actuator, range 0..100, its target at 0.0 (below the
    model's default minimum of 5)."""
    return ocf_device("thermostat", "Thermo", limits=LIMITS, one_resource=DUAL,
                      target_temperature={"target_temperature": 0.0})


async def test_the_simulated_device_answers_like_the_reference_temp(
        ocf_device: OcfDeviceFactory, coap: Context) -> None:
    thermo = reference_thermostat(ocf_device)
    uri = thermo.uri("target_temperature")
    assert body(await request(coap, "GET", uri)) == {
        "temperature": 0.0, "units": "C", "range": [0.0, 100.0], "step": 1.0}
    links = body(await request(coap, "GET", f"{thermo.endpoint}/oic/res"))
    temp = [link for link in links if link["href"] == thermo.href("temperature")]
    assert len(temp) == 1 and temp[0]["rt"] == ["oic.r.temperature"], links
    assert set(temp[0]["if"]) == {"oic.if.a", "oic.if.s", "oic.if.baseline"}
    # The device accepts what its own range allows, and refuses what it does not.
    assert dotted(await request(coap, "POST", uri, {"temperature": 50.0})) == "2.04"
    assert await thermo.received("target_temperature") == {"target_temperature": 50.0}
    refused = await request(coap, "POST", uri, {"temperature": 101.0})
    assert dotted(refused) == "4.00", refused.payload
    assert body(await request(coap, "GET", uri))["temperature"] == 50.0


async def test_alljoyn_sees_both_roles_with_the_device_range_and_can_set_50(
        ocf_device: OcfDeviceFactory, gateway_factory: TestGateways,
        consumer: Consumer) -> None:
    thermo = reference_thermostat(ocf_device)
    assert thermo.href("temperature") == thermo.href("target_temperature")
    await asyncio.to_thread(gateway_factory, "gw", own_host=True)
    logs = gateway_factory.logs
    app = await consumer.wait_app("Thermo", virtual=True)
    # One OCF resource, both roles: one AllJoyn object with both interfaces.
    assert app.path_of(CURRENT_TEMPERATURE) == app.path_of(TARGET_TEMPERATURE), app.objects

    assert await consumer.get(app, TARGET_TEMPERATURE, "MinValue") == 0.0, logs()
    assert await consumer.get(app, TARGET_TEMPERATURE, "MaxValue") == 100.0
    assert await consumer.get(app, TARGET_TEMPERATURE, "StepValue") == 1.0
    assert await consumer.get(app, TARGET_TEMPERATURE, "TargetValue") == 0.0
    assert await consumer.get(app, CURRENT_TEMPERATURE, "CurrentValue") == 0.0

    accepted = await consumer.set(app, TARGET_TEMPERATURE, "TargetValue", Variant("d", 50.0))
    assert accepted.message_type is MessageType.METHOD_RETURN, (accepted.error_name,
                                                                accepted.body, logs())
    assert await thermo.received("target_temperature") == {"target_temperature": 50.0}
    # The device has one value: its reading follows, as a notification of the one resource.
    await consumer.wait_change(app.unique_name, CURRENT_TEMPERATURE, "CurrentValue", 50.0)

    # Outside the device's own range: refused on D-Bus with that range, never sent.
    refused = await consumer.set(app, TARGET_TEMPERATURE, "TargetValue", Variant("d", 101.0))
    assert refused.message_type is MessageType.ERROR, logs()
    assert "0..100" in str(refused.body), (refused.error_name, refused.body)
    assert thermo.writes("target_temperature") == [{"target_temperature": 50.0}]


async def _discovery(client: aiomqtt.Client, found: dict[str, dict[str, Any]]) -> None:
    async for message in client.messages:
        if isinstance(message.payload, bytes) and message.payload:
            found[str(message.topic)] = json.loads(message.payload)


async def _entity(found: dict[str, dict[str, Any]], component: str, object_id: str,
                  gateways: TestGateways, within: float = 30.0) -> tuple[str, dict[str, Any]]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while loop.time() < deadline:
        for topic, config in list(found.items()):
            parts = topic.split("/")
            if len(parts) == 5 and parts[1] == component and parts[3] == object_id:
                return topic, config
        await asyncio.sleep(0.05)
    raise AssertionError(f"no {component} entity {object_id}; topics {sorted(found)}\n"
                         f"{gateways.logs()}")


async def test_home_assistant_gets_the_device_range_and_a_write_of_50_reaches_it(
        ocf_device: OcfDeviceFactory, gateway_factory: TestGateways,
        mosquitto: Mosquitto) -> None:
    thermo = reference_thermostat(ocf_device)
    # On the local side, where the broker on 127.0.0.1 is.
    await asyncio.to_thread(gateway_factory, "gw", mqtt={
        "enabled": True, "host": mosquitto.host, "port": mosquitto.port})
    found: dict[str, dict[str, Any]] = {}
    async with aiomqtt.Client(mosquitto.host, mosquitto.port) as client:
        await client.subscribe("homeassistant/#")
        task = asyncio.create_task(_discovery(client, found))
        try:
            # A thermostat: one climate entity with the device's range and step.
            _, climate = await _entity(found, "climate", "climate", gateway_factory)
            assert (climate["min_temp"], climate["max_temp"], climate["temp_step"]) == (
                0.0, 100.0, 1.0), climate
            # the measured role is there too, as a sensor of the same device
            await _entity(found, "sensor", "temperature_temperature", gateway_factory)

            command = climate["temperature_command_template"].replace("{{ value }}", "50")
            await client.publish(climate["temperature_command_topic"], command, qos=1)
            assert await thermo.received("target_temperature") == {"target_temperature": 50.0}
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
