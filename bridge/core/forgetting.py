"""Forgetting gone devices: a Thing that stays unavailable too long is removed for good.

Layer: ``bridge.core`` (pure apart from event-loop timers and the wall clock: no I/O, no
protocol library). OCF devices that restart without a fixed ``piid`` come back under a new
Thing id, so without this every restart would leave one more "gone" device behind, in
``ocfaj devices``, on the other sides and on the MQTT broker, forever.

:class:`GoneDevices` follows the registry's events. When a Thing turns unavailable it starts a
timer of ``forget_after`` seconds and writes the wall-clock time into the Thing's identity
book entry (``gone_since``); the Thing coming back cancels the timer and clears the time, so a
device that returns in time keeps its identity. When the timer runs out the Thing is removed
from the registry (``ThingRemoved``: every side withdraws its virtual copy, MQTT clears the
retained topics, the origin side drops its own record so that the device is new if it ever
answers again), its entry in the identity book is dropped, which keeps the book from growing
forever and frees the device's friendly name, and ``ThingForgotten`` follows.
``forget_after = 0`` keeps gone devices forever.

The registry starts empty at every start of the gateway, so the book is what survives it. At
:meth:`GoneDevices.start` every book entry whose Thing is not (yet) in the registry is timed
from its stored ``gone_since``, or from now when it has none (its device was there when the
gateway stopped, or it stopped without saving): such a device is forgotten when its time is up,
but never before ``settle`` seconds after the start, the time the origin sides need to find a
device that is there. A device that answers first is kept, as within one run. The wall clock
may jump (a board without a real-time clock sets it from NTP after booting): a stored time in
the future counts as "gone since now", so a jump can delay forgetting, never hasten it beyond
``settle``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from bridge.core.events import (
    AvailabilityChanged,
    Event,
    ThingAdded,
    ThingForgotten,
    ThingRemoved,
    ThingUpdated,
)
from bridge.core.identity import IdentityBook
from bridge.core.registry import Registry
from bridge.core.thing import Thing

log = logging.getLogger("ocfaj.forgetting")


class GoneDevices:
    """Forgets Things unavailable for ``forget_after`` seconds (0: never).

    The daemon constructs it; :meth:`start` (inside the running event loop, after the book was
    loaded) subscribes to the registry's events and times the Things that are already
    unavailable and the book entries of devices not in the registry (see the module
    docstring for ``settle``); :meth:`shutdown` cancels every timer and is idempotent.
    ``clock`` gives the wall-clock time stored in the book (seconds since the epoch).
    """

    def __init__(self, registry: Registry, book: IdentityBook, forget_after: float, *,
                 settle: float = 0.0, clock: Callable[[], float] = time.time) -> None:
        self.registry = registry
        self.book = book
        self.forget_after = forget_after
        self.settle = settle
        self._clock = clock
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
        for thing_id in self.book.thing_ids():
            if thing_id not in self._timers and self.registry.get(thing_id) is None:
                since = self._stored_since(thing_id, self.book.gone_name(thing_id))
                self._time(thing_id, since, at_least=self.settle)

    def shutdown(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        for handle in self._timers.values():
            handle.cancel()
        self._timers.clear()
        self._gone_since.clear()

    def _on_event(self, event: Event) -> None:
        # A tuple: a union of classes would be built again for each event (one per
        # notification, mostly StateChanged).
        if isinstance(event, (ThingAdded, ThingUpdated, AvailabilityChanged)):
            self._follow(event.thing)
        elif isinstance(event, ThingRemoved):
            self._cancel(event.thing.id)

    def _follow(self, thing: Thing) -> None:
        if thing.available:
            self._cancel(thing.id)
            self.book.mark_present(thing.id)
        elif thing.id not in self._timers:
            self._time(thing.id, self._stored_since(thing.id, thing.info.name))

    def _stored_since(self, thing_id: str, name: str) -> float:
        """When ``thing_id`` went gone, by the book (now if it does not say), stored there."""
        now = self._clock()
        since = self.book.gone_since(thing_id)
        if since is None or since > now:
            since = now
        self.book.mark_gone(thing_id, since, name)
        return since

    def _time(self, thing_id: str, since: float, at_least: float = 0.0) -> None:
        left = self.forget_after - (self._clock() - since)
        self._gone_since[thing_id] = since
        self._timers[thing_id] = asyncio.get_running_loop().call_later(
            max(at_least, left, 0.0), self._forget, thing_id)

    def _cancel(self, thing_id: str) -> None:
        handle = self._timers.pop(thing_id, None)
        if handle is not None:
            handle.cancel()
        self._gone_since.pop(thing_id, None)

    def _forget(self, thing_id: str) -> None:
        self._timers.pop(thing_id, None)
        since = self._gone_since.pop(thing_id, None)
        thing = self.registry.get(thing_id)
        if since is None or (thing is not None and thing.available):
            return
        gone_for = duration_text(max(0.0, self._clock() - since))
        if thing is not None:
            log.info("forgetting %s device %s (%s): gone for %s (bridge.forget_after is %s); "
                     "its virtual copies, MQTT topics and identity are removed, and it is a new "
                     "device if it ever answers again", thing.origin, thing.info.name, thing.id,
                     gone_for, duration_text(self.forget_after))
            self.registry.remove(thing_id)
        else:
            log.info("forgetting %s device %s (%s): gone for %s (bridge.forget_after is %s), "
                     "since before the gateway started and it did not answer since; its MQTT "
                     "topics and identity are removed, and it is a new device if it ever "
                     "answers again", thing_id.partition(":")[0],
                     self.book.gone_name(thing_id) or "?", thing_id, gone_for,
                     duration_text(self.forget_after))
        self.book.forget(thing_id)
        self.registry.bus.publish(ThingForgotten(thing_id))


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
