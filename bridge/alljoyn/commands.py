"""Carrying out checked commands on AllJoyn devices (the AllJoyn side's CommandHandler).

Layer: ``bridge.alljoyn``. The registry has already validated the command against the model or
the generic signature; this module only chooses the D-Bus operation and maps the answer:
a model write becomes a Set on the writable property that carries it, or a call of the method
whose ``sets`` matches (``on = true`` -> ``SwitchOn()``); a generic write is a Set, a generic
method call is a call whose out-arguments come back by name. Every call has a timeout.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Mapping
from typing import Any

from dbus_fast import DBusError, Message

from bridge.alljoyn.bus import call, method_call
from bridge.alljoyn.consumer import PROPERTIES, AboutConsumer
from bridge.alljoyn.errors import device_error
from bridge.alljoyn.things import consumer_views, has_unsignalled
from bridge.alljoyn.views import (
    GenericInterfaceView,
    InterfaceView,
    ModelInterfaceView,
    tidy,
)
from bridge.alljoyn.wire import from_dbus, is_integer_signature, to_dbus, variant
from bridge.core.errors import DeviceError
from bridge.core.registry import Command, CommandHandler, InvokeMethod
from bridge.core.thing import Capability, Thing
from bridge.core.values import to_side
from bridge.model.types import Value


class AllJoynCommands(CommandHandler):
    """Executes commands for Things whose origin is AllJoyn."""

    def __init__(self, consumer: AboutConsumer, call_timeout: float,
                 read_cache: float = 0.0, read_through: str = "unsignalled") -> None:
        self.consumer = consumer
        self.call_timeout = call_timeout
        #: ``all``: every capability reads through; ``unsignalled``: those that do not signal.
        self.read_through_all = read_through == "all"
        #: seconds a read stays fresh enough to answer the next refresh without the device.
        self.read_cache = read_cache
        self._read_at: dict[tuple[str, str], float] = {}
        #: reads on their way to the device: a read asked for meanwhile waits for the same one.
        self._reading: dict[tuple[str, str], asyncio.Task[dict[str, Value]]] = {}

    async def execute(self, thing: Thing, command: Command) -> Mapping[str, Value]:
        cap = thing.capabilities[command.capability]
        views = consumer_views(cap)
        if isinstance(command, InvokeMethod):
            return await self._invoke(thing, cap, views, command)
        for name, value in command.values.items():
            await self._write(thing, cap, views, name, value)
        return dict(command.values)

    def reads_through(self, thing: Thing, capability: str) -> bool:
        """Whether a read from another side asks the device (``refresh``): every capability
        with ``read_through = "all"``; else those holding properties the device does not
        signal (``EmitsChangedSignal`` ``false`` or ``const``), whose changes the consumer
        cannot know until it reads them."""
        cap = thing.capabilities.get(capability)
        if cap is None:
            return False
        if self.read_through_all:
            return True
        return has_unsignalled(cap)

    def fresh(self, thing: Thing, capability: str) -> bool:
        """Whether the last read of ``capability`` is younger than ``read_cache`` (a refresh
        now would answer from the kept state without asking the device)."""
        read_at = self._read_at.get((thing.id, capability))
        return (read_at is not None
                and time.monotonic() - read_at < self.read_cache)

    def fresh_until(self, thing: Thing, capability: str) -> float:
        """Until when :meth:`fresh` holds: ``read_cache`` seconds after the last read."""
        read_at = self._read_at.get((thing.id, capability))
        return -math.inf if read_at is None else read_at + self.read_cache

    async def refresh(self, thing: Thing, capability: str) -> Mapping[str, Value]:
        """Read the capability through from the device, unless it was read less than
        ``read_cache`` seconds ago (then its current state is the answer). Reads asked for
        while one is on its way share it, so a burst costs the device one read."""
        cap = thing.capabilities[capability]
        key = (thing.id, capability)
        if self.fresh(thing, capability):
            return dict(cap.state)
        task = self._reading.get(key)
        if task is None:
            task = self._reading[key] = asyncio.create_task(self._read_device(thing, cap))
            task.add_done_callback(lambda done: self._read_done(key, done))
        return dict(await asyncio.shield(task))

    def _read_done(self, key: tuple[str, str], task: asyncio.Task[dict[str, Value]]) -> None:
        self._reading.pop(key, None)
        if not task.cancelled():
            task.exception()  # retrieved here too: every waiter may have gone meanwhile

    async def _read_device(self, thing: Thing, cap: Capability) -> dict[str, Value]:
        state: dict[str, Value] = {}
        for view in consumer_views(cap):
            reply = await self._call(thing, cap, PROPERTIES, "GetAll", "s", [view.decl.name])
            props = from_dbus("a{sv}", reply.body[0])
            state.update(view.canonical(props if isinstance(props, dict) else {}))
        self._read_at[(thing.id, cap.key)] = time.monotonic()
        return state

    async def _write(self, thing: Thing, cap: Capability, views: list[InterfaceView],
                     name: str, value: Value) -> None:
        for view in views:
            if isinstance(view, GenericInterfaceView):
                prop = view.decl.property(name)
                if prop is not None:
                    await self._call(thing, cap, PROPERTIES, "Set", "ssv",
                                     [view.decl.name, name, variant(prop.signature, value, name)])
                    return
            elif isinstance(view, ModelInterfaceView):
                for pb in view.binding.properties:
                    if (pb.value is not None and pb.value.canonical == name
                            and pb.access == "readwrite"):
                        side = tidy(to_side(pb.value, value,
                                            integer=is_integer_signature(pb.signature)))
                        await self._call(thing, cap, PROPERTIES, "Set", "ssv",
                                         [view.decl.name, pb.name,
                                          variant(pb.signature, side, pb.name)])
                        return
        for view in views:
            if not isinstance(view, ModelInterfaceView):
                continue
            for mb in view.binding.methods:
                if not mb.in_args and dict(mb.sets) == {name: value}:
                    await self._call(thing, cap, view.decl.name, mb.name)
                    return
            for mb in view.binding.methods:
                if any(canonical == name for _, _, canonical in mb.in_args) and not mb.sets:
                    args = [to_dbus(sig, to_side(view.value_binding(canonical),
                                                 value if canonical == name else
                                                 cap.state.get(canonical),
                                                 integer=is_integer_signature(sig)), arg)
                            for arg, sig, canonical in mb.in_args]
                    sig = "".join(s for _, s, _ in mb.in_args)
                    await self._call(thing, cap, view.decl.name, mb.name, sig, args)
                    return
        raise DeviceError(501, f"{thing.info.name} offers no way to set {cap.key}.{name}")

    async def _invoke(self, thing: Thing, cap: Capability, views: list[InterfaceView],
                      command: InvokeMethod) -> dict[str, Value]:
        for view in views:
            method = view.decl.method(command.method)
            if method is None:
                continue
            body = [to_dbus(sig, command.args.get(name), name) for name, sig in method.in_args]
            reply = await self._call(thing, cap, view.decl.name, method.name,
                                     method.in_signature, body)
            return {name: from_dbus(sig, value)
                    for (name, sig), value in zip(method.out_args, reply.body, strict=False)}
        raise DeviceError(501, f"{thing.info.name} has no method {command.method}")

    async def _call(self, thing: Thing, cap: Capability, interface: str, member: str,
                    signature: str = "", body: list[Any] | None = None) -> Message:
        sender = self.consumer.sender_of(thing.id)
        bus = self.consumer.bus
        if sender is None or bus is None:
            raise DeviceError(503, f"{thing.info.name} is not on the bus")
        path = str(cap.origin_meta.get("path", "/"))
        msg = method_call(sender, path, interface, member, signature, body)
        try:
            return await call(bus, msg, self.call_timeout,
                              f"{thing.info.name} {interface}.{member}")
        except DBusError as err:
            raise device_error(err.type, err.text) from None
