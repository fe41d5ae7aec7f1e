"""About data and object descriptions from AllJoyn devices, at scale (issue 9 point 3).

Two levels:

- pure: thousands of random About dictionaries through validation, Thing building, the About
  of the virtual producer and the virtual OCF device's ``/oic/d`` and ``/oic/p``. Invalid data
  must be named by ``about_problems``; valid data must make a Thing whose virtual About is
  itself valid and whose OCF payloads encode;
- over a real bus: a device on a private dbus-daemon answers ``GetAboutData``,
  ``GetObjectDescription``, ``Introspect`` and ``GetAll`` with random data, and the gateway's
  ``AboutConsumer`` reads it. It accepts the device or logs why not; it never raises, and it
  still finds a well-behaved device afterwards.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

import pytest
from dbus_fast import Message, MessageType, Variant
from dbus_fast.aio import MessageBus
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bridge.alljoyn.about import about_of_thing, about_problems
from bridge.alljoyn.bus import connect, parse_bus
from bridge.alljoyn.consumer import AboutConsumer
from bridge.alljoyn.things import build_thing
from bridge.alljoyn.wire import from_dbus
from bridge.core.events import EventBus
from bridge.core.identity import IdentityBook
from bridge.core.registry import Registry
from bridge.model import load_catalogue
from bridge.ocf import wire
from bridge.ocf.served import Request, handle
from bridge.ocf.virtual_resources import build_layout
from bridge.sim.testing.dbus import DBusDaemon
from tests.fuzz.conftest import Record
from tests.fuzz.strategies import about_data, object_descriptions, texts, variants

CATALOGUE = load_catalogue()
GOOD_ABOUT = {
    "AppId": Variant("ay", bytes(range(16))), "DefaultLanguage": Variant("s", "en"),
    "DeviceId": Variant("s", "dev-good"), "AppName": Variant("s", "Good"),
    "Manufacturer": Variant("s", "Acme"), "ModelNumber": Variant("s", "G1"),
    "SupportedLanguages": Variant("as", ["en"]), "Description": Variant("s", "fine"),
    "SoftwareVersion": Variant("s", "1"), "AJSoftwareVersion": Variant("s", "16.10.00"),
}
ON_OFF = "org.alljoyn.SmartSpaces.Operation.OnOffStatus"


def test_about_validation_and_thing_building(fuzz_cases: Record) -> None:
    cases = valid = 0
    loop = asyncio.new_event_loop()

    @settings(max_examples=1200, deadline=None, suppress_health_check=list(HealthCheck))
    @given(raw=about_data(), objects=object_descriptions)
    def run(raw: dict[str, Variant], objects: list[tuple[str, list[str]]]) -> None:
        nonlocal cases, valid
        cases += 1
        about = from_dbus("a{sv}", raw)
        assert isinstance(about, dict)
        problems = about_problems(about)
        if problems:
            assert all(isinstance(p, str) and p for p in problems)
            return
        valid += 1
        thing = build_thing(about, objects, [], IdentityBook(), CATALOGUE)
        assert thing.identity.app_id == about["AppId"]
        # What the gateway re-exports must itself be valid About data and encodable OCF.
        mirrored = {k: v for k, (_sig, v) in about_of_thing(thing, "gw").items()}
        assert about_problems(mirrored) == []
        device = build_layout(thing, lambda key: {}, _no_command).device
        for href in ("/oic/d", "/oic/p"):
            reply = loop.run_until_complete(handle(device, Request("GET", href)))
            assert reply.success, reply
            wire.encode(reply.body)

    try:
        run()
    finally:
        loop.close()
    fuzz_cases("About data, validation + Thing building", cases)
    assert cases >= 1200 and valid >= 200, (cases, valid)


async def _no_command(command: Any) -> Any:
    raise AssertionError(f"no command expected, got {command}")


class RandomDevice:
    """An AllJoyn application on the bus whose every answer is whatever the test set."""

    def __init__(self, bus: MessageBus) -> None:
        self.bus = bus
        self.about: dict[str, Variant] = dict(GOOD_ABOUT)
        self.objects: list[tuple[str, list[str]]] = [("/light", [ON_OFF])]
        self.xml = ""
        self.props: dict[str, Variant] = {}
        bus.add_message_handler(self._answer)

    def _answer(self, msg: Message) -> Message | None:
        if msg.message_type is not MessageType.METHOD_CALL:
            return None
        if msg.member == "GetAboutData":
            return Message.new_method_return(msg, "a{sv}", [self.about])
        if msg.member == "GetObjectDescription":
            return Message.new_method_return(msg, "a(oas)", [self.objects])
        if msg.member == "Introspect":
            return Message.new_method_return(msg, "s", [self.xml])
        if msg.member == "GetAll":
            return Message.new_method_return(msg, "a{sv}", [self.props])
        return Message.new_error(msg, "org.freedesktop.DBus.Error.UnknownMethod", "no")


def _xml(objects: list[tuple[str, list[str]]], garbage: str, mode: int) -> str:
    if mode == 0:
        return garbage
    body = "".join(
        f'<interface name="{iface}"><property name="IsOn" type="{"b" if mode == 1 else "s"}" '
        f'access="read"/><method name="M"><arg name="a" type="i" direction="in"/></method>'
        f"</interface>" for _path, ifaces in objects[:1] for iface in ifaces)
    return f"<node>{body}</node>"


async def test_about_consumer_reads_random_devices_on_a_real_bus(
        dbus_daemon: DBusDaemon, fuzz_cases: Record, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    loop = asyncio.get_running_loop()
    registry = Registry(EventBus())
    consumer = AboutConsumer(registry, CATALOGUE, IdentityBook(), call_timeout=2.0,
                             scan_timeout=1.0)
    device_bus = await MessageBus(bus_address=dbus_daemon.address).connect()
    gateway_bus = await connect(parse_bus(dbus_daemon.address))
    device = RandomDevice(device_bus)
    await consumer.attach(gateway_bus)
    sender = device_bus.unique_name
    assert sender is not None
    cases = accepted = 0

    def on_loop(coro: Coroutine[Any, Any, Any]) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, loop).result(30)

    @settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
    # garbage introspection XML: D-Bus strings carry no NUL, so ``texts`` (a device cannot send one)
    @given(about=about_data(), objects=object_descriptions, garbage=texts,
           mode=st.integers(0, 2), props=st.dictionaries(st.sampled_from(["IsOn", "x", ""]),
                                                          variants, max_size=3))
    def run(about: dict[str, Variant], objects: list[tuple[str, list[str]]], garbage: str,
            mode: int, props: dict[str, Variant]) -> None:
        nonlocal cases, accepted
        cases += 1
        device.about, device.objects, device.props = about, objects, props
        device.xml = _xml(objects, garbage, mode)
        before = len(registry)
        on_loop(consumer.discover(sender))
        if len(registry) > before or consumer.sender_of(_last_id(registry)) == sender:
            accepted += 1
        else:
            assert consumer.invalid.get(sender) or caplog.records, "refused without a reason"

    try:
        await asyncio.to_thread(run)
        # The consumer is still healthy: a well-behaved device is found and read.
        device.about, device.objects, device.props = dict(GOOD_ABOUT), [("/light", [ON_OFF])], {
            "IsOn": Variant("b", True), "Version": Variant("q", 1)}
        device.xml = (f'<node><interface name="{ON_OFF}"><property name="IsOn" type="b" '
                      f'access="read"/><property name="Version" type="q" access="read"/>'
                      f"</interface></node>")
        await consumer.discover(sender)
        good = [t for t in registry if t.identity.device_id == "dev-good"]
        assert good and good[0].capabilities, [t.info.name for t in registry]
    finally:
        await consumer.detach("test over")
        gateway_bus.disconnect()
        device_bus.disconnect()
    crashes = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not crashes, [r.getMessage() for r in crashes]
    fuzz_cases("About data + object descriptions over a real bus", cases)
    assert cases >= 400 and accepted >= 1, (cases, accepted)


def _last_id(registry: Registry) -> str:
    things = list(registry)
    return things[-1].id if things else ""
