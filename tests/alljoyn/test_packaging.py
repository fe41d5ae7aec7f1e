"""The shipped system bus configuration works in a real dbus-daemon: it parses, it lets the
gateway's producers own their names and clients call them, and it raises the connection limit.

The daemon here is a system-type bus with the restrictive default policy of the system bus
(no names, no method calls) and ``includedir`` of ``packaging/dbus``, as on a real system
(``tests.service.system_bus``). Who may call what, as which user, is tested in
tests/service/test_system_bus_policy.py."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator, Mapping
from pathlib import Path

import pytest
from dbus_fast import Message, MessageType
from dbus_fast.aio import MessageBus

from bridge.alljoyn.about import about_of_thing
from bridge.alljoyn.bus import connect, parse_bus
from bridge.alljoyn.producer import AllJoynProducer
from bridge.alljoyn.producers import virtual_bus_name
from bridge.core.events import EventBus
from bridge.core.identity import IdentityBook
from bridge.core.registry import Command, Registry
from bridge.core.thing import Side
from bridge.model import load_catalogue
from bridge.model.types import Value
from tests.alljoyn.conftest import OriginDouble
from tests.alljoyn.producers_fixtures import ocf_lamp
from tests.service.system_bus import system_like_bus


@pytest.fixture
def system_bus(tmp_path: Path) -> Iterator[str]:
    with system_like_bus(tmp_path) as address:
        yield address


@pytest.fixture
async def producer_name(system_bus: str) -> AsyncIterator[str]:
    registry = Registry(EventBus())
    registry.register_handler(Side.OCF, OriginDouble())
    thing = registry.upsert(ocf_lamp(IdentityBook(), load_catalogue()))

    async def execute(command: Command) -> Mapping[str, Value]:
        return await registry.command(thing.id, command, Side.ALLJOYN)

    producer = AllJoynProducer(parse_bus(system_bus), thing, execute,
                               about_of_thing(thing, "gw"), virtual=True, translate_names=True,
                               bus_name=virtual_bus_name(thing))
    await producer.start()
    yield producer.bus_name
    await producer.stop()


async def get_about(bus: MessageBus, dest: str) -> Message:
    return await bus.call(Message(destination=dest, path="/About",
                                  interface="org.alljoyn.About", member="GetAboutData",
                                  signature="s", body=[""]))


async def test_policy_lets_clients_call_virtual_producers(system_bus: str,
                                                          producer_name: str) -> None:
    client = await connect(parse_bus(system_bus))
    try:
        reply = await get_about(client, producer_name)
        assert reply.message_type is MessageType.METHOD_RETURN, reply.body
        assert reply.body[0]["AppName"].value == "Desk Lamp"
        # the same call to a connection without an org.ocfaj name is refused by the policy
        other = await connect(parse_bus(system_bus))
        try:
            assert other.unique_name is not None
            reply = await get_about(client, other.unique_name)
            assert reply.error_name == "org.freedesktop.DBus.Error.AccessDenied"
        finally:
            other.disconnect()
    finally:
        client.disconnect()


async def test_connection_limit_is_raised(system_bus: str) -> None:
    buses = await asyncio.gather(*(connect(parse_bus(system_bus)) for _ in range(300)))
    try:
        assert all((bus.unique_name or "").startswith(":") for bus in buses)
    finally:
        for bus in buses:
            bus.disconnect()
