"""Random method calls to a virtual AllJoyn producer over a real bus (issue 9 point 3).

Any path, interface, member, signature and arguments a client can put on the bus: the producer
answers each with a D-Bus error or a method return (never silence, never a crash), a refused
call never reaches the device, and the producer still answers properly afterwards.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping

import pytest
from dbus_fast import Message, MessageType, Variant
from dbus_fast.aio import MessageBus
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bridge.alljoyn.about import about_of_thing
from bridge.alljoyn.bus import parse_bus
from bridge.alljoyn.producer import AllJoynProducer
from bridge.core.events import EventBus
from bridge.core.identity import IdentityBook
from bridge.core.registry import Command, Registry
from bridge.core.thing import Side
from bridge.model import load_catalogue
from bridge.model.types import Value
from bridge.sim.testing.dbus import DBusDaemon
from tests.alljoyn.conftest import OriginDouble
from tests.alljoyn.producers_fixtures import ocf_lamp
from tests.fuzz.conftest import Record
from tests.fuzz.strategies import interfaces, names, paths, texts, variants

PROPERTIES = "org.freedesktop.DBus.Properties"
ON_OFF = "org.alljoyn.SmartSpaces.Operation.OnOffStatus"


class Target:
    def __init__(self, producer: AllJoynProducer, origin: OriginDouble,
                 objects: list[tuple[str, list[str]]]) -> None:
        self.producer, self.origin, self.objects = producer, origin, objects


@pytest.fixture
async def target(dbus_daemon: DBusDaemon) -> AsyncIterator[Target]:
    registry = Registry(EventBus())
    origin = OriginDouble()
    registry.register_handler(Side.OCF, origin)
    thing = registry.upsert(ocf_lamp(IdentityBook(), load_catalogue()))

    async def execute(command: Command) -> Mapping[str, Value]:
        return await registry.command(thing.id, command, Side.ALLJOYN)

    producer = AllJoynProducer(parse_bus(dbus_daemon.address), thing, execute,
                               about_of_thing(thing, "gw"), virtual=True, translate_names=True)
    await producer.start()
    client = await MessageBus(bus_address=dbus_daemon.address).connect()
    try:
        reply = await client.call(Message(destination=_name(producer), path="/About",
                                           interface="org.alljoyn.About",
                                           member="GetObjectDescription"))
        assert reply is not None and reply.message_type is MessageType.METHOD_RETURN
        yield Target(producer, origin, [(p, list(i)) for p, i in reply.body[0]])
    finally:
        client.disconnect()
        await producer.stop()


def _name(producer: AllJoynProducer) -> str:
    bus = producer.bus
    assert bus is not None and bus.unique_name is not None
    return bus.unique_name


members = st.one_of(st.sampled_from(["Get", "Set", "GetAll", "SwitchOn", "SwitchOff",
                                     "GetAboutData", "GetObjectDescription", "Introspect",
                                     "Ping", "Brightness"]),
                    st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,10}", fullmatch=True))


@st.composite
def arguments(draw: st.DrawFn, iface_pool: list[str]) -> list[Variant]:
    """Arguments as variants (each carries its signature); often shaped like Get/Set."""
    shape = draw(st.integers(0, 3))
    if shape == 0:
        return draw(st.lists(variants, max_size=4))
    prop = draw(st.one_of(st.sampled_from(["IsOn", "Brightness", "my_dlevel", "Version"]),
                          texts))
    iface = Variant("s", draw(st.one_of(st.sampled_from(iface_pool), texts)))
    if shape == 1:
        return [iface, Variant("s", prop)]
    return [iface, Variant("s", prop), Variant("v", draw(variants))]


async def test_random_calls_get_errors_and_never_reach_the_device(
        target: Target, dbus_daemon: DBusDaemon, fuzz_cases: Record) -> None:
    loop = asyncio.get_running_loop()
    client = await MessageBus(bus_address=dbus_daemon.address).connect()
    destination = _name(target.producer)
    iface_pool = sorted({i for _p, ifaces in target.objects for i in ifaces} | {PROPERTIES})
    path_pool = sorted({p for p, _i in target.objects} | {"/About"})
    cases = errors = 0

    async def call(msg: Message) -> Message:
        async with asyncio.timeout(10):
            reply = await client.call(msg)
        assert reply is not None
        return reply

    @settings(max_examples=1500, deadline=None, suppress_health_check=list(HealthCheck))
    @given(path=st.one_of(st.sampled_from(path_pool), paths),
           iface=st.one_of(st.sampled_from(iface_pool), interfaces, names),
           member=members, args=arguments(iface_pool))
    def run(path: str, iface: str, member: str, args: list[Variant]) -> None:
        nonlocal cases, errors
        cases += 1
        before = len(target.origin.commands)
        msg = Message(destination=destination, path=path, interface=iface, member=member,
                      signature="".join(a.signature for a in args),
                      body=[a.value for a in args])
        reply = asyncio.run_coroutine_threadsafe(call(msg), loop).result(15)
        assert reply.message_type in (MessageType.METHOD_RETURN, MessageType.ERROR), reply
        if reply.message_type is MessageType.ERROR:
            errors += 1
            assert reply.error_name and "." in reply.error_name
            assert len(target.origin.commands) == before, (msg.member, msg.body, reply.body)

    try:
        await asyncio.to_thread(run)
        # Still answering: a plain Get works after every random call.
        path = next(p for p, i in target.objects if ON_OFF in i)
        reply = await call(Message(destination=destination, path=path, interface=PROPERTIES,
                                   member="Get", signature="ss", body=[ON_OFF, "IsOn"]))
        assert reply.message_type is MessageType.METHOD_RETURN, reply.body
    finally:
        client.disconnect()
    fuzz_cases("D-Bus method calls to a virtual producer", cases)
    assert cases >= 1500 and errors >= 700, (cases, errors)
    # Whatever reached the device was a command the model accepted (the double records it).
    for command in target.origin.commands:
        assert command.capability in {"switch", "brightness", "widget"}, command


