"""The About consumer: finds AllJoyn devices on the bus and keeps their Things up to date.

Layer: ``bridge.alljoyn``. Finds devices through ``org.alljoyn.About.Announce`` signals and an
initial scan of every connection on the bus (``GetAboutData`` with a short timeout, for devices
that announced before the gateway started), validates their About data, reads their objects
and properties, and hands Things to the registry. Then it follows PropertiesChanged and other
signals, and ``NameOwnerChanged``: a device whose connection closes turns unavailable, and the
same DeviceId/AppId coming back (under any unique name) is the same Thing again.
It never exports anything and never talks to the other sides except through the registry.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from typing import Any

from dbus_fast import DBusError, Message, MessageType
from dbus_fast.aio import MessageBus

from bridge.alljoyn.about import ABOUT_INTERFACE, ABOUT_PATH, about_problems
from bridge.alljoyn.bus import BUS_DAEMON, BUS_PATH, add_match, call, method_call, remove_match
from bridge.alljoyn.errors import LANGUAGE_NOT_SUPPORTED
from bridge.alljoyn.interfaces import InterfaceDecl, parse_interfaces
from bridge.alljoyn.peer_quirks import ANNOUNCE_SIGNATURE
from bridge.alljoyn.polling import UnsignalledPoller
from bridge.alljoyn.routes import SignalRoutes
from bridge.alljoyn.things import build_thing, plan_capabilities, polled_interfaces
from bridge.alljoyn.wire import from_dbus, from_variant
from bridge.core.errors import DeviceTimeout
from bridge.core.identity import IdentityBook
from bridge.core.registry import Registry
from bridge.core.thing import Capability, Thing
from bridge.model.types import Catalogue

log = logging.getLogger("ocfaj.alljoyn.consumer")

PROPERTIES = "org.freedesktop.DBus.Properties"
ANNOUNCE_RULE = f"type='signal',interface='{ABOUT_INTERFACE}',member='Announce'"
OWNER_RULE = (f"type='signal',sender='{BUS_DAEMON}',interface='{BUS_DAEMON}',"
              "member='NameOwnerChanged'")
_SCAN_PARALLEL = 16


@dataclass
class DeviceRecord:
    """A device currently on the bus."""

    sender: str
    thing_id: str
    rule: str
    #: where its signals go, built once per set of capabilities of its Thing.
    routes: SignalRoutes = field(default_factory=SignalRoutes)


class AboutConsumer:
    """Discovery and state following on one bus connection (``attach`` per connection)."""

    def __init__(self, registry: Registry, catalogue: Catalogue, book: IdentityBook, *,
                 call_timeout: float, scan_timeout: float,
                 is_own: Callable[[str], bool] = lambda name: False,
                 poll_interval: float = 0.0, poll_const: bool = False,
                 scan_languages: tuple[str, ...] = ()) -> None:
        self.registry = registry
        self.catalogue = catalogue
        self.book = book
        self.call_timeout = call_timeout
        self.scan_timeout = scan_timeout
        self.is_own = is_own
        #: asked in after ``""`` when nothing the device said names its languages (the scan).
        self.scan_languages = scan_languages
        self.poll_const = poll_const
        self.poller = UnsignalledPoller(poll_interval, self._poll)
        self.bus: MessageBus | None = None
        self.invalid: dict[str, str] = {}
        self._devices: dict[str, DeviceRecord] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        #: SupportedLanguages of each application's last About data, by unique name.
        self._known_languages: dict[str, list[str]] = {}
        #: the kinds of malformed signal already reported, by sender.
        self._malformed_said: dict[str, set[str]] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    # -- lifecycle -----------------------------------------------------------------------------

    async def attach(self, bus: MessageBus) -> None:
        """Follow devices on ``bus``: match rules first (so nothing is missed), then the scan."""
        self.bus = bus
        bus.add_message_handler(self._on_message)
        await add_match(bus, ANNOUNCE_RULE, self.call_timeout)
        await add_match(bus, OWNER_RULE, self.call_timeout)
        await self.scan()

    async def detach(self, reason: str) -> None:
        """The connection is gone (or the side stops): every device turns unavailable."""
        bus, self.bus = self.bus, None
        if bus is not None:
            bus.remove_message_handler(self._on_message)
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.poller.stop()
        for record in self._devices.values():
            self.registry.set_available(record.thing_id, False, reason)
        self._devices.clear()
        self._locks.clear()

    def senders(self) -> dict[str, str]:
        """Thing id -> the unique bus name of every device found on the bus."""
        return {record.thing_id: record.sender for record in self._devices.values()}

    def sender_of(self, thing_id: str) -> str | None:
        record = self._record_of(thing_id)
        return None if record is None else record.sender

    def _record_of(self, thing_id: str) -> DeviceRecord | None:
        for record in self._devices.values():
            if record.thing_id == thing_id:
                return record
        return None

    @property
    def device_count(self) -> int:
        return len(self._devices)

    # -- discovery -----------------------------------------------------------------------------

    async def scan(self) -> None:
        """GetAboutData on every connection of the bus, in parallel, with ``scan_timeout``."""
        bus = self.bus
        if bus is None:
            return
        reply = await call(bus, method_call(BUS_DAEMON, BUS_PATH, BUS_DAEMON, "ListNames"),
                           self.call_timeout, "ListNames")
        names = [n for n in reply.body[0] if n.startswith(":") and n != bus.unique_name
                 and not self.is_own(n)]
        limit = asyncio.Semaphore(_SCAN_PARALLEL)

        async def probe(name: str) -> None:
            # The object description is asked for together with the About data, so a device
            # costs the scan one round trip less; it is dropped when the About data fails.
            async with limit:
                about, objects = await asyncio.gather(
                    self._about(name, self.scan_timeout, quiet=True),
                    self._objects_or_none(bus, name, self.scan_timeout))
            if about is not None:
                await self.discover(name, objects, about=about)

        await asyncio.gather(*(probe(n) for n in names))
        log.info("AllJoyn scan: %d connection(s) probed, %d device(s) found", len(names),
                 len(self._devices))

    async def _objects_or_none(self, bus: MessageBus, sender: str,
                               within: float) -> list[tuple[str, list[str]]] | None:
        """GetObjectDescription of ``sender``; None when it fails (discovery asks again)."""
        try:
            reply = await call(bus, method_call(sender, ABOUT_PATH, ABOUT_INTERFACE,
                                                "GetObjectDescription"), within,
                               f"{sender} GetObjectDescription")
        except (DBusError, DeviceTimeout):
            return None
        if reply.signature != "a(oas)":
            return None
        return _objects(reply.body[0])

    async def _about(self, sender: str, within: float, quiet: bool,
                     announced: Mapping[str, Any] | None = None) -> dict[str, Any] | None:
        """The About data of ``sender``: asked for in the default language (``""``), then,
        while the producer answers LanguageNotSupported, in the Announce's DefaultLanguage
        and in each of the SupportedLanguages the consumer knows of (from the Announce, or
        from an earlier About of the same application)."""
        bus = self.bus
        if bus is None:
            return None
        tried: list[str] = []
        failure = ""
        for language in self._languages(sender, announced):
            tried.append(language)
            try:
                reply = await call(bus, method_call(sender, ABOUT_PATH, ABOUT_INTERFACE,
                                                    "GetAboutData", "s", [language]), within,
                                   f"{sender} GetAboutData")
            except DBusError as err:
                if err.type == LANGUAGE_NOT_SUPPORTED:
                    failure = f"{err.type}: {err.text}"
                    continue
                failure = f"{err.type}: {err.text}"
            except DeviceTimeout as err:
                failure = f"no answer ({err.message})"
            else:
                value = (from_dbus("a{sv}", reply.body[0]) if reply.signature == "a{sv}"
                         else None)
                if isinstance(value, dict):
                    self._remember_languages(sender, value)
                    return value
                failure = f"the answer has signature ({reply.signature}), not (a{{sv}})"
            break
        if quiet and failure.startswith(LANGUAGE_NOT_SUPPORTED):
            log.info("AllJoyn application at %s speaks none of the languages the scan tries "
                     "(%s); it is read at its next Announce", sender,
                     ", ".join(repr(t) for t in tried))
        if not quiet:
            name = _announced_name(announced)
            log.warning("AllJoyn device %r at %s announced itself but GetAboutData failed "
                        "(languages tried: %s): %s", name, sender,
                        ", ".join(repr(t) for t in tried), failure)
        return None

    def _languages(self, sender: str, announced: Mapping[str, Any] | None) -> list[str]:
        """``""``, then what the Announce says, then the languages of an earlier About of
        the same application; the scan, which has neither, tries ``scan_languages``."""
        candidates = [""]
        known = self._known_languages.get(sender, [])
        if announced is None and not known:
            candidates += self.scan_languages
        if announced is not None:
            default = announced.get("DefaultLanguage")
            if isinstance(default, str):
                candidates.append(default)
            supported = announced.get("SupportedLanguages")
            if isinstance(supported, list):
                candidates += [t for t in supported if isinstance(t, str)]
        candidates += known
        return list(dict.fromkeys(candidates))

    def _remember_languages(self, sender: str, about: Mapping[str, Any]) -> None:
        supported = about.get("SupportedLanguages")
        if isinstance(supported, list):
            self._known_languages[sender] = [t for t in supported if isinstance(t, str)]

    async def discover(self, sender: str, objects: list[tuple[str, list[str]]] | None = None,
                       about: dict[str, Any] | None = None,
                       announced: Mapping[str, Any] | None = None) -> None:
        """Read everything about the application at ``sender`` and upsert its Thing;
        ``announced`` is the About subset of its Announce, when it announced itself."""
        lock = self._locks.setdefault(sender, asyncio.Lock())
        async with lock:
            try:
                await self._discover(sender, objects, about, announced)
            except (DBusError, DeviceTimeout) as err:
                log.warning("AllJoyn device %s could not be read: %s", sender, err)

    async def _discover(self, sender: str, objects: list[tuple[str, list[str]]] | None,
                        about: dict[str, Any] | None,
                        announced: Mapping[str, Any] | None) -> None:
        bus = self.bus
        if bus is None:
            return
        if about is None:
            about = await self._about(sender, self.call_timeout, quiet=False,
                                      announced=announced)
            if about is None:
                return
        problems = about_problems(about)
        if problems:
            name = about.get("AppName") or about.get("DeviceName") or "?"
            text = "; ".join(problems)
            if self.invalid.get(sender) != text:
                log.warning("AllJoyn device %r at %s ignored, its About data is invalid: %s",
                            name, sender, text)
            self.invalid[sender] = text
            return
        self.invalid.pop(sender, None)
        if objects is None:
            reply = await call(bus, method_call(sender, ABOUT_PATH, ABOUT_INTERFACE,
                                                "GetObjectDescription"), self.call_timeout)
            objects = _objects(reply.body[0])
        label = f"{about.get('AppName')} ({sender})"
        # The calls of one step go out together and their answers are awaited together:
        # one round trip per step instead of one per object or interface.
        paths = list(dict.fromkeys(path for path, _ in objects))
        found = await asyncio.gather(*(self._introspect(bus, sender, path, label)
                                       for path in paths))
        decls: dict[str, dict[str, InterfaceDecl]] = dict(zip(paths, found, strict=True))
        planned = plan_capabilities(objects, decls, self.catalogue, label)
        reads = [(plan, iface) for plan in planned for iface in plan.interfaces]
        replies = await asyncio.gather(*(
            call(bus, method_call(sender, plan.path, PROPERTIES, "GetAll", "s", [iface]),
                 self.call_timeout, f"{label} GetAll {iface} on {plan.path}")
            for plan, iface in reads))
        for (plan, iface), reply in zip(reads, replies, strict=True):
            props = from_dbus("a{sv}", reply.body[0])
            plan.props[iface] = props if isinstance(props, dict) else {}
        thing = build_thing(about, objects, planned, self.book, self.catalogue)
        thing.friendly_name = self.book.friendly_name(thing.id, thing.info.name)
        await self._track(bus, sender, thing.id)
        self.registry.upsert(thing)
        if any(polled_interfaces(cap, self.poll_const) for cap in thing.capabilities.values()):
            self.poller.follow(thing.id, f"{thing.info.name!r} ({sender})")
        else:
            self.poller.forget(thing.id)

    async def _poll(self, thing_id: str) -> None:
        """Read the interfaces of ``thing_id`` that hold properties that do not signal."""
        thing = self.registry.get(thing_id)
        if thing is None:
            return
        for cap in list(thing.capabilities.values()):
            polled = polled_interfaces(cap, self.poll_const)
            if polled:
                await self._read(thing, cap, polled)

    async def _read(self, thing: Thing, cap: Capability, interfaces: list[str]) -> None:
        """GetAll of ``interfaces`` of one capability, straight from the device."""
        bus = self.bus
        record = self._record_of(thing.id)
        if bus is None or record is None:
            return
        sender = record.sender
        for view in record.routes.views(thing, cap):
            if view.decl.name not in interfaces:
                continue
            reply = await call(bus, method_call(sender, str(cap.origin_meta["path"]),
                                                PROPERTIES, "GetAll", "s", [view.decl.name]),
                               self.call_timeout, f"{thing.info.name} GetAll")
            props = from_dbus("a{sv}", reply.body[0])
            if isinstance(props, dict):
                self.registry.update_state(thing.id, cap.key, view.canonical(props))

    async def _introspect(self, bus: MessageBus, sender: str, path: str,
                          label: str) -> dict[str, InterfaceDecl]:
        try:
            reply = await call(bus, method_call(sender, path, "org.freedesktop.DBus."
                                                "Introspectable", "Introspect"),
                               self.call_timeout)
            return parse_interfaces(reply.body[0])
        except (DBusError, DeviceTimeout) as err:
            log.warning("%s: cannot introspect %s: %s", label, path, err)
        except Exception as err:
            log.warning("%s: unreadable introspection of %s: %s", label, path, err)
        return {}

    async def _track(self, bus: MessageBus, sender: str, thing_id: str) -> None:
        for old in [r for r in self._devices.values()
                    if r.thing_id == thing_id and r.sender != sender]:
            await self._forget(old)  # the same device reconnected under a new unique name
        if sender not in self._devices:
            rule = f"type='signal',sender='{sender}'"
            await add_match(bus, rule, self.call_timeout)
            self._devices[sender] = DeviceRecord(sender, thing_id, rule)

    async def _forget(self, record: DeviceRecord) -> None:
        self._devices.pop(record.sender, None)
        self.poller.forget(record.thing_id)
        self._locks.pop(record.sender, None)
        bus = self.bus
        if bus is not None and bus.connected:
            try:
                await remove_match(bus, record.rule, self.call_timeout)
            except (DBusError, DeviceTimeout) as err:
                log.debug("RemoveMatch for %s failed: %s", record.sender, err)

    # -- signals -------------------------------------------------------------------------------

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _on_message(self, msg: Message) -> bool:
        if msg.message_type is not MessageType.SIGNAL or not msg.sender:
            return False
        if msg.interface == ABOUT_INTERFACE and msg.member == "Announce":
            if self.is_own(msg.sender):
                return False
            if msg.signature != ANNOUNCE_SIGNATURE:
                self._malformed(msg, f"an Announce with signature ({msg.signature}), where "
                                     f"org.alljoyn.About.Announce carries ({ANNOUNCE_SIGNATURE})")
            else:
                objects = _objects(msg.body[2])
                announced = from_dbus("a{sv}", msg.body[3])
                self._spawn(self.discover(msg.sender, objects, announced=announced
                                          if isinstance(announced, dict) else None))
        elif msg.sender == BUS_DAEMON and msg.member == "NameOwnerChanged":
            name, _, new_owner = msg.body
            if not new_owner:
                self.invalid.pop(name, None)
                self._known_languages.pop(name, None)
                self._malformed_said.pop(name, None)
                record = self._devices.get(name)
                if record is not None:
                    self._spawn(self._forget(record))
                    self.registry.set_available(record.thing_id, False, "it left the bus")
        elif msg.sender in self._devices:
            self._device_signal(self._devices[msg.sender], msg)
        return False

    def _malformed(self, msg: Message, what: str) -> None:
        """Say once per sender and kind of signal what was wrong with one it dropped."""
        sender = msg.sender or "?"
        key = f"{msg.interface}.{msg.member}"
        said = self._malformed_said.setdefault(sender, set())
        if key in said:
            return
        said.add(key)
        record = self._devices.get(sender)
        thing = self.registry.get(record.thing_id) if record is not None else None
        who = f"{thing.info.name!r} ({sender})" if thing is not None else sender
        log.warning("AllJoyn device %s sent %s; dropped (said once per device)", who, what)

    def _device_signal(self, record: DeviceRecord, msg: Message) -> None:
        thing = self.registry.get(record.thing_id)
        if thing is None:
            return
        if msg.interface == PROPERTIES and msg.member == "PropertiesChanged":
            if msg.signature != "sa{sv}as":
                self._malformed(msg, f"a PropertiesChanged with signature ({msg.signature}), "
                                     "where org.freedesktop.DBus.Properties carries (sa{sv}as)")
                return
            iface, changed, invalidated = msg.body
            found = record.routes.find(thing, msg.path or "", iface)
            if found is None:
                return
            cap, view = found
            values = view.canonical({k: from_variant(v) for k, v in changed.items()})
            if values:
                self.registry.update_state(thing.id, cap.key, values)
            if invalidated:
                self._spawn(self._refresh(thing, cap, view.decl.name))
            return
        found = record.routes.find(thing, msg.path or "", msg.interface or "")
        if found is None or found[0].generic is None:
            return
        cap, view = found
        decl = view.decl.signal(msg.member or "")
        if decl is None:
            return
        if decl.in_signature != msg.signature:
            self._malformed(msg, f"a signal {msg.interface}.{msg.member} with signature "
                                 f"({msg.signature}), where its introspection says "
                                 f"({decl.in_signature})")
            return
        args = {name: from_dbus(sig, value)
                for (name, sig), value in zip(decl.in_args, msg.body, strict=True)}
        self.registry.emit_signal(thing.id, cap.key, decl.name, args)

    async def _refresh(self, thing: Thing, cap: Capability, interface: str) -> None:
        try:
            await self._read(thing, cap, [interface])
        except (DBusError, DeviceTimeout) as err:
            log.warning("%s: re-reading invalidated properties of %s failed: %s",
                        thing.info.name, cap.key, err)


def _announced_name(announced: Mapping[str, Any] | None) -> str:
    if announced is None:
        return "?"
    name = announced.get("AppName") or announced.get("DeviceName") or "?"
    return str(name)


def _objects(description: list[Any]) -> list[tuple[str, list[str]]]:
    """The (path, interfaces) pairs of an About object description (``a(oas)``)."""
    return [(str(path), list(interfaces)) for path, interfaces in description]
