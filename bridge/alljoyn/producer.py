"""One AllJoyn application on its own bus connection: ``/About`` plus a Thing's capabilities.

Layer: ``bridge.alljoyn``. Used for the gateway's virtual producers and by the AllJoyn
simulator. It must not know where commands go: it turns calls into ``Command`` objects and
awaits the ``executor`` it was given (the registry for a virtual device, the simulated device
for the simulator).

Why message level instead of dbus-fast's ``ServiceInterface``: the interfaces are generated at
run time from the models or from another device's description, while ``ServiceInterface`` wants
a Python class per interface with decorated methods. A message handler answers Introspect,
``org.freedesktop.DBus.Properties`` and every method from the data in ``InterfaceView`` objects
and writes the introspection XML itself (with EmitsChangedSignal annotations).
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import replace
from typing import Any

from dbus_fast import DBusError, Message, MessageType, NameFlag, RequestNameReply, Variant
from dbus_fast.aio import MessageBus

from bridge import naming
from bridge.alljoyn import errors
from bridge.alljoyn.about import (
    ABOUT_INTERFACE,
    ABOUT_PATH,
    ABOUT_VERSION,
    ANNOUNCED_FIELDS,
    DEFAULT_LANGUAGE,
    VIRTUAL_INTERFACE,
)
from bridge.alljoyn.bus import BusChoice, connect
from bridge.alljoyn.interfaces import InterfaceDecl, MemberDecl, PropertyDecl, node_xml
from bridge.alljoyn.languages import lookup
from bridge.alljoyn.pacing import SignalPacer, consume_send_failure
from bridge.alljoyn.peer_quirks import ProducerQuirks
from bridge.alljoyn.signal_plans import PROPERTIES, ChangePlan
from bridge.alljoyn.views import GenericInterfaceView, InterfaceView, views_of
from bridge.core.errors import CommandError, DeviceError, DeviceTimeout
from bridge.core.registry import Command
from bridge.core.thing import Capability, Thing
from bridge.model.types import Value

log = logging.getLogger("ocfaj.alljoyn.producer")

Executor = Callable[[Command], Awaitable[Mapping[str, Value]]]
AboutFields = dict[str, tuple[str, Any]]
#: Makes the About fields of a Thing when they are asked for (GetAboutData, Announce).
AboutSource = Callable[[Thing], AboutFields]

INTROSPECTABLE = "org.freedesktop.DBus.Introspectable"
PEER = "org.freedesktop.DBus.Peer"
#: AllJoyn's session port has no meaning on plain D-Bus; Announce carries 0.
SESSION_PORT = 0

_ABOUT_DECL = InterfaceDecl(
    ABOUT_INTERFACE,
    properties=(PropertyDecl("Version", "q", "read", "const"),),
    methods=(MemberDecl("GetAboutData", (("languageTag", "s"),), (("aboutData", "a{sv}"),)),
             MemberDecl("GetObjectDescription", (), (("objectDescription", "a(oas)"),))),
    signals=(MemberDecl("Announce", (("version", "q"), ("port", "q"),
                                     ("objectDescription", "a(oas)"),
                                     ("metaData", "a{sv}"))),),
)
_VIRTUAL_DECL = InterfaceDecl(VIRTUAL_INTERFACE)
_PATH_SAFE = re.compile(r"[^A-Za-z0-9_]")

Objects = dict[str, dict[str, InterfaceView]]


def object_path_for(cap: Capability, translate: bool) -> str:
    """Where a capability lives: its origin path, the OCF href mapped, or ``/<key>``."""
    instance = cap.instance
    if not translate and naming.is_valid_object_path(instance):
        return instance
    if instance.startswith("/"):
        try:
            path = naming.uri_to_object_path(instance)
        except naming.NamingError:
            path = ""
        if naming.is_valid_object_path(path) and path != "/":
            return path
    return "/" + (_PATH_SAFE.sub("_", cap.key) or "capability")


class AllJoynProducer:
    """Exports ``thing`` as an AllJoyn application. ``start()``, then ``stop()`` (idempotent)."""

    # One per virtual producer: no instance dictionary each.
    __slots__ = ("_about", "_objects", "_paths", "_plans", "_tasks", "bus", "bus_name",
                 "call_timeout", "choice", "executor", "include", "layout", "pacer", "quirks",
                 "reads", "signal_batch", "thing", "translate_names", "virtual")

    def __init__(self, choice: BusChoice, thing: Thing, executor: Executor,
                 about: AboutFields | AboutSource,
                 *, virtual: bool, translate_names: bool, call_timeout: float = 5.0,
                 signal_batch: int = 100,
                 include: Callable[[Capability], bool] = lambda cap: True,
                 bus_name: str = "", quirks: ProducerQuirks | None = None,
                 layout: str = "per-capability") -> None:
        self.choice = choice
        self.thing = thing
        self.executor = executor
        #: the fields, or what makes them from ``thing`` when asked: a virtual producer's are
        #: its Thing's, so it need not keep a copy of them for as long as it runs.
        self._about = about
        self.virtual = virtual
        self.translate_names = translate_names
        self.call_timeout = call_timeout
        self.signal_batch = signal_batch
        self.include = include
        #: a well-known name to own besides the unique name (the system bus policy lets
        #: clients call ``org.ocfaj.Virtual.*``); failing to get it is not fatal.
        self.bus_name = bus_name
        #: departures from the definitions, for simulated peers only.
        self.quirks = quirks or ProducerQuirks()
        #: ``cdm``: model capabilities share one object per functional unit (docs/alljoyn.md).
        self.layout = layout
        self.bus: MessageBus | None = None
        self.pacer: SignalPacer | None = None
        self._objects: Objects = {}
        #: ``GetAll`` calls answered, by interface (how often consumers read this producer).
        self.reads: dict[str, int] = {}
        self._paths: dict[str, str] = {}
        #: capability key -> how each of its interfaces signals a change (signal_plans), made
        #: at the capability's first change (most never change often).
        self._plans: dict[str, tuple[ChangePlan, ...]] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def about(self) -> AboutFields:
        """The About fields (name -> (signature, value)) this application serves."""
        about = self._about
        return about(self.thing) if callable(about) else about

    @property
    def unique_name(self) -> str:
        return (self.bus.unique_name or "") if self.bus else ""

    @property
    def connected(self) -> bool:
        return self.bus is not None and self.bus.connected

    async def start(self) -> None:
        """Connect, export and announce; raises BusUnavailable/DBusError/TimeoutError on failure."""
        self._layout()
        bus = await connect(self.choice)
        self.bus = bus
        self.pacer = SignalPacer(bus, self.signal_batch, self.call_timeout,
                                 label=f"{self.thing.info.name} ({bus.unique_name})")
        self.pacer.start()
        bus.add_message_handler(self._on_message)
        if self.bus_name:
            await self._request_name(bus)
        self.announce()

    async def _request_name(self, bus: MessageBus) -> None:
        try:
            async with asyncio.timeout(self.call_timeout):
                reply = await bus.request_name(self.bus_name, NameFlag.DO_NOT_QUEUE)
        except (DBusError, TimeoutError) as err:
            log.warning("%s: cannot own %s (%s); clients must use %s", self.thing.info.name,
                        self.bus_name, err, bus.unique_name)
            return
        if reply is not RequestNameReply.PRIMARY_OWNER:
            log.warning("%s: %s is owned by another connection", self.thing.info.name,
                        self.bus_name)

    async def stop(self) -> None:
        """Unregister: pending signals are flushed, then the connection closes, so the bus
        tells every consumer (NameOwnerChanged) that this application is gone."""
        bus, self.bus = self.bus, None
        if self.pacer is not None:
            if bus is not None and bus.connected:
                try:
                    async with asyncio.timeout(self.call_timeout):
                        await self.pacer.drain()
                except TimeoutError:
                    log.warning("%s: dropped signals that could not be sent in time",
                                self.thing.info.name)
            await self.pacer.stop()
            self.pacer = None
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if bus is not None:
            bus.disconnect()
            try:
                await bus.wait_for_disconnect()  # type: ignore[no-untyped-call]
            except Exception:  # the daemon went away first: nothing left to close
                log.debug("bus already gone while stopping %s", self.thing.info.name)

    async def vanish(self) -> None:
        """Disappear at once: no flush of pending signals, the connection just closes."""
        if self.pacer is not None:
            await self.pacer.stop()
            self.pacer = None
        await self.stop()

    def update(self, thing: Thing, about: AboutFields | AboutSource | None = None) -> None:
        """The Thing's capabilities or descriptive facts changed: re-export and announce
        (with new About fields, or those the ``about`` given at the start makes of ``thing``)."""
        self.thing = thing
        if about is not None:
            self._about = about
        self._layout()
        self.announce()

    # -- outgoing signals --------------------------------------------------------------------

    def announce(self) -> None:
        about = self.about
        announced = {k: Variant(about[k][0], about[k][1]) for k in ANNOUNCED_FIELDS
                     if k in about}
        body: list[Any] = [ABOUT_VERSION, SESSION_PORT, self.object_description(), announced]
        self._emit(Message.new_signal(ABOUT_PATH, ABOUT_INTERFACE, "Announce",
                                      self.quirks.announce_signature,
                                      self.quirks.announce_body(body)))

    def state_changed(self, cap_key: str, values: Mapping[str, Value]) -> None:
        cap = self.thing.capabilities.get(cap_key)
        pacer = self.pacer
        if (cap is None or pacer is None or cap_key in self.quirks.silent
                or cap_key in self.quirks.mute):
            return
        plans = self._plans.get(cap_key)
        if plans is None:
            plans = self._change_plans(cap_key)
        for plan in plans:
            signal = plan.message(cap, values)
            if signal is not None:
                pacer.emit(*signal)

    def signal(self, cap_key: str, signal: str, args: Mapping[str, Value]) -> None:
        path = self._paths.get(cap_key)
        if path is None:
            return
        for name, view in self._objects[path].items():
            decl = view.decl.signal(signal)
            if view.key == cap_key and decl is not None and isinstance(view,
                                                                       GenericInterfaceView):
                self._emit(Message.new_signal(path, name, signal, decl.in_signature,
                                              view.signal_body(decl, args)))

    def _emit(self, msg: Message) -> None:
        if self.pacer is not None:
            self.pacer.emit(msg)

    @staticmethod
    def _prop_sig(view: InterfaceView, name: str) -> str:
        prop = view.decl.property(name)
        assert prop is not None
        return prop.signature

    # -- exported objects --------------------------------------------------------------------

    def _layout(self) -> None:
        objects: Objects = {}
        paths: dict[str, str] = {}
        for cap in self.thing.capabilities.values():
            if not self.include(cap):
                continue
            views = views_of(cap, self.translate_names)
            if self.layout == "cdm" and cap.model is not None:
                path = _unit_path(objects, views, _unit_name(self.thing))
            else:
                path = object_path_for(cap, self.translate_names)
                taken = objects.get(path, {})
                if path == ABOUT_PATH or any(v.decl.name in taken for v in views):
                    path = f"{path.rstrip('/')}/{_PATH_SAFE.sub('_', cap.key)}"
            for view in views:
                objects.setdefault(path, {})[view.decl.name] = view
            paths[cap.key] = path
        self._objects = objects
        self._paths = paths
        self._plans = {}

    def _change_plans(self, cap_key: str) -> tuple[ChangePlan, ...]:
        """The ``PropertiesChanged`` plans of capability ``cap_key``, in the order of its
        interfaces on its object (none when it is not exported), kept until the next layout."""
        path = self._paths.get(cap_key)
        plans: tuple[ChangePlan, ...] = ()
        if path is not None:
            try:
                plans = tuple(ChangePlan(path, name, view)
                              for name, view in self._objects[path].items()
                              if view.key == cap_key)
            except (ValueError, TypeError) as err:  # dbus-fast's validation errors
                log.warning("%s: %s at %s cannot signal its changes: %s",
                            self.thing.info.name, cap_key, path, err)
        self._plans[cap_key] = plans
        return plans

    def object_description(self) -> list[list[Any]]:
        about_ifaces = [ABOUT_INTERFACE] + ([VIRTUAL_INTERFACE] if self.virtual else [])
        return [[ABOUT_PATH, about_ifaces]] + [[path, sorted(views)]
                                              for path, views in sorted(self._objects.items())]

    def about_data(self) -> dict[str, Variant]:
        return {k: Variant(sig, value) for k, (sig, value) in self.about.items()}

    def _children(self, path: str) -> list[str]:
        prefix = path.rstrip("/") + "/"
        names = {p[len(prefix):].split("/")[0] for p in (*self._objects, ABOUT_PATH)
                 if p.startswith(prefix) and p != path}
        return sorted(names)

    def _decls(self, path: str) -> list[InterfaceDecl]:
        if path == ABOUT_PATH:
            return [_ABOUT_DECL] + ([_VIRTUAL_DECL] if self.virtual else [])
        return [_silenced(view.decl) if view.key in self.quirks.silent else view.decl
                for view in self._objects.get(path, {}).values()]

    # -- incoming calls ----------------------------------------------------------------------

    def _on_message(self, msg: Message) -> Message | bool:
        if msg.message_type is not MessageType.METHOD_CALL:
            return False
        path, iface, member = msg.path or "/", msg.interface, msg.member or ""
        if iface == PEER:
            return False  # dbus-fast answers Ping and GetMachineId itself
        if iface in (INTROSPECTABLE, None) and member == "Introspect" and not msg.signature:
            return Message.new_method_return(
                msg, "s", [node_xml(self._decls(path), self._children(path), True)])
        if path != ABOUT_PATH and path not in self._objects:
            return Message.new_error(msg, errors.UNKNOWN_OBJECT, f"no object at {path}")
        try:
            if iface == PROPERTIES:
                return self._properties(msg, path, member)
            if path == ABOUT_PATH:
                return self._about_call(msg, iface, member)
            return self._method(msg, path, iface, member)
        except CommandError as err:
            name, text = errors.error_reply(err)
            return Message.new_error(msg, name, text)
        except _Refused as err:
            return Message.new_error(msg, err.name, err.text)

    def _view(self, path: str, iface: str) -> InterfaceView:
        view = self._objects.get(path, {}).get(iface)
        if view is None:
            raise _Refused(errors.UNKNOWN_INTERFACE, f"{path} has no interface {iface}")
        return view

    def _properties(self, msg: Message, path: str, member: str) -> Message | bool:
        expected = {"Get": "ss", "GetAll": "s", "Set": "ssv"}.get(member)
        if expected is None:
            return Message.new_error(msg, errors.UNKNOWN_METHOD, f"{PROPERTIES}.{member}")
        if msg.signature != expected:
            return Message.new_error(msg, errors.INVALID_ARGS,
                                     f"{member} takes ({expected}), got ({msg.signature})")
        iface = msg.body[0]
        try:
            if path == ABOUT_PATH:
                return self._about_properties(msg, member, iface)
            view = self._view(path, iface)
            cap = self.thing.capabilities[view.key]
            if member == "GetAll":
                self.reads[iface] = self.reads.get(iface, 0) + 1
                values = view.read_all(cap)
                return Message.new_method_return(
                    msg, "a{sv}", [{k: Variant(self._prop_sig(view, k), v)
                                    for k, v in values.items()}])
            prop = view.decl.property(msg.body[1])
            if prop is None:
                raise _Refused(errors.UNKNOWN_PROPERTY, f"{iface} has no property {msg.body[1]}")
            if member == "Get":
                return Message.new_method_return(
                    msg, "v", [Variant(prop.signature, view.read(cap, prop.name))])
            value: Variant = msg.body[2]
            if prop.access == "read":
                raise _Refused(errors.PROPERTY_READ_ONLY, f"{iface}.{prop.name} is read-only")
            if value.signature != prop.signature:
                raise _Refused(errors.INVALID_ARGS, f"{iface}.{prop.name} has type "
                               f"{prop.signature}, got a value of type {value.signature}")
            command = view.write(prop.name, value.value)
        except _Refused as err:
            return Message.new_error(msg, err.name, err.text)
        self._run(msg, command, None, None)
        return True

    def _about_properties(self, msg: Message, member: str, iface: str) -> Message:
        if iface not in (ABOUT_INTERFACE, ""):
            raise _Refused(errors.UNKNOWN_INTERFACE, f"{ABOUT_PATH} has no properties of {iface}")
        if member == "GetAll":
            return Message.new_method_return(msg, "a{sv}", [{"Version": Variant("q", 1)}])
        if msg.body[1] != "Version":
            raise _Refused(errors.UNKNOWN_PROPERTY, f"{ABOUT_INTERFACE} has no {msg.body[1]}")
        if member == "Set":
            raise _Refused(errors.PROPERTY_READ_ONLY, f"{ABOUT_INTERFACE}.Version is read-only")
        return Message.new_method_return(msg, "v", [Variant("q", ABOUT_VERSION)])

    def _about_call(self, msg: Message, iface: str | None, member: str) -> Message:
        if iface not in (ABOUT_INTERFACE, None) or _ABOUT_DECL.method(member) is None:
            return Message.new_error(msg, errors.UNKNOWN_METHOD, f"{iface}.{member}")
        if member == "GetObjectDescription":
            return Message.new_method_return(msg, "a(oas)", [self.object_description()])
        if msg.signature != "s":
            return Message.new_error(msg, errors.INVALID_ARGS, "GetAboutData takes (s)")
        language = msg.body[0]
        served = lookup(language, self.languages(), self._default_language())
        if served is None or (language == "" and self.quirks.refuse_empty_language):
            return Message.new_error(msg, errors.LANGUAGE_NOT_SUPPORTED,
                                     f"language {language!r} is not supported (supported: "
                                     f"{', '.join(self.languages())})")
        return Message.new_method_return(msg, "a{sv}", [self.about_data()])

    def _default_language(self) -> str:
        field = self.about.get("DefaultLanguage")
        return str(field[1]) if field else DEFAULT_LANGUAGE

    def languages(self) -> list[str]:
        """The About languages this application serves (``SupportedLanguages``)."""
        field = self.about.get("SupportedLanguages")
        return [str(tag) for tag in field[1]] if field else [self._default_language()]

    def _method(self, msg: Message, path: str, iface: str | None, member: str) -> Message | bool:
        views = ([self._view(path, iface)] if iface is not None
                 else list(self._objects[path].values()))
        for view in views:
            method = view.decl.method(member)
            if method is None:
                continue
            if msg.signature != method.in_signature:
                return Message.new_error(
                    msg, errors.INVALID_ARGS,
                    f"{view.decl.name}.{member} takes ({method.in_signature}), "
                    f"got ({msg.signature})")
            command = view.call(method, list(msg.body))
            self._run(msg, command, view, method)
            return True
        return Message.new_error(msg, errors.UNKNOWN_METHOD,
                                 f"{iface or path} has no method {member}")

    def _run(self, msg: Message, command: Command, view: InterfaceView | None,
             method: MemberDecl | None) -> None:
        task = asyncio.create_task(self._execute(msg, command, view, method))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _execute(self, msg: Message, command: Command, view: InterfaceView | None,
                       method: MemberDecl | None) -> None:
        try:
            # The origin side applies its own timeout; this one only guarantees an answer.
            async with asyncio.timeout(self.call_timeout + 1.0):
                answer = await self.executor(command)
            if view is not None and method is not None:
                reply = Message.new_method_return(msg, method.out_signature,
                                                  view.reply(method, answer))
            else:
                reply = Message.new_method_return(msg)
        except TimeoutError:
            name, text = errors.error_reply(DeviceTimeout(
                f"{self.thing.info.name}: no answer within {self.call_timeout:g} s"))
            reply = Message.new_error(msg, name, text)
        except (CommandError, DeviceError) as err:
            name, text = errors.error_reply(err)
            reply = Message.new_error(msg, name, text)
        except Exception as err:
            log.exception("%s: command %s failed", self.thing.info.name, command)
            name, text = errors.error_reply(err)
            reply = Message.new_error(msg, name, text)
        bus = self.bus
        if bus is not None and bus.connected:
            try:
                # A connection that breaks fails the send future; the side's watcher reports it.
                bus.send(reply).add_done_callback(consume_send_failure)
            except DBusError:
                log.debug("reply for %s could not be sent", msg.member)


def _unit_name(thing: Thing) -> str:
    """The object name of a device's functional units: its device type (``oic.d.light`` ->
    ``light``), else ``device``."""
    for dtype in thing.info.device_types:
        name = _PATH_SAFE.sub("_", dtype.removeprefix("oic.d."))
        if name and name not in ("virtual", "bridge"):
            return name
    return "device"


def _unit_path(objects: Objects, views: list[InterfaceView], name: str) -> str:
    """The first functional unit (``/light``, ``/light/2``...) that has none of ``views``'
    interfaces yet: a second switch of a device makes a second unit."""
    number = 1
    while True:
        path = f"/{name}" if number == 1 else f"/{name}/{number}"
        taken = objects.get(path, {})
        if not any(view.decl.name in taken for view in views):
            return path
        number += 1


def _silenced(decl: InterfaceDecl) -> InterfaceDecl:
    """``decl`` with every changing property annotated as one that never signals."""
    props = tuple(p if p.emits_changed == "const" else replace(p, emits_changed="false")
                  for p in decl.properties)
    return replace(decl, properties=props)


class _Refused(Exception):
    """A call refused with a specific D-Bus error name."""

    def __init__(self, name: str, text: str) -> None:
        super().__init__(text)
        self.name = name
        self.text = text
