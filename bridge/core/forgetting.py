"""Forgetting gone devices: a Thing that stays unavailable too long is removed for good.

Layer: ``bridge.core`` (pure apart from event-loop timers: no I/O, no protocol library). OCF
devices that restart without a fixed ``piid`` come back under a new Thing id, so without this
every restart would leave one more "gone" device behind, in ``ocfaj devices``, on the other
sides and on the MQTT broker, forever.

:class:`GoneDevices` follows the registry's events. When a Thing turns unavailable it starts a
timer of ``forget_after`` seconds; the Thing coming back cancels it, so a device that returns
in time keeps its identity. When the timer runs out the Thing is removed from the registry
(``ThingRemoved``: every side withdraws its virtual copy, MQTT clears the retained topics,
the origin side drops its own record so that the device is new if it ever answers again) and
its entry in the identity book is dropped, which keeps the book from growing forever and
frees the device's friendly name. ``forget_after = 0`` keeps gone devices forever.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from bridge.core.events import (
    AvailabilityChanged,
    Event,
    ThingAdded,
    ThingRemoved,
    ThingUpdated,
)
from bridge.core.identity import IdentityBook
from bridge.core.registry import Registry
from bridge.core.thing import Thing

log = logging.getLogger("ocfaj.forgetting")


class GoneDevices:
    """Forgets Things unavailable for ``forget_after`` seconds (0: never).

    The daemon constructs it; :meth:`start` (inside the running event loop) subscribes to the
    registry's events and also times Things that are already unavailable; :meth:`shutdown`
    cancels every timer and is idempotent. A restart of the gateway starts over: the registry
    is not persisted, so nothing gone survives it to be timed.
    """

    def __init__(self, registry: Registry, book: IdentityBook, forget_after: float) -> None:
        self.registry = registry
        self.book = book
        self.forget_after = forget_after
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._gone_since: dict[str, float] = {}
        self._unsubscribe: Callable[[], None] | None = None

    @property
    def timed(self) -> frozenset[str]:
        """Ids of the Things that are gone and will be forgotten unless they return."""
        return frozenset(self._timers)

    def start(self) -> None:
        if self.forget_after <= 0 or self._unsubscribe is not None:
            return
        self._unsubscribe = self.registry.bus.subscribe("gone devices", self._on_event)
        for thing in self.registry:
            self._follow(thing)

    def shutdown(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        for handle in self._timers.values():
            handle.cancel()
        self._timers.clear()
        self._gone_since.clear()

    def _on_event(self, event: Event) -> None:
        if isinstance(event, ThingAdded | ThingUpdated | AvailabilityChanged):
            self._follow(event.thing)
        elif isinstance(event, ThingRemoved):
            self._cancel(event.thing.id)

    def _follow(self, thing: Thing) -> None:
        if thing.available:
            self._cancel(thing.id)
        elif thing.id not in self._timers:
            loop = asyncio.get_running_loop()
            self._gone_since[thing.id] = loop.time()
            self._timers[thing.id] = loop.call_later(self.forget_after, self._forget, thing.id)

    def _cancel(self, thing_id: str) -> None:
        handle = self._timers.pop(thing_id, None)
        if handle is not None:
            handle.cancel()
        self._gone_since.pop(thing_id, None)

    def _forget(self, thing_id: str) -> None:
        self._timers.pop(thing_id, None)
        since = self._gone_since.pop(thing_id, None)
        thing = self.registry.get(thing_id)
        if thing is None or thing.available or since is None:
            return
        gone_for = asyncio.get_running_loop().time() - since
        log.info("forgetting %s device %s (%s): gone for %s (bridge.forget_after is %s); its "
                 "virtual copies, MQTT topics and identity are removed, and it is a new device "
                 "if it ever answers again", thing.origin, thing.info.name, thing.id,
                 duration_text(gone_for), duration_text(self.forget_after))
        self.registry.remove(thing_id)
        self.book.forget(thing_id)


def duration_text(seconds: float) -> str:
    """``"1 d 2 h"``, ``"3 h 5 min"``, ``"4 min 10 s"`` or ``"2.5 s"``: for log lines."""
    if seconds < 60:
        return f"{seconds:.3g} s"
    whole = round(seconds)
    days, rest = divmod(whole, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min {secs} s"
