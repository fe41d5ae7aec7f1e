"""AllJoyn fault injection: each call to a faulty simulated device meets the fate its seeded
``Faults`` draws, seen by a real dbus-fast consumer on the private bus."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from dbus_fast import Message, MessageType, Variant
from dbus_fast.aio import MessageBus

from bridge.alljoyn.bus import parse_bus
from bridge.model import load_catalogue
from bridge.sim.alljoyn import AllJoynSimServer, sim_device
from bridge.sim.device import FaultAction, Faults
from bridge.sim.testing.dbus import DBusDaemon

PROPERTIES = "org.freedesktop.DBus.Properties"
ON_OFF = "org.alljoyn.SmartSpaces.Operation.OnOffStatus"
#: Long enough for an answer on a local bus, short enough that dropped calls stay quick.
DROP_WAIT = 0.5


@pytest.fixture
async def lamp(dbus_daemon: DBusDaemon) -> AsyncIterator[AllJoynSimServer]:
    server = AllJoynSimServer(sim_device("Flaky Lamp", load_catalogue(), "light"),
                              parse_bus(dbus_daemon.address))
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def client(dbus_daemon: DBusDaemon) -> AsyncIterator[MessageBus]:
    bus = await MessageBus(bus_address=dbus_daemon.address).connect()
    yield bus
    bus.disconnect()


def _switch_path(lamp: AllJoynSimServer) -> str:
    assert lamp.producer is not None
    return next(path for path, views in lamp.producer._objects.items() if ON_OFF in views)


async def _fate(client: MessageBus, lamp: AllJoynSimServer, member: str = "Get",
                **call: Any) -> tuple[FaultAction, Any]:
    message = Message(destination=lamp.producer.unique_name if lamp.producer else "",
                      path=call.get("path", _switch_path(lamp)),
                      interface=call.get("interface", PROPERTIES), member=member,
                      signature=call.get("signature", "ss"),
                      body=call.get("body", [ON_OFF, "IsOn"]))
    try:
        reply = await asyncio.wait_for(client.call(message), DROP_WAIT)
    except TimeoutError:
        return FaultAction.DROP, None
    assert reply is not None
    if reply.message_type is MessageType.ERROR:
        return FaultAction.ERROR, (reply.error_name, reply.body)
    if reply.signature == "us":
        return FaultAction.MALFORMED, reply.body
    return FaultAction.ANSWER, reply.body


async def test_seeded_faults_decide_every_get(lamp: AllJoynSimServer,
                                              client: MessageBus) -> None:
    settings: dict[str, Any] = {"drop": 0.2, "error": 0.2, "malformed": 0.2, "seed": 5}
    lamp.device.faults = Faults(**settings)
    twin = Faults(**settings)  # same seed: the same draws
    expected = [twin.decide() for _ in range(30)]
    seen = [await _fate(client, lamp) for _ in range(30)]
    assert [fate for fate, _ in seen] == expected
    assert set(expected) == set(FaultAction)
    for fate, detail in seen:
        if fate is FaultAction.ERROR:
            assert detail == ("org.openconnectivity.Error.Code503",
                              ["injected fault: Flaky Lamp answers 503"])
        if fate is FaultAction.ANSWER:
            assert detail == [Variant("b", False)]


async def test_set_and_methods_are_faulted_about_is_not(lamp: AllJoynSimServer,
                                                        client: MessageBus) -> None:
    lamp.device.faults = Faults(error=1.0, error_code=429)
    fate, detail = await _fate(client, lamp, "Set", signature="ssv",
                               body=[ON_OFF, "IsOn", Variant("b", True)])
    assert (fate, detail[0]) == (FaultAction.ERROR, "org.openconnectivity.Error.Code429")
    fate, _ = await _fate(client, lamp, "GetAboutData", path="/About",
                          interface="org.alljoyn.About", signature="s", body=["en"])
    assert fate is FaultAction.ANSWER
    lamp.device.faults = Faults(delay=0.05)
    fate, detail = await _fate(client, lamp)
    assert (fate, detail) == (FaultAction.ANSWER, [Variant("b", False)])
    assert lamp.device.received_log == []  # the failed Set never reached the device
