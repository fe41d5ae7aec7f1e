"""The consumer's signal routes (capability and view per object and interface) are built once
per Thing and built again when a device is read again with other interfaces; the reading of a
device, whose calls go out together, still handles a device that fails one of them.

The devices are written with dbus-fast's own service classes, so their introspection and
object description can change while they stay on the bus."""

# No ``from __future__ import annotations``: dbus-fast reads the signatures from the
# annotations of the service methods at class creation.

import logging
from typing import Annotated, Any

import pytest
from dbus_fast import DBusError, Message, Variant
from dbus_fast.aio import MessageBus
from dbus_fast.annotations import DBusInt32, DBusSignature, DBusStr, DBusUInt16
from dbus_fast.constants import PropertyAccess
from dbus_fast.service import ServiceInterface, dbus_method, dbus_property

from bridge.alljoyn.side import AllJoynSide
from bridge.core.registry import Registry
from bridge.core.thing import Side, Thing
from bridge.sim.testing.dbus import DBusDaemon
from bridge.sim.testing.procs import await_until
from tests.alljoyn.conftest import SideFactory, SimFactory

APP_ID = bytes(range(16, 32))
Dict = Annotated[dict[str, Any], DBusSignature("a{sv}")]
Objects = Annotated[list[Any], DBusSignature("a(oas)")]
PROPERTIES = "org.freedesktop.DBus.Properties"


class About(ServiceInterface):
    def __init__(self, name: str, objects: list[list[Any]]) -> None:
        super().__init__("org.alljoyn.About")
        self.app_name = name
        self.objects = objects

    def about(self) -> dict[str, Variant]:
        return {"AppId": Variant("ay", APP_ID), "DefaultLanguage": Variant("s", "en"),
                "DeviceId": Variant("s", f"{self.app_name}-1"),
                "AppName": Variant("s", self.app_name),
                "Manufacturer": Variant("s", "Example"), "ModelNumber": Variant("s", "K1"),
                "SupportedLanguages": Variant("as", ["en"]),
                "Description": Variant("s", "a knob"), "SoftwareVersion": Variant("s", "1"),
                "AJSoftwareVersion": Variant("s", "16.10.00")}

    @dbus_method()
    def GetAboutData(self, language: DBusStr) -> Dict:  # D-Bus member names are CamelCase
        return self.about()

    @dbus_method()
    def GetObjectDescription(self) -> Objects:
        return self.objects

    @dbus_property(access=PropertyAccess.READ)
    def Version(self) -> DBusUInt16:
        return 1


class Knob(ServiceInterface):
    def __init__(self) -> None:
        super().__init__("com.example.Knob")
        self.turn = 1

    @dbus_property(access=PropertyAccess.READ)
    def Turn(self) -> DBusInt32:
        return self.turn


class Dial(ServiceInterface):
    def __init__(self) -> None:
        super().__init__("com.example.Dial")
        self.position = 5

    @dbus_property(access=PropertyAccess.READ)
    def Position(self) -> DBusInt32:
        return self.position


class Jammed(ServiceInterface):
    """An interface whose properties cannot be read: every GetAll of it fails."""

    def __init__(self) -> None:
        super().__init__("com.example.Jammed")

    @dbus_property(access=PropertyAccess.READ)
    def Gear(self) -> DBusInt32:
        raise DBusError("com.example.Error.Jammed", "gears jammed")


def knob_thing(registry: Registry, name: str) -> Thing | None:
    return next((t for t in registry if t.origin is Side.ALLJOYN and t.info.name == name), None)


def announce(bus: MessageBus, about: About) -> None:
    subset = {k: v for k, v in about.about().items()
              if k in ("AppId", "DefaultLanguage", "DeviceId", "AppName", "Manufacturer",
                       "ModelNumber")}
    bus.send(Message.new_signal("/About", "org.alljoyn.About", "Announce", "qqa(oas)a{sv}",
                                [1, 900, about.objects, subset]))


def changed(bus: MessageBus, path: str, interface: str, values: dict[str, Variant]) -> None:
    bus.send(Message.new_signal(path, PROPERTIES, "PropertiesChanged", "sa{sv}as",
                                [interface, values, []]))


def routes_of(side: AllJoynSide, thing: Thing) -> Any:
    record = next(r for r in side.consumer._devices.values() if r.thing_id == thing.id)
    return record.routes


async def test_views_are_kept_between_signals_and_rebuilt_when_the_device_changes(
        dbus_daemon: DBusDaemon, make_side: SideFactory, registry: Registry) -> None:
    bus = await MessageBus(bus_address=dbus_daemon.address).connect()
    try:
        about = About("Knob", [["/About", ["org.alljoyn.About"]],
                               ["/knob", ["com.example.Knob"]]])
        knob, dial = Knob(), Dial()
        bus.export("/About", about)
        bus.export("/knob", knob)
        side = await make_side()
        thing = knob_thing(registry, "Knob")
        assert thing is not None and set(thing.capabilities) == {"knob"}
        routes = routes_of(side, thing)

        changed(bus, "/knob", "com.example.Knob", {"Turn": Variant("i", 2)})
        await await_until(lambda: thing.capabilities["knob"].state["Turn"] == 2)
        first = routes.find(thing, "/knob", "com.example.Knob")
        changed(bus, "/knob", "com.example.Knob", {"Turn": Variant("i", 3)})
        await await_until(lambda: thing.capabilities["knob"].state["Turn"] == 3)
        assert routes.find(thing, "/knob", "com.example.Knob") is first  # built once

        # The device grows an interface and announces it: read again, the new interface's
        # signals reach the new capability, the old one's still reach its own.
        bus.export("/knob", dial)
        about.objects = [["/About", ["org.alljoyn.About"]],
                         ["/knob", ["com.example.Knob", "com.example.Dial"]]]
        announce(bus, about)
        await await_until(lambda: set(thing.capabilities) == {"knob", "dial"},
                          message="the Announce with the new interface to be handled")
        assert thing.capabilities["dial"].state == {"Position": 5}
        changed(bus, "/knob", "com.example.Dial", {"Position": Variant("i", 7)})
        await await_until(lambda: thing.capabilities["dial"].state["Position"] == 7)
        changed(bus, "/knob", "com.example.Knob", {"Turn": Variant("i", 4)})
        await await_until(lambda: thing.capabilities["knob"].state["Turn"] == 4)
        again = routes.find(thing, "/knob", "com.example.Knob")
        assert again is not None and again is not first
        assert again[0] is thing.capabilities["knob"]
    finally:
        bus.disconnect()


async def test_a_device_failing_one_read_is_reported_and_the_others_are_found(
        dbus_daemon: DBusDaemon, make_side: SideFactory, make_sim: SimFactory,
        registry: Registry, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="ocfaj.alljoyn")
    bus = await MessageBus(bus_address=dbus_daemon.address).connect()
    try:
        about = About("Stuck", [["/About", ["org.alljoyn.About"]],
                                ["/knob", ["com.example.Knob"]],
                                ["/gears", ["com.example.Jammed"]],
                                ["/gone", ["com.example.Gone"]]])
        bus.export("/About", about)
        bus.export("/knob", Knob())
        bus.export("/gears", Jammed())
        await make_sim("light", "Lamp")
        side = await make_side()
        assert knob_thing(registry, "Lamp") is not None
        assert knob_thing(registry, "Stuck") is None
        text = caplog.text
        assert f"AllJoyn device {bus.unique_name} could not be read" in text
        assert "gears jammed" in text
        assert "com.example.Gone on /gone is announced but not introspectable" in text

        # The same device without the broken object is read in full at its next Announce.
        about.objects = [o for o in about.objects if o[0] != "/gears"]
        announce(bus, about)
        await await_until(lambda: knob_thing(registry, "Stuck") is not None,
                          message="the device to be read again")
        stuck = knob_thing(registry, "Stuck")
        assert stuck is not None and stuck.capabilities["knob"].state == {"Turn": 1}
        assert side.status()["devices"] == 2
    finally:
        bus.disconnect()
