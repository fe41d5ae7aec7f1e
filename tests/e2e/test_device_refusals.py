"""Issue 15 point 1: a command an OCF device refuses comes back, through a real gateway, as the
documented error of the side that sent it: on MQTT the ``device_error`` response with the
device's code, on D-Bus ``org.openconnectivity.Error.Code<NNN>``, never an internal error.
The device refuses only ``/brightness`` (fault injection by path); the rest of it works."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiomqtt
import pytest
from dbus_fast import MessageType, Variant

from bridge.sim.pytest_plugin import DeviceFactory
from bridge.sim.testing.gateways import TestGateways
from bridge.sim.testing.mosquitto import Mosquitto
from tests.e2e.alljoyn_consumer import BRIGHTNESS, ON_CONTROL, Consumer

RESPONSE = "ocfaj/bridge/response/set"


async def set_over_mqtt(client: aiomqtt.Client, topic: str, payload: dict[str, Any],
                        transaction: str) -> dict[str, Any]:
    """Publish a ``/set`` and return the response carrying its ``transaction``."""
    await client.publish(topic, json.dumps({**payload, "transaction": transaction}), qos=1)
    async with asyncio.timeout(20):
        async for message in client.messages:
            answer: dict[str, Any] = json.loads(bytes(message.payload))  # type: ignore[arg-type]
            if answer.get("transaction") == transaction:
                return answer
    raise AssertionError("the message stream ended")


@pytest.mark.parametrize("code", [403, 401, 500])
async def test_a_refused_command_is_the_device_error_on_mqtt_and_on_dbus(
        ocf_device: DeviceFactory, gateway_factory: TestGateways, consumer: Consumer,
        mosquitto: Mosquitto, code: int) -> None:
    lamp = ocf_device("light", "Lamp")
    await asyncio.to_thread(lamp.faults, error=1.0, error_code=code, paths=["/brightness"])
    await asyncio.to_thread(gateway_factory, "gw", mqtt={
        "enabled": True, "host": mosquitto.host, "port": mosquitto.port})
    logs = gateway_factory.logs
    app = await consumer.wait_app("Lamp", virtual=True)

    # D-Bus: the virtual AllJoyn device answers with the device's code.
    refused = await consumer.set(app, BRIGHTNESS, "Brightness", Variant("d", 0.5))
    assert refused.message_type is MessageType.ERROR, logs()
    assert refused.error_name == f"org.openconnectivity.Error.Code{code}", (
        refused.error_name, refused.body, logs())
    assert refused.body == [f"injected fault: Lamp answers {code}"]

    async with aiomqtt.Client(mosquitto.host, mosquitto.port) as client:
        await client.subscribe(RESPONSE, qos=1)
        topic = "ocfaj/lamp/set"  # the device's name, as a topic
        failed = await set_over_mqtt(client, topic, {"brightness": {"brightness": 30}}, "t1")
        assert failed["status"] == "error", (failed, logs())
        assert failed["data"]["reason"] == "device_error" and failed["data"]["code"] == code
        assert failed["error"] == f"injected fault: Lamp answers {code}"
        # The rest of the device is not affected: switching works on both sides.
        done = await set_over_mqtt(client, topic, {"switch": {"on": True}}, "t2")
        assert done["status"] == "ok", (done, logs())
    assert await lamp.received("switch") == {"on": True}
    reply = await consumer.invoke(app, ON_CONTROL, "SwitchOn")
    assert reply.message_type is MessageType.METHOD_RETURN, (reply.error_name, reply.body)
    assert "internal error" not in logs()
    assert lamp.writes("brightness") == []
