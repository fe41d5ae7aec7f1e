"""Issue 14 point 18: a colour temperature set in kelvin stays as set through an OCF light.

OCF carries it in mired (an integer): 3000 K is 333 mired, and 333 mired is 3003 K. A user
who sets 3000 K over MQTT must see 3000 K in the gateway's state after the write, the
device's notification and a refresh (all spell 333), while a change made at the device (370
mired) is followed as the device spells it (2703 K).
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiomqtt

from bridge.sim.pytest_plugin import DeviceFactory
from bridge.sim.testing.gateway import TestGateway
from bridge.sim.testing.gateways import TestGateways
from bridge.sim.testing.mosquitto import Mosquitto
from bridge.sim.testing.procs import wait_for
from tests.e2e.test_device_refusals import set_over_mqtt


async def kelvin_becomes(gateway: TestGateway, kelvin: int, within: float = 20.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        row: dict[str, Any] = await asyncio.to_thread(gateway.device, "Lamp", "ocf")
        shown = row["capabilities"]["colour_temperature"]["state"].get("colour_temperature")
        if shown == kelvin:
            return
        assert loop.time() < deadline, f"colour temperature {shown}, not {kelvin}"
        await asyncio.sleep(0.2)


async def test_a_set_colour_temperature_is_kept_as_set(
        ocf_device: DeviceFactory, gateway_factory: TestGateways, mosquitto: Mosquitto) -> None:
    lamp = ocf_device("light", "Lamp")
    gateway = await asyncio.to_thread(gateway_factory, "gw", mqtt={
        "enabled": True, "host": mosquitto.host, "port": mosquitto.port})
    logs = gateway_factory.logs
    await asyncio.to_thread(wait_for, lambda: any(
        d["name"] == "Lamp" and d["available"] for d in gateway.devices()), 30)
    async with aiomqtt.Client(mosquitto.host, mosquitto.port) as client:
        await client.subscribe("ocfaj/bridge/response/#", qos=1)
        done = await set_over_mqtt(client, "ocfaj/lamp/set",
                                   {"colour_temperature": {"colour_temperature": 3000}}, "t1")
        assert done["status"] == "ok", (done, logs())
        # The device got 333 mired (its own state reads that back as 3003 K).
        assert await lamp.received("colour_temperature") == {"colour_temperature": 3003}
        await kelvin_becomes(gateway, 3000)

        # A refresh reads 333 mired from the device again: still the 3000 K that was set.
        await client.publish("ocfaj/lamp/get", b'{"colour_temperature": {}}', qos=1)
        async with asyncio.timeout(20):
            async for message in client.messages:
                if message.topic.matches("ocfaj/bridge/response/get"):
                    break
        row = await asyncio.to_thread(gateway.device, "Lamp", "ocf")
        assert row["capabilities"]["colour_temperature"]["state"] == {
            "colour_temperature": 3000}, logs()

    # Changed at the device: 2700 K there is 370 mired, which the gateway reads as 2703 K.
    await asyncio.to_thread(lamp.set, "colour_temperature", {"colour_temperature": 2700})
    await kelvin_becomes(gateway, 2703)
