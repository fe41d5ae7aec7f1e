"""An AllJoyn device with an interface no model covers, written with dbus-fast's own service
classes (not with the gateway's producer): it crosses through the generic mapping, with
properties, methods with out-arguments, signals and error codes."""

# No ``from __future__ import annotations``: dbus-fast reads the signatures from the
# annotations of the service methods at class creation.

from typing import Annotated, Any

import pytest
from dbus_fast import DBusError, Variant
from dbus_fast.aio import MessageBus
from dbus_fast.annotations import DBusInt32, DBusSignature, DBusStr, DBusUInt16
from dbus_fast.constants import PropertyAccess
from dbus_fast.service import ServiceInterface, dbus_method, dbus_property, dbus_signal

from bridge.core.errors import DeviceError
from bridge.core.events import Event, SignalEmitted
from bridge.core.registry import InvokeMethod, Registry, SetProperties
from bridge.core.thing import Side, Thing
from bridge.sim.testing.dbus import DBusDaemon
from bridge.sim.testing.procs import await_until
from tests.alljoyn.conftest import SideFactory

APP_ID = bytes(range(16))
Dict = Annotated[dict[str, Any], DBusSignature("a{sv}")]
Objects = Annotated[list[Any], DBusSignature("a(oas)")]


class About(ServiceInterface):
    def __init__(self) -> None:
        super().__init__("org.alljoyn.About")

    @dbus_method()
    def GetAboutData(self, language: DBusStr) -> Dict:  # D-Bus member names are CamelCase
        return {"AppId": Variant("ay", APP_ID), "DefaultLanguage": Variant("s", "en"),
                "DeviceId": Variant("s", "widget-1"), "AppName": Variant("s", "Widget"),
                "Manufacturer": Variant("s", "Example"), "ModelNumber": Variant("s", "W1"),
                "SupportedLanguages": Variant("as", ["en"]),
                "Description": Variant("s", "a widget"), "SoftwareVersion": Variant("s", "2"),
                "AJSoftwareVersion": Variant("s", "16.10.00"),
                "com.example.Colour": Variant("s", "blue")}

    @dbus_method()
    def GetObjectDescription(self) -> Objects:
        return [["/About", ["org.alljoyn.About"]], ["/widget", ["com.example.Widget"]]]

    @dbus_property(access=PropertyAccess.READ)
    def Version(self) -> DBusUInt16:
        return 1


class Widget(ServiceInterface):
    def __init__(self) -> None:
        super().__init__("com.example.Widget")
        self.level = 3

    @dbus_property()
    def Level(self) -> DBusInt32:
        return self.level

    @Level.setter  # type: ignore[no-redef]
    def Level(self, value: DBusInt32) -> None:
        self.level = value

    @dbus_property(access=PropertyAccess.READ)
    def Label(self) -> DBusStr:
        return "w"

    @dbus_method()
    def Add(self, a: DBusInt32, b: DBusInt32) -> DBusInt32:
        return a + b

    @dbus_method()
    def Refuse(self) -> None:
        raise DBusError("org.openconnectivity.Error.Code404", "nothing here")

    @dbus_method()
    def Crash(self) -> None:
        raise DBusError("com.example.Error.Jammed", "gears jammed")

    @dbus_signal()
    def Pinged(self, text: str) -> DBusStr:
        return text


@pytest.fixture
async def widget(dbus_daemon: DBusDaemon) -> Any:
    bus = await MessageBus(bus_address=dbus_daemon.address).connect()
    service = Widget()
    bus.export("/About", About())
    bus.export("/widget", service)
    yield service
    bus.disconnect()


def widget_thing(registry: Registry) -> Thing:
    return next(t for t in registry if t.origin is Side.ALLJOYN)


async def test_generic_interface_crosses(widget: Widget, make_side: SideFactory,
                                         registry: Registry) -> None:
    await make_side()
    thing = widget_thing(registry)
    assert thing.info.extra["com.example.Colour"] == "blue"
    assert thing.info.device_types == ()
    cap = thing.capabilities["widget"]
    assert cap.model is None and cap.generic is not None
    assert cap.generic.interface == "com.example.Widget"
    level = cap.generic.property("Level")
    assert level is not None and (level.signature, level.access) == ("i", "rw")
    label = cap.generic.property("Label")
    assert label is not None and label.access == "r"
    add = cap.generic.method("Add")
    assert add is not None and add.in_args == (("a", "i"), ("b", "i"))
    assert [s.name for s in cap.generic.signals] == ["Pinged"]
    assert cap.state == {"Level": 3, "Label": "w"}

    await registry.command(thing.id, SetProperties("widget", {"Level": 9}), Side.MQTT)
    assert widget.level == 9
    answer = await registry.command(thing.id, InvokeMethod("widget", "Add", {"a": 2, "b": 40}),
                                    Side.MQTT)
    assert answer == {"out0": 42}

    widget.level = 11
    widget.emit_properties_changed({"Level": 11})
    await await_until(lambda: cap.state["Level"] == 11)

    signals: list[SignalEmitted] = []

    def watch(event: Event) -> None:
        if isinstance(event, SignalEmitted):
            signals.append(event)

    registry.bus.subscribe("test", watch)
    widget.Pinged("hello")
    await await_until(lambda: bool(signals))
    assert (signals[0].capability, signals[0].signal, dict(signals[0].args)) == (
        "widget", "Pinged", {"arg0": "hello"})


async def test_device_errors_map_to_codes(widget: Widget, make_side: SideFactory,
                                          registry: Registry) -> None:
    await make_side()
    thing = widget_thing(registry)
    with pytest.raises(DeviceError) as caught:
        await registry.command(thing.id, InvokeMethod("widget", "Refuse"), Side.MQTT)
    assert (caught.value.code, caught.value.message) == (404, "nothing here")
    with pytest.raises(DeviceError) as caught:
        await registry.command(thing.id, InvokeMethod("widget", "Crash"), Side.MQTT)
    assert (caught.value.code, caught.value.message) == (
        500, "com.example.Error.Jammed: gears jammed")
