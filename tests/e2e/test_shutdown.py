"""Issue 5 point 1, the clean stop: SIGTERM withdraws every virtual device (AllJoyn consumers
see the producers leave the bus), publishes the gateway ``offline`` on MQTT, and exits 0."""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

import aiomqtt

from bridge.sim.pytest_plugin import DeviceFactory
from bridge.sim.testing import Mosquitto
from bridge.sim.testing.gateways import TestGateways
from tests.e2e.alljoyn_consumer import Consumer
from tests.e2e.conftest import THERMOSTAT
from tests.e2e.waiting import HasLogs

BRIDGE_STATE = "ocfaj/bridge/state"


class Retained:
    """The last payload per topic under ``ocfaj/#``, as an MQTT subscriber sees them."""

    def __init__(self) -> None:
        self.last: dict[str, Any] = {}

    async def run(self, client: aiomqtt.Client) -> None:
        await client.subscribe("ocfaj/#", qos=1)
        async for message in client.messages:
            payload = message.payload
            text = payload.decode() if isinstance(payload, bytes | bytearray) else str(payload)
            with contextlib.suppress(ValueError):
                self.last[str(message.topic)] = json.loads(text) if text else None

    async def wait(self, topic: str, value: Any, gateways: HasLogs, within: float = 20.0) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while self.last.get(topic) != value:
            if loop.time() > deadline:
                raise AssertionError(f"{topic} is {self.last.get(topic)!r}, not {value!r}; "
                                     f"topics: {sorted(self.last)}\n{gateways.logs()}")
            await asyncio.sleep(0.05)


async def test_sigterm_withdraws_virtual_devices_and_publishes_offline(
        ocf_device: DeviceFactory, alljoyn_device: DeviceFactory,
        gateway_factory: TestGateways, consumer: Consumer, mosquitto: Mosquitto) -> None:
    ocf_device("light", "Lamp")
    alljoyn_device(THERMOSTAT, "Thermo")
    # On the local side, where the broker on 127.0.0.1 is.
    gateway = await asyncio.to_thread(gateway_factory, "gw", mqtt={
        "enabled": True, "host": mosquitto.host, "port": mosquitto.port})
    retained = Retained()
    async with aiomqtt.Client(mosquitto.host, mosquitto.port) as client:
        task = asyncio.create_task(retained.run(client))
        try:
            await retained.wait(BRIDGE_STATE, {"state": "online"}, gateway_factory)
            app = await consumer.wait_app("Lamp", virtual=True)
            assert gateway.stop() == 0, gateway_factory.logs()
            await consumer.wait_gone(app.unique_name)
            await retained.wait(BRIDGE_STATE, {"state": "offline"}, gateway_factory)
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    assert not [a for a in await consumer.scan() if a.virtual], "virtual devices left behind"
    log = gateway.log()
    assert "stopping on request" in log and "gateway gw stopped" in log, log[-3000:]
