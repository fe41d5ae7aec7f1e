"""Shared setup of the producer and interop tests: an OCF-origin Thing exported by the side."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dbus_fast import Message
from dbus_fast.aio import MessageBus

from bridge.alljoyn.side import AllJoynSide
from bridge.core.identity import IdentityBook
from bridge.core.registry import Registry
from bridge.core.thing import (
    Capability,
    DeviceInfo,
    GenericProperty,
    GenericSpec,
    Side,
    Thing,
)
from bridge.model.types import Catalogue
from bridge.sim.testing.procs import await_until
from tests.alljoyn.conftest import OriginDouble, SideFactory

DI = "6f0a8c2e-2b7e-4f38-9d2c-2a6c4d3b8e11"
PIID = "1b3c9d52-7d0e-4b1f-8a55-3c2f6e9d4a70"
PI = "c4a1e0f2-55aa-4c3b-9e1d-7f2b0a6c8d93"
BRIGHTNESS = "org.alljoyn.SmartSpaces.Operation.Brightness"
ON_OFF = "org.alljoyn.SmartSpaces.Operation.OnOffStatus"
ON = "org.alljoyn.SmartSpaces.Operation.OnControl"
OFF = "org.alljoyn.SmartSpaces.Operation.OffControl"


def ocf_lamp(book: IdentityBook, catalogue: Catalogue) -> Thing:
    thing_id, identity = book.for_ocf_device(DI, PIID, PI)
    caps = {
        "switch": Capability("switch", "/switch", model=catalogue.capability("switch"),
                             state={"on": False}),
        "brightness": Capability("brightness", "/brightness",
                                 model=catalogue.capability("brightness"),
                                 state={"brightness": 60}),
        "widget": Capability("widget", "/widget/1", generic=GenericSpec(
            interface="example.Widget", resource_types=("x.example.-widget",),
            properties=(GenericProperty("my.level", "i", "rw"),
                        GenericProperty("serial", "s", "r", "const")))),
    }
    caps["widget"].state = {"my.level": 4, "serial": "A-1"}
    return Thing(id=thing_id, origin=Side.OCF, identity=identity,
                 info=DeviceInfo(name="Desk Lamp", manufacturer="Acme", model="L1",
                                 device_types=("oic.d.light",)),
                 capabilities=caps)


@dataclass
class Exported:
    side: AllJoynSide
    thing: Thing
    origin: OriginDouble
    name: str  # the virtual producer's unique name


async def export_lamp(make_side: SideFactory, registry: Registry, book: IdentityBook,
                      catalogue: Catalogue) -> Exported:
    origin = OriginDouble()
    side = await make_side()
    registry.register_handler(Side.OCF, origin)
    thing = registry.upsert(ocf_lamp(book, catalogue))
    await await_until(lambda: side.producers.producer(thing.id) is not None,
                      message="the virtual producer")
    producer = side.producers.producer(thing.id)
    assert producer is not None
    return Exported(side, thing, origin, producer.unique_name)


async def dbus_call(bus: MessageBus, dest: str, path: str, iface: str, member: str,
                    signature: str = "", body: list[Any] | None = None) -> Message:
    return await bus.call(Message(destination=dest, path=path, interface=iface, member=member,
                                  signature=signature, body=body or []))
