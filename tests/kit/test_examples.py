"""The worked examples of docs/testing-with-simulated-devices.md, run as written there."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiomqtt
import cbor2
from aiocoap import GET, POST, Context, Message
from dbus_fast import Message as DBusMessage
from dbus_fast import Variant
from dbus_fast.aio import MessageBus

from bridge.sim.testing.dbus import DBusDaemon
from bridge.sim.testing.mosquitto import Mosquitto


async def test_my_ocf_client(ocf_device: Any) -> None:
    lamp = ocf_device("light", "Lamp", switch={"on": False})
    ctx = await Context.create_client_context()
    try:
        answer = await ctx.request(Message(code=GET, uri=lamp.uri("switch"))).response
        assert cbor2.loads(answer.payload) == {"value": False}
        await ctx.request(Message(code=POST, uri=lamp.uri("switch"), content_format=10000,
                                  payload=cbor2.dumps({"value": True}))).response
        assert await lamp.received("switch") == {"on": True}
        await asyncio.to_thread(lamp.faults, error=1.0, error_code=503)
        answer = await ctx.request(Message(code=GET, uri=lamp.uri("switch"))).response
        assert str(answer.code) == "5.03 Service Unavailable"
    finally:
        await ctx.shutdown()


async def test_my_alljoyn_consumer(dbus_daemon: DBusDaemon, alljoyn_device: Any) -> None:
    lamp = alljoyn_device("light", "Lamp")
    bus = await MessageBus(bus_address=dbus_daemon.address).connect()
    sender = lamp.facts["unique_name"]
    reply = await bus.call(DBusMessage(destination=sender, path="/About",
                                       interface="org.alljoyn.About", member="GetAboutData",
                                       signature="s", body=["en"]))
    assert reply is not None
    assert reply.body[0]["DeviceName"] == Variant("s", "Lamp")
    bus.disconnect()


async def test_my_cloud_backend(ocf_device: Any, mosquitto: Mosquitto, gateway: Any) -> None:
    lamp = ocf_device("light", "Desk Lamp", switch={"on": True})
    await asyncio.to_thread(gateway, mqtt={"host": mosquitto.host, "port": mosquitto.port})
    async with aiomqtt.Client(mosquitto.host, mosquitto.port) as client:
        await client.subscribe("ocfaj/desk_lamp")
        async with asyncio.timeout(60):
            async for message in client.messages:
                assert isinstance(message.payload, bytes)
                if json.loads(message.payload)["switch"] == {"on": True}:
                    break
        await client.publish("ocfaj/desk_lamp/set", json.dumps({"switch": {"on": False}}))
        assert await lamp.received("switch", within=30) == {"on": False}
