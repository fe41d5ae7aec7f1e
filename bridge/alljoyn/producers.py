"""Virtual AllJoyn producers for the Things of the other sides.

Layer: ``bridge.alljoyn``. Subscribes to the registry's events and keeps one
:class:`AllJoynProducer` (own bus connection, own ``/About``) per Thing that
``Registry.exposable(thing, Side.ALLJOYN)`` allows and that is available. Commands from AllJoyn
clients go through ``Registry.command`` with source ``Side.ALLJOYN``.

Availability: an unavailable Thing's producer is withdrawn (its connection closes, so AllJoyn
consumers see the application leave) and re-created when the Thing returns. The AppId and
DeviceId come from the Thing's persisted identity, so consumers see the same device again.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable, Coroutine, Mapping
from typing import Any

from dbus_fast import DBusError

from bridge.alljoyn.about import about_of_thing
from bridge.alljoyn.bus import BusChoice
from bridge.alljoyn.producer import AboutSource, AllJoynProducer
from bridge.core.errors import BusUnavailable
from bridge.core.events import (
    AvailabilityChanged,
    Event,
    SignalEmitted,
    StateChanged,
    ThingAdded,
    ThingRemoved,
    ThingUpdated,
)
from bridge.core.registry import Command, Registry
from bridge.core.thing import Capability, Side, Thing
from bridge.model.types import Value

log = logging.getLogger("ocfaj.alljoyn.producers")

VIRTUAL_NAME_PREFIX = "org.ocfaj.Virtual"


class _Route:
    """What a virtual producer asks the registry: which capabilities it exports, and where
    its commands go. One small object whose bound methods the producer holds, instead of two
    closures (with their cells) for every virtual producer."""

    __slots__ = ("policy", "registry", "thing")

    def __init__(self, registry: Registry, thing: Thing) -> None:
        self.registry = registry
        #: the access policy when the producer was made (as it applies to its exports).
        self.policy = registry.policy
        self.thing = thing

    def include(self, cap: Capability) -> bool:
        return self.policy.allows_capability(self.thing, cap, Side.ALLJOYN)

    async def execute(self, command: Command) -> Mapping[str, Value]:
        return await self.registry.command(self.thing.id, command, Side.ALLJOYN)


def virtual_bus_name(thing: Thing) -> str:
    """``org.ocfaj.Virtual.A<AppId hex>``: stable per device, and what the policy allows."""
    return f"{VIRTUAL_NAME_PREFIX}.A{thing.identity.app_id.hex()}"


class ProducerManager:
    """One virtual producer per exposable Thing; ``start``/``stop`` follow the bus connection."""

    def __init__(self, registry: Registry, choice: BusChoice, gateway_name: str, *,
                 call_timeout: float, signal_batch: int,
                 object_layout: str = "cdm") -> None:
        self.registry = registry
        self.choice = choice
        self.gateway_name = gateway_name
        self.call_timeout = call_timeout
        self.signal_batch = signal_batch
        self.object_layout = object_layout
        self.failures = 0
        self._producers: dict[str, AllJoynProducer] = {}
        #: the unique bus names of the producers (asked for every message the consumer sees).
        self._own_names: set[str] = set()
        self._name_of: dict[str, str] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._unsubscribe: Callable[[], None] | None = None
        self._active = False
        #: the same for every producer: the About fields of its Thing, made when asked.
        self._about: AboutSource = functools.partial(about_of_thing, gateway_name=gateway_name)

    @property
    def count(self) -> int:
        return len(self._producers)

    def is_own(self, unique_name: str) -> bool:
        return unique_name in self._own_names

    def bus_names(self) -> dict[str, str]:
        """Thing id -> the unique bus name of each virtual producer that is connected."""
        return {thing_id: p.unique_name for thing_id, p in self._producers.items()
                if p.unique_name}

    def producer(self, thing_id: str) -> AllJoynProducer | None:
        return self._producers.get(thing_id)

    async def start(self) -> None:
        """Export every exposable Thing now and follow the registry from here on."""
        if self._unsubscribe is None:
            self._unsubscribe = self.registry.bus.subscribe("alljoyn producers", self._on_event)
        self._active = True
        await asyncio.gather(*(self._sync(thing.id, False) for thing in self.registry))

    async def stop(self) -> None:
        """Withdraw every producer (bus lost or side stopping); idempotent."""
        self._active = False
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        producers, self._producers = self._producers, {}
        self._own_names.clear()
        self._name_of.clear()
        await asyncio.gather(*(p.stop() for p in producers.values()), return_exceptions=True)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _on_event(self, event: Event) -> None:
        if not self._active:
            return
        if isinstance(event, StateChanged):
            producer = self._producers.get(event.thing.id)
            if producer is not None:
                producer.state_changed(event.capability, event.values)
        elif isinstance(event, SignalEmitted):
            producer = self._producers.get(event.thing.id)
            if producer is not None:
                producer.signal(event.capability, event.signal, event.args)
        elif isinstance(event, ThingAdded | ThingUpdated | AvailabilityChanged | ThingRemoved):
            self._spawn(self._sync(event.thing.id, isinstance(event, ThingUpdated)))

    def _wanted(self, thing: Thing | None) -> bool:
        return (self._active and thing is not None and thing.available
                and self.registry.exposable(thing, Side.ALLJOYN))

    async def _sync(self, thing_id: str, changed: bool) -> None:
        """Bring the producer of ``thing_id`` in line with the Thing (serialised per Thing)."""
        async with self._locks.setdefault(thing_id, asyncio.Lock()):
            thing = self.registry.get(thing_id)
            producer = self._producers.get(thing_id)
            if thing is None or not self._wanted(thing):
                if producer is not None:
                    self._drop(thing_id)
                    await producer.stop()
                    log.info("AllJoyn: withdrew virtual device %s (%s)",
                             producer.thing.info.name, thing_id)
                if thing is None:
                    self._locks.pop(thing_id, None)
                return
            if producer is not None and producer.connected:
                if changed:
                    producer.update(thing)
                return
            if producer is not None:
                self._drop(thing_id)
                await producer.stop()
            await self._create(thing)

    def _drop(self, thing_id: str) -> None:
        del self._producers[thing_id]
        self._own_names.discard(self._name_of.pop(thing_id, ""))

    async def _create(self, thing: Thing) -> None:
        route = _Route(self.registry, thing)
        producer = AllJoynProducer(self.choice, thing, route.execute, self._about, virtual=True,
                                   translate_names=True, call_timeout=self.call_timeout,
                                   signal_batch=self.signal_batch, include=route.include,
                                   bus_name=virtual_bus_name(thing),
                                   layout=self.object_layout)
        try:
            await producer.start()
        except (OSError, DBusError, TimeoutError, ValueError, BusUnavailable) as err:
            self.failures += 1
            await producer.stop()
            hint = ""
            if "LimitsExceeded" in f"{getattr(err, 'type', '')} {err}":
                hint = (f" (the bus refused connection {len(self._producers) + 2}: raise "
                        "max_connections_per_user, see packaging/dbus)")
            log.error("AllJoyn: cannot export %s (%s) on %s: %s%s", thing.info.name, thing.id,
                      self.choice, err, hint)
            return
        self._producers[thing.id] = producer
        self._name_of[thing.id] = producer.unique_name
        self._own_names.add(producer.unique_name)
        log.info("AllJoyn: exported %s (%s) as %s", thing.info.name, thing.id,
                 producer.unique_name)
