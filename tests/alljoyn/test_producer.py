"""Virtual AllJoyn producers for OCF-origin Things, seen by a plain dbus-fast consumer:
About and Announce, properties, methods, PropertiesChanged, errors, availability, removal."""

from __future__ import annotations

import asyncio

from dbus_fast import Message, MessageType, Variant
from dbus_fast.aio import MessageBus

from bridge.alljoyn.about import about_problems
from bridge.alljoyn.wire import from_dbus
from bridge.core.errors import DeviceError, DeviceTimeout
from bridge.core.identity import IdentityBook
from bridge.core.registry import Registry, SetProperties
from bridge.core.thing import Capability, DeviceInfo, Side, Thing
from bridge.model.types import Catalogue
from bridge.sim.testing.procs import await_until
from tests.alljoyn.conftest import OriginDouble, SideFactory
from tests.alljoyn.producers_fixtures import (
    BRIGHTNESS,
    ON,
    ON_OFF,
    dbus_call,
    export_lamp,
    ocf_lamp,
)

PROPS = "org.freedesktop.DBus.Properties"


async def add_match(bus: MessageBus, rule: str) -> None:
    reply = await dbus_call(bus, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                            "org.freedesktop.DBus", "AddMatch", "s", [rule])
    assert reply.message_type is MessageType.METHOD_RETURN


async def test_about_and_announce(client: MessageBus, make_side: SideFactory,
                                  registry: Registry, book: IdentityBook,
                                  catalogue: Catalogue) -> None:
    announces: list[Message] = []

    def collect(msg: Message) -> bool:
        if msg.member == "Announce" and msg.interface == "org.alljoyn.About":
            announces.append(msg)
        return False

    client.add_message_handler(collect)
    await add_match(client, "type='signal',interface='org.alljoyn.About',member='Announce'")
    exported = await export_lamp(make_side, registry, book, catalogue)
    await await_until(lambda: bool(announces), message="the Announce")
    announce = announces[0]
    assert announce.sender == exported.name and announce.path == "/About"
    version, _port, objects, meta = announce.body
    assert version == 1
    description = {path: set(ifaces) for path, ifaces in objects}
    assert description["/About"] == {"org.alljoyn.About", "oic.d.virtual"}
    # the Common Device Models' layout: a device's operation interfaces on one object
    assert description["/light"] == {ON_OFF, ON, "org.alljoyn.SmartSpaces.Operation.OffControl",
                                     BRIGHTNESS}
    assert set(description) == {"/About", "/light", "/widget/1"}
    assert description["/widget/1"] == {"example.Widget"}
    assert set(meta) == {"AppId", "DefaultLanguage", "DeviceName", "DeviceId", "AppName",
                         "Manufacturer", "ModelNumber"}

    reply = await dbus_call(client, exported.name, "/About", "org.alljoyn.About",
                            "GetAboutData", "s", ["en"])
    about = from_dbus("a{sv}", reply.body[0])
    assert about_problems(about) == []
    identity = exported.thing.identity
    assert about["AppId"] == identity.app_id and about["DeviceId"] == identity.device_id
    assert (about["AppName"], about["Manufacturer"], about["ModelNumber"]) == (
        "Desk Lamp", "Acme", "L1")
    assert about["org.openconnectivity.piid"] == identity.piid
    reply = await dbus_call(client, exported.name, "/About", "org.alljoyn.About",
                            "GetAboutData", "s", ["tlh"])
    assert reply.error_name == "org.alljoyn.Error.LanguageNotSupported"
    reply = await dbus_call(client, exported.name, "/About", PROPS, "Get", "ss",
                            ["org.alljoyn.About", "Version"])
    assert reply.body[0].value == 1
    # the gateway's own producers are never consumed back
    assert [t.id for t in registry] == [exported.thing.id]


async def test_properties_and_methods(client: MessageBus, make_side: SideFactory,
                                      registry: Registry, book: IdentityBook,
                                      catalogue: Catalogue) -> None:
    ex = await export_lamp(make_side, registry, book, catalogue)
    reply = await dbus_call(client, ex.name, "/light", PROPS, "GetAll", "s", [BRIGHTNESS])
    assert {k: v.value for k, v in reply.body[0].items()} == {"Version": 1, "Brightness": 0.6}
    reply = await dbus_call(client, ex.name, "/light", PROPS, "Set", "ssv",
                            [BRIGHTNESS, "Brightness", Variant("d", 0.25)])
    assert reply.message_type is MessageType.METHOD_RETURN
    assert ex.origin.commands[-1] == SetProperties("brightness", {"brightness": 25})
    assert ex.thing.capabilities["brightness"].state["brightness"] == 25

    reply = await dbus_call(client, ex.name, "/light", ON, "SwitchOn")
    assert reply.message_type is MessageType.METHOD_RETURN
    assert ex.origin.commands[-1] == SetProperties("switch", {"on": True})
    reply = await dbus_call(client, ex.name, "/light", PROPS, "Get", "ss", [ON_OFF, "IsOn"])
    assert reply.body[0] == Variant("b", True)

    reply = await dbus_call(client, ex.name, "/widget/1", PROPS, "GetAll", "s",
                            ["example.Widget"])
    assert {k: v.value for k, v in reply.body[0].items()} == {"my_dlevel": 4, "serial": "A-1"}
    await dbus_call(client, ex.name, "/widget/1", PROPS, "Set", "ssv",
                    ["example.Widget", "my_dlevel", Variant("i", 7)])
    assert ex.origin.commands[-1] == SetProperties("widget", {"my.level": 7})


async def test_bad_input_gets_clear_errors(client: MessageBus, make_side: SideFactory,
                                           registry: Registry, book: IdentityBook,
                                           catalogue: Catalogue) -> None:
    ex = await export_lamp(make_side, registry, book, catalogue)
    reply = await dbus_call(client, ex.name, "/light", PROPS, "Set", "ssv",
                            [BRIGHTNESS, "Brightness", Variant("s", "bright")])
    assert reply.error_name == "org.freedesktop.DBus.Error.InvalidArgs"
    assert "Brightness" in reply.body[0]
    reply = await dbus_call(client, ex.name, "/light", ON, "SwitchOn", "b", [True])
    assert reply.error_name == "org.freedesktop.DBus.Error.InvalidArgs"
    reply = await dbus_call(client, ex.name, "/light", PROPS, "Set", "ssv",
                            [BRIGHTNESS, "Brightness", Variant("d", 1.5)])
    assert reply.error_name == "org.ocfaj.Error.OutOfRange"
    assert reply.body[0] == f"{BRIGHTNESS}.Brightness = 1.5 is out of range 0..1"
    reply = await dbus_call(client, ex.name, "/light", PROPS, "Set", "ssv",
                            [ON_OFF, "IsOn", Variant("b", True)])
    assert reply.error_name == "org.freedesktop.DBus.Error.PropertyReadOnly"
    assert "IsOn" in reply.body[0]
    reply = await dbus_call(client, ex.name, "/widget/1", PROPS, "Set", "ssv",
                            ["example.Widget", "my_dlevel", Variant("i", 2**31 - 1)])
    assert reply.message_type is MessageType.METHOD_RETURN
    reply = await dbus_call(client, ex.name, "/light", PROPS, "Get", "ss",
                            [BRIGHTNESS, "Nope"])
    assert reply.error_name == "org.freedesktop.DBus.Error.UnknownProperty"
    assert len(ex.origin.commands) == 1  # only the valid widget write reached the origin

    ex.origin.fail = DeviceError(404, "resource /brightness is gone")
    reply = await dbus_call(client, ex.name, "/light", PROPS, "Set", "ssv",
                            [BRIGHTNESS, "Brightness", Variant("d", 0.5)])
    assert reply.error_name == "org.openconnectivity.Error.Code404"
    assert reply.body[0] == "resource /brightness is gone"
    ex.origin.fail = DeviceTimeout("Desk Lamp: no answer within 2 s")
    reply = await dbus_call(client, ex.name, "/light", ON, "SwitchOn")
    assert reply.error_name == "org.openconnectivity.Error.Code504"


async def test_state_changes_emit_properties_changed(client: MessageBus, make_side: SideFactory,
                                                     registry: Registry, book: IdentityBook,
                                                     catalogue: Catalogue) -> None:
    ex = await export_lamp(make_side, registry, book, catalogue)
    changes: list[tuple[str, str, dict[str, object]]] = []

    def collect(msg: Message) -> bool:
        if msg.member == "PropertiesChanged" and msg.sender == ex.name:
            changes.append((msg.path or "", msg.body[0],
                            {k: v.value for k, v in msg.body[1].items()}))
        return False

    client.add_message_handler(collect)
    await add_match(client, f"type='signal',sender='{ex.name}'")
    registry.update_state(ex.thing.id, "brightness", {"brightness": 80})
    registry.update_state(ex.thing.id, "switch", {"on": True})
    registry.update_state(ex.thing.id, "widget", {"serial": "B-2", "my.level": 5})
    await await_until(lambda: len(changes) == 3)
    assert changes == [("/light", BRIGHTNESS, {"Brightness": 0.8}),
                       ("/light", ON_OFF, {"IsOn": True}),
                       ("/widget/1", "example.Widget", {"my_dlevel": 5})]


async def test_availability_and_removal(client: MessageBus, make_side: SideFactory,
                                        registry: Registry, book: IdentityBook,
                                        catalogue: Catalogue) -> None:
    ex = await export_lamp(make_side, registry, book, catalogue)

    async def names() -> list[str]:
        reply = await dbus_call(client, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                                "org.freedesktop.DBus", "ListNames")
        return list(reply.body[0])

    registry.set_available(ex.thing.id, False, "test")
    await await_until(lambda: ex.side.producers.producer(ex.thing.id) is None)
    assert ex.name not in await names()
    registry.set_available(ex.thing.id, True)
    await await_until(lambda: ex.side.producers.producer(ex.thing.id) is not None)
    producer = ex.side.producers.producer(ex.thing.id)
    assert producer is not None and producer.unique_name != ex.name
    reply = await dbus_call(client, producer.unique_name, "/About", "org.alljoyn.About",
                            "GetAboutData", "s", [""])
    assert reply.body[0]["AppId"].value == ex.thing.identity.app_id
    registry.remove(ex.thing.id)
    await await_until(lambda: ex.side.producers.producer(ex.thing.id) is None)
    assert producer.unique_name not in await names()
    assert ex.side.status()["virtual_producers"] == 0


async def test_not_exposable_things_get_no_producer(make_side: SideFactory, registry: Registry,
                                                    book: IdentityBook,
                                                    catalogue: Catalogue) -> None:
    ex = await export_lamp(make_side, registry, book, catalogue)
    twin = ocf_lamp(book, catalogue)
    twin.id, twin.virtual = "ocf:virtual-twin", True
    registry.upsert(twin)
    await asyncio.sleep(0.2)  # give a (wrong) producer time to appear
    assert ex.side.producers.producer(twin.id) is None
    assert ex.side.producers.count == 1


async def test_per_capability_layout_is_an_option(client: MessageBus, make_side: SideFactory,
                                                  registry: Registry, book: IdentityBook,
                                                  catalogue: Catalogue) -> None:
    origin = OriginDouble()
    side = await make_side(object_layout="per-capability")
    registry.register_handler(Side.OCF, origin)
    thing = registry.upsert(ocf_lamp(book, catalogue))
    await await_until(lambda: side.producers.producer(thing.id) is not None)
    producer = side.producers.producer(thing.id)
    assert producer is not None
    reply = await dbus_call(client, producer.unique_name, "/About", "org.alljoyn.About",
                            "GetObjectDescription")
    description = {path: set(ifaces) for path, ifaces in reply.body[0]}
    assert description["/switch"] == {ON_OFF, ON, "org.alljoyn.SmartSpaces.Operation.OffControl"}
    assert description["/brightness"] == {BRIGHTNESS}
    reply = await dbus_call(client, producer.unique_name, "/switch", ON, "SwitchOn")
    assert reply.message_type is MessageType.METHOD_RETURN
    assert origin.commands[-1] == SetProperties("switch", {"on": True})


async def test_cdm_layout_makes_one_unit_per_repeated_capability(
        client: MessageBus, make_side: SideFactory, registry: Registry, book: IdentityBook,
        catalogue: Catalogue) -> None:
    side = await make_side()
    registry.register_handler(Side.OCF, OriginDouble())
    thing_id, identity = book.for_ocf_device("2c1f0a8e-0b7e-4f38-9d2c-2a6c4d3b8e22", "", "")
    switch = catalogue.capability("switch")
    thing = registry.upsert(Thing(
        id=thing_id, origin=Side.OCF, identity=identity,
        info=DeviceInfo(name="Twin Plug", device_types=("oic.d.smartplug",)),
        capabilities={key: Capability(key, f"/{key}", model=switch, state={"on": False})
                      for key in ("switch", "switch_2")}))
    await await_until(lambda: side.producers.producer(thing.id) is not None)
    producer = side.producers.producer(thing.id)
    assert producer is not None
    reply = await dbus_call(client, producer.unique_name, "/About", "org.alljoyn.About",
                            "GetObjectDescription")
    paths = {path for path, _ in reply.body[0]}
    assert paths == {"/About", "/smartplug", "/smartplug/2"}
    registry.update_state(thing.id, "switch_2", {"on": True})
    await await_until(lambda: producer.thing.capabilities["switch_2"].state["on"] is True)
    reply = await dbus_call(client, producer.unique_name, "/smartplug/2", PROPS, "Get", "ss",
                            [ON_OFF, "IsOn"])
    assert reply.body[0] == Variant("b", True)
    reply = await dbus_call(client, producer.unique_name, "/smartplug", PROPS, "Get", "ss",
                            [ON_OFF, "IsOn"])
    assert reply.body[0] == Variant("b", False)
