"""The AllJoyn consumer of the end-to-end tests: a plain dbus-fast connection on the private bus.

It hears ``Announce``, ``PropertiesChanged`` and ``NameOwnerChanged`` signals, and finds
applications by scanning the bus (``GetObjectDescription`` + ``GetAboutData`` on ``/About`` of
every unique name), which also finds applications that announced before the consumer connected.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from dbus_fast import Message, MessageType, Variant
from dbus_fast.aio import MessageBus

ABOUT = "org.alljoyn.About"
PROPERTIES = "org.freedesktop.DBus.Properties"
VIRTUAL = "oic.d.virtual"
ON_OFF_STATUS = "org.alljoyn.SmartSpaces.Operation.OnOffStatus"
ON_CONTROL = "org.alljoyn.SmartSpaces.Operation.OnControl"
OFF_CONTROL = "org.alljoyn.SmartSpaces.Operation.OffControl"
BRIGHTNESS = "org.alljoyn.SmartSpaces.Operation.Brightness"
CURRENT_TEMPERATURE = "org.alljoyn.SmartSpaces.Environment.CurrentTemperature"
TARGET_TEMPERATURE = "org.alljoyn.SmartSpaces.Environment.TargetTemperature"


def unwrap(value: Any) -> Any:
    if isinstance(value, Variant):
        return unwrap(value.value)
    if isinstance(value, dict):
        return {k: unwrap(v) for k, v in value.items()}
    if isinstance(value, list):
        return [unwrap(v) for v in value]
    return value


@dataclass
class App:
    """One AllJoyn application on the bus, as its ``/About`` describes it."""

    unique_name: str
    about: dict[str, Any]
    objects: dict[str, list[str]]

    @property
    def name(self) -> str:
        return str(self.about.get("AppName", ""))

    @property
    def app_id(self) -> bytes:
        return bytes(self.about.get("AppId", b""))

    @property
    def device_id(self) -> str:
        return str(self.about.get("DeviceId", ""))

    @property
    def virtual(self) -> bool:
        return VIRTUAL in self.objects.get("/About", [])

    def path_of(self, interface: str) -> str:
        for path, interfaces in self.objects.items():
            if interface in interfaces:
                return path
        raise AssertionError(f"{self.name} ({self.unique_name}) has no {interface}: "
                             f"{self.objects}")


@dataclass
class Changed:
    sender: str
    path: str
    interface: str
    values: dict[str, Any]


class Consumer:
    """See the module docstring. ``await Consumer.connect(address)``, then ``close()``."""

    def __init__(self, bus: MessageBus) -> None:
        self.bus = bus
        self.announced: list[tuple[str, dict[str, Any]]] = []
        self.changes: list[Changed] = []
        self.owner_changes: list[tuple[str, str, str]] = []
        #: ``wait_change`` looks only at changes after the last one it returned, so that
        #: successive waits for the same property see successive changes.
        self._cursor = 0
        bus.add_message_handler(self._on_message)

    @classmethod
    async def connect(cls, address: str) -> Consumer:
        bus = await MessageBus(bus_address=address).connect()
        consumer = cls(bus)
        for rule in (f"type='signal',interface='{ABOUT}',member='Announce'",
                     f"type='signal',interface='{PROPERTIES}',member='PropertiesChanged'",
                     "type='signal',sender='org.freedesktop.DBus',member='NameOwnerChanged'"):
            await consumer._call("org.freedesktop.DBus", "/org/freedesktop/DBus",
                                 "org.freedesktop.DBus", "AddMatch", "s", [rule])
        return consumer

    def close(self) -> None:
        self.bus.disconnect()

    def _on_message(self, msg: Message) -> bool:
        if msg.message_type is not MessageType.SIGNAL:
            return False
        if msg.interface == ABOUT and msg.member == "Announce":
            self.announced.append((msg.sender or "", unwrap(msg.body[3])))
        elif msg.interface == PROPERTIES and msg.member == "PropertiesChanged":
            self.changes.append(Changed(msg.sender or "", msg.path or "", msg.body[0],
                                        unwrap(msg.body[1])))
        elif msg.member == "NameOwnerChanged":
            self.owner_changes.append((msg.body[0], msg.body[1], msg.body[2]))
        return False

    async def _call(self, destination: str, path: str, interface: str, member: str,
                    signature: str = "", body: list[Any] | None = None,
                    within: float = 10.0) -> Message:
        async with asyncio.timeout(within):
            reply = await self.bus.call(Message(destination=destination, path=path,
                                                interface=interface, member=member,
                                                signature=signature, body=body or []))
        assert reply is not None
        return reply

    # -- finding applications --------------------------------------------------------------

    async def scan(self) -> list[App]:
        """Every application on the bus that answers About (``/About``)."""
        reply = await self._call("org.freedesktop.DBus", "/org/freedesktop/DBus",
                                 "org.freedesktop.DBus", "ListNames")
        names = [n for n in reply.body[0] if n.startswith(":") and n != self.bus.unique_name]
        found = await asyncio.gather(*(self._about(name) for name in names))
        return [app for app in found if app is not None]

    async def _about(self, name: str) -> App | None:
        try:
            objects = await self._call(name, "/About", ABOUT, "GetObjectDescription",
                                       within=3.0)
            about = await self._call(name, "/About", ABOUT, "GetAboutData", "s", ["en"],
                                     within=3.0)
        except (TimeoutError, OSError):
            return None
        if MessageType.ERROR in (objects.message_type, about.message_type):
            return None
        return App(name, unwrap(about.body[0]), {path: list(ifaces)
                                                 for path, ifaces in objects.body[0]})

    async def wait_apps(self, predicate: Callable[[list[App]], bool], within: float = 20.0,
                        what: str = "") -> list[App]:
        """Scan until ``predicate(apps)`` holds; returns the apps of that scan."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while True:
            apps = await self.scan()
            if predicate(apps):
                return apps
            if loop.time() > deadline:
                seen = [(a.name, a.virtual, a.unique_name) for a in apps]
                raise AssertionError(f"timed out after {within} s waiting for {what}; "
                                     f"applications on the bus: {seen}")
            await asyncio.sleep(0.2)

    async def wait_app(self, name: str, *, virtual: bool | None = None,
                       within: float = 20.0) -> App:
        """The application called ``name`` (and virtual or not, when given)."""
        def match(app: App) -> bool:
            return app.name == name and (virtual is None or app.virtual == virtual)

        apps = await self.wait_apps(lambda apps: any(match(a) for a in apps), within,
                                    f"application {name!r} (virtual={virtual})")
        return next(a for a in apps if match(a))

    # -- using an application -------------------------------------------------------------

    async def get(self, app: App, interface: str, prop: str) -> Any:
        reply = await self._call(app.unique_name, app.path_of(interface), PROPERTIES, "Get",
                                 "ss", [interface, prop])
        assert reply.message_type is MessageType.METHOD_RETURN, (reply.error_name, reply.body)
        return unwrap(reply.body[0])

    async def set(self, app: App, interface: str, prop: str, value: Variant) -> Message:
        """``Properties.Set``; returns the reply (a method return or an error)."""
        return await self._call(app.unique_name, app.path_of(interface), PROPERTIES, "Set",
                                "ssv", [interface, prop, value])

    async def invoke(self, app: App, interface: str, method: str) -> Message:
        """Call an argument-less method; returns the reply (a method return or an error)."""
        return await self._call(app.unique_name, app.path_of(interface), interface, method)

    async def wait_change(self, sender: str, interface: str, prop: str, value: Any,
                          within: float = 15.0) -> Changed:
        """The next ``PropertiesChanged`` of ``sender`` that sets ``prop`` to ``value``."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while loop.time() < deadline:
            for index in range(self._cursor, len(self.changes)):
                change = self.changes[index]
                if (change.sender == sender and change.interface == interface
                        and change.values.get(prop) == value):
                    self._cursor = index + 1
                    return change
            await asyncio.sleep(0.05)
        seen = [(c.sender, c.interface, c.values) for c in self.changes]
        raise AssertionError(f"no PropertiesChanged {interface}.{prop}={value!r} from "
                             f"{sender} within {within} s; saw {seen}")

    async def wait_gone(self, unique_name: str, within: float = 15.0) -> None:
        """Until the bus reports (NameOwnerChanged) that ``unique_name`` left."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while loop.time() < deadline:
            if any(name == unique_name and not new for name, _old, new in self.owner_changes):
                return
            await asyncio.sleep(0.05)
        raise AssertionError(f"{unique_name} did not leave the bus within {within} s")


@contextlib.asynccontextmanager
async def consumer_on(address: str) -> Any:
    consumer = await Consumer.connect(address)
    try:
        yield consumer
    finally:
        consumer.close()
